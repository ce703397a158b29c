"""Whether an optional backend is installed, without importing it (imports cost seconds)."""

from __future__ import annotations

import importlib.util


def importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a broken finder
        return False
