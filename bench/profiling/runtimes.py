"""Per-operator timings from each runtime's own profiler, attributed to blocks.

- onnxruntime: session profiling (``enable_profiling``) writes a Chrome-trace JSON with one
  ``Node`` event per kernel run; the model is exported for profiling without graph slimming, so
  every node keeps the exporter's ``pkg.torch.onnx.name_scopes`` (its module path).
- LiteRT: the runtime's op profiler through its C API (``bench.profiling.litert_c``): one event
  per operator inside one graph run; XNNPACK's operators are aligned to the TFLite nodes they ran
  (``bench.profiling.litert_events``), and each node belongs to the block in its output tensor's
  name (the module chain litert-torch writes), matched to blocks in execution order.
- torch (eager): forward pre/post hooks time each block.

Each returns per-block milliseconds per inference, the end-to-end median measured the plain way
(to check that the blocks add up), and ops that fell back from the requested provider/delegate.
Plain and profiled runs alternate, so a drift in clock speed touches both alike.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections import Counter
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


def _median_ms(run, runs: int, warmup: int = 3, between=lambda: None) -> float:
    """Median ms of ``run()`` over ``runs``; ``between()`` (untimed) follows each run, so a profiled
    run alternating with the plain one sees the same drift in clock speed."""
    for _ in range(warmup):
        run()
        between()
    times = []
    for _ in range(runs):
        start = time.perf_counter_ns()
        run()
        times.append((time.perf_counter_ns() - start) / 1e6)
        between()
    return statistics.median(times)


def then(first, after=None):
    """``first()`` and then ``after()`` (when given), as one call: a ``between`` of :func:`_median_ms`."""

    def both() -> None:
        first()
        if after is not None:
            after()

    return both


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


def profile_onnxruntime(path: Path, input_shape, hierarchy: Hierarchy, threads: int, runs: int) -> RuntimeProfile:
    """Kernel times from the session profiler (each node's median over the runs), attributed to
    blocks by the node's module path; kernels that ran on another provider than requested are listed."""
    from bench.runtimes import onnxruntime

    modules = onnx_node_modules(path)
    x = np.random.default_rng(0).standard_normal(input_shape).astype(np.float32)
    full = onnxruntime.create(path, threads)
    name = full.get_inputs()[0].name
    with tempfile.TemporaryDirectory() as folder:
        profiled = onnxruntime.create(path, threads, profile_prefix=str(Path(folder) / "ort"))
        total = _median_ms(lambda: full.run(None, {name: x}), runs, between=lambda: profiled.run(None, {name: x}))
        events = json.loads(Path(profiled.end_profiling()).read_text())
    block_ms, ops, fallback = attribute_ort_kernels(events, modules, hierarchy)
    return RuntimeProfile(
        total,
        block_ms,
        ops,
        fallback,
        f"onnxruntime: session profiler kernel times, each node's median over {runs} runs, attributed by the "
        "node's module path; the whole model timed without the profiler, alternating with the profiled runs",
    )


def ort_kernel_runs(events: list[dict]) -> dict[str, tuple[dict, list[float]]]:
    """Each node's kernel runs in an onnxruntime session profile (its JSON events: ``cat`` ``Node``,
    ``<node>_kernel_time``): node name -> (the profiler's ``args`` of its first run, every run's ms)."""
    runs: dict[str, tuple[dict, list[float]]] = {}
    for e in events:
        name = str(e.get("name", ""))
        if e.get("cat") != "Node" or not name.endswith("_kernel_time"):
            continue
        _, times = runs.setdefault(name.removesuffix("_kernel_time"), (e.get("args") or {}, []))
        times.append(float(e.get("dur", 0)) / 1e3)
    return runs


def module_of_node(node: str, modules: dict[str, str]) -> str:
    """The module path of an onnxruntime node (``modules``: :func:`onnx_node_modules` of the file it
    ran): its own, or that of the node it rewrote for its NCHWc layout (``<name>_nchwc``), or of a
    node it fused or renamed (the longest original name it starts with); "" when none matches."""
    module = modules.get(node, modules.get(node.removesuffix("_nchwc")))
    if module is None:
        matches = [n for n in modules if node.startswith(n)]
        module = modules[max(matches, key=len)] if matches else ""
    return module


def attribute_ort_kernels(
    events: list[dict], modules: dict[str, str], hierarchy: Hierarchy, requested: str = "CPUExecutionProvider"
) -> tuple[dict[str, float], dict[str, int], list[dict]]:
    """Kernels of an onnxruntime session profile (its JSON events) attributed to blocks.

    Returns ms per run by block (each node's median kernel time over the profiled runs, so the
    slow first run does not count), kernels per run by block, and the kernels that ran on another
    execution provider than ``requested``."""
    block_ms: dict[str, float] = {}
    ops: dict[str, int] = {}
    fallback = []
    for node, (args, times) in ort_kernel_runs(events).items():
        block = hierarchy.block_of(module_of_node(node, modules))
        block_ms[block] = block_ms.get(block, 0.0) + statistics.median(times)
        ops[block] = ops.get(block, 0) + 1
        provider = args.get("provider", requested)
        if provider != requested:
            fallback.append({"op": node, "provider": provider, "block": block})
    return block_ms, ops, fallback


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


def xnnpack_fallback(interpreter, details: list[dict], partitions: list[list[int]], blocks: list[str]) -> list[dict]:
    """Nodes the XNNPACK delegate left to TFLite's builtin kernels in an allocated ``interpreter``
    (``details``: its node list; ``partitions``: the nodes each XNNPACK partition covers)."""
    covered = {n for partition in partitions for n in partition}
    tensor_names = {t["index"]: t["name"] for t in interpreter.get_tensor_details()}
    own = [d for d in details if d["op_name"] != "DELEGATE"]
    names = {d["index"]: tensor_names.get(int(d["outputs"][0]), "") if len(d["outputs"]) else "" for d in own}
    return [
        {"op": f"[{names[d['index']]}]:{d['index']}", "type": d["op_name"],
         "block": blocks[d["index"]] if d["index"] < len(blocks) else TOP_LEVEL, "delegate": "XNNPACK"}
        for d in own
        if d["index"] not in covered
    ]  # fmt: skip


def litert_profiled_runs(interpreter, path: Path, x: np.ndarray, threads: int, runs: int, warmup: int = 3,
                         beside=None):  # fmt: skip
    """``(total_ms, events)``: the median ms of ``runs`` plain invocations of the allocated
    ``interpreter`` on ``x``, each followed by one run of the model under LiteRT's op profiler (and
    by ``beside()`` where given), and the profiler's events of the last ``runs`` profiled runs (the
    warm-ups' left out)."""
    from bench.profiling.litert_c import ProfiledModel

    index = interpreter.get_input_details()[0]["index"]

    def invoke() -> None:
        interpreter.set_tensor(index, x)
        interpreter.invoke()

    recorded: list[list] = []
    with ProfiledModel(path, x, threads) as profiled:

        def profiled_run() -> None:
            profiled.reset()
            profiled.run()
            recorded.append(profiled.events())

        total = _median_ms(invoke, runs, warmup=warmup, between=then(profiled_run, beside))
    return total, recorded[-runs:]


def profile_litert(path: Path, input_shape, hierarchy: Hierarchy, threads: int, runs: int) -> RuntimeProfile:
    """Operator times from LiteRT's own profiler inside one graph run, summed per block per run
    (operators report whole microseconds, so a block's sum over many operators is steadier than
    each operator's median); a block's time is the median of its per-run sums."""
    from bench.profiling.litert_events import block_sums, delegate_partitions, node_time_map
    from bench.runtimes import litert

    x = np.random.default_rng(0).standard_normal(input_shape).astype(np.float32)
    full = litert.create(path, threads)
    details = full._get_ops_details()  # noqa: SLF001 - the only per-node view the Python API has
    kinds = [d["op_name"] for d in details if d["op_name"] != "DELEGATE"]
    blocks = tflite_op_blocks(path, hierarchy)
    partitions = delegate_partitions(details)
    total, recorded = litert_profiled_runs(full, path, x, threads, runs)
    owners = node_time_map(recorded[0], partitions, kinds)
    per_run: dict[str, list[float]] = {}
    for events in recorded:
        for block, ms in block_sums(events, owners, blocks).items():
            per_run.setdefault(block, []).append(ms)
    block_ms = {b: statistics.median(ms + [0.0] * (len(recorded) - len(ms))) for b, ms in per_run.items()}
    fallback = xnnpack_fallback(full, details, partitions, blocks)
    delegated = sum(len(g) for g in owners)
    return RuntimeProfile(
        total,
        block_ms,
        dict(Counter(blocks)),  # nodes per block
        fallback,
        f"LiteRT: the runtime's op profiler inside one graph run ({len(recorded)} runs); XNNPACK's {delegated} "
        f"operators aligned by kind to the nodes of its {len(partitions)} partitions; XNNPACK left "
        f"{len(fallback)} of {len(blocks)} nodes to the builtin kernels",
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
