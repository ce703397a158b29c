"""The measurement protocol's settings, and the ranges of every numeric option of the command line.

Kept import-light: the CLI reads its defaults and :data:`LIMITS` here, and every numeric option of
every command goes through :func:`check_number` (``bench.cli.options.bounded`` is its Typer
callback), as do the fields of a :class:`Protocol` built in code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from bench.errors import BenchError

DAY_S = 86_400.0

# option -> (lowest, highest, lowest allowed itself?): the documented range of each numeric option.
# "COMMAND --option" entries override "--option" for that command. Values are finite, always.
LIMITS: dict[str, tuple[float, float, bool]] = {
    # bench run: the measurement protocol
    "--warmup": (0, 10_000, True),  # untimed runs
    "--min-runs": (1, 1_000_000, True),  # timed runs
    "--max-runs": (1, 1_000_000, True),
    "--min-time": (0, DAY_S, True),  # seconds
    "--max-time": (0, DAY_S, False),  # seconds, above 0
    "--ci-target": (0, 1, False),  # relative half-width, above 0 and at most 1
    "--repeats": (1, 1_000, True),
    "--cooldown": (0, 3_600, True),  # seconds
    "--sustained": (0, DAY_S, False),  # seconds, above 0
    "--chunk": (0.1, 3_600, True),  # seconds: a shorter chunk is only tool start-up
    "--idle-max": (0, 3_600, True),  # seconds
    "--threads": (1, 1_024, True),
    # bench ab
    "--rounds": (1, 10_000, True),  # paired rounds
    "--seed": (0, 2**63 - 1, True),
    # bench farm scheduler
    "--port": (1, 65_535, True),
    # bench ingest
    "--inferences": (1, 10**12, True),
    "--idle-w": (0, 100_000, True),  # W
    "--run": (1, 1_000_000, True),  # which run of a log, 1-based
    "--interval-ms": (1, 3_600_000, True),
    # bench profile / bench models info
    "--runs": (3, 1_000_000, True),
    "--depth": (0, 8, True),
    "profile --depth": (1, 8, True),
    # bench accuracy / export preprocessing
    "--crop-pct": (0, 4, False),  # share of the resized image the centre crop keeps; above 1 pads
    "--limit": (1, 10_000_000, True),  # images
    "--batch": (1, 4_096, True),  # images per inference
    "--max-drop": (0, 100, True),  # top-1 points
}


def describe_range(option: str, command: str | None = None) -> str:
    """The range of ``option`` in words, e.g. ``"a number from 0 to 10000"`` or ``"above 0, at most 60"``."""
    low, high, inclusive = LIMITS.get(f"{command} {option}", LIMITS[option])
    return f"from {_plain(low)} to {_plain(high)}" if inclusive else f"above {_plain(low)} and at most {_plain(high)}"


def _plain(number: float) -> str:
    """1000000 -> '1000000', 0.5 -> '0.5' (no exponent for whole numbers)."""
    return str(int(number)) if float(number).is_integer() else f"{number:g}"


def check_number(option: str, value, command: str | None = None):
    """``value`` (an int or float, or None = not given) when it is a finite number within ``option``'s
    range in :data:`LIMITS` (``command``'s own entry first); raises BenchError naming the option, the
    value and the range otherwise (NaN, infinities, negatives, huge values)."""
    if value is None:
        return None
    low, high, inclusive = LIMITS.get(f"{command} {option}", LIMITS[option])
    number = float(value) if not isinstance(value, int) or abs(value) < 10**300 else math.inf
    if not math.isfinite(number) or number > high or number < low or (number == low and not inclusive):
        shown = str(value)[:40] + ("..." if len(str(value)) > 40 else "")
        raise BenchError(f"{option} {shown}: must be a number {describe_range(option, command)}")
    return value


@dataclass(frozen=True)
class Protocol:
    """How one cell is measured; defaults sized for the default suite on a 2-core host.

    Counts are runs, times are seconds; the range of each is in :data:`LIMITS`."""

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

    OPTIONS = {
        "warmup": "--warmup",
        "min_runs": "--min-runs",
        "min_time": "--min-time",
        "max_runs": "--max-runs",
        "max_time": "--max-time",
        "ci_target": "--ci-target",
        "idle_max": "--idle-max",
        "cooldown": "--cooldown",
        "sustained_s": "--sustained",
        "chunk_s": "--chunk",
    }  # field -> the option of `bench run` that sets it

    def validate(self) -> None:
        """Raise BenchError for a field outside its range (:func:`check_number`) or limits that contradict
        each other (more minimum than maximum runs or time)."""
        for name, option in self.OPTIONS.items():
            check_number(option, getattr(self, name))
        if self.max_runs < self.min_runs:
            raise BenchError("need --warmup >= 0, --min-runs >= 1 and --max-runs >= --min-runs")
        if self.max_time < self.min_time:
            raise BenchError("need --min-time >= 0 and --max-time >= --min-time > 0")
        if self.sustained_s and self.chunk_s > self.sustained_s:
            raise BenchError(
                f"--chunk {self.chunk_s:g} is longer than --sustained {self.sustained_s:g}: one chunk at most"
            )
