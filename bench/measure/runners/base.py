"""What every runner shares: the workload it executes, what it returns, and the registry.

A runner executes one cell's model file on one device and returns an ``Execution``. Which runner
serves a device is the device's transport's choice (``Transport.runner``): the Python agent where
the device has Python, the runtime's own benchmark tool on phones.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from bench.accelerators.base import Serving
from bench.devices.energy.base import EnergyMeter, EnergyResult
from bench.devices.transports.base import Transport
from bench.errors import BenchError
from bench.measure.protocol import Protocol

if TYPE_CHECKING:
    from export.artifact import Artifact
    from export.reference import Inputs


@dataclass(frozen=True)
class Workload:
    """What a runner executes for one cell: a model file on this machine (for eager PyTorch the
    zoo model's name instead), its content hash (None for a zoo name) and the model's inputs
    (``export.reference.Inputs``: shape and dtype of each, in order)."""

    path: str
    sha256: str | None
    inputs: Inputs

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The first input's shape (what a one-input model takes)."""
        return self.inputs.tensors[0].shape

    @classmethod
    def of_artifact(cls, artifact: Artifact, inputs: Inputs) -> Workload:
        """The workload of an exported ``export.artifact.Artifact`` (which must have a path)."""
        return cls(str(artifact.path), artifact.sha256, inputs)


@dataclass
class Execution:
    """What one cell measured (or ``error``): latency samples in ms (None from a native tool,
    which reports only its summary ``stats``), init / first-inference times in ms, peak memory
    in MiB, runtime versions, the CPUs used, energy, where the numbers came from (``source``),
    the runtime options as the session applied them (``options``; None: as asked) and, for a
    sustained run, ``bench.measure.sustained.assess()`` of its series."""

    error: str | None = None
    samples: list[float] | None = None
    stats: dict = field(default_factory=dict)
    init_ms: float | None = None
    first_ms: float | None = None
    peak_memory_mb: float | None = None
    versions: dict | None = None
    cpus: list[int] | None = None
    energy: EnergyResult | None = None
    source: dict = field(default_factory=dict)
    sustained: dict | None = None
    options: dict | None = None
    contention: dict | None = None  # what else used the measured CPUs in the timed window (agent.contention)


def cpus_of_mask(mask: str | None) -> list[int] | None:
    """The CPU numbers set in a hex affinity mask (``"c0"`` -> ``[6, 7]``); None without a mask."""
    if not mask:
        return None
    value = int(mask, 16)
    return [cpu for cpu in range(value.bit_length()) if value >> cpu & 1]


class CellRunner(ABC):
    """Executes cells on one device through its transport, with the suite's protocol and the
    device's energy meter (``meter`` None: no energy; ``energy_spec``: what the meter reads)."""

    kind: str
    """The registry key, named by ``Transport.runner``."""

    def __init__(
        self,
        device,
        transport: Transport,
        protocol: Protocol,
        meter: EnergyMeter | None,
        energy_spec: dict | None,
    ):
        self.device, self.transport, self.protocol = device, transport, protocol
        self.meter, self.energy_spec = meter, energy_spec

    uses_native_tool = False
    """Whether cells run through the runtime's native benchmark tool (else through the agent)."""

    @abstractmethod
    def execute(
        self, cell, workload: Workload, options: dict, cpus: list[int] | None, serving: Serving | None = None
    ) -> Execution:
        """Measure one cell with ``options`` (the runtime's, accelerator included); ``serving``: how the
        cell's accelerator runs (its native tool flags); a failure of the cell is an Execution with
        ``error``; a lost device raises."""

    def refuses(self, cell, serving: Serving | None) -> str | None:
        """Why this runner cannot run the cell's accelerator (``serving``), or None."""
        if serving is None:
            return None
        runs = serving.tool if self.uses_native_tool else serving.agent
        if runs:
            return None
        how = f"{cell.runtime}'s native tool" if self.uses_native_tool else "the measurement agent"
        return f"accelerator {cell.accelerator} on {cell.runtime} cannot run through {how}: {serving.why_not}"

    @classmethod
    @abstractmethod
    def probe(cls, device, transport: Transport) -> tuple[list[tuple[str, str]], bool]:
        """What ``bench devices --probe`` shows about the runtimes this runner can use on the device:
        ``(check, result)`` rows, and False when the runner cannot work there at all."""


RUNNERS: dict[str, type[CellRunner]] = {}


def register_runner(cls: type[CellRunner]) -> type[CellRunner]:
    """Class decorator: serve devices whose transport names ``cls.kind`` as its runner."""
    RUNNERS[cls.kind] = cls
    return cls


def runner_class(kind: str) -> type[CellRunner]:
    """The runner registered as ``kind``; raises BenchError for an unknown one."""
    from bench.measure.runners import agent_runner, native_runner  # noqa: F401  (registration)

    if kind not in RUNNERS:
        raise BenchError(f"no runner '{kind}'; known: {', '.join(RUNNERS)}")
    return RUNNERS[kind]


def runner_for(device, transport: Transport, protocol: Protocol, meter, energy_spec) -> CellRunner:
    """The runner that serves ``transport``'s kind of device, ready to execute cells."""
    return runner_class(transport.runner)(device, transport, protocol, meter, energy_spec)
