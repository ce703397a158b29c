"""The root of the ``bench`` command line: the Typer app, ``--version`` and the entry point.

Commands live in one module per group (``models``, ``export``, ``run``, ``ab``, ``results``, ``profile``,
``ingest``, ``devices``); ``bench.cli`` imports them so that they register on :data:`app`.
Errors a user can fix are one line on stderr with exit code 2; ``--json`` prints only JSON
on stdout (progress and notes go to stderr).
"""

from __future__ import annotations

import contextlib
import functools
import sys
from typing import Annotated, Any

import typer

import bench
from bench.errors import BenchError, one_line

app = typer.Typer(
    name="bench",
    help="On-device efficiency benchmarking for lightweight vision models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


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


@functools.cache
def _command() -> Any:
    """The click command Typer builds from :data:`app` (built once per process: it inspects every
    command's signature, which costs more than most commands' own work)."""
    return typer.main.get_command(app)


@contextlib.contextmanager
def terminate_as_interrupt():
    """SIGTERM and SIGHUP (a closed terminal, ``kill``, a cancelled CI job) end any command as Ctrl-C
    does: ``KeyboardInterrupt`` unwinds it, so what finished stays stored, a local run is marked
    ``interrupted`` and its lease released at once (not left ``running`` until the lease goes stale;
    a ``--farm`` client's runs stay resumable), and the exit code is 130. A signal the process was
    started ignoring (``nohup``) stays ignored; the farm's own processes put the default handlers
    back (:func:`bench.devices.farm.run_worker`). Only in the main thread, where signals arrive; the
    handlers that were there before are put back afterwards."""
    import signal
    import threading

    from bench.interrupts import handle_termination, restore

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum, _frame):
        raise KeyboardInterrupt(signal.Signals(signum).name)

    previous = handle_termination(interrupt)  # nohup's ignored SIGHUP stays ignored
    try:
        yield
    finally:
        restore(previous)


def main() -> None:
    """Console-script entry point: map user errors to one line and exit code 2.

    Exits with the command's own code (0, or 1 for a regression or failed cells), 2 for a
    :class:`~bench.errors.BenchError`, a zoo error, a usage error or a path the OS refuses, and 130
    when interrupted. Every error is one line (:func:`~bench.errors.one_line`).
    """
    import warnings

    # torch.jit.script's deprecation notice fires inside fvcore / timm imports, not in our code.
    warnings.filterwarnings("ignore", message=r".*torch\.jit\.script.*deprecated", category=FutureWarning)
    try:
        with terminate_as_interrupt():
            code = _command()(standalone_mode=False)  # click returns the exit code of typer.Exit here
        sys.exit(code if isinstance(code, int) else 0)
    except BenchError as exc:
        print(one_line(f"error: {exc}"), file=sys.stderr)
        sys.exit(getattr(exc, "exit_code", 2))
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        print("aborted", file=sys.stderr)
        sys.exit(130)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    except OSError as exc:  # a path the user gave that the OS refuses: too long, a folder, no permission...
        where = f"{exc.filename}: " if exc.filename else ""
        print(one_line(f"error: cannot use {where}{exc.strerror or exc}"), file=sys.stderr)
        sys.exit(2)
    except Exception as exc:
        # A store that refuses a write after it opened (a read-only file or folder, a full disk).
        if type(exc).__module__.startswith("sqlalchemy") and "readonly" in str(exc).lower().replace("-", ""):
            print(one_line("error: the store is read-only: a writing command needs a store it can write (--store)"),
                  file=sys.stderr)  # fmt: skip
            sys.exit(2)
        # The model zoo's own user errors. Checked only where their modules were imported (weights
        # bring torch, which commands such as `bench devices` or `bench results` never need).
        zoo_errors = tuple(
            getattr(sys.modules[module], name)
            for module, name in (("models._registry", "UnknownModelError"), ("models._weights", "CheckpointError"))
            if module in sys.modules
        )
        if zoo_errors and isinstance(exc, zoo_errors):
            print(one_line(f"error: {exc}"), file=sys.stderr)
            sys.exit(2)
        # Usage errors (bad option values, unknown options) come from Typer's bundled click;
        # they carry format_message() and exit_code. Shown as one line, like our own errors.
        if type(exc).__name__ == "NoArgsIsHelpError":  # plain `bench`: the help, not an error
            print(exc.format_message())
            sys.exit(0)
        if isinstance(exc, UnicodeEncodeError) and "surrogates" in str(exc):  # argv bytes that were not UTF-8
            print("error: a value holds bytes that are not UTF-8 text; give names and paths as UTF-8", file=sys.stderr)
            sys.exit(2)
        if isinstance(exc, ValueError) and "null byte" in str(exc):  # os and sqlite refuse NUL in paths, names
            print("error: a value holds a NUL character (\\x00), which no path or name may hold", file=sys.stderr)
            sys.exit(2)
        if hasattr(exc, "format_message") and hasattr(exc, "exit_code"):
            print(one_line(f"error: {exc.format_message()}"), file=sys.stderr)
            sys.exit(exc.exit_code)
        raise
