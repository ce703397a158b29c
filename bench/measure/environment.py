"""The environment fingerprint stored with every run: what was measured on what."""

from __future__ import annotations

import os
import platform
import socket
import subprocess
from pathlib import Path

# What else describes a run besides the runtimes' own distributions (each runtime plug-in names those).
_PACKAGES = ("litert-torch", "numpy", "timm")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith(("model name", "hardware", "cpu model")):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit(cwd: str | Path = ".") -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=cwd, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if out.returncode != 0:
        return None
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd, capture_output=True, text=True, timeout=5
    ).stdout.strip()
    return out.stdout.strip() + ("+dirty" if dirty else "")


def fingerprint() -> dict:
    """This machine and the project: hostname, CPU model and cores, OS, machine, Python, the
    versions of every registered runtime's distributions and of the converter / array packages
    (missing ones left out), and the git commit (``+dirty`` with local changes; None outside git)."""
    from bench.imports import installed_versions
    from bench.runtimes.base import RUNTIMES

    versions = {}
    for runtime in RUNTIMES.values():
        versions.update(runtime.versions())
    versions.update(installed_versions(_PACKAGES))
    return {
        "hostname": socket.gethostname(),
        "cpu": cpu_model(),
        "cores": os.cpu_count(),
        "os": platform.platform(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "versions": versions,
        "git_commit": git_commit(),
    }
