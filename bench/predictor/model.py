"""The latency predictor: one regressor per operator kind, fitted on profiled nodes, and a per-graph overhead.

What is predicted for a node is its time per unit of work, ``log(ms / work)`` (work: the node's
MACs, or for operators without them its activation bytes / 4), from the node's shape features
(:func:`features`); the node's time is that efficiency times its work. Predicting efficiency,
not time, lets a tree ensemble (which cannot extrapolate) still scale to a larger layer than any
it saw: the efficiency of a 3x3 convolution changes slowly with size, its time does not.

The regressor is scikit-learn's ``RandomForestRegressor``, one per operator kind with enough
samples (:data:`MIN_SAMPLES`), and one over all nodes (operator kind as a feature) for the rest.
A random forest, as nn-Meter found for kernel-level prediction (Zhang et al., MobiSys 2021,
section 5), needs no tuning on a few hundred samples per kind and is robust to the profiler's
noise; the spread of its trees is also what the sweep's adaptive sampling reads. A model's
latency is the sum of its nodes' plus the runtime's per-inference overhead (session call, node
dispatch, what the profiler's events miss), ``a + b * nodes + c * sum``, fitted on the training
graphs (:func:`overhead_fit`).

A fitted predictor is saved under ``results/predictors/`` with its device, runtime (and version),
accelerator, threads, the library versions and the fingerprint of its training set; loading it
for another device or runtime version is refused (:class:`PredictorMismatch`).
"""

from __future__ import annotations

import hashlib
import json
import math
import pickle
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.errors import BenchError
from bench.predictor.nodes import Node

MIN_SAMPLES = 12  # nodes of one operator kind for it to get its own regressor
MIN_MODELS = 3  # zoo models needed before a per-node overhead is fitted
MAX_PER_NODE_MS = 0.01  # the most a node adds to (or a profiler adds to) a whole model's time
MAX_SHARE = 0.3  # the largest share of the nodes' time their profiler may miss (or add)
FLOOR_MS = 0.0005  # below the profilers' resolution (LiteRT reports whole microseconds)
FEATURES = ("log_macs", "log_in_bytes", "log_out_bytes", "log_weights", "kernel", "stride", "log_groups",
            "depthwise", "log_cin", "log_cout", "activation", "rank", "log_spatial", "log_inner_run", "swap",
            "in_order")  # fmt: skip
# what a saved predictor's forests take as input: a file fitted on another feature set (an older
# bench) is refused on loading, as one for another runtime version is
FEATURE_SET = ",".join(FEATURES)


class PredictorMismatch(BenchError):
    """A saved predictor was fitted for another device, runtime, runtime version or library version."""


def work(node: Node) -> float:
    """What a node's time scales with: its MACs, else its activation bytes / 4 (elements of fp32), at least 1."""
    return float(max(node.macs, (node.in_bytes + node.out_bytes) / 4, 1))


def features(node: Node) -> list[float]:
    """The node's feature vector, in :data:`FEATURES` order."""
    spatial = math.prod(node.out_shape[2:]) if len(node.out_shape) == 4 else 1
    return [
        math.log1p(node.macs),
        math.log1p(node.in_bytes),
        math.log1p(node.out_bytes),
        math.log1p(node.weights),
        float(node.kernel),
        float(node.stride),
        math.log1p(node.groups),
        float(node.groups > 1 and node.groups == node.cin),
        math.log1p(node.cin),
        math.log1p(node.cout),
        float(node.activation),
        float(len(node.out_shape)),
        math.log1p(spatial),
        math.log1p(inner_run(node)),
        *movement(node),
    ]


def inner_run(node: Node) -> int:
    """Elements the node can copy as one contiguous run: the product of the trailing dimensions its
    input and output share (a Transpose that keeps the last axis moves rows of it; one that moves
    the last axis gathers single elements, several times slower per byte). The permutation itself
    is not in the node's record; equal trailing sizes stand for it."""
    run = 1
    for a, b in zip(reversed(node.in_shape), reversed(node.out_shape), strict=False):
        if a != b:
            break
        run *= int(a)
    return run


def movement(node: Node) -> tuple[float, float]:
    """How a node that moves data (Transpose, and any node whose output holds its input's
    elements) moves them, from its input and output shapes (the permutation is not in the
    record): ``swap``: 1 when the output is the input with two adjacent groups of axes swapped
    (``[A, B, C, D] -> [A, C, B, D]``: a batched 2-D transpose, which runtimes run as a blocked
    copy; NHWC <-> NCHW is one), ``in_order``: 1 when the axes larger than 1 keep their order
    (only unit axes move: a copy or a reshape in disguise). Both 0 otherwise: a general
    permutation, several times slower per element."""
    a, b = tuple(node.in_shape), tuple(node.out_shape)
    if not a or math.prod(a) != math.prod(b) or len(a) != len(b):
        return 0.0, 0.0
    in_order = float([d for d in a if d != 1] == [d for d in b if d != 1])
    n = len(a)
    for i in range(n):
        for j in range(i + 1, n):
            for k in range(j + 1, n + 1):
                if a[:i] + a[j:k] + a[i:j] + a[k:] == b:
                    return 1.0, in_order
    return 0.0, in_order


@dataclass
class Graph:
    """One profiled model file: its nodes (each with ``ms``) and its whole-model median ``total_ms``.
    ``family``: the zoo family (for leave-one-family-out), ``kernel:<space>`` for a sweep kernel."""

    name: str
    family: str
    nodes: list[Node]
    total_ms: float
    macs: int = 0

    @property
    def nodes_ms(self) -> float:
        return sum(n.ms or 0.0 for n in self.nodes)


def fingerprint(graphs: list[Graph]) -> str:
    """sha256 of the training set: each graph's name, node count and measured total, sorted."""
    items = sorted((g.name, len(g.nodes), round(g.total_ms, 6)) for g in graphs)
    return hashlib.sha256(json.dumps(items).encode()).hexdigest()


def overhead_fit(graphs: list[Graph]) -> tuple[float, float, float]:
    """``(a, b, c)``: what a whole model takes beyond its profiled nodes' sum ``S`` over ``n``
    nodes, ``a + b * n + c * S`` ms.

    ``a`` (the session call, at least 0) is the median excess of the sweep's kernels (a node or a
    few each). ``b`` (dispatch per node; negative where the profiler's own cost per node outweighs
    it, as onnxruntime's does) and ``c`` (the share of the nodes' own time their events miss: LiteRT's
    XNNPACK operator events leave out about 4%) come from the zoo models, :data:`MIN_MODELS` or
    more (else 0): a Huber regression (scikit-learn's ``HuberRegressor``) of each model's excess
    beyond ``a`` relative to its total, so that a model measured while something else ran weighs
    as one outlier, not as its milliseconds. ``b`` is kept within +/-:data:`MAX_PER_NODE_MS` and
    ``c`` within +/-:data:`MAX_SHARE` (a 5 ms excess over 56 nodes would add 35 ms to a 500-node
    model). On the full suite, leave-one-family-out, measured node times plus this overhead came
    within 10% of every LiteRT model's measured total (mean error 1.1%); with ``a + b * n`` alone,
    87% (EdgeViT, MobileViT-XXS, STViT-DeiT-T off by 10-15%)."""
    kernels = [g for g in graphs if g.family.startswith("kernel:")] or graphs
    a = max(float(np.median([g.total_ms - g.nodes_ms for g in kernels])), 0.0)
    models = [g for g in graphs if not g.family.startswith("kernel:") and g.nodes and g.total_ms > 0]
    if len(models) < MIN_MODELS:
        return a, 0.0, 0.0
    from sklearn.linear_model import HuberRegressor

    x = np.array([[len(g.nodes) / g.total_ms, g.nodes_ms / g.total_ms] for g in models])
    y = np.array([(g.total_ms - g.nodes_ms - a) / g.total_ms for g in models])
    b, c = HuberRegressor(fit_intercept=False).fit(x, y).coef_
    return a, float(np.clip(b, -MAX_PER_NODE_MS, MAX_PER_NODE_MS)), float(np.clip(c, -MAX_SHARE, MAX_SHARE))


# leaves of 3 nodes (2 below 40 samples) and half the features per split: the profiler's noise is
# not fitted (one node's time in one model varies by 2x between its runs); leave-one-family-out on
# the full onnxruntime suite, against leaves of 1 and every feature: MAPE 5.6% against 6.2%
FOREST = {"n_estimators": 100, "min_samples_leaf": 3, "max_features": 0.5}


def _forest(n: int):
    from sklearn.ensemble import RandomForestRegressor

    settings = {**FOREST, "min_samples_leaf": FOREST["min_samples_leaf"] if n > 40 else 2}
    return RandomForestRegressor(**settings, random_state=0, n_jobs=1)


@dataclass
class Predictor:
    """A fitted predictor (see the module's docstring); ``meta`` says what for and from what."""

    meta: dict
    per_op: dict = field(default_factory=dict)  # op -> fitted forest
    general: object = None  # forest over every node, operator kind one-hot
    ops: list[str] = field(default_factory=list)  # the one-hot order of ``general``
    overhead: tuple[float, float, float] = (0.0, 0.0, 0.0)  # ms per inference, ms per node, share of the nodes' sum

    @classmethod
    def fit(cls, graphs: list[Graph], meta: dict) -> Predictor:
        """Fit on ``graphs`` (each node with a measured ``ms``). Raises BenchError without nodes."""
        nodes = [n for g in graphs for n in g.nodes if n.ms is not None]
        if not nodes:
            raise BenchError("no profiled nodes to fit a predictor on")
        ops = sorted({n.op for n in nodes})
        predictor = cls(meta={**meta, "fingerprint": fingerprint(graphs), "graphs": len(graphs), "nodes": len(nodes),
                              "families": sorted({g.family for g in graphs}), "features": FEATURE_SET},
                        ops=ops)  # fmt: skip
        y = np.array([math.log(max(n.ms, FLOOR_MS) / work(n)) for n in nodes])
        x = np.array([features(n) for n in nodes])
        predictor.general = _forest(len(nodes)).fit(np.hstack([x, predictor._one_hot(nodes)]), y)
        for op in ops:
            mask = np.array([n.op == op for n in nodes])
            if mask.sum() >= MIN_SAMPLES:
                predictor.per_op[op] = _forest(int(mask.sum())).fit(x[mask], y[mask])
        predictor.overhead = overhead_fit(graphs)
        predictor.meta["regressor"] = (
            f"RandomForestRegressor({', '.join(f'{k}={v}' for k, v in FOREST.items())}) per operator kind "
            f"with >= {MIN_SAMPLES} nodes ({len(predictor.per_op)} kinds), one over all nodes for the rest; "
            "target log(ms / work)"
        )
        return predictor

    def _one_hot(self, nodes: list[Node]) -> np.ndarray:
        index = {op: k for k, op in enumerate(self.ops)}
        out = np.zeros((len(nodes), len(self.ops)))
        for row, n in enumerate(nodes):
            if n.op in index:
                out[row, index[n.op]] = 1.0
        return out

    def predict_nodes(self, nodes: list[Node]) -> np.ndarray:
        """Predicted ms per inference of each node, in order."""
        if not nodes:
            return np.zeros(0)
        x = np.array([features(n) for n in nodes])
        y = self.general.predict(np.hstack([x, self._one_hot(nodes)]))
        for op, forest in self.per_op.items():
            mask = np.array([n.op == op for n in nodes])
            if mask.any():
                y[mask] = forest.predict(x[mask])
        return np.exp(y) * np.array([work(n) for n in nodes])

    def overhead_ms(self, node_ms: np.ndarray) -> float:
        """What the model takes beyond its nodes' predicted times (:func:`overhead_fit`)."""
        a, b, c = self.overhead
        return a + b * len(node_ms) + c * float(node_ms.sum())

    def total_ms(self, node_ms: np.ndarray) -> float:
        """The whole model's predicted median ms from its nodes' (:meth:`predict_nodes`): their sum
        plus the overhead, never below half their sum."""
        total = float(node_ms.sum())
        return max(total + self.overhead_ms(node_ms), 0.5 * total)

    def predict(self, nodes: list[Node]) -> float:
        """Predicted median ms per inference of a model made of ``nodes`` (:meth:`total_ms`)."""
        return self.total_ms(self.predict_nodes(nodes))

    # --- files --------------------------------------------------------------------------------

    def save(self, path: Path) -> Path:
        """Write the predictor (pickle) and its ``meta`` beside it as ``<path>.json``; returns ``path``."""
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(".part")
        partial.write_bytes(pickle.dumps(self))
        partial.replace(path)
        path.with_suffix(".json").write_text(json.dumps(self.meta, indent=2, sort_keys=True))
        return path

    @classmethod
    def load(cls, path: Path, expect: dict) -> Predictor:
        """The predictor saved at ``path``, checked against ``expect`` (device, runtime,
        runtime_version, accelerator, threads) and this machine's scikit-learn. Raises
        PredictorMismatch naming what differs, BenchError for an unreadable file. The file is a
        pickle this program wrote under its results folder; never load one from elsewhere."""
        meta_path = path.with_suffix(".json")
        try:
            meta = json.loads(meta_path.read_text())
        except (OSError, ValueError) as exc:
            raise BenchError(f"cannot read predictor {meta_path}: {exc}") from None
        if not isinstance(meta, dict) or not {"device", "runtime", "fingerprint"} <= set(meta):
            raise BenchError(f"{meta_path} is not a bench predictor's description (retrain to replace it)")
        import sklearn

        wanted = {**expect, "sklearn": sklearn.__version__, "features": FEATURE_SET}
        for key, value in wanted.items():
            if str(meta.get(key)) != str(value):
                raise PredictorMismatch(
                    f"predictor {path.name} was trained for {key} {meta.get(key)}, not {value}; "
                    f"train one with `bench predictor train --device {expect.get('device')} "
                    f"--runtime {expect.get('runtime')}`"
                )
        try:
            predictor = pickle.loads(path.read_bytes())  # noqa: S301 - our own file, checked above
        except Exception as exc:  # noqa: BLE001 - a damaged file
            raise BenchError(f"cannot read predictor {path}: {type(exc).__name__}: {exc}") from None
        if not isinstance(predictor, Predictor) or predictor.meta.get("fingerprint") != meta["fingerprint"]:
            raise BenchError(f"{path} is not the predictor its description {meta_path.name} describes (retrain it)")
        return predictor


def predictor_path(results: Path, device: str, runtime: str, accelerator: str, threads: int) -> Path:
    """``results/predictors/<device>-<runtime>-<accelerator>-x<threads>.pkl``."""
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in device)
    return results / "predictors" / f"{safe}-{runtime}-{accelerator}-x{threads}.pkl"


def flops_baseline(graphs: list[Graph]) -> tuple[float, float]:
    """The MACs-only predictor: ``ms = a + b * MACs`` by least squares over ``graphs`` (a >= 0)."""
    x = np.array([[1.0, g.macs] for g in graphs])
    y = np.array([g.total_ms for g in graphs])
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    return max(float(coef[0]), 0.0), float(coef[1])
