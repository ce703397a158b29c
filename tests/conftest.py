"""Shared fixtures: run the real ``bench`` CLI in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    path = tmp_path / "results"
    path.mkdir()
    return path


@pytest.fixture
def bench_cli(results_dir: Path):
    """Run ``bench ARGS...`` in a fresh process with its own results folder."""

    def run(*args: str, timeout: float = 600) -> CliResult:
        env = {**os.environ, "BENCH_RESULTS": str(results_dir), "PYTHONWARNINGS": "ignore"}
        proc = subprocess.run(
            [sys.executable, "-m", "bench.cli", *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=timeout,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return run


def assert_one_line_error(result: CliResult, *fragments: str) -> None:
    """Exit 2, a single non-empty stderr line, no traceback, and the expected words in it."""
    assert result.code == 2, (result.code, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
