"""``bench models`` and ``bench flops``: the zoo with measured against published numbers, and MACs per module."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from bench.cli import render
from bench.cli.app import app
from bench.cli.options import FactoryArgsOption, InputShapeOption, WeightsOption, bounded, one_model
from bench.errors import BenchError


@app.command("models")
def models_cmd(
    pattern: Annotated[str, typer.Argument(help="Shell-style name pattern, e.g. 'edgevit*'.")] = "*",
    suite: Annotated[str | None, typer.Option(help="Only the models of a suite: default or full.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list on stdout.")] = False,
) -> None:
    """List the zoo: measured vs published params, MACs, top-1."""
    import models
    from bench.measure.suite import suite_models
    from bench.zoo import zoo_rows

    names = models.list_models(pattern)
    if suite is not None:
        names = [n for n in suite_models(suite) if n in names]
    if not names:
        raise BenchError(f"no zoo model matches '{pattern}'")
    with render.progress() as progress:
        task = progress.add_task("counting MACs", total=len(names))
        rows = zoo_rows(names, on_measure=lambda name: progress.update(task, description=f"counting {name}"))
        progress.update(task, completed=len(names))
    if as_json:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
        return
    render.zoo(rows)


@app.command("flops")
def flops_cmd(
    model: Annotated[str, typer.Argument(help="Zoo model or path/to/file.py:factory[(ARGS)].")],
    depth: Annotated[int, typer.Option(callback=bounded, help="Module depth of the per-module rows.")] = 2,
    weights: WeightsOption = None,
    input_shape: InputShapeOption = None,
    factory_args: FactoryArgsOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object on stdout.")] = False,
) -> None:
    """MACs and params per module, cross-checked (fvcore)."""
    from bench.flops import count_macs
    from export.source import resolve

    spec = resolve(one_model(model, input_shape, weights, factory_args, "bench flops"))
    report = count_macs(spec.build(), spec.inputs, model, max_depth=depth)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
        return
    render.flops(model, spec.inputs.text, report)
