"""``bench export``: export models to ONNX / TFLite / CoreML, each verified against PyTorch."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from bench.cli import render
from bench.cli.app import app
from bench.cli.options import (
    CalibrationOption,
    CropPctOption,
    FactoryArgsOption,
    InputShapeOption,
    InterpolationOption,
    IoOption,
    MeanOption,
    StdOption,
    WeightsOption,
    model_references,
    preprocess_options,
    split,
)
from bench.errors import BenchError


@app.command("export")
def export_cmd(
    model: Annotated[
        list[str] | None,
        typer.Argument(help="Zoo names, patterns, or path/to/file.py:factory[(ARGS)]; default: the suite."),
    ] = None,
    suite: Annotated[str, typer.Option(help="Suite used when no model is named: default or full.")] = "default",
    fmt: Annotated[str, typer.Option("--format", "-f", help="Comma-separated: onnx,tflite,coreml.")] = "onnx",
    precision: Annotated[
        str, typer.Option(help="Comma-separated: fp32,fp16,int8 (dynamic range),int8-static (full integer).")
    ] = "fp32",
    out_dir: Annotated[str | None, typer.Option("--out", help="Also copy the artifacts into this folder.")] = None,
    weights: WeightsOption = None,
    input_shape: InputShapeOption = None,
    factory_args: FactoryArgsOption = None,
    input_range: Annotated[
        str | None,
        typer.Option(help="Verify on uniform inputs in LOW,HIGH (e.g. 0,1); default: the model's own range."),
    ] = None,
    inputs: Annotated[
        str | None,
        typer.Option(
            "--inputs",
            help="Verify on real inputs: a folder of .npy arrays of the input shape (several inputs: .npz, "
            "an array per input).",
        ),
    ] = None,
    calibration: CalibrationOption = None,
    io: IoOption = "float32",
    mean: MeanOption = None,
    std: StdOption = None,
    crop_pct: CropPctOption = None,
    interpolation: InterpolationOption = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Export again even when cached.")] = False,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Convert again where the cache holds a failed export.")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print only a JSON list of artifacts on stdout.")] = False,
) -> None:
    """Export models to ONNX / TFLite / CoreML, verified against PyTorch."""
    from bench.paths import output_folder
    from export.base import check_combination, check_io, get_exporter, io_type_for
    from export.verify import InputSpec

    formats, precisions = split(fmt), split(precision)
    if not formats or not precisions:
        raise BenchError("--format and --precision need at least one value")
    if input_range and inputs:
        raise BenchError("--input-range and --inputs both say what to verify on: give one")
    verify_on = InputSpec.parse_range(input_range) if input_range else InputSpec.from_folder(inputs) if inputs else None
    combinations = []
    for f in formats:
        get_exporter(f).check_available()  # unknown format or missing backend: exit 2 before any work
        combinations += [(f, p) for p in precisions if p in get_exporter(f).precisions]
    for p in precisions:  # a precision no chosen format has (fp64, or fp16 with only onnx): exit 2
        if not any(p == q for _, q in combinations):
            check_combination(formats[0], p)
    for f in formats:
        for p in precisions:
            if (f, p) not in combinations:
                render.note(f"skipped {f} {p}: {f} has no {p} (it offers {', '.join(get_exporter(f).precisions)})")
    preprocessing = preprocess_options(mean, std, crop_pct, interpolation)
    if "int8-static" in precisions and calibration is None:
        raise BenchError("--precision int8-static needs --calibration DIR: images to measure activation ranges on")
    check_io(io, formats, precisions)
    refs = model_references(model, suite, input_shape, weights, factory_args)  # unknown names: exit 2, no torch
    from export.pipeline import export_model
    from export.source import resolve

    specs = [resolve(ref) for ref in refs]
    for spec in specs:  # a user's factory and model run once, here: their errors exit 2 before any export
        spec.check_runs()
        if verify_on is not None:
            verify_on.check(spec.inputs)  # input files that cannot feed this model: exit 2
            spec.check_runs(verify_on.sample(spec.inputs, 1)[0])  # nor ones it cannot take (ids past an embedding)
    calibrations = {}
    if calibration is not None and "int8-static" in precisions:
        from export.calibration import Calibration, preprocess_for

        for spec in specs:  # an empty folder, or images that do not fit the model: exit 2 before any export
            calibrations[spec.name] = Calibration.from_folder(calibration, preprocess_for(spec, **preprocessing))
            calibrations[spec.name].samples(spec.inputs)
    out = output_folder(out_dir, "--out") if out_dir else None  # a file there: exit 2 before any work
    jobs = [(spec, f, p) for spec in specs for f, p in combinations]
    artifacts = []
    with render.progress() as progress:
        task = progress.add_task("exporting", total=len(jobs))
        for spec, f, p in jobs:
            progress.update(task, description=f"{spec.name} {f} {p}")
            artifacts.append(
                export_model(
                    spec,
                    f,
                    p,
                    out,
                    use_cache=not no_cache,
                    retry_failed=retry_failed,
                    inputs=verify_on,
                    calibration=calibrations.get(spec.name),
                    io=io_type_for(f, p, io),
                )
            )
            progress.advance(task)
    failed = [a for a in artifacts if not a.ok]
    if as_json:
        print(json.dumps([a.to_dict() for a in artifacts], indent=2))
    else:
        render.exports(artifacts)
    if failed:
        unverified = sum(1 for a in failed if a.error is None and a.verified is None)
        detail = f" ({unverified} neither verified nor checked)" if unverified else ""
        render.err.print(f"{len(failed)} of {len(artifacts)} exports failed{detail}", markup=False, highlight=False)
        raise typer.Exit(1)
