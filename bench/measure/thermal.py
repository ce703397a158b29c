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


def _files(files):
    if files is None:
        from bench.devices.transports.local import LocalTransport

        return LocalTransport(None)
    return files


def read_zones(root: str = DEFAULT_ROOT, files=None) -> dict[str, float]:
    files = _files(files)
    zones = {}
    for zone in files.glob(f"{str(root).rstrip('/')}/thermal_zone*"):
        name = PurePosixPath(zone).name
        kind = (files.read_text(f"{zone}/type") or name).strip()
        try:
            zones[f"{name}:{kind}"] = int((files.read_text(f"{zone}/temp") or "").split()[0]) / 1000.0
        except (ValueError, IndexError):
            continue
    return zones


def read_android_status(transport) -> int | None:
    """``Thermal Status`` from ``dumpsys thermalservice``; None if the device does not say."""
    done = transport.run(["dumpsys", "thermalservice"], timeout=30)
    found = ANDROID_STATUS.search(done.stdout) if done.returncode == 0 else None
    return int(found.group(1)) if found else None


def wait_for_android_status(transport, limit: int | None, max_wait_s: float, poll_s: float = 2.0) -> ThermalRecord:
    """Poll the thermal status until it is at or below ``limit``; bounded by ``max_wait_s``."""
    start = time.monotonic()
    while True:
        status = read_android_status(transport)
        waited = round(time.monotonic() - start, 2)
        if status is None:
            return ThermalRecord(note="dumpsys thermalservice reported no Thermal Status", waited_s=waited)
        if limit is None or status <= limit:
            return ThermalRecord(waited_s=waited, status=status)
        if waited >= max_wait_s:
            note = f"thermal status {status} still above {limit} after {max_wait_s:.0f} s"
            return ThermalRecord(waited_s=waited, settled=False, status=status, note=note)
        time.sleep(poll_s)


def wait_until_settled(
    root: str = DEFAULT_ROOT,
    limit_c: float | None = None,
    max_wait_s: float = 30.0,
    poll_s: float = 1.0,
    stable_delta_c: float = 0.5,
    files=None,
) -> ThermalRecord:
    """Poll until the hottest zone is at or below ``limit_c`` (if given) and stable; bounded by ``max_wait_s``."""
    start = time.monotonic()
    zones = read_zones(root, files)
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
        zones = read_zones(root, files) or zones
