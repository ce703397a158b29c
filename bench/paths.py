"""Where the toolkit keeps its data: ``results/`` under the working directory by default."""

from __future__ import annotations

import os
from pathlib import Path


def results_dir() -> Path:
    """The data folder: ``$BENCH_RESULTS`` or ``./results``."""
    return Path(os.environ.get("BENCH_RESULTS", "results"))


def cache_dir() -> Path:
    path = results_dir() / "cache"
    path.mkdir(parents=True, exist_ok=True)
    return path


def output_file(path: str | Path, option: str) -> Path:
    """``path`` as a file the user asked to write (``--out``, ``--markdown``): its folder must exist, it
    must not be a folder itself, and it must be writable (tried by opening it to append, so a command
    learns before it measures for minutes, even as root on a read-only or special file system).
    Raises BenchError (``option`` named) otherwise; nothing is made or changed."""
    from bench.errors import BenchError

    file = Path(path)
    if file.is_dir():
        raise BenchError(f"{option} {path} is a folder; give a file path")
    if not file.parent.is_dir():
        raise BenchError(f"{option} {path}: the folder {file.parent} does not exist")
    existed = file.exists()
    try:
        with open(file, "a"):
            pass
    except OSError as exc:
        raise BenchError(f"cannot write {option} {path}: {exc.strerror or exc}") from None
    if not existed:
        file.unlink(missing_ok=True)
    return file


def output_folder(path: str | Path, option: str) -> Path:
    """``path`` as a folder the user asked to write into, made with its parents when missing. Raises
    BenchError (``option`` named) when it is a file or cannot be made."""
    from bench.errors import BenchError

    folder = Path(path)
    if folder.exists() and not folder.is_dir():
        raise BenchError(f"{option} {path} is a file, not a folder")
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise BenchError(f"cannot make {option} {path}: {exc.strerror or exc}") from None
    return folder
