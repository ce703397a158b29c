"""The ssh transport against a real OpenSSH server on loopback (tests/services.py).

The "remote board" is this machine reached through sshd, with its own work folder; the agent is
copied there and run with the remote Python, exactly as on a Raspberry Pi or a Jetson.
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
from conftest import ROOT, assert_one_line_error, tool_wrapper
from services import SshServer
from simulators.powercap import SimulatedIna3221, measured_net_energy

from bench.devices.config import get_device
from bench.devices.transports.base import open_transport

pytestmark = pytest.mark.slow


def board_profile(
    folder: Path,
    server: SshServer,
    tools: dict[str, Path] | None = None,
    python: Path = Path(sys.executable),
    runtimes: tuple[str, ...] = ("onnxruntime", "litert"),
    **energy: str,
) -> Path:
    work = folder / "remote dir; $(touch pwned)"  # a work dir that would inject if it were not quoted
    lines = [
        'name = "loopback-board"',
        'transport = "ssh"',
        f'address = "{server.host_alias}"',
        f'ssh_config = "{server.ssh_config}"',
        f'work_dir = "{work}"',
        f'python = "{python}"',
        "[cpu]",
        "threads = [1]",
        "[runtimes]",
        f"available = {json.dumps(list(runtimes))}",
        *(f'{tool} = "{path}"' for tool, path in (tools or {}).items()),
        "[energy]",
        *(f"{key} = {json.dumps(value)}" for key, value in (energy or {"meter": "none"}).items()),
    ]
    path = folder / "board.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_suite_runs_on_the_board_through_sshd(bench_cli, sshd, tiny_files, tmp_path: Path) -> None:
    profile = board_profile(tmp_path, sshd)
    result = bench_cli(
        "run", "--device-file", str(profile), "-m", str(tiny_files["onnx"]), "-m", str(tiny_files["tflite"]),
        "--min-runs", "30", "--min-time", "0.3", "--store", str(tmp_path / "s.sqlite"), "--json",
    )  # fmt: skip
    assert result.code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(r["runtime"], r["status"]) for r in rows] == [("onnxruntime", "ok"), ("litert", "ok")]
    assert all(r["n_samples"] >= 30 and r["source"]["transport"] == "ssh" for r in rows)
    work = tmp_path / "remote dir; $(touch pwned)"
    copied = sorted(p.name for p in (work / "files").glob("*/*"))
    plugins = ["onnxruntime.py", "litert.py"]  # each runtime's plug-in: how the agent opens its session
    assert copied == sorted(["agent.py", *plugins, tiny_files["onnx"].name, tiny_files["tflite"].name])
    assert not list(tmp_path.rglob("pwned"))


def test_bench_ab_interleaves_its_rounds_on_the_board(bench_cli, sshd, tiny_files, tmp_path: Path) -> None:
    from bench.measure.ab import round_orders
    from bench.results.store import Store

    model, store = str(tiny_files["onnx"]), str(tmp_path / "s.sqlite")
    # one file against itself, 3 rounds: the threshold keeps a drift between two agents from failing the gate
    result = bench_cli("ab", "--device-file", str(board_profile(tmp_path, sshd)), "--a", model, "--b", model,
                       "--rounds", "3", "--seed", "0", "--min-runs", "20", "--min-time", "0.1", "--store", store,
                       "--json", "--threshold", "60%")  # fmt: skip
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["device"] == "loopback-board" and data["orders"] == round_orders(3, 0)
    (cell,) = data["cells"]
    assert cell["rounds_complete"] == 3 and cell["verdict"] == "not-tested"  # 3 rounds never reach p < 0.01
    rows = Store(store, create=False).measurement_rows(data["run_id"])
    assert all(r["source"]["transport"] == "ssh" and r["device"] == "loopback-board" for r in rows)
    # measured in each round's recorded order, A and B in fresh agents on the board
    assert "".join(r["settings"]["ab"]["side"] for r in rows).upper() == "".join(data["orders"])


def test_a_board_with_tflite_runtime_and_numpy_1_runs_tflite_through_the_fallback(
    bench_cli, sshd, tiny_files, tmp_path: Path
) -> None:
    board_python = ROOT / ".venv-board/bin/python"  # numpy 1.26 + tflite-runtime 2.14 (scripts/board-env.sh)
    assert board_python.exists(), "run scripts/board-env.sh"
    profile = board_profile(tmp_path, sshd, python=board_python, runtimes=("litert",))
    store = tmp_path / "s.sqlite"
    result = bench_cli("run", "--device-file", str(profile), "-m", str(tiny_files["tflite"]), "--min-runs", "30",
                       "--min-time", "0.3", "--store", str(store), "--json")  # fmt: skip
    assert result.code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["status"] == "ok" and row["n_samples"] >= 30, row
    assert row["runtime_versions"] == {"tflite_runtime": "2.14.0"}
    probe = bench_cli("devices", "--device-file", str(profile))
    assert probe.code == 0, probe.stderr
    assert "ok (tflite_runtime)" in probe.stdout, probe.stdout


def test_commands_reuse_one_connection(sshd, tmp_path: Path) -> None:
    transport = open_transport(get_device(device_file=str(board_profile(tmp_path, sshd))))
    transport.connect()
    for _ in range(3):
        assert transport.run(["echo", "$HOME; `id`"]).stdout == "$HOME; `id`\n"
    check = subprocess.run(
        [*transport._base(), "-O", "check", "--", sshd.host_alias], capture_output=True, text=True, timeout=30
    )
    assert check.returncode == 0 and "Master running" in check.stderr
    transport.close()


def test_an_unknown_host_key_is_refused(bench_cli, sshd, tmp_path: Path) -> None:
    config = tmp_path / "ssh_config"
    empty = tmp_path / "known_hosts"
    empty.write_text("")
    config.write_text(sshd.ssh_config.read_text().replace(str(sshd.folder / "known_hosts"), str(empty)))
    profile = board_profile(tmp_path, sshd)
    profile.write_text(profile.read_text().replace(str(sshd.ssh_config), str(config)))
    assert_one_line_error(bench_cli("devices", "--device-file", str(profile)), "Host key verification failed")


def test_probe_reports_the_board(bench_cli, sshd, tmp_path: Path) -> None:
    result = bench_cli("devices", "--device-file", str(board_profile(tmp_path, sshd)))
    assert result.code == 0, result.stderr
    for fragment in ("yes (ssh bench-remote)", "runtime onnxruntime", "ok (onnxruntime)", "Linux"):
        assert fragment in result.stdout, result.stdout


def test_sampled_board_power_over_ssh_matches_the_simulated_truth(bench_cli, sshd, tiny_files, tmp_path: Path) -> None:
    def measure(attempt: int) -> tuple[dict, SimulatedIna3221]:
        root = tmp_path / f"ina{attempt}"
        with SimulatedIna3221(root, idle_w=2.0, busy_w=10.0, period=0.01) as sim:
            profile = board_profile(tmp_path, sshd, meter="ina3221", rails=["VDD_IN"], root=str(root))
            result = bench_cli(
                "run", "--device-file", str(profile), "-m", str(tiny_files["onnx"]),
                "--min-runs", "20", "--min-time", "2", "--store", str(tmp_path / f"s{attempt}.sqlite"), "--json",
            )  # fmt: skip
        assert result.code == 0, result.stderr
        (row,) = json.loads(result.stdout)
        return row, sim

    row, sim, truth_mj = measured_net_energy(measure, rails=["VDD_IN"])
    energy = row["energy"]
    w0, w1 = energy["window_t"]
    idle_w = sim.net_of(energy)[1]
    # The simulated rail follows the whole host's CPU load, a co-runner's included: on a busy CI runner
    # its idle power read 9.2 W of the 12 W maximum, so the net energy was a small difference of two
    # sampled integrals (21.9 J over the window, 18.5 J of idle) and the meter's sampling error on them
    # (0.24 J, 1.1% of the window's energy) was 7% of the net. So the error is held to 5% of the net
    # energy, or 1.5% of the two integrals it is the difference of, whichever is larger (on a quiet
    # machine, idle near 2 W, the 5% governs).
    error_j = abs(row["energy_mj_per_inference"] - truth_mj) * row["n_samples"] / 1e3
    net_j = truth_mj * row["n_samples"] / 1e3
    integrals_j = sim.energy_j(w0, w1) + idle_w * (w1 - w0)
    assert error_j <= max(0.05 * net_j, 0.015 * integrals_j), (error_j, net_j, integrals_j, energy)


def test_sshd_killed_mid_suite_fails_that_cell_after_one_retry(tiny_files, tmp_path: Path, results_dir) -> None:
    server = SshServer.create(tmp_path / "own-sshd")
    store = tmp_path / "s.sqlite"
    argv = [sys.executable, "-m", "bench.cli", "run", "--device-file", str(board_profile(tmp_path, server)),
            "--store", str(store), "-m", str(tiny_files["onnx"]), "--repeats", "4",
            "--min-runs", "20", "--min-time", "1.0"]  # fmt: skip
    env = {**os.environ, "BENCH_RESULTS": str(results_dir)}
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and count(store) < 1:
        time.sleep(0.2)
    server.kill()
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 1 and "was lost" in err and "Traceback" not in err, err
    with sqlite3.connect(store) as db:
        rows = db.execute("select status, error from measurements order by id").fetchall()
        assert rows[0][0] == "ok"
        assert rows[-1][0] == "failed" and "after a retry" not in rows[-1][1] and "device lost" in rows[-1][1]
        assert db.execute("select status from runs").fetchone()[0] == "device-lost"
    assert "after a retry" in err


def count(store: Path) -> int:
    try:
        with sqlite3.connect(store) as db:
            return db.execute("select count(*) from measurements").fetchone()[0]
    except sqlite3.OperationalError:
        return 0


def test_profile_on_the_board_runs_its_benchmark_tool_over_ssh(bench_cli, sshd, tiny_files, tmp_path: Path) -> None:
    tools = tmp_path / "tools"
    tools.mkdir()
    profile = board_profile(tmp_path, sshd, tools={"benchmark_model": tool_wrapper(tools, "benchmark_model",
                                                                                   "--sim-format=plain")})  # fmt: skip
    result = bench_cli("profile", f"{tiny_files['source']}:tiny", "--device-file", str(profile), "--format", "tflite",
                       "--depth", "2", "--runs", "5", "--json")  # fmt: skip
    assert result.code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["device"] == "loopback-board" and data["fallback"] == []
    assert {"body.0", "body.2"} <= {b["block"] for b in data["blocks"]}  # the older table format, read over ssh
    assert "took 6 of 6 nodes" in data["note"] and "timed on TFLite's builtin kernels" in data["note"]
    assert not list(tmp_path.rglob("pwned"))
