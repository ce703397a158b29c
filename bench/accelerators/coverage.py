"""Whether a cell really ran on its accelerator: the verdict from what the runtime reported.

Runtimes report delegation in their own words (benchmark_model's ``Replacing N out of M node(s)``
and ``Explicitly applied ... delegate`` lines, onnxruntime's node placement per execution
provider); the parsers and the agent turn them into *delegate entries* ``{"delegate", "execution",
"replaced", "total", "partitions"}`` (:func:`bench.parsers.tool_output._delegate`). One rule
judges them all (:func:`judge`):

- the accelerator's entry is missing or took no node -> the cell fails with the runtime's reason: a
  latency measured on the CPU is never stored under the accelerator's name;
- it took every node -> ok, coverage 1.0;
- it took some -> ok with its coverage (and partitions), marked partial; failed instead when the run
  asks for full delegation (``--require-full-delegation``), as is a delegation whose share the runtime
  did not report (no node total, no verdict).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.accelerators.base import Serving
from bench.errors import one_line


@dataclass(frozen=True)
class Verdict:
    """What the coverage check decided: ``error`` (the cell fails with it) or ``coverage`` (share of
    the graph's nodes the accelerator ran, 0..1) with the ``record`` stored in the row's source
    (delegate, nodes delegated and total, partitions, partial)."""

    coverage: float | None = None
    error: str | None = None
    record: dict = field(default_factory=dict)


def judge(spec: str, serving: Serving, source: dict | None, require_full: bool = False) -> Verdict:
    """The verdict on a cell run on accelerator ``spec`` (served as ``serving``) from the ``source``
    the runner recorded (its ``delegates`` entries and ``delegate_errors`` lines). The CPU
    (``serving.reports_as`` None) is not judged."""
    if serving.reports_as is None:
        return Verdict()
    source = source or {}
    entries = [d for d in source.get("delegates") or [] if d.get("delegate") == serving.reports_as]
    said = "; ".join(one_line(e, 200) for e in (source.get("delegate_errors") or [])[:3])
    because = f": {said}" if said else ""
    name = f"{spec} ({serving.reports_as})"
    if not entries:
        return Verdict(
            error=f"accelerator {name} was not applied: the runtime reported no delegation to it{because}; "
            "nothing measured on the CPU is stored as this accelerator"
        )
    entry = entries[-1]
    replaced, total = entry.get("replaced"), entry.get("total")
    execution = entry.get("execution")
    if execution == "none" or replaced == 0:
        return Verdict(
            error=f"accelerator {name} took none of the graph's nodes{because}; the runtime ran it on the CPU, "
            "which is not stored as this accelerator"
        )
    coverage = replaced / total if replaced is not None and total else (1.0 if execution == "full" else None)
    partial = execution == "partial" or (coverage is not None and coverage < 1.0)
    record = {
        "delegate": serving.reports_as,
        "nodes": replaced,
        "total_nodes": total,
        "partitions": entry.get("partitions"),
        "kernels": entry.get("kernels"),
        "partial": partial,
        "cpu_nodes": entry.get("cpu_nodes"),
    }
    record = {k: v for k, v in record.items() if v is not None}
    if require_full and not partial and coverage is None:  # "Replacing 40 node(s)" (TF 2.3): no total
        return Verdict(
            None,
            f"accelerator {name} took {replaced if replaced is not None else 'some'} nodes of a graph whose size the "
            "runtime did not report, so full delegation cannot be told (--require-full-delegation)",
            record,
        )
    if partial and require_full:
        share = f"{replaced} of {total} nodes" if total else "part of the graph"
        return Verdict(
            coverage,
            f"accelerator {name} took only {share} (--require-full-delegation)",
            record,
        )
    return Verdict(coverage, None, record)


# A delegate whose outputs are further than this from the CPU's (mean absolute difference of an
# output's elements, as TFLite's inference_diff reports it) is flagged: classifier logits computed in
# fp16 on a GPU differ by far less; a wrong kernel by far more.
MAX_OUTPUT_ERROR = 0.01


def assess_outputs(check: dict) -> dict:
    """An output check (``tool``, ``runs``, ``output_errors``, ``max_error``: from inference_diff on a
    phone, or the agent's comparison with the CPU session) with its verdict: ``flagged`` when the
    largest error exceeds :data:`MAX_OUTPUT_ERROR` (``limit``), and ``status`` "checked"."""
    return {**check, "status": "checked", "limit": MAX_OUTPUT_ERROR, "flagged": check["max_error"] > MAX_OUTPUT_ERROR}


def not_checked(why: str) -> dict:
    """The output check of a cell whose accelerator's outputs were not compared with the CPU's, and why."""
    return {"status": "not checked", "why": why}


def delegation_mark(sources, coverages=None) -> str | None:
    """What a cell's rows (their ``source``) say of its accelerator's delegation beyond the coverage
    number: "mixed" when its rows ran with different delegation, so that pooling them mixes two
    placements of the graph (``coverages``: the rows' shares of nodes, 0..1 or None/NaN where not
    recorded, in the order of ``sources``; mixed = two different shares, or 100% beside a row that
    records partial delegation); else "partial" when any row records partial delegation,
    "unchecked" when any records an accelerator taken as given (an ingested log without node
    placement), else None."""
    records = [(s.get("accelerator") or {}) if isinstance(s, dict) else {} for s in sources]
    if coverages is not None:
        shares = {round(float(c), 4) for c in coverages if c is not None and c == c}  # c != c: NaN
        if len(shares) > 1 or (shares == {1.0} and any(r.get("partial") for r in records)):
            return "mixed"
    if any(r.get("partial") for r in records):
        return "partial"
    return "unchecked" if any(r.get("checked") is False for r in records) else None
