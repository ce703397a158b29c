"""SIMULATION: stand-ins for Android's dumpsys, taskset, getprop and cmd on the emulated device.

They print what the real tools print for the parts the harness reads, and take their state from
the sandbox (``$SIM_ROOT/sim``): ``thermal_status`` (a number, or ``a,b,c`` consumed one per call
to simulate a phone that cools down), and they log what they were asked in ``sim/*.log``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

SIM = Path(os.environ.get("SIM_ROOT", ".")) / "sim"
PROPS = {
    "ro.product.model": "Pixel 6",
    "ro.product.name": "oriole",
    "ro.build.version.release": "14",
    "ro.build.version.sdk": "34",
    "ro.soc.model": "Tensor",
    "ro.product.cpu.abi": "arm64-v8a",
}


def thermal_status() -> int:
    path = SIM / "thermal_status"
    values = path.read_text().strip().split(",")
    if len(values) > 1:  # a sequence: consume one value per read
        path.write_text(",".join(values[1:]))
    return int(values[0])


def dumpsys(args: list[str]) -> int:
    if args[:1] != ["thermalservice"]:
        print(f"Can't find service: {args[0] if args else ''}")
        return 0
    status = thermal_status()
    print("IsStatusOverride: false")
    print("ThermalEventListeners:")
    print("\tcallbacks: 1")
    print("ThermalStatusListeners:")
    print("\tcallbacks: 1")
    print(f"Thermal Status: {status}")
    print("Cached temperatures:")
    for i, name in enumerate(("BIG", "MID", "LITTLE")):
        print(f"\tTemperature{{mValue={38.5 + 6 * status + i}, mType=0, mName={name}, mStatus={status}}}")
    print("HAL Ready: true")
    return 0


def taskset(args: list[str]) -> int:
    """toybox taskset MASK CMD...: logged, then the command runs (the host has fewer CPUs)."""
    if len(args) < 2:
        print("usage: taskset [-ap] [mask] [PID | cmd [args...]]", file=sys.stderr)
        return 1
    with open(SIM / "taskset.log", "a") as log:
        log.write(f"{args[0]} {args[1]}\n")
    os.execvp(args[1], args[1:])
    return 127


def getprop(args: list[str]) -> int:
    if args:
        print(PROPS.get(args[0], ""))
    else:
        for key, value in PROPS.items():
            print(f"[{key}]: [{value}]")
    return 0


def cmd(args: list[str]) -> int:
    with open(SIM / "cmd.log", "a") as log:
        log.write(" ".join(args) + "\n")
    return 0


if __name__ == "__main__":
    tool, rest = sys.argv[1], sys.argv[2:]
    sys.exit({"dumpsys": dumpsys, "taskset": taskset, "getprop": getprop, "cmd": cmd}[tool](rest))
