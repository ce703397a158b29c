"""Linux RAPL through the powercap sysfs tree (``/sys/class/powercap/intel-rapl:*``).

Each top-level package zone has ``energy_uj`` (micro-joules, wrapping at
``max_energy_range_uj``) and ``name``. We read packages only (their subzones, e.g. core and
uncore, are already included). The sysfs root is configurable so tests can drive a simulated
tree. Reading ``energy_uj`` is root-only on kernels since 5.10; that and VMs without RAPL show
up as the reason energy is unavailable.
"""

from __future__ import annotations

from pathlib import Path

from bench.energy.base import EnergyMeter, MeterUnavailable, register_meter

DEFAULT_ROOT = "/sys/class/powercap"


@register_meter
class RaplMeter(EnergyMeter):
    name = "rapl"

    def __init__(self, root: str | Path | None = None):
        super().__init__(str(root or DEFAULT_ROOT))
        self.root = Path(self.root)
        self.ranges: dict[str, int] = {}

    def counter_spec(self) -> dict:
        if not self.root.is_dir():
            raise MeterUnavailable(f"no RAPL: {self.root} does not exist (VM or non-Intel/AMD CPU)")
        zones = sorted(p for p in self.root.glob("intel-rapl:*") if p.name.count(":") == 1)
        if not zones:
            raise MeterUnavailable(f"no RAPL package zones under {self.root}")
        files = {}
        for zone in zones:
            energy = zone / "energy_uj"
            label = (zone / "name").read_text().strip() if (zone / "name").exists() else "package"
            rail = f"{zone.name}:{label}"
            try:
                int(energy.read_text().split()[0])
                self.ranges[rail] = int((zone / "max_energy_range_uj").read_text().split()[0])
            except PermissionError:
                raise MeterUnavailable(f"{energy} is not readable (root-only since Linux 5.10)") from None
            except (OSError, ValueError, IndexError) as exc:
                raise MeterUnavailable(f"cannot read {energy}: {exc}") from None
            files[rail] = str(energy)
        return {"files": files}

    def joules(self, before: dict, after: dict) -> dict[str, float]:
        out = {}
        for rail, start in before["values"].items():
            end = after["values"][rail]
            delta = end - start
            if delta < 0:  # the counter wrapped (at most once between two reads)
                delta += self.ranges[rail]
            out[rail] = delta / 1e6
        return out
