"""The predictor's measurements on a device reached over adb or ssh: LiteRT's ``benchmark_model``.

A phone or a board is where a predictor is needed most and where the kernels must be timed:
:class:`DeviceSession` holds one connection for a whole training, pushes the device's
``benchmark_model`` and the speed reference (:data:`bench.predictor.sweep.REFERENCE`) once, and
times each kernel or zoo model file there: the file's nodes are read here (the nodes are the
file's, whatever the device), their times come from ``benchmark_model --enable_op_profiling``
aligned to the nodes as ``bench profile --device`` aligns them
(:func:`bench.profiling.device.tflite_tool_profile`), the whole model's time from the same
tool's plain run, and the device's speed from the reference's plain run just before and just
after.

onnxruntime is not predicted for devices: the graph it runs depends on the device's CPU (its
optimizer lays out convolutions for x86's NCHWc blocks, not on ARM), so the nodes of a model
could not be read without running it there.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path, PurePosixPath

import numpy as np

from bench.digest import file_sha256
from bench.errors import BenchError
from bench.predictor.nodes import NodeProfile, tflite_node_profile
from bench.predictor.sweep import SpeedProbe, export_kernel

REFERENCE_RUNS = 300  # as on this machine (ReferenceProbe)


def check_device_runtime(device, runtime: str) -> None:
    """BenchError (exit 2) unless ``runtime`` can be predicted for the remote ``device``: LiteRT,
    with a ``benchmark_model`` named in the device's profile (see the module's docstring)."""
    if runtime != "litert":
        raise BenchError(
            f"latency prediction on {device.name} (over {device.transport}) covers LiteRT only: the graph onnxruntime "
            "runs depends on the device's CPU, so its nodes cannot be read here; use --runtime litert"
        )
    from bench.measure.runners.native_tools import local_tool

    local_tool(device, runtime)  # says what to set in the profile when it names no benchmark_model


class DeviceSession(SpeedProbe):
    """One connection to ``device`` for a training: node profiles (:meth:`node_profile`) and the
    speed probe (``session()``, ms) through its ``benchmark_model`` on ``threads`` threads, each
    node time the tool's mean over ``runs`` profiled runs. Connects and pushes the tool and the
    reference on entering; closes the connection on exit. Raises BenchError for a device that
    cannot be reached or a tool that fails, with the tool's reason."""

    def __init__(self, device, runtime: str, threads: int, runs: int) -> None:
        check_device_runtime(device, runtime)
        self.device, self.runtime, self.threads, self.runs = device, runtime, threads, runs
        self._folder = tempfile.TemporaryDirectory()
        self.transport = None

    def __enter__(self) -> DeviceSession:
        import torch

        from bench.devices.transports.base import open_transport
        from bench.measure.runners.native_tools import push_tool
        from bench.predictor.kernels import ReferenceModel

        torch.manual_seed(0)  # the same weights every time, as ReferenceProbe's
        exported = export_kernel(ReferenceModel(), (1, 64, 28, 28), self.runtime, Path(self._folder.name))
        reference = exported.rename(exported.with_name(f"reference{exported.suffix}"))  # kept there; kernels are not
        self.transport = open_transport(self.device)
        try:
            self.transport.connect()
            self.tool = push_tool(self.device, self.transport, self.runtime)
            self.reference = self.transport.push_once(reference, file_sha256(reference))
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.transport is not None:
            self.transport.close()
            self.transport = None
        self._folder.cleanup()

    def __call__(self) -> float:
        """The reference's median ms over :data:`REFERENCE_RUNS` plain runs after ten warm-up runs."""
        return self._plain_ms(self.reference, REFERENCE_RUNS, 10)

    def _plain_ms(self, graph: str, runs: int, warmup: int) -> float:
        """The median (else mean) ms of ``benchmark_model`` over ``runs`` plain runs of ``graph`` (on the device)."""
        from bench.measure.runners.native_tools import tool_command
        from bench.profiling.device import _run, _summary, _typical_ms
        from bench.runtimes import litert

        argv = tool_command(litert.NAME, self.tool, graph, self.threads, runs=runs, seconds=0, max_secs=600,
                            warmup=warmup, device=self.device)  # fmt: skip
        return _typical_ms(_summary(_run(self.transport, argv, "benchmark_model"), "benchmark_model"))

    def node_profile(self, path: Path, keep: bool = True) -> NodeProfile:
        """The nodes of the .tflite file at ``path`` (read here) with each one's time on the device,
        and the whole model's median there (see the module's docstring). ``keep=False`` removes the
        file from the device afterwards (a sweep's kernels are measured once)."""
        from bench.profiling.device import WARMUP, tflite_tool_profile
        from bench.profiling.runtimes import RuntimeProfile

        nodes = tflite_node_profile(path, self.threads, 0).nodes
        graph = self.transport.push_once(path, file_sha256(path))
        try:
            if nodes:
                profile = tflite_tool_profile(self.device, self.transport, self.tool, graph, path, None, self.threads,
                                              self.runs, labels=[str(i) for i in range(len(nodes))],
                                              operators_only=True)  # fmt: skip
            else:  # the converter removed every operator (a layout change that cancels): only the call is timed
                note = f"benchmark_model on {self.device.name}: no operators to profile"
                profile = RuntimeProfile(self._plain_ms(graph, self.runs, WARMUP), {}, note=note)
        finally:
            if not keep:
                self.transport.run(["rm", "-rf", str(PurePosixPath(graph).parent)], timeout=60)
        if not np.isfinite(profile.total_ms) or profile.total_ms <= 0:
            raise BenchError(f"benchmark_model on {self.device.name} gave no time for {path.name}")
        timed = [replace(n, ms=float(profile.block_ms.get(str(i), 0.0))) for i, n in enumerate(nodes)]
        return NodeProfile(timed, profile.total_ms, self.runs, profile.note)
