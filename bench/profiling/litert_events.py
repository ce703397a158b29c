"""LiteRT profiler events attributed to the TFLite nodes they ran.

Nodes left to the builtin kernels are reported by node index. XNNPACK reports its own operators,
numbered from 0 within each partition, and they are not one per node: it folds a PAD into the
convolution that reads it and a squaring MUL into the MEAN after it ("Mean Squared"), and may
split a node in two (a reshape before a copy). Each partition's operators are therefore aligned
to its nodes by kind, in order, with the fewest disagreements (dynamic programming): a node may
take no operator (folded into a neighbour) or several.
"""

from __future__ import annotations

import re

import numpy as np

from bench.errors import BenchError
from bench.profiling.blocks import TOP_LEVEL
from bench.profiling.litert_c import OpEvent

# TFLite builtin op -> stems of the XNNPACK operator names that run it, where the name differs
# (XNNPACK runs 1x1 convolutions and batched matmuls with constant weights as fully connected GEMMs)
XNNPACK_NAMES = {
    "CONV_2D": ("convolution", "fullyconnected"),
    "DEPTHWISE_CONV_2D": ("convolution",),
    "CONV_3D": ("convolution",),
    "TRANSPOSE_CONV": ("deconvolution",),
    "FULLY_CONNECTED": ("fullyconnected",),
    "BATCH_MATMUL": ("batchmatrixmultiply", "fullyconnected"),
    "MUL": ("multiply",),
    "SUB": ("subtract",),
    "DIV": ("divide",),
    "RSQRT": ("reciprocalsquareroot",),
    "SQRT": ("squareroot",),
    "LOGISTIC": ("sigmoid",),
    "PAD": ("constantpad",),
    "PADV2": ("constantpad",),
    "RESHAPE": ("staticreshape", "copy"),
    "SQUEEZE": ("staticreshape", "copy"),
    "EXPAND_DIMS": ("staticexpanddims", "staticreshape", "copy"),
    "CONCATENATION": ("concatenate", "copy"),
    "STRIDED_SLICE": ("slice", "stridedslice"),
    "AVERAGE_POOL_2D": ("averagepooling",),
    "MAX_POOL_2D": ("maxpooling",),
    "RELU": ("clamp",),
    "RELU6": ("clamp",),
    "RELU_N1_TO_1": ("clamp",),
    "LEAKY_RELU": ("leakyrelu",),
    "HARD_SWISH": ("hardswish",),
    "RESIZE_BILINEAR": ("resizebilinear",),
    "DEPTH_TO_SPACE": ("depthtospace",),
    "SPACE_TO_DEPTH": ("spacetodepth",),
}
MISMATCH, FOLDED, EXTRA = 2, 2, 1  # integer costs, so the traceback compares exactly


def stem(name: str) -> str:
    """ "Fully Connected (NC, F32) GEMM" -> "fullyconnected"; "CONV_2D" -> "conv2d"."""
    return re.sub(r"[^a-z0-9]", "", name.split("(")[0].lower())


def runs_kind(node_kind: str, tag: str) -> bool:
    """Whether an operator named ``tag`` can run a TFLite node of ``node_kind``."""
    op = stem(tag)
    return any(op.startswith(s) for s in XNNPACK_NAMES.get(node_kind, ())) or op.startswith(stem(node_kind))


def align(kinds: list[str], tags: list[str]) -> list[int]:
    """For each operator (``tags``, in order), the position in ``kinds`` of the node it ran.

    A monotone alignment minimising disagreements: each operator goes to one node, a node takes
    zero or more consecutive operators. Between equally good alignments the earlier node wins:
    benchmark_model shows same-named operators of several partitions in one row, where it first ran."""
    n, m = len(kinds), len(tags)
    if n == 0:
        raise ValueError("operators without nodes")
    kind_ids = {k: i for i, k in enumerate(dict.fromkeys(kinds))}
    tag_ids = {t: i for i, t in enumerate(dict.fromkeys(tags))}
    table = np.array([[0 if runs_kind(k, t) else MISMATCH for t in tag_ids] for k in kind_ids], dtype=np.int64)
    mis = table[np.array([kind_ids[k] for k in kinds])][:, np.array([tag_ids[t] for t in tags], dtype=np.int64)]
    big = np.iinfo(np.int64).max // 4
    cost = np.full((n + 1, m + 1), big, dtype=np.int64)  # cost[i, j]: first i nodes ran the first j operators
    cost[0, 0] = 0
    for i in range(1, n + 1):
        best = cost[i - 1].copy() + FOLDED  # node i-1 took no operator
        best[1:] = np.minimum(best[1:], cost[i - 1, :-1] + mis[i - 1])  # ... or operator j-1 is its first
        steps = np.concatenate(([0], np.cumsum(mis[i - 1] + EXTRA)))  # ... then more operators in a row
        cost[i] = np.minimum.accumulate(best - steps) + steps
    owner = [0] * m
    i, j = n, m
    while j > 0:  # back from the end; of equally good alignments, operators go to the earlier node
        if cost[i, j] == cost[i - 1, j] + FOLDED:
            i -= 1
        elif cost[i, j] == cost[i - 1, j - 1] + mis[i - 1, j - 1]:
            owner[j - 1] = i - 1
            i, j = i - 1, j - 1
        else:
            owner[j - 1] = i - 1  # one more operator of node i-1
            j -= 1
    return owner


def delegate_partitions(details: list[dict]) -> list[list[int]]:
    """The node indices each XNNPACK partition runs, in execution order, from an allocated
    interpreter's node list (``_get_ops_details``).

    The interpreter lists the model's own nodes, then one ``DELEGATE`` node per partition; a
    partition covers every node reached walking back from its outputs without crossing its inputs."""
    own = [d for d in details if d["op_name"] != "DELEGATE"]
    producer = {t: d["index"] for d in own for t in d["outputs"]}
    partitions = []
    for delegate in (d for d in details if d["op_name"] == "DELEGATE"):
        stop = set(delegate["inputs"])
        todo = list(delegate["outputs"])
        covered: set[int] = set()
        while todo:
            tensor = todo.pop()
            node = producer.get(tensor)
            if tensor in stop or node is None or node in covered:
                continue
            covered.add(node)
            todo += [t for t in details[node]["inputs"] if t >= 0]
        partitions.append(sorted(covered))
    return partitions


def split_by_partition(events: list[OpEvent]) -> tuple[list[list[OpEvent]], list[OpEvent]]:
    """One run's events: the delegate's operators grouped by partition (their index starts again
    at 0 in each), and the builtin nodes."""
    groups: list[list[OpEvent]] = []
    builtin = []
    previous = None
    for event in events:
        if not event.delegated:
            builtin.append(event)
            previous = None
            continue
        if previous is None or event.index <= previous.index:
            groups.append([])
        groups[-1].append(event)
        previous = event
    return groups, builtin


def node_time_map(first_run: list[OpEvent], partitions: list[list[int]], kinds: list[str]) -> list[list[int]]:
    """For each partition's operators (from one run), the node index each ran.

    When the runtime partitioned the graph differently than the interpreter describes (another
    count of partitions, as on a phone whose XNNPACK takes other ops), all delegated operators are
    aligned at once to the nodes the interpreter delegated (all nodes if none) that did not run on
    the builtin kernels."""
    groups, builtin = split_by_partition(first_run)
    if len(groups) == len(partitions):
        return [[nodes[k] for k in align([kinds[n] for n in nodes], [e.tag for e in group])]
                for nodes, group in zip(partitions, groups, strict=True)]  # fmt: skip
    ran_builtin = {e.index for e in builtin}
    nodes = [n for n in sorted({n for p in partitions for n in p} or range(len(kinds))) if n not in ran_builtin]
    flat = align([kinds[n] for n in nodes], [e.tag for g in groups for e in g])
    owners = iter(nodes[k] for k in flat)
    return [[next(owners) for _ in group] for group in groups]


def block_sums(events: list[OpEvent], owners: list[list[int]], blocks: list[str]) -> dict[str, float]:
    """Milliseconds per block in one run's events, each delegated operator counted for the node
    ``owners`` says it ran (``node_time_map``), each builtin node for itself."""
    groups, builtin = split_by_partition(events)
    if [len(g) for g in groups] != [len(o) for o in owners]:
        raise BenchError("LiteRT's profiler reported other operators in one run than in the run they were aligned on")
    timed = [
        (node, e) for group, nodes in zip(groups, owners, strict=True) for e, node in zip(group, nodes, strict=True)
    ]
    spent: dict[str, float] = {}
    for node, event in [*timed, *((e.index, e) for e in builtin)]:
        block = blocks[node] if 0 <= node < len(blocks) else TOP_LEVEL
        spent[block] = spent.get(block, 0.0) + event.us / 1e3
    return spent
