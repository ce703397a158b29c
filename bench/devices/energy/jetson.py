"""NVIDIA Jetson power: the INA3221 monitors through hwmon, or ``tegrastats``.

INA3221 (hwmon): ``inN_label`` names the rail (``VDD_IN``, ``VDD_CPU_GPU_CV``, ``VDD_SOC``),
``inN_input`` is its voltage in mV and ``currN_input`` its current in mA. ``tegrastats`` prints one
line per interval with ``RAIL <now>mW/<avg>mW`` (JetPack 5/6) or ``RAIL <now>/<avg>`` (JetPack 4,
mW); the current value is used.
"""

from __future__ import annotations

import re

from bench.devices.energy.base import EnergyMeter, MeterUnavailable, register_meter

TEGRA_RAIL = re.compile(r"\b([A-Z][A-Z0-9_]*(?:IN|CPU|GPU|SOC|CV|DDR|SYS|VDD)[A-Z0-9_]*) (\d+)(?:mW)?/(\d+)(?:mW)?")


def parse_tegrastats(line: str) -> dict[str, float]:
    """{rail: watts} of one tegrastats line."""
    return {rail: int(now) / 1e3 for rail, now, _avg in TEGRA_RAIL.findall(line)}


@register_meter
class Ina3221Meter(EnergyMeter):
    name = "ina3221"
    sampled = True
    default_root = "/sys/bus/i2c/drivers/ina3221"

    def counter_spec(self) -> dict:
        labels = self.files.glob(f"{self.root}/*/hwmon/hwmon*/in*_label")
        files = {}
        for label_path in sorted(labels):
            rail = (self.files.read_text(label_path) or "").strip()
            if not rail or (self.rails and rail not in self.rails):
                continue
            folder, name = label_path.rsplit("/", 1)
            channel = name.removeprefix("in").removesuffix("_label")
            files[f"{rail}:mV"] = f"{folder}/in{channel}_input"
            files[f"{rail}:mA"] = f"{folder}/curr{channel}_input"
        if not files:
            raise MeterUnavailable(f"no INA3221 rails under {self.root} (wanted {', '.join(self.rails) or 'any'})")
        for path in files.values():
            if self.files.read_text(path) is None:
                raise MeterUnavailable(f"{path} is not readable")
        return {"files": files, "period_s": 0.05}

    def watts(self, reading: dict) -> dict[str, float]:
        values, out = reading["values"], {}
        for key, text in values.items():
            rail, unit = key.rsplit(":", 1)
            if unit == "mV":
                out[rail] = int(text.split()[0]) * int(values[f"{rail}:mA"].split()[0]) / 1e6
        return out


@register_meter
class TegrastatsMeter(EnergyMeter):
    name = "tegrastats"
    sampled = True

    def counter_spec(self) -> dict:
        done = self.files.run(["sh", "-c", "command -v tegrastats"], timeout=30)
        if done.returncode != 0:
            raise MeterUnavailable("no tegrastats on this device (not a Jetson?)")
        return {"stream": ["tegrastats", "--interval", "100"], "period_s": 0.1}

    def watts(self, reading: dict) -> dict[str, float]:
        return self.keep(parse_tegrastats(reading["values"]["line"]))
