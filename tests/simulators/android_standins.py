"""SIMULATION: stand-ins for Android's dumpsys, taskset, getprop and cmd on the emulated device.

They print what the real tools print for the parts the harness reads, and take their state from
the sandbox (``$SIM_ROOT/sim``): ``thermal_status`` (a number, or ``a,b,c`` consumed one per call
to simulate a phone that cools down), and they log what they were asked in ``sim/*.log``.
"""

from __future__ import annotations

import os
import sys
import time
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
    throttle = SIM / "throttle.json"
    if throttle.exists():  # see native_tools.throttle_slowdown: hot after a while
        import json

        spec = json.loads(throttle.read_text())
        if "start" in spec and time.monotonic() >= spec["start"] + spec["after_s"]:
            return spec["status"]
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
    """toybox taskset MASK CMD...: logged, then the command runs pinned to the mask's CPUs where this
    host has them all (a Pixel 6's big cores, 6 and 7, it has not: then unpinned)."""
    if len(args) < 2:
        print("usage: taskset [-ap] [mask] [PID | cmd [args...]]", file=sys.stderr)
        return 1
    with open(SIM / "taskset.log", "a") as log:
        log.write(f"{args[0]} {args[1]}\n")
    mask = int(args[0], 16)
    cpus = {cpu for cpu in range(mask.bit_length()) if mask >> cpu & 1}
    if cpus and cpus <= os.sched_getaffinity(0):
        os.sched_setaffinity(0, cpus)
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


def perfetto(args: list[str]) -> int:
    """``perfetto --txt -c CFG -o OUT --detach=KEY`` starts a power-rail session in the background;
    ``perfetto --attach=KEY --stop`` ends it, and the session writes OUT as a real perfetto trace."""
    import signal
    import subprocess

    options = dict(a.split("=", 1) if "=" in a else (a, "") for a in args if a.startswith("--"))
    if "--attach" in options:
        pid_file = SIM / f"perfetto-{options['--attach']}.pid"
        if not pid_file.exists():
            print(f"Session re-attach failed. Check if the session {options['--attach']} exists", file=sys.stderr)
            return 1
        pid = int(pid_file.read_text())
        os.kill(pid, signal.SIGTERM)
        for _ in range(200):
            if not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split()[2]:
                break
            time.sleep(0.05)
        pid_file.unlink()
        return 0
    out = args[args.index("-o") + 1]
    config = Path(args[args.index("-c") + 1]).read_text()
    if "collect_power_rails: true" not in config:
        print("no android.power data source with collect_power_rails", file=sys.stderr)
        return 1
    proc = subprocess.Popen(
        [sys.executable, __file__, "perfetto-session", out],
        start_new_session=True,  # detached like the real daemon: it must not hold the shell's pipes
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    (SIM / f"perfetto-{options['--detach']}.pid").write_text(str(proc.pid))
    started = Path(out + ".started")
    for _ in range(600):  # like the real service, return once the data source has started (first poll)
        if started.exists():
            started.unlink()
            return 0
        time.sleep(0.05)
    print("the tracing session did not start in 30 s", file=sys.stderr)
    return 1


def perfetto_session(args: list[str]) -> int:
    """Sample the simulated ODPM every 100 ms (the poll period) until SIGTERM, then write the trace."""
    import signal

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    samples: list[tuple[int, dict[str, int]]] = []
    while not stop:
        rails: dict[str, int] = {}
        for file in sorted((SIM.parent / "sys/bus/iio/devices").glob("iio:device*/energy_value")):
            for line in file.read_text().splitlines()[1:]:
                name = line.split("[", 1)[1].split("]", 1)[0]
                rails[name] = int(line.rsplit(",", 1)[1])
        uptime_ms = int(float(Path("/proc/uptime").read_text().split()[0]) * 1000)
        samples.append((uptime_ms, rails))
        if len(samples) == 1:
            Path(args[0] + ".started").touch()
        time.sleep(0.1)
    trace = Trace()
    names = sorted(samples[0][1]) if samples else []
    packet = trace.packet.add()
    for index, name in enumerate(names):
        descriptor = packet.power_rails.rail_descriptor.add()
        descriptor.index, descriptor.rail_name, descriptor.subsys_name = index, name, "simulated"
    for stamp, rails in samples:
        packet = trace.packet.add()
        for index, name in enumerate(names):
            data = packet.power_rails.energy_data.add()
            data.index, data.timestamp_ms, data.energy = index, stamp, rails[name]
    Path(args[0]).write_bytes(trace.SerializeToString())
    return 0


if __name__ == "__main__":
    tool, rest = sys.argv[1], sys.argv[2:]
    tools = {"dumpsys": dumpsys, "taskset": taskset, "getprop": getprop, "cmd": cmd, "perfetto": perfetto,
             "perfetto-session": perfetto_session}  # fmt: skip
    sys.exit(tools[tool](rest))
