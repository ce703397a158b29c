"""Runtime plug-in: PyTorch eager, the host-side reference (format ``pytorch``: the zoo model itself).

Everything the toolkit knows about running a zoo model in eager PyTorch is here: how the agent
builds it (:func:`open_session`) and the profiler hook (forward hooks around each block). It has no
native tool on phones, so its profiles run on this machine only.

Self-contained on purpose: this file imports only the standard library at the top, because the
measurement agent loads it by path (the agent puts the project on ``sys.path`` for the zoo).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

NAME = "torch"
FORMAT = "pytorch"
MODULES = ("torch",)  # any one importable = available
EXTRA = "torch"  # pip install 'edge-bench[torch]'
DISTRIBUTIONS = ("torch",)  # versions reported in the environment fingerprint
NEEDS_OS = None
NATIVE_TOOL = None
OPTIONS: dict[str, Any] = {}
CHOICES: dict[str, Any] = {}


def open_session(artifact: str, threads: int, options: dict) -> tuple[Callable, dict[str, str]]:
    """``(run, versions)`` for the zoo model named ``artifact`` (random weights, seed 0):
    ``run(*arrays)`` runs numpy arrays (one per input) under ``torch.inference_mode`` and returns
    the output tensor. Raises BenchError (from the zoo) for an unknown model name."""
    import torch

    torch.set_num_threads(threads)
    import models  # the zoo: PyTorch eager is a host-side reference

    torch.manual_seed(0)
    model = models.create_model(artifact)

    def run(*xs):
        with torch.inference_mode():
            return model(*(torch.from_numpy(x) for x in xs))

    return run, {"torch": torch.__version__}


def profile(spec, model, tree, threads: int, runs: int, precision: str, device=None):
    """``bench profile``: forward pre/post hooks time each block of ``model`` in this process
    (:class:`bench.profiling.runtimes.RuntimeProfile`); ``precision`` and ``device`` are not used
    (``profile_model`` refuses remote devices for runtimes without a native tool)."""
    from bench.profiling import runtimes

    return runtimes.profile_torch(model, spec.input_shape, tree, threads, runs)
