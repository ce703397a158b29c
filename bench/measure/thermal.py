"""Thermal state before a measurement: read what the device exposes, wait (bounded) to settle.

Linux devices expose ``thermal_zone*/temp`` (milli-degrees C) under ``/sys/class/thermal``, read
through the device's transport (the root is configurable so tests can drive a simulated tree).
Android phones report a coarse status in ``dumpsys thermalservice`` ("Thermal Status: 0..6",
0 = none); a profile's ``limit_status`` waits on that instead. A device with neither records
that nothing was readable, never a made-up temperature.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from pathlib import PurePosixPath

DEFAULT_ROOT = "/sys/class/thermal"
ANDROID_STATUS = re.compile(r"^\s*Thermal Status:\s*(\d+)\s*$", re.MULTILINE)
HAL_TEMPERATURE = re.compile(r"Temperature\{mValue=([-+\d.eE]+), mType=-?\d+, mName=([^,}]+)")


@dataclass
class ThermalRecord:
    zones_c: dict[str, float] = field(default_factory=dict)
    waited_s: float = 0.0
    settled: bool = True
    note: str = ""
    status: int | None = None  # Android thermal status, where that is what the device reports

    @property
    def max_c(self) -> float | None:
        return max(self.zones_c.values()) if self.zones_c else None

    def to_dict(self) -> dict:
        return {**asdict(self), "max_c": self.max_c}


def _this_machine(transport):
    if transport is None:
        from bench.devices.transports.local import LocalTransport

        return LocalTransport(None)
    return transport


def read_zones(root: str = DEFAULT_ROOT, transport=None) -> dict[str, float]:
    """``{"thermal_zoneN:type": degrees C}`` of every readable zone under ``root``, read through
    ``transport`` (None: this machine); empty when none is readable."""
    transport = _this_machine(transport)
    zones = {}
    for zone in transport.glob(f"{str(root).rstrip('/')}/thermal_zone*"):
        name = PurePosixPath(zone).name
        kind = (transport.read_text(f"{zone}/type") or name).strip()
        try:
            zones[f"{name}:{kind}"] = int((transport.read_text(f"{zone}/temp") or "").split()[0]) / 1000.0
        except (ValueError, IndexError):
            continue
    return zones


def parse_thermalservice(text: str) -> tuple[int | None, dict[str, float]]:
    """(``Thermal Status``, {sensor: degrees C}) of ``dumpsys thermalservice``. Temperatures are the
    ``Temperature{mValue=37.9, mType=0, mName=cpu0, mStatus=0}`` lines (thermal HAL 2.0), taken from
    "Current temperatures from HAL" where printed, else from "Cached temperatures"."""
    found = ANDROID_STATUS.search(text)
    sections: dict[str, dict[str, float]] = {}
    section = ""
    for line in text.splitlines():
        if line.strip().endswith(":") and not line.startswith((" ", "\t")):
            section = line.strip().rstrip(":")
        elif temp := HAL_TEMPERATURE.search(line):
            try:
                value = float(temp.group(1))
            except ValueError:
                continue
            sections.setdefault(section, {})[temp.group(2).strip()] = value
    temps = sections.get("Current temperatures from HAL") or sections.get("Cached temperatures") or {}
    return (int(found.group(1)) if found else None), temps


def read_android_thermal(transport) -> tuple[int | None, dict[str, float]]:
    """``Thermal Status`` and per-sensor temperatures from ``dumpsys thermalservice``."""
    done = transport.run(["dumpsys", "thermalservice"], timeout=30)
    return parse_thermalservice(done.stdout) if done.returncode == 0 else (None, {})


def read_android_status(transport) -> int | None:
    """``Thermal Status`` from ``dumpsys thermalservice``; None if the device does not say."""
    return read_android_thermal(transport)[0]


def wait_for_android_status(transport, limit: int | None, max_wait_s: float, poll_s: float = 2.0) -> ThermalRecord:
    """Poll the thermal status until it is at or below ``limit``; bounded by ``max_wait_s``."""
    start = time.monotonic()
    while True:
        status, temps = read_android_thermal(transport)
        waited = round(time.monotonic() - start, 2)
        if status is None:
            return ThermalRecord(temps, note="dumpsys thermalservice reported no Thermal Status", waited_s=waited)
        if limit is None or status <= limit:
            return ThermalRecord(temps, waited_s=waited, status=status)
        if waited >= max_wait_s:
            note = f"thermal status {status} still above {limit} after {max_wait_s:.0f} s"
            return ThermalRecord(temps, waited_s=waited, settled=False, status=status, note=note)
        time.sleep(poll_s)


def wait_until_settled(
    root: str = DEFAULT_ROOT,
    limit_c: float | None = None,
    max_wait_s: float = 30.0,
    poll_s: float = 1.0,
    stable_delta_c: float = 0.5,
    transport=None,
) -> ThermalRecord:
    """Poll until the hottest zone is at or below ``limit_c`` (if given) and stable; bounded by ``max_wait_s``.

    Zones are read through ``transport`` (None: this machine)."""
    start = time.monotonic()
    zones = read_zones(root, transport)
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
        zones = read_zones(root, transport) or zones
