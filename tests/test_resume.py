"""Resuming a run: one process at a time (a lease in the store), with the run's own recorded settings."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, assert_one_line_error

from bench.measure.measurement import Cell, Measurement
from bench.results.lease import RunLease, this_holder
from bench.results.store import SCHEMA_VERSION, Store

SETTINGS = ["--warmup", "1", "--min-runs", "5", "--min-time", "0.8"]


def bench(store: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "bench.cli", "run", "--store", str(store), *args]


def env_for(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "BENCH_RESULTS": str(tmp_path / "r"), "PYTHONWARNINGS": "ignore"}


def killed_run(store: Path, tmp_path: Path, model: Path, *args: str) -> list[dict]:
    """Start ``bench run`` on ``model`` (4 cells), SIGKILL it once one cell is stored; its stored rows."""
    cmd = bench(store, "-m", str(model), "--threads", "1,2", "--repeats", "2", *args)
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env_for(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (store.exists() and Store(str(store)).measurement_rows()):
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.1)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stderr.close()
    kept = Store(str(store)).measurement_rows()
    assert 1 <= len(kept) < 4
    (run,) = Store(str(store)).list_runs()
    assert run["status"] == "running" and run["lease_holder"] == f"{this_holder().rsplit(':', 1)[0]}:{proc.pid}"
    return kept


@pytest.mark.slow
def test_two_concurrent_resumes_measure_each_cell_once(tiny_files, tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    kept = killed_run(store, tmp_path, tiny_files["onnx"], *SETTINGS)  # its holder is dead: free to take over
    procs = [
        subprocess.Popen(
            bench(store, "--resume"), cwd=ROOT, env=env_for(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(2)
    ]
    outcomes = {}
    for proc in procs:
        _, err = proc.communicate(timeout=300)
        outcomes[proc.returncode] = (proc.pid, err.decode())
    assert sorted(outcomes) == [0, 2], outcomes
    winner, (_, loser_err) = outcomes[0][0], outcomes[2]
    lines = loser_err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in loser_err
    assert "is being measured by" in lines[0] and f":{winner}" in lines[0]  # names the holder

    rows = Store(str(store)).measurement_rows()
    assert len(rows) == 4 and all(r["status"] == "ok" for r in rows)
    assert rows[: len(kept)] == kept
    assert sorted((r["threads"], r["repeat"]) for r in rows) == [(1, 0), (1, 1), (2, 0), (2, 1)]
    (run,) = Store(str(store)).list_runs()
    assert run["status"] == "finished" and run["lease_holder"] is None and run["lease_heartbeat"] is None


@pytest.mark.slow
def test_resume_measures_with_the_runs_recorded_settings(tiny_files, tmp_path: Path) -> None:
    store = tmp_path / "s.sqlite"
    kept = killed_run(store, tmp_path, tiny_files["onnx"], *SETTINGS, "--option", "graph_optimization=basic")
    env = env_for(tmp_path)

    def resume(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(bench(store, "--resume", *args), cwd=ROOT, env=env, capture_output=True, text=True)

    for conflicting, fragment in [
        (["--min-time", "0.1"], "--min-time 0.1 conflicts with the recorded 0.8"),
        (["--threads", "4"], "--threads 4 conflicts with the recorded 1,2"),
        (["--option", "graph_optimization=all"], "graph_optimization=basic"),
    ]:
        result = resume(*conflicting)
        assert_one_line_error(_cli(result), fragment, "drop the option")
        assert Store(str(store)).measurement_rows() == kept  # nothing measured
    done = resume("--min-time", "0.8", "--warmup", "1")  # options that agree with the record are fine
    assert done.returncode == 0, done.stderr
    rows = Store(str(store)).measurement_rows()
    assert len(rows) == 4 and rows[: len(kept)] == kept
    for row in rows:  # every cell measured with the first command line's settings
        settings = row["settings"]
        assert (settings["warmup"], settings["min_runs"], settings["min_time"]) == (1, 5, 0.8)
        assert settings["options"]["graph_optimization"] == "basic"


def _cli(proc: subprocess.CompletedProcess):
    from conftest import CliResult

    return CliResult(proc.returncode, proc.stdout, proc.stderr)


def test_a_live_holder_keeps_its_run_and_a_stale_one_loses_it(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "s.sqlite"))
    run_id = store.start_run("host", {}, [], holder="elsewhere:1")
    with pytest.raises(Exception, match="is being measured by elsewhere:1"):
        RunLease(store, run_id, "me:2").take()
    assert store.lease_of(run_id)["lease_holder"] == "elsewhere:1"
    stale = RunLease(store, run_id, "me:2", stale_after_s=0.0)
    time.sleep(0.01)
    stale.take()  # elsewhere:1 said nothing for longer than the stale time
    with stale:
        assert store.lease_of(run_id)["lease_holder"] == "me:2"
    assert store.lease_of(run_id) == {"status": "running", "lease_holder": None, "lease_heartbeat": None}
    store.finish_run(run_id, "finished")
    with pytest.raises(Exception, match="has finished meanwhile"):
        RunLease(store, run_id, "me:2").take()


@pytest.mark.parametrize("beat", ["abc", 1e5], ids=["not-a-number", "a-day-ahead"])
def test_a_heartbeat_that_proves_nothing_does_not_lock_the_run(tmp_path: Path, beat) -> None:
    path = tmp_path / "s.sqlite"
    store = Store(str(path))
    run_id = store.start_run("host", {}, [], holder="otherhost:1")
    with sqlite3.connect(path) as db:
        value = beat if isinstance(beat, str) else time.time() + beat  # a skewed clock writes the future
        db.execute("update runs set lease_heartbeat = ? where run_id = ?", (value, run_id))
    lease = RunLease(store, run_id, "me:2")
    lease.take()
    with lease:
        assert store.lease_of(run_id)["lease_holder"] == "me:2"


def until(condition, timeout_s: float = 30.0) -> bool:
    """Poll ``condition`` every 10 ms until it holds (True) or ``timeout_s`` passes (False): a
    heartbeat thread on a busy machine may take far longer than its period."""
    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.01)
    return True


def test_heartbeats_keep_the_lease_and_a_takeover_is_noticed(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "s.sqlite"))
    run_id = store.start_run("host", {}, [], holder="me:1")
    first = store.lease_of(run_id)["lease_heartbeat"]
    with RunLease(store, run_id, "me:1", heartbeat_s=0.05) as lease:
        assert until(lambda: store.lease_of(run_id)["lease_heartbeat"] > first) and lease.lost is None
        RunLease(store, run_id, "other:2", stale_after_s=0.0).take()
        assert until(lambda: lease.lost is not None) and lease.lost == "other:2"
    assert store.lease_of(run_id)["lease_holder"] == "other:2"  # the loser does not release it


def test_a_version_2_store_gains_every_later_column_and_table_and_its_cells_ran_on_the_cpu(tmp_path: Path) -> None:
    path = tmp_path / "v2.sqlite"
    store = Store(str(path))
    run_id = store.start_run("host", {"git_commit": "abc"}, [{"model": "m"}], "run -m m")
    cell = Cell("m", "onnx", "fp32", "onnxruntime", 1, device="host")
    store.add_measurement(Measurement(cell, "ok", samples_ms=(1.0, 2.0, 3.0), run_id=run_id))
    with sqlite3.connect(path) as db:  # make it a version-2 store
        for column in ("settings", "lease_holder", "lease_heartbeat"):
            db.execute(f"alter table runs drop column {column}")
        db.execute("drop table accuracy")
        for column in ("p95_ms", "accelerator", "coverage", "contention", "kind"):
            db.execute(f"alter table measurements drop column {column}")
        db.execute("update schema_info set value = '2'")
    upgraded = Store(str(path))
    (run,) = upgraded.list_runs()
    assert run["run_id"] == run_id and run["plan"] == [{"model": "m"}] and run["argv"] == "run -m m"
    assert run["settings"] is None and run["lease_holder"] is None
    (row,) = upgraded.measurement_rows(run_id)
    assert row["accelerator"] == "cpu" and row["coverage"] is None and row["median_ms"] == 2.0
    assert row["kind"] == "measured"  # every row before #22 measured a model
    assert upgraded.done_cells(run_id) == {cell}
    with sqlite3.connect(path) as db:
        assert db.execute("select value from schema_info").fetchone()[0] == str(SCHEMA_VERSION) == "7"
        assert db.execute("select count(*) from accuracy").fetchone()[0] == 0
        columns = {column[1] for column in db.execute("pragma table_info(measurements)")}
        assert {"p95_ms", "accelerator", "coverage", "contention", "kind"} <= columns
