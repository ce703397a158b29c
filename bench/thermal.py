"""Thermal state before a measurement: read what the device exposes, wait (bounded) to settle.

On Linux that is ``/sys/class/thermal/thermal_zone*/temp`` (milli-degrees C); the root is
configurable so tests can drive a simulated tree. A machine without thermal zones (many VMs,
this CI machine) records that nothing was readable, never a made-up temperature.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

DEFAULT_ROOT = "/sys/class/thermal"


@dataclass
class ThermalRecord:
    zones_c: dict[str, float] = field(default_factory=dict)
    waited_s: float = 0.0
    settled: bool = True
    note: str = ""

    @property
    def max_c(self) -> float | None:
        return max(self.zones_c.values()) if self.zones_c else None

    def to_dict(self) -> dict:
        return {**asdict(self), "max_c": self.max_c}


def read_zones(root: str | Path = DEFAULT_ROOT) -> dict[str, float]:
    zones = {}
    for zone in sorted(Path(root).glob("thermal_zone*")):
        try:
            kind = (zone / "type").read_text().strip() if (zone / "type").exists() else zone.name
            zones[f"{zone.name}:{kind}"] = int((zone / "temp").read_text().split()[0]) / 1000.0
        except (OSError, ValueError, IndexError):
            continue
    return zones


def wait_until_settled(
    root: str | Path = DEFAULT_ROOT,
    limit_c: float | None = None,
    max_wait_s: float = 30.0,
    poll_s: float = 1.0,
    stable_delta_c: float = 0.5,
) -> ThermalRecord:
    """Poll until the hottest zone is at or below ``limit_c`` (if given) and stable; bounded by ``max_wait_s``."""
    start = time.monotonic()
    zones = read_zones(root)
    if not zones:
        return ThermalRecord(note=f"no readable thermal zones under {root}")
    previous = max(zones.values())
    while True:
        waited = time.monotonic() - start
        hottest = max(zones.values())
        cool_enough = limit_c is None or hottest <= limit_c
        if cool_enough and abs(hottest - previous) <= stable_delta_c:
            return ThermalRecord(zones, round(waited, 2), True)
        if waited >= max_wait_s:
            return ThermalRecord(zones, round(waited, 2), False, f"not settled after {max_wait_s:.0f} s")
        time.sleep(poll_s)
        previous = hottest
        zones = read_zones(root) or zones
