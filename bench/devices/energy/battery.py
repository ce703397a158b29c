"""Battery fuel gauge (``/sys/class/power_supply/battery``): the labelled coarse fallback.

``current_now`` (uA; the sign convention differs between devices, so its magnitude is used) times
``voltage_now`` (uV) is the whole device's power, sampled during the window. It includes the
screen and radios and the gauge updates slowly, which is why results carry the label.
"""

from __future__ import annotations

from bench.devices.energy.base import EnergyMeter, MeterUnavailable, register_meter


@register_meter
class BatteryMeter(EnergyMeter):
    name = "battery"
    sampled = True
    default_root = "/sys/class/power_supply/battery"
    label = "coarse: whole-device battery gauge"

    def counter_spec(self) -> dict:
        files = {"current_uA": f"{self.root}/current_now", "voltage_uV": f"{self.root}/voltage_now"}
        for path in files.values():
            text = self.transport.read_text(path)
            if text is None or not text.strip().lstrip("-").isdigit():
                raise MeterUnavailable(f"no battery gauge: {path} is not readable")
        return {"files": files, "period_s": 0.1}

    def watts(self, reading: dict) -> dict[str, float]:
        values = reading["values"]
        return {"battery": abs(int(values["current_uA"])) * int(values["voltage_uV"]) / 1e12}
