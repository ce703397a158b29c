"""``bench results``, ``bench compare``, ``bench baseline`` and ``bench report``: reading stored results back."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from bench.cli import render
from bench.cli.app import app
from bench.cli.options import StoreOption, fraction, split_or_none
from bench.errors import BenchError


@app.command("results")
def results_cmd(
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or parquet.")] = "table",
    out_file: Annotated[str | None, typer.Option("--out", help="Write to this file instead of stdout.")] = None,
    run: Annotated[str | None, typer.Option(help="Only this run id.")] = None,
    store: StoreOption = None,
) -> None:
    """Show or export stored measurements."""
    from pathlib import Path

    from bench.results.records import FORMATS, load_results, write

    if fmt not in FORMATS:
        raise BenchError(f"unknown results format '{fmt}'; choose from: {', '.join(FORMATS)}")
    frame = load_results(store, run)
    if fmt == "table":
        from bench.results.report import summarize_cells

        render.runs(frame.to_dict("records"), run or "all runs", None)
        render.repeat_spread(summarize_cells(frame).to_dict("records") if not frame.empty else [])
        return
    text = write(frame, fmt, Path(out_file) if out_file else None)
    if text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


@app.command("history")
def history_cmd(
    model: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="Only cells of this model; repeatable.")
    ] = None,
    device: Annotated[str | None, typer.Option(help="Only cells on this device.")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="Only this format.")] = None,
    runtime: Annotated[str | None, typer.Option(help="Only this runtime.")] = None,
    accelerator: Annotated[str | None, typer.Option(help="Only this accelerator.")] = None,
    threshold: Annotated[str, typer.Option(help="Smallest level change reported as a step, e.g. 5%.")] = "5%",
    store: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the histories and steps as JSON on stdout.")] = False,
) -> None:
    """Each cell's median over the stored runs in commit order, with the steps (lasting changes) and their commits."""
    import json
    from dataclasses import asdict

    from bench.results.history import build_histories
    from bench.results.store import Store

    limit = fraction(threshold, "--threshold")
    results = Store(store, create=False)
    wanted = {
        "model": set(model or []),
        "device": device,
        "format": fmt,
        "runtime": runtime,
        "accelerator": accelerator,
    }
    rows = [
        r
        for r in results.measurement_rows()
        if (not wanted["model"] or r["model"] in wanted["model"])
        and all(wanted[k] is None or r[k] == wanted[k] for k in ("device", "format", "runtime", "accelerator"))
    ]
    if not rows:
        raise BenchError(f"no stored measurement matches in {results.shown}; `bench results` lists what is stored")
    histories = build_histories(rows, results.list_runs(), limit)
    if as_json:
        out = [
            {"cell": h.label, "key": list(h.cell), "points": [asdict(p) for p in h.points],
             "steps": [{**asdict(s), "change": s.change} for s in h.steps]}
            for h in histories
        ]  # fmt: skip
        print(json.dumps(out, indent=2))
        return
    render.histories(histories)


@app.command("compare")
def compare_cmd(
    baseline: Annotated[str, typer.Option(help="Run id, baseline name, or results JSON file.")],
    candidate: Annotated[str, typer.Option(help="Run id, baseline name, or results JSON file.")],
    threshold: Annotated[str, typer.Option(help="Smallest median change that counts, e.g. 5%.")] = "5%",
    alpha: Annotated[
        str,
        typer.Option(
            help="Significance level of the test (Mann-Whitney U on samples, Welch t on a native tool's summary)."
        ),
    ] = "0.01",
    markdown_file: Annotated[str | None, typer.Option("--markdown", help="Also write a markdown table here.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Cells missing on either side fail too.")] = False,
    store: StoreOption = None,
) -> None:
    """Compare two runs per cell; exit 1 on a significant latency regression, an accuracy collapse or an
    accelerator that took less of the graph."""
    from bench.paths import output_file
    from bench.results.compare import compare, load_ref, markdown

    limit, level = fraction(threshold, "--threshold"), fraction(alpha, "--alpha")
    if level == 0:
        raise BenchError("--alpha must be above 0")
    markdown_path = output_file(markdown_file, "--markdown") if markdown_file else None
    results = compare(load_ref(baseline, store), load_ref(candidate, store), limit, level)
    render.comparison(results, f"{baseline} -> {candidate} (threshold {limit:.0%}, alpha {level})")
    if markdown_path:
        try:
            markdown_path.write_text(markdown(results, limit, level, strict))
        except OSError as exc:
            raise BenchError(f"cannot write --markdown {markdown_file}: {exc.strerror or exc}") from None
    if not any(r.verdict in ("regression", "improvement", "unchanged", "not-tested") for r in results):
        only = {side: sum(r.verdict == f"missing-in-{side}" for r in results) for side in ("baseline", "candidate")}
        raise BenchError(
            f"no cell has a latency in both runs: nothing to compare ({only['candidate']} cells only in the "
            f"baseline, {only['baseline']} only in the candidate: model, format, precision, runtime, accelerator, "
            "device and threads must all match; rows with energy only, such as ingested power logs, carry no latency)"
        )
    render.regressions(results, limit, strict)
    if any(r.fails_gate(limit, strict) for r in results):
        raise typer.Exit(1)


baseline_app = typer.Typer(help="Named baselines as reviewable JSON files in results/baselines/.", no_args_is_help=True)


@baseline_app.command("save")
def baseline_save(
    name: Annotated[str, typer.Argument(help="Baseline name, e.g. main.")],
    run: Annotated[str | None, typer.Option(help="Run id (default: the latest finished run).")] = None,
    store: StoreOption = None,
) -> None:
    """Save a run's measurements as a named baseline."""
    from bench.results.compare import save_baseline
    from bench.results.records import load_results, to_records
    from bench.results.store import Store

    if run is None:
        finished = [r for r in Store(store, create=False).list_runs() if r["status"] == "finished"]
        if not finished:
            raise BenchError("no finished run in the store; run `bench run` first or pass --run")
        run = finished[-1]["run_id"]
    path = save_baseline(name, to_records(load_results(store, run)))
    render.out.print(f"saved baseline '{name}' from run {run}: {path}")


@baseline_app.command("list")
def baseline_list() -> None:
    """List saved baselines."""
    from bench.results.compare import list_baselines

    render.baselines(list_baselines())


@app.command("report")
def report_cmd(
    out_dir: Annotated[
        str, typer.Option("--out", help="Folder for report.html, summary.md, plots.")
    ] = "results/report",
    device: Annotated[str | None, typer.Option(help="Comma-separated devices to include.")] = None,
    runtime: Annotated[str | None, typer.Option(help="Comma-separated runtimes to include.")] = None,
    accuracy: Annotated[str | None, typer.Option(help="CSV with columns model,top1 of measured accuracy.")] = None,
    store: StoreOption = None,
) -> None:
    """Pareto plots, a self-contained HTML report and a markdown summary."""
    from bench.results.report import build_report

    report = build_report(out_dir, store, split_or_none(device), split_or_none(runtime), accuracy)
    pareto = ", ".join(p.name for p in report.plots if p.suffix == ".png") or "none"
    render.out.print(f"Pareto and MACs plots: {pareto}")  # the report's other sections draw their own
    render.out.print(f"markdown summary: {report.markdown}")
    render.out.print(f"report: {report.html.resolve()}")
