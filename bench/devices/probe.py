"""``bench devices --probe``: can we reach the device, what is it, and what works there.

What is asked depends on the kind of device, and each part is answered by whoever knows it: the
transport describes the system and its thermal state, the runner that serves the device checks
the runtimes it would use (the agent: Python and runtime modules; the native runner: the tools),
and the energy meter is probed as a measurement would probe it.
"""

from __future__ import annotations

from bench.devices.config import Device
from bench.devices.energy.base import MeterUnavailable, probe_meter
from bench.devices.transports.base import DeviceLost, open_transport
from bench.errors import BenchError


def probe_device(device: Device) -> list[tuple[str, str]]:
    """(check, result) rows; raises BenchError (exit 2) when the device cannot be reached."""
    from bench.measure.runners import runner_class

    transport = open_transport(device)
    try:
        transport.connect()
    except DeviceLost as exc:
        raise BenchError(f"cannot reach '{device.name}' ({transport.describe()}): {exc}") from None
    rows = [("reachable", f"yes ({transport.describe()})")]
    try:
        rows += transport.describe_system()
        runtimes, usable = runner_class(transport.runner).probe(device, transport)
        rows += runtimes
        if usable:
            rows.append(("thermal", transport.describe_thermal()))
            from bench.accelerators.trial import try_accelerators

            rows += try_accelerators(device)
        try:
            meter, _, note = probe_meter(device.energy_meter, transport, device.energy_root or None, device.rails)
            rows.append(("energy", f"ok: {note}" if meter else f"unavailable: {note}"))
        except MeterUnavailable as exc:
            rows.append(("energy", f"unavailable: {exc}"))
    finally:
        transport.close()
    return rows
