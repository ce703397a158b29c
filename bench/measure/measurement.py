"""A measurement as a value: one ``Cell`` key, the raw samples, and what was recorded around them.

Like ``torch.utils.benchmark.Measurement``: the raw samples are the record and the latency
statistics are derived properties, computed by :mod:`bench.measure.stats` (nowhere else);
:meth:`Measurement.merge` pools repeats by merging their samples. The harness, the farm and
ingest build measurements; the store writes :meth:`Measurement.to_row`, whose keys are exactly
the store's columns and the field names of ``bench results --format json``.

The cell key (model, format, precision, runtime, accelerator, device, threads, repeat) is defined here once;
the store, compare and report use :data:`CELL_FIELDS` / :data:`POOLED_FIELDS` and :class:`Cell`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from functools import cached_property

from bench.measure import stats
from bench.measure.stats import STAT_FIELDS, LatencyStats

# The key of one measurement, in the order the store and every table use.
CELL_FIELDS = ("model", "format", "precision", "runtime", "accelerator", "device", "threads", "repeat")
# The key of a cell with its repeats pooled (what compare and the report group by).
POOLED_FIELDS = CELL_FIELDS[:-1]
STATUSES = ("ok", "failed")


@dataclass(frozen=True)
class Cell:
    """What one measurement measures: a model file in a format and precision, on a runtime with a
    thread count, the ``repeat``-th time, on ``device``, its graph on ``accelerator`` (an accelerator
    spec of :mod:`bench.accelerators`: ``cpu``, ``gpu``, ``nnapi:google-edgetpu``, ``cuda`` ...).

    ``model`` is a model reference (:mod:`export.reference`): a zoo name, a model file as the user
    typed it, or a user's factory in canonical form (``/abs/net.py:make(width=0.5) --input-shape
    1,3,16,16``). It names everything the artifact is built from (factory arguments, input shape,
    weights), so a resumed run and a farm export the same model from the cell alone, and two input
    shapes of one model are two cells.

    A suite is planned without a device (``device=""``); :meth:`on` names the device it runs on.
    """

    model: str
    format: str
    precision: str
    runtime: str
    threads: int
    repeat: int = 0
    device: str = field(default="", kw_only=True)
    accelerator: str = field(default="cpu", kw_only=True)

    @property
    def key(self) -> tuple:
        """(model, format, precision, runtime, accelerator, device, threads, repeat): :data:`CELL_FIELDS` in order."""
        return tuple(getattr(self, name) for name in CELL_FIELDS)

    @property
    def pooled_key(self) -> tuple:
        """The key without the repeat (:data:`POOLED_FIELDS`): every repeat of a cell shares it."""
        return self.key[:-1]

    def on(self, device: str) -> Cell:
        """This cell on ``device``."""
        return replace(self, device=device)

    def label(self) -> str:
        """A short human label, e.g. ``mobilenetv2_100 onnx/fp32 onnxruntime x4`` (``litert[gpu]`` on an
        accelerator other than the CPU)."""
        where = self.runtime if self.accelerator == "cpu" else f"{self.runtime}[{self.accelerator}]"
        return f"{self.model} {self.format}/{self.precision} {where} x{self.threads}"

    def plan_entry(self) -> dict:
        """The cell as a run's stored plan lists it (no device: the run names it)."""
        return {name: getattr(self, name) for name in CELL_FIELDS if name != "device"}

    @classmethod
    def from_row(cls, row: Mapping) -> Cell:
        """The cell of a stored row, a JSON record or a plan entry (``device`` and ``repeat`` optional;
        ``accelerator`` too: rows and plans from before accelerators ran on the CPU). Raises KeyError
        naming a missing key field."""
        return cls(
            str(row["model"]),
            str(row["format"]),
            str(row["precision"]),
            str(row["runtime"]),
            int(row["threads"]),
            int(row.get("repeat") or 0),
            device=str(row.get("device") or ""),
            accelerator=str(row.get("accelerator") or "cpu"),
        )


class _Stat:
    """A latency statistic read from the measurement's derived statistics (see ``Measurement.latency``)."""

    def __set_name__(self, owner, name: str) -> None:
        self.name = name
        self.needs_ci = name.startswith("median_ci_")

    def __get__(self, obj, objtype=None):
        if obj is None:
            return self
        return getattr(obj.latency if self.needs_ci else obj._moments, self.name)


def _known(value):
    """None for a missing value (None or a NaN, as pandas fills empty cells)."""
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


@dataclass(frozen=True)
class Measurement:
    """One measured (or failed) cell on one device.

    ``samples_ms``: every timed inference in ms, in order; the latency statistics (``median_ms``,
    ``p90_ms``, ``cv``, ... see :class:`~bench.measure.stats.LatencyStats`) are derived from them.
    A native tool that keeps no samples gives its own ``summary`` instead. ``macs`` are
    multiply-adds; ``energy_mj_per_inference`` is in mJ; times ``*_at`` are seconds since the
    epoch. Raises ValueError for an unknown ``status`` or a cell without a device.
    """

    cell: Cell
    status: str = "failed"  # ok | failed
    error: str | None = None
    settings: dict = field(default_factory=dict)
    samples_ms: tuple[float, ...] | None = None
    summary: LatencyStats | None = None  # a tool's own statistics, when it kept no samples
    init_ms: float | None = None
    first_ms: float | None = None
    peak_memory_mb: float | None = None
    coverage: float | None = None  # share of the graph's nodes the accelerator ran (None: the CPU, or unknown)
    macs: int | None = None
    energy_mj_per_inference: float | None = None
    energy_note: str | None = None
    energy: dict | None = None
    thermal: dict | None = None
    contention: dict | None = None  # what else used the measured CPUs (shares of their time) and the verdict
    runtime_versions: dict | None = None
    artifact_sha256: str | None = None
    source: dict | None = None
    started_at: float | None = None
    ended_at: float | None = None
    run_id: str | None = None
    id: int | None = None
    created_at: str | None = None

    n_samples = _Stat()
    median_ms = _Stat()
    mean_ms = _Stat()
    p90_ms = _Stat()
    p95_ms = _Stat()
    p99_ms = _Stat()
    std_ms = _Stat()
    cv = _Stat()
    min_ms = _Stat()
    max_ms = _Stat()
    median_ci_low_ms = _Stat()
    median_ci_high_ms = _Stat()

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"measurement status '{self.status}': expected one of {', '.join(STATUSES)}")
        if not self.cell.device:
            raise ValueError(f"measurement of {self.cell.label()} names no device (use cell.on(device))")
        if self.samples_ms is not None:
            object.__setattr__(self, "samples_ms", tuple(float(x) for x in self.samples_ms) or None)

    # --- derived statistics --------------------------------------------------------------------

    @cached_property
    def _moments(self) -> LatencyStats:
        """Statistics without the median's confidence interval (cheap: no bootstrap)."""
        if self.samples_ms:
            return stats.summarize(self.samples_ms, ci=False)
        return self.summary or LatencyStats()

    @cached_property
    def latency(self) -> LatencyStats:
        """Every latency statistic: from the samples (the median's CI bootstrapped once, then kept),
        else the tool's summary, else all None."""
        if self.samples_ms:
            low, high = stats.median_ci(stats.as_samples(self.samples_ms))
            return replace(self._moments, median_ci_low_ms=low, median_ci_high_ms=high)
        return self._moments

    @property
    def gflops_per_s(self) -> float | None:
        """Achieved GFLOP/s (2 x MACs over the median latency); None when MACs or latency are unknown."""
        return stats.gflops_per_s(self.macs, self.median_ms)

    # --- building and converting ------------------------------------------------------------

    @classmethod
    def failed(cls, cell: Cell, settings: dict, reason: str, started_at: float, ended_at: float) -> Measurement:
        """A stored failure: ``cell`` (with its device) never produced a result, for ``reason``."""
        return cls(cell, "failed", reason, settings, started_at=started_at, ended_at=ended_at)

    @classmethod
    def merge(cls, parts: Sequence[Measurement]) -> Measurement:
        """The repeats of one cell as one measurement, like ``torch.utils.benchmark.Measurement.merge``:
        the samples are concatenated (parts without samples are then ignored); when no part has
        samples, the tools' summaries are pooled (:func:`~bench.measure.stats.pool_summaries`).
        Everything else is the last part's; the cell's repeat becomes 0.

        Raises ValueError for no parts, a failed part, or parts of different cells."""
        if not parts:
            raise ValueError("nothing to merge")
        if any(p.status != "ok" for p in parts):
            raise ValueError("a failed measurement has nothing to merge")
        keys = {p.cell.pooled_key for p in parts}
        if len(keys) > 1:
            raise ValueError(f"cannot merge measurements of different cells: {sorted(map(str, keys))}")
        sampled = [p.samples_ms for p in parts if p.samples_ms]
        last = parts[-1]
        if sampled:
            pooled, summary = tuple(x for s in sampled for x in s), None
        else:
            pooled, summary = None, stats.pool_summaries([p.latency for p in parts])
        return replace(last, cell=replace(last.cell, repeat=0), samples_ms=pooled, summary=summary)

    @classmethod
    def from_row(cls, row: Mapping) -> Measurement:
        """A measurement from a store row, a ``bench results --format json`` record or a DataFrame
        record (NaN read as missing). Its statistics are recomputed from ``samples_ms`` when the row
        has samples, else taken from the row's statistics columns. Raises KeyError for a missing key field."""
        samples = row.get("samples_ms")
        has_samples = samples is not None and not isinstance(samples, float) and len(samples) > 0
        plain = [f.name for f in fields(cls) if f.name not in ("cell", "samples_ms", "summary")]
        values = {name: _known(row.get(name)) for name in plain}
        if values["macs"] is not None:
            values["macs"] = int(values["macs"])
        values["settings"] = values["settings"] or {}
        return cls(
            Cell.from_row(row),
            samples_ms=tuple(samples) if has_samples else None,
            summary=None if has_samples else LatencyStats.from_mapping(row),
            **values,
        )

    def to_row(self) -> dict:
        """The store row: every column of the store's ``measurements`` table by name (the field names
        of ``bench results --format json``), statistics included; the samples are not part of it."""
        cell = self.cell
        return {
            "id": self.id,
            "run_id": self.run_id,
            **{name: getattr(cell, name) for name in CELL_FIELDS},
            "kind": "measured",  # a measurement of the model itself (the store's KINDS)
            "settings": self.settings,
            "status": self.status,
            "error": self.error,
            **{name: getattr(self.latency, name) for name in STAT_FIELDS},
            "init_ms": self.init_ms,
            "first_ms": self.first_ms,
            "peak_memory_mb": self.peak_memory_mb,
            "coverage": self.coverage,
            "macs": self.macs,
            "gflops_per_s": self.gflops_per_s,
            "energy_mj_per_inference": self.energy_mj_per_inference,
            "energy_note": self.energy_note,
            "energy": self.energy,
            "thermal": self.thermal,
            "contention": self.contention,
            "runtime_versions": self.runtime_versions,
            "artifact_sha256": self.artifact_sha256,
            "source": self.source,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "created_at": self.created_at,
        }


class MeasurementList:
    """Mixin of a suite's result (``measurements``: the stored ones, in order) that shows them as
    store rows, as the CLI and ``--json`` print them."""

    measurements: list[Measurement]

    @property
    def rows(self) -> list[dict]:
        """The stored measurements as store rows (``Measurement.to_row``)."""
        return [m.to_row() for m in self.measurements]

    @property
    def failed(self) -> list[dict]:
        """Rows of the cells that failed."""
        return [m.to_row() for m in self.measurements if m.status != "ok"]


__all__ = ["CELL_FIELDS", "POOLED_FIELDS", "Cell", "Measurement", "MeasurementList"]
