"""Training data for the predictor: the kernel sweep and the zoo's node profiles, measured and stored.

- The kernel sweep (``kind = "kernel"`` rows) measures generated one-kernel models
  (:mod:`bench.predictor.kernels`) within a time budget. It samples as nn-Meter's adaptive data
  sampling does (Zhang et al., MobiSys 2021, section 4.2): a few random configurations of every
  kernel first, then, repeatedly, a neighbour (one parameter one grid step away) of the
  configuration whose latency a random forest over that kernel's configurations predicted worst
  (out-of-bag): samples gather where latency changes fastest. As nn-Meter samples each kernel in
  turn, the turns are shared between kernels (by the number of parameters of each one's grid), and
  among kernels with equal shares the one whose forest errs most goes first.
- Zoo node profiles (``kind = "profile"`` rows) are the nodes of the zoo's own models as the
  runtime runs them, each timed by its profiler; a model already profiled for this device,
  runtime version and threads is not measured again.

Both store one row per model file: ``median_ms`` (the whole model, measured without the profiler),
``macs``, ``settings["nodes"]`` (:class:`~bench.predictor.nodes.Node` dicts with each node's
median ``ms``) and ``settings["reference_ms"]``: the machine's speed around the measurement, the
median time of one fixed small model just before and just after it (:class:`ReferenceProbe`). A
shared machine's speed drifts by tens of percent over minutes (another tenant, frequency
scaling: here the same DeiT-S measured 85, 128 and 90 ms within one hour), and a sweep and its
zoo profiles are measured minutes apart, so :func:`training_graphs` scales every graph to the
median speed of the set before fitting or evaluating on it. :func:`training_graphs` reads them
back for the runtime version installed here.
"""

from __future__ import annotations

import functools
import math
import random
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.errors import BenchError
from bench.predictor.kernels import SPACES, KernelSpace, ReferenceModel, largest_tensor
from bench.predictor.model import Graph
from bench.predictor.nodes import Node, NodeProfile
from bench.results.store import Store, now_iso

FORMATS = {"onnxruntime": "onnx", "litert": "tflite"}
# the fixed model whose time tells the machine's speed, and how it is timed; a new definition gets a
# new name, so rows timed against another reference are never scaled by this one. v1 took the median
# of 15 runs before the measurement only: on this host its spread over 15 probes a second apart was
# 31% (sd 9.6%, the first runs after other work slower), which scaling then added to every graph and
# which cost the leave-one-family-out evaluation 12 points; 300 runs gave a spread of 9.5% (sd 2.7%)
REFERENCE = (
    "reference-v2: conv 3x3 64->64 at 28x28 + BN + ReLU, then linear 64->256 over 784 tokens; "
    "the mean of its medians over 300 runs just before and just after the measurement"
)
INITIAL = 4  # random configurations of each kernel before adaptive sampling (taken round-robin)


def runtime_for_format(fmt: str | None, runtime: str | None) -> str:
    """The runtime that predicts ``fmt`` (``onnx`` -> onnxruntime, ``tflite`` -> litert; onnxruntime
    when neither is given). BenchError for a format or runtime without prediction, or a mismatch."""
    by_format = {f: r for r, f in FORMATS.items()}
    if fmt is not None and fmt not in by_format:
        raise BenchError(f"latency prediction supports formats {', '.join(by_format)}; not {fmt}")
    if runtime is None:
        return by_format[fmt] if fmt else "onnxruntime"
    if runtime not in FORMATS:
        raise BenchError(f"latency prediction supports runtimes {', '.join(FORMATS)}; not {runtime}")
    if fmt is not None and FORMATS[runtime] != fmt:
        raise BenchError(f"{runtime} runs {FORMATS[runtime]}, not {fmt}")
    return runtime


def runtime_version(runtime: str, device=None) -> str:
    """The installed version of the runtime's package (onnxruntime, ai-edge-litert); for a ``device``
    reached over adb or ssh, its native tool by content (``benchmark_model sha256:1f2e3d4c5b6a7980``:
    a rebuilt tool is another version). BenchError when the device's profile names no such tool."""
    if device is not None and not device.is_local:
        from bench.digest import file_sha256
        from bench.measure.runners.native_tools import local_tool, tool_runtime

        tool = local_tool(device, runtime)
        return f"{tool_runtime(device, runtime).native_tool} sha256:{file_sha256(tool)[:16]}"
    import importlib.metadata

    package = {"onnxruntime": "onnxruntime", "litert": "ai-edge-litert"}[runtime]
    return importlib.metadata.version(package)


def export_kernel(module, input_shape: tuple[int, ...], runtime: str, folder: Path) -> Path:
    """``module`` exported to the runtime's format (fp32) by the project's own exporter, as a user
    model would be; the converters' output goes to ``folder/convert.log``."""
    import torch

    from export.base import get_exporter
    from export.pipeline import _output_to

    exporter = get_exporter(FORMATS[runtime])
    path = folder / f"kernel{exporter.suffix}"
    torch.manual_seed(0)
    with _output_to(folder / "convert.log"):
        exporter.convert(module.eval(), (torch.randn(input_shape),), path, "fp32", ["input"])
    return path


def graph_row(run_id: str, kind: str, model: str, runtime: str, device: str, threads: int, profile: NodeProfile,
              settings: dict, version: str | None = None) -> dict:  # fmt: skip
    """The store row of one node-profiled model file (see the module's docstring); ``version``: the
    runtime's (:func:`runtime_version`), this machine's package by default."""
    return {
        "run_id": run_id,
        "model": model,
        "format": FORMATS[runtime],
        "precision": "fp32",
        "runtime": runtime,
        "accelerator": "cpu",
        "device": device,
        "threads": threads,
        "repeat": 0,
        "kind": kind,
        "settings": {
            **settings,
            "nodes": [n.to_dict() for n in profile.nodes],
            "note": profile.note,
            **({"reference": REFERENCE, "reference_ms": profile.reference_ms} if profile.reference_ms else {}),
            **({"reference_during_ms": profile.reference_during_ms} if profile.reference_during_ms else {}),
        },
        "status": "ok",
        "n_samples": profile.runs,
        "median_ms": profile.total_ms,
        "macs": sum(n.macs for n in profile.nodes),
        "runtime_versions": {runtime: version or runtime_version(runtime)},
        "source": {"tool": f"bench predictor train ({kind})", "profiler": profile.note},
        "created_at": now_iso(),
    }


def training_graphs(store: Store, device: str, runtime: str, threads: int, version: str | None = None) -> list[Graph]:
    """Every kernel and zoo profile row stored for ``device``/``runtime``/``threads`` with the
    runtime ``version`` (default: the one installed here; :func:`runtime_version`), as graphs (zoo
    rows first, then kernels, oldest first), each scaled to the set's median machine speed (its
    :data:`REFERENCE` time against their median)."""
    version = version or runtime_version(runtime)
    graphs = []
    references: list[float | None] = []
    for kind in ("profile", "kernel"):
        for row in store.measurement_rows(kind=kind):
            if (row["device"], row["runtime"], row["threads"], row["status"]) != (device, runtime, threads, "ok"):
                continue
            if (row["runtime_versions"] or {}).get(runtime) != version or row["median_ms"] is None:
                continue
            settings = row["settings"] or {}
            nodes = [Node.from_dict(n) for n in settings.get("nodes", [])]
            family = settings.get("family") or f"kernel:{settings.get('kernel', '?')}"
            graphs.append(Graph(row["model"], family, nodes, float(row["median_ms"]), int(row["macs"] or 0)))
            same = settings.get("reference") == REFERENCE and settings.get("reference_ms")
            references.append(float(settings["reference_ms"]) if same else None)
    known = [r for r in references if r]
    if known:
        typical = float(np.median(known))
        for graph, reference in zip(graphs, references, strict=True):
            if reference:
                factor = typical / reference
                graph.nodes = [replace(n, ms=None if n.ms is None else n.ms * factor) for n in graph.nodes]
                graph.total_ms *= factor
    return graphs


class SpeedProbe:
    """The speed of the machine being measured: ``probe()`` is the median time (ms) of
    :data:`REFERENCE` over its runs, on the runtime and threads being swept; :meth:`around`
    brackets a measurement by it. A context manager."""

    def __call__(self) -> float:
        raise NotImplementedError

    interleaves = False  # whether measure() takes ``beside``, to run the reference between its runs

    def sample(self) -> None:
        """Time the reference once more while a measurement runs (``beside`` of the node profilers)."""

    def around(self, measure: Callable[..., NodeProfile]) -> NodeProfile:
        """``measure()``'s profile with ``reference_ms`` the mean of the probe just before and just
        after it; where the probe :attr:`interleaves`, ``measure(beside=self.sample)`` also times the
        reference between the model's runs, kept as ``reference_during_ms`` (their median)."""
        before = self()
        self.during: list[float] = []
        profile = measure(beside=self.sample) if self.interleaves else measure()
        during = float(np.median(self.during)) if self.during else None
        return replace(profile, reference_ms=(before + self()) / 2, reference_during_ms=during)

    def __enter__(self) -> SpeedProbe:
        return self

    def __exit__(self, *exc) -> None:
        """Nothing to release here."""


class ReferenceProbe(SpeedProbe):
    """:class:`SpeedProbe` of this machine: :data:`REFERENCE` run here over ``runs`` runs after ten
    warm-up runs. Exported once; its temporary folder is removed on exit."""

    def __init__(self, runtime: str, threads: int, runs: int = 300) -> None:
        from bench.profiling.runtimes import _median_ms

        self.runs = runs
        self._median = _median_ms
        self._folder = tempfile.TemporaryDirectory()
        import torch

        torch.manual_seed(0)  # the same weights every time
        path = export_kernel(ReferenceModel(), (1, 64, 28, 28), runtime, Path(self._folder.name))
        x = np.random.default_rng(0).standard_normal((1, 64, 28, 28)).astype(np.float32)
        if runtime == "onnxruntime":
            from bench.runtimes import onnxruntime

            session = onnxruntime.create(path, threads)
            name = session.get_inputs()[0].name
            self._run = lambda: session.run(None, {name: x})
        else:
            from bench.runtimes import litert

            interpreter = litert.create(path, threads)
            index = interpreter.get_input_details()[0]["index"]

            def invoke() -> None:
                interpreter.set_tensor(index, x)
                interpreter.invoke()

            self._run = invoke

    interleaves = True

    def __call__(self) -> float:
        return self._median(self._run, self.runs, warmup=10)

    def sample(self) -> None:
        """Three runs of the reference; the third, warm (the model's run before it evicted the
        reference's weights from the caches), is timed."""
        self._run()
        self._run()
        start = time.perf_counter_ns()
        self._run()
        self.during.append((time.perf_counter_ns() - start) / 1e6)

    def __exit__(self, *exc) -> None:
        self._folder.cleanup()


class KernelSweep:
    """Measure kernels until ``budget_s`` seconds have passed (see the module's docstring).

    ``measure(space, config)`` returns the kernel's NodeProfile (export + profile); ``on_sample``
    is called with each (space, config, profile or error message). ``seed`` fixes the sampling."""

    def __init__(
        self,
        measure: Callable[[KernelSpace, dict[str, int]], NodeProfile],
        budget_s: float,
        spaces: dict[str, KernelSpace] | None = None,
        seed: int = 0,
        on_sample: Callable[[KernelSpace, dict[str, int], NodeProfile | str], None] = lambda *_: None,
        done: set[str] | None = None,
    ) -> None:
        self.measure = measure
        self.budget_s = budget_s
        self.spaces = spaces or SPACES
        self.rng = random.Random(seed)
        self.on_sample = on_sample
        self.samples: dict[str, list[tuple[dict[str, int], float]]] = {name: [] for name in self.spaces}
        self.tried: set[str] = set(done or ())  # labels measured (or failed) already
        self.failures: dict[str, int] = dict.fromkeys(self.spaces, 0)  # this sweep's failed kernels per kind

    def _turns(self, name: str) -> int:
        """Kernels of kind ``name`` measured (this sweep's and earlier sweeps' samples) or failed."""
        return len(self.samples[name]) + self.failures[name]

    def _random(self, space: KernelSpace) -> dict[str, int] | None:
        for _ in range(200):
            config = {k: self.rng.choice(v) for k, v in space.grid.items()}
            if largest_tensor(space, config) <= space.limit and space.label(config) not in self.tried:
                return config
        return None

    def _neighbour(self, space: KernelSpace, config: dict[str, int]) -> dict[str, int] | None:
        moves = [(k, d) for k in space.grid for d in (-1, 1)]
        self.rng.shuffle(moves)
        for key, step in moves:
            values = space.grid[key]
            index = values.index(config[key]) + step
            if 0 <= index < len(values):
                candidate = {**config, key: values[index]}
                if largest_tensor(space, candidate) <= space.limit and space.label(candidate) not in self.tried:
                    return candidate
        return None

    def _worst(self, name: str) -> tuple[float, dict[str, int] | None]:
        """The kernel's mean out-of-bag error (log ms) and its worst-predicted configuration."""
        from sklearn.ensemble import RandomForestRegressor

        samples = self.samples[name]
        if len(samples) < INITIAL:  # not enough to rank: first, unless failures took its initial turns
            return (math.inf if self._turns(name) < INITIAL else 0.0), None
        keys = list(self.spaces[name].grid)
        x = np.array([[math.log(c[k] + 1) for k in keys] for c, _ in samples])
        y = np.array([math.log(max(ms, 1e-4)) for _, ms in samples])
        forest = RandomForestRegressor(n_estimators=40, oob_score=True, random_state=0, n_jobs=1).fit(x, y)
        errors = np.abs(np.nan_to_num(forest.oob_prediction_, nan=float(y.mean())) - y)
        return float(errors.mean()), samples[int(errors.argmax())][0]

    def next_config(self) -> tuple[KernelSpace, dict[str, int]] | None:
        """The next kernel to measure: every kernel's initial random ones first (round-robin, so a
        short budget still sees every kernel), then adaptive: the kernel with the fewest samples per
        grid parameter (a convolution's six parameters earn it three times a layout's two), at a
        neighbour of its worst-predicted configuration."""
        for rounds in range(INITIAL):
            for name, space in self.spaces.items():
                if self._turns(name) == rounds:
                    config = self._random(space)
                    if config is not None:
                        return space, config
        # adaptive turns are shared out by the size of each kernel's grid (its number of parameters),
        # then go to the kernel whose forest predicts worst: ranking by error alone gave a 15-minute
        # onnxruntime sweep 300 attention kernels (the noisiest) against 51 convolutions and 13
        # depthwise ones, and left MobileNet's 1x1 convolutions at 112x112 unsampled
        share = {n: self._turns(n) / len(self.spaces[n].grid) for n in self.spaces}
        for level in sorted(set(share.values())):  # the forests are fitted only for the kernels whose turn it is
            ranked = sorted(((self._worst(n), n) for n in self.spaces if share[n] == level), key=lambda i: -i[0][0])
            for (_, worst), name in ranked:
                space = self.spaces[name]
                config = (self._neighbour(space, worst) if worst else None) or self._random(space)
                if config is not None:
                    return space, config
        return None

    def run(self) -> int:
        """Measure until the budget is spent (a kernel is started only when the last one's time
        still fits); returns the number of kernels measured. A budget above 0 always tries every
        kernel kind that has no sample yet once, however long that takes (about 15 s here): the
        predictor fits one forest per operator kind, and the nodes of a kernel kind it never saw
        would be predicted by the forest over all nodes alone."""
        start = time.monotonic()
        last = 0.0
        measured = 0
        while True:
            fits = time.monotonic() - start + last <= self.budget_s
            if not (fits or (self.budget_s > 0 and any(self._turns(n) == 0 for n in self.spaces))):
                break
            chosen = self.next_config()
            if chosen is None:
                break
            space, config = chosen
            if not fits and self._turns(space.name):
                break  # past the budget only a kind's first kernel runs (none left of an uncovered kind)
            self.tried.add(space.label(config))
            began = time.monotonic()
            try:
                profile = self.measure(space, config)
            except BenchError as exc:
                self.failures[space.name] += 1
                self.on_sample(space, config, str(exc))
                continue
            last = time.monotonic() - began
            self.samples[space.name].append((config, profile.total_ms))
            measured += 1
            self.on_sample(space, config, profile)
        return measured


def kernel_measurer(
    runtime: str, profile: Callable[[Path], NodeProfile], probe: SpeedProbe | None = None
) -> Callable[[KernelSpace, dict[str, int]], NodeProfile]:
    """Export one kernel and ``profile`` its file (:func:`bench.predictor.nodes.node_profile` on this
    machine, :meth:`bench.predictor.remote.DeviceSession.node_profile` on a device), bracketed by
    the ``probe`` (:meth:`SpeedProbe.around`); BenchError (one line) when it fails."""

    def measure(space: KernelSpace, config: dict[str, int]) -> NodeProfile:
        module, shape = space.build(config)
        with tempfile.TemporaryDirectory() as folder:
            try:
                path = export_kernel(module, shape, runtime, Path(folder))
                profiled = functools.partial(profile, path)
                return probe.around(profiled) if probe else profiled()
            except Exception as exc:  # noqa: BLE001 - a converter's or runtime's failure is the kernel's result
                raise BenchError(f"{space.label(config)}: {type(exc).__name__}: {str(exc)[:200]}") from None

    return measure


def model_file(name: str, runtime: str, folder: Path, model=None) -> Path:
    """The file whose nodes are predicted for a model reference: the artifact ``bench export``
    makes (LiteRT), or for onnxruntime the export ``bench profile`` uses (not slimmed, so each
    node keeps its module path for blocks; onnxruntime's own optimizer, which the nodes are read
    after, does what slimming would), of ``model`` where the caller built it already. Raises
    BenchError when the model does not export."""
    from bench.profiling.runtimes import export_profiling_onnx
    from export.pipeline import _output_to, _reason, export_model
    from export.source import resolve

    spec = resolve(name)
    if runtime == "onnxruntime":
        log = folder / "convert.log"
        try:
            with _output_to(log):
                return export_profiling_onnx(model if model is not None else spec.build(), spec.input_shape, folder)
        except BenchError:
            raise
        except Exception as exc:  # noqa: BLE001 - the user's model does not export: its reason, in one line
            raise BenchError(f"cannot export {name} to onnx: {_reason(exc, log)}") from None
    artifact = export_model(spec, FORMATS[runtime], "fp32")
    if artifact.error:
        raise BenchError(f"cannot export {name} to {FORMATS[runtime]}: {artifact.error}")
    return Path(artifact.path)
