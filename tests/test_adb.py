"""The adb transport and the Android path, against Debian's real adb server and an emulated phone.

The phone is SIMULATION (tests/simulators/adb_device.py): it speaks the adb protocol on loopback,
runs commands in a sandbox with a simulated power monitor and thermal status, and its
benchmark_model / onnxruntime_perf_test are stand-ins that really run the model.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, assert_one_line_error, hog_on, last_cpu, tool_wrapper
from simulators.adb_device import EmulatedAndroidDevice

from bench.devices.config import get_device
from bench.devices.transports.base import open_transport

pytestmark = pytest.mark.slow


def transport_for(phone):
    transport = open_transport(get_device(device_file=str(phone.profile)))
    transport.connect()
    return transport


def invocations_by_process(phone) -> list[list[tuple[str, int]]]:
    """Per tool process, in start order: its (phase, ns) inferences."""
    by_pid: dict[str, list[tuple[str, int]]] = {}
    for line in (phone.root / "sim/invokes.log").read_text().splitlines():
        pid, phase, ns = line.split()
        by_pid.setdefault(pid, []).append((phase, int(ns)))
    return list(by_pid.values())


def true_mj_per_inference(process: list[tuple[str, int]]) -> float:
    timed = [ns for phase, ns in process if phase == "timed"]
    return EmulatedAndroidDevice.extra_watts() * (sum(timed) / len(timed)) / 1e9 * 1e3


def test_commands_are_quoted_and_exit_codes_kept(emulated_pixel) -> None:
    transport = transport_for(emulated_pixel)
    hostile = "a b; $(touch pwned) `touch pwned2` 'q' \"d\" > out"  # the device shell runs in /data/local/tmp
    done = transport.run(["echo", hostile])
    assert done.returncode == 0 and done.stdout == hostile + "\n"
    assert not list((emulated_pixel.root / "data/local/tmp").glob("pwned*"))
    assert not (emulated_pixel.root / "data/local/tmp/out").exists()
    assert transport.run(["sh", "-c", "echo out; echo err >&2; exit 7"]).returncode == 7


def test_push_and_pull_round_trip_a_binary_file(emulated_pixel, tmp_path: Path) -> None:
    transport = transport_for(emulated_pixel)
    payload = os.urandom(300_000)
    local = tmp_path / "model with space.bin"
    local.write_bytes(payload)
    remote = transport.push_once(local, "ab" * 32)
    assert remote.startswith("/data/local/tmp/bench work/files/")
    assert transport.push_once(local, "ab" * 32) == remote  # already there: not copied again
    transport.pull(remote, tmp_path / "back.bin")
    assert (tmp_path / "back.bin").read_bytes() == payload


def run_json(bench_cli, phone, *args: str, store: Path) -> tuple[int, list[dict], str]:
    result = bench_cli("run", "--device-file", str(phone.profile), "--store", str(store), "--json", *args)
    rows = json.loads(result.stdout) if result.stdout.strip().startswith("[") else []
    return result.code, rows, result.stderr


def test_run_on_the_phone_stores_latency_and_energy_within_2_percent(
    bench_cli, emulated_pixel, tiny_files, tmp_path: Path
) -> None:
    code, rows, stderr = run_json(
        bench_cli,
        emulated_pixel,
        "-m", str(tiny_files["tflite"]), "-m", str(tiny_files["onnx"]),
        "--warmup", "3", "--min-runs", "300", "--min-time", "3",  # warm-up spread well below 2%
        store=tmp_path / "s.sqlite",
    )  # fmt: skip
    assert code == 0, stderr
    assert [r["format"] for r in rows] == ["tflite", "onnx"]
    processes = invocations_by_process(emulated_pixel)
    assert len(processes) == 4  # per cell: a short and a full run of the tool
    for row, full_run in zip(rows, (processes[1], processes[3]), strict=True):
        assert row["status"] == "ok", row["error"]
        assert row["n_samples"] >= 300 and row["median_ms"] > 0
        truth = true_mj_per_inference(full_run)
        assert row["energy_mj_per_inference"] == pytest.approx(truth, rel=0.02), row["energy_note"]
        assert set(row["energy"]["rails_mj_per_inference"]) == {
            "S2M_VDD_CPUCL2", "S3M_VDD_CPUCL1", "S4M_VDD_CPUCL0", "S1M_VDD_MIF",
        }  # fmt: skip
        assert row["thermal"]["status"] == 0
        assert row["settings"]["cpus"] == [6, 7]
    tflite, onnx = rows
    assert tflite["source"]["method"] == "benchmark_model" and tflite["source"]["tool_format"] == "info"
    assert tflite["source"]["delegation"][0]["partial"] is False
    assert onnx["source"]["method"] == "onnxruntime_perf_test" and onnx["p90_ms"] is not None
    assert (emulated_pixel.root / "sim/taskset.log").read_text().split()[0] == "c0"
    assert (emulated_pixel.root / "sim/cmd.log").read_text().splitlines() == [
        "power set-fixed-performance-mode-enabled true",
        "power set-fixed-performance-mode-enabled false",
    ]


def test_perfetto_power_rails_give_the_same_energy(bench_cli, emulated_pixel, tiny_files, tmp_path: Path) -> None:
    emulated_pixel.profile.write_text(
        emulated_pixel.profile.read_text().replace('meter = "odpm"', 'meter = "perfetto"')
    )
    code, rows, stderr = run_json(
        bench_cli, emulated_pixel, "-m", str(tiny_files["tflite"]),
        "--warmup", "3", "--min-runs", "300", "--min-time", "3", store=tmp_path / "s.sqlite",
    )  # fmt: skip
    assert code == 0, stderr
    (row,) = rows
    assert row["status"] == "ok" and row["energy"]["meter"] == "perfetto", row["energy_note"]
    full_run = invocations_by_process(emulated_pixel)[1]
    assert row["energy_mj_per_inference"] == pytest.approx(true_mj_per_inference(full_run), rel=0.02)
    assert not list((emulated_pixel.root / "sim").glob("perfetto-*.pid"))  # the session was stopped


def test_the_battery_gauge_is_sampled_on_the_phone_around_the_tool_as_a_labelled_fallback(
    bench_cli, emulated_pixel, tiny_files, tmp_path: Path
) -> None:
    text = emulated_pixel.profile.read_text()
    emulated_pixel.profile.write_text(text.replace('meter = "odpm"', 'meter = "battery"').replace("rails = [", "# ["))
    code, rows, stderr = run_json(
        bench_cli, emulated_pixel, "-m", str(tiny_files["tflite"]), "--warmup", "3", "--min-runs", "300",
        "--min-time", "2", store=tmp_path / "s.sqlite",
    )  # fmt: skip
    assert code == 0, stderr
    (row,) = rows
    assert row["status"] == "ok", row["error"]
    assert "coarse: whole-device battery gauge" in row["energy_note"]
    full_run = invocations_by_process(emulated_pixel)[1]
    # a gauge sampled every 100 ms (0.8% off here): coarser than the power monitor's counters (2%)
    assert row["energy_mj_per_inference"] == pytest.approx(true_mj_per_inference(full_run), rel=0.05), row[
        "energy_note"
    ]
    assert not list((emulated_pixel.root / "data/local/tmp/bench work").glob("samples-*"))  # cleaned up


def test_the_older_benchmark_model_format_is_read_end_to_end(
    bench_cli, emulated_pixel, tiny_files, tmp_path: Path
) -> None:
    text = emulated_pixel.profile.read_text()
    plain = tool_wrapper(tmp_path / "tools", "benchmark_model", "--sim-format=plain")
    emulated_pixel.profile.write_text(text.replace('meter = "odpm"', 'meter = "none"').replace(
        str(tmp_path / "tools" / "benchmark_model"), str(plain)))  # fmt: skip
    code, rows, stderr = run_json(
        bench_cli, emulated_pixel, "-m", str(tiny_files["tflite"]), "--min-runs", "50", "--min-time", "0.2",
        store=tmp_path / "s.sqlite",
    )  # fmt: skip
    assert code == 0, stderr
    (row,) = rows
    assert row["status"] == "ok" and row["source"]["tool_format"] == "plain"
    assert row["median_ms"] == pytest.approx(row["mean_ms"])  # the old format has no median
    assert any("median_ms holds the mean" in note for note in row["source"]["notes"])
    assert row["energy_mj_per_inference"] is None and 'meter = "none"' in row["energy_note"]


def test_perf_test_without_a_meter_still_runs_for_min_time(
    bench_cli, emulated_pixel, tiny_files, tmp_path: Path
) -> None:
    text = emulated_pixel.profile.read_text()
    emulated_pixel.profile.write_text(text.replace('meter = "odpm"', 'meter = "none"'))
    code, rows, stderr = run_json(bench_cli, emulated_pixel, "-m", str(tiny_files["onnx"]), "--min-runs", "5",
                                  "--min-time", "1.0", store=tmp_path / "s.sqlite")  # fmt: skip
    assert code == 0, stderr
    (row,) = rows
    assert row["status"] == "ok" and row["source"]["method"] == "onnxruntime_perf_test"
    # perf_test takes -r COUNT or -t SECONDS: the count is sized from a 0.2 s run to last --min-time
    timed = [sum(ns for phase, ns in p if phase == "timed") / 1e9 for p in invocations_by_process(emulated_pixel)]
    assert len(timed) == 2 and timed[0] < 0.5 and timed[-1] >= 0.6, timed  # was 5 inferences, about 1 ms


def test_bench_ab_alternates_native_tool_runs_on_the_phone(
    bench_cli, emulated_pixel, tiny_files, tmp_path: Path
) -> None:
    from bench.measure.ab import round_orders
    from bench.results.store import Store

    text = emulated_pixel.profile.read_text()
    emulated_pixel.profile.write_text(text.replace('meter = "odpm"', 'meter = "none"'))
    model, store = str(tiny_files["tflite"]), str(tmp_path / "s.sqlite")
    # one file against itself, 3 rounds: the threshold keeps a drift between two agents from failing the gate
    result = bench_cli("ab", "--device-file", str(emulated_pixel.profile), "--a", model, "--b", model,
                       "--rounds", "3", "--seed", "2", "--min-runs", "20", "--min-time", "0.1", "--store", store,
                       "--json", "--threshold", "60%")  # fmt: skip
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["orders"] == round_orders(3, 2)
    (cell,) = data["cells"]
    assert cell["rounds_complete"] == 3 and cell["runtime"] == "litert"
    rows = Store(store, create=False).measurement_rows(data["run_id"])
    assert [r["source"]["method"] for r in rows] == ["benchmark_model"] * 6
    assert "".join(r["settings"]["ab"]["side"] for r in rows).upper() == "".join(data["orders"])
    assert len(invocations_by_process(emulated_pixel)) == 6  # one tool process per version per round


def test_what_else_ran_on_the_phones_measured_cpus_is_read_around_the_tool_and_flagged(
    bench_cli, emulated_pixel, tiny_files, tmp_path: Path
) -> None:
    # the phone's big cores (6, 7) are not on this host: nothing is read, and the row says why
    text = emulated_pixel.profile.read_text().replace('meter = "odpm"', 'meter = "none"')
    emulated_pixel.profile.write_text(text)
    args = ("-m", str(tiny_files["onnx"]), "--min-runs", "20", "--min-time", "1.5")
    code, rows, stderr = run_json(bench_cli, emulated_pixel, *args, store=tmp_path / "a.sqlite")
    assert code == 0 and rows[0]["status"] == "ok", stderr
    assert rows[0]["contention"] is None
    assert "contention not read: the device did not show /proc/stat for CPUs [6, 7]" in rows[0]["source"]["notes"]
    # pinned to this host's last CPU, with a co-runner there: the tool's own time is not counted
    cpu = last_cpu()
    emulated_pixel.profile.write_text(text.replace('affinity = "c0"', f'affinity = "{1 << cpu:x}"'))
    code, rows, stderr = run_json(bench_cli, emulated_pixel, *args, "--on-contention", "warn",
                                  store=tmp_path / "b.sqlite")  # fmt: skip
    quiet = rows[0]["contention"]
    assert code == 0 and rows[0]["status"] == "ok" and rows[0]["n_samples"] >= 20, stderr
    assert quiet["cpus"] == 1 and 0 <= quiet["others_share"] < 1 and quiet["load1"] is not None
    hog = hog_on(cpu, 900.0)  # outlives the run however slow a busy machine makes it (killed below)
    try:
        code, rows, stderr = run_json(bench_cli, emulated_pixel, *args, "--on-contention", "fail",
                                      store=tmp_path / "c.sqlite")  # fmt: skip
    finally:
        hog.kill()
    (row,) = rows
    assert code == 1 and row["status"] == "failed" and row["median_ms"] is None, stderr
    assert row["error"].startswith("contended: other processes took") and row["contention"]["others_share"] > 0.2


def test_a_phone_that_disappears_mid_suite_keeps_what_finished_and_resumes(
    emulated_pixel, tiny_files, tmp_path: Path, results_dir: Path
) -> None:
    store = tmp_path / "s.sqlite"
    argv = [sys.executable, "-m", "bench.cli", "run", "--device-file", str(emulated_pixel.profile),
            "--store", str(store), "-m", str(tiny_files["tflite"]), "--repeats", "4",
            "--warmup", "1", "--min-runs", "20", "--min-time", "1.0"]  # fmt: skip
    env = {**os.environ, "BENCH_RESULTS": str(results_dir)}
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and stored(store) < 1:
        time.sleep(0.2)
    port = emulated_pixel.port
    emulated_pixel.disappear()
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    assert "was lost" in err and "--resume" in err and "Traceback" not in err
    rows = measurements(store)
    assert rows[0]["status"] == "ok"
    assert rows[-1]["status"] == "failed" and "device lost" in rows[-1]["error"]
    assert run_status(store) == "device-lost"

    emulated_pixel.start(port)  # plugged back in
    done = subprocess.run([*argv, "--resume"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    ok = [r for r in measurements(store) if r["status"] == "ok"]
    assert sorted(r["repeat"] for r in ok) == [0, 1, 2, 3]  # every cell once, nothing measured twice
    assert run_status(store) == "finished"


def stored(store: Path) -> int:
    if not store.exists():
        return 0
    try:
        with sqlite3.connect(store) as db:
            return db.execute("select count(*) from measurements").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def measurements(store: Path) -> list[dict]:
    with sqlite3.connect(store) as db:
        db.row_factory = sqlite3.Row
        return [dict(r) for r in db.execute("select * from measurements order by id")]


def run_status(store: Path) -> str:
    with sqlite3.connect(store) as db:
        return db.execute("select status from runs").fetchone()[0]


def test_a_hot_phone_is_measured_only_after_it_cools(bench_cli, emulated_pixel, tiny_files, tmp_path: Path) -> None:
    (emulated_pixel.root / "sim/thermal_status").write_text("3,2,0")  # severe, moderate, then none
    code, rows, stderr = run_json(
        bench_cli, emulated_pixel, "-m", str(tiny_files["tflite"]), "--min-runs", "20", "--min-time", "0.1",
        store=tmp_path / "s.sqlite",
    )  # fmt: skip
    assert code == 0, stderr
    thermal = rows[0]["thermal"]
    assert thermal["status"] == 0 and thermal["settled"] and thermal["waited_s"] >= 3.5


def test_a_missing_native_tool_fails_the_cell_with_what_to_set(
    bench_cli, emulated_pixel, tiny_files, tmp_path: Path
) -> None:
    text = emulated_pixel.profile.read_text()
    emulated_pixel.profile.write_text("\n".join(line for line in text.splitlines() if "benchmark_model =" not in line))
    code, rows, _ = run_json(
        bench_cli, emulated_pixel, "-m", str(tiny_files["tflite"]), "--min-time", "0.1", store=tmp_path / "s.sqlite"
    )
    assert code == 1
    assert "[runtimes] benchmark_model" in rows[0]["error"]


def test_an_unreachable_phone_is_one_line_naming_what_was_tried(bench_cli, adb_server, tmp_path: Path) -> None:
    from services import free_port

    profile = tmp_path / "gone.toml"
    profile.write_text(
        f'name = "gone"\ntransport = "adb"\naddress = "127.0.0.1:{free_port()}"\nadb_server_port = {adb_server.port}\n'
    )
    result = bench_cli("run", "--device-file", str(profile), "-m", "x.tflite", "--store", str(tmp_path / "s.sqlite"))
    assert_one_line_error(result, "cannot reach 'gone'", "adb connect")


def test_probe_reports_the_phone_its_tools_and_meter(bench_cli, emulated_pixel) -> None:
    result = bench_cli("devices", "--device-file", str(emulated_pixel.profile))
    assert result.code == 0, result.stderr
    for fragment in ("Android 14", "Pixel 6", "runtime litert", "ok (benchmark_model", "Thermal Status 0", "ok: odpm"):
        assert fragment in result.stdout, result.stdout


def test_a_model_with_an_image_and_token_ids_runs_with_its_inputs_named_to_the_tool(
    bench_cli, emulated_pixel, tmp_path: Path, monkeypatch
) -> None:
    """benchmark_model fills integer inputs with 0..99 unless told a range: the 4-row embedding
    would be indexed out of bounds. The runner names every input, its shape and the ids' range."""
    from export.pipeline import export_model
    from export.reference import parse_inputs
    from export.source import resolve

    monkeypatch.setenv("BENCH_RESULTS", str(tmp_path / "results"))
    spec = resolve(f"{ROOT}/tests/user_models/export_kinds.py:image_and_tokens", parse_inputs("1,3,16,16;1,6:int64"))
    artifact = export_model(spec, "tflite", "fp32", out_dir=tmp_path / "out")
    assert artifact.ok, artifact.error
    text = emulated_pixel.profile.read_text()
    emulated_pixel.profile.write_text(text.replace('meter = "odpm"', 'meter = "none"'))
    code, rows, stderr = run_json(
        bench_cli,
        emulated_pixel,
        "-m",
        artifact.path,
        "--min-runs",
        "20",
        "--min-time",
        "0.1",
        store=tmp_path / "s.sqlite",
    )
    assert code == 0, stderr
    (row,) = rows
    assert row["status"] == "ok" and row["median_ms"] > 0
    tool = [str(tmp_path / "tools" / "benchmark_model"), f"--graph={artifact.path}", "--num_runs=3", "--min_secs=0"]
    unnamed = subprocess.run(tool, capture_output=True, text=True, timeout=120)  # the tool left to itself
    assert unnamed.returncode == 1 and "index out of bounds" in unnamed.stdout + unnamed.stderr
