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
