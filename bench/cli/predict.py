"""``bench predict`` and ``bench predictor train|evaluate``: latency without the device (#22)."""

from __future__ import annotations

import json
import shlex
import sys
from typing import Annotated

import typer

from bench.cli import render
from bench.cli.app import app
from bench.cli.options import (
    FactoryArgsOption,
    InputShapeOption,
    StoreOption,
    WeightsOption,
    bounded,
    model_references,
)

predictor_app = typer.Typer(
    help="Train and evaluate per-operator latency predictors (kernel sweep + zoo profiles).",
    no_args_is_help=True,
)

DeviceOption = Annotated[str, typer.Option(help="Device profile (a local one: its runtime runs here).")]
RuntimeOption = Annotated[str, typer.Option(help="onnxruntime or litert.")]
AcceleratorOption = Annotated[str, typer.Option(help="Accelerator (the CPU only so far).")]
ThreadsOption = Annotated[int, typer.Option(callback=bounded, help="Threads.")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print only JSON on stdout.")]
DeviceFileOption = Annotated[str | None, typer.Option(help="A device profile TOML file instead of a name.")]


def _context(device: str, device_file: str | None, store: str | None):
    from bench.devices.config import get_device
    from bench.paths import results_dir
    from bench.results.store import Store

    return get_device(device, device_file), results_dir(), Store(store)


@predictor_app.command("train")
def train_cmd(
    device: DeviceOption = "host",
    device_file: DeviceFileOption = None,
    runtime: RuntimeOption = "onnxruntime",
    accelerator: AcceleratorOption = "cpu",
    threads: ThreadsOption = 1,
    budget: Annotated[
        float, typer.Option(help="Minutes of kernel sweep (kernels stored before are reused, not re-measured).")
    ] = 30.0,
    zoo: Annotated[
        list[str] | None,
        typer.Option(
            help="Zoo models (names or patterns, repeatable) to profile node by node and train on too; "
            "'full' or 'default' for a suite. Models profiled before are reused."
        ),  # fmt: skip
    ] = None,
    runs: Annotated[int, typer.Option(callback=bounded, help="Profiled runs per kernel or model.")] = 20,
    seed: Annotated[int, typer.Option(help="Seed of the sweep's sampling.")] = 0,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Sweep kernels within a time budget, profile zoo models, fit and save a predictor."""
    from bench.measure.environment import fingerprint
    from bench.measure.suite import SUITES, resolve_models, suite_models
    from bench.predictor.api import train

    dev, results, opened = _context(device, device_file, store)
    names: list[str] = []
    for item in zoo or []:
        for name in suite_models(item) if item in SUITES else resolve_models([item]):
            if name not in names:
                names.append(name)
    try:
        with render.err.status("training a latency predictor") as status:
            result = train(opened, results, dev, runtime, accelerator, threads, budget, names, runs, seed,
                           fingerprint(), shlex.join(sys.argv), progress=lambda text: status.update(text))  # fmt: skip
    except KeyboardInterrupt:
        render.note("interrupted: the kernels and profiles measured so far are stored; "
                    "`bench predictor train` again reuses them")  # fmt: skip
        raise typer.Exit(130) from None
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    render.trained(result)


@predictor_app.command("evaluate")
def evaluate_cmd(
    device: DeviceOption = "host",
    device_file: DeviceFileOption = None,
    runtime: RuntimeOption = "onnxruntime",
    accelerator: AcceleratorOption = "cpu",
    threads: ThreadsOption = 1,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Leave-one-family-out on the profiled zoo models: predicted vs measured, beside a MACs-only baseline."""
    from bench.predictor.api import evaluate

    dev, _, opened = _context(device, device_file, store)
    with render.err.status("leave-one-family-out"):
        result = evaluate(opened, dev, runtime, accelerator, threads)
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    render.evaluation(result)


@app.command("predict")
def predict_cmd(
    models: Annotated[list[str], typer.Argument(help="Zoo models, patterns or path/to/file.py:factory references.")],
    input_shape: InputShapeOption = None,
    weights: WeightsOption = None,
    factory_args: FactoryArgsOption = None,
    device: DeviceOption = "host",
    device_file: DeviceFileOption = None,
    runtime: Annotated[str | None, typer.Option(help="onnxruntime or litert (default: the format's).")] = None,
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="onnx or tflite (default: onnx).")] = None,
    accelerator: AcceleratorOption = "cpu",
    threads: ThreadsOption = 1,
    save: Annotated[bool, typer.Option(help="Store each prediction (kind 'predicted') for reports.")] = True,
    store: StoreOption = None,
    as_json: JsonOption = False,
) -> None:
    """Predicted latency per block and per model from a trained predictor, without the device."""
    from bench.measure.environment import fingerprint
    from bench.predictor.api import predict
    from bench.predictor.sweep import runtime_for_format

    runtime = runtime_for_format(fmt, runtime)
    names = model_references(models, "default", input_shape, weights, factory_args)
    dev, results, opened = _context(device, device_file, store)
    with render.err.status(f"predicting {len(names)} model(s) on {runtime} ({dev.name})"):
        predictions = predict(opened if save else None, results, names, dev, runtime, accelerator, threads,
                              fingerprint(), shlex.join(sys.argv))  # fmt: skip
    if as_json:
        print(json.dumps([p.to_dict() for p in predictions], indent=2))
        return
    render.predictions(predictions)
