"""Shared fixtures: run the real ``bench`` CLI as a user would (a process, or its entry point in this one)."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
MACHINE_CPUS = sorted(os.sched_getaffinity(0))  # the CPUs this test run may use


def pytest_configure(config) -> None:
    """Under pytest-xdist, each worker's math libraries (torch's OpenMP pool, BLAS) and the ``bench``
    processes it starts get the worker's share of the cores, unless the variables are set: two
    workers each running two spinning threads on two cores spent their waits taking the other's
    CPU. A cell's own ``--threads`` is set by the runtimes and does not depend on these.

    Every worker keeps all CPUs: giving each its own (tried) put an emulated phone's device-side
    sampler on the one CPU its benchmark tool was busy on, which no phone does."""
    workers = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT") or 0)
    if workers > 1:
        share = str(max(1, len(MACHINE_CPUS) // workers))
        for name in THREAD_VARIABLES:
            os.environ.setdefault(name, share)


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def cpu_time_s() -> tuple[float, float]:
    """(seconds run, seconds waited runnable for a CPU) of the calling thread so far, from Linux's
    schedstat; where that is missing (no /proc), its CPU time and no wait."""
    import threading
    import time

    try:
        run, wait, _ = Path(f"/proc/self/task/{threading.get_native_id()}/schedstat").read_text().split()
    except OSError:
        return time.thread_time(), 0.0
    return int(run) / 1e9, int(wait) / 1e9


@pytest.fixture(scope="session")
def zoo_artifacts(tmp_path_factory) -> Path:
    """The session's one export cache for zoo models (``<model>/<format>-<precision>-<key>/``).

    Every results folder the tests make links its ``artifacts/<zoo model>`` here (see
    ``share_zoo_artifacts``), so each zoo model x format x precision is exported once per test
    session, by whichever test asks first, as a user's own cache would serve it; so is the
    session's tiny model (``tiny_files``, exported by several commands at its default shape).
    Artifacts of other user models (``file.py:factory``) stay in each folder's own cache, so the
    tests of cache misses and ``"cached": false`` still start cold. ``$BENCH_TEST_ARTIFACTS``
    names a folder to keep this cache in across sessions (the keys hash code, weights, settings
    and converter versions, so a stale entry is never served); by default it lives for one session."""
    kept = os.environ.get("BENCH_TEST_ARTIFACTS")
    if kept:
        Path(kept).mkdir(parents=True, exist_ok=True)
        return Path(kept)
    if os.environ.get("PYTEST_XDIST_WORKER"):  # pytest -n: every worker's base folder sits in one run folder
        shared = tmp_path_factory.getbasetemp().parent / "zoo-artifacts"
        shared.mkdir(exist_ok=True)  # the workers export into it at once: one process per artifact (filelock)
        return shared
    return tmp_path_factory.mktemp("zoo-artifacts")


def share_zoo_artifacts(results: Path, cache: Path) -> Path:
    """Link ``results/artifacts/<name>`` to ``cache/<name>`` for every zoo model and the tiny model;
    returns ``results``.

    The export pipeline finds an artifact under ``$BENCH_RESULTS/artifacts/<model>/``, so the
    links are all it needs; a corrupted or stale entry is re-exported there as it would be anyway."""
    import models

    folder = results / "artifacts"
    folder.mkdir(parents=True, exist_ok=True)
    for name in [*models.list_models(), TINY_NAME]:
        (cache / name).mkdir(exist_ok=True)
        link = folder / name
        if not link.exists():
            link.symlink_to(cache / name, target_is_directory=True)
    return results


@pytest.fixture
def results_dir(tmp_path: Path, zoo_artifacts: Path) -> Path:
    """A fresh results folder for one test (its own store and caches; zoo artifacts shared)."""
    path = tmp_path / "results"
    path.mkdir()
    return share_zoo_artifacts(path, zoo_artifacts)


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


@pytest.fixture
def bench_here(results_dir: Path, monkeypatch):
    """Run ``bench ARGS...`` in this process through the console script's own entry point
    (``bench.cli.main``: the same parsing, exit codes and one-line errors on stderr), with its own
    results folder. A store is closed after each use (:class:`bench.results.store.Store` pools no
    SQLite connection), so the command leaves it as a finished process does.

    For commands that stop at bad input, the store's own commands (ingest, results, compare,
    baseline, history, report) and the zoo's tables (models, flops): a ``bench`` process spends most
    of such a command importing (torch among them, 2-3 s of CPU), once per call. ``bench_cli`` runs a process where the
    process is what a test is about: measurements and exports (their threads, native libraries
    writing to the file descriptors, signals), and a whole process's stdout (``--json``)."""

    def run(*args: str) -> CliResult:
        from bench.cli import main

        out, err = io.StringIO(), io.StringIO()
        with monkeypatch.context() as mp:
            mp.setenv("BENCH_RESULTS", str(results_dir))
            mp.chdir(ROOT)  # where bench_cli runs its process
            mp.setattr(sys, "argv", ["bench", *args])
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                try:
                    main()
                    code = 0
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        return CliResult(code, out.getvalue(), err.getvalue())

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


TINY_NAME = "tiny.tiny"  # the export name of ``tiny.py:tiny``


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


# --- real remote services (OpenSSH, adb) and the emulated phone ------------------------------------


@pytest.fixture(scope="session")
def sshd(tmp_path_factory):
    """A real OpenSSH server on a loopback port, with generated host and user keys."""
    from services import SSHD, SshServer

    if not Path(SSHD).exists():
        pytest.skip("openssh-server is not installed (scripts/system-packages.sh installs it)")
    server = SshServer.create(tmp_path_factory.mktemp("sshd"))
    yield server
    server.stop()


@pytest.fixture(scope="session")
def adb_server():
    """Debian's adb server on a private port (never the user's server on 5037)."""
    import shutil

    from services import AdbServer

    if shutil.which("adb") is None:
        pytest.skip("adb is not installed (scripts/system-packages.sh installs it)")
    server = AdbServer.start()
    yield server
    server.stop()


def tool_wrapper(folder: Path, tool: str, *extra: str) -> Path:
    """A device-side script that runs the simulated native tool (see tests/simulators/native_tools.py)."""
    script = folder / tool
    simulator = ROOT / "tests/simulators/native_tools.py"
    script.write_text(f'#!/bin/sh\nexec {sys.executable} {simulator} {tool} {" ".join(extra)} "$@"\n')
    script.chmod(0o755)
    return script


@pytest.fixture
def emulated_pixel(tmp_path: Path, adb_server):
    """SIMULATION: a Pixel 6 emulated on loopback, connected to the test adb server, plus its profile."""
    from simulators.adb_device import EmulatedAndroidDevice

    device = EmulatedAndroidDevice(tmp_path / "phone")
    port = device.start()
    serial = f"127.0.0.1:{port}"
    tools = tmp_path / "tools"
    tools.mkdir()
    profile = tmp_path / "pixel.toml"
    profile.write_text(
        textwrap.dedent(f"""\
            name = "emulated-pixel6"
            transport = "adb"
            address = "{serial}"
            adb_server_port = {adb_server.port}
            work_dir = "/data/local/tmp/bench work"

            [cpu]
            affinity = "c0"
            threads = [1]

            [runtimes]
            available = ["litert", "onnxruntime"]
            benchmark_model = "{tool_wrapper(tools, "benchmark_model", "--sim-format=info")}"
            onnxruntime_perf_test = "{tool_wrapper(tools, "onnxruntime_perf_test")}"

            [accelerators]
            available = ["cpu", "xnnpack", "gpu", "nnapi", "hexagon"]

            [energy]
            meter = "odpm"
            rails = ["S2M_VDD_CPUCL2", "S3M_VDD_CPUCL1", "S4M_VDD_CPUCL0", "S1M_VDD_MIF"]

            [thermal]
            limit_status = 0
            max_wait_s = 20
            fixed_performance = true
        """)
    )
    device.profile = profile
    device.serial = serial
    yield device
    device.stop()
    adb_server.adb("disconnect", serial)


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server from Debian's packages on a loopback port."""
    from services import PostgresServer, postgres_bin

    if postgres_bin("initdb") is None:
        pytest.skip("PostgreSQL is not installed (scripts/system-packages.sh installs it)")
    server = PostgresServer.start()
    yield server
    server.stop()


def host_devices(folder: Path, names: list[str]) -> Path:
    """Profiles of host-backed devices under different names (a farm of one machine)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        (folder / f"{name}.toml").write_text(
            f'name = "{name}"\ntransport = "local"\n[runtimes]\navailable = ["onnxruntime", "litert"]\n'
            '[energy]\nmeter = "none"\n'
        )
    return folder


HOG = "import time\nend = time.time() + {s}\nwhile time.time() < end:\n    pass\n"


def hog_on(cpu: int, seconds: float) -> subprocess.Popen:
    """A CPU-bound co-runner pinned to ``cpu`` for ``seconds`` (kill it when done)."""
    proc = subprocess.Popen([sys.executable, "-c", HOG.format(s=seconds)])
    os.sched_setaffinity(proc.pid, [cpu])
    return proc


def last_cpu() -> int:
    """The CPU the agent (one thread) and pinned tools run on by default: this process's last."""
    return max(os.sched_getaffinity(0))
