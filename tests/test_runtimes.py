"""Runtime plug-ins: each registered runtime is one self-contained module the agent loads by path,
and a runtime registered in one place (the registry) reaches planning, devices and profiling."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import ROOT, TINY
from typer.testing import CliRunner

from bench.cli import app
from bench.devices.config import get_device
from bench.measure import agent
from bench.measure.harness import plan_cells
from bench.measure.runners.native_tools import local_tool, tool_command
from bench.profiling.profile import runtime_for
from bench.runtimes.base import DEFAULT_RUNTIME, RUNTIMES, get_runtime, parse_options, register, unregister

FAKE = textwrap.dedent(
    '''
    """A fake runtime plug-in: runs the identity, profiles one block."""

    NAME = "fake"
    FORMAT = "fakefmt"
    MODULES = ("json",)
    EXTRA = "fake"
    DISTRIBUTIONS = ()
    NEEDS_OS = None
    NATIVE_TOOL = "fake_benchmark"
    OPTIONS = {"turbo": False}
    CHOICES = {"turbo": ("true", "false")}


    def open_session(artifact, threads, options):
        return (lambda x: x), {"fake": "1.0"}


    def tool_argv(run):
        return [run.tool, run.graph, f"--threads={run.threads}", f"--runs={run.runs}",
                f"--turbo={run.options['turbo']}", *run.extra]


    def profile(spec, model, tree, threads, runs, precision, device=None):
        from bench.profiling.blocks import TOP_LEVEL
        from bench.profiling.runtimes import RuntimeProfile

        return RuntimeProfile(2.0, {TOP_LEVEL: 2.0}, note="fake profiler")
    '''
)

LOAD_STANDALONE = textwrap.dedent(
    """
    import json, sys
    sys.path.insert(0, sys.argv[1])  # the agent's folder only, as on a board
    import agent
    out = {}
    for name, path in json.loads(sys.argv[2]).items():
        module = agent.load_runtime(path, name)
        out[name] = [module.NAME, module.FORMAT, callable(module.open_session)]
    out["bench imported"] = any(m == "bench" or m.startswith("bench.") for m in sys.modules)
    print(json.dumps(out))
    """
)


@pytest.mark.parametrize("python", [sys.executable, str(ROOT / ".venv-board/bin/python")], ids=["host", "board"])
def test_the_agent_loads_every_registered_runtime_from_its_file_alone(python: str, tmp_path: Path) -> None:
    """The agent's runtimes are the registry's: each plug-in file loads without the rest of bench."""
    if not Path(python).exists():
        pytest.skip("no .venv-board (scripts/board-env.sh)")
    files = {name: str(r.file) for name, r in RUNTIMES.items()}
    done = subprocess.run(
        [python, "-I", "-c", LOAD_STANDALONE, str(Path(agent.__file__).parent), json.dumps(files)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    loaded = json.loads(done.stdout)
    assert loaded.pop("bench imported") is False
    assert loaded == {name: [name, r.format, True] for name, r in RUNTIMES.items()}


def test_the_registry_holds_the_shipped_runtimes_with_their_formats_and_tools() -> None:
    assert {n: (r.format, r.native_tool, r.profiles) for n, r in RUNTIMES.items()} == {
        "onnxruntime": ("onnx", "onnxruntime_perf_test", True),
        "litert": ("tflite", "benchmark_model", True),
        "torch": ("pytorch", None, True),
        "coreml": ("coreml", None, False),
    }
    assert DEFAULT_RUNTIME == {"onnx": "onnxruntime", "tflite": "litert", "pytorch": "torch", "coreml": "coreml"}


@pytest.fixture
def fake_runtime(tmp_path: Path):
    """The fake plug-in registered (the one place a runtime is added), removed afterwards."""
    path = tmp_path / "fake.py"
    path.write_text(FAKE)
    yield register(agent.load_runtime(str(path), "fake"))
    unregister("fake")
    assert "fake" not in RUNTIMES and "fakefmt" not in DEFAULT_RUNTIME


def fake_device(folder: Path) -> Path:
    tool = folder / "fake_benchmark"
    tool.write_text("#!/bin/sh\n")
    profile = folder / "devices" / "fakebox.toml"
    profile.parent.mkdir(exist_ok=True)
    profile.write_text(
        'name = "fakebox"\ntransport = "local"\n[cpu]\nthreads = [1]\n'
        f'[runtimes]\navailable = ["fake"]\nfake_benchmark = "{tool}"\n[energy]\nmeter = "none"\n'
    )
    return profile


def test_a_runtime_registered_in_one_place_is_planned_with_its_options_and_tool(fake_runtime, tmp_path: Path) -> None:
    cells = plan_cells(["edgevit_xxs"], ["onnx", "fakefmt"], ["fp32"], None, [1])
    assert [(c.format, c.runtime) for c in cells] == [("onnx", "onnxruntime"), ("fakefmt", "fake")]
    device = get_device(device_file=str(fake_device(tmp_path)))  # its tool is a key the profile accepts
    assert device.runtimes == ("fake",)
    cells = plan_cells(["edgevit_xxs"], ["onnx", "fakefmt"], ["fp32"], None, [1], device=device)
    assert [(c.format, c.runtime) for c in cells] == [("fakefmt", "fake")]
    assert get_runtime("fake").with_options(parse_options(["turbo=true"])) == {"turbo": True}
    assert local_tool(device, "fake") == tmp_path / "fake_benchmark"
    argv = tool_command("fake", "/t/fake_benchmark", "/t/m.fake", 2, runs=5, seconds=1, max_secs=9, warmup=1)
    assert argv[4:] == ["/t/fake_benchmark", "/t/m.fake", "--threads=2", "--runs=5", "--turbo=False"]


def test_a_runtime_registered_in_one_place_shows_in_bench_devices(fake_runtime, tmp_path: Path) -> None:
    profile = fake_device(tmp_path)
    env = {"BENCH_DEVICES": str(profile.parent), "COLUMNS": "250"}
    listed = CliRunner().invoke(app, ["devices"], env=env)
    assert listed.exit_code == 0, listed.output
    cells = [[cell.strip() for cell in line.split("│")] for line in listed.output.splitlines()]
    (row,) = ["│".join(c) for c in cells if len(c) > 2 and c[1] == "fakebox"]  # its path may fold onto more lines
    assert "fake" in [cell.strip() for cell in row.split("│")]  # the runtimes column
    probed = CliRunner().invoke(app, ["devices", "--device-file", str(profile)], env=env)
    assert probed.exit_code == 0, probed.output
    assert any("runtime fake" in line and "ok (json)" in line for line in probed.output.splitlines()), probed.output


def test_a_runtime_registered_in_one_place_is_offered_by_bench_profile(fake_runtime, tmp_path: Path) -> None:
    assert runtime_for("fakefmt", None) == "fake" and runtime_for(None, "fake") == "fake"
    source = tmp_path / "tiny.py"
    source.write_text(TINY)
    result = CliRunner().invoke(app, ["profile", f"{source}:tiny", "--runtime", "fake", "--json", "--no-save"])
    assert result.exit_code == 0, result.output
    profile = json.loads(result.output)
    assert (profile["runtime"], profile["format"], profile["total_ms"]) == ("fake", "fakefmt", 2.0)
    assert profile["note"] == "fake profiler" and [b["ms"] for b in profile["blocks"]] == [2.0]
