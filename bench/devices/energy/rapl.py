"""Linux RAPL through the powercap sysfs tree (``/sys/class/powercap/intel-rapl:*``).

Each top-level package zone has ``energy_uj`` (micro-joules, wrapping at
``max_energy_range_uj``) and ``name``. We read packages only (their subzones, e.g. core and
uncore, are already included). Reading ``energy_uj`` is root-only on kernels since 5.10; that
and VMs without RAPL show up as the reason energy is unavailable.
"""

from __future__ import annotations

from pathlib import PurePosixPath

from bench.devices.energy.base import EnergyMeter, MeterUnavailable, register_meter


def _int(text: str | int) -> int:
    return text if isinstance(text, int) else int(str(text).split()[0])


@register_meter
class RaplMeter(EnergyMeter):
    name = "rapl"
    default_root = "/sys/class/powercap"

    def __init__(self, transport=None, root: str | None = None, rails: tuple[str, ...] = ()):
        super().__init__(transport, root, rails)
        self.ranges: dict[str, int] = {}

    def counter_spec(self) -> dict:
        zones = [z for z in self.transport.glob(f"{self.root}/intel-rapl:*") if PurePosixPath(z).name.count(":") == 1]
        if not zones:
            raise MeterUnavailable(f"no RAPL: no package zones under {self.root} (VM or non-Intel/AMD CPU)")
        files = {}
        for zone in sorted(zones):
            energy = f"{zone}/energy_uj"
            label = (self.transport.read_text(f"{zone}/name") or "package").strip()
            rail = f"{PurePosixPath(zone).name}:{label}"
            text, limit = self.transport.read_text(energy), self.transport.read_text(f"{zone}/max_energy_range_uj")
            if text is None:
                raise MeterUnavailable(f"{energy} is not readable (root-only since Linux 5.10)")
            try:
                _int(text)
                self.ranges[rail] = _int(limit or "")
            except (ValueError, IndexError):
                raise MeterUnavailable(f"cannot read {energy}: {text.strip()[:80]!r}") from None
            files[rail] = energy
        return {"files": files}

    def joules(self, before: dict, after: dict) -> dict[str, float]:
        out = {}
        for rail, start in before["values"].items():
            delta = _int(after["values"][rail]) - _int(start)
            if delta < 0:  # the counter wrapped (at most once between two reads)
                delta += self.ranges[rail]
            out[rail] = delta / 1e6
        return self.keep(out)
