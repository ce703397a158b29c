"""Farm throughput: 4 devices across 2 workers versus 1 device, on the same sleep-dominated jobs.

    .venv/bin/python benchmarks/farm_scaling.py [--jobs 24] [--seconds 0.5]

Starts a real Dask scheduler and two `bench farm worker` processes on loopback (two host-backed
devices each), then runs the same jobs (each sleeps like a phone benchmark waiting on its device)
through `bench.devices.farm.Farm` twice: all on one device, then spread over four. Prints both wall
times and the throughput ratio (goal: at least 3.5x).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]


def device_job(seconds: float) -> float:
    """A benchmark that spends its time waiting on the device."""
    start = time.perf_counter()
    time.sleep(seconds)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=24)
    parser.add_argument("--seconds", type=float, default=0.5)
    args = parser.parse_args()
    from conftest import host_devices
    from services import FarmCluster

    from bench.devices.farm import Farm, Job

    devices = ["farm-a", "farm-b", "farm-c", "farm-d"]
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        env = {**os.environ, "BENCH_DEVICES": str(host_devices(folder / "devices", devices)), "PYTHONPATH": str(ROOT)}
        cluster = FarmCluster(folder, env)
        try:
            cluster.add_worker("lab-1", devices[:2])
            cluster.add_worker("lab-2", devices[2:])
            cluster.wait_for_devices(devices)
            farm = Farm(cluster.address)
            walls = {}
            for label, use in (("1 device", devices[:1]), ("4 devices / 2 workers", devices)):
                jobs = [Job(use[i % len(use)], (args.seconds,)) for i in range(args.jobs)]
                start = time.perf_counter()
                results = list(farm.run(device_job, jobs))
                walls[label] = time.perf_counter() - start
                assert all(reason is None for _, _, reason in results), results
                print(f"{label:24s} {args.jobs} jobs of {args.seconds} s: {walls[label]:6.2f} s", flush=True)
            farm.close()
        finally:
            cluster.stop()
    ratio = walls["1 device"] / walls["4 devices / 2 workers"]
    print(f"throughput ratio: {ratio:.2f}x   (goal >= 3.5x)")


if __name__ == "__main__":
    main()
