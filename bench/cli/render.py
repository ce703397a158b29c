"""Rendering for the command line: every Rich table and text line the commands print.

Commands compute nothing here and this module computes nothing either: each function takes the
result objects a library function returned (zoo rows, artifacts, measurement rows, comparisons,
profiles, probes) and prints them on :data:`out` (stdout) or :data:`err` (stderr). Importing it
is cheap (Rich only); the result types are named for type checkers alone.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from bench.devices.config import Device
    from bench.flops import MacsReport
    from bench.measure.ab import ABResult
    from bench.profiling.profile import Profile
    from bench.results.compare import CellComparison
    from bench.zoo import ZooRow
    from export.artifact import Artifact

# Piped output (CI logs, files) gets wide tables instead of Rich's 80-column fallback.
# emoji off: a model named file.py:factory: must not print as an emoji code's picture
out = Console(width=None if sys.stdout.isatty() else 200, emoji=False)
err = Console(stderr=True, emoji=False)


def progress() -> Progress:
    """A transient progress bar on stderr (nothing is drawn when stderr is not a terminal)."""
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,  # else Rich ends it with an empty line on a redirected stderr
    )


def fmt(value: float | None, digits: int = 2) -> str:
    """``value`` with ``digits`` decimals, or '-' when it is missing (None, or NaN as pandas fills it)."""
    return "-" if value is None or value != value else f"{value:.{digits}f}"


def say(text: str) -> None:
    """One plain line on stdout (a CI log greps it: never wrapped, no markup, highlighting or emoji)."""
    out.print(Text(text), soft_wrap=True)


def note(text: str) -> None:
    """One plain line on stderr (no Rich markup or highlighting), e.g. how many cells failed."""
    err.print(text, markup=False, highlight=False, soft_wrap=True)


def zoo(rows: Sequence[ZooRow]) -> None:
    """The model zoo: measured params / MACs beside the published ones, top-1 and sources."""
    table = Table(title="Model zoo (MACs: one multiply-add = 1; papers call them FLOPs)")
    for col, justify in (
        ("model", "left"),
        ("family", "left"),
        ("input", "left"),
        ("params M", "right"),
        ("pub.", "right"),
        ("GMACs", "right"),
        ("pub.", "right"),
        ("top-1", "right"),
    ):
        table.add_column(col, justify=justify, no_wrap=True)
    table.add_column("source", overflow="fold")
    for r in rows:
        c = r.card
        table.add_row(
            r.name,
            r.family,
            "x".join(map(str, r.input_shape[1:])),
            fmt(r.params_m),
            fmt(c.params_m.value),
            fmt(r.macs_g, 3),
            fmt(c.macs_g.value, 3),
            fmt(c.top1.value, 1),
            c.short_sources or "unpublished",
        )
    out.print(table)
    out.print("top-1 is published accuracy (ImageNet-1k unless the card says otherwise), never measured here.")


def flops(model: str, inputs: str, report: MacsReport) -> None:
    """MACs and params per module of one model at ``inputs`` (the ``--input-shape`` text), with the
    flop_counter cross-check and skipped ops."""
    out.print(f"{model} at {inputs}: MACs (one multiply-add = 1)")
    table = Table()
    table.add_column("module")
    for col in ("params", "GMACs", "share"):
        table.add_column(col, justify="right")
    for row in report.modules:
        share = row.macs / report.macs if report.macs else 0.0
        table.add_row("  " * row.depth + row.name, f"{row.params:,}", f"{row.macs / 1e9:.4f}", f"{share:.1%}")
    out.print(table)
    out.print(
        f"total: {report.macs / 1e9:.4f} GMACs, {report.params / 1e6:.3f} M params "
        f"(torch.utils.flop_counter: {report.flop_counter_macs / 1e9:.4f} GMACs, "
        f"ratio {report.cross_check_ratio:.3f}; fvcore also counts norms and pooling, "
        "flop_counter misses CPU fused attention)"
    )
    if report.skipped_ops:
        skipped = ", ".join(f"{op} x{n}" for op, n in report.skipped_ops.items())
        out.print(f"not counted (element-wise, no multiply-add): {skipped}")


def exports(artifacts: Sequence[Artifact]) -> None:
    """One row per exported artifact: size, verification against PyTorch, cache hit, path or error."""
    table = Table(title="Exported artifacts")
    for col in (
        "model",
        "format",
        "prec.",
        "size MB",
        "verified",
        "max |diff|",
        "cosine",
        "top-1",
        "cached",
        "seconds",
    ):
        table.add_column(col, justify="right" if col not in ("model", "format", "prec.", "verified") else "left")
    table.add_column("path / error", overflow="fold")
    for a in artifacts:
        v = a.verification
        status = "failed" if a.error else {True: "yes", False: "NO", None: "n/a"}[a.verified]
        table.add_row(
            a.model,
            a.format,
            a.precision,
            fmt(a.size_bytes / 1e6 if a.size_bytes else None),
            status,
            "-" if not v or v.max_abs_diff is None else f"{v.max_abs_diff:.2e}",
            "-" if not v or v.cosine is None else f"{v.cosine:.6f}",
            "-" if not v or v.top1_agreement is None else f"{v.top1_agreement:.2f}",
            "yes" if a.cached else "no",
            fmt(a.export_seconds, 1),
            a.error or (v.reason if v and v.reason else a.path),
        )
    out.print(table)


def cell_line(row: dict[str, Any]) -> str:
    """One finished cell as a log line: 'model format/precision runtime xN on device: median 1.234 ms'."""
    where = (
        row["runtime"] if (row.get("accelerator") or "cpu") == "cpu" else f"{row['runtime']}[{accelerator_text(row)}]"
    )
    head = f"{row['model']} {row['format']}/{row['precision']} {where} x{row['threads']} on {row['device']}"
    if row["status"] != "ok":
        return f"{head}: failed: {row['error']}"
    return f"{head}: median {fmt(row.get('median_ms'), 3)} ms"


def accelerator_text(row: dict) -> str:
    """A row's accelerator with its delegation coverage: ``cpu``, ``gpu 100%``, ``gpu 91% partial``,
    ``nnapi partial`` (no node counts), ``cuda unchecked`` (an ingested log's word), and
    ``outputs OFF`` when its outputs were checked against the CPU's and differ too much."""
    name = row.get("accelerator") or "cpu"
    coverage = row.get("coverage")
    check = (row.get("source") or {}).get("output_check") if isinstance(row.get("source"), dict) else None
    off = " outputs OFF" if check and check.get("flagged") else ""  # its outputs differ from the CPU's
    from bench.accelerators.coverage import delegation_mark

    mark = delegation_mark([row.get("source")]) if name != "cpu" else None  # "partial", "unchecked"
    if name == "cpu" or coverage is None or coverage != coverage:
        return name + (f" {mark}" if mark else "") + off
    return f"{name} {coverage:.0%}" + (" partial" if coverage < 1.0 else "") + off


def contended_text(row: dict) -> str:
    """`` (contended 35%)`` when other processes used the measured CPUs during the row's timed window."""
    seen = row.get("contention")
    if not isinstance(seen, dict) or not seen.get("contended"):
        return ""
    return f" (contended {seen['others_share']:.0%})"


def runs(rows: Iterable[dict[str, Any]], run_id: str, energy_reason: str | None) -> None:
    """Measurement rows of one run (or of the store): latency statistics, memory, energy, status.

    ``rows`` are the store's measurement dicts; ``energy_reason`` (when no meter worked) is
    printed under the table. Sustained runs add one line each with their drift and verdict.
    """
    from bench.measure.runners.tool_results import median_is_mean
    from bench.results.report import memory_meaning

    rows = list(rows)
    table = Table(title=f"run {run_id}")
    for col in (
        "model",
        "device",
        "format",
        "runtime",
        "accel",
        "thr",
        "n",
        "median ms",
        "p90 ms",
        "CV",
        "median 95% CI",
        "init ms",
        "peak MB",
        "GFLOP/s",
        "mJ/inf",
    ):
        table.add_column(col, justify="left" if col in ("model", "device", "format", "runtime", "accel") else "right")
    table.add_column("status", overflow="fold")
    for r in rows:
        ok = r["status"] == "ok"
        n, cv = r.get("n_samples"), r.get("cv")
        mean = " (mean)" if median_is_mean(r.get("source")) else ""  # the tool printed no median
        meaning = memory_meaning(r.get("source")) or ""
        delta = " (delta)" if "delta" in meaning and fmt(r.get("peak_memory_mb"), 0) != "-" else ""  # not a peak
        table.add_row(
            r["model"],
            r["device"],
            f"{r['format']}/{r['precision']}",
            r["runtime"],
            accelerator_text(r),
            str(int(r["threads"])),
            "-" if not n or n != n else str(int(n)),
            fmt(r.get("median_ms")) + mean,
            fmt(r.get("p90_ms")),
            f"{cv:.1%}" if ok and cv is not None and cv == cv else "-",
            f"{r['median_ci_low_ms']:.2f}-{r['median_ci_high_ms']:.2f}"
            if ok and fmt(r.get("median_ci_low_ms")) != "-" and fmt(r.get("median_ci_high_ms")) != "-"
            else "-",
            fmt(r.get("init_ms"), 1),
            fmt(r.get("peak_memory_mb"), 0) + delta,
            fmt(r.get("gflops_per_s"), 1),
            fmt(r.get("energy_mj_per_inference")),
            Text(("ok" + contended_text(r)) if ok else f"failed: {r['error']}"),  # brackets are text, not markup
        )
    out.print(table)
    if energy_reason:
        out.print(f"energy: unavailable ({energy_reason})")
    for r in rows:
        run = (r.get("thermal") or {}).get("sustained")
        if run:
            drift = "-" if run["drift"] is None else f"{run['drift']:+.1%}"
            verdict = "THROTTLED: " + "; ".join(run["reasons"]) if run["throttled"] else "no throttling"
            out.print(
                Text(f"sustained {r['model']} {r['format']}: {len(run['series'])} points, drift {drift}, {verdict}")
            )


def repeat_spread(cells: Sequence[dict[str, Any]]) -> None:
    """For every pooled cell measured more than once (``--repeats N``, or several runs shown): the
    pooled median with its bootstrap 95% CI beside the spread of the separate medians (lowest,
    highest, CV), then which one to quote. ``cells``: :func:`bench.results.report.summarize_cells` rows;
    nothing is printed when no cell was measured twice."""
    repeated = [c for c in cells if (c.get("repeats") or 0) >= 2]
    if not repeated:
        return
    table = Table(title="spread between repeats")
    for col in ("model", "device", "format", "runtime", "accel", "thr", "repeats", "pooled median ms",
                "median 95% CI", "repeat medians ms", "CV of medians"):  # fmt: skip
        table.add_column(col, justify="left" if col in ("model", "device", "format", "runtime", "accel") else "right")
    for c in repeated:
        ci = f"{fmt(c.get('median_ci_low_ms'))}-{fmt(c.get('median_ci_high_ms'))}"
        table.add_row(
            c["model"],
            c["device"],
            f"{c['format']}/{c['precision']}",
            c["runtime"],
            accelerator_text(c),
            str(int(c["threads"])),
            str(int(c["repeats"])),
            fmt(c.get("median_ms")),
            "-" if "-" in (fmt(c.get("median_ci_low_ms")), fmt(c.get("median_ci_high_ms"))) else ci,
            f"{fmt(c['repeat_min_ms'])}-{fmt(c['repeat_max_ms'])}",
            f"{c['repeat_cv']:.1%}",
        )
    out.print(table)
    out.print(
        Text(
            "quote the spread of the repeat medians: the 95% CI is bootstrapped from the pooled samples and "
            "misses the drift between runs"
        )
    )


@dataclass(frozen=True)
class FarmDevice:
    """One device's line in the farm summary (the values are computed by the caller)."""

    device: str
    run_id: str
    ok: int
    failed: int
    median_of_medians_ms: float | None
    wall_s: float | None
    workers: str


def farm(address: str, devices: Sequence[FarmDevice], failed: Iterable[dict[str, Any]]) -> None:
    """The farm's per-device summary, then one line per failed cell."""
    table = Table(title=f"farm {address}: per device")
    for col in ("device", "run", "ok", "failed", "median of medians ms", "wall s", "worker"):
        table.add_column(col, justify="left" if col in ("device", "run", "worker") else "right")
    for d in devices:
        table.add_row(
            d.device,
            d.run_id,
            str(d.ok),
            str(d.failed),
            fmt(d.median_of_medians_ms, 3),
            fmt(d.wall_s, 1),
            d.workers,
        )
    out.print(table)
    for r in failed:
        say(f"failed: {r['device']} {r['model']} {r['format']} repeat {r['repeat']}: {r['error']}")


def comparison(results: Sequence[CellComparison], title: str) -> None:
    """Per-cell verdicts of ``bench compare`` (regressions in red, improvements in green)."""
    table = Table(title=title)
    for col in ("verdict", "cell", "baseline ms", "candidate ms", "change", "95% CI", "p", "test", "p95 change"):
        table.add_column(col, justify="left" if col in ("verdict", "cell") else "right")
    style = {"regression": "bold red", "improvement": "green"}
    for r in results:
        collapse = f"; [bold red]{r.accuracy}[/]" if r.accuracy else ""
        if r.delegation:  # the accelerator took a different share of the graph
            collapse += f"; [{'bold red' if r.delegation_dropped else 'yellow'}]{escape(r.delegation)}[/]"
        table.add_row(
            f"[{style.get(r.verdict, 'default')}]{r.verdict}[/]{collapse}",
            Text(r.name),
            fmt(r.baseline_ms, 3),
            fmt(r.candidate_ms, 3),
            "-" if r.change is None else f"{r.change:+.1%}",
            f"{r.change_ci[0]:+.1%} .. {r.change_ci[1]:+.1%}" if r.change_ci else "-",
            "-" if r.p_value is None else f"{r.p_value:.2g}",
            r.test or "-",
            "-" if r.tail_change is None else f"{r.tail_change:+.1%}",
        )
    out.print(table)


def contended_rounds(c, rounds: int) -> str:
    """The rounds of a ``bench ab`` cell (``bench.measure.ab.CellAB``) in which a version ran while
    other processes used the measured CPUs: ``2 of 10 rounds (round 3: B 35%; round 7: A 12%)``."""
    return (
        f"{len(c.contended)} of {rounds} rounds ran while other processes used the measured CPUs ({c.contended_text()})"
    )


def untested_text(v, threshold: float) -> str:
    """Why a not-tested ``bench ab`` cell (its ``PairedVerdict``) still fails the gate."""
    ci = f" (95% CI {v.change_ci[0]:+.1%} .. {v.change_ci[1]:+.1%})" if v.change_ci else ""
    from bench.measure.ab import UNTESTED_FACTOR

    twice = f"{UNTESTED_FACTOR:g}x the {threshold:.0%} threshold"
    return f"{v.change:+.1%}{ci}, more than {twice} with too few rounds to test; the gate fails"


def ab(result: ABResult) -> None:
    """``bench ab``: the two versions, the round orders, one row per cell with its paired verdict,
    then one line per dropped round and per regressed cell (REGRESSION, for CI logs)."""
    orders = "".join("A" if o == "AB" else "B" for o in result.orders)
    say(f"A = {result.a.label}\nB = {result.b.label}")
    out.print(
        Text(f"{len(result.orders)} rounds on {result.device}, first in each round: {orders} (seed {result.seed})")
    )
    table = Table(title=f"A/B run {result.run_id} (threshold {result.threshold:.0%}, alpha {result.alpha:g})")
    for col in ("verdict", "cell", "A ms", "B ms", "change", "95% CI", "p", "rounds"):
        table.add_column(col, justify="left" if col in ("verdict", "cell") else "right")
    style = {"regression": "bold red", "improvement": "green", "inconclusive": "yellow"}
    for c in result.cells:
        v = c.verdict
        table.add_row(
            Text(v.verdict, style=style.get(v.verdict, "")),
            Text(c.pair.label),
            fmt(v.a_ms, 3),
            fmt(v.b_ms, 3),
            "-" if v.change is None else f"{v.change:+.1%}",
            f"{v.change_ci[0]:+.1%} .. {v.change_ci[1]:+.1%}" if v.change_ci else "-",
            "-" if v.p_value is None else f"{v.p_value:.2g}",
            f"{len(c.complete)}/{len(result.orders)}",
        )
    out.print(table)
    for c in result.cells:
        if c.verdict.reason:
            say(f"{c.verdict.verdict}: {c.pair.label}: {c.verdict.reason}")
        for r in c.dropped:
            say(f"dropped round {r.index + 1}/{len(result.orders)} of {c.pair.label}: {r.dropped}")
        if c.contended:
            say(f"contended: {c.pair.label}: {contended_rounds(c, len(result.orders))}")
        if c.verdict.verdict == "regression":
            say(f"REGRESSION: {c.pair.label}: {c.verdict.change:+.1%} (p={c.verdict.p_value:.2g})")
        if c.verdict.untested_regression(result.threshold):
            say(f"REGRESSION (untested): {c.pair.label}: {untested_text(c.verdict, result.threshold)}")
    if result.lost:
        say(f"device lost: {result.lost}; the rounds measured before are judged")


def regressions(results: Iterable[CellComparison], threshold: float, strict: bool = False) -> None:
    """One line per regressed cell, for CI logs that grep for REGRESSION (an accuracy collapse of the
    candidate is one too, so is an accelerator that took less of the graph, and so is a cell that
    could not be tested but moved past ``threshold``); with ``strict``, one per cell missing on a side."""
    for r in results:
        if strict and r.verdict.startswith("missing"):
            say(f"MISSING (--strict fails on it): {r.name}: {r.verdict}")
        if r.verdict == "regression":
            say(f"REGRESSION: {r.name}: {r.change:+.1%} (p={r.p_value:.2g})")
        if r.untested_regression(threshold):
            why = "a side has no spread or count to test it, so the gate fails on the change alone"
            say(f"REGRESSION (untested): {r.name}: {r.change:+.1%}, more than {threshold:.0%}; {why}")
        if r.accuracy:
            say(f"REGRESSION: {r.name}: {r.accuracy}")
        if r.delegation_dropped:
            say(f"REGRESSION: {r.name}: {r.delegation} (the accelerator took less of the graph)")


def baselines(entries: Iterable[dict[str, Any]]) -> None:
    """Saved baselines (name, measurement count or the error reading it, runs, path)."""
    table = Table(title="baselines")
    for col in ("name", "measurements", "runs", "path"):
        table.add_column(col)
    for b in entries:
        table.add_row(b["name"], str(b.get("measurements", b.get("error"))), ", ".join(b.get("runs", [])), b["path"])
    out.print(table)


def profile(result: Profile, title: str, fallback_lines: Iterable[str]) -> None:
    """Where the time goes: one row per block, the sum against the whole model, and fallbacks."""
    table = Table(title=title)
    for col in ("block", "ops", "ms", "share", "MMACs", "GFLOP/s"):
        table.add_column(col, justify="left" if col == "block" else "right")
    for b in result.blocks:
        table.add_row(
            Text(b.block), "-" if b.ops is None else str(b.ops), f"{b.ms:.3f}", f"{b.share:.1%}",
            f"{b.macs / 1e6:.1f}", fmt(b.gflops_per_s, 1),
        )  # fmt: skip
    out.print(table)
    out.print(
        Text(
            f"blocks sum to {result.blocks_ms:.2f} ms; the whole model measured alone: {result.total_ms:.2f} ms "
            f"({result.blocks_ms / result.total_ms:.1%}). {result.note}"
        )
    )
    for line in fallback_lines:
        say(f"fell back: {line}")


def trained(result: Any) -> None:
    """What ``bench predictor train`` measured and fitted (a :class:`bench.predictor.api.TrainResult`)."""
    meta = result.meta
    out.print(
        Text(
            f"predictor for {meta['device']} / {meta['runtime']} {meta['runtime_version']} / {meta['accelerator']} "
            f"x{meta['threads']}: {result.graphs} graphs, {result.nodes} nodes; kernels: {result.kernels_measured} "
            f"measured now, {result.kernels_reused} stored before; zoo models: {len(result.profiles_measured)} "
            f"profiled now, {len(result.profiles_reused)} stored before"
        )
    )
    say(f"{meta['regressor']}; saved to {result.path}")
    for line in result.kernels_failed:
        say(f"failed: {line}")


def predictions(items: Sequence[Any]) -> None:
    """Predicted latency per block of each model (:class:`bench.predictor.api.Prediction`)."""
    for p in items:
        table = Table(title=f"{p.model} on {p.runtime} ({p.device}, {p.threads} thread(s)): predicted, not measured")
        for col in ("block", "nodes", "predicted ms", "share"):
            table.add_column(col, justify="left" if col == "block" else "right")
        for b in p.blocks:
            table.add_row(Text(b["block"]), str(b["nodes"]), f"{b['ms']:.3f}", f"{b['share']:.1%}")
        out.print(table)
        out.print(
            Text(
                f"{p.model}: predicted {p.predicted_ms:.2f} ms per inference ({p.nodes} nodes + "
                f"{p.overhead_ms:.3f} ms runtime overhead; predictor {p.predictor})"
            )
        )


def evaluation(result: Any) -> None:
    """Leave-one-family-out: predicted vs measured per model and the shares within +/-10% and +/-5%."""
    table = Table(title=f"leave-one-family-out on {result.runtime} ({result.device}, {result.threads} thread(s))")
    for col in ("model", "family", "measured ms", "predicted ms", "error", "MACs-only ms", "MACs-only error"):
        table.add_column(col, justify="left" if col in ("model", "family") else "right")
    for r in result.rows:
        table.add_row(Text(r.model), Text(r.family), f"{r.measured_ms:.2f}", f"{r.predicted_ms:.2f}",
                      f"{r.error:+.1%}", f"{r.flops_ms:.2f}", f"{r.flops_error:+.1%}")  # fmt: skip
    out.print(table)
    s = result.summary()
    out.print(
        Text(
            f"{s['models']} models: within +/-10% {s['within_10']:.0%}, within +/-5% {s['within_5']:.0%}, "
            f"MAPE {s['mape']:.1%}; MACs-only baseline: within +/-10% {s['flops_within_10']:.0%}, "
            f"within +/-5% {s['flops_within_5']:.0%}, MAPE {s['flops_mape']:.1%}"
        )
    )


def ingested(row: dict[str, Any], model: str, precision: str, device: str) -> None:
    """The stored row of ``bench ingest``, and which values the file did not have."""
    from bench.measure.runners.tool_results import median_is_mean

    missing = row["source"].get("missing") or []
    where = device if row.get("accelerator", "cpu") == "cpu" else f"{device} [{accelerator_text(row)}]"
    out.print(
        Text(
            f"stored measurement {row['id']} (run {row['run_id']}): {model} {row['format']}/{precision} on {where}, "
            f"{'mean (no median in the log)' if median_is_mean(row['source']) else 'median'} "
            f"{fmt(row.get('median_ms'))} ms, energy {fmt(row.get('energy_mj_per_inference'))} mJ/inf"
        )
    )
    if missing:
        say(f"not in the file: {', '.join(missing)}")


def devices(profiles: Iterable[Device], user_dir: str) -> None:
    """The device profiles: transport, address, runtimes, accelerators, threads, energy meter, file."""
    table = Table(title=f"device profiles (yours: {user_dir})")
    for col in ("name", "transport", "address", "runtimes", "accelerators", "threads", "energy", "profile"):
        table.add_column(col, overflow="fold")
    for d in profiles:
        table.add_row(
            d.name,
            d.transport,
            d.address or "-",
            ", ".join(d.runtimes),
            ", ".join(d.accelerators),
            ",".join(map(str, d.threads)),
            d.energy_meter,
            d.path,
        )
    out.print(table)


def probe(name: str, checks: Iterable[tuple[str, str]]) -> None:
    """The probe of one device: one row per check and its result."""
    table = Table(title=f"probe {name}")
    table.add_column("check")
    table.add_column("result", overflow="fold")
    for check, result in checks:
        table.add_row(Text(check), Text(result))  # a reason may hold brackets: never Rich markup
    out.print(table)


def accuracy(rows: Sequence[Any], title: str) -> None:
    """One row per artifact of ``bench accuracy`` (:class:`bench.accuracy.evaluate.AccuracyRow`):
    top-1 with its 95% Wilson interval, top-5, the drop below the fp32 PyTorch model, agreement
    with it, KL divergence, status ("accuracy collapse" when the drop passes ``--max-drop``)."""
    table = Table(title=title)
    for col in ("model", "format", "prec.", "images", "top-1 %", "95% CI", "top-5 %", "drop pts", "agree %", "KL"):
        table.add_column(col, justify="left" if col in ("model", "format", "prec.") else "right")
    table.add_column("status / error", overflow="fold")
    for row in rows:
        r = row.result
        table.add_row(
            row.model,
            row.format,
            row.precision,
            str(r.n_images) if r else "-",
            f"{r.top1_points:.2f}" if r else "-",
            f"{100 * r.top1_ci[0]:.1f}-{100 * r.top1_ci[1]:.1f}" if r else "-",
            f"{r.top5_points:.2f}" if r else "-",
            "-" if row.drop_points is None else f"{row.drop_points:+.2f}",
            "-" if not r or r.agreement is None else f"{100 * r.agreement:.2f}",
            "-" if not r or r.mean_kl is None else f"{r.mean_kl:.2e}",
            row.error or row.status,
            style="bold red" if row.collapsed else None,
        )
    out.print(table)


def histories(items) -> None:
    """Latency histories (:class:`bench.results.history.History`): per cell its runs in commit order
    with the median, steps marked with their change, then one line per step naming its first commit."""
    for history in items:
        table = Table(title=history.label)
        for col in ("#", "commit", "run", "ran at", "median ms", "step"):
            table.add_column(col, justify="right" if col in ("#", "median ms") else "left")
        starts = {s.index: s for s in history.steps}
        for i, point in enumerate(history.points):
            step = starts.get(i)
            table.add_row(
                str(i + 1),
                (point.commit or "-")[:12],
                point.run_id,
                point.created_at[:19],
                fmt(point.median_ms, 3),
                f"{step.change:+.1%} from here" if step else "",
            )
        out.print(table)
        for step in history.steps:
            out.print(
                Text(
                    f"step at {(step.commit or 'run ' + step.run_id)[:12]}: {step.before_ms:.3f} -> "
                    f"{step.after_ms:.3f} ms ({step.change:+.1%})"
                )
            )
        if len(history.points) < 3:
            say(f"{len(history.points)} run(s): steps need at least 3")
