"""The device farm: a real Dask scheduler and two real worker processes on loopback, results in a
real PostgreSQL server (tests/services.py)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import ROOT, assert_one_line_error, host_devices
from services import FarmCluster, free_port

pytestmark = pytest.mark.slow
DEVICES = ["bench-a", "bench-b", "bench-c", "bench-d"]


@pytest.fixture
def cluster(tmp_path: Path, results_dir: Path):
    env = {**os.environ, "BENCH_DEVICES": str(host_devices(tmp_path / "devices", DEVICES)),
           "BENCH_RESULTS": str(tmp_path / "worker-results"), "PYTHONPATH": str(ROOT)}  # fmt: skip
    farm = FarmCluster(tmp_path, env)
    farm.add_worker("lab-1", DEVICES[:2])
    farm.add_worker("lab-2", DEVICES[2:])
    farm.wait_for_devices(DEVICES)
    yield farm
    farm.stop()


@pytest.fixture
def pg_store(postgres):
    """A fresh schema-less database state for each test: drop what the last test stored."""
    engine = sa.create_engine(postgres.url)
    with engine.begin() as conn:
        for table in ("samples", "measurements", "runs", "schema_info"):
            conn.execute(sa.text(f"DROP TABLE IF EXISTS {table} CASCADE"))
    engine.dispose()
    return postgres.url


def stored(url: str) -> list[dict]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sa.text("SELECT * FROM measurements ORDER BY id")).mappings()]
    engine.dispose()
    return rows


def farm_run(cluster, store: str, *args: str) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "bench.cli", "run", "--farm", cluster.address, "--store", store, *args]
    for device in DEVICES:
        argv += ["--device", device]
    env = {**os.environ, "BENCH_RESULTS": str(cluster.folder / "client-results")}
    return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_every_cell_runs_once_and_no_device_runs_two_at_a_time(cluster, pg_store, tiny_files) -> None:
    proc = farm_run(cluster, pg_store, "-m", str(tiny_files["onnx"]), "-m", str(tiny_files["tflite"]),
                    "--repeats", "2", "--warmup", "1", "--min-runs", "10", "--min-time", "0.5")  # fmt: skip
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, out + err
    rows = stored(pg_store)
    keys = [(r["device"], r["model"], r["format"], r["repeat"]) for r in rows]
    assert len(keys) == len(set(keys)) == 4 * 2 * 2  # devices x models x repeats, each exactly once
    assert all(r["status"] == "ok" for r in rows)
    for device in DEVICES:
        spans = sorted((r["started_at"], r["ended_at"]) for r in rows if r["device"] == device)
        assert all(end <= start for (_, end), (start, _) in zip(spans, spans[1:], strict=False)), spans
    workers = {r["device"]: json.loads(r["settings"])["worker"] if isinstance(r["settings"], str)
               else r["settings"]["worker"] for r in rows}  # fmt: skip
    assert set(workers) == set(DEVICES)
    all_spans = sorted((r["started_at"], r["ended_at"]) for r in rows)
    assert any(b0 < a1 for (_, a1), (b0, _) in zip(all_spans, all_spans[1:], strict=False))  # in parallel
    shipped = list((cluster.folder / "worker-results/farm-cache").glob("*/*"))
    assert sorted(p.name for p in shipped) == sorted([tiny_files["onnx"].name, tiny_files["tflite"].name])
    assert "per device" in out and "bench-d" in out


def long_run_until_stored(cluster, pg_store: str, tiny_files, devices: list[str]) -> subprocess.Popen:
    """Start a farm run of 6 repeats on every device; return once one of ``devices`` stored an ok cell."""
    proc = farm_run(cluster, pg_store, "-m", str(tiny_files["onnx"]), "--repeats", "6", "--warmup", "1",
                    "--min-runs", "10", "--min-time", "1.0")  # fmt: skip
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        try:
            if any(r["device"] in devices and r["status"] == "ok" for r in stored(pg_store)):
                break
        except sa.exc.ProgrammingError:
            pass  # tables not created yet
        time.sleep(0.3)
    return proc


def test_a_killed_worker_loses_nothing_finished_and_fails_its_devices_cells(cluster, pg_store, tiny_files) -> None:
    proc = long_run_until_stored(cluster, pg_store, tiny_files, DEVICES[2:])
    cluster.kill("lab-2")
    out, err = proc.communicate(timeout=600)
    assert proc.returncode == 1, err
    rows = stored(pg_store)
    keys = [(r["device"], r["repeat"]) for r in rows]
    assert len(keys) == len(set(keys)) == 4 * 6  # everything accounted for, nothing twice
    survivors = [r for r in rows if r["device"] in DEVICES[:2]]
    assert all(r["status"] == "ok" for r in survivors)
    lost = [r for r in rows if r["device"] in DEVICES[2:]]
    assert any(r["status"] == "ok" for r in lost)  # finished before the kill: kept
    failed = [r for r in lost if r["status"] == "failed"]
    assert failed and all("was lost" in r["error"] for r in failed), [r["error"] for r in failed]

    cluster.add_worker("lab-2", DEVICES[2:])  # the host is back: resume its devices' runs through the farm
    cluster.wait_for_devices(DEVICES[2:])
    argv = [sys.executable, "-m", "bench.cli", "run", "--farm", cluster.address, "--store", pg_store, "--resume",
            "--device", DEVICES[2], "--device", DEVICES[3]]  # fmt: skip
    env = {**os.environ, "BENCH_RESULTS": str(cluster.folder / "client-results")}
    resumed = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr
    after = stored(pg_store)
    measured = {(r["device"], r["repeat"]) for r in after if r["status"] == "ok"}
    assert measured == {(d, i) for d in DEVICES for i in range(6)}
    assert len(after) == len(rows) + len(failed)  # only what was missing was measured, into the same runs
    assert {r["run_id"] for r in after} == {r["run_id"] for r in rows}


def test_a_lost_scheduler_ends_in_stored_failed_cells_and_finished_runs(cluster, pg_store, tiny_files) -> None:
    proc = long_run_until_stored(cluster, pg_store, tiny_files, DEVICES)
    cluster.kill("scheduler")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 1, err
    assert "Traceback" not in err, err
    rows = stored(pg_store)
    keys = [(r["device"], r["repeat"]) for r in rows]
    assert len(keys) == len(set(keys)) == 4 * 6  # every cell stored once: measured, or failed with the reason
    failed = [r for r in rows if r["status"] == "failed"]
    assert failed and all("scheduler" in r["error"] for r in failed), [r["error"] for r in failed]
    engine = sa.create_engine(pg_store)
    with engine.connect() as conn:
        statuses = [row[0] for row in conn.execute(sa.text("SELECT status FROM runs"))]
    engine.dispose()
    assert len(statuses) == 4 and "running" not in statuses, statuses


def test_a_result_lost_with_its_worker_before_it_was_fetched_is_failed_not_waited_for(cluster) -> None:
    from distributed import wait

    from bench.devices.farm import Farm, resource

    farm = Farm(cluster.address)
    try:
        future = farm.client.submit(os.getpid, resources={resource("bench-c"): 1}, pure=False)
        wait([future], timeout=60)
        assert future.status == "finished"
        cluster.kill("lab-2")  # the result lived only on lab-2; Dask would wait to recompute it
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            farm._fetch(future, "bench-c")
        assert time.monotonic() - started < 30
    finally:
        farm.close()


def test_bad_farm_input_is_one_line(bench_cli, cluster, tmp_path: Path) -> None:
    store = str(tmp_path / "s.sqlite")
    closed = f"tcp://127.0.0.1:{free_port()}"
    assert_one_line_error(bench_cli("run", "--farm", closed, "--device", "x", "-m", "a.onnx", "--store", store),
                          "cannot reach the Dask scheduler")  # fmt: skip
    assert_one_line_error(
        bench_cli("run", "--farm", cluster.address, "--device", "nokia", "-m", "a.onnx", "--store", store),
        "no farm worker offers device nokia", "bench-a",
    )  # fmt: skip
    assert_one_line_error(bench_cli("farm", "worker", "--scheduler", cluster.address, "--device", "nokia"),
                          "unknown device 'nokia'")  # fmt: skip
    assert_one_line_error(bench_cli("farm", "worker", "--scheduler", closed, "--device", "host"),
                          "cannot reach the Dask scheduler")  # fmt: skip
    bad_url = f"postgresql://bench:hunter2@127.0.0.1:{free_port()}/none"
    refused = bench_cli("results", "--store", bad_url)
    assert_one_line_error(refused, "cannot open store", "postgresql://bench:***@127.0.0.1")
    assert "hunter2" not in refused.stderr + refused.stdout  # a store URL's password is never echoed
    bad_scheme = bench_cli("results", "--store", "nosuchdb://bench:hunter2@x/y")
    assert_one_line_error(bad_scheme, "bad store URL", "nosuchdb://bench:***@x/y")
    assert "hunter2" not in bad_scheme.stderr


def test_postgresql_store_round_trips_and_reports_read_it(bench_cli, pg_store, tiny_files, tmp_path: Path) -> None:
    result = bench_cli("run", "-m", str(tiny_files["onnx"]), "--min-runs", "10", "--min-time", "0.1",
                       "--store", pg_store, "--json")  # fmt: skip
    assert result.code == 0, result.stderr
    (row,) = json.loads(result.stdout)
    assert row["status"] == "ok" and len(row["samples_ms"]) == row["n_samples"]
    config = tmp_path / "config.toml"
    config.write_text(f'store = "{pg_store}"\n')
    env = {**os.environ, "BENCH_CONFIG": str(config)}
    argv = [sys.executable, "-m", "bench.cli", "results", "--format", "json"]
    env_run = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True)
    assert json.loads(env_run.stdout)[0]["median_ms"] == row["median_ms"]


def test_devices_on_one_worker_caching_the_same_artifact_at_once_all_get_the_whole_file(tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    from bench.devices.farm import cache_artifact

    data = os.urandom(8 << 20)  # large enough that the writes overlap
    artifact = {"name": "m.tflite", "sha256": "ab" * 32, "input_shape": [1, 3, 8, 8], "data": data}
    with ThreadPoolExecutor(8) as pool:
        paths = list(pool.map(lambda _: cache_artifact(artifact, tmp_path), range(32)))
    assert len(set(paths)) == 1 and paths[0].read_bytes() == data
    assert [p.name for p in paths[0].parent.iterdir()] == ["m.tflite"]  # no temporary file left
