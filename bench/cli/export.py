"""``bench export``: export models to ONNX / TFLite / CoreML, each verified against PyTorch."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from bench.cli import render
from bench.cli.app import app
from bench.cli.options import parse_shape, split
from bench.errors import BenchError


@app.command("export")
def export_cmd(
    model: Annotated[
        list[str] | None, typer.Argument(help="Zoo names, patterns, or path/to/file.py:factory; default: the suite.")
    ] = None,
    suite: Annotated[str, typer.Option(help="Suite used when no model is named: default or full.")] = "default",
    fmt: Annotated[str, typer.Option("--format", "-f", help="Comma-separated: onnx,tflite,coreml.")] = "onnx",
    precision: Annotated[str, typer.Option(help="Comma-separated: fp32,fp16,int8.")] = "fp32",
    out_dir: Annotated[str | None, typer.Option("--out", help="Also copy the artifacts into this folder.")] = None,
    weights: Annotated[str | None, typer.Option(help="Local checkpoint (one model only).")] = None,
    input_shape: Annotated[str | None, typer.Option(help="Input shape for user models, e.g. 1,3,224,224.")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Export again even when cached.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print only a JSON list of artifacts on stdout.")] = False,
) -> None:
    """Export models to ONNX / TFLite / CoreML, verified against PyTorch."""
    from bench.measure.suite import resolve_models
    from bench.paths import output_folder
    from export.base import check_combination, get_exporter
    from export.pipeline import export_model
    from export.source import resolve

    formats, precisions = split(fmt), split(precision)
    if not formats or not precisions:
        raise BenchError("--format and --precision need at least one value")
    for f in formats:
        get_exporter(f).versions()  # unknown format or missing backend: exit 2 before any work
        for p in precisions:
            check_combination(f, p)
    model = model or []
    refs = [m for m in model if ".py" in m]
    names = resolve_models([m for m in model if ".py" not in m], suite) if len(refs) < len(model) or not model else []
    if weights and len(names) + len(refs) > 1:
        raise BenchError("--weights applies to one model; export the models one at a time")
    specs = [resolve(ref, parse_shape(input_shape), weights) for ref in [*names, *refs]]
    out = output_folder(out_dir, "--out") if out_dir else None  # a file there: exit 2 before any work
    jobs = [(spec, f, p) for spec in specs for f in formats for p in precisions]
    artifacts = []
    with render.progress() as progress:
        task = progress.add_task("exporting", total=len(jobs))
        for spec, f, p in jobs:
            progress.update(task, description=f"{spec.name} {f} {p}")
            artifacts.append(export_model(spec, f, p, out, use_cache=not no_cache))
            progress.advance(task)
    failed = [a for a in artifacts if not a.ok]
    if as_json:
        print(json.dumps([a.to_dict() for a in artifacts], indent=2))
    else:
        render.exports(artifacts)
    if failed:
        render.err.print(f"{len(failed)} of {len(artifacts)} exports failed", markup=False, highlight=False)
        raise typer.Exit(1)
