"""Shared fixtures: run the real ``bench`` CLI in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
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


TINY = textwrap.dedent(
    """
    import torch.nn as nn


    class Tiny(nn.Module):
        def __init__(self, width=16):
            super().__init__()
            conv = nn.Conv2d(width, width, 3, padding=1)
            self.body = nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), conv)
            self.fc = nn.Linear(width, 10)

        def forward(self, x):
            return self.fc(self.body(x).mean((2, 3)))


    def tiny():
        return Tiny()
    """
)


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory) -> dict[str, Path]:
    """A small real model exported to .onnx and .tflite by our own pipeline (and its source file)."""
    from export.pipeline import export_model
    from export.source import resolve

    home = tmp_path_factory.mktemp("tiny")
    (home / "tiny.py").write_text(TINY)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BENCH_RESULTS", str(home / "results"))
        spec = resolve(f"{home / 'tiny.py'}:tiny", input_shape=(1, 3, 64, 64))
        files = {}
        for fmt in ("onnx", "tflite"):
            artifact = export_model(spec, fmt, "fp32", out_dir=home / "out")
            assert artifact.verified, artifact
            files[fmt] = Path(artifact.path)
    files["source"] = home / "tiny.py"
    return files


@pytest.fixture
def hide_module(tmp_path: Path, monkeypatch):
    """Make an installed package look uninstalled to the bench subprocesses of this test."""

    def hide(name: str) -> None:
        folder = tmp_path / f"hide-{name}"
        folder.mkdir()
        (folder / "sitecustomize.py").write_text(
            textwrap.dedent(
                f"""
            import sys

            class Hide:
                def find_spec(self, name, path=None, target=None):
                    if name.split(".")[0] == {name!r}:
                        raise ModuleNotFoundError(name)
                    return None

            sys.meta_path.insert(0, Hide())
            """
            )
        )
        monkeypatch.setenv("PYTHONPATH", str(folder))

    return hide
