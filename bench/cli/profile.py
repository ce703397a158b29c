"""``bench profile``: per-block time from the runtime's own profiler, locally or on a phone or board."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from bench.cli import render
from bench.cli.app import app
from bench.cli.options import FactoryArgsOption, InputShapeOption, WeightsOption, bounded, one_model


@app.command("profile")
def profile_cmd(
    model: Annotated[str, typer.Argument(help="Zoo model or path/to/file.py:factory[(ARGS)] to profile.")],
    input_shape: InputShapeOption = None,
    weights: WeightsOption = None,
    factory_args: FactoryArgsOption = None,
    device: Annotated[
        str,
        typer.Option(
            help="Device profile: local devices run the runtime here; phones and boards run its benchmark "
            "tool there (benchmark_model, onnxruntime_perf_test)."
        ),
    ] = "host",
    device_file: Annotated[str | None, typer.Option(help="A device profile TOML file instead of a name.")] = None,
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="onnx, tflite or pytorch.")] = None,
    runtime: Annotated[str | None, typer.Option(help="onnxruntime, litert or torch (default: the format's).")] = None,
    threads: Annotated[int, typer.Option(callback=bounded, help="Threads.")] = 1,
    runs: Annotated[int, typer.Option(callback=bounded, help="Timed runs per measurement.")] = 30,
    depth: Annotated[
        int, typer.Option(callback=bounded, help="Block depth: 1 = stages/blocks, 2 = their parts, ...")
    ] = 1,
    save: Annotated[bool, typer.Option(help="Keep it for `bench report` (results/profiles/).")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print only a JSON object on stdout.")] = False,
) -> None:
    """Per-block time, share, MACs and GFLOP/s from the runtime's own profiler."""
    from bench.devices.config import get_device
    from bench.profiling.profile import fallback_summary, profile_model, runtime_for, save_profile
    from bench.runtimes.base import get_runtime

    ref = one_model(model, input_shape, weights, factory_args, "bench profile")
    chosen = runtime_for(fmt if fmt or runtime else "onnx", runtime)
    dev = get_device(device, device_file)
    get_runtime(chosen).check_available()  # on remote devices too: the host exports and maps the model
    with render.err.status(f"profiling {model} on {chosen} ({dev.name})"):
        result = profile_model(ref, chosen, dev, threads, runs, depth)
    if save:
        save_profile(result)
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    title = f"{model} on {chosen} ({dev.name}, {threads} thread(s)): where the time goes"
    render.profile(result, title, fallback_summary(result.fallback))
