"""Content hashes of files (artifacts, tools, logs): the key of every cache and copy-once."""

from __future__ import annotations

import hashlib
from pathlib import Path


def file_sha256(path: Path | str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def files_sha256(paths, unreadable_ok: bool = False, material: str = "") -> str:
    """One sha256 over ``material`` and each file's ``name:sha256`` line, in the given order: the
    key of a set of input files (an edited file is a new set, even at the same size). A file that
    cannot be read raises OSError, or with ``unreadable_ok`` counts as ``name:unreadable``."""
    digest = hashlib.sha256(material.encode())
    for path in paths:
        try:
            line = f"{Path(path).name}:{file_sha256(path)}\n"
        except OSError:
            if not unreadable_ok:
                raise
            line = f"{Path(path).name}:unreadable\n"
        digest.update(line.encode())
    return digest.hexdigest()
