"""Whether an optional backend is installed, without importing it (imports cost seconds)."""

from __future__ import annotations

import importlib.util


def importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a broken finder
        return False


def installed_versions(distributions: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``{distribution: version}`` of those installed in this environment (missing ones left out)."""
    import importlib.metadata

    found = {}
    for name in distributions:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found
