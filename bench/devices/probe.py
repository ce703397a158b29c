"""``bench devices --probe``: can we reach the device, what is it, and what works there."""

from __future__ import annotations

import json

from bench.devices.config import Device
from bench.devices.energy.base import MeterUnavailable, probe_meter
from bench.devices.transports.base import DeviceLost, open_transport
from bench.errors import BenchError
from bench.measure.thermal import read_android_status, read_zones
from bench.runtimes.base import RUNTIMES

# The Python modules that provide each runtime on an agent device (any one is enough).
RUNTIME_MODULES = {name: runtime.modules for name, runtime in RUNTIMES.items()}


def probe_device(device: Device) -> list[tuple[str, str]]:
    """(check, result) rows; raises BenchError (exit 2) when the device cannot be reached."""
    transport = open_transport(device)
    try:
        transport.connect()
    except DeviceLost as exc:
        raise BenchError(f"cannot reach '{device.name}' ({transport.describe()}): {exc}") from None
    rows = [("reachable", f"yes ({transport.describe()})")]
    try:
        if device.transport == "adb":
            rows += _android(device, transport)
        else:
            rows += _linux(device, transport)
        try:
            meter, _, note = probe_meter(device.energy_meter, transport, device.energy_root or None, device.rails)
            rows.append(("energy", f"ok: {note}" if meter else f"unavailable: {note}"))
        except MeterUnavailable as exc:
            rows.append(("energy", f"unavailable: {exc}"))
    finally:
        transport.close()
    return rows


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else "unknown"


def _linux(device: Device, transport) -> list[tuple[str, str]]:
    rows = [("OS", _first_line(transport.run(["uname", "-srm"], timeout=30).stdout))]
    cpuinfo = transport.read_text("/proc/cpuinfo") or ""
    models = [line.split(":", 1)[1].strip() for line in cpuinfo.splitlines() if line.lower().startswith("model name")]
    cores = transport.run(["nproc"], timeout=30).stdout.strip() or "?"
    rows.append(("CPU", f"{models[0] if models else 'unknown'} ({cores} cores)"))
    python = device.python if device.transport != "local" else __import__("sys").executable
    check = (
        "import importlib.util as u, json, sys; "
        "print(json.dumps({m: u.find_spec(m) is not None for m in sys.argv[1:]}))"
    )
    modules = sorted({m for name in device.runtimes for m in RUNTIME_MODULES[name]})
    done = transport.run([python, "-c", check, *modules], timeout=60)
    try:
        found = json.loads(done.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        rows.append(("python", f"missing: `{python}` did not run ({_first_line(done.stderr)})"))
        return rows
    rows.append(("python", python))
    for name in device.runtimes:
        ok = [m for m in RUNTIME_MODULES[name] if found.get(m)]
        reason = RUNTIMES[name].unavailable_reason() if device.transport == "local" else None
        if ok and not reason:
            rows.append((f"runtime {name}", f"ok ({ok[0]})"))
        else:
            missing = reason or f"no {' or '.join(RUNTIME_MODULES[name])} for {python}"
            rows.append((f"runtime {name}", f"missing: {missing}"))
    zones = read_zones(device.thermal_root, transport)
    rows.append(("thermal", ", ".join(f"{k} {v:.1f} C" for k, v in zones.items()) or "no readable zones"))
    return rows


def _android(device: Device, transport) -> list[tuple[str, str]]:
    def prop(name: str) -> str:
        return transport.run(["getprop", name], timeout=30).stdout.strip() or "?"

    rows = [
        ("OS", f"Android {prop('ro.build.version.release')} (SDK {prop('ro.build.version.sdk')})"),
        ("model", f"{prop('ro.product.model')} ({prop('ro.product.cpu.abi')})"),
    ]
    from pathlib import Path

    from bench.measure.runners import TOOLS

    for fmt, tool in TOOLS.items():
        runtime = next((r for r in device.runtimes if RUNTIMES[r].format == fmt), None)
        if runtime is None:
            continue
        local = device.tools.get(tool)
        if not local:
            rows.append((f"runtime {runtime}", f"missing: set [runtimes] {tool} = PATH in {device.path}"))
        elif not Path(local).expanduser().is_file():
            rows.append((f"runtime {runtime}", f"missing: {tool} not found at {local}"))
        else:
            rows.append((f"runtime {runtime}", f"ok ({tool} {local})"))
    status = read_android_status(transport)
    rows.append(("thermal", f"Thermal Status {status}" if status is not None else "no thermal status"))
    return rows
