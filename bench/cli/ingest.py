"""``bench ingest``: store a result measured elsewhere (benchmark_model or perf_test log; a Monsoon CSV,
tegrastats or powermetrics power log)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from bench.cli import render
from bench.cli.app import app
from bench.cli.options import StoreOption, bounded


@app.command("ingest")
def ingest_cmd(
    file: Annotated[str, typer.Argument(help="The log or CSV to bring in.")],
    tool: Annotated[
        str,
        typer.Option(help="benchmark_model, onnxruntime_perf_test, or a power log: monsoon, tegrastats, powermetrics."),
    ],
    device: Annotated[str, typer.Option(help="Device name to store it under (e.g. pixel6).")],
    model: Annotated[str, typer.Option("--model", "-m", help="Model name to store it under.")],
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="Model format (default: the tool's).")] = None,
    runtime: Annotated[str | None, typer.Option(help="Runtime (default: the format's).")] = None,
    precision: Annotated[str, typer.Option(help="fp32, fp16 or int8.")] = "fp32",
    threads: Annotated[
        int | None,
        typer.Option(callback=bounded, help="Threads the run used (default: what the log states, else 1)."),
    ] = None,
    inferences: Annotated[
        int | None,
        typer.Option(callback=bounded, help="Power logs: inferences during the log (for energy per inference)."),
    ] = None,
    idle_w: Annotated[
        float | None, typer.Option(callback=bounded, help="Power logs: idle power to subtract, in W.")
    ] = None,
    run: Annotated[
        int | None,
        typer.Option("--run", callback=bounded, help="Tool logs holding several runs: which one to store (1-based)."),
    ] = None,
    interval_ms: Annotated[
        float | None,
        typer.Option(callback=bounded, help="tegrastats: its --interval in ms (default: from time stamps, else 1000)."),
    ] = None,
    accelerator: Annotated[
        str | None,
        typer.Option(
            help="Where the graph ran (gpu, nnapi, nnapi:NAME, hexagon, xnnpack, cpu ...), checked against the "
            "delegation the log reports (default: read from the log)."
        ),
    ] = None,
    require_full: Annotated[
        bool,
        typer.Option("--require-full-delegation", help="Refuse a log whose accelerator took only part of the graph."),
    ] = False,
    again: Annotated[
        bool, typer.Option("--again", help="Store a file whose content was ingested before once more.")
    ] = False,
    store: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the stored row as JSON on stdout.")] = False,
) -> None:
    """Store a result measured elsewhere (a benchmark_model log, a perf_test log, a Monsoon CSV)."""
    from bench.results.ingest import ingest

    row = ingest(store, file, tool, device, model, fmt, runtime, precision, threads, inferences, idle_w,
                 run=run, interval_ms=interval_ms, again=again, accelerator=accelerator,
                 require_full=require_full)  # fmt: skip
    if as_json:
        print(json.dumps(row, indent=2, default=str))
        return
    render.ingested(row, model, precision, device)
