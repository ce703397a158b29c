"""NVIDIA GPUs: NVML's total energy counter (mJ since driver load), read by the agent via pynvml."""

from __future__ import annotations

from bench.devices.energy.base import EnergyMeter, MeterUnavailable, register_meter


@register_meter
class NvmlMeter(EnergyMeter):
    name = "nvml"

    def counter_spec(self) -> dict:
        try:
            import pynvml
        except ImportError:
            raise MeterUnavailable("no NVML: the nvidia-ml-py package is not installed") from None
        try:
            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
        except Exception as exc:  # noqa: BLE001 - NVMLError_LibraryNotFound and friends
            raise MeterUnavailable(f"no NVML: {exc}") from None
        if count == 0:
            raise MeterUnavailable("no NVIDIA GPU")
        return {"files": {}, "nvml": list(range(count))}

    def joules(self, before: dict, after: dict) -> dict[str, float]:
        return {rail: (after["values"][rail] - start) / 1e3 for rail, start in before["values"].items()}
