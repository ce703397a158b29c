"""The regression gate: compare a candidate's raw samples with a baseline's, cell by cell.

Following asv's rule, a cell changed only when both conditions hold: the two sample sets differ
significantly (two-sided Mann-Whitney U, ``p < alpha``) **and** the median moved by more than
the threshold. The relative change of the median comes with a bootstrap confidence interval.
Cells measured by a native tool that kept no samples are judged from the tools' own summaries:
a Welch t-test on their mean, standard deviation and count, with the same two conditions (the
median's change, or the mean's where a tool printed no median); without those numbers on both
sides the cell is ``not-tested``, and fails the gate when its median moved up by more than the
threshold (nothing can call that noise). Every cell also shows how its p95 moved (from the samples, or
the tools' printed p95), so a tail that grows under a steady median is seen.

A reference (REF) is a stored run id, a baseline name (``results/baselines/NAME.json``), or a
results file (the JSON of ``bench results --format json``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.errors import BenchError
from bench.measure import stats
from bench.measure.measurement import POOLED_FIELDS, Cell, Measurement
from bench.measure.runners.tool_results import median_is_mean
from bench.measure.stats import LatencyStats
from bench.paths import results_dir
from bench.results.markdown import cell as md_cell

# "accelerator" may be missing: results files saved before accelerators existed ran on the CPU
REQUIRED = {*POOLED_FIELDS, "samples_ms", "status"} - {"accelerator"}


@dataclass
class CellComparison:
    """The verdict on one cell (its ``POOLED_FIELDS`` key: repeats pooled); latencies in ms."""

    cell: tuple
    # regression | improvement | unchanged | missing-in-candidate | missing-in-baseline | not-tested
    # (not-tested: a side has only a native tool's summary, no per-inference samples to test)
    verdict: str
    baseline_ms: float | None = None
    candidate_ms: float | None = None
    change: float | None = None  # relative change of the median, +0.05 = 5% slower
    change_ci: tuple[float, float] | None = None
    p_value: float | None = None
    accuracy: str | None = None  # "accuracy collapse ..." when the candidate's artifact was scored so
    test: str | None = None  # "mann-whitney" (samples) | "welch" (the tools' mean/std/count)
    tail_change: float | None = None  # relative change of the p95 (samples' or the tools' own)
    # "delegation 100% -> 67% partial" when the accelerator's share of the graph changed between the sides
    delegation: str | None = None
    delegation_dropped: bool = False  # the candidate's accelerator took less of the graph: a regression

    def untested_regression(self, threshold: float) -> bool:
        """A ``not-tested`` cell whose median moved up by more than ``threshold``: no test can say it
        is noise, so the gate treats it as a regression (a 10x slowdown never passes untested)."""
        return self.verdict == "not-tested" and self.change is not None and self.change > threshold

    def fails_gate(self, threshold: float, strict: bool = False) -> bool:
        """Whether this cell fails ``bench compare``'s gate: a significant latency regression, an
        untested rise above ``threshold`` (:meth:`untested_regression`), an accuracy collapse, an
        accelerator that took less of the graph, or (``strict``) a cell missing on one side."""
        return (
            self.verdict == "regression"
            or bool(self.accuracy)
            or self.delegation_dropped
            or self.untested_regression(threshold)
            or (strict and self.verdict.startswith("missing"))
        )

    @property
    def name(self) -> str:
        model, fmt, precision, runtime, accelerator, device, threads = self.cell
        where = runtime if accelerator == "cpu" else f"{runtime}[{accelerator}]"
        return f"{model} {fmt}/{precision} {where} x{threads} on {device}"


def baselines_dir() -> Path:
    return results_dir() / "baselines"


def load_ref(ref: str, store: str | None = None) -> list[dict]:
    """Measurement records of a run id, a baseline name or a results JSON file."""
    path = Path(ref)
    named = baselines_dir() / f"{ref}.json"
    if path.suffix == ".json" or path.is_file():
        return _read_records(path)
    if named.is_file():
        return _read_records(named)
    from bench.results.records import with_top1
    from bench.results.store import Store

    results = Store(store, create=False)
    rows = with_top1(results.measurement_rows(ref), results, published=False)  # a collapse fails the gate too
    if not rows:
        raise BenchError(
            f"unknown ref '{ref}': not a results file, a baseline in {baselines_dir()}, or a run id in the store"
        )
    return checked_numbers(rows, f"run {ref}")


def checked_numbers(records: list[dict], where: str) -> list[dict]:
    """``records`` when every sample and latency statistic in them is a finite number >= 0 (or absent)
    and their cell fields read as a cell (``threads`` an integer); BenchError naming ``where``, the
    measurement and the value otherwise (NaN, inf, text)."""
    for i, record in enumerate(records):
        try:
            threads = record.get("threads")
            if threads is not None and not str(threads).isdigit():  # "1; rm", 1.5, True, [1]
                raise ValueError(f"threads is {str(threads)[:40]!r}, not a whole number")
            if record.get("samples_ms") is not None:
                stats.finite_samples(record["samples_ms"])
            stats.check_statistics(record)
        except ValueError as exc:
            raise BenchError(f"{where}: measurement {i}: {exc}") from None
    return records


def _read_records(path: Path) -> list[dict]:
    if not path.is_file():
        raise BenchError(f"results file not found: {path}")
    try:
        data = json.loads(path.read_text())
    except ValueError as exc:
        raise BenchError(f"{path} is not valid JSON: {exc}") from None
    records = data.get("measurements") if isinstance(data, dict) else data
    if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
        raise BenchError(f"{path} is not a results file: expected a list of measurements")
    for i, record in enumerate(records):
        missing = REQUIRED - set(record)
        if missing:
            raise BenchError(f"{path}: measurement {i} lacks {', '.join(sorted(missing))} (incompatible schema)")
    return checked_numbers(records, str(path))


def samples_by_cell(records: list[dict]) -> dict[tuple, np.ndarray]:
    """Raw samples (ms) per pooled cell key; repeats of a cell are pooled. Failed measurements carry no samples."""
    cells: dict[tuple, list] = {}
    for r in records:
        if r["status"] == "ok" and r["samples_ms"]:
            cells.setdefault(Cell.from_row(r).pooled_key, []).append(r["samples_ms"])
    return {k: stats.pool(v) for k, v in cells.items()}


def summaries_by_cell(records: list[dict]) -> dict[tuple, LatencyStats]:
    """The tools' summaries pooled per cell key (``Measurement.merge``) for cells whose measurements
    carry no samples (native tools'); cells without a median or mean are left out."""
    cells: dict[tuple, list[Measurement]] = {}
    for r in records:
        if r["status"] == "ok" and not r["samples_ms"]:
            cells.setdefault(Cell.from_row(r).pooled_key, []).append(Measurement.from_row(r))
    pooled = {key: Measurement.merge(parts).latency for key, parts in cells.items()}
    return {key: s for key, s in pooled.items() if s.median_ms is not None or s.mean_ms is not None}


def means_by_cell(records: list[dict]) -> set[tuple]:
    """Pooled cell keys whose stored median is a native tool's mean (it printed no median)."""
    return {Cell.from_row(r).pooled_key for r in records if r["status"] == "ok" and median_is_mean(r.get("source"))}


def compare_samples(base: np.ndarray, cand: np.ndarray, threshold: float, alpha: float) -> tuple[str, dict]:
    """The two-condition verdict for one cell: ``regression`` / ``improvement`` when the samples differ
    significantly (Mann-Whitney U, ``p < alpha``) and the median moved by more than ``threshold``
    (a fraction), else ``unchanged``; with ``{"change": relative median change, "p_value": p}``."""
    change = stats.median_change(base, cand)
    p = stats.mann_whitney_p(base, cand)
    return two_condition_verdict(change, p, threshold, alpha), {"change": change, "p_value": p}


def two_condition_verdict(change: float, p: float, threshold: float, alpha: float) -> str:
    """asv's two conditions: significant (``p < alpha``) and moved by more than ``threshold``."""
    if p < alpha and change > threshold:
        return "regression"
    if p < alpha and change < -threshold:
        return "improvement"
    return "unchanged"


def _centre(summary: LatencyStats) -> float:
    """A summary's median, or its mean where the tool printed no median."""
    return summary.median_ms if summary.median_ms is not None else summary.mean_ms


def _relative(base: float | None, cand: float | None) -> float | None:
    return cand / base - 1 if base and cand is not None else None


def compare_summaries(
    cell: tuple, base: LatencyStats, cand: LatencyStats, threshold: float, alpha: float
) -> CellComparison:
    """One cell measured without samples on at least one side: the Welch t-test of the tools' means
    (:func:`bench.measure.stats.welch_p`) and the change of their medians; ``not-tested`` when either
    side lacks a mean, standard deviation or count."""
    b, c = _centre(base), _centre(cand)
    change = c / b - 1
    tail = _relative(base.p95_ms, cand.p95_ms)
    p = stats.welch_p(base, cand)
    if p is None:
        return CellComparison(cell, "not-tested", b, c, change, tail_change=tail)
    return CellComparison(
        cell, two_condition_verdict(change, p, threshold, alpha), b, c, change, None, p, None, "welch", tail
    )


def compare(
    baseline: list[dict], candidate: list[dict], threshold: float = 0.05, alpha: float = 0.01
) -> list[CellComparison]:
    """Per pooled cell: the verdict of the candidate against the baseline (module docstring), with
    ``threshold`` the smallest relative median change that counts and ``alpha`` the significance level."""
    base_cells, cand_cells = samples_by_cell(baseline), samples_by_cell(candidate)
    base_summary, cand_summary = summaries_by_cell(baseline), summaries_by_cell(candidate)
    out = []
    for cell in sorted(set(base_summary) | set(cand_summary), key=lambda c: tuple(map(str, c))):
        if cell in base_cells and cell in cand_cells:
            continue
        b = base_summary.get(cell) or (stats.summarize(base_cells[cell], ci=False) if cell in base_cells else None)
        c = cand_summary.get(cell) or (stats.summarize(cand_cells[cell], ci=False) if cell in cand_cells else None)
        if b is not None and c is not None:
            out.append(compare_summaries(cell, b, c, threshold, alpha))
            base_cells.pop(cell, None)
            cand_cells.pop(cell, None)
        elif c is None and cell not in base_cells:  # a tool's summary on the baseline side only
            out.append(CellComparison(cell, "missing-in-candidate", _centre(b)))
        elif b is None and cell not in cand_cells:
            out.append(CellComparison(cell, "missing-in-baseline", candidate_ms=_centre(c)))
    for cell in sorted(set(base_cells) | set(cand_cells), key=lambda c: tuple(map(str, c))):
        if cell not in cand_cells:
            out.append(CellComparison(cell, "missing-in-candidate", stats.median(base_cells[cell])))
            continue
        if cell not in base_cells:
            out.append(CellComparison(cell, "missing-in-baseline", candidate_ms=stats.median(cand_cells[cell])))
            continue
        b, c = base_cells[cell], cand_cells[cell]
        verdict, numbers = compare_samples(b, c, threshold, alpha)
        out.append(
            CellComparison(
                cell,
                verdict,
                stats.median(b),
                stats.median(c),
                numbers["change"],
                stats.median_change_ci(b, c),
                numbers["p_value"],
                test="mann-whitney",
                tail_change=_relative(float(np.percentile(b, 95)), float(np.percentile(c, 95))),
            )
        )
    collapsed = collapses(candidate)
    means = (means_by_cell(baseline), means_by_cell(candidate))
    delegated = (delegation_by_cell(baseline), delegation_by_cell(candidate))
    for result in out:
        result.accuracy = collapsed.get(result.cell)
        before, after = (side.get(result.cell) for side in delegated)
        if before and after and before != after:
            result.delegation = f"delegation {_delegation_text(before)} -> {_delegation_text(after)}"
            result.delegation_dropped = _share(after) < _share(before)
        sides = [result.cell in side for side in means]
        if any(sides) and not result.verdict.startswith("missing"):  # what was compared: a mean is not a median
            what = "of means" if all(sides) else "mean vs median"
            result.test = f"{result.test or 'none'}, {what}"
    return out


def delegation_by_cell(records: list[dict]) -> dict[tuple, tuple[float | None, str | None]]:
    """Pooled cell key -> (the smallest coverage of its rows, or None; "mixed" / "partial" /
    "unchecked" / None: :func:`bench.accelerators.coverage.delegation_mark`), for cells on an
    accelerator."""
    from bench.accelerators.coverage import delegation_mark

    rows: dict[tuple, list[dict]] = {}
    for r in records:
        if r.get("status", "ok") == "ok" and (r.get("accelerator") or "cpu") != "cpu":
            rows.setdefault(Cell.from_row(r).pooled_key, []).append(r)
    out = {}
    for cell, group in rows.items():
        shares = [float(r["coverage"]) for r in group if isinstance(r.get("coverage"), int | float)]
        mark = delegation_mark([r.get("source") for r in group], [r.get("coverage") for r in group])
        out[cell] = (min(shares) if shares else None, mark)
    return out


def _delegation_text(state: tuple[float | None, str | None]) -> str:
    coverage, mark = state
    return " ".join(t for t in (None if coverage is None else f"{coverage:.0%}", mark) if t) or "unreported"


def _share(state: tuple[float | None, str | None]) -> float:
    """A side's share of the graph on the accelerator, for ordering: a partial one without node
    counts ranks below any full one."""
    coverage, mark = state
    if coverage is not None:
        return coverage
    return 0.5 if mark == "partial" else 1.0


def collapses(records: list[dict]) -> dict[tuple, str]:
    """Pooled cell key -> ``"accuracy collapse (...)"`` for measurements whose artifact ``bench
    accuracy`` scored as collapsed (their ``top1_source`` says so; records from the store or a
    results file of ``bench results --format json``)."""
    found = {}
    for r in records:
        source = r.get("top1_source") or ""
        if "accuracy collapse" in source:
            found[Cell.from_row(r).pooled_key] = f"accuracy collapse (top-1 {r.get('top1'):.1f}%)"
    return found


def markdown(results: list[CellComparison], threshold: float, alpha: float, strict: bool = False) -> str:
    """The comparison as a markdown section (a PR comment): the gate's verdict as ``bench compare``'s
    exit status gives it (:meth:`CellComparison.fails_gate`), the latency verdicts' counts, and one
    table row per cell; a cell that fails for more than its latency verdict (an accuracy collapse, lost
    delegation, an untested rise, missing with ``strict``) says so after its verdict."""
    counts = {v: sum(r.verdict == v for r in results) for v in ("regression", "improvement", "unchanged")}
    missing = sum(r.verdict.startswith("missing") for r in results)
    failing = sum(r.fails_gate(threshold, strict) for r in results)
    gate = f"**Gate: FAIL** ({failing} of {len(results)} cells)" if failing else "**Gate: pass**"
    lines = [
        "## Latency comparison",
        "",
        gate,
        "",
        f"{counts['regression']} regressions, {counts['improvement']} improvements, {counts['unchanged']} unchanged, "
        f"{missing} missing (threshold {threshold:.0%}, alpha {alpha}; test: Mann-Whitney U on samples, "
        "Welch t on a native tool's mean/std/count).",
        "",
        "| verdict | cell | baseline ms | candidate ms | change | 95% CI | p | test | p95 change |",
        "|---|---|---:|---:|---:|---|---:|---|---:|",
    ]
    for r in results:
        ci = f"{r.change_ci[0]:+.1%} .. {r.change_ci[1]:+.1%}" if r.change_ci else "-"
        verdict = "; ".join(t for t in (r.verdict, r.accuracy, r.delegation) if t)
        if r.verdict != "regression" and r.fails_gate(threshold, strict):  # failing for another reason
            verdict += " (**fails the gate**)"
        lines.append(
            f"| {verdict} | {md_cell(r.name)} | {_num(r.baseline_ms)} | {_num(r.candidate_ms)} | "
            f"{_percent(r.change)} | {ci} | {'-' if r.p_value is None else f'{r.p_value:.2g}'} | "
            f"{r.test or '-'} | {_percent(r.tail_change)} |"
        )
    return "\n".join(lines) + "\n"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _percent(change: float | None) -> str:
    return "-" if change is None else f"{change:+.1%}"


BASELINE_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")  # a file name on every OS, one cell of a table


def save_baseline(name: str, records: list[dict]) -> Path:
    """Write ``records`` to ``results/baselines/NAME.json``; returns the path.

    Raises BenchError when ``name`` is not 1-64 letters, digits, '-' or '_', when there is
    nothing to save, a sample or statistic is not a finite number (:func:`checked_numbers`), or
    when the file cannot be written."""
    if not BASELINE_NAME.fullmatch(name):
        raise BenchError(f"bad baseline name {name!r}: use 1 to 64 letters, digits, '-', '_'")
    if not records:
        raise BenchError("nothing to save: the store has no measurements for that run")
    checked_numbers(records, f"baseline {name}")  # a NaN sample would make a baseline nothing can compare with
    path = baselines_dir() / f"{name}.json"
    payload = {"baseline": name, "measurements": records}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
    except OSError as exc:
        raise BenchError(f"cannot write baseline {path}: {exc.strerror}") from None
    return path


def list_baselines() -> list[dict]:
    out = []
    for path in sorted(baselines_dir().glob("*.json")):
        try:
            records = _read_records(path)
        except BenchError as exc:
            out.append({"name": path.stem, "path": str(path), "error": str(exc)})
            continue
        out.append(
            {
                "name": path.stem,
                "path": str(path),
                "measurements": len(records),
                "runs": sorted({r.get("run_id", "") for r in records}),
            }
        )
    return out
