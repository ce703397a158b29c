"""The measurement protocol's settings (kept import-light: the CLI reads its defaults)."""

from __future__ import annotations

from dataclasses import dataclass

from bench.errors import BenchError


@dataclass(frozen=True)
class Protocol:
    """How one cell is measured; defaults sized for the default suite on a 2-core host."""

    warmup: int = 5
    min_runs: int = 20
    min_time: float = 2.0
    max_runs: int = 10_000
    max_time: float = 60.0
    ci_target: float | None = None
    idle_max: float = 10.0
    cooldown: float = 0.0
    sustained_s: float | None = None  # run continuously this long, in chunks (bench run --sustained)
    chunk_s: float = 2.0

    def validate(self) -> None:
        if self.warmup < 0 or self.min_runs < 1 or self.max_runs < self.min_runs:
            raise BenchError("need --warmup >= 0, --min-runs >= 1 and --max-runs >= --min-runs")
        if self.min_time < 0 or self.max_time <= 0 or self.max_time < self.min_time:
            raise BenchError("need --min-time >= 0 and --max-time >= --min-time > 0")
        if self.sustained_s is not None and (self.sustained_s <= 0 or self.chunk_s <= 0):
            raise BenchError("--sustained and --chunk are durations in seconds, greater than 0")
        if self.ci_target is not None and not 0 < self.ci_target < 1:
            raise BenchError("--ci-target is a relative half-width between 0 and 1, e.g. 0.01")
