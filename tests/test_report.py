"""Reports: plots, markdown and one self-contained HTML page, checked in real headless Chromium."""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import assert_one_line_error

from bench.results.records import load_results
from bench.results.report import MEASURED_AND_PUBLISHED, pareto_front
from bench.results.store import Store

FAST = ["--warmup", "2", "--min-runs", "10", "--min-time", "0.2"]
HOSTILE = "<script>alert(1)</script>"
HOSTILE_IMG = "<img src=x onerror=\"document.body.dataset.pwned='1'\">"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_pareto_legend_covers_no_point_and_log_tick_labels_do_not_overlap() -> None:
    from bench.results.report import _colours, _pareto_figure

    rng = np.random.default_rng(0)
    families = [f"family_{i}" for i in range(7)]
    cells = pd.DataFrame(
        {
            "family": [f for f in families for _ in range(3)],
            "model": [f"{f}_{k}" for f in families for k in range(3)],
            "median_ms": np.geomspace(0.03, 900, 21),  # over four decades, as LiteRT's panel spans
            "top1": rng.uniform(60, 85, 21),
            "top1_source": ["measured (digits)", "published (paper)", "published (paper)"] * 7,
        }
    )
    cells.loc[0, "top1"] = 55.0  # a low, fast point in the corner a legend inside the axes used to take
    fig = _pareto_figure(cells, "median_ms", "latency", "top-1", _colours(families),
                         [("host / litert", cells), ("host / onnxruntime", cells)], "Accuracy vs latency")  # fmt: skip
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    (legend,) = fig.legends
    box = legend.get_window_extent(renderer)
    assert len(legend.get_texts()) == 7 + 3  # each family once, the frontier, measured and published
    for ax in fig.axes:
        assert not box.overlaps(ax.get_window_extent(renderer)), "the legend covers a panel"
        labels = [t for t in ax.get_xticklabels() if t.get_visible() and t.get_text()]
        extents = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: b.x0)
        assert len(extents) >= 3
        assert all(a.x1 <= b.x0 for a, b in zip(extents, extents[1:], strict=False)), [t.get_text() for t in labels]


@pytest.mark.parametrize(
    "description",
    [MEASURED_AND_PUBLISHED, "measured top-1 (%) from accuracy_of_the_shipped_models_on_our_val_set.csv"],
)
def test_the_top1_axis_label_stays_clear_of_the_figure_title(description: str) -> None:
    from bench.results.report import _colours, _pareto_figure, axis_label

    cells = pd.DataFrame(
        {
            "family": ["a", "b", "c"],
            "model": ["a_1", "b_1", "c_1"],
            "median_ms": [10.0, 20, 30],
            "top1": [72.9, 74.4, 72.2],
            "top1_source": ["measured", "published", "published"],
        }
    )
    fig = _pareto_figure(cells, "median_ms", "latency", axis_label(description), _colours(["a", "b", "c"]),
                         [("host / litert", cells), ("pixel6 / litert", cells)], "Accuracy vs latency")  # fmt: skip
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    title = fig._suptitle.get_window_extent(renderer)  # noqa: SLF001 - no public accessor
    for ax in fig.axes:  # the full description ran up into the title
        label = ax.yaxis.label.get_window_extent(renderer)
        assert not label.overlaps(title) and label.height <= ax.get_window_extent(renderer).height


def test_pareto_front_keeps_only_undominated_points() -> None:
    cost = np.array([1.0, 2.0, 3.0, 1.5, 4.0])
    accuracy = np.array([70.0, 75.0, 74.0, 69.0, 80.0])
    assert list(pareto_front(cost, accuracy)) == [0, 1, 4]


@pytest.fixture(scope="module")
def report_store(tmp_path_factory, tiny_files, zoo_artifacts) -> str:
    """Real measurements of two zoo models, a failed cell, and rows whose names are hostile HTML."""
    import os
    import sys

    from conftest import ROOT, share_zoo_artifacts

    home = tmp_path_factory.mktemp("report")
    share_zoo_artifacts(home / "results", zoo_artifacts)
    store = str(home / "store.sqlite")
    broken = home / "broken.onnx"
    broken.write_bytes(b"not a model")
    env = {**os.environ, "BENCH_RESULTS": str(home / "results"), "PYTHONWARNINGS": "ignore"}
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.cli",
            "run",
            "-m",
            "mobilenetv2_100",
            "-m",
            "ast_xxs",
            "-m",
            str(broken),
            "--format",
            "onnx",
            "--store",
            store,
            *FAST,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 1, out.stderr  # the broken file fails, the rest is measured
    s = Store(store)
    template = next(r for r in s.measurement_rows() if r["status"] == "ok")
    run_id = template["run_id"]
    for name in (HOSTILE, HOSTILE_IMG):
        row = {k: v for k, v in template.items() if k not in ("id", "samples_ms")}
        s.add_measurement({**row, "model": name, "run_id": run_id}, template["samples_ms"])
    return store


@pytest.mark.slow
def test_report_writes_plots_markdown_and_html(bench_cli, report_store: str, tmp_path: Path) -> None:
    out = tmp_path / "report"
    result = bench_cli("report", "--out", str(out), "--store", report_store)
    assert result.code == 0, result.stderr
    assert str((out / "report.html").resolve()) in result.stdout
    for stem in ("pareto_latency", "pareto_macs", "latency_vs_macs"):
        assert (out / f"{stem}.png").stat().st_size > 5000 and (out / f"{stem}.svg").is_file()
    assert not (out / "pareto_energy.png").exists()  # no meter worked: no energy plot, never zeros
    md = (out / "summary.md").read_text()
    assert "| mobilenetv2_100 | host | onnxruntime | cpu | onnx/fp32 |" in md and "72.9" in md
    assert "Failed cells (1)" in md and "broken.onnx" in md and HOSTILE not in md
    page = (out / "report.html").read_text()
    assert "http://" not in page and "https://" not in page  # self-contained: nothing to fetch
    assert "published top-1 (%), ImageNet-1k" in page


@pytest.mark.slow
def test_measured_accuracy_replaces_published(bench_here, report_store: str, tmp_path: Path) -> None:
    acc = tmp_path / "acc.csv"
    acc.write_text("model,top1\nmobilenetv2_100,70.1\n")
    out = tmp_path / "r"
    assert bench_here("report", "--out", str(out), "--store", report_store, "--accuracy", str(acc)).code == 0
    assert "measured top-1 (%) from acc.csv" in (out / "report.html").read_text()
    assert "70.1" in (out / "summary.md").read_text()


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")
def test_html_report_renders_in_headless_chromium(bench_here, report_store: str, tmp_path: Path) -> None:
    out = tmp_path / "report"
    assert bench_here("report", "--out", str(out), "--store", report_store).code == 0
    profile = tmp_path / "chromium-profile"
    dom = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={profile}",
            "--virtual-time-budget=5000",
            "--dump-dom",
            (out / "report.html").resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    assert 'data-ready="1"' in dom  # the page loaded and its script ran
    images = re.findall(r"<img[^>]*>", dom)
    assert len(images) == 3 and all('data-loaded="true"' in img for img in images)
    table = dom[dom.index('<table id="results"') :]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr>", table)
    assert len(rows) == 1 + 4  # header + mobilenetv2, ast_xxs and the two hostile names
    assert html.escape(HOSTILE, quote=False) in table  # shown as text
    assert HOSTILE not in dom and '<img src="x"' not in dom  # never parsed as markup
    assert "pwned" not in dom.split("<body")[1].split(">")[0]  # the onerror handler never ran


def test_report_on_an_empty_store_exits_2(bench_here, tmp_path: Path) -> None:
    assert_one_line_error(
        bench_here("report", "--out", str(tmp_path / "r"), "--store", str(tmp_path / "e.sqlite")),
        "no measurements to report",
    )


@pytest.mark.slow
def test_report_with_a_bad_accuracy_file_exits_2(bench_here, report_store: str, tmp_path: Path) -> None:
    acc = tmp_path / "acc.csv"
    acc.write_text("name;accuracy\n")
    result = bench_here("report", "--out", str(tmp_path / "r"), "--store", report_store, "--accuracy", str(acc))
    assert_one_line_error(result, "--accuracy")


@pytest.mark.slow
def test_report_json_roundtrip_keeps_samples(bench_here, report_store: str) -> None:
    rows = json.loads(bench_here("results", "--format", "json", "--store", report_store).stdout)
    assert {r["model"] for r in rows} >= {HOSTILE, "mobilenetv2_100"}


@pytest.mark.slow
def test_a_measured_int8_point_and_a_published_fp32_point_are_told_apart(
    bench_here, report_store: str, tmp_path: Path
) -> None:
    store = tmp_path / "acc.sqlite"
    shutil.copy(report_store, store)
    s = Store(str(store))
    fp32 = next(r for r in s.measurement_rows() if r["model"] == "mobilenetv2_100" and r["status"] == "ok")
    row = {k: v for k, v in fp32.items() if k not in ("id", "samples_ms")}
    for precision, sha in (("int8", "a" * 64), ("int8-static", "b" * 64)):
        s.add_measurement({**row, "precision": precision, "artifact_sha256": sha}, fp32["samples_ms"])
    dataset = {"fingerprint": "f" * 64, "n_images": 500, "n_classes": 1000, "layout": "synsets", "root": "/data/val"}
    s.add_accuracy({"model": "mobilenetv2_100", "format": "onnx", "precision": "int8", "artifact_sha256": "a" * 64,
                    "dataset": dataset, "status": "ok", "n_images": 500, "n_classes": 1000, "top1": 0.652,
                    "top5": 0.87, "collapsed": False, "settings": {}})  # fmt: skip
    frame = load_results(str(store))
    frame = frame[frame["model"] == "mobilenetv2_100"].set_index("precision")
    assert frame.loc["int8", "top1"] == pytest.approx(65.2) and frame.loc["int8", "top1_source"].startswith("measured")
    assert frame.loc["fp32", "top1"] == pytest.approx(72.91) and frame.loc["fp32", "top1_source"].startswith(
        "published"
    )
    assert pd.isna(frame.loc["int8-static", "top1"]) and "published for fp32" in frame.loc["int8-static", "top1_source"]
    out = tmp_path / "r"
    assert bench_here("report", "--out", str(out), "--store", str(store)).code == 0
    md = (out / "summary.md").read_text()
    assert (
        "| onnx/int8 | 1 |" in md and "| 65.2 | measured |" in md and "| 72.9 | published |" in md
    )  # 72.91, one decimal
    page = (out / "report.html").read_text()
    assert "filled = measured (bench accuracy), hollow = published" in page and "/data/val, 500 images" in page


@pytest.mark.slow
def test_a_tool_row_shows_its_p95_and_says_its_memory_is_a_delta(bench_here, report_store: str, tmp_path: Path) -> None:
    from test_tool_output import INFO

    store = tmp_path / "tool.sqlite"
    shutil.copy(report_store, store)
    log = tmp_path / "phone.log"
    delta_only = "".join(line for line in INFO.splitlines(keepends=True) if "periodic monitoring" not in line)
    log.write_text(delta_only)  # benchmark_model: p5/median/p95 but no p90; "Memory footprint delta ..." only
    ingested = bench_here("ingest", str(log), "--tool", "benchmark_model", "--device", "pixel6", "-m",
                         "mobilenetv2_100", "--store", str(store))  # fmt: skip
    assert ingested.code == 0, ingested.stderr
    out = tmp_path / "r"
    assert bench_here("report", "--out", str(out), "--store", str(store)).code == 0
    md = (out / "summary.md").read_text()
    assert "| mobilenetv2_100 | pixel6 | litert | cpu | tflite/fp32 | 1 | 249.60 | - | 251.80 |" in md
    page = (out / "report.html").read_text()
    assert re.search(
        r'title="delta of the footprint from the tool&#39;s start[^"]*not a peak[^"]*">13 \(delta\)</td>', page
    )
    assert 'title="peak resident set (VmHWM) of the agent process' in page  # the host's rows say theirs
    assert "249.60 (mean)" not in md  # this build printed a median


@pytest.mark.slow
def test_a_median_that_is_the_tools_mean_says_so(bench_here, report_store: str, tmp_path: Path) -> None:
    from test_tool_output import PLAIN

    store = tmp_path / "mean.sqlite"
    shutil.copy(report_store, store)
    log = tmp_path / "old.log"
    log.write_text(PLAIN)  # the older format: count= avg= std=, no median
    args = ["--tool", "benchmark_model", "--device", "pixel6", "-m", "mobilenetv2_100", "--store", str(store)]
    assert bench_here("ingest", str(log), *args).code == 0
    out = tmp_path / "r"
    assert bench_here("report", "--out", str(out), "--store", str(store)).code == 0
    assert "| 249.68 (mean) |" in (out / "summary.md").read_text()
    assert re.search(
        r'title="the native tool printed no median: this is its mean"[^>]*>249.68 \(mean\)<',
        (out / "report.html").read_text(),
    )
    table = bench_here("results", "--store", str(store))
    assert "(mean)" in table.stdout and "pixel6" in table.stdout and "nan" not in table.stdout
