"""Energy readings taken on a device with no Python (a phone), through its shell.

A counter meter's files are read right before and after a command, each in one shell call. A
sampled meter (the battery gauge) is sampled every ``period_s`` by a shell loop on the device,
started just before the command and stopped after it, with one more sample at the end; samples
carry the device's uptime (``/proc/uptime``), since the host's clock would add the link's delay.
"""

from __future__ import annotations

import time

from bench.devices.energy.base import EnergyMeter
from bench.devices.transports.base import Completed, Transport

# ``sh -c SAMPLER sh OUT PERIOD N FILE1..FILEN CMD...``: each sample is "==> t" + /proc/uptime,
# then "==> FILE" + its content, appended to OUT while CMD runs; exits with CMD's status.
SAMPLER = (
    "out=$1; period=$2; n=$3; shift 3\n"
    'sample() { echo "==> t"; cat /proc/uptime; i=0; for f; do [ "$i" -ge "$n" ] && break; '
    'echo "==> $f"; cat "$f"; i=$((i + 1)); done; }\n'
    '( while :; do sample "$@"; sleep "$period"; done ) > "$out" 2>/dev/null &\n'
    "loop=$!\n"
    '( shift "$n"; exec "$@" ); rc=$?\n'
    'kill "$loop" 2>/dev/null; wait "$loop" 2>/dev/null\n'
    'sample "$@" >> "$out" 2>/dev/null\n'
    'exit "$rc"\n'
)


def dump_values(text: str, files: dict[str, str]) -> dict[str, str]:
    """``{name: content}`` from the ``==> FILE`` blocks the meter scripts print, one per file asked
    for, matched by position (the device may spell a path differently)."""
    contents: list[str] = []
    for line in text.splitlines(keepends=True):
        if line.startswith("==> "):
            contents.append("")
        elif contents:
            contents[-1] += line
    return {name: contents[k] if k < len(contents) else "" for k, name in enumerate(files)}


def parse_samples(text: str, files: dict[str, str]) -> list[dict]:
    """The sampler's output as meter readings on the device's clock (``/proc/uptime`` seconds).
    A sample cut short when the loop was stopped (a file missing or empty) is dropped."""
    readings = []
    for block in text.split("==> t\n")[1:]:
        uptime, _, rest = block.partition("\n")
        values = {name: text.strip() for name, text in dump_values(rest, files).items()}
        try:
            t = float(uptime.split()[0])
        except (ValueError, IndexError):
            continue
        if all(values.values()):
            readings.append({"t": t, "values": values})
    return readings


def read_once(transport: Transport, energy_spec: dict) -> dict:
    """One raw reading of the meter's files on the device, in one shell call, timed on this machine."""
    files = energy_spec.get("files", {})
    script = 'for f; do echo "==> $f"; cat "$f"; done'
    done = transport.run(["sh", "-c", script, "sh", *files.values()], timeout=60)
    return {"t": time.monotonic(), "values": dump_values(done.stdout, files)}


def metered_run(
    transport: Transport, meter: EnergyMeter, energy_spec: dict, argv: list[str], timeout: float
) -> tuple[Completed, dict | None, str | None]:
    """Run ``argv`` on the device with ``meter`` read around it: (its Completed, the energy window
    ``{"before", "after"[, "samples"]}`` or None, the problem or None)."""
    if not meter.sampled:
        before = read_once(transport, energy_spec)
        done = transport.run(argv, timeout=timeout)
        return done, {"before": before, "after": read_once(transport, energy_spec)}, None
    files = energy_spec.get("files", {})
    out = f"{transport.work_dir}/samples-{time.monotonic_ns()}.txt"
    period = f"{energy_spec.get('period_s', 0.1):g}"
    done = transport.run(["sh", "-c", SAMPLER, "sh", out, period, str(len(files)), *files.values(), *argv],
                         timeout=timeout)  # fmt: skip
    text = transport.read_text(out) or ""
    transport.run(["rm", "-f", out], timeout=60)
    readings = parse_samples(text, files)
    if len(readings) < 2:
        return done, None, f"the device-side sampler recorded {len(readings)} complete samples"
    return done, {"before": readings[0], "samples": readings[1:-1], "after": readings[-1]}, None
