"""``--repeats N``: the spread between the repeats' medians, shown beside the pooled median's bootstrap CI."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench.measure.measurement import Cell, Measurement
from bench.results.store import Store

MEDIANS = (9.5, 10.0, 11.4)  # three repeats of one cell, as five runs of MobileNetV2 spread here


@pytest.fixture
def repeats_store(tmp_path: Path) -> Path:
    """One run: cell 'net' measured three times (repeat 0..2) with medians exactly :data:`MEDIANS`,
    and cell 'single' measured once."""
    path = tmp_path / "s.sqlite"
    store = Store(str(path))
    run_id = store.start_run("host", {}, [])
    jitter = np.linspace(-0.01, 0.01, 101)  # symmetric: the median is the level itself
    for repeat, level in enumerate(MEDIANS):
        cell = Cell("net", "onnx", "fp32", "onnxruntime", 1, repeat).on("host")
        store.add_measurement(Measurement(cell, "ok", samples_ms=tuple(level + jitter), run_id=run_id))
    single = Cell("single", "onnx", "fp32", "onnxruntime", 1).on("host")
    store.add_measurement(Measurement(single, "ok", samples_ms=tuple(5.0 + jitter), run_id=run_id))
    return path


def _markdown_rows(text: str) -> dict[str, dict[str, str]]:
    """The summary's results table as {model: {column: text}}."""
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    header = [h.strip() for h in lines[0].strip("|").split("|")]
    rows = [dict(zip(header, (v.strip() for v in line.strip("|").split("|")), strict=True)) for line in lines[1:]]
    return {row["model"]: row for row in rows}


@pytest.mark.slow
def test_report_and_results_show_the_spread_of_repeat_medians_beside_the_pooled_ci(
    bench_cli, repeats_store: Path, tmp_path: Path
) -> None:
    cv = np.std(MEDIANS, ddof=1) / np.mean(MEDIANS)
    assert f"{cv:.1%}" == "9.6%"
    out = tmp_path / "report"
    result = bench_cli("report", "--out", str(out), "--store", str(repeats_store))
    assert result.code == 0, result.stderr
    summary = (out / "summary.md").read_text()
    rows = _markdown_rows(summary)
    assert rows["net"]["repeat medians ms"] == "9.50-11.40, CV 9.6% (3)"
    low, high = (float(v) for v in rows["net"]["median 95% CI ms"].split("-"))
    assert 9.5 <= low <= 10.0 <= high <= 11.4  # the pooled samples' CI: narrower than the repeats' spread
    assert rows["single"]["repeat medians ms"] == "-" and rows["single"]["median 95% CI ms"] == "5.00-5.00"
    assert "quote the spread of the repeat medians" in summary
    page = (out / "report.html").read_text()
    assert "quote this spread" in page and ">9.50-11.40</td>" in page and ">9.6</td>" in page
    table = bench_cli("results", "--store", str(repeats_store))
    assert table.code == 0, table.stderr
    spread = table.stdout[table.stdout.index("spread between repeats") :]
    assert "9.50-11.40" in spread and "9.6%" in spread and "quote the spread" in spread
    assert "single" not in spread  # measured once: no spread to show
