"""Energy and CPU readings taken on a device with no Python (a phone), through its shell.

A counter meter's files are read right before and after a command, each in one shell call. A
sampled meter (the battery gauge) is sampled every ``period_s`` by a shell loop on the device,
started just before the command and asked to stop after it, with one more sample at the end; samples
carry the device's uptime (``/proc/uptime``), since the host's clock would add the link's delay.

What else used the measured CPUs while a native tool ran (contention, as the agent reads it where
there is Python) is read by the same shell that runs the tool: ``/proc/stat`` right before and after
it, and the shell's own ``/proc/self/stat`` after it, whose cutime + cstime are the CPU time of the
children it waited for, i.e. the tool's.
"""

from __future__ import annotations

import time
from dataclasses import replace

from bench.devices.energy.base import EnergyMeter
from bench.devices.transports.base import Completed, Transport
from bench.measure.agent import contention, proc_stat_cpus, proc_stat_times

# ``sh -c SAMPLER sh OUT PERIOD N FILE1..FILEN CMD...``: each sample is "==> t" + /proc/uptime,
# then "==> FILE" + its content, appended to OUT while CMD runs; exits with CMD's status. The loop
# is asked to stop (OUT.stop) and waited for, never killed: a killed loop leaves its running ``cat``
# behind, which then writes a file's value over the final sample at the loop's file offset. The
# loop also ends when this shell is gone (killed at the link's timeout).
SAMPLER = (
    'out=$1; period=$2; n=$3; shift 3; stop="$out.stop"; rm -f "$stop"\n'
    'sample() { echo "==> t"; cat /proc/uptime; i=0; for f; do [ "$i" -ge "$n" ] && break; '
    'echo "==> $f"; cat "$f"; i=$((i + 1)); done; }\n'
    '( while [ ! -e "$stop" ] && kill -0 $$ 2>/dev/null; do sample "$@"; sleep "$period"; done ) '
    '> "$out" 2>/dev/null &\n'
    "loop=$!\n"
    '( shift "$n"; exec "$@" ); rc=$?\n'
    ': > "$stop"; wait "$loop" 2>/dev/null; rm -f "$stop"\n'
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


# ``sh -c CPU_READ sh MARK CMD...``: runs CMD (its stdout in the middle) with, each after a MARK line
# on stdout, /proc/stat before it, then this shell's /proc/PID/stat (cutime + cstime: CMD's CPU time),
# /proc/stat and /proc/loadavg after it; exits with CMD's status.
CPU_MARK = "==> bench-cpu-readings"
CPU_READ = (
    "m=$1; shift\n"
    'echo "$m"; cat /proc/stat 2>/dev/null; echo "$m"\n'
    '"$@"; rc=$?\n'
    'echo; echo "$m"; cat /proc/$$/stat 2>/dev/null; echo "$m"; cat /proc/stat 2>/dev/null\n'
    'echo "$m"; cat /proc/loadavg 2>/dev/null\n'
    'exit "$rc"\n'
)
USER_HZ = 100  # the clock tick of /proc/stat and /proc/PID/stat: 100 on every Linux and Android build


def with_cpu_readings(argv: list[str]) -> list[str]:
    """``argv`` wrapped to read the device's CPU counters around it (:data:`CPU_READ`)."""
    return ["sh", "-c", CPU_READ, "sh", CPU_MARK, *argv]


def children_cpu_s(stat: str) -> float | None:
    """cutime + cstime of a ``/proc/PID/stat`` line, in seconds (fields 16 and 17 of proc(5), counted
    after the parenthesised command name, which may hold spaces); None when unreadable."""
    fields = stat.rpartition(")")[2].split()
    try:
        return (int(fields[13]) + int(fields[14])) / USER_HZ
    except (IndexError, ValueError):
        return None


def split_cpu_readings(done: Completed, cpus: list[int] | None) -> tuple[Completed, dict | None, str | None]:
    """A run of :func:`with_cpu_readings`: (the command's own Completed, what else used ``cpus`` while
    it ran as ``bench.measure.agent.contention`` computes it, or None with why it could not be read)."""
    lines = done.stdout.split("\n")
    marks = [k for k, line in enumerate(lines) if line.rstrip("\r") == CPU_MARK]
    if len(marks) != 5 or marks[0] != 0:
        text = "\n".join(line for line in lines if line.rstrip("\r") != CPU_MARK)
        return replace(done, stdout=text), None, "the device shell did not print its CPU readings"
    # between two marks: the lines printed, the newline echoed before the mark taken off by the join
    block = ["\n".join(lines[a + 1 : b]) for a, b in zip(marks, [*marks[1:], len(lines)], strict=True)]
    before_stat, tool_out, own_stat, after_stat, loadavg = block
    own = children_cpu_s(own_stat)
    # a phone takes idle cores offline (they leave /proc/stat): only CPUs in both readings count
    online = set(proc_stat_cpus(before_stat)) & set(proc_stat_cpus(after_stat))
    both = sorted(online & set(cpus)) if cpus else sorted(online)
    before = proc_stat_times(before_stat, both, 0.0, USER_HZ) if both else None
    after = proc_stat_times(after_stat, both, own or 0.0, USER_HZ) if both else None
    kept = replace(done, stdout=tool_out)
    if own is None or before is None or after is None:
        where = "/proc/self/stat" if own is None else "/proc/stat" + (f" for CPUs {cpus}" if cpus else "")
        return kept, None, f"the device did not show {where}"
    try:
        load1 = float(loadavg.split()[0])
    except (IndexError, ValueError):
        load1 = None
    seen = contention(before, after, load1)
    if seen is None:
        return kept, None, "the measured CPUs' counters did not advance"
    return kept, {**seen, "load1": load1}, None  # the device's load, never this machine's
