"""``bench run`` and ``bench farm``: measure a suite on one device, or on many through a Dask device farm.

While a run goes on, a terminal shows a progress bar; when stdout is not a terminal (a CI log,
a file) each finished cell is one line instead, on stdout, or on stderr with ``--json`` so that
stdout stays pure JSON.
"""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from dataclasses import fields as dataclass_fields
from pathlib import Path
from typing import Annotated, Any

import typer

from bench.cli import render
from bench.cli.app import app
from bench.cli.options import (
    AcceleratorOption,
    DelegateOption,
    FactoryArgsOption,
    InputShapeOption,
    MaxRunsOption,
    MaxTimeOption,
    MinRunsOption,
    MinTimeOption,
    OnContentionOption,
    RequireFullOption,
    StoreOption,
    WarmupOption,
    WeightsOption,
    accelerator_specs,
    bounded,
    delegation_settings,
    input_shape_text,
    ints,
    model_references,
    protocol_params,
    refuse_typed_conflicts,
    split,
)
from bench.errors import BenchError
from bench.measure.protocol import Protocol
from export.reference import is_model_file, is_user_reference


def _cell_lines(as_json: bool):
    """A callback printing one line per finished cell when stdout is not a terminal, else None."""
    if sys.stdout.isatty():
        return None
    stream = sys.stderr if as_json else sys.stdout

    def line(row: dict[str, Any]) -> None:
        print(render.cell_line(row), file=stream, flush=True)

    return line


@app.command("run")
def run_cmd(
    ctx: typer.Context,
    device: Annotated[
        list[str] | None,
        typer.Option(help="Device profile to run on (see `bench devices`); repeatable, e.g. with --farm."),
    ] = None,
    farm: Annotated[
        str | None, typer.Option(help="Dask scheduler of a device farm (tcp://HOST:PORT); devices live on its workers.")
    ] = None,
    device_file: Annotated[str | None, typer.Option(help="Run on the device of this TOML profile.")] = None,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model", "-m", help="Zoo name, pattern, path/to/file.py:factory[(ARGS)], or a model file; repeatable."
        ),
    ] = None,
    input_shape: InputShapeOption = None,
    weights: WeightsOption = None,
    factory_args: FactoryArgsOption = None,
    suite: Annotated[str, typer.Option(help="Suite when no --model is given: default or full.")] = "default",
    fmt: Annotated[
        str | None,
        typer.Option(
            "--format", "-f", help="Comma-separated: onnx,tflite,pytorch (default onnx,tflite; a file: its own)."
        ),
    ] = None,
    runtime: Annotated[str | None, typer.Option(help="Comma-separated runtimes (default: one per format).")] = None,
    precision: Annotated[
        str | None, typer.Option(help="Comma-separated: fp32,fp16,int8 (default fp32; a model file's own).")
    ] = None,
    threads: Annotated[
        str | None, typer.Option(help="Comma-separated thread counts (default: the device profile's).")
    ] = None,
    accelerator: AcceleratorOption = None,
    delegate_option: DelegateOption = None,
    require_full_delegation: RequireFullOption = False,
    on_contention: OnContentionOption = "retry",
    warmup: WarmupOption = Protocol.warmup,
    min_runs: MinRunsOption = Protocol.min_runs,
    min_time: MinTimeOption = Protocol.min_time,
    max_runs: MaxRunsOption = Protocol.max_runs,
    max_time: MaxTimeOption = Protocol.max_time,
    ci_target: Annotated[
        float | None,
        typer.Option(callback=bounded, help="Stop early once the median's 95% CI half-width is below this fraction."),
    ] = None,
    repeats: Annotated[int, typer.Option(callback=bounded, help="Repeats per cell, interleaved across the suite.")] = 1,
    cooldown: Annotated[float, typer.Option(callback=bounded, help="Seconds to rest between cells.")] = 0.0,
    sustained: Annotated[
        float | None,
        typer.Option(
            callback=bounded, help="Run each cell continuously for this many seconds; record latency and temperature."
        ),
    ] = None,
    chunk: Annotated[float, typer.Option(callback=bounded, help="Sustained mode: seconds per recorded point.")] = 2.0,
    option: Annotated[
        list[str] | None,
        typer.Option(
            help="Runtime setting KEY=VALUE, repeatable: graph_optimization=disable|basic|extended|all, "
            "providers=A+B (onnxruntime); xnnpack=true|false (litert)."
        ),
    ] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Finish the last interrupted run on this device.")] = False,
    rapl_root: Annotated[str | None, typer.Option(help="powercap sysfs root (default /sys/class/powercap).")] = None,
    thermal_root: Annotated[str | None, typer.Option(help="thermal sysfs root (default /sys/class/thermal).")] = None,
    store: StoreOption = None,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="Print the stored rows as a JSON list on stdout; each row carries its run_id "
            "(for bench results --run, bench compare).",
        ),
    ] = False,
) -> None:
    """Measure latency, memory and energy of a suite on a device and store it.

    Each cell names its model by its canonical reference (:mod:`export.reference`): a user's
    ``/abs/path/net.py:make(width=0.5) --input-shape 1,3,16,16`` carries its factory arguments,
    input shape and weights, so the farm and ``--resume`` export exactly that model again.
    """
    from bench.devices.config import get_device
    from bench.measure.harness import Harness, check_device_has, plan_cells
    from bench.measure.measurement import Cell
    from bench.results.store import Store
    from bench.runtimes.base import DEFAULT_RUNTIME, check_options_used, get_runtime, parse_options
    from export.base import check_combination

    devices = device or ["host"]
    protocol = Protocol(
        warmup,
        min_runs,
        min_time,
        max_runs,
        max_time,
        ci_target,
        cooldown=cooldown,
        sustained_s=sustained,
        chunk_s=chunk,
    )
    protocol.validate()
    formats, precisions = split(fmt or "onnx,tflite"), split(precision or "fp32")
    runtimes = split(runtime) if runtime else None
    for f in formats:
        if f not in DEFAULT_RUNTIME:
            raise BenchError(f"unknown format '{f}'; choose from: {', '.join(DEFAULT_RUNTIME)}")
        for p in precisions if f != "pytorch" else []:
            check_combination(f, p)
    refs = model_references(model, suite, input_shape, weights, factory_args, files=True)
    if "int8-static" in precisions and not all(is_model_file(r) for r in refs):
        raise BenchError(
            "--precision int8-static needs calibration images, which bench run does not take yet: export it with "
            "`bench export MODEL --precision int8-static --calibration DIR --out OUT` and run the file it writes"
        )
    files = [r for r in refs if is_model_file(r)]
    if fmt or precision:
        check_files(files, formats if fmt else None, precisions if precision else None, len(files) == len(refs))
    if "pytorch" in formats and any(is_user_reference(r) for r in refs):
        raise BenchError("format pytorch (eager) measures zoo models; measure file.py:factory models as onnx or tflite")
    overrides = parse_options(option or [])
    specs = accelerator_specs(accelerator)
    if farm:
        if device_file:
            raise BenchError("--farm runs devices that live on the farm's workers: no --device-file")
        farm_threads = ints(threads or "1", "--threads")
        settings = _run_settings(protocol, overrides, model, suite, formats, precisions, runtimes, farm_threads,
                                 repeats, input_shape, weights, factory_args, specs)  # fmt: skip
        previous = None
        if resume:  # every device's last unfinished run, measured to its end with its own settings
            results_store = Store(store)
            previous = {d: results_store.resumable_run(d) for d in devices}
            missing = [d for d, run in previous.items() if run is None]
            if missing:
                raise BenchError(f"nothing to resume: no unfinished run on device {', '.join(missing)}")
            protocol, overrides = _resumed_settings(ctx, previous[devices[0]], settings)
            cells = [Cell.from_row(c) for c in previous[devices[0]]["plan"]]
        else:
            cells = plan_cells(refs, formats, precisions, runtimes, farm_threads, repeats, accelerators=specs)
        delegation = _delegation(delegate_option, require_full_delegation, cells, previous and previous[devices[0]])
        settings["delegation"] = asdict(delegation)
        check_options_used(overrides, {c.runtime for c in cells})
        for name in sorted({c.runtime for c in cells}):
            get_runtime(name).with_options(overrides)
        _check_user_models(cells)
        _run_farm(farm, devices, cells, protocol, overrides, store, as_json, settings, previous, delegation)
        return
    if len(devices) > 1:
        raise BenchError("several --device values need --farm ADDRESS (or run one device at a time)")
    dev = get_device(devices[0], device_file)
    thread_counts = ints(threads, "--threads") if threads else list(dev.threads)
    settings = _run_settings(protocol, overrides, model, suite, formats, precisions, runtimes, thread_counts,
                             repeats, input_shape, weights, factory_args, specs)  # fmt: skip
    settings["plan"]["on_contention"] = on_contention
    previous = None
    if resume:
        results_store = Store(store)
        previous = results_store.resumable_run(dev.name)
        if previous is None:
            raise BenchError(f"nothing to resume: no unfinished run on device '{dev.name}'")
        protocol, overrides = _resumed_settings(ctx, previous, settings)
        on_contention = ((previous.get("settings") or {}).get("plan") or {}).get("on_contention", on_contention)
        cells = [Cell.from_row(c) for c in previous["plan"]]
        for spec in sorted({c.accelerator for c in cells}):  # exit 2, the run left resumable
            check_device_has(dev, spec)
    else:
        cells = plan_cells(refs, formats, precisions, runtimes, thread_counts, repeats, device=dev, accelerators=specs)
    delegation = _delegation(delegate_option, require_full_delegation, cells, previous)
    settings["delegation"] = asdict(delegation)
    check_options_used(overrides, {c.runtime for c in cells})
    for name in sorted({c.runtime for c in cells}):  # missing runtimes and bad values: exit 2 before any work
        if dev.is_local:  # remote runtimes live on the device: checked there, per cell
            get_runtime(name).check_available()
        get_runtime(name).with_options(overrides)
    check_accelerators(cells, overrides, delegation, dev.is_local)
    # The device is reached first (an unreachable device is the first error), then the model files and
    # the users' factories are checked, and only then is the store opened: a command that exits 2 leaves
    # no store behind.
    harness = Harness(
        dev, None, protocol, rapl_root, thermal_root, overrides, delegation=delegation, on_contention=on_contention
    )
    try:
        for file in {c.model for c in cells if is_model_file(c.model)}:
            if not Path(file).exists():  # a mistyped path is bad input (exit 2), not a failed cell in the store
                raise BenchError(f"model file not found: {file}")
        _check_user_models(cells)
    except BenchError:
        harness.transport.close()
        raise
    harness.store = Store(store)
    log_line = _cell_lines(as_json)
    with render.progress() as progress:
        task = progress.add_task("measuring", total=len(cells) or None)

        def on_cell(cell, row) -> None:
            progress.update(task, description=cell.label(), advance=1)
            if log_line and row is not None:
                log_line(row)

        try:
            argv = " ".join(sys.argv[1:])
            result = harness.run(cells, resume=previous, argv=argv, on_cell=on_cell, settings=settings)
        except KeyboardInterrupt:
            render.note("interrupted: finished measurements are stored; `bench run --resume` completes the rest")
            raise typer.Exit(130) from None
    if as_json:
        from bench.results.records import load_results, to_records

        print(json.dumps(to_records(load_results(store, result.run_id)), indent=2))
    else:
        render.runs(result.rows, result.run_id, harness.energy_note if harness.meter is None else None)
        if result.skipped:
            render.out.print(f"{result.skipped} cells were already measured in run {result.run_id} and were skipped")
    contended = [r for r in result.rows if (r.get("contention") or {}).get("contended")]
    if contended:
        worst = max(r["contention"]["others_share"] for r in contended)
        render.note(
            f"{len(contended)} of {len(result.rows)} cells ran while other processes used the measured CPUs (up to "
            f"{worst:.0%} of their time; flagged 'contended' in the results): their latency is inflated; measure "
            "them again on a quiet machine, or use --on-contention fail"
        )
    if result.lost:
        measured = sum(1 for r in result.rows if r["status"] == "ok")
        render.note(
            f"device '{dev.name}' was lost: {result.lost}. {measured} of {result.planned} cells are stored; "
            f"`bench run --device {dev.name} --resume` measures the rest once it is back"
        )
        raise typer.Exit(1)
    if result.failed:
        render.note(f"{len(result.failed)} of {len(result.rows)} cells failed (stored with their reason)")
        raise typer.Exit(1)


# `bench run` parameters that set the protocol -> the Protocol field each sets
def _resumed_settings(ctx: typer.Context, run: dict, given: dict) -> tuple[Protocol, dict[str, str]]:
    """The protocol and runtime options a resumed ``run`` measures with: the ones it recorded.

    ``given``: the settings the resume command line makes (as a new run records them). An option
    typed on the resume line that differs from the run's recorded value raises BenchError (exit 2)
    naming both values. A run recorded by an older bench has no settings: the resume line's are used.
    """
    recorded = run.get("settings")
    if not recorded:
        return Protocol(**given["protocol"]), given["options"]

    def flat(settings: dict) -> dict:
        return {**protocol_params(settings["protocol"]), "option": settings["options"], **settings["plan"]}

    refuse_typed_conflicts(ctx, flat(given), flat(recorded), run["run_id"])
    fields = {f.name for f in dataclass_fields(Protocol)}
    return Protocol(**{k: v for k, v in recorded["protocol"].items() if k in fields}), recorded["options"]


def _check_user_models(cells) -> None:
    """Load each user's model file and run its factory once (BenchError: a missing file, an import
    error, missing factory arguments, a factory that returns no module), before anything is measured."""
    refs = sorted({c.model for c in cells if is_user_reference(c.model)})
    if not refs:
        return
    from export.source import resolve  # torch: only when there is a user's model to load

    for ref in refs:
        resolve(ref).check_runs()


def check_files(
    files: list[str], formats: list[str] | None, precisions: list[str] | None, only_files: bool = False
) -> None:
    """A model file runs as what it is (format and precision read from the file): BenchError when
    ``--format`` / ``--precision`` were given (not None) and do not include what a file is, or,
    when the run names only files (``only_files``), name a format or precision none of them is
    (it would be dropped silently). Long values are shortened once, for every error, by
    :func:`bench.errors.one_line`."""
    from export.base import read_model_file

    seen_formats, seen_precisions = set(), set()
    for file in files:
        fmt, precision = read_model_file(file)
        seen_formats.add(fmt)
        seen_precisions.add(precision)
        if formats is not None and fmt not in formats:
            raise BenchError(f"--format {','.join(formats)}: {file} is a model of format {fmt}")
        if precisions is not None and precision is not None and precision not in precisions:
            raise BenchError(f"--precision {','.join(precisions)}: the weights of {file} are {precision}")
    if only_files and None not in seen_precisions:
        unused = [f for f in formats or [] if f not in seen_formats] + [
            p for p in precisions or [] if p not in seen_precisions
        ]
        if unused:
            raise BenchError(
                f"{', '.join(unused)}: no model file given is that (the files run as what they are: "
                f"{', '.join(sorted(seen_formats))} {', '.join(sorted(seen_precisions))})"
            )


def _run_settings(protocol, overrides, model, suite, formats, precisions, runtimes, thread_counts, repeats,
                  input_shape, weights, factory_args, accelerators) -> dict:  # fmt: skip
    """What a run records for a later ``--resume``: its protocol, runtime options and plan options
    (its delegation settings are added once the cells are planned: ``settings["delegation"]``)."""
    return {
        "protocol": asdict(protocol),
        "options": overrides,
        "plan": {
            "model": sorted(model or []),
            "suite": suite,
            "fmt": sorted(formats),
            "precision": sorted(precisions),
            "runtime": sorted(runtimes) if runtimes else None,
            "threads": sorted(thread_counts),
            "repeats": repeats,
            "input_shape": input_shape_text(input_shape),
            "weights": weights,
            "factory_args": factory_args,
            "accelerator": sorted(accelerators),
        },
    }


def _delegation(values: list[str] | None, require_full: bool, cells, resumed: dict | None):
    """The run's delegation settings: a resumed run's recorded ones (the resume line may not change
    them), else the command line's, checked against the planned cells."""
    from bench.accelerators.base import Delegation

    specs = list(dict.fromkeys(c.accelerator for c in cells))
    given = delegation_settings(specs, values, require_full, sorted({c.runtime for c in cells}))
    recorded = ((resumed or {}).get("settings") or {}).get("delegation")
    if resumed is None or recorded is None:
        return given
    if (values or require_full) and asdict(given) != recorded:
        shown = " ".join(f"{k}={v}" for k, v in (recorded.get("options") or {}).items()) or "no delegate options"
        full = ", --require-full-delegation" if recorded.get("require_full") else ""
        raise BenchError(
            f"--delegate-option/--require-full-delegation conflict with the recorded {shown}{full} of run "
            f"{resumed['run_id']}: a resume measures with the run's own settings; drop the option"
        )
    return Delegation(recorded.get("options") or {}, bool(recorded.get("require_full")))


def check_accelerators(cells, overrides: dict, delegation, local: bool) -> None:
    """Exit 2 before any work for an accelerator that cannot run here: its runtime cannot run it on this
    kind of device, ``--option providers`` contradicts it, or (on this machine) the execution provider
    it needs is not installed, naming what to install."""
    from bench.accelerators.base import serving_for
    from bench.runtimes.base import get_runtime

    providers = [p for p in overrides.get("providers", "").split("+") if p.strip()]
    if any(p.strip() != "CPUExecutionProvider" for p in providers):
        raise BenchError(
            f"--option providers={overrides['providers']}: an execution provider other than the CPU's is an "
            "accelerator: use --accelerator (cuda, tensorrt, openvino, qnn, nnapi, xnnpack), which checks where the "
            "graph really ran"
        )
    for accelerator, runtime in sorted({(c.accelerator, c.runtime) for c in cells}):
        if accelerator == "cpu":
            continue
        serving = serving_for(accelerator, runtime, delegation.options)
        if set(serving.options) & set(overrides):
            clash = ", ".join(sorted(set(serving.options) & set(overrides)))
            raise BenchError(f"--option {clash} contradicts --accelerator {accelerator}, which sets it; use one")
        if not local:
            continue
        if not serving.agent:
            raise BenchError(f"accelerator {accelerator} on {runtime} cannot run on this machine: {serving.why_not}")
        missing = get_runtime(runtime).missing_for(serving.options)
        if missing:
            raise BenchError(f"accelerator {accelerator}: {missing}; {serving.needs or 'install it'}")


def _run_farm(address, devices, cells, protocol, overrides, store, as_json, settings=None, resume=None,
              delegation=None) -> None:  # fmt: skip
    from bench.devices.farm import check_reachable, run_on_farm
    from bench.results.store import Store

    check_reachable(address)  # a bad or silent scheduler address: exit 2 before a store is made
    results_store = Store(store)
    log_line = _cell_lines(as_json)
    with render.progress() as progress:
        tasks = {d: progress.add_task(d, total=len(cells)) for d in devices}

        def on_row(row: dict) -> None:
            progress.update(tasks[row["device"]], advance=1, description=f"{row['device']}: {row['model']}")
            if log_line:
                log_line(row)

        argv = " ".join(sys.argv[1:])
        result = run_on_farm(
            address, devices, cells, protocol, overrides, results_store, argv, on_row, settings, resume, delegation
        )
    if as_json:
        import pandas as pd

        from bench.results.records import COLUMNS, to_records

        rows = [row for run_id in result.run_ids.values() for row in results_store.measurement_rows(run_id)]
        print(json.dumps(to_records(pd.DataFrame(rows, columns=COLUMNS)), indent=2))
    else:
        render.farm(address, [_farm_device(d, result.run_ids[d], result.rows) for d in devices], result.failed)
    if result.failed:
        render.err.print(
            f"{len(result.failed)} of {len(result.rows)} cells failed (stored with their reason)", markup=False
        )
        raise typer.Exit(1)


def _farm_device(device: str, run_id: str, all_rows: list[dict]) -> render.FarmDevice:
    """One device's summary line: cells ok / failed, median of the cell medians, wall time, workers."""
    from bench.measure.stats import median_of

    rows = [r for r in all_rows if r["device"] == device]
    ok = [r for r in rows if r["status"] == "ok"]
    spans = [r["started_at"] for r in rows] + [r["ended_at"] for r in rows]
    return render.FarmDevice(
        device=device,
        run_id=run_id,
        ok=len(ok),
        failed=len(rows) - len(ok),
        median_of_medians_ms=median_of(r["median_ms"] for r in ok),
        wall_s=max(spans) - min(spans) if spans else None,
        workers=", ".join(sorted({str(r["settings"].get("worker", "-")) for r in ok})) or "-",
    )


farm_app = typer.Typer(help="A device farm on Dask distributed: a scheduler and one worker per lab host.",
                       no_args_is_help=True)  # fmt: skip


@farm_app.command("scheduler")
def farm_scheduler(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(callback=bounded, help="Port to listen on, 1-65535.")] = 8786,
) -> None:
    """Run the farm's Dask scheduler (the same as `dask scheduler`) until stopped."""
    import socket

    from bench.devices.farm import run_scheduler

    try:  # an address this host cannot listen on: one line naming the option, before Dask logs anything
        socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as probe:
            probe.bind((host, 0))
    except (OSError, UnicodeError) as exc:
        raise BenchError(f"--host {host[:60]}: cannot listen there ({getattr(exc, 'strerror', None) or exc})") from None
    run_scheduler(host, port)


@farm_app.command("worker")
def farm_worker(
    scheduler: Annotated[str, typer.Option(help="The scheduler's address, tcp://HOST:PORT.")],
    device: Annotated[list[str], typer.Option(help="A device attached to this host (a profile name); repeatable.")],
    name: Annotated[str | None, typer.Option(help="Worker name shown in summaries (default: Dask's).")] = None,
) -> None:
    """Serve this host's devices to the farm: one benchmark per device at a time."""
    from bench.devices.farm import run_worker

    run_worker(scheduler, device, name)
