"""macOS on Apple silicon: ``powermetrics`` (needs root: ``sudo`` without a password for it).

Every sample prints lines such as ``CPU Power: 1000 mW``, ``GPU Power: 20 mW`` and
``Combined Power (CPU + GPU + ANE): 1020 mW``; the combined line is used when present, else the
CPU line.
"""

from __future__ import annotations

import re

from bench.devices.energy.base import EnergyMeter, MeterUnavailable, register_meter

POWER = re.compile(r"^\s*(Combined Power \(CPU \+ GPU \+ ANE\)|CPU Power):\s*(\d+(?:\.\d+)?)\s*mW\s*$")


def parse_powermetrics(line: str) -> dict[str, float]:
    """{"combined" or "cpu": watts} of one powermetrics line; {} for other lines."""
    found = POWER.match(line)
    if not found:
        return {}
    return {"combined" if found.group(1).startswith("Combined") else "cpu": float(found.group(2)) / 1e3}


@register_meter
class PowermetricsMeter(EnergyMeter):
    name = "powermetrics"
    sampled = True

    def counter_spec(self) -> dict:
        done = self.files.run(["sudo", "-n", "powermetrics", "--samplers", "cpu_power", "-n", "1", "-i", "100"])
        if done.returncode != 0 or not any(parse_powermetrics(line) for line in done.stdout.splitlines()):
            raise MeterUnavailable("powermetrics did not run (macOS only; needs passwordless sudo for powermetrics)")
        return {"stream": ["sudo", "-n", "powermetrics", "--samplers", "cpu_power", "-i", "100"], "period_s": 0.1}

    def watts(self, reading: dict) -> dict[str, float]:
        return parse_powermetrics(reading["values"]["line"])

    def window_joules(self, window: dict) -> dict[str, float]:
        rails = super().window_joules(window)
        return {"combined": rails["combined"]} if "combined" in rails else rails
