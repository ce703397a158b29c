"""Contention is never silent: what else used the measured CPUs during a timed window is recorded,
flagged, and handled by --on-contention (a real CPU-bound co-runner on the measured CPU)."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import HOG, hog_on, last_cpu

from bench.measure.agent import contention, cpu_times
from bench.measure.harness import assess_contention

pytestmark = pytest.mark.skipif(not Path("/proc/stat").exists(), reason="needs /proc/stat")


def test_a_co_runner_on_the_measured_cpu_is_seen_and_our_own_time_is_not() -> None:
    cpu = last_cpu()
    hog = hog_on(cpu, 3.0)
    try:
        time.sleep(0.3)
        before = cpu_times([cpu])
        time.sleep(1.0)  # we do nothing: what the CPU did was the co-runner's
        busy = contention(before, cpu_times([cpu]))
    finally:
        hog.kill()
    assert busy["others_share"] > 0.8 and busy["cpus"] == 1
    assert assess_contention(busy)["contended"] is True
    allowed = os.sched_getaffinity(0)
    os.sched_setaffinity(0, [cpu])
    try:
        before, ours = cpu_times([cpu]), time.process_time()
        end = time.time() + 0.6
        while time.time() < end:  # our own work on the measured CPU is not contention
            pass
        after, ours = cpu_times([cpu]), time.process_time() - ours
    finally:
        os.sched_setaffinity(0, allowed)
    total = after["total"] - before["total"]
    raw = (after["busy"] - before["busy"]) / total  # everything the CPU did, ours included
    # our own share is not counted as others' (another test's process may share the CPU: how much
    # of it we got is read from the kernel's count of our CPU time, not assumed)
    assert ours / total > 0.1 and raw - contention(before, after)["others_share"] >= ours / total - 0.05
    assert assess_contention(None) is None


def run(bench_cli, tiny_files, tmp_path: Path, *args: str) -> tuple[int, list[dict], str]:
    store = tmp_path / f"s{len(list(tmp_path.glob('*.sqlite')))}.sqlite"
    result = bench_cli("run", "-m", str(tiny_files["onnx"]), "--min-runs", "50", "--min-time", "1.5", "--json",
                       "--store", str(store), *args)  # fmt: skip
    rows = json.loads(result.stdout) if result.stdout.strip().startswith("[") else []
    return result.code, rows, result.stderr


@pytest.mark.slow
def test_a_contended_cell_is_flagged_retried_and_failed_on_request(bench_cli, tiny_files, tmp_path: Path) -> None:
    hog = hog_on(last_cpu(), 900.0)  # the agent runs on the last CPU (one thread); killed below
    try:
        code, rows, stderr = run(bench_cli, tiny_files, tmp_path, "--on-contention", "warn")
        (row,) = rows
        assert code == 0 and row["status"] == "ok", stderr
        assert row["contention"]["contended"] and row["contention"]["others_share"] > 0.2
        assert "ran while other processes used the measured CPUs" in " ".join(stderr.split())
        code, rows, _ = run(bench_cli, tiny_files, tmp_path)  # the default: one retry, then kept flagged
        (row,) = rows
        assert row["contention"]["contended"] and row["contention"]["retried_after"]["contended"]
        code, rows, _ = run(bench_cli, tiny_files, tmp_path, "--on-contention", "fail")
        (row,) = rows
        assert code == 1 and row["status"] == "failed" and row["error"].startswith("contended: other processes took")
        assert row["median_ms"] is None and row["n_samples"] is None
    finally:
        hog.kill()
    result = bench_cli("run", "-m", str(tiny_files["onnx"]), "--on-contention", "maybe", "--store",
                       str(tmp_path / "x.sqlite"))  # fmt: skip
    assert result.code == 2 and "--on-contention maybe: choose from retry, warn, fail" in result.stderr


def test_a_device_shell_reads_the_cpu_counters_around_a_tool_and_keeps_its_output_whole() -> None:
    from bench.devices.transports.base import Completed
    from bench.measure.agent import proc_stat_times
    from bench.measure.runners.device_sampler import CPU_MARK, USER_HZ, split_cpu_readings, with_cpu_readings

    cpu = last_cpu()
    tool = [sys.executable, "-c", HOG.format(s=0.6) + "print('Timings (ms): avg=1.5\\nend', end='')"]
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    done = subprocess.run(["taskset", "-c", str(cpu), *with_cpu_readings(tool)], capture_output=True, text=True)
    used = resource.getrusage(resource.RUSAGE_CHILDREN)
    own_s = used.ru_utime + used.ru_stime - children.ru_utime - children.ru_stime  # as the kernel counted it
    kept, seen, why = split_cpu_readings(Completed(done.returncode, done.stdout, done.stderr), [cpu])
    assert why is None and kept.stdout == "Timings (ms): avg=1.5\nend" and kept.returncode == 0
    assert seen["cpus"] == 1
    # the tool's own busy time is not others': the share is the CPU's busy share less what the tool
    # used (another test's process may share the CPU, so the CPU's busy share is read, not assumed)
    _, before, _, _, after, _ = done.stdout.split(CPU_MARK + "\n")
    before, after = (proc_stat_times(text, [cpu], 0.0, USER_HZ) for text in (before, after))
    total_s = after["total"] - before["total"]
    busy_share = (after["busy"] - before["busy"]) / total_s
    assert own_s / total_s > 0.1 and seen["others_share"] <= busy_share - own_s / total_s + 0.05
    assert isinstance(seen["load1"], float)
    failed = subprocess.run(with_cpu_readings(["sh", "-c", "echo out; exit 3"]), capture_output=True, text=True)
    kept, seen, why = split_cpu_readings(Completed(failed.returncode, failed.stdout, ""), [4096])
    assert kept.returncode == 3 and kept.stdout == "out\n"
    assert seen is None and why == "the device did not show /proc/stat for CPUs [4096]"
    kept, seen, why = split_cpu_readings(Completed(0, "plain tool output\n", ""), None)
    assert kept.stdout == "plain tool output\n" and seen is None and "did not print its CPU readings" in why


def test_a_core_that_goes_offline_during_the_tool_is_left_out_of_the_reading() -> None:
    from bench.devices.transports.base import Completed
    from bench.measure.runners.device_sampler import CPU_MARK, split_cpu_readings

    def stat(cpu6: tuple[int, int], cpu7: tuple[int, int] | None) -> str:  # (busy, idle) ticks, proc(5) layout
        lines = [f"cpu  {cpu6[0]} 0 0 {cpu6[1]} 0 0 0 0 0 0", f"cpu6 {cpu6[0]} 0 0 {cpu6[1]} 0 0 0 0 0 0"]
        lines += [f"cpu7 {cpu7[0]} 0 0 {cpu7[1]} 0 0 0 0 0 0"] if cpu7 else []
        return "\n".join([*lines, "intr 1 2 3"])

    own = "4242 (sh) S 1 4242 4242 0 -1 4194560 1 0 0 0 0 0 50 10 20 0 1 0 100 0 0"  # cutime 50, cstime 10
    text = "\n".join([CPU_MARK, stat((1000, 5000), None), CPU_MARK, "tool output", "", CPU_MARK, own, CPU_MARK,
                      stat((1080, 5020), (300, 900)), CPU_MARK, "0.52 0.40 0.30 1/400 4242"])  # fmt: skip
    kept, seen, why = split_cpu_readings(Completed(0, text, ""), [6, 7])
    assert why is None and kept.stdout == "tool output\n" and seen["cpus"] == 1  # cpu7 was offline at the start
    assert seen["others_share"] == pytest.approx((80 - 60) / 100) and seen["load1"] == 0.52
