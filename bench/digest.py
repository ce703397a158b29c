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


def path_sha256(path: Path) -> tuple[str, int]:
    """sha256 and size in bytes of a file, or of a bundle directory (.mlpackage) file by file (each
    file's path relative to the bundle and its sha256, in sorted order)."""
    if path.is_file():
        return file_sha256(path), path.stat().st_size
    digest, size = hashlib.sha256(), 0
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(item.relative_to(path)).encode())
        digest.update(file_sha256(item).encode())
        size += item.stat().st_size
    return digest.hexdigest(), size
