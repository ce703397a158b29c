"""Profiles on a device, through the runtime's own benchmark tool (phones over adb, boards over ssh).

- TFLite: ``benchmark_model --enable_op_profiling=true`` prints a "Run Order" table with one row
  per node the interpreter ran, named ``[output tensors]:N`` (N: the node's index), mapped to its
  block through the same tensor-name matching as on the host (``tflite_op_blocks``). Builds since
  TFLite 2.9.1 also list XNNPACK's own operators, ``Delegate/<kernel>:<index in its partition>``;
  they are aligned to the delegated nodes by kind as on the host (``litert_events``). The table
  keys rows by name, so same-named operators of different partitions share one row, timed where
  it first ran. Older builds show each partition as one ``TfLiteXNNPackDelegate`` row: then the
  nodes are timed on TFLite's builtin kernels (``--use_xnnpack=false``). Either way the nodes the
  delegate left to the builtin kernels are the fallback.
- ONNX: ``onnxruntime_perf_test -p PREFIX`` writes the session profiler's JSON; it is pulled and
  its kernels attributed to blocks as on the host. Block times are the kernel times; the note
  gives their sum next to the plain run's latency.

The total is always the same tool's plain run (no profiler) with the settings the blocks were timed with.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from bench.devices.transports.base import Transport, open_transport
from bench.digest import file_sha256
from bench.errors import BenchError
from bench.measure.runners.native_tools import push_tool, tool_command
from bench.parsers.tool_output import PARSERS, ToolOutputError, ToolResult, parse_op_profile
from bench.profiling.blocks import TOP_LEVEL, Hierarchy
from bench.profiling.litert_c import OpEvent
from bench.profiling.runtimes import RuntimeProfile, attribute_ort_kernels, onnx_node_modules, tflite_op_blocks

WARMUP = 3
XNNPACK_ROW = "Delegate/"  # benchmark_model names XNNPACK's own operators "Delegate/<kernel>:<index in partition>"


def profile_on_device(
    device, runtime: str, path: Path, hierarchy: Hierarchy, threads: int, runs: int, body: Callable[..., RuntimeProfile]
) -> RuntimeProfile:
    """Profile ``path`` (a .tflite or the profiling .onnx) on ``device`` with ``runtime``'s native
    tool (``profile_model`` has checked that the device's profile names it): connects, pushes the
    tool and the model, then ``body(device, transport, tool, graph, path, hierarchy, threads, runs)``
    (``tflite_tool_profile`` or ``onnx_tool_profile``, chosen by the runtime's plug-in)."""
    transport = open_transport(device)
    transport.connect()
    try:
        tool = push_tool(device, transport, runtime)
        graph = transport.push_once(path, file_sha256(path))
        return body(device, transport, tool, graph, path, hierarchy, threads, runs)
    finally:
        transport.close()


def _run(transport: Transport, argv: list[str], tool: str) -> str:
    return transport.run(argv, timeout=1800).check(f"{tool} on {transport.describe()}").stdout


def _summary(text: str, tool: str) -> ToolResult:
    try:
        return PARSERS[tool](text)
    except ToolOutputError as exc:
        raise BenchError(f"cannot parse {tool} output: {exc}") from None


def _typical_ms(result: ToolResult) -> float:
    return result.median_ms if result.median_ms is not None else result.mean_ms


def tflite_tool_profile(
    device, transport, tool, graph, path, hierarchy, threads, runs, labels: list[str] | None = None,
    operators_only: bool = False
) -> RuntimeProfile:  # fmt: skip
    """LiteRT's profile on a device: ``benchmark_model --enable_op_profiling`` (see the module doc).
    ``labels``: one per node of the file (in node order), what the times are summed by instead of
    the hierarchy's blocks (the latency predictor's per-node times: each node's index);
    ``operators_only``: BenchError for a build that reports each XNNPACK partition as one row (its
    nodes could only be timed on the builtin kernels, not as the model runs)."""
    from bench.profiling.litert_events import block_sums, delegate_partitions, node_time_map
    from bench.runtimes import litert

    def command(xnnpack: bool, profiled: bool) -> list[str]:
        extra = ("--enable_op_profiling=true",) if profiled else ()
        return tool_command(litert.NAME, tool, graph, threads, runs=runs, seconds=0, max_secs=600, warmup=WARMUP,
                            options={"xnnpack": xnnpack}, device=device, extra=extra)  # fmt: skip

    plain = _summary(_run(transport, command(True, False), "benchmark_model"), "benchmark_model")
    delegated_text = _run(transport, command(True, True), "benchmark_model")
    delegated_rows = _op_rows(delegated_text)
    delegated = _summary(delegated_text, "benchmark_model")

    blocks = labels if labels is not None else tflite_op_blocks(path, hierarchy)
    reader = litert.create(path, 1)
    details = reader._get_ops_details()  # noqa: SLF001 - names by node index, then the delegate's partitions
    op_names = [d["op_name"] for d in details if d["op_name"] != "DELEGATE"]

    def model_node(row) -> int | None:
        """The model node a row times (None for a delegate's own node or kernel)."""
        n = row.node
        return n if n is not None and n < len(op_names) and row.node_type == op_names[n] else None

    fallback = [
        {"op": row.name, "type": row.node_type, "block": blocks[node], "delegate": "XNNPACK"}
        for row in delegated_rows
        if (node := model_node(row)) is not None
    ]
    share = (
        ", ".join(f"{d['delegate']} took {d['replaced']} of {d['total']} nodes" for d in delegated.delegation)
        or "no delegate was applied"
    )
    ops = dict(Counter(blocks))  # nodes per block
    if any(row.name.startswith(XNNPACK_ROW) for row in delegated_rows):  # builds since TFLite 2.9.1
        events = [
            OpEvent(row.node_type, True, row.node or 0, row.ms_per_run * 1e3)
            if row.name.startswith(XNNPACK_ROW)
            else OpEvent(row.node_type, False, -1 if (node := model_node(row)) is None else node, row.ms_per_run * 1e3)
            for row in delegated_rows
        ]
        partitions = delegate_partitions(details)
        owners = node_time_map(events, partitions, op_names)
        block_ms = block_sums(events, owners, blocks)
        merged = sum(1 for row in delegated_rows if row.name.startswith(XNNPACK_ROW) and row.times_called > 1)
        note = (
            f"benchmark_model --enable_op_profiling on {device.name}, with XNNPACK: its {sum(map(len, owners))} "
            f"operator rows aligned by kind to the nodes of {len(partitions)} partitions ({share})"
        )
        if merged:
            note += f"; {merged} of them merge same-named operators of several partitions (timed where first run)"
        return RuntimeProfile(_typical_ms(plain), block_ms, ops, fallback, note)

    # older builds: one row per XNNPACK partition, so the nodes are timed on the builtin kernels
    if operators_only:
        raise BenchError(
            f"benchmark_model on {device.name} reports each XNNPACK partition as one row (builds before TFLite "
            "2.9.1): its nodes cannot be timed as the model runs; use a newer build"
        )
    plain = _summary(_run(transport, command(False, False), "benchmark_model"), "benchmark_model")
    builtin_rows = _op_rows(_run(transport, command(False, True), "benchmark_model"))
    block_ms = {}
    unmatched = 0
    for row in builtin_rows:
        node = model_node(row)
        block = blocks[node] if node is not None else TOP_LEVEL
        unmatched += node is None
        block_ms[block] = block_ms.get(block, 0.0) + row.ms_per_run
    note = (
        f"benchmark_model --enable_op_profiling on {device.name}: this build reports each XNNPACK partition as one "
        f"node, so each node was timed on TFLite's builtin kernels; with XNNPACK the model ran in "
        f"{_typical_ms(delegated):.3f} ms (profiled) and {share}"
    )
    if unmatched:
        note += f"; {unmatched} rows named no model node (counted as {TOP_LEVEL})"
    return RuntimeProfile(_typical_ms(plain), block_ms, ops, fallback, note)


def _op_rows(text: str):
    try:
        return parse_op_profile(text)
    except ToolOutputError as exc:
        raise BenchError(f"cannot parse benchmark_model's operator profile: {exc}") from None


def onnx_tool_profile(device, transport, tool, graph, path, hierarchy, threads, runs) -> RuntimeProfile:
    """onnxruntime's profile on a device: ``onnxruntime_perf_test -p`` (see the module doc)."""
    from bench.runtimes import onnxruntime

    def command(extra: tuple[str, ...] = ()) -> list[str]:
        return tool_command(onnxruntime.NAME, tool, graph, threads, runs=runs, seconds=0, max_secs=600,
                            warmup=WARMUP, device=device, extra=extra)  # fmt: skip

    plain = _summary(_run(transport, command(), "onnxruntime_perf_test"), "onnxruntime_perf_test")
    folder = f"{transport.work_dir}/profiles/{uuid.uuid4().hex[:12]}"  # fresh: the tool adds a timestamp
    transport.run(["mkdir", "-p", folder], timeout=60).check("mkdir for the profile")
    try:
        _run(transport, command(("-p", f"{folder}/ort")), "onnxruntime_perf_test")
        listed = transport.run(["ls", "-1", folder], timeout=60).check("listing the profile folder")
        written = sorted(name for name in listed.stdout.split() if name.endswith(".json"))
        if not written:
            raise BenchError(f"onnxruntime_perf_test -p wrote no .json profile in {folder} on {transport.describe()}")
        with tempfile.TemporaryDirectory() as local_folder:
            local = Path(local_folder) / "profile.json"
            transport.pull(f"{folder}/{written[-1]}", local)
            try:
                events = json.loads(local.read_text())
            except ValueError as exc:
                raise BenchError(f"the onnxruntime profile from {device.name} is not JSON: {exc}") from None
    finally:
        transport.run(["rm", "-rf", folder], timeout=60)
    block_ms, ops, fallback = attribute_ort_kernels(events, onnx_node_modules(path), hierarchy)
    if not block_ms:
        raise BenchError(f"the onnxruntime profile from {device.name} holds no kernel events")
    note = (
        f"onnxruntime_perf_test -p on {device.name}: block times are the session profiler's kernel times "
        f"(median per kernel over {runs} runs; they sum to {sum(block_ms.values()):.3f} ms against "
        f"{_typical_ms(plain):.3f} ms measured without the profiler)"
    )
    return RuntimeProfile(_typical_ms(plain), block_ms, ops, fallback, note)
