"""Devices a suite can run on. The host runs the agent locally; remote profiles come later."""

from __future__ import annotations

from dataclasses import dataclass, field

from bench.errors import BenchError


@dataclass(frozen=True)
class Device:
    name: str
    transport: str = "local"
    thermal_root: str = "/sys/class/thermal"
    rapl_root: str = "/sys/class/powercap"
    thermal_limit_c: float | None = None
    runtimes: tuple[str, ...] = ("onnxruntime", "litert", "torch", "coreml")
    options: dict = field(default_factory=dict)


DEVICES = {"host": Device("host")}


def get_device(name: str) -> Device:
    if name not in DEVICES:
        raise BenchError(f"unknown device '{name}'; known devices: {', '.join(DEVICES)}")
    return DEVICES[name]
