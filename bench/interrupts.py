"""How ``bench`` processes end on SIGTERM and SIGHUP (``kill``, a closed terminal, a CI job cancelled)."""

from __future__ import annotations

import signal
from typing import Any

TERMINATION_SIGNALS = ("SIGTERM", "SIGHUP")


def handle_termination(handler: Any) -> dict[str, Any]:
    """Install ``handler`` (a function, or ``signal.SIG_DFL``) for SIGTERM and SIGHUP, except where a
    signal is ignored on purpose (``nohup`` ignores SIGHUP): it stays ignored. Returns the handlers
    replaced, by signal name, to put back. Main thread only (``signal.signal`` raises ValueError
    elsewhere)."""
    wanted = [
        name
        for name in TERMINATION_SIGNALS
        if hasattr(signal, name) and signal.getsignal(getattr(signal, name)) != signal.SIG_IGN
    ]
    return {name: signal.signal(getattr(signal, name), handler) for name in wanted}


def restore(previous: dict[str, Any]) -> None:
    """Put back what :func:`handle_termination` replaced."""
    for name, handler in previous.items():
        signal.signal(getattr(signal, name), handler)
