"""The energy meter interface, the idle-subtracted energy computation, and the registry.

A meter is first *probed*: it either returns a counter spec (which files the agent reads right
before and after the timed window and around an idle window of the same length) or the reason
it cannot measure here. Readings come back raw; the meter turns them into joules (handling
counter wrap-around), and ``energy_per_inference`` subtracts idle power:

    E_per_inference = (E_window - P_idle * t_window) / inferences
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field


class MeterUnavailable(Exception):
    """The meter cannot measure on this device; the message says why."""


@dataclass
class EnergyResult:
    """Energy of one measurement, or why there is none (``mj_per_inference`` is None then)."""

    meter: str
    mj_per_inference: float | None
    note: str
    window_j: float | None = None
    window_s: float | None = None
    idle_w: float | None = None
    rails_j: dict[str, float] = field(default_factory=dict)
    window_t: tuple[float, float] | None = None  # perf_counter times of the readings (CLOCK_MONOTONIC)
    idle_t: tuple[float, float] | None = None

    @classmethod
    def unavailable(cls, meter: str, reason: str) -> EnergyResult:
        return cls(meter=meter, mj_per_inference=None, note=f"unavailable: {reason}")


class EnergyMeter(ABC):
    name: str

    def __init__(self, root: str | None = None):
        """``root``: the sysfs root a file-based meter reads (tests point it at a simulated tree)."""
        self.root = root

    @abstractmethod
    def counter_spec(self) -> dict:
        """Files the agent reads, ``{"files": {rail: path}}``; raise MeterUnavailable if none work."""

    @abstractmethod
    def joules(self, before: dict, after: dict) -> dict[str, float]:
        """Energy per rail between two raw readings."""

    def energy_per_inference(self, window: dict, idle: dict, inferences: int) -> EnergyResult:
        w_before, w_after = window["before"], window["after"]
        i_before, i_after = idle["before"], idle["after"]
        window_s = w_after["t"] - w_before["t"]
        idle_s = i_after["t"] - i_before["t"]
        rails = self.joules(w_before, w_after)
        idle_rails = self.joules(i_before, i_after)
        window_j = sum(rails.values())
        idle_w = sum(idle_rails.values()) / idle_s if idle_s > 0 else 0.0
        net_j = window_j - idle_w * window_s
        return EnergyResult(
            meter=self.name,
            mj_per_inference=net_j / inferences * 1e3,
            note=f"{self.name}: window {window_j:.3f} J over {window_s:.2f} s, idle {idle_w:.2f} W subtracted",
            window_j=window_j,
            window_s=window_s,
            idle_w=idle_w,
            rails_j=rails,
            window_t=(w_before["t"], w_after["t"]),
            idle_t=(i_before["t"], i_after["t"]),
        )


_METERS: dict[str, type[EnergyMeter]] = {}


def register_meter(cls: type[EnergyMeter]) -> type[EnergyMeter]:
    _METERS[cls.name] = cls
    return cls


def host_meters() -> list[type[EnergyMeter]]:
    """Registered host meters in order of preference (registration order: RAPL, then NVML)."""
    from bench.energy import rapl, nvml  # noqa: F401, I001  (registration, in this order)

    return list(_METERS.values())


def probe_host_meter(rapl_root: str | None = None) -> tuple[EnergyMeter | None, dict | None, str]:
    """The first host meter that works, with its counter spec, else every meter's reason."""
    reasons = []
    for meter in (cls(rapl_root) for cls in host_meters()):
        try:
            return meter, meter.counter_spec(), meter.name
        except MeterUnavailable as exc:
            reasons.append(str(exc))
    return None, None, "; ".join(reasons)
