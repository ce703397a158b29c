"""``bench accuracy``: top-1 of each exported artifact on the user's labelled images."""

from __future__ import annotations

import json
from pathlib import Path
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
    StoreOption,
    WeightsOption,
    bounded,
    model_references,
    preprocess_options,
    split,
)
from bench.errors import BenchError

FORMATS = ("pytorch", "onnx", "tflite", "coreml")


@app.command("accuracy")
def accuracy_cmd(
    model: Annotated[
        list[str],
        typer.Argument(
            help="Zoo names, patterns, path/to/file.py:factory[(ARGS)], or model files (.onnx, .tflite, "
            ".mlpackage) converted elsewhere, scored as they are."
        ),
    ],
    data: Annotated[
        str, typer.Option("--data", help="Labelled images: DIR/<class>/<image>, DIR with labels.csv, or synsets.")
    ],
    labels: Annotated[
        str | None,
        typer.Option(
            "--labels",
            help="Label map: one class name per line in index order, for synset (or any class) folders and "
            "for the class names of a labels.csv (default: sorted names).",
        ),
    ] = None,
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help="Comma-separated: pytorch,onnx,tflite,coreml (default pytorch,onnx,tflite)."
        ),
    ] = None,
    precision: Annotated[
        str | None, typer.Option(help="Comma-separated: fp32,fp16,int8,int8-static (default fp32).")
    ] = None,
    reference: Annotated[
        str | None,
        typer.Option(
            "--reference",
            help="For model files: the fp32 PyTorch model they were exported from (zoo name or file.py:factory, "
            "with --weights/--factory-args), scored on the same images as the baseline of their drop.",
        ),
    ] = None,
    weights: WeightsOption = None,
    input_shape: InputShapeOption = None,
    factory_args: FactoryArgsOption = None,
    calibration: CalibrationOption = None,
    io: IoOption = "float32",
    mean: MeanOption = None,
    std: StdOption = None,
    crop_pct: CropPctOption = None,
    interpolation: InterpolationOption = None,
    limit: Annotated[int | None, typer.Option(callback=bounded, help="Score at most N images (a seeded pick).")] = None,
    batch: Annotated[
        int | None,
        typer.Option(callback=bounded, help="Images per inference (the exported batch; a file's own). [default: 1]"),
    ] = None,
    max_drop: Annotated[
        float, typer.Option(callback=bounded, help="Top-1 points below fp32 PyTorch that count as a collapse.")
    ] = 1.0,
    store: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print only a JSON list of rows on stdout.")] = False,
) -> None:
    """Top-1/top-5 of each exported artifact on labelled images, against the fp32 PyTorch model."""
    from bench.accuracy import evaluate, plan
    from bench.results.store import Store
    from export.base import check_io
    from export.reference import is_model_file

    preprocessing = preprocess_options(mean, std, crop_pct, interpolation)
    files = [m for m in model if is_model_file(m)]
    if files:  # scored as they are: nothing is exported
        if len(files) < len(model):
            raise BenchError("name models (exported here) or model files (scored as they are), not both in one call")
        given = [n for n, v in (("--format", fmt), ("--precision", precision), ("--calibration", calibration)) if v]
        if given or io != "float32":
            raise BenchError(
                f"a model file is scored as it is (its format and precision are read from it); "
                f"{', '.join(given) or '--io'} would choose what to export"
            )
        loose = [n for n, v in (("--weights", weights), ("--input-shape", input_shape),
                                ("--factory-args", factory_args)) if v]  # fmt: skip
        if loose and reference is None:
            raise BenchError(f"{', '.join(loose)} apply to --reference MODEL, which was not given")
        refs = model_references([reference], "default", input_shape, weights, factory_args) if reference else []
        if len(refs) > 1:
            raise BenchError(f"--reference {reference[:60]} names {len(refs)} models; name one")
        jobs = plan.prepare_files(files, refs[0] if refs else None, Path(data), Path(labels) if labels else None,
                                  preprocessing, limit, batch, max_drop)  # fmt: skip
    else:
        if reference is not None:
            raise BenchError("--reference is for model files (.onnx, .tflite, .mlpackage) converted elsewhere")
        fmt, precision, batch = fmt or "pytorch,onnx,tflite", precision or "fp32", batch or 1
        formats, precisions = split(fmt), split(precision)
        unknown = [f for f in formats if f not in FORMATS]
        if unknown or not formats or not precisions:
            raise BenchError(f"--format {fmt[:40]}: choose from {', '.join(FORMATS)}")
        check_io(io, formats, precisions)
        refs = model_references(model, "default", input_shape, weights, factory_args)
        jobs = plan.prepare(
            refs, Path(data), Path(labels) if labels else None, formats, precisions, preprocessing,
            Path(calibration) if calibration else None, limit, batch, max_drop,
        )  # fmt: skip
    results = Store(store)  # a bad store: exit 2 before any work
    rows = []
    with render.progress() as progress:
        for job in jobs:
            name = job.file.path.name if job.file else job.spec.name
            task = progress.add_task(f"{name}: {len(job.dataset)} images", total=len(job.dataset))
            for note in job.notes:
                render.note(note)
            found = evaluate.evaluate(
                job.spec, job.dataset, job.preprocess, job.targets, settings={**job.settings, "io": io},
                max_drop=max_drop, calibration=job.calibration, io=io,
                on_batch=lambda n, task=task: progress.advance(task, n), file=job.file,
            )  # fmt: skip
            for row in found:
                results.add_accuracy(row.to_dict())
            rows += found
    if as_json:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
    else:
        dataset = jobs[0].dataset
        render.accuracy(rows, f"accuracy on {dataset.root} ({dataset.n_classes} classes)")
        for note in dict.fromkeys(n for r in rows for n in r.notes):  # each once (every row shares the images)
            render.note(note)
    collapsed = [r for r in rows if r.collapsed]
    failed = [r for r in rows if r.error]
    if collapsed or failed:
        parts = [f"{len(collapsed)} accuracy collapse(s) (top-1 more than {max_drop:g} points below fp32 PyTorch)"]
        if failed:
            parts.append(f"{len(failed)} artifact(s) not scored")
        render.err.print("; ".join(parts), markup=False, highlight=False, soft_wrap=True)
        raise typer.Exit(1)
