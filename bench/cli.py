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

import bench
from bench.errors import BenchError

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
    from bench.suite import suite_models
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


def main() -> None:
    """Console-script entry point: map user errors to one line and exit code 2."""
    import warnings

    # torch.jit.script's deprecation notice fires inside fvcore / timm imports, not in our code.
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated", category=FutureWarning)
    from models import CheckpointError, UnknownModelError

    try:
        app(standalone_mode=False)
    except (BenchError, CheckpointError, UnknownModelError) as exc:
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
