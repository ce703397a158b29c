"""The phone-side sampler of a sampled meter (the battery gauge): a real ``sh`` runs it here, with a
slow ``cat`` on PATH so the loop is in the middle of a sample whenever the command ends."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from bench.measure.runners.device_sampler import SAMPLER, parse_samples


def test_every_sample_is_whole_even_when_the_command_ends_mid_sample(tmp_path: Path) -> None:
    slow = tmp_path / "bin"
    slow.mkdir()
    (slow / "cat").write_text('#!/bin/sh\nsleep 0.05\nexec /bin/cat "$@"\n')
    (slow / "cat").chmod(0o755)
    files = {"current_uA": str(tmp_path / "current_now"), "voltage_uV": str(tmp_path / "voltage_now")}
    Path(files["current_uA"]).write_text("-1000000\n")
    Path(files["voltage_uV"]).write_text("3850000\n")
    env = {**os.environ, "PATH": f"{slow}:{os.environ['PATH']}"}
    for k in range(4):
        out = tmp_path / f"samples-{k}.txt"
        argv = ["sh", "-c", SAMPLER, "sh", str(out), "0.01", "2", *files.values(), "sh", "-c", "sleep 0.3; exit 3"]
        done = subprocess.run(argv, env=env, timeout=30)
        assert done.returncode == 3  # the command's own status
        time.sleep(0.2)  # a killed loop's orphaned cat would write here, over the final sample
        text = out.read_text()
        readings = parse_samples(text, files)
        assert len(readings) == text.count("==> t\n") >= 3
        assert all(r["values"] == {"current_uA": "-1000000", "voltage_uV": "3850000"} for r in readings), text
        times = [r["t"] for r in readings]
        assert times == sorted(times)
        assert not Path(f"{out}.stop").exists()


def test_the_sampling_loop_ends_when_its_shell_is_killed(tmp_path: Path) -> None:
    out = tmp_path / "samples.txt"
    value = tmp_path / "voltage_now"
    value.write_text("3850000\n")
    shell = subprocess.Popen(["sh", "-c", SAMPLER, "sh", str(out), "0.01", "1", str(value), "sleep", "30"])
    time.sleep(0.3)
    shell.kill()  # as the link's timeout does
    shell.wait()
    time.sleep(0.3)
    size = out.stat().st_size
    time.sleep(0.3)
    assert out.stat().st_size == size  # nothing samples any more
