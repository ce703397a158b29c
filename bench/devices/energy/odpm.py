"""Pixel on-device power monitor (ODPM) through sysfs.

``/sys/bus/iio/devices/iio:deviceN/energy_value`` holds a first line ``t=<ms since boot>`` and one
line per channel ``CH<N>(T=<ms>)[<RAIL>], <uWs since boot>``. Channel numbers differ between
devices and kernels, so rails are always matched by name. The ``t=`` line is the reading's own
timestamp: the window length comes from the device clock, not from adb round trips.
"""

from __future__ import annotations

import re

from bench.devices.energy.base import EnergyMeter, MeterUnavailable, register_meter

CHANNEL = re.compile(r"^CH\d+\(T=(\d+)\)\[([^\]]+)\],\s*(\d+)\s*$")
STAMP = re.compile(r"^t=(\d+)\s*$")


def parse_energy_value(text: str) -> tuple[float | None, dict[str, int]]:
    """(seconds since boot or None, {rail: uWs}) of one energy_value file."""
    stamp, rails = None, {}
    for line in text.splitlines():
        line = line.strip()
        if found := STAMP.match(line):
            stamp = int(found.group(1)) / 1e3
        elif found := CHANNEL.match(line):
            rails[found.group(2)] = int(found.group(3))
    return stamp, rails


@register_meter
class OdpmMeter(EnergyMeter):
    name = "odpm"
    default_root = "/sys/bus/iio/devices"

    def counter_spec(self) -> dict:
        paths = self.transport.glob(f"{self.root}/iio:device*/energy_value")
        if not paths:
            raise MeterUnavailable(f"no on-device power monitor: no {self.root}/iio:device*/energy_value")
        files, seen = {}, set()
        for path in sorted(paths):
            text = self.transport.read_text(path)
            if text is None:
                raise MeterUnavailable(f"{path} is not readable (try `adb root` on a userdebug build)")
            _, rails = parse_energy_value(text)
            seen |= rails.keys()
            files[path.rsplit("/", 2)[-2]] = path
        missing = [r for r in self.rails if r not in seen]
        if missing:
            raise MeterUnavailable(f"rails {', '.join(missing)} not found; this device has {', '.join(sorted(seen))}")
        return {"files": files}

    def _rails(self, reading: dict) -> dict[str, int]:
        out: dict[str, int] = {}
        for text in reading["values"].values():
            out.update(parse_energy_value(text)[1])
        return out

    def time_of(self, reading: dict) -> float:
        stamps = [parse_energy_value(text)[0] for text in reading["values"].values()]
        stamps = [s for s in stamps if s is not None]
        return max(stamps) if stamps else reading["t"]

    def joules(self, before: dict, after: dict) -> dict[str, float]:
        start, end = self._rails(before), self._rails(after)
        return self.keep({rail: (end[rail] - start[rail]) / 1e6 for rail in start.keys() & end.keys()})
