"""The Measurement value object: one Cell key, statistics derived from raw samples, merge, store rows."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.measure import stats
from bench.measure.measurement import CELL_FIELDS, POOLED_FIELDS, Cell, Measurement
from bench.measure.stats import LatencyStats, summarize
from bench.results.store import Store, measurements

CELL = Cell("mobilenetv2_100", "onnx", "fp32", "onnxruntime", 4, 1, device="host")


def measured(samples, cell: Cell = CELL, **fields) -> Measurement:
    return Measurement(cell, "ok", settings={"warmup": 2}, samples_ms=samples, **fields)


# --- the cell key ------------------------------------------------------------------------------


def test_cell_key_is_the_store_order_and_pooling_drops_only_the_repeat() -> None:
    assert CELL.key == ("mobilenetv2_100", "onnx", "fp32", "onnxruntime", "cpu", "host", 4, 1)
    assert CELL_FIELDS == ("model", "format", "precision", "runtime", "accelerator", "device", "threads", "repeat")
    assert CELL.pooled_key == CELL.key[:-1] and POOLED_FIELDS == CELL_FIELDS[:-1]
    planned = Cell("mobilenetv2_100", "onnx", "fp32", "onnxruntime", 4, 1)
    assert planned.device == "" and planned.on("host") == CELL


def test_cell_reads_back_from_a_row_and_a_plan_entry() -> None:
    assert Cell.from_row(measured([1.0]).to_row()) == CELL
    assert CELL.plan_entry() == {
        "model": "mobilenetv2_100",
        "format": "onnx",
        "precision": "fp32",
        "runtime": "onnxruntime",
        "accelerator": "cpu",
        "threads": 4,
        "repeat": 1,
    }
    assert Cell.from_row(CELL.plan_entry()).on("host") == CELL


# --- statistics derived from the samples --------------------------------------------------------


def test_statistics_are_derived_from_the_samples_by_the_stats_module() -> None:
    samples = list(np.random.default_rng(0).lognormal(1.0, 0.1, 500))
    m = measured(samples, macs=300_000_000)
    assert m.latency == summarize(samples)
    assert m.median_ms == float(np.median(samples)) and m.n_samples == 500
    assert m.cv == pytest.approx(np.std(samples, ddof=1) / np.mean(samples))
    assert m.median_ci_low_ms < m.median_ms < m.median_ci_high_ms
    assert m.gflops_per_s == pytest.approx(2 * 300_000_000 / (m.median_ms / 1e3) / 1e9)


def test_a_tool_summary_without_samples_is_kept_as_reported() -> None:
    summary = LatencyStats(n_samples=50, median_ms=12.5, mean_ms=13.0)
    m = Measurement(CELL, "ok", summary=summary)
    assert m.median_ms == 12.5 and m.n_samples == 50 and m.p90_ms is None and m.median_ci_low_ms is None
    assert Measurement(CELL, "failed", error="boom").median_ms is None


def test_merge_pools_repeats_by_concatenating_their_samples() -> None:
    rng = np.random.default_rng(1)
    parts = [measured(rng.normal(10, 1, 100), Cell(*CELL.key[:4], 4, r, device="host")) for r in range(3)]
    merged = Measurement.merge(parts)
    pooled = np.concatenate([p.samples_ms for p in parts])
    assert merged.samples_ms == tuple(pooled) and merged.cell.repeat == 0
    assert merged.median_ms == float(np.median(pooled)) and merged.n_samples == 300
    assert merged.p90_ms == pytest.approx(float(np.percentile(pooled, 90)))


def test_merge_of_summaries_takes_the_median_of_medians_and_sums_the_counts() -> None:
    parts = [Measurement(CELL, "ok", summary=LatencyStats(n_samples=10, median_ms=v)) for v in (10.0, 11.0, 15.0)]
    merged = Measurement.merge(parts)
    assert merged.median_ms == 11.0 and merged.n_samples == 30 and merged.samples_ms is None


def test_merge_refuses_other_cells_and_failures() -> None:
    other = measured([1.0], Cell("deit_tiny", "onnx", "fp32", "onnxruntime", 4, device="host"))
    with pytest.raises(ValueError, match="different cells"):
        Measurement.merge([measured([1.0]), other])
    with pytest.raises(ValueError, match="failed"):
        Measurement.merge([measured([1.0]), Measurement(CELL, "failed", error="boom")])
    with pytest.raises(ValueError, match="nothing to merge"):
        Measurement.merge([])


def test_a_measurement_names_its_device_and_a_known_status() -> None:
    with pytest.raises(ValueError, match="names no device"):
        Measurement(Cell("m", "onnx", "fp32", "onnxruntime", 1), "ok")
    with pytest.raises(ValueError, match="status 'done'"):
        Measurement(CELL, "done")


def test_one_bootstrap_gives_the_median_change_interval() -> None:
    rng = np.random.default_rng(2)
    base, cand = rng.normal(10, 0.3, 400), rng.normal(10.5, 0.3, 400)
    low, high = stats.median_change_ci(base, cand)
    assert low < stats.median_change(base, cand) < high and 0.03 < low < high < 0.07
    assert stats.median_change_ci(base, cand) == (low, high)  # seeded: reproducible


# --- the store row ----------------------------------------------------------------------------------


def test_the_row_has_exactly_the_store_columns() -> None:
    row = measured([1.0, 2.0, 3.0]).to_row()
    assert list(row) == [c.name for c in measurements.c]
    assert row["median_ms"] == 2.0 and row["status"] == "ok" and row["device"] == "host"


def test_a_stored_measurement_reads_back_the_same(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "s.sqlite"))
    run_id = store.start_run("host", {}, [CELL.plan_entry()])
    m = measured([3.0, 1.0, 2.0], macs=10**9, run_id=run_id, energy={"meter": "rapl"})
    stored_id = store.add_measurement(m)
    (row,) = store.measurement_rows(run_id)
    assert row["id"] == stored_id and row["samples_ms"] == [3.0, 1.0, 2.0] and row["created_at"]
    back = Measurement.from_row(row)
    assert back.latency == m.latency and back.cell == CELL and back.energy == {"meter": "rapl"}
    assert store.done_cells(run_id) == {CELL}


def test_a_sqlite_store_holds_nothing_open_between_uses(tmp_path: Path) -> None:
    # a program (or a test) that runs several commands in one process leaves each store as a finished
    # bench process does: its write-ahead log folded into the file, readable by anyone from the file alone
    store = Store(str(tmp_path / "s.sqlite"))
    run_id = store.start_run("host", {}, [CELL.plan_entry()])
    store.add_measurement(measured([1.0, 2.0], run_id=run_id))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.sqlite"]  # no -wal / -shm: no connection is open
    copy = tmp_path / "copy" / "s.sqlite"
    copy.parent.mkdir()
    copy.write_bytes((tmp_path / "s.sqlite").read_bytes())  # the file alone holds what was written
    assert [r["median_ms"] for r in Store(str(copy), create=False).measurement_rows(run_id)] == [1.5]


def test_the_store_refuses_a_field_it_does_not_know(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "s.sqlite"))
    run_id = store.start_run("host", {}, [])
    row = {k: v for k, v in measured([1.0], run_id=run_id).to_row().items() if k != "id"}
    with pytest.raises(ValueError, match="unknown measurement field.*median_msec"):
        store.add_measurement({**row, "median_msec": 1.0}, None)
    assert store.measurement_rows(run_id) == []  # nothing half-stored
    assert store.add_measurement(row, [1.0]) > 0
