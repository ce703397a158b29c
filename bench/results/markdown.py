"""Markdown for CI job summaries: text in a table cell (``bench results``, ``bench compare``) and the
summary of ``bench ab``."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.measure.ab import ABResult


def cell(text: object) -> str:
    """``text`` safe inside one cell of a Markdown table row: HTML escaped (``<``, ``>``, ``&``),
    ``|`` escaped, and line breaks and other control characters shown as ``\\n``-style escapes, so
    that a model or device name can neither end the row nor inject markup."""
    value = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    return html.escape(value, quote=False).replace("|", "\\|")


def ab_summary(result: ABResult) -> str:
    """The job summary of ``bench ab`` (``bench.measure.ab.ABResult``): both versions, the rounds and
    their orders, then one row per cell with its verdict, change, CI, p and dropped rounds."""
    from bench.measure.ab import VERDICTS

    counts = {v: sum(c.verdict.verdict == v for c in result.cells) for v in VERDICTS}
    orders = "".join("A" if o == "AB" else "B" for o in result.orders)
    lines = [
        "## Latency A/B",
        "",
        f"A = {cell(result.a.label)}, B = {cell(result.b.label)}; {len(result.orders)} interleaved rounds on "
        f"{cell(result.device)} (first in each round: {orders}; seed {result.seed}).",
        "",
        ", ".join(f"{n} {v}" for v, n in counts.items())
        + f" (threshold {result.threshold:.0%}, alpha {result.alpha:g}; test: Wilcoxon signed-rank on the "
        "per-round log ratios B/A).",
        "",
        "| verdict | cell | A ms | B ms | change | 95% CI | p | rounds | dropped | contended |",
        "|---|---|---:|---:|---:|---|---:|---:|---|---|",
    ]
    for c in result.cells:
        v = c.verdict
        ci = f"{v.change_ci[0]:+.1%} .. {v.change_ci[1]:+.1%}" if v.change_ci else "-"
        dropped = "; ".join(f"round {r.index + 1}: {r.dropped}" for r in c.dropped) or "-"
        contended = c.contended_text()
        verdict = f"{v.verdict} ({v.reason})" if v.reason else v.verdict
        if v.untested_regression(result.threshold):
            verdict = f"REGRESSION (untested): {verdict}"
        lines.append(
            f"| {cell(verdict)} | {cell(c.pair.label)} | {_ms(v.a_ms)} | {_ms(v.b_ms)} | "
            f"{'-' if v.change is None else f'{v.change:+.1%}'} | {ci} | "
            f"{'-' if v.p_value is None else f'{v.p_value:.2g}'} | {len(c.complete)}/{len(result.orders)} | "
            f"{cell(dropped)} | {cell(contended) or '-'} |"
        )
    if result.lost:
        lines += ["", f"The device was lost: {cell(result.lost)}; the rounds measured before are judged."]
    return "\n".join(lines) + "\n"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"
