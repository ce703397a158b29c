"""The regression gate: compare a candidate's raw samples with a baseline's, cell by cell.

Following asv's rule, a cell changed only when both conditions hold: the two sample sets differ
significantly (two-sided Mann-Whitney U, ``p < alpha``) **and** the median moved by more than
the threshold. The relative change of the median comes with a bootstrap confidence interval.

A reference (REF) is a stored run id, a baseline name (``results/baselines/NAME.json``), or a
results file (the JSON of ``bench results --format json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats as sps

from bench.errors import BenchError
from bench.paths import results_dir

CELL = ("model", "format", "precision", "runtime", "device", "threads")
REQUIRED = {*CELL, "samples_ms", "status"}
BOOTSTRAP_RESAMPLES = 2000


@dataclass
class CellComparison:
    cell: tuple
    # regression | improvement | unchanged | missing-in-candidate | missing-in-baseline | not-tested
    # (not-tested: a side has only a native tool's summary, no per-inference samples to test)
    verdict: str
    baseline_ms: float | None = None
    candidate_ms: float | None = None
    change: float | None = None  # relative change of the median, +0.05 = 5% slower
    change_ci: tuple[float, float] | None = None
    p_value: float | None = None

    @property
    def name(self) -> str:
        model, fmt, precision, runtime, device, threads = self.cell
        return f"{model} {fmt}/{precision} {runtime} x{threads} on {device}"


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
    from bench.results.store import Store

    rows = Store(store).measurement_rows(ref)
    if not rows:
        raise BenchError(
            f"unknown ref '{ref}': not a results file, a baseline in {baselines_dir()}, or a run id in the store"
        )
    return rows


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
    return records


def samples_by_cell(records: list[dict]) -> dict[tuple, np.ndarray]:
    """Raw samples per cell; repeats of a cell are pooled. Failed measurements carry no samples."""
    cells: dict[tuple, list[float]] = {}
    for r in records:
        if r["status"] == "ok" and r["samples_ms"]:
            cells.setdefault(tuple(r[k] for k in CELL), []).extend(r["samples_ms"])
    return {k: np.asarray(v, dtype=np.float64) for k, v in cells.items()}


def summary_medians(records: list[dict]) -> dict[tuple, float]:
    """Median latency per cell for measurements that carry no samples (native tools' summaries)."""
    cells: dict[tuple, list[float]] = {}
    for r in records:
        if r["status"] == "ok" and not r["samples_ms"] and r.get("median_ms") is not None:
            cells.setdefault(tuple(r[k] for k in CELL), []).append(float(r["median_ms"]))
    return {k: float(np.median(v)) for k, v in cells.items()}


def median_change_ci(base: np.ndarray, cand: np.ndarray, confidence: float = 0.95, seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    chunk = max(1, 2_000_000 // max(base.size, cand.size))  # bound memory for long sample lists
    ratios = []
    for start in range(0, BOOTSTRAP_RESAMPLES, chunk):
        k = min(chunk, BOOTSTRAP_RESAMPLES - start)
        b = np.median(rng.choice(base, size=(k, base.size)), axis=1)
        c = np.median(rng.choice(cand, size=(k, cand.size)), axis=1)
        ratios.append(c / b - 1)
    ratios = np.concatenate(ratios)
    tail = (1 - confidence) / 2
    return float(np.quantile(ratios, tail)), float(np.quantile(ratios, 1 - tail))


def compare_samples(base: np.ndarray, cand: np.ndarray, threshold: float, alpha: float) -> tuple[str, dict]:
    """The two-condition verdict for one cell."""
    change = float(np.median(cand) / np.median(base) - 1)
    p = float(sps.mannwhitneyu(cand, base, alternative="two-sided").pvalue)
    significant = p < alpha
    if significant and change > threshold:
        verdict = "regression"
    elif significant and change < -threshold:
        verdict = "improvement"
    else:
        verdict = "unchanged"
    return verdict, {"change": change, "p_value": p}


def compare(
    baseline: list[dict], candidate: list[dict], threshold: float = 0.05, alpha: float = 0.01
) -> list[CellComparison]:
    base_cells, cand_cells = samples_by_cell(baseline), samples_by_cell(candidate)
    base_summary, cand_summary = summary_medians(baseline), summary_medians(candidate)
    out = []
    for cell in sorted(set(base_summary) | set(cand_summary), key=lambda c: tuple(map(str, c))):
        if cell in base_cells and cell in cand_cells:
            continue
        b = base_summary.get(cell, float(np.median(base_cells[cell])) if cell in base_cells else None)
        c = cand_summary.get(cell, float(np.median(cand_cells[cell])) if cell in cand_cells else None)
        if b is not None and c is not None:
            out.append(CellComparison(cell, "not-tested", b, c, c / b - 1))
            base_cells.pop(cell, None)
            cand_cells.pop(cell, None)
    for cell in sorted(set(base_cells) | set(cand_cells), key=lambda c: tuple(map(str, c))):
        if cell not in cand_cells:
            out.append(CellComparison(cell, "missing-in-candidate", float(np.median(base_cells[cell]))))
            continue
        if cell not in base_cells:
            out.append(CellComparison(cell, "missing-in-baseline", candidate_ms=float(np.median(cand_cells[cell]))))
            continue
        b, c = base_cells[cell], cand_cells[cell]
        verdict, numbers = compare_samples(b, c, threshold, alpha)
        out.append(
            CellComparison(
                cell,
                verdict,
                float(np.median(b)),
                float(np.median(c)),
                numbers["change"],
                median_change_ci(b, c),
                numbers["p_value"],
            )
        )
    return out


def markdown(results: list[CellComparison], threshold: float, alpha: float) -> str:
    counts = {v: sum(r.verdict == v for r in results) for v in ("regression", "improvement", "unchanged")}
    missing = sum(r.verdict.startswith("missing") for r in results)
    lines = [
        "## Latency comparison",
        "",
        f"{counts['regression']} regressions, {counts['improvement']} improvements, {counts['unchanged']} unchanged, "
        f"{missing} missing (threshold {threshold:.0%}, Mann-Whitney U alpha {alpha}).",
        "",
        "| verdict | cell | baseline ms | candidate ms | change | 95% CI | p |",
        "|---|---|---:|---:|---:|---|---:|",
    ]
    for r in results:
        ci = f"{r.change_ci[0]:+.1%} .. {r.change_ci[1]:+.1%}" if r.change_ci else "-"
        lines.append(
            f"| {r.verdict} | {_md(r.name)} | {_num(r.baseline_ms)} | {_num(r.candidate_ms)} | "
            f"{'-' if r.change is None else f'{r.change:+.1%}'} | {ci} | "
            f"{'-' if r.p_value is None else f'{r.p_value:.2g}'} |"
        )
    return "\n".join(lines) + "\n"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("<", "&lt;").replace(">", "&gt;")


def save_baseline(name: str, records: list[dict]) -> Path:
    if not name or "/" in name or name.startswith("."):
        raise BenchError(f"bad baseline name '{name}': use letters, digits, '-', '_'")
    if not records:
        raise BenchError("nothing to save: the store has no measurements for that run")
    path = baselines_dir() / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"baseline": name, "measurements": records}
    path.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n")
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
