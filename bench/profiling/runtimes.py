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


def _sequence_medians(parts: list[tuple], runs: int, warmup: int = 3) -> list[float]:
    """Median ms of each ``(prepare, call)`` when all run one after another, in model order.

    Timing the parts in sequence (not each alone in a loop) keeps the caches as in a real
    inference: each part's weights were pushed out by the others. ``prepare`` (untimed) writes the
    part's input tensors, so they are as fresh in cache as a previous block's output would be."""
    for _ in range(warmup):
        for prepare, call in parts:
            prepare()
            call()
    times: list[list[float]] = [[] for _ in parts]
    for _ in range(runs):
        for k, (prepare, call) in enumerate(parts):
            prepare()
            start = time.perf_counter_ns()
            call()
            times[k].append((time.perf_counter_ns() - start) / 1e6)
    return [statistics.median(t) for t in times]


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
    import contextlib
    import sys
    import warnings

    import torch

    path = folder / "profile.onnx"
    with warnings.catch_warnings(), contextlib.redirect_stdout(sys.stderr):  # its progress lines: not on stdout
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model.eval(), (torch.randn(input_shape),), dynamo=True, opset_version=18, verbose=False
        )
    program.save(str(path))
    return path


def onnx_node_modules(path: Path) -> dict[str, str]:
    """ONNX node name (and output tensor name) -> the module path it came from (``pkg.torch.onnx.name_scopes``)."""
    import ast

    import onnx

    out = {}
    for node in onnx.load(str(path), load_external_data=False).graph.node:
        meta = {p.key: p.value for p in node.metadata_props}
        scopes = meta.get("pkg.torch.onnx.name_scopes")
        if scopes:
            names = ast.literal_eval(scopes)
            module = names[-2] if len(names) >= 2 else ""
            out[node.name] = module
            for tensor in node.output:  # ORT names nodes it rewrites after their output (``<tensor>_nchwc``)
                out.setdefault(tensor, module)
    return out


def _ort_session(path_or_bytes, threads: int, profile_prefix: str | None = None):
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    if profile_prefix:
        opts.enable_profiling = True
        opts.profile_file_prefix = profile_prefix
    source = str(path_or_bytes) if isinstance(path_or_bytes, Path) else path_or_bytes
    return ort.InferenceSession(source, opts, providers=["CPUExecutionProvider"])


def profile_onnxruntime(path: Path, input_shape, hierarchy: Hierarchy, threads: int, runs: int) -> RuntimeProfile:
    """Block times from per-block partitions of the graph (each its own session, timed without the
    profiler, which slows kernels by 5-15%); the session profiler attributes every kernel to its
    block and reports kernels that ran on another provider than requested."""
    import onnx

    modules = onnx_node_modules(path)
    x = np.random.default_rng(0).standard_normal(input_shape).astype(np.float32)
    full = _ort_session(path, threads)
    name = full.get_inputs()[0].name
    total = _median_ms(lambda: full.run(None, {name: x}), runs)

    with tempfile.TemporaryDirectory() as folder:  # the profiler: kernels per block, providers
        profiled = _ort_session(path, threads, str(Path(folder) / "ort"))
        for _ in range(3):
            profiled.run(None, {name: x})
        events = json.loads(Path(profiled.end_profiling()).read_text())
    _, ops, fallback = attribute_ort_kernels(events, modules, hierarchy)

    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    graph = model.graph
    typed = {v.name: v for v in [*graph.input, *graph.value_info, *graph.output]}
    constant = {i.name for i in graph.initializer}
    blocks = [hierarchy.block_of(modules.get(n.name, "")) for n in graph.node]
    last_use: dict[str, int] = {}
    for k, node in enumerate(graph.node):
        for t in node.input:
            last_use[t] = k
    outputs_of_graph = {o.name for o in graph.output}
    values = {name: x}
    block_ms: dict[str, float] = {}
    parts: list[tuple[str, object]] = []
    for block, start, end in _runs(blocks):
        nodes = graph.node[start:end]
        produced = {t for n in nodes for t in n.output if t}
        inputs = sorted({t for n in nodes for t in n.input if t and t not in produced and t not in constant})
        outputs = sorted(t for t in produced if last_use.get(t, -1) >= end or t in outputs_of_graph)
        if not outputs:
            continue  # nothing leaves this part (dead code): no time to attribute
        part = _onnx_partition(model, nodes, [typed[t] for t in inputs], [typed[t] for t in outputs])
        session = _ort_session(part.SerializeToString(), threads)
        results = session.run(outputs, {t: values[t] for t in inputs})
        values.update(zip(outputs, results, strict=True))
        parts.append((block, _bound_run(session, inputs, outputs, values)))
    for (block, _), ms in zip(parts, _sequence_medians([part for _, part in parts], runs), strict=True):
        block_ms[block] = block_ms.get(block, 0.0) + ms
    total = (total + _median_ms(lambda: full.run(None, {name: x}), runs)) / 2  # before and after: drift cancels
    return RuntimeProfile(
        total,
        block_ms,
        ops,
        fallback,
        "onnxruntime: block times from per-block sub-graphs, each its own session fed the real intermediate "
        "tensors and timed in model order; the session profiler attributed every kernel to its block",
    )


def attribute_ort_kernels(
    events: list[dict], modules: dict[str, str], hierarchy: Hierarchy, requested: str = "CPUExecutionProvider"
) -> tuple[dict[str, float], dict[str, int], list[dict]]:
    """Kernels of an onnxruntime session profile (its JSON events) attributed to blocks.

    Returns ms per run by block (each node's median kernel time over the profiled runs, so the
    slow first run does not count), kernels per run by block, and the kernels that ran on another
    execution provider than ``requested``."""
    durations: dict[str, list[float]] = {}
    provider_of: dict[str, str] = {}
    for e in events:
        if e.get("cat") != "Node" or not str(e.get("name", "")).endswith("_kernel_time"):
            continue
        node = e["name"].removesuffix("_kernel_time")
        durations.setdefault(node, []).append(float(e.get("dur", 0)) / 1e3)
        provider_of[node] = (e.get("args") or {}).get("provider", requested)
    block_ms: dict[str, float] = {}
    ops: dict[str, int] = {}
    fallback = []
    for node, times in durations.items():
        module = modules.get(node, modules.get(node.removesuffix("_nchwc")))
        if module is None:  # a node ORT fused or renamed: the longest original name it starts with
            matches = [n for n in modules if node.startswith(n)]
            module = modules[max(matches, key=len)] if matches else ""
        block = hierarchy.block_of(module)
        block_ms[block] = block_ms.get(block, 0.0) + statistics.median(times)
        ops[block] = ops.get(block, 0) + 1
        if provider_of[node] != requested:
            fallback.append({"op": node, "provider": provider_of[node], "block": block})
    return block_ms, ops, fallback


def _bound_run(session, inputs: list[str], outputs: list[str], values: dict):
    """A call running ``session`` on inputs and outputs bound in place (no copies in or out), as the
    tensors stay in place between blocks inside the whole model."""
    import onnxruntime as ort

    binding = session.io_binding()
    bound = []
    for t in inputs:
        value = ort.OrtValue.ortvalue_from_numpy(values[t].copy())
        binding.bind_ortvalue_input(t, value)
        bound.append((value, values[t]))
    for t in outputs:
        binding.bind_ortvalue_output(t, ort.OrtValue.ortvalue_from_numpy(np.empty_like(values[t])))

    def prepare():
        for value, array in bound:
            value.update_inplace(array)

    return prepare, lambda: session.run_with_iobinding(binding)


def _runs(blocks: list[str]) -> list[tuple[str, int, int]]:
    """Consecutive runs of the same block: (block, start, end)."""
    out: list[tuple[str, int, int]] = []
    for k, block in enumerate(blocks):
        if out and out[-1][0] == block:
            out[-1] = (block, out[-1][1], k + 1)
        else:
            out.append((block, k, k + 1))
    return out


def _onnx_partition(model, nodes, inputs: list, outputs: list):
    """A model of ``nodes`` with the given (typed) graph inputs and outputs."""
    from onnx import helper

    used = {t for n in nodes for t in n.input}
    initializers = [i for i in model.graph.initializer if i.name in used]
    graph = helper.make_graph(list(nodes), "partition", inputs, outputs, initializer=initializers)
    part = helper.make_model(graph, opset_imports=model.opset_import, ir_version=model.ir_version)
    part.functions.extend(model.functions)
    return part


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


def xnnpack_fallback(interpreter, blocks: list[str]) -> list[dict]:
    """Nodes the XNNPACK delegate left to TFLite's builtin kernels in an allocated ``interpreter``.

    The interpreter lists the model's own nodes, then one ``DELEGATE`` node per partition it
    handed to XNNPACK; a partition covers every node reached walking back from its outputs
    without crossing its inputs. Nodes no partition covers run on the builtin kernels."""
    details = interpreter._get_ops_details()  # noqa: SLF001 - the only per-node view the Python API has
    own = [d for d in details if d["op_name"] != "DELEGATE"]
    producer = {t: d["index"] for d in own for t in d["outputs"]}
    covered: set[int] = set()
    for delegate in (d for d in details if d["op_name"] == "DELEGATE"):
        stop = set(delegate["inputs"])
        todo = list(delegate["outputs"])
        while todo:
            tensor = todo.pop()
            node = producer.get(tensor)
            if tensor in stop or node is None or node in covered:
                continue
            covered.add(node)
            todo += [t for t in details[node]["inputs"] if t >= 0]
    tensor_names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    names = {d["index"]: tensor_names.get(int(d["outputs"][0]), "") if len(d["outputs"]) else "" for d in own}
    return [
        {"op": f"[{names[d['index']]}]:{d['index']}", "type": d["op_name"],
         "block": blocks[d["index"]] if d["index"] < len(blocks) else TOP_LEVEL, "delegate": "XNNPACK"}
        for d in own
        if d["index"] not in covered
    ]  # fmt: skip


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
    partitions = _runs(blocks)
    block_ms: dict[str, float] = {}
    ops: dict[str, int] = {}
    calls: list[tuple[str, object]] = []
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

        def prepare(interpreter=interpreter, feeds=feeds):
            for t, value in feeds:
                interpreter.set_tensor(t, value)

        calls.append((block, (prepare, interpreter.invoke)))
        ops[block] = ops.get(block, 0) + len(subset)
    for (block, _), ms in zip(calls, _sequence_medians([part for _, part in calls], runs), strict=True):
        block_ms[block] = block_ms.get(block, 0.0) + ms
    total = (total + _median_ms(invoke_full, runs)) / 2  # before and after the blocks: drift cancels
    fallback = xnnpack_fallback(full, blocks)
    return RuntimeProfile(
        total,
        block_ms,
        ops,
        fallback,
        f"LiteRT: the graph cut into {len(partitions)} per-block sub-models, each timed with the real "
        f"intermediate tensors (the Python interpreter has no op profiler); XNNPACK left {len(fallback)} of "
        f"{len(blocks)} nodes to the builtin kernels",
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
