"""Per-operator timings from each runtime's own profiler, attributed to blocks.

- onnxruntime: session profiling (``enable_profiling``) writes a Chrome-trace JSON with one
  ``Node`` event per kernel run; the model is exported for profiling without graph slimming, so
  every node keeps the exporter's ``pkg.torch.onnx.name_scopes`` (its module path).
- LiteRT: the Python interpreter has no op profiler, so the TFLite graph is cut into one
  sub-model per block (by the module chain litert-torch writes into tensor names, matched to
  blocks in execution order), each fed the real intermediate tensors and timed on the same
  interpreter settings; a block's time is its partition's median.
- torch (eager): forward pre/post hooks time each block.

Each returns per-block milliseconds per inference, the end-to-end median measured the plain way
(to check that the blocks add up), and ops that fell back from the requested provider/delegate.
"""

from __future__ import annotations

import copy
import json
import statistics
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.profiling.blocks import TOP_LEVEL, Hierarchy


@dataclass
class RuntimeProfile:
    total_ms: float  # end-to-end median of the whole model, measured without the profiler
    block_ms: dict[str, float]
    ops: dict[str, int] = field(default_factory=dict)  # block -> operators attributed
    fallback: list[dict] = field(default_factory=list)
    note: str = ""


def _median_ms(run, runs: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        run()
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        run()
        times.append((time.perf_counter_ns() - start) / 1e6)
    return statistics.median(times)


# --- onnxruntime ------------------------------------------------------------------------------


def export_profiling_onnx(model, input_shape, folder: Path) -> Path:
    """The zoo model as ONNX with the exporter's per-node module metadata (not slimmed)."""
    import warnings

    import torch

    path = folder / "profile.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        program = torch.onnx.export(model.eval(), (torch.randn(input_shape),), dynamo=True, opset_version=18)
    program.save(str(path))
    return path


def onnx_node_modules(path: Path) -> dict[str, str]:
    """ONNX node name -> the module path it came from (from ``pkg.torch.onnx.name_scopes``)."""
    import ast

    import onnx

    out = {}
    for node in onnx.load(str(path), load_external_data=False).graph.node:
        meta = {p.key: p.value for p in node.metadata_props}
        scopes = meta.get("pkg.torch.onnx.name_scopes")
        if scopes:
            names = ast.literal_eval(scopes)
            out[node.name] = names[-2] if len(names) >= 2 else ""
    return out


def profile_onnxruntime(path: Path, input_shape, hierarchy: Hierarchy, threads: int, runs: int) -> RuntimeProfile:
    import onnxruntime as ort

    modules = onnx_node_modules(path)
    x = np.random.default_rng(0).standard_normal(input_shape).astype(np.float32)

    def session(profile: bool, folder: str):
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        if profile:
            opts.enable_profiling = True
            opts.profile_file_prefix = str(Path(folder) / "ort")
        s = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        return s, s.get_inputs()[0].name

    with tempfile.TemporaryDirectory() as folder:
        plain, name = session(False, folder)
        total = _median_ms(lambda: plain.run(None, {name: x}), runs)
        profiled, name = session(True, folder)
        warmup = 3
        for _ in range(warmup + runs):
            profiled.run(None, {name: x})
        events = json.loads(Path(profiled.end_profiling()).read_text())
    runs_ts = sorted(e["ts"] for e in events if e.get("cat") == "Session" and e.get("name") == "model_run")
    start_ts = runs_ts[warmup] if len(runs_ts) > warmup else 0
    block_us: dict[str, float] = {}
    ops: dict[str, int] = {}
    fallback = []
    for e in events:
        if e.get("cat") != "Node" or not e.get("name", "").endswith("_kernel_time") or e["ts"] < start_ts:
            continue
        node = e["name"].removesuffix("_kernel_time")
        module = modules.get(node)
        if module is None:  # a node ORT fused or renamed: the longest original name it starts with
            matches = [n for n in modules if node.startswith(n)]
            module = modules[max(matches, key=len)] if matches else ""
        block = hierarchy.block_of(module)
        block_us[block] = block_us.get(block, 0.0) + e["dur"]
        ops[block] = ops.get(block, 0) + 1
        provider = e.get("args", {}).get("provider", "CPUExecutionProvider")
        if provider != "CPUExecutionProvider":
            fallback.append({"op": node, "provider": provider, "block": block})
    n = max(len(runs_ts) - warmup, 1)
    return RuntimeProfile(
        total,
        {b: us / n / 1e3 for b, us in block_us.items()},
        {b: c // n for b, c in ops.items()},
        fallback,
        "onnxruntime session profiling (kernel times); the rest of the total is the executor's own overhead",
    )


# --- LiteRT -----------------------------------------------------------------------------------


def tflite_op_blocks(path: Path, hierarchy: Hierarchy) -> list[str]:
    """Each operator's block, from the module chain in its output tensor name, matched in order."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    graph = model.subgraphs[0]
    by_signature: dict[tuple, list[str]] = {}
    for block in hierarchy.blocks:
        by_signature.setdefault(hierarchy.signature[block], []).append(block)
    used: dict[tuple, int] = {}
    current: dict[tuple, str] = {}
    last_key = None
    out = []
    for op in graph.operators:
        name = graph.tensors[op.outputs[0]].name.decode(errors="replace") if op.outputs else ""
        chain = tuple(name.split(";")[0].split("/")[1:])
        key = next((chain[:k] for k in range(len(chain), 0, -1) if chain[:k] in by_signature), None)
        if key is None:
            out.append(current.get(last_key, TOP_LEVEL) if last_key else TOP_LEVEL)
            continue
        if key != last_key:  # a new run of this signature: the next block with it, in execution order
            index = used.get(key, 0)
            candidates = by_signature[key]
            current[key] = candidates[min(index, len(candidates) - 1)]
            used[key] = index + 1
            last_key = key
        out.append(current[key])
    return out


def profile_litert(path: Path, input_shape, hierarchy: Hierarchy, threads: int, runs: int) -> RuntimeProfile:
    from ai_edge_litert import interpreter as tfl
    from ai_edge_litert.tools import flatbuffer_utils

    x = np.random.default_rng(0).standard_normal(input_shape).astype(np.float32)
    full = tfl.Interpreter(model_path=str(path), num_threads=threads)
    full.allocate_tensors()
    inp = full.get_input_details()[0]["index"]

    def invoke_full():
        full.set_tensor(inp, x)
        full.invoke()

    total = _median_ms(invoke_full, runs)

    # every intermediate tensor, from one reference run without delegates
    reference = tfl.Interpreter(
        model_path=str(path),
        experimental_op_resolver_type=tfl.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
        experimental_preserve_all_tensors=True,
    )
    reference.allocate_tensors()
    reference.set_tensor(reference.get_input_details()[0]["index"], x)
    reference.invoke()

    model = flatbuffer_utils.read_model(str(path))
    graph = model.subgraphs[0]
    blocks = tflite_op_blocks(path, hierarchy)
    constant = {i for i, t in enumerate(graph.tensors) if model.buffers[t.buffer].data is not None}
    consumers: dict[int, int] = {}
    for k, op in enumerate(graph.operators):
        for t in op.inputs:
            consumers[t] = max(consumers.get(t, -1), k)
    partitions: list[tuple[str, int, int]] = []  # (block, first op, end op)
    for k, block in enumerate(blocks):
        if partitions and partitions[-1][0] == block:
            partitions[-1] = (block, partitions[-1][1], k + 1)
        else:
            partitions.append((block, k, k + 1))
    block_ms: dict[str, float] = {}
    ops: dict[str, int] = {}
    for block, start, end in partitions:
        subset = graph.operators[start:end]
        produced = {t for op in subset for t in op.outputs}
        inputs = sorted({t for op in subset for t in op.inputs if t >= 0 and t not in produced and t not in constant})
        outputs = sorted(t for t in produced if consumers.get(t, -1) >= end or t in graph.outputs)
        part = copy.copy(model)
        sub = copy.copy(graph)
        sub.operators, sub.inputs, sub.outputs = subset, inputs, outputs or [subset[-1].outputs[0]]
        part.subgraphs, part.signatureDefs = [sub], []
        interpreter = tfl.Interpreter(
            model_content=bytes(flatbuffer_utils.convert_object_to_bytearray(part)), num_threads=threads
        )
        interpreter.allocate_tensors()
        feeds = [(t, reference.get_tensor(t)) for t in inputs]

        def invoke_part(interpreter=interpreter, feeds=feeds):
            for t, value in feeds:
                interpreter.set_tensor(t, value)
            interpreter.invoke()

        block_ms[block] = block_ms.get(block, 0.0) + _median_ms(invoke_part, runs)
        ops[block] = ops.get(block, 0) + len(subset)
    return RuntimeProfile(
        total,
        block_ms,
        ops,
        [],
        f"LiteRT: the graph cut into {len(partitions)} per-block sub-models, each timed with the real "
        "intermediate tensors (the Python interpreter has no op profiler; delegate fallbacks are reported by "
        "benchmark_model on devices)",
    )


# --- torch (eager) ----------------------------------------------------------------------------


def profile_torch(model, input_shape, hierarchy: Hierarchy, threads: int, runs: int) -> RuntimeProfile:
    import torch

    torch.set_num_threads(threads)
    model = model.eval()
    x = torch.randn(input_shape)
    modules = dict(model.named_modules())
    started: dict[str, int] = {}
    spent: dict[str, float] = {b: 0.0 for b in hierarchy.blocks}
    recording = [False]

    def pre(path):
        return lambda *_: started.__setitem__(path, time.perf_counter_ns())

    def post(path):
        def hook(*_):
            if recording[0]:
                spent[path] += (time.perf_counter_ns() - started[path]) / 1e6

        return hook

    whole = [0.0]

    def timed_forward():
        start = time.perf_counter_ns()
        model(x)
        whole[0] += (time.perf_counter_ns() - start) / 1e6

    with torch.inference_mode():
        total = _median_ms(lambda: model(x), runs)
        hooks = []
        for path in hierarchy.blocks:
            hooks += [
                modules[path].register_forward_pre_hook(pre(path)),
                modules[path].register_forward_hook(post(path)),
            ]
        try:
            for _ in range(3):
                model(x)
            recording[0] = True
            for _ in range(runs):
                timed_forward()
        finally:
            for hook in hooks:
                hook.remove()
    block_ms = {b: ms / runs for b, ms in spent.items() if ms > 0}
    block_ms[TOP_LEVEL] = max(whole[0] / runs - sum(block_ms.values()), 0.0)  # the model's own glue code
    return RuntimeProfile(total, block_ms, note="PyTorch eager: forward hooks around each block")
