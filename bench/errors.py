"""User-facing errors: each becomes one line on stderr and exit code 2 in the CLI."""

from __future__ import annotations


class BenchError(Exception):
    """Bad input or an unusable environment; the message is shown to the user as it is."""

    exit_code = 2


class MissingBackendError(BenchError):
    """An optional backend is not installed; the message names the pip extra to install."""

    def __init__(self, what: str, extra: str, package: str):
        super().__init__(f"{what} needs {package}: pip install 'edge-bench[{extra}]'")
