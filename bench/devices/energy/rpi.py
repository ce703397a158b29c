"""Raspberry Pi 5: the PMIC's rail monitors through ``vcgencmd pmic_read_adc``.

It prints currents and voltages on separate lines, e.g. ``VDD_CORE_A current(7)=2.51000000A``
and ``VDD_CORE_V volt(15)=0.81000000V``; they are paired by rail name (the part before ``_A`` /
``_V``). Board power is the sum of I x V over the rails that have both.
"""

from __future__ import annotations

import re

from bench.devices.energy.base import EnergyMeter, MeterUnavailable, register_meter

READING = re.compile(r"^\s*(\w+)_([AV])\s+(?:current|volt)\(\d+\)=([-+]?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)[AV]\s*$")


def parse_pmic(text: str) -> dict[str, float]:
    """{rail: watts} from one ``vcgencmd pmic_read_adc`` output."""
    amps, volts = {}, {}
    for line in text.splitlines():
        if found := READING.match(line):
            (amps if found.group(2) == "A" else volts)[found.group(1)] = float(found.group(3))
    return {rail: amps[rail] * volts[rail] for rail in amps.keys() & volts.keys()}


@register_meter
class RpiPmicMeter(EnergyMeter):
    name = "rpi5-pmic"
    sampled = True

    def counter_spec(self) -> dict:
        done = self.transport.run(["vcgencmd", "pmic_read_adc"], timeout=30)
        if done.returncode != 0 or not parse_pmic(done.stdout):
            raise MeterUnavailable("no Raspberry Pi 5 PMIC readings from `vcgencmd pmic_read_adc`")
        return {"command": ["vcgencmd", "pmic_read_adc"], "period_s": 0.1}

    def watts(self, reading: dict) -> dict[str, float]:
        return self.keep(parse_pmic(reading["values"]["output"]))
