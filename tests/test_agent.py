"""The self-contained agent's measurement loop: stop policies, sustained chunks, and clean-up of
the energy sampler when a timed run fails (no thread or meter process outlives the window)."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import pytest

from bench.measure import agent

PLUGIN = """
NAME = "scripted"


def open_session(artifact, threads, options):
    calls = {"n": 0}
    fail_after = options.get("fail_after")

    def run(x):
        calls["n"] += 1
        if fail_after is not None and calls["n"] > fail_after:
            raise RuntimeError("the device fell over")
        return x

    return run, {"scripted": "1"}
"""


@pytest.fixture
def job(tmp_path: Path) -> dict:
    """A job for a scripted runtime plug-in (no model): fast, and it fails where it is told to."""
    plugin = tmp_path / "scripted.py"
    plugin.write_text(PLUGIN)
    return {
        "runtime": "scripted",
        "runtime_file": str(plugin),
        "artifact": "",
        "threads": 1,
        "input_shape": [1, 4],
        "warmup": 2,
        "min_runs": 20,
        "min_time": 0.0,
        "max_runs": 10_000,
        "max_time": 60.0,
        "ci_target": None,
        "idle_max": 0.05,
        "options": {},
    }


def events_of(text: str) -> dict[str, list[dict]]:
    events: dict[str, list[dict]] = {}
    for line in text.splitlines():
        event = json.loads(line)
        events.setdefault(event["event"], []).append(event)
    return events


def live_children() -> list[int]:
    """Child processes of this one that are still running (not zombies)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            children.append(int(stat.parent.name))
    return children


def test_protocol_stop_needs_both_minimums_and_caps_at_either_maximum() -> None:
    stop = agent.protocol_stop(min_runs=10, min_time=1.0, max_runs=100, max_time=60.0)
    assert not stop([1.0] * 9, 5.0)  # enough time, too few runs
    assert not stop([1.0] * 50, 0.5)  # enough runs, too little time
    assert stop([1.0] * 10, 1.0)
    assert stop([1.0] * 100, 0.1)  # max_runs
    assert stop([1.0] * 3, 60.0)  # max_time


def test_ci_target_stops_once_the_median_is_tight_checked_every_ten_runs() -> None:
    stop = agent.protocol_stop(min_runs=1000, min_time=100.0, max_runs=10_000, max_time=600.0, ci_target=0.01)
    assert stop([1.0] * 20, 0.1)
    assert not stop([1.0] * 21, 0.1)  # only every 10 runs
    assert not stop([1.0, 2.0] * 10, 0.1)  # a wide interval


def test_the_stop_policy_is_passed_in(job: dict, capsys) -> None:
    agent.measure(job, stop=lambda samples, elapsed: len(samples) >= 7)
    events = events_of(capsys.readouterr().out)
    assert "error" not in events, events.get("error")
    assert events["window"][0]["n"] == 7 and len(events["samples"][0]["ms"]) == 7


def test_sustained_chunks_cover_every_sample(job: dict, capsys) -> None:
    # 0.5 s in chunks of 0.05 s: at least two chunks unless one stall of this machine takes 0.45 s
    agent.measure({**job, "sustained_s": 0.5, "chunk_s": 0.05, "thermal_root": "/nonexistent"})
    events = events_of(capsys.readouterr().out)
    chunks, samples = events["chunk"], events["samples"][0]["ms"]
    assert len(chunks) >= 2 and sum(c["n"] for c in chunks) == len(samples)
    assert chunks[-1]["t"] >= 0.5 and all(c["temp_c"] is None for c in chunks)


@pytest.mark.parametrize("kind", ["polled", "streamed"])
def test_a_failing_timed_run_leaves_no_sampler_running(job: dict, tmp_path: Path, capsys, kind: str) -> None:
    counter = tmp_path / "energy_uj"
    counter.write_text("1000\n")
    if kind == "polled":
        spec = {"files": {"package": str(counter)}, "period_s": 0.005}
    else:
        printer = "import time\nwhile True:\n    print('1 mW', flush=True)\n    time.sleep(0.005)"
        spec = {"stream": [sys.executable, "-c", printer]}
    threads_before, children_before = set(threading.enumerate()), set(live_children())
    # first inference + 2 warm-up runs + 3 timed runs succeed, then the runtime fails mid-window
    agent.measure({**job, "options": {"fail_after": 6}, "energy": spec})
    events = events_of(capsys.readouterr().out)
    assert events["error"][0]["stage"] == "timed runs" and "fell over" in events["error"][0]["message"]
    assert "window" not in events and "done" not in events
    assert set(threading.enumerate()) == threads_before
    assert set(live_children()) == children_before
