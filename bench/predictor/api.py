"""What ``bench predictor train``, ``bench predict`` and ``bench predictor evaluate`` do.

Latency prediction runs here, for a device profile whose runtime runs here: the kernel sweep and
the zoo's node profiles are measured on this machine (the device must be local), and the nodes
of a model are read after this machine's runtime optimized its graph. A phone or board is not
swept yet (its benchmark tool would measure each kernel there).
"""

from __future__ import annotations

import contextlib
import functools
import math
import sys
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.errors import BenchError
from bench.predictor.model import Predictor, PredictorMismatch, flops_baseline, predictor_path
from bench.predictor.nodes import Node, node_profile
from bench.predictor.remote import DeviceSession, check_device_runtime
from bench.predictor.sweep import (
    FORMATS,
    KernelSweep,
    ReferenceProbe,
    SpeedProbe,
    graph_row,
    kernel_measurer,
    model_file,
    runtime_version,
    training_graphs,
)
from bench.results.store import Store

__all__ = ["PredictorMismatch", "TrainResult", "Prediction", "evaluate", "load_predictor", "predict", "train"]


def check_target(device, runtime: str, accelerator: str) -> None:
    """BenchError (exit 2) for what prediction does not cover yet: another runtime, onnxruntime on a
    device reached over adb or ssh, or a device whose profile names no ``benchmark_model``
    (:func:`bench.predictor.remote.check_device_runtime`), an accelerator other than the CPU."""
    if runtime not in FORMATS:
        raise BenchError(f"latency prediction supports runtimes {', '.join(FORMATS)}; not {runtime}")
    if not device.is_local:
        check_device_runtime(device, runtime)
    if accelerator != "cpu":
        raise BenchError(f"latency prediction covers the CPU only so far; not accelerator {accelerator}")


def expectation(device, runtime: str, accelerator: str, threads: int) -> dict:
    """What a predictor for this target must have been trained for (see :meth:`Predictor.load`);
    ``device``: its profile (a remote device's runtime version is its tool's: :func:`runtime_version`)."""
    return {"device": device.name, "runtime": runtime, "runtime_version": runtime_version(runtime, device),
            "accelerator": accelerator, "threads": threads}  # fmt: skip


def family_of(name: str) -> str:
    """The zoo family of a model reference ('user' for a user's own model)."""
    import models

    try:
        return models.get_card(name).family
    except Exception:  # noqa: BLE001 - a user's model
        return "user"


@dataclass
class TrainResult:
    path: str
    kernels_measured: int
    kernels_reused: int
    kernels_failed: list[str]
    profiles_measured: list[str]
    profiles_reused: list[str]
    graphs: int
    nodes: int
    meta: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def train(
    store: Store,
    results: Path,
    device,
    runtime: str,
    accelerator: str = "cpu",
    threads: int = 1,
    budget_min: float = 30.0,
    zoo: list[str] | None = None,
    runs: int = 20,
    seed: int = 0,
    environment: dict | None = None,
    argv: str = "",
    progress: Callable[[str], None] = lambda _: None,
) -> TrainResult:
    """Profile the ``zoo`` models not profiled yet, sweep kernels for ``budget_min`` minutes, fit on
    everything stored for this target and save the predictor (see :mod:`bench.predictor.sweep`)."""
    check_target(device, runtime, accelerator)
    if not math.isfinite(budget_min) or budget_min < 0:
        raise BenchError(f"--budget must be a number of minutes, 0 or more; not {budget_min}")
    settings = {"predictor": {"runtime": runtime, "budget_min": budget_min, "runs": runs}}
    version = runtime_version(runtime, device)
    run_id = store.start_run(device.name, environment or {}, [], argv, settings=settings)
    status = "interrupted"
    measured, reused, failed = [], [], []
    stack = contextlib.ExitStack()
    try:
        before = training_graphs(store, device.name, runtime, threads, version)  # what earlier trainings measured
        have = {g.name for g in before}
        probe: SpeedProbe
        if device.is_local:
            probe = stack.enter_context(ReferenceProbe(runtime, threads))
            profile_file = functools.partial(node_profile, runtime, threads=threads, runs=runs)
            profile_kernel = profile_file
        else:  # a phone or a board: the tool pushed once, one connection for the whole training
            progress(f"connecting to {device.name}")
            session = stack.enter_context(DeviceSession(device, runtime, threads, runs))
            probe, profile_file = session, session.node_profile
            profile_kernel = functools.partial(session.node_profile, keep=False)
        for name in zoo or []:
            if name in have:
                reused.append(name)
                continue
            progress(f"profiling {name}")
            with tempfile.TemporaryDirectory() as folder:
                try:
                    path = model_file(name, runtime, Path(folder))
                    profile = probe.around(functools.partial(profile_file, path))
                except BenchError as exc:
                    failed.append(f"{name}: {exc}")
                    continue
            store.add_measurement(graph_row(run_id, "profile", name, runtime, device.name, threads, profile,
                                            {"family": family_of(name)}, version))  # fmt: skip
            measured.append(name)

        def stored(space, config, outcome) -> None:
            if isinstance(outcome, str):
                failed.append(outcome)
                progress(f"failed {outcome}")
                return
            progress(f"{space.label(config)}: {outcome.total_ms:.3f} ms")
            store.add_measurement(graph_row(run_id, "kernel", space.label(config), runtime, device.name, threads,
                                            outcome, {"kernel": space.name, "config": config}, version))  # fmt: skip

        measure = kernel_measurer(runtime, profile_kernel, probe)
        sweep = KernelSweep(measure, budget_min * 60, seed=seed, on_sample=stored,
                            done={m for m in have if m.startswith("kernel:")})  # fmt: skip
        for graph in before:  # earlier sweeps guide this one
            if graph.family.startswith("kernel:") and graph.family[7:] in sweep.samples:
                config = _config_of(graph.name)
                if config is not None:
                    sweep.samples[graph.family[7:]].append((config, graph.total_ms))
        kernels = sweep.run()
        graphs = training_graphs(store, device.name, runtime, threads, version)
        if not graphs:
            why = f": {'; '.join(failed[:3])}" if failed else " (a budget of 0 and nothing stored before)"
            raise BenchError(f"nothing to train on: no kernel or model was measured{why}")
        meta = expectation(device, runtime, accelerator, threads)
        import numpy
        import sklearn

        meta.update({"sklearn": sklearn.__version__, "numpy": numpy.__version__, "python": sys.version.split()[0]})
        predictor = Predictor.fit(graphs, meta)
        path = predictor.save(predictor_path(results, device.name, runtime, accelerator, threads))
        status = "finished"
        kernels_reused = sum(g.family.startswith("kernel:") for g in graphs) - kernels
        return TrainResult(str(path), kernels, kernels_reused, failed, measured, reused, len(graphs),
                           predictor.meta["nodes"], predictor.meta)  # fmt: skip
    finally:
        stack.close()
        store.finish_run(run_id, status)


def _config_of(label: str) -> dict[str, int] | None:
    """``kernel:conv(cin=32,cout=64,...)`` -> ``{"cin": 32, ...}``."""
    try:
        inside = label[label.index("(") + 1 : label.rindex(")")]
        return {k: int(v) for k, v in (item.split("=") for item in inside.split(","))}
    except ValueError:
        return None


def load_predictor(results: Path, device, runtime: str, accelerator: str, threads: int) -> Predictor:
    """The saved predictor for this target (``device``: its profile). BenchError naming the command
    that trains one when none is saved; PredictorMismatch when it was trained for another runtime
    version (a remote device's: another build of its tool) or library."""
    path = predictor_path(results, device.name, runtime, accelerator, threads)
    if not path.is_file():
        raise BenchError(
            f"no latency predictor for {device.name} / {runtime} / {accelerator} x{threads} in {path.parent}; "
            f"train one with `bench predictor train --device {device.name} --runtime {runtime}"
            f"{'' if threads == 1 else f' --threads {threads}'}`"
        )
    return Predictor.load(path, expectation(device, runtime, accelerator, threads))


@dataclass
class Prediction:
    model: str
    runtime: str
    device: str
    threads: int
    predicted_ms: float
    nodes: int
    overhead_ms: float
    blocks: list[dict]  # {"block", "ms", "share", "nodes"} in execution order, TOP_LEVEL last
    predictor: str
    fingerprint: str

    def to_dict(self) -> dict:
        return asdict(self)


def _blocks(model, input_shape, runtime: str, path: Path, nodes: list[Node], times) -> list[dict]:
    """Predicted ms per block of ``bench profile``'s depth-1 blocks of ``model``, from each node's module."""
    from bench.profiling.blocks import TOP_LEVEL, hierarchy
    from bench.profiling.runtimes import module_of_node, onnx_node_modules, tflite_op_blocks

    tree = hierarchy(model, input_shape, 1)
    if runtime == "onnxruntime":
        modules = onnx_node_modules(path)
        owners = [tree.block_of(module_of_node(n.name, modules)) for n in nodes]
    else:
        op_blocks = tflite_op_blocks(path, tree)
        owners = [op_blocks[int(n.name.rsplit(":", 1)[1])] for n in nodes]
    spent: dict[str, list[float]] = {}
    for block, ms in zip(owners, times, strict=True):
        spent.setdefault(block, []).append(float(ms))
    total = sum(sum(v) for v in spent.values()) or 1.0
    order = [b for b in [*tree.blocks, TOP_LEVEL] if b in spent]
    return [{"block": b, "ms": sum(spent[b]), "share": sum(spent[b]) / total, "nodes": len(spent[b])} for b in order]


def predict(
    store: Store | None,
    results: Path,
    names: list[str],
    device,
    runtime: str,
    accelerator: str = "cpu",
    threads: int = 1,
    environment: dict | None = None,
    argv: str = "",
) -> list[Prediction]:
    """Predicted latency of each model (per node, per block and whole), stored as ``kind = "predicted"``
    rows when ``store`` is given. Raises BenchError without a predictor for this target."""
    check_target(device, runtime, accelerator)
    predictor = load_predictor(results, device, runtime, accelerator, threads)
    path_name = predictor_path(results, device.name, runtime, accelerator, threads).name
    predictions = []
    from export.source import resolve

    for name in names:
        spec = resolve(name)
        model = spec.build()  # once: exported (onnxruntime) and walked for its blocks
        with tempfile.TemporaryDirectory() as folder:
            path = model_file(name, runtime, Path(folder), model)
            nodes = node_profile(runtime, path, threads, 0).nodes
            times = predictor.predict_nodes(nodes)
            blocks = _blocks(model, spec.input_shape, runtime, path, nodes, times)
        total = predictor.total_ms(times)  # as evaluate's predictions are made
        overhead = total - float(times.sum())
        predictions.append(Prediction(name, runtime, device.name, threads, total, len(nodes), overhead, blocks,
                                      path_name, predictor.meta["fingerprint"]))  # fmt: skip
    if store is not None and predictions:
        run_id = store.start_run(device.name, environment or {}, [], argv, settings={"predict": {"runtime": runtime}})
        for p in predictions:
            store.add_measurement(
                {
                    "run_id": run_id, "model": p.model, "format": FORMATS[runtime], "precision": "fp32",
                    "runtime": runtime, "accelerator": accelerator, "device": device.name, "threads": threads,
                    "repeat": 0, "kind": "predicted", "status": "ok", "median_ms": p.predicted_ms,
                    "settings": {"predictor": p.predictor, "fingerprint": p.fingerprint, "blocks": p.blocks,
                                 "nodes": p.nodes, "overhead_ms": p.overhead_ms},
                    "runtime_versions": {runtime: runtime_version(runtime, device)},
                    "source": {"tool": "bench predict", "predictor": p.predictor},
                }
            )  # fmt: skip
        store.finish_run(run_id, "finished")
    return predictions


@dataclass
class EvaluationRow:
    model: str
    family: str
    measured_ms: float
    predicted_ms: float
    error: float  # (predicted - measured) / measured
    flops_ms: float  # the MACs-only baseline's prediction
    flops_error: float


@dataclass
class Evaluation:
    rows: list[EvaluationRow]
    runtime: str
    device: str
    threads: int

    @staticmethod
    def _share(errors: list[float], bound: float) -> float:
        return sum(abs(e) <= bound for e in errors) / len(errors) if errors else math.nan

    def summary(self) -> dict:
        """Share of models within +/-10% and +/-5% and the mean absolute percentage error, for the
        predictor and the MACs-only baseline."""
        ours = [r.error for r in self.rows]
        flops = [r.flops_error for r in self.rows]
        return {
            "models": len(self.rows),
            "within_10": self._share(ours, 0.10),
            "within_5": self._share(ours, 0.05),
            "mape": sum(abs(e) for e in ours) / len(ours) if ours else math.nan,
            "flops_within_10": self._share(flops, 0.10),
            "flops_within_5": self._share(flops, 0.05),
            "flops_mape": sum(abs(e) for e in flops) / len(flops) if flops else math.nan,
        }

    def to_dict(self) -> dict:
        return {"runtime": self.runtime, "device": self.device, "threads": self.threads,
                "rows": [asdict(r) for r in self.rows], "summary": self.summary()}  # fmt: skip


def evaluate(store: Store, device, runtime: str, accelerator: str = "cpu", threads: int = 1) -> Evaluation:
    """Leave-one-family-out over the zoo models profiled for this target: for each family, a
    predictor fitted on the kernels and every other family predicts that family's models, beside a
    MACs-only baseline fitted on the same graphs. BenchError with fewer than two families."""
    check_target(device, runtime, accelerator)
    graphs = training_graphs(store, device.name, runtime, threads, runtime_version(runtime, device))
    zoo = [g for g in graphs if not g.family.startswith("kernel:")]
    families = sorted({g.family for g in zoo})
    if len(families) < 2:
        raise BenchError(
            f"leave-one-family-out needs zoo models of at least two families profiled for {device.name} / {runtime}; "
            f"found {len(families)} ({', '.join(families) or 'none'}): run `bench predictor train --device "
            f"{device.name} --runtime {runtime} --zoo MODEL...` first"
        )
    rows = []
    for family in families:
        train_on = [g for g in graphs if g.family != family]
        predictor = Predictor.fit(train_on, {})
        a, b = flops_baseline(train_on)
        for g in (g for g in zoo if g.family == family):
            predicted = predictor.predict(g.nodes)
            flops = a + b * g.macs
            rows.append(EvaluationRow(g.name, family, g.total_ms, predicted, predicted / g.total_ms - 1, flops,
                                      flops / g.total_ms - 1))  # fmt: skip
    return Evaluation(rows, runtime, device.name, threads)
