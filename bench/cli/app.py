"""The ``bench`` command line: thin Typer commands that call one library function and render.

Errors a user can fix are one line on stderr with exit code 2; ``--json`` prints only JSON
on stdout (progress and notes go to stderr).
"""

from __future__ import annotations

import json
import sys
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

import bench
from bench.errors import BenchError
from bench.measure.protocol import Protocol

app = typer.Typer(
    name="bench",
    help="On-device efficiency benchmarking for lightweight vision models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
# Piped output (CI logs, files) gets wide tables instead of Rich's 80-column fallback.
out = Console(width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True)


def _version(value: bool) -> None:
    if value:
        print(f"bench {bench.__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """On-device efficiency benchmarking for lightweight vision models."""


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=err,
        transient=True,
    )


def _fmt(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


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
    with _progress() as progress:
        task = progress.add_task("counting MACs", total=len(names))
        rows = zoo_rows(names, on_measure=lambda name: progress.update(task, description=f"counting {name}"))
        progress.update(task, completed=len(names))
    if as_json:
        print(json.dumps([r.to_dict() for r in rows], indent=2))
        return
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
            _fmt(r.params_m),
            _fmt(c.params_m.value),
            _fmt(r.macs_g, 3),
            _fmt(c.macs_g.value, 3),
            _fmt(c.top1.value, 1),
            c.short_sources or "unpublished",
        )
    out.print(table)
    out.print("top-1 is published accuracy (ImageNet-1k unless the card says otherwise), never measured here.")


@app.command("flops")
def flops_cmd(
    model: Annotated[str, typer.Argument(help="Zoo model name.")],
    depth: Annotated[int, typer.Option(min=0, max=8, help="Module depth of the per-module rows.")] = 2,
    weights: Annotated[str | None, typer.Option(help="Local checkpoint to load (weights do not change MACs).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON object on stdout.")] = False,
) -> None:
    """MACs and params per module, cross-checked (fvcore)."""
    import models
    from bench.flops import count_macs

    card = models.get_card(model)
    report = count_macs(models.create_model(model, weights=weights), card.input_shape, model, max_depth=depth)
    if as_json:
        print(json.dumps(report.to_dict(), indent=2))
        return
    out.print(f"{model} at {tuple(card.input_shape)}: MACs (one multiply-add = 1)")
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


def _split(value: str) -> list[str]:
    """'onnx, tflite,,onnx' -> ['onnx', 'tflite']."""
    return list(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))


def _parse_shape(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    try:
        shape = tuple(int(v) for v in text.lower().replace("x", ",").split(","))
    except ValueError:
        raise BenchError(f"--input-shape '{text}' is not a list of integers like 1,3,224,224") from None
    if len(shape) not in (4, 5) or min(shape) <= 0:
        raise BenchError(f"--input-shape '{text}' must be 4 (NCHW) or 5 (NCTHW) positive integers")
    return shape


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
    from pathlib import Path

    from bench.measure.suite import resolve_models
    from export.base import check_combination, get_exporter
    from export.pipeline import export_model
    from export.source import resolve

    formats, precisions = _split(fmt), _split(precision)
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
    specs = [resolve(ref, _parse_shape(input_shape), weights) for ref in [*names, *refs]]
    jobs = [(spec, f, p) for spec in specs for f in formats for p in precisions]
    artifacts = []
    with _progress() as progress:
        task = progress.add_task("exporting", total=len(jobs))
        for spec, f, p in jobs:
            progress.update(task, description=f"{spec.name} {f} {p}")
            artifacts.append(export_model(spec, f, p, Path(out_dir) if out_dir else None, use_cache=not no_cache))
            progress.advance(task)
    failed = [a for a in artifacts if not a.ok]
    if as_json:
        print(json.dumps([a.to_dict() for a in artifacts], indent=2))
    else:
        _export_table(artifacts)
    if failed:
        err.print(f"{len(failed)} of {len(artifacts)} exports failed", markup=False, highlight=False)
        raise typer.Exit(1)


def _export_table(artifacts) -> None:
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
            _fmt(a.size_bytes / 1e6 if a.size_bytes else None),
            status,
            "-" if not v or v.max_abs_diff is None else f"{v.max_abs_diff:.2e}",
            "-" if not v or v.cosine is None else f"{v.cosine:.6f}",
            "-" if not v or v.top1_agreement is None else f"{v.top1_agreement:.2f}",
            "yes" if a.cached else "no",
            _fmt(a.export_seconds, 1),
            a.error or (v.reason if v and v.reason else a.path),
        )
    out.print(table)


def _ints(value: str, option: str) -> list[int]:
    try:
        values = [int(v) for v in _split(value)]
    except ValueError:
        raise BenchError(f"{option} '{value}' must be comma-separated integers") from None
    if not values or min(values) < 1:
        raise BenchError(f"{option} '{value}' must be positive integers")
    return values


StoreOption = Annotated[
    str | None, typer.Option("--store", help="Store path or SQLAlchemy URL (default: $BENCH_STORE or results/).")
]


@app.command("run")
def run_cmd(
    device: Annotated[
        list[str] | None,
        typer.Option(help="Device profile to run on (see `bench devices`); repeatable, e.g. with --farm."),
    ] = None,
    farm: Annotated[
        str | None, typer.Option(help="Dask scheduler of a device farm (tcp://HOST:PORT); devices live on its workers.")
    ] = None,
    device_file: Annotated[str | None, typer.Option(help="Run on the device of this TOML profile.")] = None,
    model: Annotated[
        list[str] | None, typer.Option("--model", "-m", help="Zoo name, pattern, or .onnx/.tflite file; repeatable.")
    ] = None,
    suite: Annotated[str, typer.Option(help="Suite when no --model is given: default or full.")] = "default",
    fmt: Annotated[str, typer.Option("--format", "-f", help="Comma-separated: onnx,tflite,pytorch.")] = "onnx,tflite",
    runtime: Annotated[str | None, typer.Option(help="Comma-separated runtimes (default: one per format).")] = None,
    precision: Annotated[str, typer.Option(help="Comma-separated: fp32,fp16,int8.")] = "fp32",
    threads: Annotated[
        str | None, typer.Option(help="Comma-separated thread counts (default: the device profile's).")
    ] = None,
    warmup: Annotated[int, typer.Option(help="Untimed runs before timing.")] = Protocol.warmup,
    min_runs: Annotated[int, typer.Option(help="Minimum timed runs.")] = Protocol.min_runs,
    min_time: Annotated[float, typer.Option(help="Minimum seconds of timed runs.")] = Protocol.min_time,
    max_runs: Annotated[int, typer.Option(help="Maximum timed runs.")] = Protocol.max_runs,
    max_time: Annotated[float, typer.Option(help="Maximum seconds of timed runs.")] = Protocol.max_time,
    ci_target: Annotated[
        float | None, typer.Option(help="Stop early once the median's 95% CI half-width is below this fraction.")
    ] = None,
    repeats: Annotated[int, typer.Option(min=1, help="Repeats per cell, interleaved across the suite.")] = 1,
    cooldown: Annotated[float, typer.Option(min=0, help="Seconds to rest between cells.")] = 0.0,
    sustained: Annotated[
        float | None,
        typer.Option(help="Run each cell continuously for this many seconds; record latency and temperature."),
    ] = None,
    chunk: Annotated[float, typer.Option(help="Sustained mode: seconds per recorded point.")] = 2.0,
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
    as_json: Annotated[bool, typer.Option("--json", help="Print the stored rows as JSON on stdout.")] = False,
) -> None:
    """Measure latency, memory and energy of a suite on a device and store it."""
    from bench.devices.config import get_device
    from bench.measure.harness import Harness, plan_cells
    from bench.measure.suite import resolve_models
    from bench.results.store import Store
    from bench.runtimes.base import DEFAULT_RUNTIME, get_runtime, parse_options
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
    formats, precisions = _split(fmt), _split(precision)
    runtimes = _split(runtime) if runtime else None
    for f in formats:
        if f not in DEFAULT_RUNTIME:
            raise BenchError(f"unknown format '{f}'; choose from: {', '.join(DEFAULT_RUNTIME)}")
        for p in precisions if f != "pytorch" else []:
            check_combination(f, p)
    files = [m for m in (model or []) if m.endswith((".onnx", ".tflite"))]
    names = (
        resolve_models([m for m in (model or []) if m not in files], suite) if len(files) < len(model or [1]) else []
    )
    overrides = parse_options(option or [])
    if farm:
        if resume or device_file:
            raise BenchError("--farm runs devices that live on the farm's workers: no --resume or --device-file")
        cells = plan_cells([*names, *files], formats, precisions, runtimes, _ints(threads or "1", "--threads"), repeats)
        for name in sorted({c.runtime for c in cells}):
            get_runtime(name).with_options(overrides)
        _run_farm(farm, devices, cells, protocol, overrides, store, as_json)
        return
    if len(devices) > 1:
        raise BenchError("several --device values need --farm ADDRESS (or run one device at a time)")
    dev = get_device(devices[0], device_file)
    thread_counts = _ints(threads, "--threads") if threads else list(dev.threads)
    cells = (
        []
        if resume
        else plan_cells([*names, *files], formats, precisions, runtimes, thread_counts, repeats, device=dev)
    )
    for name in sorted({c.runtime for c in cells}):  # missing runtimes and bad values: exit 2 before any work
        if dev.transport == "local":  # remote runtimes live on the device: checked there, per cell
            get_runtime(name).check_available()
        get_runtime(name).with_options(overrides)
    results_store = Store(store)
    harness = Harness(dev, results_store, protocol, rapl_root, thermal_root, overrides)
    with _progress() as progress:
        task = progress.add_task("measuring", total=len(cells) or None)

        def on_cell(cell, row) -> None:
            progress.update(task, description=cell.label(), advance=1)

        try:
            result = harness.run(cells, resume=resume, argv=" ".join(sys.argv[1:]), on_cell=on_cell)
        except KeyboardInterrupt:
            err.print(
                "interrupted: finished measurements are stored; `bench run --resume` completes the rest",
                markup=False,
                highlight=False,
            )
            raise typer.Exit(130) from None
    if as_json:
        from bench.results.records import load_results, to_records

        print(json.dumps(to_records(load_results(store, result.run_id)), indent=2))
    else:
        _run_table(result.rows, result.run_id, harness.energy_note if harness.meter is None else None)
        if result.skipped:
            out.print(f"{result.skipped} cells were already measured in run {result.run_id} and were skipped")
    if result.lost:
        measured = sum(1 for r in result.rows if r["status"] == "ok")
        err.print(
            f"device '{dev.name}' was lost: {result.lost}. {measured} of {result.planned} cells are stored; "
            f"`bench run --device {dev.name} --resume` measures the rest once it is back",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        raise typer.Exit(1)
    if result.failed:
        err.print(
            f"{len(result.failed)} of {len(result.rows)} cells failed (stored with their reason)",
            markup=False,
            highlight=False,
        )
        raise typer.Exit(1)


def _run_farm(address, devices, cells, protocol, overrides, store, as_json) -> None:
    from bench.devices.farm import run_on_farm
    from bench.results.store import Store

    results_store = Store(store)
    with _progress() as progress:
        tasks = {d: progress.add_task(d, total=len(cells)) for d in devices}

        def on_row(row: dict) -> None:
            progress.update(tasks[row["device"]], advance=1, description=f"{row['device']}: {row['model']}")

        result = run_on_farm(
            address, devices, cells, protocol, overrides, results_store, " ".join(sys.argv[1:]), on_row
        )
    if as_json:
        import pandas as pd

        from bench.results.records import COLUMNS, to_records

        rows = [row for run_id in result.run_ids.values() for row in results_store.measurement_rows(run_id)]
        print(json.dumps(to_records(pd.DataFrame(rows, columns=COLUMNS)), indent=2))
    else:
        table = Table(title=f"farm {address}: per device")
        for col in ("device", "run", "ok", "failed", "median of medians ms", "wall s", "worker"):
            table.add_column(col, justify="left" if col in ("device", "run", "worker") else "right")
        for d in devices:
            rows = [r for r in result.rows if r["device"] == d]
            ok = [r for r in rows if r["status"] == "ok"]
            medians = sorted(r["median_ms"] for r in ok)
            spans = [r["started_at"] for r in rows] + [r["ended_at"] for r in rows]
            table.add_row(
                d,
                result.run_ids[d],
                str(len(ok)),
                str(len(rows) - len(ok)),
                _fmt(medians[len(medians) // 2] if medians else None, 3),
                _fmt(max(spans) - min(spans) if spans else None, 1),
                ", ".join(sorted({str(r["settings"].get("worker", "-")) for r in ok})) or "-",
            )
        out.print(table)
        for r in result.failed:
            out.print(Text(f"failed: {r['device']} {r['model']} {r['format']} repeat {r['repeat']}: {r['error']}"))
    if result.failed:
        err.print(f"{len(result.failed)} of {len(result.rows)} cells failed (stored with their reason)", markup=False)
        raise typer.Exit(1)


def _run_table(rows: list[dict], run_id: str, energy_reason: str | None) -> None:
    table = Table(title=f"run {run_id}")
    for col in (
        "model",
        "format",
        "runtime",
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
        table.add_column(col, justify="left" if col in ("model", "format", "runtime") else "right")
    table.add_column("status", overflow="fold")
    for r in rows:
        ok = r["status"] == "ok"
        table.add_row(
            r["model"],
            f"{r['format']}/{r['precision']}",
            r["runtime"],
            str(r["threads"]),
            str(r.get("n_samples") or "-"),
            _fmt(r.get("median_ms")),
            _fmt(r.get("p90_ms")),
            f"{r['cv']:.1%}" if ok and r.get("cv") is not None else "-",
            f"{r['median_ci_low_ms']:.2f}-{r['median_ci_high_ms']:.2f}"
            if ok and r.get("median_ci_low_ms") is not None
            else "-",
            _fmt(r.get("init_ms"), 1),
            _fmt(r.get("peak_memory_mb"), 0),
            _fmt(r.get("gflops_per_s"), 1),
            _fmt(r.get("energy_mj_per_inference")),
            "ok" if ok else f"failed: {r['error']}",
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
        _run_table(frame.to_dict("records"), run or "all runs", None)
        return
    text = write(frame, fmt, Path(out_file) if out_file else None)
    if text is not None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")


def _fraction(text: str, option: str) -> float:
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise BenchError(f"{option} '{text}' is not a number like 5% or 0.05") from None
    if not 0 <= value < 1:
        raise BenchError(f"{option} '{text}' must be between 0 and 100%")
    return value


@app.command("compare")
def compare_cmd(
    baseline: Annotated[str, typer.Option(help="Run id, baseline name, or results JSON file.")],
    candidate: Annotated[str, typer.Option(help="Run id, baseline name, or results JSON file.")],
    threshold: Annotated[str, typer.Option(help="Smallest median change that counts, e.g. 5%.")] = "5%",
    alpha: Annotated[str, typer.Option(help="Significance level of the Mann-Whitney U test.")] = "0.01",
    markdown_file: Annotated[str | None, typer.Option("--markdown", help="Also write a markdown table here.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Cells missing on either side fail too.")] = False,
    store: StoreOption = None,
) -> None:
    """Compare two runs per cell; exit 1 on a significant latency regression."""
    from pathlib import Path

    from bench.results.compare import compare, load_ref, markdown

    limit, level = _fraction(threshold, "--threshold"), _fraction(alpha, "--alpha")
    if level == 0:
        raise BenchError("--alpha must be above 0")
    results = compare(load_ref(baseline, store), load_ref(candidate, store), limit, level)
    table = Table(title=f"{baseline} -> {candidate} (threshold {limit:.0%}, alpha {level})")
    for col in ("verdict", "cell", "baseline ms", "candidate ms", "change", "95% CI", "p"):
        table.add_column(col, justify="left" if col in ("verdict", "cell") else "right")
    style = {"regression": "bold red", "improvement": "green"}
    for r in results:
        table.add_row(
            f"[{style.get(r.verdict, 'default')}]{r.verdict}[/]",
            Text(r.name),
            _fmt(r.baseline_ms, 3),
            _fmt(r.candidate_ms, 3),
            "-" if r.change is None else f"{r.change:+.1%}",
            f"{r.change_ci[0]:+.1%} .. {r.change_ci[1]:+.1%}" if r.change_ci else "-",
            "-" if r.p_value is None else f"{r.p_value:.2g}",
        )
    out.print(table)
    if markdown_file:
        Path(markdown_file).write_text(markdown(results, limit, level))
    regressions = [r for r in results if r.verdict == "regression"]
    missing = [r for r in results if r.verdict.startswith("missing")]
    if not any(r.verdict in ("regression", "improvement", "unchanged", "not-tested") for r in results):
        raise BenchError("no cell is present in both runs: nothing to compare")
    for r in regressions:
        out.print(Text(f"REGRESSION: {r.name}: {r.change:+.1%} (p={r.p_value:.2g})"))
    if regressions or (strict and missing):
        raise typer.Exit(1)


baseline_app = typer.Typer(help="Named baselines as reviewable JSON files in results/baselines/.", no_args_is_help=True)
app.add_typer(baseline_app, name="baseline")


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
        finished = [r for r in Store(store).list_runs() if r["status"] == "finished"]
        if not finished:
            raise BenchError("no finished run in the store; run `bench run` first or pass --run")
        run = finished[-1]["run_id"]
    path = save_baseline(name, to_records(load_results(store, run)))
    out.print(f"saved baseline '{name}' from run {run}: {path}")


@baseline_app.command("list")
def baseline_list() -> None:
    """List saved baselines."""
    from bench.results.compare import list_baselines

    table = Table(title="baselines")
    for col in ("name", "measurements", "runs", "path"):
        table.add_column(col)
    for b in list_baselines():
        table.add_row(b["name"], str(b.get("measurements", b.get("error"))), ", ".join(b.get("runs", [])), b["path"])
    out.print(table)


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

    report = build_report(
        out_dir, store, _split(device) if device else None, _split(runtime) if runtime else None, accuracy
    )
    out.print(f"plots: {', '.join(p.name for p in report.plots if p.suffix == '.png') or 'none'}")
    out.print(f"markdown summary: {report.markdown}")
    out.print(f"report: {report.html.resolve()}")


farm_app = typer.Typer(help="A device farm on Dask distributed: a scheduler and one worker per lab host.",
                       no_args_is_help=True)  # fmt: skip
app.add_typer(farm_app, name="farm")


@farm_app.command("scheduler")
def farm_scheduler(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8786,
) -> None:
    """Run the farm's Dask scheduler (the same as `dask scheduler`) until stopped."""
    from bench.devices.farm import run_scheduler

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


@app.command("profile")
def profile_cmd(
    model: Annotated[str, typer.Argument(help="Zoo model (or file.py:factory) to profile.")],
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
    threads: Annotated[int, typer.Option(min=1, help="Threads.")] = 1,
    runs: Annotated[int, typer.Option(min=3, help="Timed runs per measurement.")] = 30,
    depth: Annotated[int, typer.Option(min=1, help="Block depth: 1 = stages/blocks, 2 = their parts, ...")] = 1,
    save: Annotated[bool, typer.Option(help="Keep it for `bench report` (results/profiles/).")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print only a JSON object on stdout.")] = False,
) -> None:
    """Per-block time, share, MACs and GFLOP/s from the runtime's own profiler."""
    from bench.devices.config import get_device
    from bench.profiling.profile import fallback_summary, profile_model, runtime_for, save_profile
    from bench.runtimes.base import get_runtime

    chosen = runtime_for(fmt if fmt or runtime else "onnx", runtime)
    dev = get_device(device, device_file)
    get_runtime(chosen).check_available()  # on remote devices too: the host exports and maps the model
    with err.status(f"profiling {model} on {chosen} ({dev.name})"):
        result = profile_model(model, chosen, dev, threads, runs, depth)
    if save:
        save_profile(result)
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
        return
    table = Table(title=f"{model} on {chosen} ({dev.name}, {threads} thread(s)): where the time goes")
    for col in ("block", "ops", "ms", "share", "MMACs", "GFLOP/s"):
        table.add_column(col, justify="left" if col == "block" else "right")
    for b in result.blocks:
        table.add_row(
            Text(b.block), "-" if b.ops is None else str(b.ops), f"{b.ms:.3f}", f"{b.share:.1%}",
            f"{b.macs / 1e6:.1f}", _fmt(b.gflops_per_s, 1),
        )  # fmt: skip
    out.print(table)
    out.print(
        Text(
            f"blocks sum to {result.blocks_ms:.2f} ms; the whole model measured alone: {result.total_ms:.2f} ms "
            f"({result.blocks_ms / result.total_ms:.1%}). {result.note}"
        )
    )
    for line in fallback_summary(result.fallback):
        out.print(Text(f"fell back: {line}"))


@app.command("ingest")
def ingest_cmd(
    file: Annotated[str, typer.Argument(help="The log or CSV to bring in.")],
    tool: Annotated[str, typer.Option(help="benchmark_model, onnxruntime_perf_test or monsoon.")],
    device: Annotated[str, typer.Option(help="Device name to store it under (e.g. pixel6).")],
    model: Annotated[str, typer.Option("--model", "-m", help="Model name to store it under.")],
    fmt: Annotated[str | None, typer.Option("--format", "-f", help="Model format (default: the tool's).")] = None,
    runtime: Annotated[str | None, typer.Option(help="Runtime (default: the format's).")] = None,
    precision: Annotated[str, typer.Option(help="fp32, fp16 or int8.")] = "fp32",
    threads: Annotated[int, typer.Option(min=1, help="Threads the run used.")] = 1,
    inferences: Annotated[
        int | None, typer.Option(min=1, help="Monsoon: inferences during the trace (for energy per inference).")
    ] = None,
    idle_w: Annotated[float | None, typer.Option(min=0, help="Monsoon: idle power to subtract, in W.")] = None,
    store: StoreOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the stored row as JSON on stdout.")] = False,
) -> None:
    """Store a result measured elsewhere (a benchmark_model log, a perf_test log, a Monsoon CSV)."""
    from bench.results.ingest import ingest
    from bench.results.store import Store

    row = ingest(Store(store), file, tool, device, model, fmt, runtime, precision, threads, inferences, idle_w)
    if as_json:
        print(json.dumps(row, indent=2, default=str))
        return
    missing = row["source"].get("missing") or []
    out.print(
        Text(
            f"stored measurement {row['id']} (run {row['run_id']}): {model} {row['format']}/{precision} on {device}, "
            f"median {_fmt(row.get('median_ms'))} ms, energy {_fmt(row.get('energy_mj_per_inference'))} mJ/inf"
        )
    )
    if missing:
        out.print(Text(f"not in the file: {', '.join(missing)}"))


@app.command("devices")
def devices_cmd(
    probe: Annotated[str | None, typer.Option(help="Check a device: reachability, OS, CPU, runtimes, meters.")] = None,
    device_file: Annotated[str | None, typer.Option(help="Probe the device of this TOML profile.")] = None,
) -> None:
    """List device profiles, or probe one."""
    from bench.devices.config import get_device, list_devices, user_dir

    if probe is None and device_file is None:
        table = Table(title=f"device profiles (yours: {user_dir()})")
        for col in ("name", "transport", "address", "runtimes", "threads", "energy", "profile"):
            table.add_column(col, overflow="fold")
        for d in list_devices():
            table.add_row(
                d.name,
                d.transport,
                d.address or "-",
                ", ".join(d.runtimes),
                ",".join(map(str, d.threads)),
                d.energy_meter,
                d.path,
            )
        out.print(table)
        return
    dev = get_device(probe, device_file)
    from bench.devices.probe import probe_device

    table = Table(title=f"probe {dev.name}")
    table.add_column("check")
    table.add_column("result", overflow="fold")
    for check, result in probe_device(dev):
        table.add_row(check, result)
    out.print(table)


def main() -> None:
    """Console-script entry point: map user errors to one line and exit code 2."""
    import warnings

    # torch.jit.script's deprecation notice fires inside fvcore / timm imports, not in our code.
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated", category=FutureWarning)
    try:
        code = app(standalone_mode=False)  # click returns the exit code of typer.Exit here
        sys.exit(code if isinstance(code, int) else 0)
    except BenchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 2))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except Exception as exc:
        # The model zoo's own user errors. Checked only when the zoo was imported (it brings torch,
        # which commands such as `bench devices` or `bench results` never need).
        zoo = sys.modules.get("models")
        if zoo is not None and isinstance(exc, (zoo.CheckpointError, zoo.UnknownModelError)):
            print(f"error: {exc}", file=sys.stderr)
            sys.exit(2)
        # Usage errors (bad option values, unknown options) come from Typer's bundled click;
        # they carry format_message() and exit_code. Shown as one line, like our own errors.
        if type(exc).__name__ == "NoArgsIsHelpError":  # plain `bench`: the help, not an error
            print(exc.format_message())
            sys.exit(0)
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            print(f"error: {exc.format_message()}", file=sys.stderr)
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
