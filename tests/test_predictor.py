"""Latency prediction (#22): the nodes runtimes really run, a predictor fitted on a kernel sweep,
`bench predictor train|evaluate` and `bench predict`."""

from __future__ import annotations

import itertools
import json
import math
import os
import pickle
import random
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import ROOT, assert_one_line_error

from bench.errors import BenchError
from bench.predictor.kernels import SPACES
from bench.predictor.model import Graph, Predictor, PredictorMismatch, predictor_path
from bench.predictor.nodes import Node, NodeProfile
from bench.predictor.sweep import INITIAL, KernelSweep

# --- a synthetic latency law: what the predictor must learn -------------------------------------


def law_ms(node: Node) -> float:
    """Each operator kind at its own throughput, slower for small layers (a fixed cost per node)."""
    per_unit = {"Conv": 0.5e-6, "MatMul": 0.4e-6, "Add": 2e-6}[node.op]  # ms per MAC / per element
    units = node.macs if node.macs else node.out_bytes / 4
    return 0.003 + per_unit * units * (1.3 if node.groups > 1 else 1.0)


def conv(c_in: int, c_out: int, hw: int, k: int, groups: int = 1) -> Node:
    out = (1, c_out, hw, hw)
    macs = c_out * hw * hw * (c_in // groups) * k * k
    return Node(f"conv{c_in}x{c_out}x{hw}x{k}", "Conv", (1, c_in, hw, hw), out, 4 * c_in * hw * hw,
                4 * c_out * hw * hw, weights=c_out * c_in // groups * k * k, kernel=k * k, groups=groups, cin=c_in,
                cout=c_out, macs=macs)  # fmt: skip


def matmul(tokens: int, c_in: int, c_out: int) -> Node:
    return Node(f"mm{tokens}x{c_in}x{c_out}", "MatMul", (1, tokens, c_in), (1, tokens, c_out), 4 * tokens * c_in,
                4 * tokens * c_out, weights=c_in * c_out, cin=c_in, cout=c_out, macs=tokens * c_in * c_out)  # fmt: skip


def add(elements: int) -> Node:
    return Node(f"add{elements}", "Add", (1, elements), (1, elements), 8 * elements, 4 * elements)


def graph_of(name: str, nodes: list[Node], family: str) -> Graph:
    timed = [Node.from_dict({**n.to_dict(), "ms": law_ms(n)}) for n in nodes]
    total = sum(n.ms for n in timed) + 0.05 + 0.001 * len(timed)  # the runtime's call and dispatch overhead
    return Graph(name, family, timed, total, sum(n.macs for n in timed))


def synthetic_sweep(rng: random.Random, count: int) -> list[Graph]:
    graphs = []
    for k in range(count):
        c_in, c_out = rng.choice([16, 32, 64, 128, 256]), rng.choice([16, 32, 64, 128, 256])
        hw, size = rng.choice([7, 14, 28, 56]), rng.choice([1, 3, 5])
        graphs.append(graph_of(f"conv{k}", [conv(c_in, c_out, hw, size)], "kernel:conv"))
        graphs.append(graph_of(f"dw{k}", [conv(c_in, c_in, hw, size, groups=c_in)], "kernel:dwconv"))
        tokens, width = rng.choice([16, 49, 196, 785]), rng.choice([64, 128, 256, 512])
        graphs.append(graph_of(f"mm{k}", [matmul(tokens, width, rng.choice([64, 256, 1024]))], "kernel:linear"))
        graphs.append(graph_of(f"add{k}", [add(tokens * width)], "kernel:elementwise"))
        block = [matmul(tokens, width, 4 * width), add(tokens * 4 * width), matmul(tokens, 4 * width, width)]
        graphs.append(graph_of(f"mlp{k}", block, "kernel:mlp"))  # several nodes: the overhead per node shows
    return graphs


def test_a_predictor_fitted_on_a_synthetic_sweep_predicts_a_held_out_model_within_5_percent() -> None:
    predictor = Predictor.fit(synthetic_sweep(random.Random(0), 60), {"device": "host"})
    # a held-out model: configurations the sweep did not take, in sizes between those it did
    nodes = [conv(3, 24, 56, 3), conv(24, 24, 56, 3, groups=24), conv(24, 48, 28, 1), add(24 * 56 * 56),
             conv(48, 96, 14, 3), conv(96, 96, 14, 5, groups=96), matmul(196, 96, 384), matmul(196, 384, 96),
             add(196 * 96), matmul(1, 96, 1000)]  # fmt: skip
    held_out = graph_of("held_out", nodes, "user")
    predicted = predictor.predict(held_out.nodes)
    assert abs(predicted / held_out.total_ms - 1) < 0.05, (predicted, held_out.total_ms)
    a, b, c = predictor.overhead
    assert a == pytest.approx(0.05, abs=0.02) and b == pytest.approx(0.001, abs=0.001)
    assert c == pytest.approx(0.0, abs=0.02)  # the synthetic profiler misses nothing of a node's own time


def test_a_model_is_never_predicted_below_half_its_nodes_and_predict_agrees_with_total_ms() -> None:
    predictor = Predictor.fit(synthetic_sweep(random.Random(4), 10), {})
    nodes = [conv(32, 64, 28, 3), add(64 * 28 * 28)]
    times = predictor.predict_nodes(nodes)
    assert predictor.predict(nodes) == predictor.total_ms(times) > times.sum()
    predictor.overhead = (0.0, -10.0, 0.0)  # a per-node overhead that would make the model negative
    assert predictor.predict(nodes) == predictor.total_ms(times) == pytest.approx(0.5 * times.sum())


def test_the_overhead_learns_the_share_of_node_time_a_profiler_misses_and_ignores_one_disturbed_model() -> None:
    from bench.predictor.model import overhead_fit

    kernels = synthetic_sweep(random.Random(1), 5)  # 0.05 ms per call, 1 us per node
    models = []
    for k, size in enumerate((8, 16, 24, 32, 48, 64, 96)):
        nodes = [conv(size, size, 28, 3), conv(size, 2 * size, 14, 1), add(size * 196)] * (k + 2)
        g = graph_of(f"model{k}", nodes, f"family{k % 3}")
        # the profiler's events miss 4% of each node's own time (as LiteRT's XNNPACK events do)
        models.append(Graph(g.name, g.family, g.nodes, g.total_ms + 0.04 * g.nodes_ms, g.macs))
    a, b, c = overhead_fit(kernels + models)
    assert (a, b, c) == (pytest.approx(0.05, abs=0.01), pytest.approx(0.001, abs=2e-4), pytest.approx(0.04, abs=0.01))
    slow = models[-1]  # one model measured while something else ran: 50% slower in all
    disturbed = [*models[:-1], Graph(slow.name, slow.family, slow.nodes, 1.5 * slow.total_ms, slow.macs)]
    assert overhead_fit(kernels + disturbed)[2] == pytest.approx(0.04, abs=0.02)
    assert overhead_fit(kernels + models[:2]) == (pytest.approx(a), 0.0, 0.0)  # too few models: call cost only


def test_a_saved_predictor_is_refused_for_another_device_runtime_version_or_library(tmp_path: Path) -> None:
    import sklearn

    meta = {"device": "host", "runtime": "onnxruntime", "runtime_version": "1.32.0", "accelerator": "cpu",
            "threads": 1, "sklearn": sklearn.__version__}  # fmt: skip
    path = Predictor.fit(synthetic_sweep(random.Random(1), 10), meta).save(tmp_path / "p.pkl")
    expect = {k: meta[k] for k in ("device", "runtime", "runtime_version", "accelerator", "threads")}
    assert Predictor.load(path, expect).meta["fingerprint"]
    for key, other in (("device", "pixel6"), ("runtime_version", "1.31.0"), ("threads", 4)):
        with pytest.raises(PredictorMismatch, match=f"trained for {key} .*, not {other}"):
            Predictor.load(path, {**expect, key: other})
    # a predictor an older bench fitted on other node features (its forests take fewer columns)
    older = json.loads(path.with_suffix(".json").read_text())
    older["features"] = "log_macs,log_in_bytes,log_out_bytes"
    path.with_suffix(".json").write_text(json.dumps(older))
    with pytest.raises(PredictorMismatch, match="trained for features log_macs,log_in_bytes,log_out_bytes, not"):
        Predictor.load(path, expect)
    del older["features"]  # one saved before the feature set was recorded
    path.with_suffix(".json").write_text(json.dumps(older))
    with pytest.raises(PredictorMismatch, match="trained for features None, not log_macs"):
        Predictor.load(path, expect)


def node_moving(in_shape: tuple[int, ...], out_shape: tuple[int, ...]) -> Node:
    size = 4 * math.prod(in_shape)
    return Node("t", "Transpose", in_shape, out_shape, size, size)


def test_data_movement_is_told_apart_by_how_the_axes_move() -> None:
    from bench.predictor.model import inner_run, movement

    # NHWC -> NCHW and tokens <-> channels: two groups of axes swapped, a blocked 2-D transpose
    assert movement(node_moving((1, 28, 28, 96), (1, 96, 28, 28))) == (1.0, 0.0)
    assert movement(node_moving((1, 196, 2, 48), (1, 2, 196, 48))) == (1.0, 0.0)
    assert inner_run(node_moving((1, 196, 2, 48), (1, 2, 196, 48))) == 48  # rows of 48 stay whole
    # MobileViT's unfold: the innermost axis moves to the middle, a general permutation
    assert movement(node_moving((1, 4, 256, 96), (1, 96, 256, 4))) == (0.0, 0.0)
    assert inner_run(node_moving((1, 4, 256, 96), (1, 96, 256, 4))) == 1
    # only a unit axis moves: the elements keep their order (a copy)
    assert movement(node_moving((1, 196, 1, 48), (1, 1, 196, 48)))[1] == 1.0
    assert movement(node_moving((1, 64), (64, 1))) == (1.0, 1.0)
    assert movement(Node("c", "Conv", (1, 3, 8, 8), (1, 16, 8, 8), 768, 4096)) == (0.0, 0.0)  # not a movement


def test_the_reference_brackets_a_measurement_with_the_mean_of_before_and_after() -> None:
    from bench.predictor.sweep import ReferenceProbe
    from bench.profiling.runtimes import _median_ms

    probe = ReferenceProbe.__new__(ReferenceProbe)  # without exporting its model: the timing rule only
    probe.runs, probe._median = 5, _median_ms
    pause = [0.002]
    probe._run = lambda: time.sleep(pause[0])

    def measure(beside) -> NodeProfile:
        pause[0] = 0.010  # the machine slowed down while the model ran ...
        for _ in range(3):
            beside()  # ... which the reference timed between the model's runs sees
        pause[0] = 0.006  # ... and still slow after it: the reference after it sees it
        return NodeProfile([], 10.0, 1)

    profile = probe.around(measure)
    assert profile.total_ms == 10.0 and 3.5 < profile.reference_ms < 5.5  # (2 + 6) / 2 ms, and sleep's overshoot
    assert 9.5 < profile.reference_during_ms < 11.5 and len(probe.during) == 3


# --- the adaptive sweep -----------------------------------------------------------------------


def test_the_sweep_measures_every_kernel_then_samples_next_to_its_worst_predicted_configuration() -> None:
    spaces = {name: SPACES[name] for name in ("conv", "linear")}
    order: list[tuple[str, dict]] = []

    def measure(space, config) -> NodeProfile:
        time.sleep(0.005)
        # a latency with a cliff the random forest predicts worst: large channel counts are 10x slower
        ms = 0.01 * math.prod(v for v in config.values() if v) ** 0.3 * (10 if config.get("cin", 0) >= 256 else 1)
        order.append((space.name, config))
        return NodeProfile([], ms, 1)

    sweep = KernelSweep(measure, budget_s=1.0, spaces=spaces, seed=3)
    count = sweep.run()
    assert count == len(order) > 2 * INITIAL
    assert [name for name, _ in order[: 2 * INITIAL]] == ["conv", "linear"] * INITIAL  # every kernel early
    labels = [spaces[n].label(c) for n, c in order]
    assert len(set(labels)) == len(labels)  # never the same configuration twice

    def one_step_from_earlier(k: int) -> bool:
        name, config = order[k]
        grid = spaces[name].grid
        for earlier_name, earlier in order[:k]:
            if earlier_name != name:
                continue
            steps = [abs(grid[p].index(config[p]) - grid[p].index(earlier[p])) for p in grid]
            if sorted(steps)[-1] == 1 and steps.count(1) == 1:
                return True
        return False

    adaptive = range(2 * INITIAL, len(order))
    assert sum(one_step_from_earlier(k) for k in adaptive) >= 0.8 * len(adaptive)


def test_adaptive_turns_are_shared_by_grid_size_before_going_to_the_worst_predicted_kernel() -> None:
    spaces = {name: SPACES[name] for name in ("conv", "layout")}  # 6 parameters against 2
    sweep = KernelSweep(lambda *_: NodeProfile([], 1.0, 1), budget_s=10, spaces=spaces, seed=0)
    rng = random.Random(0)

    def sampled(name: str, count: int, noisy: bool) -> None:
        while len(sweep.samples[name]) < count:
            config = sweep._random(spaces[name])
            sweep.tried.add(spaces[name].label(config))
            sweep.samples[name].append((config, rng.uniform(0.1, 10) if noisy else 1.0))

    sampled("conv", 2 * INITIAL, noisy=False)  # 8 samples, 1.3 per parameter: predicted well
    sampled("layout", INITIAL, noisy=True)  # 4 samples, 2 per parameter: predicted badly
    assert sweep._worst("layout")[0] > sweep._worst("conv")[0]
    assert sweep.next_config()[0].name == "conv"  # fewer samples per parameter goes first
    sampled("conv", 3 * INITIAL, noisy=False)  # 12 samples, 2 per parameter: a tie, the worse-predicted first
    assert sweep.next_config()[0].name == "layout"
    sampled("conv", 4 * INITIAL, noisy=False)
    assert sweep.next_config()[0].name == "layout"


def test_the_sweep_stops_within_its_budget() -> None:
    spaces = {"layernorm": SPACES["layernorm"]}
    spans: list[tuple[float, float]] = []

    def measure(space, config) -> NodeProfile:
        began = time.monotonic()
        time.sleep(0.1)
        spans.append((began, time.monotonic()))
        return NodeProfile([], 1.0, 1)

    start = time.monotonic()
    count = KernelSweep(measure, budget_s=0.5, spaces=spaces).run()
    stopped = time.monotonic()
    # a kernel starts only while the one before it, taken again, would still end within the budget
    # (the rule is checked on the times this run really took: a busy machine stretches them)
    assert count == len(spans) >= 2
    assert all(end - start + (end - began) <= 0.5 for began, end in spans[:-1])
    last_began, last_end = spans[-1]
    assert stopped - start + (last_end - last_began) > 0.45  # and it stops when the next one would not fit


def test_a_budget_shorter_than_one_kernel_of_each_kind_still_measures_each_kind_once() -> None:
    spaces = {name: SPACES[name] for name in ("conv", "linear", "layernorm")}
    seen: list[str] = []

    def measure(space, config) -> NodeProfile:
        time.sleep(0.1)  # a busy machine: the budget is spent on the first kernel
        if space.name == "linear":
            raise BenchError("the converter failed")
        seen.append(space.name)
        return NodeProfile([], 1.0, 1)

    assert KernelSweep(measure, budget_s=0.05, spaces=spaces).run() == 2 and seen == ["conv", "layernorm"]
    sweep = KernelSweep(measure, budget_s=0.05, spaces=spaces)
    sweep.samples["conv"].append(({}, 1.0))  # a kind an earlier sweep measured is not measured again
    assert sweep.run() == 1 and seen[2:] == ["layernorm"]  # and a failed kind is tried once only
    assert KernelSweep(measure, budget_s=0, spaces=spaces).run() == 0  # a budget of 0 reuses only
    shift = SPACES["shift"]  # a kind with nothing left to try (every configuration stored) ends the sweep too
    every = {shift.label(dict(zip(shift.grid, v, strict=True))) for v in itertools.product(*shift.grid.values())}
    sweep = KernelSweep(measure, budget_s=0.05, spaces={"shift": shift, "conv": SPACES["conv"]}, done=every)
    assert sweep.run() == 1 and seen[-1] == "conv"


# --- nodes as the runtimes run them -------------------------------------------------------------


@pytest.fixture(scope="module")
def mobilenet_files(tmp_path_factory, zoo_artifacts: Path) -> dict[str, Path]:
    """mobilenetv2_100 as onnxruntime's predictor reads it (the profiling export) and its TFLite artifact."""
    import os

    from conftest import share_zoo_artifacts

    from bench.predictor.sweep import model_file

    results = share_zoo_artifacts(tmp_path_factory.mktemp("predictor-results"), zoo_artifacts)
    folder = tmp_path_factory.mktemp("mobilenet")
    saved = os.environ.get("BENCH_RESULTS")
    os.environ["BENCH_RESULTS"] = str(results)
    try:
        return {"onnx": model_file("mobilenetv2_100", "onnxruntime", folder),
                "tflite": model_file("mobilenetv2_100", "litert", folder)}  # fmt: skip
    finally:
        if saved is None:
            del os.environ["BENCH_RESULTS"]
        else:
            os.environ["BENCH_RESULTS"] = saved


@pytest.mark.parametrize("runtime", ["onnxruntime", "litert"])
def test_3d_and_transposed_convolutions_carry_their_multiply_adds(runtime: str, tmp_path: Path) -> None:
    import torch

    from bench.predictor.nodes import node_profile
    from bench.predictor.sweep import export_kernel

    class VideoThenUpsampling(torch.nn.Module):  # VAST's 3-D pointwise layer, EdgeViT's upsampling
        def __init__(self) -> None:
            super().__init__()
            self.pointwise = torch.nn.Conv3d(8, 16, 1, bias=False)
            self.up = torch.nn.ConvTranspose2d(16, 12, 2, stride=2)

        def forward(self, x):
            return self.up(self.pointwise(x).mean(2))

    path = export_kernel(VideoThenUpsampling(), (1, 8, 4, 14, 14), runtime, tmp_path)
    nodes = node_profile(runtime, path).nodes
    macs = {n.op: n.macs for n in nodes if n.macs}
    conv3d = 16 * 4 * 14 * 14 * 8  # output elements x input channels
    up = 16 * 14 * 14 * 12 * 2 * 2  # each input element spreads over a 2x2 kernel of 12 channels
    assert macs == ({"Conv": conv3d, "ConvTranspose": up} if runtime == "onnxruntime"
                    else {"CONV_3D": conv3d, "TRANSPOSE_CONV": up}), nodes  # fmt: skip


@pytest.mark.slow
def test_nodes_read_from_the_onnx_file_are_the_nodes_onnxruntime_profiles(mobilenet_files, tmp_path: Path) -> None:
    import onnxruntime as ort

    from bench.flops import count_macs
    from bench.predictor.nodes import onnx_node_profile
    from export.source import resolve

    nodes = onnx_node_profile(mobilenet_files["onnx"]).nodes
    # the profiler of a session opened here with onnxruntime's own API, as the agent opens it
    options = ort.SessionOptions()
    options.enable_profiling, options.profile_file_prefix = True, str(tmp_path / "p")
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(mobilenet_files["onnx"]), options, providers=["CPUExecutionProvider"])
    import numpy as np

    session.run(None, {session.get_inputs()[0].name: np.zeros((1, 3, 224, 224), np.float32)})
    events = json.loads(Path(session.end_profiling()).read_text())
    profiled = {e["name"].removesuffix("_kernel_time"): e["args"]["op_name"]
                for e in events if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")}  # fmt: skip
    assert {n.name: n.op.removeprefix("nchwc.") for n in nodes} == profiled
    assert sum(n.op.endswith("Conv") for n in nodes) == 52  # mobilenetv2: BN and ReLU6 fused into its 52 convs
    # the multiply-adds of the convolutions and the classifier as onnxruntime runs them: MobileNetV2
    # 1.0 has 300M (arXiv:1801.04381, Table 4), read as 300.8M on an AVX2 host (8-channel NCHWc
    # blocks). On AVX-512 onnxruntime's NCHWc blocks are 16 channels, and a 24-channel layer is padded
    # to 32: earlier clean-clone CIs on such a host read within 2% of 314.2M (this model's count_macs)
    total = sum(n.macs for n in nodes)
    assert 300e6 * 0.995 <= total <= 300e6 * 1.06, total
    spec = resolve("mobilenetv2_100")
    assert total <= count_macs(spec.build(), spec.input_shape).macs * 1.001


def test_tflite_nodes_are_the_files_operators_and_their_profiled_times_add_up(mobilenet_files) -> None:
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    from bench.predictor.nodes import tflite_node_profile

    profile = tflite_node_profile(mobilenet_files["tflite"], runs=20)  # medians over 0.2 s: a burst does not move them
    model = flatbuffer_utils.read_model(str(mobilenet_files["tflite"]))
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    codes = [model.operatorCodes[op.opcodeIndex] for op in model.subgraphs[0].operators]
    assert [n.op for n in profile.nodes] == [names[max(c.builtinCode, c.deprecatedBuiltinCode)] for c in codes]
    assert sum(n.op in ("CONV_2D", "DEPTHWISE_CONV_2D") for n in profile.nodes) == 52
    assert 0.5 < profile.nodes_ms / profile.total_ms < 1.3, (profile.nodes_ms, profile.total_ms)


# --- the commands -----------------------------------------------------------------------------


@pytest.mark.slow
def test_predict_without_a_trained_predictor_names_the_command_that_trains_one(bench_here) -> None:
    result = bench_here("predict", "mobilenetv2_100", "--runtime", "litert")
    assert_one_line_error(result, "no latency predictor for host / litert / cpu x1",
                          "bench predictor train --device host --runtime litert")  # fmt: skip


@pytest.mark.slow
def test_predict_refuses_a_predictor_trained_for_another_runtime_version(bench_here, results_dir: Path) -> None:
    import sklearn

    meta = {"device": "host", "runtime": "onnxruntime", "runtime_version": "1.20.0", "accelerator": "cpu",
            "threads": 1, "sklearn": sklearn.__version__}  # fmt: skip
    Predictor.fit(synthetic_sweep(random.Random(2), 5), meta).save(
        predictor_path(results_dir, "host", "onnxruntime", "cpu", 1)
    )
    result = bench_here("predict", "mobilenetv2_100")
    assert_one_line_error(result, "trained for runtime_version 1.20.0, not 1.32.0",
                          "bench predictor train --device host --runtime onnxruntime")  # fmt: skip


@pytest.mark.slow
def test_prediction_is_refused_where_it_cannot_be_made(bench_here) -> None:
    assert_one_line_error(
        bench_here("predictor", "train", "--runtime", "coreml"), "supports runtimes onnxruntime, litert"
    )
    # a phone: LiteRT only (the graph onnxruntime runs depends on the device's CPU), with its benchmark_model
    assert_one_line_error(bench_here("predictor", "train", "--device", "pixel6"), "covers LiteRT only")
    assert_one_line_error(
        bench_here("predictor", "train", "--device", "pixel6", "--runtime", "litert"), "has no benchmark_model"
    )
    assert_one_line_error(bench_here("predictor", "train", "--accelerator", "gpu"), "CPU only")
    assert_one_line_error(bench_here("predictor", "train", "--budget", "nan"), "--budget must be a number of minutes")
    assert_one_line_error(bench_here("predictor", "evaluate"), "at least two families", "--zoo")
    assert_one_line_error(bench_here("predict", "mobilenetv2_100", "-f", "onnx", "--runtime", "litert"),
                          "litert runs tflite, not onnx")  # fmt: skip
    assert_one_line_error(bench_here("predict", "mobilenetv2_100", "-f", "mlpackage"), "supports formats onnx, tflite")
    # the format picks the runtime: no LiteRT predictor here yet
    assert_one_line_error(bench_here("predict", "mobilenetv2_100", "-f", "tflite"), "host / litert / cpu x1")


@pytest.fixture(scope="module")
def swept(tmp_path_factory) -> tuple[Path, dict]:
    """One kernel sweep for the module: ``bench predictor train --budget 0.25 --runs 3 --json`` in a
    results folder of its own (about 30 s of CPU); returns the folder and the command's JSON."""
    folder = tmp_path_factory.mktemp("swept")
    env = {**os.environ, "BENCH_RESULTS": str(folder), "PYTHONWARNINGS": "ignore"}
    argv = [sys.executable, "-m", "bench.cli", "predictor", "train", "--budget", "0.25", "--runs", "3", "--json"]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    return folder, json.loads(done.stdout)


def trained_here(swept: tuple[Path, dict], results: Path) -> dict:
    """The module's sweep copied into ``results`` (its store and predictor, as that command left
    them in its own folder); returns the sweep's JSON with its predictor's path in ``results``."""
    folder, result = swept
    for file in folder.glob("bench.sqlite*"):  # with a write-ahead log, should the process have left one
        shutil.copy(file, results / file.name)
    shutil.copytree(folder / "predictors", results / "predictors")
    return {**result, "path": str(results / Path(result["path"]).relative_to(folder))}


@pytest.mark.slow
def test_train_predict_and_report_keep_kernels_and_predictions_apart_from_measurements(
    bench_cli, results_dir: Path, swept: tuple[Path, dict]
) -> None:
    result = trained_here(swept, results_dir)
    assert result["kernels_measured"] >= 9 and Path(result["path"]).is_file()  # every kernel kind at least once
    store = results_dir / "bench.sqlite"
    with sqlite3.connect(store) as db:
        kinds = dict(db.execute("select kind, count(*) from measurements group by kind").fetchall())
    assert kinds == {"kernel": result["kernels_measured"]}
    assert json.loads(bench_cli("results", "--format", "json").stdout) == []  # kernels are not measurements

    predicted = bench_cli("predict", "mobilenetv2_100", "--json")
    assert predicted.code == 0, predicted.stderr
    (row,) = json.loads(predicted.stdout)
    assert row["predicted_ms"] > 0 and row["nodes"] == 56
    assert sum(b["ms"] for b in row["blocks"]) + row["overhead_ms"] == pytest.approx(row["predicted_ms"])
    blocks = [b["block"] for b in row["blocks"]]  # bench profile's blocks (the stem conv is fused into bn1)
    assert blocks[:2] == ["bn1", "blocks.0.0"] and {"blocks.6.0", "classifier"} <= set(blocks)
    with sqlite3.connect(store) as db:
        (stored,) = db.execute("select model, median_ms from measurements where kind = 'predicted'").fetchall()
    assert stored == ("mobilenetv2_100", pytest.approx(row["predicted_ms"]))
    report = bench_cli("report", "--out", str(results_dir / "report"))
    assert report.code == 0, report.stderr
    html = (results_dir / "report" / "report.html").read_text()
    assert "Predicted latency (not measured)" in html and "mobilenetv2_100" in html

    # a second training reusing the stored kernels (--budget 0): the evaluate test below

    # a user's model at its own input shape, blocks by its own modules
    user = f"{ROOT / 'tests' / 'user_models' / 'digits_models.py'}:convnet"
    (mine,) = json.loads(bench_cli("predict", user, "--input-shape", "1,3,32,32", "--json").stdout)
    assert mine["predicted_ms"] > 0 and mine["model"].endswith("--input-shape 1,3,32,32")

    # a predictor file replaced by another pickle is refused in one line, not used
    path = Path(result["path"])
    path.write_bytes(pickle.dumps({"a": 1}))
    assert_one_line_error(bench_cli("predict", "mobilenetv2_100"), "is not the predictor its description")


@pytest.mark.slow
def test_sigterm_ends_a_training_as_ctrl_c_does_keeping_its_kernels(results_dir: Path) -> None:
    store = results_dir / "bench.sqlite"
    env = {**os.environ, "BENCH_RESULTS": str(results_dir), "PYTHONWARNINGS": "ignore"}
    argv = [sys.executable, "-m", "bench.cli", "predictor", "train", "--budget", "5", "--runs", "3"]
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def kernels() -> int:
        try:
            with sqlite3.connect(store) as db:
                return db.execute("select count(*) from measurements where kind = 'kernel'").fetchone()[0]
        except sqlite3.Error:  # not made yet
            return 0

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and proc.poll() is None and kernels() < 1:
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)  # a cancelled CI job, `kill`
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    assert "interrupted: the kernels and profiles measured so far are stored" in stderr
    with sqlite3.connect(store) as db:
        assert db.execute("select status from runs").fetchall() == [("interrupted",)]  # not left running
    assert kernels() >= 1


@pytest.mark.slow
def test_evaluate_leaves_each_family_out_and_prints_the_macs_only_baseline(
    bench_cli, results_dir: Path, swept: tuple[Path, dict]
) -> None:
    swept_result = trained_here(swept, results_dir)
    kernels = swept_result["kernels_measured"]
    # the zoo's two models profiled into the kernels' store; budget 0: the stored kernels serve
    trained = bench_cli("predictor", "train", "--budget", "0", "--runs", "3", "--zoo", "mobilenetv2_100",
                        "--zoo", "edgevit_xxs", "--json")  # fmt: skip
    assert trained.code == 0, trained.stderr
    again = json.loads(trained.stdout)
    assert sorted(again["profiles_measured"]) == ["edgevit_xxs", "mobilenetv2_100"]
    assert (again["kernels_measured"], again["kernels_reused"]) == (0, kernels)  # stored kernels are reused
    assert again["graphs"] == swept_result["graphs"] + 2  # ... and the two profiles join them
    result = bench_cli("predictor", "evaluate", "--json")
    assert result.code == 0, result.stderr
    evaluation = json.loads(result.stdout)
    rows = {r["model"]: r for r in evaluation["rows"]}
    assert set(rows) == {"edgevit_xxs", "mobilenetv2_100"}
    for r in rows.values():
        assert r["measured_ms"] > 0 and r["predicted_ms"] > 0
        assert r["error"] == pytest.approx(r["predicted_ms"] / r["measured_ms"] - 1)
    summary = evaluation["summary"]
    assert summary["models"] == 2 and 0 <= summary["within_10"] <= 1 and summary["flops_mape"] >= 0
    table = bench_cli("predictor", "evaluate")
    assert "within +/-10%" in table.stdout and "MACs-only baseline" in table.stdout


def test_graphs_measured_while_the_machine_was_slower_are_scaled_to_its_typical_speed(tmp_path: Path) -> None:
    from bench.predictor.sweep import REFERENCE, graph_row, training_graphs
    from bench.results.store import Store

    store = Store(str(tmp_path / "s.sqlite"))
    run_id = store.start_run("host", {}, [])
    node = conv(32, 32, 28, 3)
    for name, ms, reference in (("a", 1.0, 0.5), ("b", 2.0, 1.0), ("c", 1.0, 0.5)):  # "b" ran at half speed
        timed = Node.from_dict({**node.to_dict(), "ms": ms * 0.9})
        profile = NodeProfile([timed], ms, 5, reference_ms=reference)
        store.add_measurement(graph_row(run_id, "kernel", f"kernel:conv({name})", "onnxruntime", "host", 1, profile,
                                        {"kernel": "conv"}))  # fmt: skip
    graphs = {g.name: g for g in training_graphs(store, "host", "onnxruntime", 1)}
    assert graphs["kernel:conv(b)"].total_ms == pytest.approx(1.0)  # scaled to the median reference, 0.5 ms
    assert graphs["kernel:conv(b)"].nodes[0].ms == pytest.approx(0.9)
    assert graphs["kernel:conv(a)"].total_ms == pytest.approx(1.0)
    (row,) = [r for r in store.measurement_rows(kind="kernel") if r["model"] == "kernel:conv(b)"]
    assert row["median_ms"] == 2.0 and row["settings"]["reference"] == REFERENCE  # stored as measured


@pytest.mark.slow
def test_a_predictor_trained_on_the_phone_through_benchmark_model_predicts_for_it_without_it(
    bench_cli, emulated_pixel, results_dir: Path
) -> None:
    phone = ["--device-file", str(emulated_pixel.profile), "--runtime", "litert"]
    truth = emulated_pixel.root / "sim/op_profiles.jsonl"  # SIMULATION: one line per profiled run on the phone
    # a budget shorter than one kernel: each kernel kind once, on the phone, and the zoo model profiled there
    trained = bench_cli("predictor", "train", *phone, "--budget", "0.01", "--runs", "3", "--zoo", "mobilenetv2_100",
                        "--json")  # fmt: skip
    assert trained.code == 0, trained.stderr
    result = json.loads(trained.stdout)
    assert result["profiles_measured"] == ["mobilenetv2_100"] and result["kernels_measured"] == len(SPACES), result
    with sqlite3.connect(results_dir / "bench.sqlite") as db:
        rows = db.execute("select kind, device, runtime_versions, settings from measurements").fetchall()
    assert len(rows) == 1 + len(SPACES) and {r[1] for r in rows} == {"emulated-pixel6"}
    version = json.loads(rows[0][2])["litert"]
    assert version.startswith("benchmark_model sha256:") and len({r[2] for r in rows}) == 1
    # each graph with operators was profiled on the phone, with XNNPACK (one whose operators the converter
    # removed, a layout change that cancels, is timed by a plain run only)
    profiled = [json.loads(line) for line in truth.read_text().splitlines()]
    assert len(profiled) == sum(1 for r in rows if json.loads(r[3])["nodes"]) and all(p["xnnpack"] for p in profiled)
    (zoo,) = [json.loads(r[3]) for r in rows if r[0] == "profile"]
    assert zoo["reference_ms"] > 0 and "--enable_op_profiling on emulated-pixel6" in zoo["note"]
    # the node times are the phone's profiled ones (the zoo model was profiled first)
    node_ms = sum(n["ms"] for n in zoo["nodes"])
    assert node_ms == pytest.approx(sum(ms for _, ms in profiled[0]["ops"]), rel=0.05)
    kernels_left = list((emulated_pixel.root / "data/local/tmp/bench work/files").glob("*/kernel.tflite"))
    assert kernels_left == []  # each kernel removed from the phone once measured

    # predicted without the phone: nothing more runs there
    invoked = (emulated_pixel.root / "sim/invokes.log").read_text()
    predicted = bench_cli("predict", "mobilenetv2_100", *phone, "--json")
    assert predicted.code == 0, predicted.stderr
    (row,) = json.loads(predicted.stdout)
    assert row["device"] == "emulated-pixel6" and row["predicted_ms"] > 0
    assert (emulated_pixel.root / "sim/invokes.log").read_text() == invoked
    # another build of the phone's benchmark_model is another runtime version: its predictor is refused
    tool = Path(emulated_pixel.profile.read_text().split('benchmark_model = "')[1].split('"')[0])
    tool.write_text(tool.read_text() + "# rebuilt\n")
    assert_one_line_error(
        bench_cli("predict", "mobilenetv2_100", *phone), "trained for runtime_version benchmark_model"
    )
