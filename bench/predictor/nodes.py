"""The nodes a runtime really runs for a model file, with what their latency depends on, and their times.

A predictor predicts on the graph the runtime executes, after its converter's and its own
fusions, not on the PyTorch module: onnxruntime fuses Conv+BatchNorm+activation, MatMul+Add,
LayerNorm and GELU patterns and, on x86, rewrites convolutions into its NCHWc layout; LiteRT's
converter folds batch norms and activations into convolutions and XNNPACK folds pads. So:

- ONNX: the session's own optimized graph (``optimized_model_filepath``, written by onnxruntime at
  the level the agent uses, ``all``) gives each node's name, operator, attributes and weight shapes;
  one profiled run of that session gives each node's activation shapes and sizes (the profiler's
  ``input_type_shape``, ``output_type_shape``, ``activation_size``, ``output_size`` arguments).
  Node names are the profiler's, so a profile's times join them by name.
- TFLite: the interpreter's node list (``_get_ops_details``, without the delegate's own nodes) with
  its tensors' shapes, constant tensors (weights) read from the flatbuffer.

:func:`onnx_node_profile` and :func:`tflite_node_profile` also time every node with the runtime's
own profiler (the machinery of ``bench profile``) and the whole model without it.
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

# operators whose work is a sum of products over a reduced dimension (MACs are counted for them)
CONV_OPS = {"Conv", "FusedConv", "nchwc.Conv", "CONV_2D", "DEPTHWISE_CONV_2D", "CONV_3D"}
TRANSPOSED_CONV_OPS = {"ConvTranspose", "TRANSPOSE_CONV"}
MATMUL_OPS = {"MatMul", "FusedMatMul", "Gemm", "FULLY_CONNECTED", "BATCH_MATMUL"}


@dataclass(frozen=True)
class Node:
    """One node of the graph a runtime runs.

    ``op``: the runtime's operator (onnxruntime's op type, ``nchwc.``-prefixed for its NCHWc
    kernels; LiteRT's builtin name such as ``CONV_2D``). Shapes are as the runtime holds the
    tensors (NCHW, NCHWc blocked, or NHWC). ``in_bytes``/``out_bytes``: activation inputs and
    outputs in bytes; ``weights``: elements of constant inputs; ``kernel``: kernel area (1 where
    none); ``macs``: multiply-adds of convolutions and matrix products (0 for other operators);
    ``ms``: the node's median time per inference where it was profiled."""

    name: str
    op: str
    in_shape: tuple[int, ...]
    out_shape: tuple[int, ...]
    in_bytes: int
    out_bytes: int
    weights: int = 0
    kernel: int = 1
    stride: int = 1
    groups: int = 1
    cin: int = 0
    cout: int = 0
    macs: int = 0
    activation: bool = False  # an activation fused into the node
    ms: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, row: dict) -> Node:
        values = {**row, "in_shape": tuple(row["in_shape"]), "out_shape": tuple(row["out_shape"])}
        return cls(**{k: v for k, v in values.items() if k in cls.__dataclass_fields__})


@dataclass
class NodeProfile:
    """A model file's nodes (each with its median ``ms``), and the whole model's median time per
    inference measured without the profiler (``total_ms``), on ``threads`` threads."""

    nodes: list[Node]
    total_ms: float
    runs: int
    note: str = ""
    reference_ms: float | None = None  # the machine's speed around it (sweep.ReferenceProbe.around)
    reference_during_ms: float | None = None  # ... and while it ran (runs between the model's; diagnostic)

    @property
    def nodes_ms(self) -> float:
        return sum(n.ms or 0.0 for n in self.nodes)


def _elements(shape) -> int:
    return int(math.prod(int(d) for d in shape)) if shape is not None else 0


def _random_inputs(specs: list[tuple[str, list, str]]) -> dict[str, np.ndarray]:
    """One seeded array per input: ``(name, shape, numpy dtype)``; a symbolic dimension is 1."""
    rng = np.random.default_rng(0)
    arrays = {}
    for name, shape, dtype in specs:
        dims = [int(d) if isinstance(d, int | np.integer) and d > 0 else 1 for d in shape]
        kind = np.dtype(dtype)
        arrays[name] = rng.standard_normal(dims).astype(kind) if kind.kind == "f" else np.zeros(dims, dtype=kind)
    return arrays


# --- ONNX (onnxruntime) ---------------------------------------------------------------------------


_ORT_DTYPES = {"tensor(float)": "float32", "tensor(float16)": "float16", "tensor(int64)": "int64",
               "tensor(int32)": "int32", "tensor(int8)": "int8", "tensor(uint8)": "uint8",
               "tensor(bool)": "bool"}  # fmt: skip


def _ort_node(node, initializers: dict[str, list[int]], args: dict) -> Node:
    import onnx

    attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    default = node.domain in ("", "ai.onnx", "com.microsoft")
    op = node.op_type if default else f"{node.domain.split('.')[-1]}.{node.op_type}"
    shapes = [next(iter(s.values())) for s in args.get("input_type_shape", [])]
    out = [next(iter(s.values())) for s in args.get("output_type_shape", [])]
    in_shape = tuple(shapes[0]) if shapes else ()
    out_shape = tuple(out[0]) if out else ()
    weight_shapes = [initializers[i] for i in node.input if i in initializers]
    weights = sum(_elements(s) for s in weight_shapes)
    kernel, groups, cin, cout, macs = 1, int(attrs.get("group", 1)), 0, 0, 0
    if op in CONV_OPS and len(node.input) > 1 and node.input[1] in initializers:
        w = initializers[node.input[1]]  # [Cout, Cin / group, kh, kw]
        kernel = _elements(w[2:]) if len(w) > 2 else 1
        cout, cin = int(w[0]), int(w[1]) * groups
        macs = _elements(out_shape) * _elements(w[1:]) if out_shape else 0
    elif op in TRANSPOSED_CONV_OPS and len(node.input) > 1 and node.input[1] in initializers:
        w = initializers[node.input[1]]  # [Cin, Cout / group, kh, kw]: each input pixel spreads over a kernel
        kernel = _elements(w[2:]) if len(w) > 2 else 1
        cin, cout = int(w[0]), int(w[1]) * groups
        macs = _elements(in_shape) * _elements(w[1:]) if in_shape else 0
    elif op in MATMUL_OPS and in_shape:
        k = int(in_shape[0] if attrs.get("transA") else in_shape[-1])
        macs = _elements(out_shape) * k
        cin, cout = k, int(out_shape[-1]) if out_shape else 0
    elif "kernel_shape" in attrs:  # pooling
        kernel = _elements(attrs["kernel_shape"])
    strides = attrs.get("strides") or [1]
    return Node(
        name=node.name,
        op=op,
        in_shape=in_shape,
        out_shape=out_shape,
        in_bytes=int(args.get("activation_size", 0)),
        out_bytes=int(args.get("output_size", 0)),
        weights=weights,
        kernel=kernel,
        stride=int(max(strides)),
        groups=groups,
        cin=cin,
        cout=cout,
        macs=macs,
        activation=bool(attrs.get("activation")),
    )


def onnx_node_profile(path: str | Path, threads: int = 1, runs: int = 0, beside: Callable[[], None] | None = None
                      ) -> NodeProfile:  # fmt: skip
    """The nodes onnxruntime (CPU execution provider, graph optimization ``all``) runs for the ONNX
    file at ``path``, in execution order, and, with ``runs`` > 0, each node's median kernel time
    over ``runs`` profiled runs (after one warm-up) and the whole model's median over ``runs`` plain
    runs alternating with them (``beside()`` after each profiled one: the speed reference's runs).
    ``runs=0``: the nodes only (one profiled run gives their shapes; ``total_ms`` is NaN). Raises
    what onnxruntime raises for a file it cannot load.

    The profiler's event format (``cat: "Node"``, ``<node>_kernel_time``, ``args``) is
    onnxruntime's (onnxruntime/core/common/profiler.cc, onnxruntime/core/framework/sequential_executor.cc)."""
    import onnx

    from bench.profiling.runtimes import _median_ms, ort_kernel_runs, then
    from bench.runtimes import onnxruntime

    with tempfile.TemporaryDirectory() as folder:
        optimized = str(Path(folder) / "optimized.onnx")
        profiled = onnxruntime.create(path, threads, profile_prefix=str(Path(folder) / "ort"), optimized_path=optimized)
        feeds = _random_inputs(
            [(i.name, list(i.shape), _ORT_DTYPES.get(i.type, "float32")) for i in profiled.get_inputs()]
        )
        profiled.run(None, feeds)  # warm-up; its events give the shapes
        total = math.nan
        if runs > 0:
            plain = onnxruntime.create(path, threads)
            total = _median_ms(
                lambda: plain.run(None, feeds), runs, warmup=2, between=then(lambda: profiled.run(None, feeds), beside)
            )
        events = json.loads(Path(profiled.end_profiling()).read_text())
        graph = onnx.load(optimized, load_external_data=False).graph
    initializers = {i.name: list(i.dims) for i in graph.initializer}
    kernels = ort_kernel_runs(events)
    nodes = []
    for node in graph.node:
        if node.name not in kernels:  # a node that ran no kernel (a constant folded at load)
            continue
        args, times = kernels[node.name]
        extracted = _ort_node(node, initializers, args)
        if runs > 0:  # each node's runs after the warm-up (the profiler also saw the alternating warm-ups)
            extracted = replace(extracted, ms=statistics.median(times[-runs:]))
        nodes.append(extracted)
    note = "onnxruntime session profiler, CPU execution provider, graph optimization all"
    return NodeProfile(nodes, total, runs, note)


# --- TFLite (LiteRT) ------------------------------------------------------------------------------


def _constant_tensors(path: Path) -> set[int]:
    """Indices of the main subgraph's tensors that hold data in the file (weights, biases, constants)."""
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(path))
    graph = model.subgraphs[0]
    constant = set()
    for index, tensor in enumerate(graph.tensors):
        buffer = model.buffers[tensor.buffer] if 0 < tensor.buffer < len(model.buffers) else None
        if buffer is not None and ((buffer.data is not None and len(buffer.data)) or getattr(buffer, "size", 0)):
            constant.add(index)
    return constant


def _tflite_node(detail: dict, tensors: dict[int, dict], constant: set[int]) -> Node:
    op = detail["op_name"]
    inputs = [int(i) for i in detail["inputs"] if int(i) >= 0]
    activations = [i for i in inputs if i not in constant]
    weights = [i for i in inputs if i in constant]
    shape = lambda i: tuple(int(d) for d in tensors[i]["shape"])  # noqa: E731
    size = lambda i: _elements(shape(i)) * np.dtype(tensors[i]["dtype"]).itemsize  # noqa: E731
    outputs = [int(i) for i in detail["outputs"] if int(i) >= 0]
    in_shape = shape(activations[0]) if activations else ()
    out_shape = shape(outputs[0]) if outputs else ()
    kernel, groups, cin, cout, macs, stride = 1, 1, 0, 0, 0, 1
    if op in ("CONV_2D", "DEPTHWISE_CONV_2D") and len(inputs) > 1:
        w = shape(inputs[1])  # CONV_2D: [Cout, kh, kw, Cin]; DEPTHWISE_CONV_2D: [1, kh, kw, C * multiplier]
        kernel = w[1] * w[2]
        if op == "CONV_2D":
            cout, cin = w[0], w[3]
            macs = _elements(out_shape) * kernel * cin
        else:
            cout = cin = groups = w[3]
            macs = _elements(out_shape) * kernel
        if len(in_shape) == 4 and len(out_shape) == 4 and out_shape[1]:
            stride = max(1, round(in_shape[1] / out_shape[1]))
    elif op == "CONV_3D" and len(inputs) > 1:
        w = shape(inputs[1])  # [kd, kh, kw, Cin, Cout]
        kernel, cin, cout = _elements(w[:3]), w[3], w[4]
        macs = _elements(out_shape) * kernel * cin
        if len(in_shape) == 5 and len(out_shape) == 5 and out_shape[2]:
            stride = max(1, round(in_shape[2] / out_shape[2]))
    elif op == "TRANSPOSE_CONV" and len(inputs) > 1:
        w = shape(inputs[1])  # [Cout, kh, kw, Cin]: each input pixel spreads over a kernel
        kernel, cout, cin = w[1] * w[2], w[0], w[3]
        macs = _elements(in_shape) * kernel * cout
    elif op in MATMUL_OPS and in_shape:
        k = in_shape[-1]
        macs = _elements(out_shape) * k
        cin, cout = k, out_shape[-1] if out_shape else 0
    elif op in ("AVERAGE_POOL_2D", "MAX_POOL_2D") and len(in_shape) == 4 and len(out_shape) == 4 and out_shape[1]:
        stride = max(1, round(in_shape[1] / out_shape[1]))
        kernel = stride * stride
    return Node(
        name=f"{op}:{detail['index']}",
        op=op,
        in_shape=in_shape,
        out_shape=out_shape,
        in_bytes=sum(size(i) for i in activations),
        out_bytes=sum(size(i) for i in outputs),
        weights=sum(_elements(shape(i)) for i in weights),
        kernel=kernel,
        stride=stride,
        groups=groups,
        cin=cin,
        cout=cout,
        macs=macs,
    )


def tflite_node_profile(path: str | Path, threads: int = 1, runs: int = 0, beside: Callable[[], None] | None = None
                        ) -> NodeProfile:  # fmt: skip
    """The nodes LiteRT runs for the ``.tflite`` file at ``path`` (its interpreter with XNNPACK, as
    the agent opens it), in execution order, and, with ``runs`` > 0, each node's median time per
    run from LiteRT's own op profiler (XNNPACK's operators aligned to the nodes they ran, as
    ``bench profile`` does) and the whole model's median over ``runs`` plain runs alternating with
    the profiled ones (``beside()`` after each profiled one: the speed reference's runs). A node
    XNNPACK folded into a neighbour (a PAD before a convolution) has 0 ms. Raises ValueError for a
    file the interpreter cannot read."""
    from bench.profiling.litert_events import block_sums, delegate_partitions, node_time_map
    from bench.profiling.runtimes import litert_profiled_runs
    from bench.runtimes import litert

    path = Path(path)
    interpreter = litert.create(path, threads)
    details = interpreter._get_ops_details()  # noqa: SLF001 - the only per-node view the Python API has
    tensors = {int(t["index"]): t for t in interpreter.get_tensor_details()}
    constant = _constant_tensors(path)
    own = [d for d in details if d["op_name"] != "DELEGATE"]
    nodes = [_tflite_node(d, tensors, constant) for d in own]
    if runs <= 0:
        return NodeProfile(nodes, math.nan, 0, "LiteRT interpreter's node list")
    inp = interpreter.get_input_details()[0]
    x = _random_inputs([("x", list(inp["shape"]), np.dtype(inp["dtype"]).name)])["x"]
    total, recorded = litert_profiled_runs(interpreter, path, x, threads, runs, warmup=2, beside=beside)
    kinds = [d["op_name"] for d in own]
    owners = node_time_map(recorded[0], delegate_partitions(details), kinds)
    labels = [str(i) for i in range(len(own))]
    per_node: dict[str, list[float]] = {}
    for events in recorded:
        for label, ms in block_sums(events, owners, labels).items():
            per_node.setdefault(label, []).append(ms)
    timed = [
        replace(n, ms=statistics.median(per_node.get(str(i), []) + [0.0] * (runs - len(per_node.get(str(i), [])))))
        for i, n in enumerate(nodes)
    ]
    return NodeProfile(timed, total, runs, "LiteRT op profiler with XNNPACK, operators aligned to nodes")


PROFILERS = {"onnxruntime": onnx_node_profile, "litert": tflite_node_profile}


def node_profile(runtime: str, path: str | Path, threads: int = 1, runs: int = 0,
                 beside: Callable[[], None] | None = None) -> NodeProfile:  # fmt: skip
    """:func:`onnx_node_profile` or :func:`tflite_node_profile` by runtime name; ValueError for a
    runtime with no node-level profiler here."""
    if runtime not in PROFILERS:
        raise ValueError(f"latency prediction supports runtimes {', '.join(PROFILERS)}; not {runtime}")
    return PROFILERS[runtime](path, threads, runs, beside)
