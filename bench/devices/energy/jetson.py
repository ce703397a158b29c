"""NVIDIA Jetson power: the INA3221 monitors through hwmon, or ``tegrastats``.

INA3221 (hwmon): ``inN_label`` names the rail, ``inN_input`` is its voltage in mV and
``currN_input`` its current in mA. ``tegrastats`` prints one line per interval (default 1000 ms)
with ``RAIL <now>/<avg>`` for every rail the board monitors; the current value (the first number)
is used. Seen:

- JetPack 4 (mW without a unit): Nano ``POM_5V_IN 1750/1628 POM_5V_GPU 0/0 POM_5V_CPU 312/312``;
  TX2 ``VDD_IN ... VDD_SYS_CPU ... VDD_SYS_GPU ... VDD_SYS_SOC ... VDD_SYS_DDR ...``; AGX Xavier
  ``GPU 18102/18102 CPU 2455/2455 SOC 4604/4604 CV 0/0 VDDRQ 2915/2915 SYS5V 4592/4592`` (no prefix;
  waggle-sensor/summer2020 tegrastats.log);
- JetPack 5 / 6 (``mW`` after each number, JetPack 5.1.2+ lines begin with ``MM-DD-YYYY HH:MM:SS``):
  Orin Nano / NX and Xavier NX ``VDD_IN 4556mW/4556mW VDD_CPU_GPU_CV 481mW/481mW VDD_SOC 1443mW/1443mW``;
  AGX Orin ``VDD_GPU_SOC 2340mW/2340mW VDD_CPU_CV 390mW/390mW VIN_SYS_5V0 4025mW/4025mW NC 0mW/0mW
  VDDQ_VDD2_1V8AO 301mW/301mW NC 0mW/0mW`` (GDWR/jetson_exporter#14);
- JetPack 7 (AGX Thor, and Orin on 7.2): Thor ``VDD_GPU ... VDD_CPU_SOC_MSS ... VIN_SYS_5V0 ... VIN ...``;
  JetPack 7.2 prints three numbers per rail, ``VIN 87426mW/43713mW/87426mW`` (wendylabsinc/WendyOS#1316),
  and an idle Thor's VDD_GPU can read below zero (``VDD_GPU -392mW/-392mW``, a sensor offset).

Every rail printed is read (``NC``, not connected, is skipped; a value below zero is kept as printed
and noted). The board total is the input rail where the board has one: ``VDD_IN`` (module input),
``POM_5V_IN`` (JetPack 4), ``VIN`` (Thor: the carrier's INA238 on the board input); the other rails are
parts of it and are never added to it. Boards without an input rail (AGX Xavier, AGX Orin) total the
sum of their separate supplies, leaving out the rails that are parts of another one
(``VDDQ_VDD2_1V8AO`` is fed from ``VIN_SYS_5V0``: NVIDIA's AGX Orin power model, r36.4).
"""

from __future__ import annotations

import re
from datetime import datetime

from bench.devices.energy.base import (
    EnergyMeter,
    MeterUnavailable,
    PowerLog,
    PowerLogUnusable,
    register_meter,
    whole_samples,
)

# NAME now/avg (JetPack 4-7.1), NAME now/avg/max (JetPack 7.2), each number with or without "mW"
TEGRA_RAIL = re.compile(r"(?<![\w@/])([A-Z][A-Z0-9_]*) (-?\d+)(?:mW)?/-?\d+(?:mW)?(?:/-?\d+(?:mW)?)?(?![\w/%@.])")
NOT_RAILS = {"RAM", "SWAP", "IRAM", "NC"}  # memory use, and INA3221 channels marked not connected
INPUT_RAILS = ("VDD_IN", "POM_5V_IN", "VIN")  # the board's input: every other rail is a part of it
PART_OF = {"VDDQ_VDD2_1V8AO": "VIN_SYS_5V0"}  # rails fed from another printed rail (never added to it)
STAMP = re.compile(r"^(\d\d-\d\d-\d{4} \d\d:\d\d:\d\d) ")


def parse_tegrastats(line: str) -> dict[str, float]:
    """{rail: watts} of one tegrastats line: the current value of every ``NAME now/avg`` (or
    ``now/avg/max``) rail it prints, in mW."""
    return {rail: int(now) / 1e3 for rail, now in TEGRA_RAIL.findall(line) if rail not in NOT_RAILS}


def board_total(rails) -> list[str]:
    """The rails whose sum is the board's power: the input rail alone where there is one (the other
    rails are parts of it), else every separate supply (AGX Xavier, AGX Orin), leaving out the rails
    fed from another printed rail (``PART_OF``)."""
    rails = list(rails)
    return next(([r] for r in INPUT_RAILS if r in rails), [r for r in rails if PART_OF.get(r) not in rails])


def parse_tegrastats_log(text: str, interval_s: float | None = None) -> PowerLog:
    """Energy of a saved tegrastats log: the trapezoid integral of each rail over samples
    ``interval_s`` apart (default: from the lines' time stamps where JetPack prints them, else
    tegrastats' default 1 s).

    A sample is a line with rails; one that lacks a rail the other lines print (a line cut mid-way,
    a garbled one) is dropped and named in the note, so that no interval is integrated over a rail
    missing at one of its ends (a dropped line inside the log is bridged by its neighbours, still
    ``interval_s`` per line apart). Time stamps have whole seconds: lines that share one (an
    interval under 1 s) cannot give the interval, and without ``interval_s`` that is refused; stamps
    that disagree with a given ``interval_s`` by more than 1 s over the log are noted.
    ``ToolOutputError`` when no line carries a rail, ``PowerLogUnusable`` when the log gives no
    energy (fewer than two whole samples, stamps that cannot give the interval, a total below zero).
    """
    from bench.parsers.tool_output import ToolOutputError

    lines, samples, stamps = [], [], {}  # line number, {rail: W} and time stamp of each sample
    for number, line in enumerate(text.splitlines(), start=1):
        if watts := parse_tegrastats(line):
            if found := STAMP.match(line.strip()):
                try:
                    stamps[len(samples)] = datetime.strptime(found.group(1), "%m-%d-%Y %H:%M:%S").timestamp()
                except ValueError:
                    pass
            lines.append(number)
            samples.append(watts)
    if not samples:
        raise ToolOutputError(
            0,
            "no tegrastats line with rails. Rails read: 'NAME now/avg' in mW (JetPack 4, no unit), "
            "'NAME nowmW/avgmW' (JetPack 5 to 7.1), 'NAME nowmW/avgmW/maxmW' (JetPack 7.2)",
        )
    rails, kept, dropped_note = whole_samples(samples, [f"line {n}" for n in lines], "a rail")
    if len(kept) < 2:
        raise PowerLogUnusable(
            0,
            f"{len(kept)} sample read (rails {', '.join(r for r in samples[kept[0]] if r in rails)})"
            + (f"; {dropped_note}" if dropped_note else "")
            + ": energy needs at least two samples, one interval apart",
        )
    how, notes = "", []
    stamped = sorted(stamps.items())
    if len(stamped) >= 2:
        (k0, t0), (k1, t1) = stamped[0], stamped[-1]
        same = next(((a, b) for a, b in zip(stamped, stamped[1:], strict=False) if b[1] <= a[1]), None)
        if interval_s:
            expected = interval_s * (k1 - k0)
            if abs((t1 - t0) - expected) > 1:
                notes.append(
                    f"the lines' time stamps span {t1 - t0:g} s from line {lines[k0]} to line {lines[k1]}, "
                    f"not the {expected:g} s that --interval-ms {interval_s * 1e3:g} gives: check --interval-ms"
                )
        elif same:
            (ka, ta), (kb, tb) = same
            why = "share one time stamp" if ta == tb else "have time stamps that go backwards"
            raise PowerLogUnusable(
                0,
                f"lines {lines[ka]} and {lines[kb]} {why} (whole seconds: more lines than seconds, or logs joined), "
                "so the stamps cannot give the sampling interval: give --interval-ms "
                "(the tegrastats --interval the log was recorded with)",
            )
        else:
            interval_s = (t1 - t0) / (k1 - k0)
            how = f"the lines' time stamps: {t1 - t0:g} s over {k1 - k0} intervals, whole seconds, so within 1 s"
    if interval_s:
        how = how or f"--interval-ms {interval_s * 1e3:g}"
    else:
        interval_s, how = 1.0, "tegrastats' default interval, 1 s"
    rails_j = dict.fromkeys(sorted(rails, key=list(samples[kept[0]]).index), 0.0)
    for a, b in zip(kept, kept[1:], strict=False):
        for rail in rails_j:
            rails_j[rail] += (samples[a][rail] + samples[b][rail]) / 2 * (b - a) * interval_s
    total = board_total(rails_j)
    below = {rail: min(samples[k][rail] for k in kept) for rail in rails_j}
    below = {rail: w for rail, w in below.items() if w < 0}
    if bad := [rail for rail in total if rail in below]:
        raise PowerLogUnusable(
            0, f"tegrastats printed the board total rail {bad[0]} below zero ({below[bad[0]]:g} W): no energy is stored"
        )
    note = f"tegrastats: {len(kept)} samples {interval_s:g} s apart ({how}); total = {' + '.join(total)}"
    if dropped_note:
        note += f"; {dropped_note}" + (
            "; the lines around each dropped one bridged" if kept[-1] - kept[0] >= len(kept) else ""
        )
    if extra := sorted({rail for watts in samples for rail in watts} - rails):
        note += f"; rails only some lines print, not read: {', '.join(extra)}"
    for extra_note in notes:
        note += f"; {extra_note}"
    if below:
        shown = ", ".join(f"{rail} down to {w:g} W" for rail, w in below.items())
        note += f"; read below zero, kept as printed (a sensor offset; not in the total): {shown}"
    ends = [lines[k] for k in range(len(samples)) if k < kept[0] or k > kept[-1]]
    return PowerLog(
        seconds=interval_s * (kept[-1] - kept[0]),
        samples=len(kept),
        rails_j=rails_j,
        total_rails=total,
        note=note,
        uncovered=f"{len(ends) * interval_s:g} s at the log's ends (line {', '.join(map(str, ends))} dropped)"
        if ends
        else "",
    )


@register_meter
class Ina3221Meter(EnergyMeter):
    name = "ina3221"
    sampled = True
    default_root = "/sys/bus/i2c/drivers/ina3221"

    def counter_spec(self) -> dict:
        labels = self.transport.glob(f"{self.root}/*/hwmon/hwmon*/in*_label")
        files = {}
        for label_path in sorted(labels):
            rail = (self.transport.read_text(label_path) or "").strip()
            if not rail or rail in NOT_RAILS or (self.rails and rail not in self.rails):
                continue
            folder, name = label_path.rsplit("/", 1)
            channel = name.removeprefix("in").removesuffix("_label")
            files[f"{rail}:mV"] = f"{folder}/in{channel}_input"
            files[f"{rail}:mA"] = f"{folder}/curr{channel}_input"
        if not files:
            raise MeterUnavailable(f"no INA3221 rails under {self.root} (wanted {', '.join(self.rails) or 'any'})")
        for path in files.values():
            if self.transport.read_text(path) is None:
                raise MeterUnavailable(f"{path} is not readable")
        return {"files": files, "period_s": 0.05}

    def total_rails(self, rails) -> list[str]:
        return board_total(rails)

    def watts(self, reading: dict) -> dict[str, float]:
        values, out = reading["values"], {}
        for key, text in values.items():
            rail, unit = key.rsplit(":", 1)
            if unit == "mV":
                out[rail] = int(text.split()[0]) * int(values[f"{rail}:mA"].split()[0]) / 1e6
        return out


@register_meter
class TegrastatsMeter(EnergyMeter):
    name = "tegrastats"
    sampled = True

    def counter_spec(self) -> dict:
        done = self.transport.run(["sh", "-c", "command -v tegrastats"], timeout=30)
        if done.returncode != 0:
            raise MeterUnavailable("no tegrastats on this device (not a Jetson?)")
        return {"stream": ["tegrastats", "--interval", "100"], "period_s": 0.1}

    def watts(self, reading: dict) -> dict[str, float]:
        return self.keep(parse_tegrastats(reading["values"]["line"]))

    def total_rails(self, rails) -> list[str]:
        return board_total(rails)
