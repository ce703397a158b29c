"""``bench ab``: measure two versions of the same models in one job, interleaved, and judge the pairs.

Two forms: ``--base REV [--head REV]`` measures the models of ``-m`` as two git revisions of the
repository of the working folder build them (``--head`` defaults to the working tree as it is,
local changes included); ``--a REF --b REF`` measures two models given directly (model files,
``file.py:factory`` references, zoo names). The rounds, the verdict and what is stored are
:mod:`bench.measure.ab`'s; the worktrees are :mod:`bench.measure.revisions`'.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated

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
    RequireFullOption,
    StoreOption,
    WarmupOption,
    WeightsOption,
    accelerator_specs,
    bounded,
    delegation_settings,
    fraction,
    ints,
    model_references,
    percent,
    protocol_params,
    refuse_typed_conflicts,
    split,
)
from bench.errors import BenchError
from bench.measure.protocol import Protocol


@app.command("ab")
def ab_cmd(
    ctx: typer.Context,
    model: Annotated[
        list[str] | None,
        typer.Option(
            "--model", "-m", help="With --base: zoo name, path/to/file.py:factory, or a model file; repeatable."
        ),
    ] = None,
    base: Annotated[str | None, typer.Option(help="Git revision measured as A (e.g. origin/main).")] = None,
    head: Annotated[
        str | None, typer.Option(help="Git revision measured as B (default: the working tree as it is).")
    ] = None,
    a: Annotated[str | None, typer.Option("--a", help="Model A given directly: a model file or a reference.")] = None,
    b: Annotated[str | None, typer.Option("--b", help="Model B given directly: a model file or a reference.")] = None,
    device: Annotated[str, typer.Option(help="Device profile to measure on (see `bench devices`).")] = "host",
    device_file: Annotated[str | None, typer.Option(help="Measure on the device of this TOML profile.")] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="Comma-separated: onnx,tflite,pytorch (a model file: its own).")
    ] = "onnx",
    runtime: Annotated[str | None, typer.Option(help="Comma-separated runtimes (default: one per format).")] = None,
    precision: Annotated[str, typer.Option(help="Comma-separated: fp32,fp16,int8.")] = "fp32",
    threads: Annotated[
        str | None, typer.Option(help="Comma-separated thread counts (default: the device profile's).")
    ] = None,
    accelerator: AcceleratorOption = None,
    delegate_option: DelegateOption = None,
    require_full_delegation: RequireFullOption = False,
    input_shape: InputShapeOption = None,
    weights: WeightsOption = None,
    factory_args: FactoryArgsOption = None,
    rounds: Annotated[int, typer.Option(callback=bounded, help="Interleaved rounds; each measures A and B once.")] = 10,
    seed: Annotated[
        int | None, typer.Option(callback=bounded, help="Seed of the per-round order (default: drawn, and shown).")
    ] = None,
    threshold: Annotated[str, typer.Option(help="Smallest median change that counts, e.g. 5%.")] = "5%",
    alpha: Annotated[str, typer.Option(help="Significance level of the Wilcoxon signed-rank test.")] = "0.01",
    warmup: WarmupOption = Protocol.warmup,
    min_runs: MinRunsOption = Protocol.min_runs,
    min_time: MinTimeOption = Protocol.min_time,
    max_runs: MaxRunsOption = Protocol.max_runs,
    max_time: MaxTimeOption = Protocol.max_time,
    markdown_file: Annotated[str | None, typer.Option("--markdown", help="Also write a markdown summary here.")] = None,
    store: StoreOption = None,
    resume: Annotated[
        bool,
        typer.Option(
            "--resume",
            help="Finish the latest unfinished bench ab on this device (repeat its command with --resume): "
            "the same versions and models, measured with its own rounds, seed, threshold, alpha and protocol.",
        ),
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the verdicts and rounds as JSON on stdout.")] = False,
) -> None:
    """Measure two versions of models interleaved on one device; exit 1 on a paired regression."""
    from bench.measure.revisions import commit_of, repository_root

    direct = a is not None or b is not None
    if direct and (a is None or b is None):
        raise BenchError("give both --a and --b (two models), or --base REV [--head REV] with -m")
    if direct and (base or head or model):
        raise BenchError("--a/--b name the two models directly: no --base, --head or -m with them")
    if not direct and base is None:
        raise BenchError("name what to compare: --base REV [--head REV] -m MODEL, or --a MODEL --b MODEL")
    if not direct and not model:
        raise BenchError("--base compares the models of -m MODEL (repeatable) at two revisions: name one")
    if not direct:  # a repository and revisions that exist, before anything loads a model
        checked = repository_root()
        commit_of(checked, base, "--base")
        if head is not None:
            commit_of(checked, head, "--head")
    from bench.cli.run import check_accelerators, check_files
    from bench.devices.config import get_device
    from bench.measure.ab import check_resumable, measure_ab, pair_cells
    from bench.measure.harness import Harness, plan_cells
    from bench.measure.revisions import Version, revisions
    from bench.paths import output_file
    from bench.results.markdown import ab_summary
    from bench.results.store import Store
    from bench.runtimes.base import DEFAULT_RUNTIME, get_runtime
    from export.base import check_combination
    from export.reference import is_model_file, is_user_reference

    limit, level = fraction(threshold, "--threshold"), fraction(alpha, "--alpha")
    if level == 0:
        raise BenchError("--alpha must be above 0")
    protocol = Protocol(warmup, min_runs, min_time, max_runs, max_time)
    protocol.validate()
    formats, precisions = split(fmt), split(precision)
    runtimes = split(runtime) if runtime else None
    for f in formats:
        if f not in DEFAULT_RUNTIME:
            raise BenchError(f"unknown format '{f}'; choose from: {', '.join(DEFAULT_RUNTIME)}")
        for p in precisions if f != "pytorch" else []:
            check_combination(f, p)
    markdown_path = output_file(markdown_file, "--markdown") if markdown_file else None
    if direct:
        refs_a = model_references([a], "default", input_shape, weights, factory_args, files=True)
        refs_b = model_references([b], "default", input_shape, weights, factory_args, files=True)
        for option, refs in (("--a", refs_a), ("--b", refs_b)):
            if len(refs) != 1:
                raise BenchError(f"{option} names {len(refs)} models; give one model each")
        refs = refs_a
        files = [r for r in (refs_a[0], refs_b[0]) if is_model_file(r) and Path(r).exists()]
        if files:  # a file runs as what it is: a --format or --precision it is not is refused, as in bench run

            def typed(name: str) -> bool:
                return getattr(ctx.get_parameter_source(name), "name", None) == "COMMANDLINE"

            check_files(files, formats if typed("fmt") else None, precisions if typed("precision") else None,
                        len(files) == 2)  # fmt: skip
    else:
        refs = model_references(model, "default", input_shape, weights, factory_args, files=True)
    if "pytorch" in formats and any(is_user_reference(r) for r in refs):
        raise BenchError("format pytorch (eager) measures zoo models; measure file.py:factory models as onnx or tflite")
    dev = get_device(device, device_file)
    thread_counts = ints(threads, "--threads") if threads else list(dev.threads)
    chosen_seed = seed if seed is not None else secrets.randbelow(2**31)

    specs = accelerator_specs(accelerator)

    def plan(ref: str):
        return plan_cells([ref], formats, precisions, runtimes, thread_counts, 1, device=dev, accelerators=specs)

    with contextlib.ExitStack() as stack:
        if direct:
            version_a, version_b = Version("a", a), Version("b", b)
            sides = [(refs_a[0], refs_b[0])]
            labels = [_shown(refs_a[0]) if refs_a[0] == refs_b[0] else f"{_shown(refs_a[0])} vs {_shown(refs_b[0])}"]
        else:
            repo, version_a, version_b = stack.enter_context(revisions(base, head))
            sides = [(_in(r, repo, version_a.tree), _in(r, repo, version_b.tree)) for r in refs]
            labels = [_shown(r) for r in refs]
        pairs = pair_cells(labels, [plan(ra) for ra, _ in sides], [plan(rb) for _, rb in sides])
        for name in sorted({p.a.runtime for p in pairs} | {p.b.runtime for p in pairs}):
            if dev.is_local:  # remote runtimes live on the device: checked there, per cell
                get_runtime(name).check_available()
        cells = [c for p in pairs for c in (p.a, p.b)]
        delegation = delegation_settings(
            specs, delegate_option, require_full_delegation, sorted({c.runtime for c in cells})
        )
        check_accelerators(cells, {}, delegation, dev.is_local)
        for ra, rb in sides:
            for ref in (ra, rb):
                if direct and is_model_file(ref) and not Path(ref).exists():
                    raise BenchError(f"model file not found: {ref}")
        previous = None
        if resume:  # the recorded settings win: the rounds already stored were measured with them
            opened = Store(store, create=False)
            previous = check_resumable(opened.resumable_run(dev.name, "ab"), dev.name, version_a, version_b, pairs,
                                       asdict(delegation))  # fmt: skip
            recorded = previous["settings"]
            # fractions compared and shown as typed: "--threshold 3% conflicts with the recorded 5%"
            given = {"rounds": rounds, "seed": seed, "threshold": percent(limit), "alpha": percent(level),
                     **protocol_params(asdict(protocol))}  # fmt: skip
            kept = {"rounds": recorded["ab"]["rounds"], "seed": recorded["ab"]["seed"],
                    "threshold": percent(recorded["ab"]["threshold"]), "alpha": percent(recorded["ab"]["alpha"]),
                    **protocol_params(recorded["protocol"])}  # fmt: skip
            refuse_typed_conflicts(ctx, given, kept, previous["run_id"])
            protocol = Protocol(**recorded["protocol"])
            rounds, chosen_seed = recorded["ab"]["rounds"], recorded["ab"]["seed"]
            limit, level = recorded["ab"]["threshold"], recorded["ab"]["alpha"]
            render.note(f"resuming bench ab run {previous['run_id']}: {rounds} rounds, seed {chosen_seed}")
        harness = Harness(dev, None, protocol, delegation=delegation)
        harness.store = opened if resume else Store(store)
        log = sys.stderr if as_json or not sys.stdout.isatty() else None
        with render.progress() as progress:
            task = progress.add_task("exporting", total=rounds * len(pairs) * 2)

            def on_measurement(pair, side, index, measured) -> None:
                progress.update(task, description=f"round {index + 1}/{rounds} {side.upper()}", advance=1)
                if log is not None:
                    value = f"{measured.median_ms:.3f} ms" if measured.status == "ok" else f"failed: {measured.error}"
                    print(f"round {index + 1}/{rounds} {side.upper()} {pair.label}: {value}", file=log, flush=True)

            try:
                result = measure_ab(harness, pairs, version_a, version_b, rounds, chosen_seed, limit, level,
                                    " ".join(sys.argv[1:]), on_measurement, resume=previous)  # fmt: skip
            except KeyboardInterrupt:
                render.note("interrupted: the rounds measured so far are stored; no verdict yet "
                            "(the same command with --resume measures the rest)")  # fmt: skip
                raise typer.Exit(130) from None
    if as_json:
        print(json.dumps(result.to_dict(), indent=2))
        for c in result.cells:
            for r in c.dropped:
                render.note(f"dropped round {r.index + 1}/{rounds} of {c.pair.label}: {r.dropped}")
            if c.contended:
                render.note(f"contended: {c.pair.label}: {render.contended_rounds(c, rounds)}")
    else:
        render.ab(result)
    never = [c for c in result.cells if not c.complete]  # every round failed (or an export): nothing was compared
    for c in never:
        why = (c.rounds[0].dropped if c.rounds else None) or (c.verdict.reason if c.verdict else "no round ran")
        render.note(f"{c.pair.label}: no round completed ({why}); nothing was compared")
    if as_json:  # the table says it on stdout
        for c in result.untested_regressions:
            render.note(f"REGRESSION (untested): {c.pair.label}: {render.untested_text(c.verdict, result.threshold)}")
    if markdown_path:  # after the verdict is out: a summary that cannot be written loses nothing measured
        try:
            markdown_path.write_text(ab_summary(result))
        except OSError as exc:
            raise BenchError(f"cannot write --markdown {markdown_file}: {exc.strerror or exc}") from None
    if result.regressions or result.untested_regressions or never:
        raise typer.Exit(1)


def _in(ref: str, repo: Path, tree: Path | None) -> str:
    """``ref`` with its files taken from ``tree`` (the repository's own working tree: unchanged)."""
    from bench.measure.revisions import in_tree

    return ref if tree is None or tree == repo else in_tree(ref, repo, tree)


def _shown(ref: str) -> str:
    """A model reference as people read it: a user's file relative to the working folder."""
    from dataclasses import replace

    from export.reference import is_model_file, is_user_reference, parse_reference

    if is_model_file(ref) or not is_user_reference(ref):
        return ref
    parsed = parse_reference(ref)
    return replace(parsed, target=parsed.shown or parsed.target).canonical
