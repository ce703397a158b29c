"""The measurement harness on the host: protocol, energy, store, faults and bad input."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import MACHINE_CPUS, ROOT, assert_one_line_error
from simulators.powercap import SimulatedPowercap, measured_net_energy

from bench.devices.config import get_device
from bench.measure.harness import Cell, Harness, plan_cells
from bench.measure.protocol import Protocol
from bench.measure.stats import summarize
from bench.results.store import Store

FAST = ["--warmup", "2", "--min-runs", "10", "--min-time", "0.2"]


# --- statistics ------------------------------------------------------------------------------------


def test_summary_statistics_of_known_samples() -> None:
    s = summarize(list(range(1, 101)))
    assert s.n_samples == 100 and s.median_ms == 50.5 and s.mean_ms == 50.5 and s.min_ms == 1
    assert s.p90_ms == pytest.approx(90.1) and s.p99_ms == pytest.approx(99.01)
    assert s.cv == pytest.approx(np.std(range(1, 101), ddof=1) / 50.5)
    assert s.median_ci_low_ms < 50.5 < s.median_ci_high_ms


def test_median_ci_narrows_with_more_samples() -> None:
    rng = np.random.default_rng(0)
    few = summarize(rng.normal(10, 1, 50))
    many = summarize(rng.normal(10, 1, 5000))
    assert (many.median_ci_high_ms - many.median_ci_low_ms) < (few.median_ci_high_ms - few.median_ci_low_ms) / 4


def test_plan_interleaves_repeats() -> None:
    cells = plan_cells(["a", "b"], ["onnx"], ["fp32"], None, [1], repeats=2)
    assert [(c.model, c.repeat) for c in cells] == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]
    assert {c.runtime for c in cells} == {"onnxruntime"}


# --- measuring ---------------------------------------------------------------------------------------


@pytest.mark.slow
def test_protocol_meets_min_runs_and_min_time(tiny_files, tmp_path: Path) -> None:
    harness = Harness(
        get_device("host"), Store(str(tmp_path / "s.sqlite")), Protocol(warmup=2, min_runs=30, min_time=0.5)
    )
    measurement = harness.measure(Cell(str(tiny_files["onnx"]), "onnx", "fp32", "onnxruntime", 1))
    row, samples = measurement.to_row(), measurement.samples_ms
    assert row["status"] == "ok", row["error"]
    assert len(samples) == row["n_samples"] >= 30
    assert sum(samples) / 1e3 >= 0.45  # the window lasted at least min_time (minus loop overhead)
    assert row["median_ms"] == pytest.approx(float(np.median(samples)))
    assert row["init_ms"] > 0 and row["first_ms"] > 0 and 10 < row["peak_memory_mb"] < 2000
    assert row["energy_mj_per_inference"] is None and row["energy_note"].startswith("unavailable")
    from bench.measure.harness import pinned_cpus

    assert row["settings"]["cpus"] == (pinned_cpus(None, 1) or sorted(os.sched_getaffinity(0)))


def test_ci_target_stops_early(tiny_files, tmp_path: Path) -> None:
    harness = Harness(
        get_device("host"),
        Store(str(tmp_path / "s.sqlite")),
        Protocol(warmup=2, min_runs=20, min_time=30.0, max_time=30.0, ci_target=0.2),
    )
    start = time.monotonic()
    row = harness.measure(Cell(str(tiny_files["tflite"]), "tflite", "fp32", "litert", 1)).to_row()
    assert row["status"] == "ok" and time.monotonic() - start < 25  # not the 30 s of min_time (one retry allowed)
    assert row["n_samples"] >= 20


def test_rapl_energy_per_inference_matches_the_simulated_truth(tiny_files, tmp_path: Path) -> None:
    def measure(attempt: int) -> tuple[dict, SimulatedPowercap]:
        with SimulatedPowercap(tmp_path / f"powercap{attempt}") as sim:
            harness = Harness(
                get_device("host"),
                Store(str(tmp_path / f"s{attempt}.sqlite")),
                Protocol(warmup=5, min_runs=20, min_time=2.0),
                rapl_root=str(tmp_path / f"powercap{attempt}"),
            )
            measurement = harness.measure(Cell(str(tiny_files["onnx"]), "onnx", "fp32", "onnxruntime", 1))
        row = measurement.to_row()
        assert row["status"] == "ok" and row["n_samples"] == len(measurement.samples_ms), row["error"]
        return row, sim

    # the subzone is not double counted
    row, sim, truth_mj = measured_net_energy(measure, rails=["intel-rapl:0:package-0"])
    energy, n = row["energy"], row["n_samples"]
    (w0, w1), (i0, i1) = energy["window_t"], energy["idle_t"]

    # A read at t sees the counter as last rewritten, up to one update interval earlier: on a loaded
    # machine the simulator's thread is late, so the bound is taken from the intervals it really had.
    def stale_j(t: float) -> float:
        k = min(max(int(np.searchsorted(sim.log_t, t)), 1), len(sim.log_t) - 1)
        return (sim.idle_w + sim.busy_w) * (sim.log_t[k] - sim.log_t[k - 1])

    bound_mj = (stale_j(w0) + stale_j(w1) + (w1 - w0) / (i1 - i0) * (stale_j(i0) + stale_j(i1))) / n * 1e3
    error = abs(row["energy_mj_per_inference"] - truth_mj)
    assert error <= max(0.01 * truth_mj, bound_mj), (error, truth_mj, bound_mj, energy)
    assert sim.total_uj > sim.max_range_uj  # the counter wrapped during the run


def test_unreadable_rapl_is_a_reason_not_a_number(tiny_files, tmp_path: Path) -> None:
    harness = Harness(
        get_device("host"),
        Store(str(tmp_path / "s.sqlite")),
        Protocol(warmup=1, min_time=0.1),
        rapl_root=str(tmp_path / "nothing"),
    )
    row = harness.measure(Cell(str(tiny_files["onnx"]), "onnx", "fp32", "onnxruntime", 1)).to_row()
    assert row["energy_mj_per_inference"] is None
    assert "no RAPL" in row["energy_note"]


# --- the command line, end to end ------------------------------------------------------------------------


@pytest.mark.slow
def test_run_stores_and_results_exports_every_format(bench_cli, tiny_files, tmp_path: Path) -> None:
    store = str(tmp_path / "store.sqlite")
    result = bench_cli(
        "run",
        "-m",
        str(tiny_files["onnx"]),
        "-m",
        str(tiny_files["tflite"]),
        "--store",
        store,
        "--threads",
        "1,2",
        *FAST,
    )
    assert result.code == 0, result.stderr
    assert "onnxruntime" in result.stdout and "litert" in result.stdout
    rows = json.loads(bench_cli("results", "--format", "json", "--store", store).stdout)
    assert len(rows) == 4 and {r["threads"] for r in rows} == {1, 2}
    required = {
        "run_id",
        "model",
        "format",
        "precision",
        "runtime",
        "device",
        "threads",
        "n_samples",
        "median_ms",
        "mean_ms",
        "p90_ms",
        "p99_ms",
        "cv",
        "init_ms",
        "peak_memory_mb",
        "macs",
        "gflops_per_s",
        "energy_mj_per_inference",
        "energy_note",
        "status",
        "error",
        "samples_ms",
    }
    for row in rows:
        assert required <= set(row)
        assert row["status"] == "ok" and len(row["samples_ms"]) == row["n_samples"]
    csv = bench_cli("results", "--format", "csv", "--store", store)
    assert csv.stdout.count("\n") == 5 and csv.stdout.startswith("run_id,model")
    parquet = tmp_path / "r.parquet"
    assert bench_cli("results", "--format", "parquet", "--out", str(parquet), "--store", store).code == 0

    import pandas as pd

    import bench

    assert len(pd.read_parquet(parquet)) == 4
    frame = bench.load_results(store)
    assert len(frame) == 4 and frame["samples_ms"].map(len).equals(frame["n_samples"])


@pytest.mark.slow
def test_bench_store_environment_variable_sets_the_default(bench_cli, tiny_files, tmp_path: Path) -> None:
    store = tmp_path / "env.sqlite"
    os.environ["BENCH_STORE"] = str(store)
    try:
        assert bench_cli("run", "-m", str(tiny_files["onnx"]), *FAST).code == 0
    finally:
        del os.environ["BENCH_STORE"]
    assert len(Store(str(store)).measurement_rows()) == 1


@pytest.mark.slow
def test_a_model_file_named_twice_is_measured_once_and_any_suffix_case_is_a_model_file(
    bench_cli, tiny_files, tmp_path: Path
) -> None:
    onnx = tiny_files["onnx"]
    link = tmp_path / "same.onnx"
    link.symlink_to(onnx)
    relative = os.path.relpath(onnx, ROOT)  # bench_cli runs in ROOT
    upper = tmp_path / "SHIPPED.ONNX"  # a copy under a Windows-style name: another file, a model file all the same
    upper.write_bytes(onnx.read_bytes())
    store = tmp_path / "s.sqlite"
    result = bench_cli("run", "-m", relative, "-m", str(onnx), "-m", str(link), "-m", str(upper), "--store", str(store),
                       *FAST)  # fmt: skip
    assert result.code == 0, result.stderr
    rows = Store(str(store)).measurement_rows()
    expected = [(relative, "onnx", "ok"), (str(upper), "onnx", "ok")]
    assert [(r["model"], r["format"], r["status"]) for r in rows] == expected


@pytest.mark.slow
def test_zoo_model_run_records_macs_and_gflops(bench_cli, tmp_path: Path) -> None:
    store = str(tmp_path / "zoo.sqlite")
    result = bench_cli("run", "-m", "mobilenetv2_100", "--format", "onnx", "--store", store, "--json", *FAST)
    assert result.code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["macs"] == pytest.approx(0.314e9, rel=0.01)
    assert row["gflops_per_s"] == pytest.approx(2 * row["macs"] / (row["median_ms"] / 1e3) / 1e9)


@pytest.mark.slow
def test_corrupt_artifact_is_a_failed_row_and_the_suite_goes_on(bench_cli, tiny_files, tmp_path: Path) -> None:
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(tiny_files["onnx"].read_bytes()[:2000])
    store = str(tmp_path / "s.sqlite")
    result = bench_cli("run", "-m", str(broken), "-m", str(tiny_files["onnx"]), "--store", store, *FAST)
    assert result.code == 1 and "1 of 2 cells failed" in result.stderr and "Traceback" not in result.stderr
    rows = Store(store).measurement_rows()
    assert [r["status"] for r in rows] == ["failed", "ok"]
    assert "broken.onnx" in rows[0]["error"]


@pytest.mark.slow
def test_two_processes_writing_one_store_lose_no_rows(tiny_files, tmp_path: Path) -> None:
    store = str(tmp_path / "shared.sqlite")
    env = {**os.environ, "BENCH_RESULTS": str(tmp_path / "r"), "PYTHONWARNINGS": "ignore"}
    cmd = [
        sys.executable,
        "-m",
        "bench.cli",
        "run",
        "-m",
        str(tiny_files["onnx"]),
        "-m",
        str(tiny_files["tflite"]),
        "--threads",
        "1,2",
        "--store",
        store,
        "--warmup",
        "1",
        "--min-runs",
        "5",
        "--min-time",
        "0.05",
    ]
    procs = [
        subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)
    ]
    for proc in procs:
        assert proc.wait(timeout=300) == 0, proc.stderr.read()
    rows = Store(store).measurement_rows()
    assert len(rows) == 8 and len({r["run_id"] for r in rows}) == 2
    assert all(r["samples_ms"] and len(r["samples_ms"]) == r["n_samples"] for r in rows)


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_sigint_keeps_finished_cells_and_resume_runs_only_the_rest(tiny_files, tmp_path: Path, sig) -> None:
    store = str(tmp_path / "resume.sqlite")
    env = {**os.environ, "BENCH_RESULTS": str(tmp_path / "r"), "PYTHONWARNINGS": "ignore"}
    base = [sys.executable, "-m", "bench.cli", "run", "--store", store, "--warmup", "1", "--min-runs", "5"]
    cmd = [
        *base,
        "-m",
        str(tiny_files["onnx"]),
        "-m",
        str(tiny_files["tflite"]),
        "--threads",
        "1,2",
        "--min-time",
        "1.5",
    ]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (Path(store).exists() and Store(store).measurement_rows()):
        time.sleep(0.2)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "--resume" in stderr and "Traceback" not in stderr
    assert [r["status"] for r in Store(store).list_runs()] == ["interrupted"]  # not left running
    kept = Store(store).measurement_rows()
    assert 1 <= len(kept) < 4
    # the resume measures with the run's own settings (--min-time 1.5): none is repeated here
    resumed = subprocess.run([*base, "--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    rows = Store(store).measurement_rows()
    assert len(rows) == 4 and len({r["run_id"] for r in rows}) == 1
    assert rows[: len(kept)] == kept  # nothing finished was touched
    cells = {(r["model"], r["runtime"], r["threads"]) for r in rows}
    assert len(cells) == 4
    assert Store(store).list_runs()[0]["status"] == "finished"


# --- bad input ----------------------------------------------------------------------------------------------


def test_unknown_device_exits_2(bench_here) -> None:
    assert_one_line_error(bench_here("run", "--device", "pixel9000"), "unknown device 'pixel9000'", "host")


@pytest.mark.parametrize(
    "args,fragment",
    [
        (["--threads", "0"], "--threads"),
        (["--threads", "two"], "--threads"),
        (["--min-runs", "0"], "--min-runs"),
        (["--min-time", "-1"], "--min-time"),
        (["--ci-target", "5"], "--ci-target"),
        (["--format", "safetensors"], "unknown format 'safetensors'"),
        (["--runtime", "tensorrt"], "unknown runtime 'tensorrt'"),
        (["--precision", "fp8"], "does not support precision 'fp8'"),
        (["--repeats", "0"], "--repeats"),
        (["--resume"], "nothing to resume"),
    ],
)
def test_nonsense_run_options_exit_2(bench_here, tmp_path: Path, args: list[str], fragment: str) -> None:
    result = bench_here("run", "-m", "edgevit_xxs", "--store", str(tmp_path / "s.sqlite"), *args)
    assert_one_line_error(result, fragment)


def test_runtime_not_installed_names_the_extra(bench_cli, hide_module, tmp_path: Path) -> None:
    hide_module("onnxruntime")
    result = bench_cli("run", "-m", "x.onnx", "--store", str(tmp_path / "s.sqlite"))
    assert_one_line_error(result, "pip install 'edge-bench[onnx]'")


def test_bad_store_url_exits_2(bench_here) -> None:
    assert_one_line_error(bench_here("results", "--store", "nosuchdb://x/y"), "bad store URL")


def test_unknown_results_format_exits_2(bench_cli, tmp_path: Path) -> None:
    assert_one_line_error(
        bench_cli("results", "--format", "xml", "--store", str(tmp_path / "s.sqlite")), "unknown results format 'xml'"
    )


@pytest.mark.slow
def test_runtime_options_reach_the_runtime(bench_cli, tiny_files, tmp_path: Path) -> None:
    store = str(tmp_path / "s.sqlite")
    result = bench_cli(
        "run",
        "-m",
        str(tiny_files["onnx"]),
        "-m",
        str(tiny_files["tflite"]),
        "--store",
        store,
        "--option",
        "graph_optimization=disable",
        "--option",
        "xnnpack=false",
        *FAST,
    )
    assert result.code == 0, result.stderr
    options = {r["runtime"]: r["settings"]["options"] for r in Store(store).measurement_rows()}
    assert options["onnxruntime"]["graph_optimization"] == "disable"
    assert options["litert"]["xnnpack"] is False


@pytest.mark.parametrize(
    "option,fragment",
    [
        ("xnnpack=maybe", "litert accepts true, false"),
        ("threads=4", "use KEY=VALUE with KEY one of"),
        ("graph_optimization", "use KEY=VALUE"),
        ("providers=CUDAExecutionProvider", "--option providers: it is onnxruntime's, and this run uses litert"),
    ],
)
def test_bad_runtime_options_exit_2(bench_cli, tiny_files, tmp_path: Path, option: str, fragment: str) -> None:
    result = bench_cli(
        "run", "-m", str(tiny_files["tflite"]), "--store", str(tmp_path / "s.sqlite"), "--option", option
    )
    assert_one_line_error(result, fragment)


def test_thermal_wait_reads_zones_and_gives_up_when_too_hot(tmp_path: Path) -> None:
    from bench.measure.thermal import wait_until_settled

    zone = tmp_path / "thermal_zone0"
    zone.mkdir()
    (zone / "type").write_text("cpu-thermal\n")
    (zone / "temp").write_text("45000\n")
    settled = wait_until_settled(tmp_path, limit_c=60, max_wait_s=2, poll_s=0.05)
    assert settled.settled and settled.zones_c == {"thermal_zone0:cpu-thermal": 45.0}
    hot = wait_until_settled(tmp_path, limit_c=40, max_wait_s=0.3, poll_s=0.05)
    assert not hot.settled and hot.waited_s >= 0.3 and "not settled" in hot.note
    assert wait_until_settled(tmp_path / "none").note.startswith("no readable thermal zones")


def test_agent_is_pinned_to_the_profile_mask_or_the_last_cpus() -> None:
    from bench.measure.harness import pinned_cpus

    assert len(MACHINE_CPUS) > 1, "the suite is sized for a machine of 2 CPUs or more"
    worker = os.sched_getaffinity(0)
    os.sched_setaffinity(0, MACHINE_CPUS)  # all of them, not this xdist worker's share
    try:
        allowed = sorted(os.sched_getaffinity(0))
        assert pinned_cpus("1", 1) == ([0] if 0 in allowed else None)
        assert pinned_cpus(None, 1) == allowed[-1:]
        assert pinned_cpus(None, len(allowed)) is None  # all CPUs: nothing to pin
        os.sched_setaffinity(0, allowed[:1])
        assert pinned_cpus(None, 1) is None  # one CPU allowed (taskset, a cpuset): the agent runs there
    finally:
        os.sched_setaffinity(0, worker)


def test_many_processes_opening_a_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    store = tmp_path / "new.sqlite"
    start_at = time.time() + 3  # after every process has imported what it needs
    code = (
        "import sys, time\n"
        "from bench.results.store import Store\n"
        "time.sleep(max(0.0, float(sys.argv[1]) - time.time()))\n"
        "Store(sys.argv[2])\n"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(start_at), str(store)], cwd=ROOT, stderr=subprocess.PIPE, text=True
        )
        for _ in range(6)
    ]
    errors = [p.communicate(timeout=60)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    assert len(Store(str(store)).list_runs()) == 0
