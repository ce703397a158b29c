"""Is contention flagged? One model measured quietly, then with a CPU-bound co-runner on the measured
CPU and on the other CPU at several duty cycles; prints, side by side, each median, what the agent
saw (others' share of the measured CPU) and whether the run was flagged.

Goal (#20): every run in which the co-runner took at least 20% of the measured CPU is flagged, and no
quiet run is. Run: ``.venv/bin/python benchmarks/contention.py [--model mobilenetv2_100]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# duty cycle: busy for duty x 100 ms in every 100 ms, until killed
HOG = (
    "import time\nwhile True:\n    t = time.time()\n    while time.time() - t < {busy}:\n        pass\n"
    "    time.sleep({idle})\n"
)


def co_runner(cpu: int, duty: float) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-c", HOG.format(busy=0.1 * duty, idle=0.1 * (1 - duty))])
    os.sched_setaffinity(proc.pid, [cpu])
    return proc


def measure(model: str, store: Path) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "bench.cli", "run", "-m", model, "--format", "onnx", "--json", "--on-contention",
         "warn", "--min-runs", "50", "--min-time", "3", "--store", str(store)],
        capture_output=True, text=True, cwd=ROOT,
    )  # fmt: skip
    (row,) = json.loads(done.stdout)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="mobilenetv2_100")
    parser.add_argument("--quiet-runs", type=int, default=3)
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    measured, other = cpus[-1], cpus[0]  # the agent runs on the last CPU (one thread)
    plan = [("quiet", None, 0.0)] * args.quiet_runs
    plan += [(f"measured CPU {int(d * 100)}%", measured, d) for d in (0.1, 0.3, 0.6, 1.0)]
    plan += [(f"other CPU {int(d * 100)}%", other, d) for d in (0.5, 1.0)]
    print(f"{'condition':<20} {'median ms':>10} {'others':>8} {'flagged':>8}")
    misses, false_flags = 0, 0
    with tempfile.TemporaryDirectory() as folder:
        for k, (label, cpu, duty) in enumerate(plan):
            hog = co_runner(cpu, duty) if cpu is not None else None
            try:
                time.sleep(0.5)
                row = measure(args.model, Path(folder) / f"s{k}.sqlite")
            finally:
                if hog:
                    hog.kill()
            seen = row.get("contention") or {}
            share, flagged = seen.get("others_share", float("nan")), bool(seen.get("contended"))
            print(f"{label:<20} {row['median_ms']:>10.3f} {share:>8.0%} {'yes' if flagged else 'no':>8}")
            misses += cpu == measured and duty >= 0.2 and not flagged
            false_flags += cpu is None and flagged
    print(f"co-runner >= 20% on the measured CPU and not flagged: {misses}; quiet runs flagged: {false_flags}")


if __name__ == "__main__":
    main()
