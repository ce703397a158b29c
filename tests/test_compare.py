"""The regression gate: statistics on synthetic samples with known truth, and end to end."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import assert_one_line_error

from bench.results.compare import compare, compare_samples

FAST = ["--warmup", "2", "--min-runs", "60", "--min-time", "0.5"]


def latency_samples(rng: np.random.Generator, median_ms: float, n: int = 300, cv: float = 0.03) -> np.ndarray:
    """Realistic latency noise: lognormal around the median with a few slow outliers."""
    x = median_ms * rng.lognormal(0.0, cv, n)
    outliers = rng.random(n) < 0.02
    x[outliers] *= rng.uniform(1.2, 2.0, outliers.sum())
    return x


def test_a_5_percent_shift_is_detected() -> None:
    detected = 0
    for seed in range(50):
        rng = np.random.default_rng(seed)
        verdict, numbers = compare_samples(latency_samples(rng, 10.0), latency_samples(rng, 10.5), 0.03, 0.01)
        detected += verdict == "regression"
        assert numbers["change"] == pytest.approx(0.05, abs=0.015)
    assert detected >= 48  # power >= 96% at a 3% threshold


def test_a_5_percent_speedup_is_an_improvement_not_a_regression() -> None:
    rng = np.random.default_rng(7)
    verdict, _ = compare_samples(latency_samples(rng, 10.0), latency_samples(rng, 9.5), 0.03, 0.01)
    assert verdict == "improvement"


def test_no_shift_false_alarms_stay_at_or_below_alpha() -> None:
    alpha, reps = 0.01, 200
    significant = regressions = 0
    for seed in range(reps):
        rng = np.random.default_rng(1000 + seed)
        base, cand = latency_samples(rng, 10.0), latency_samples(rng, 10.0)
        verdict, numbers = compare_samples(base, cand, 0.05, alpha)
        regressions += verdict == "regression"
        significant += numbers["p_value"] < alpha
    assert regressions <= alpha * reps  # the gate's false alarms: at most 2 in 200
    # the test alone (without the threshold) keeps its level too, within binomial noise (mean 2, sd 1.4)
    assert significant <= alpha * reps + 3 * np.sqrt(reps * alpha * (1 - alpha))


def test_significant_but_small_change_is_unchanged() -> None:
    rng = np.random.default_rng(3)
    verdict, numbers = compare_samples(latency_samples(rng, 10.0, 3000), latency_samples(rng, 10.2, 3000), 0.05, 0.01)
    assert numbers["p_value"] < 0.01 and verdict == "unchanged"


# --- end to end ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory, tiny_files) -> dict:
    """A baseline run, then the same cell made genuinely slower: a heavier model behind the same name."""
    import os
    import subprocess
    import sys

    from conftest import ROOT

    home = tmp_path_factory.mktemp("compare")
    model = home / "net.onnx"
    store = str(home / "store.sqlite")
    env = {**os.environ, "BENCH_RESULTS": str(home / "results"), "PYTHONWARNINGS": "ignore"}

    def run(*args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "bench.cli", "run", *args, "--store", store, "--json", *FAST],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)[0]["run_id"]

    model.write_bytes(tiny_files["onnx"].read_bytes())
    baseline = run("-m", str(model), "-m", str(tiny_files["tflite"]))
    heavy = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.cli",
            "export",
            f"{tiny_files['source']}:tiny",
            "--input-shape",
            "1,3,160,160",
            "--out",
            str(home / "heavy"),
            "--json",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert heavy.returncode == 0, heavy.stderr
    model.write_bytes(Path(json.loads(heavy.stdout)[0]["path"]).read_bytes())
    candidate = run("-m", str(model))
    return {"store": store, "baseline": baseline, "candidate": candidate, "home": home}


@pytest.mark.slow
def test_slower_candidate_fails_the_gate_and_names_the_cell(bench_here, two_runs: dict) -> None:
    md = two_runs["home"] / "summary.md"
    result = bench_here(
        "compare",
        "--baseline",
        two_runs["baseline"],
        "--candidate",
        two_runs["candidate"],
        "--store",
        two_runs["store"],
        "--markdown",
        str(md),
    )
    assert result.code == 1, result.stdout + result.stderr
    assert "REGRESSION" in result.stdout and "net.onnx onnx/fp32 onnxruntime x1" in result.stdout
    text = md.read_text()
    assert "| regression |" in text and "missing-in-candidate" in text  # the tflite cell was not re-run


def test_run_compared_with_itself_passes(bench_here, two_runs: dict) -> None:
    result = bench_here(
        "compare", "--baseline", two_runs["baseline"], "--candidate", two_runs["baseline"], "--store", two_runs["store"]
    )
    assert result.code == 0, result.stdout + result.stderr
    assert "unchanged" in result.stdout and "regression" not in result.stdout.replace("regressions", "")


def test_missing_cells_fail_only_with_strict(bench_here, two_runs: dict) -> None:
    # reversed: the onnx cell got faster (an improvement), the tflite cell exists only on one side
    args = ["compare", "--baseline", two_runs["candidate"], "--candidate", two_runs["baseline"]]
    result = bench_here(*args, "--store", two_runs["store"])
    assert result.code == 0 and "improvement" in result.stdout and "missing-in-baseline" in result.stdout
    strict = bench_here(*args, "--store", two_runs["store"], "--strict")
    assert strict.code == 1 and "MISSING (--strict fails on it)" in strict.stdout  # says why it failed
    assert "MISSING" not in result.stdout


@pytest.mark.slow
def test_baselines_are_saved_listed_and_compared_by_name(bench_here, two_runs: dict, results_dir: Path) -> None:
    saved = bench_here("baseline", "save", "main", "--run", two_runs["baseline"], "--store", two_runs["store"])
    assert saved.code == 0, saved.stderr
    path = results_dir / "baselines" / "main.json"
    data = json.loads(path.read_text())
    assert data["baseline"] == "main" and all(m["samples_ms"] for m in data["measurements"])
    listed = bench_here("baseline", "list")
    assert "main" in listed.stdout
    result = bench_here(
        "compare", "--baseline", "main", "--candidate", two_runs["candidate"], "--store", two_runs["store"]
    )
    assert result.code == 1
    exported = results_dir / "candidate.json"
    exported.write_text(
        bench_here("results", "--format", "json", "--run", two_runs["baseline"], "--store", two_runs["store"]).stdout
    )
    assert bench_here("compare", "--baseline", "main", "--candidate", str(exported)).code == 0


def test_unknown_ref_exits_2(bench_here, two_runs: dict) -> None:
    assert_one_line_error(
        bench_here("compare", "--baseline", "nope", "--candidate", two_runs["baseline"], "--store", two_runs["store"]),
        "unknown ref 'nope'",
    )


def test_malformed_results_file_exits_2(bench_here, tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert_one_line_error(bench_here("compare", "--baseline", str(bad), "--candidate", str(bad)), "not valid JSON")


def test_incompatible_schema_exits_2(bench_here, tmp_path: Path) -> None:
    old = tmp_path / "old.json"
    old.write_text(json.dumps([{"model": "x", "latency": 3.0}]))
    assert_one_line_error(bench_here("compare", "--baseline", str(old), "--candidate", str(old)), "incompatible schema")


def test_bad_threshold_exits_2(bench_here, two_runs: dict) -> None:
    assert_one_line_error(
        bench_here(
            "compare",
            "--baseline",
            two_runs["baseline"],
            "--candidate",
            two_runs["baseline"],
            "--store",
            two_runs["store"],
            "--threshold",
            "lots",
        ),
        "--threshold",
    )


# --- native tools' summaries (no samples) ------------------------------------------------------------------


def tool_rows(times_ms: np.ndarray, median: bool = True) -> list[dict]:
    """One stored row of a benchmark_model run over ``times_ms``: the simulator prints the tool's statistics
    line for those times, the real parser reads it, and the native runner's conversion stores it."""
    from simulators.native_tools import stats_line

    from bench.measure.measurement import Cell, Measurement
    from bench.measure.runners.tool_results import tool_source, tool_stats
    from bench.measure.stats import LatencyStats
    from bench.parsers.tool_output import parse_benchmark_model

    us = [t * 1000 for t in times_ms]
    line = stats_line(us, True, us[0])
    if not median:  # the older builds print no percentiles: the stored median is the mean
        line = line.split(" p5=")[0]
    text = f"INFO: {line}\nINFO: Inference timings in us: Init: 3510, Inference (avg): 1\n"
    result = parse_benchmark_model(text)
    cell = Cell("m", "tflite", "fp32", "litert", 4).on("pixel6")
    row = Measurement(cell, "ok", summary=LatencyStats.from_mapping(tool_stats(result)), source=tool_source(result))
    return [{**row.to_row(), "samples_ms": None}]


def test_tool_summaries_are_judged_by_welch_on_their_mean_std_and_count() -> None:
    rng = np.random.default_rng(3)
    base = tool_rows(latency_samples(rng, 10.0, n=200))
    (slower,) = compare(base, tool_rows(latency_samples(rng, 11.0, n=200)), 0.05, 0.01)
    assert (slower.verdict, slower.test) == ("regression", "welch") and slower.p_value < 1e-6
    assert slower.change == pytest.approx(0.10, abs=0.02) and slower.tail_change == pytest.approx(0.10, abs=0.05)
    (same,) = compare(base, tool_rows(latency_samples(rng, 10.0, n=200)), 0.05, 0.01)
    assert same.verdict == "unchanged" and same.test == "welch"


def test_a_tool_summary_without_a_spread_is_not_tested_but_its_change_is_shown() -> None:
    rng = np.random.default_rng(4)
    base, cand = tool_rows(latency_samples(rng, 10.0)), tool_rows(latency_samples(rng, 12.0))
    cand[0]["std_ms"] = None  # e.g. onnxruntime_perf_test prints no standard deviation
    (result,) = compare(base, cand)
    assert result.verdict == "not-tested" and result.p_value is None and result.change == pytest.approx(0.2, abs=0.03)


def test_a_growing_tail_under_a_steady_median_shows_in_the_p95_change() -> None:
    rng = np.random.default_rng(5)
    base = latency_samples(rng, 10.0, n=400, cv=0.02)
    cand = latency_samples(rng, 10.0, n=400, cv=0.02)
    cand[rng.random(400) < 0.12] *= 1.8  # 12% of inferences stall: p95 moves, the median hardly
    rows = [
        [
            {
                "model": "m",
                "format": "onnx",
                "precision": "fp32",
                "runtime": "onnxruntime",
                "device": "host",
                "threads": 1,
                "status": "ok",
                "samples_ms": list(x),
            }
        ]  # fmt: skip
        for x in (base, cand)
    ]
    (result,) = compare(*rows, 0.05, 0.01)
    assert result.test == "mann-whitney" and abs(result.change) < 0.05 and result.tail_change > 0.5


def test_an_untested_cell_that_moved_past_the_threshold_fails_the_gate(bench_here, tmp_path: Path) -> None:
    rng = np.random.default_rng(6)
    base, cand = tool_rows(latency_samples(rng, 10.0)), tool_rows(latency_samples(rng, 100.0))
    cand[0]["std_ms"] = None  # no spread on one side: nothing to test with
    files = []
    for name, rows in (("base", base), ("cand", cand)):
        files.append(tmp_path / f"{name}.json")
        files[-1].write_text(json.dumps(rows))
    result = bench_here("compare", "--baseline", str(files[0]), "--candidate", str(files[1]))
    assert result.code == 1, result.stderr
    said = " ".join(result.stdout.split())  # Rich wraps long lines
    assert "REGRESSION (untested):" in said and "+899.4%" in said
    same = bench_here("compare", "--baseline", str(files[0]), "--candidate", str(files[0]))
    assert same.code == 0, same.stdout


def test_a_comparison_of_a_tools_means_says_so() -> None:
    rng = np.random.default_rng(8)
    times = latency_samples(rng, 10.0, n=100)
    (both,) = compare(tool_rows(times, median=False), tool_rows(times, median=False))
    (mixed,) = compare(tool_rows(times), tool_rows(times, median=False))
    assert both.test == "welch, of means" and mixed.test == "welch, mean vs median"


def test_a_tool_summary_cell_missing_on_one_side_is_listed_and_fails_strict(bench_here, tmp_path: Path) -> None:
    rng = np.random.default_rng(9)
    gpu = tool_rows(latency_samples(rng, 4.0), median=False)  # a mean on one side only
    gpu[0]["accelerator"] = "gpu"
    base, cand = tool_rows(latency_samples(rng, 10.0)) + gpu, tool_rows(latency_samples(rng, 10.0))
    files = []
    for name, rows in (("base", base), ("cand", cand)):
        files.append(tmp_path / f"{name}.json")
        files[-1].write_text(json.dumps(rows))
    result = bench_here("compare", "--baseline", str(files[0]), "--candidate", str(files[1]),
                        "--markdown", str(tmp_path / "c.md"))  # fmt: skip
    assert result.code == 0 and "missing-in-candidate" in result.stdout, result.stdout
    missing = next(line for line in (tmp_path / "c.md").read_text().splitlines() if "missing-in" in line)
    assert "mean vs median" not in missing  # nothing was compared for it
    assert bench_here("compare", "--baseline", str(files[0]), "--candidate", str(files[1]), "--strict").code == 1
    reverse = bench_here("compare", "--baseline", str(files[1]), "--candidate", str(files[0]), "--strict")
    assert reverse.code == 1 and "missing-in-baseline" in reverse.stdout


def test_an_accelerator_that_took_less_of_the_graph_fails_the_gate(bench_here, tmp_path: Path) -> None:
    # one real GPU log (TF 2.x, tensorflow issue 43541): fully delegated, then the same timings with
    # the GPU delegate taking 40 of 58 nodes
    full = (Path(__file__).parent / "fixtures/real-logs/bm_tf2.x_android_gpu_full_issue43541_excerpt.txt").read_text()
    partial = full.replace(
        "Explicitly applied GPU delegate, and the model graph will be completely executed by the delegate.",
        "Replacing 40 out of 58 node(s) with delegate (TfLiteGpuDelegateV2) node, yielding 2 partitions.\n"
        "Explicitly applied GPU delegate, and the model graph will be partially executed by the delegate w/ 2 "
        "delegate kernels.",
    )
    store = str(tmp_path / "s.sqlite")
    runs = []
    for name, text in (("full", full), ("partial", partial)):
        (tmp_path / f"{name}.log").write_text(text)
        row = bench_here("ingest", str(tmp_path / f"{name}.log"), "--tool", "benchmark_model", "--device", "pixel6",
                         "-m", "m", "--store", store, "--json")  # fmt: skip
        runs.append(json.loads(row.stdout)["run_id"])
    result = bench_here("compare", "--baseline", runs[0], "--candidate", runs[1], "--store", store,
                        "--markdown", str(tmp_path / "c.md"))  # fmt: skip
    assert result.code == 1, result.stdout + result.stderr
    said = " ".join(result.stdout.split())  # Rich wraps long lines
    assert "REGRESSION: m tflite/fp32 litert[gpu] x4 on pixel6: delegation 100% -> 69% partial" in said
    md = (tmp_path / "c.md").read_text()  # the PR comment says what the exit status says
    assert "**Gate: FAIL** (1 of 1 cells)" in md
    assert "| unchanged; delegation 100% -> 69% partial (**fails the gate**) |" in md
    back = bench_here("compare", "--baseline", runs[1], "--candidate", runs[0], "--store", store,
                      "--markdown", str(tmp_path / "back.md"))  # fmt: skip
    assert back.code == 0 and "delegation 69% partial -> 100%" in " ".join(back.stdout.split())
    assert "**Gate: pass**" in (tmp_path / "back.md").read_text()
    # both runs are one cell: the report pools them and says their delegation differed
    report = bench_here("report", "--store", store, "--out", str(tmp_path / "report"))
    assert report.code == 0, report.stderr
    assert "| litert | gpu 69% (mixed) |" in (tmp_path / "report/summary.md").read_text()
    assert "69 (mixed)" in (tmp_path / "report/report.html").read_text()


def test_repeats_with_different_delegation_are_marked_mixed() -> None:
    from bench.accelerators.coverage import delegation_mark

    full, partial = {"accelerator": {"partial": False}}, {"accelerator": {"partial": True}}
    assert delegation_mark([full, full], [1.0, 1.0]) is None
    assert delegation_mark([full, partial], [1.0, 0.69]) == "mixed"
    assert delegation_mark([full, partial], [1.0, None]) == "mixed"  # a partial run without node counts
    assert delegation_mark([partial, partial], [0.69, float("nan")]) == "partial"  # one share known: not shown mixed
    assert delegation_mark([full, partial]) == "partial"  # no shares given: the marks alone
