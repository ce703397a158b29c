"""Runners: execute one cell's model on a device and return what was measured.

- ``agent_runner``: the self-contained Python agent (this machine, boards over ssh, Macs);
- ``native_runner``: the runtime's own benchmark tool on phones (``native_tools`` builds its
  command line, ``device_sampler`` reads energy through the device's shell, ``tool_results``
  turns the tool's summary into the store's statistics);
- ``base``: the ``Workload`` a runner executes, the ``Execution`` it returns, the registry.

Which runner serves a device is its transport's ``runner``; ``runner_for`` picks it.
"""

from bench.measure.runners.base import (
    RUNNERS,
    CellRunner,
    Execution,
    Workload,
    cpus_of_mask,
    register_runner,
    runner_class,
    runner_for,
)

__all__ = [
    "RUNNERS",
    "CellRunner",
    "Execution",
    "Workload",
    "cpus_of_mask",
    "register_runner",
    "runner_class",
    "runner_for",
]
