"""macOS: ``powermetrics`` (needs root: ``sudo`` without a password for it).

Each sample starts with ``*** Sampled system activity (<date>) (<N>ms elapsed) ***`` and prints
power lines, each an average over that sample. What is printed differs by version:

- macOS 12 and later on Apple silicon: ``CPU Power: 1000 mW``, ``GPU Power: 20 mW``,
  ``ANE Power: 0 mW`` and ``Combined Power (CPU + GPU + ANE): 1020 mW``;
- macOS 11 on Apple silicon: ``E-Cluster Power``, ``P-Cluster Power``, ``ANE Power``,
  ``DRAM Power``, ``Clusters Total Power``, ``GPU Power`` and ``Package Power: 45 mW``, with no CPU or
  Combined line (singhkays/apple-m1-power-consumption-powermetrics, Mac mini M1, macOS 11.2);
- Intel Macs: ``Intel energy model derived package power (CPUs+GT+SA): 1.23W``.

Every power line is read (rail = the name before ``Power``, lower case: ``cpu``, ``gpu``, ``ane``,
``dram``, ``package``, ``e-cluster``, ``clusters_total``, ``combined``). The total is the first of
``combined``, ``package``, the sum of ``cpu`` + ``gpu`` + ``ane``, that the output has.
"""

from __future__ import annotations

import re

from bench.devices.energy.base import EnergyMeter, MeterUnavailable, PowerLog, register_meter, whole_samples
from bench.errors import one_line

NUMBER = r"\d+(?:\.\d+)?"
POWER = re.compile(rf"^\s*([A-Za-z0-9 -]+?) Power(?: \([^)]*\))?:\s*({NUMBER})\s*(mW|W)\s*$")
INTEL_PACKAGE = re.compile(rf"^\s*Intel energy model derived package power \([^)]*\):\s*({NUMBER})\s*(mW|W)\s*$")
SAMPLE = re.compile(rf"^\*\*\* Sampled system activity \(.*\) \(({NUMBER})ms elapsed\) \*\*\*")
PARTS = ("cpu", "gpu", "ane")


def parse_powermetrics(line: str) -> dict[str, float]:
    """{rail: watts} of one powermetrics line; {} for other lines."""
    if found := INTEL_PACKAGE.match(line):
        return {"package": float(found.group(1)) / (1e3 if found.group(2) == "mW" else 1)}
    if not (found := POWER.match(line)):
        return {}
    rail = found.group(1).strip().lower().replace(" ", "_")
    return {rail: float(found.group(2)) / (1e3 if found.group(3) == "mW" else 1)}


def powermetrics_total(rails) -> list[str]:
    """The rails that make the total: Combined (macOS 12+), else Package (macOS 11, Intel), else
    CPU + GPU + ANE; the cluster, DRAM and per-unit lines are parts of these and never added."""
    rails = list(rails)
    for name in ("combined", "package"):
        if name in rails:
            return [name]
    return [r for r in PARTS if r in rails] or rails


def parse_powermetrics_log(text: str) -> PowerLog:
    """Energy of a saved powermetrics output: each sample's power x its own elapsed time.

    A sample that lacks a power line the other samples print (the output cut mid-sample, or mid-line:
    a line without its unit is not read) is dropped, with its elapsed time, and named in the note:
    its time is never counted without its power."""
    from bench.parsers.tool_output import ToolOutputError

    samples: list[tuple[int, float, dict[str, float]]] = []  # header line, elapsed s, {rail: W}
    for number, line in enumerate(text.splitlines(), start=1):
        if found := SAMPLE.match(line.strip()):
            samples.append((number, float(found.group(1)) / 1e3, {}))
        elif samples and (watts := parse_powermetrics(line)):
            samples[-1][2].update(watts)
    if not samples:
        raise ToolOutputError(0, "no '*** Sampled system activity (...) (N ms elapsed) ***' header: not powermetrics")
    if not any(watts for _, _, watts in samples):
        raise ToolOutputError(
            0, "powermetrics output with no power line this version of bench reads ('... Power: N mW')"
        )
    rails, whole, dropped_note = whole_samples(
        [watts for _, _, watts in samples], [f"the sample at line {n}" for n, _, _ in samples], "a power line"
    )
    kept = [samples[k][1:] for k in whole]
    rails_j = dict.fromkeys(sorted(rails, key=list(kept[0][1]).index), 0.0)
    for seconds, watts in kept:
        for rail in rails_j:
            rails_j[rail] += watts[rail] * seconds
    total = powermetrics_total(rails_j)
    note = (
        f"powermetrics: {len(kept)} sample{'s' * (len(kept) != 1)}, each power x its elapsed time; "
        f"total = {' + '.join(total)}"
    )
    if dropped_note:
        note += f"; {dropped_note}; their elapsed time is not counted"
    if extra := sorted({rail for _, _, watts in samples for rail in watts} - rails):
        note += f"; power lines only some samples print, not read: {', '.join(extra)}"
    dropped = set(range(len(samples))) - set(whole)
    lost = sum(samples[k][1] for k in dropped)
    return PowerLog(
        seconds=sum(seconds for seconds, _ in kept),
        samples=len(kept),
        rails_j=rails_j,
        total_rails=total,
        note=note,
        uncovered=f"{lost:g} s, the elapsed time of the dropped samples" if dropped else "",
    )


@register_meter
class PowermetricsMeter(EnergyMeter):
    name = "powermetrics"
    sampled = True

    def counter_spec(self) -> dict:
        done = self.transport.run(["sudo", "-n", "powermetrics", "--samplers", "cpu_power", "-n", "1", "-i", "100"])
        if done.returncode != 0:
            tail = one_line(" | ".join((done.stderr or done.stdout or "").strip().splitlines()[-2:]), 200)
            raise MeterUnavailable(
                f"powermetrics did not run (exit {done.returncode}: {tail or 'no output'}); "
                "macOS only, and it needs passwordless sudo for powermetrics"
            )
        if not any(parse_powermetrics(line) for line in done.stdout.splitlines()):
            lines = [line.strip() for line in done.stdout.splitlines() if "Power" in line][:3]
            raise MeterUnavailable(
                "powermetrics ran but printed no power line this version of bench reads"
                + (f" (its power lines: {one_line(' | '.join(lines), 200)})" if lines else " (no line with 'Power')")
            )
        return {"stream": ["sudo", "-n", "powermetrics", "--samplers", "cpu_power", "-i", "100"], "period_s": 0.1}

    def watts(self, reading: dict) -> dict[str, float]:
        return parse_powermetrics(reading["values"]["line"])

    def total_rails(self, rails) -> list[str]:
        return powermetrics_total(rails)
