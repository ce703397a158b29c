"""The energy meter interface, the idle-subtracted energy computation, and the registry.

A meter is first *probed* on the device (through its transport): it either returns a reading
spec or the reason it cannot measure there. Two kinds of meter exist:

- counter meters (RAPL, NVML, Pixel ODPM) expose energy accumulated since boot; the spec names
  files read right before and after the timed window and around an idle window;
- sampled meters (INA3221, tegrastats, Raspberry Pi PMIC, battery) expose instantaneous power;
  the spec names files or a command polled every ``period_s`` during both windows, and the
  energy is the trapezoid integral of the samples.

Readings come back raw (file text, command output) and only the meter parses them, so the
agent on a device stays free of meter code. ``energy_per_inference`` subtracts idle power:

    E_per_inference = (E_window - P_idle * t_window) / inferences
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections import Counter
from dataclasses import dataclass, field

from bench.parsers.tool_output import ToolOutputError


class MeterUnavailable(Exception):
    """The meter cannot measure on this device; the message says why."""


class PowerLogUnusable(ToolOutputError):
    """A saved power log reads, but gives no energy (one sample, time stamps that cannot give the
    interval, a total below zero): the message says why; it is not a line that failed to parse."""


def whole_samples(samples: list[dict[str, float]], names: list[str], kind: str) -> tuple[frozenset, list[int], str]:
    """The samples of a saved power log that are whole: ``(rails, kept, note)``.

    ``samples``: each sample's ``{rail: W}``; ``names``: how the note names each sample (``line 4``);
    ``kind``: what a missing entry is called (``a rail``). A whole sample prints the rails most
    samples print (the larger set on a tie); one that lacks any of them (the log cut mid-sample or
    mid-line) is not kept, and ``note`` (empty when all are whole) says how many and which, so no
    time is counted without its power."""
    sets = Counter(frozenset(watts) for watts in samples if watts)
    rails = max(sets, key=lambda found: (sets[found], len(found)))
    kept = [k for k, watts in enumerate(samples) if watts.keys() >= rails]
    dropped = [
        f"{names[k]} (lacks {', '.join(sorted(rails - watts.keys()))})"
        for k, watts in enumerate(samples)
        if not watts.keys() >= rails
    ]
    if not dropped:
        return rails, kept, ""
    shown = ", ".join(dropped[:5]) + (f" and {len(dropped) - 5} more" if len(dropped) > 5 else "")
    return (
        rails,
        kept,
        f"{len(dropped)} of {len(samples)} samples dropped, {kind} missing (cut or garbled): {shown}",
    )


# A counter meter's idle and window readings of the same power differ by its resolution: a window
# up to this share below idle power is a net energy of zero within that error, kept as measured (a
# small negative value included), not refused. Sampled meters add their sampling error
# (:meth:`EnergyMeter.sampling_error`).
METER_NOISE = 0.01


def negative_energy(window_j: float, window_s: float, idle_w: float, tolerance: float = 0.0) -> str | None:
    """Why ``window_j`` J over ``window_s`` s minus ``idle_w`` W of idle power is no energy at all, or
    None when it is one: a value that is not finite, a window of no time, idle power above the
    window's mean power by more than ``tolerance`` of it (the net energy would be below zero: a
    user-given idle power gets no tolerance, a meter's own readings :data:`METER_NOISE`), or a
    negative total."""
    if not all(math.isfinite(x) for x in (window_j, window_s, idle_w)) or window_s <= 0:
        return f"not a measurable window: {window_j} J over {window_s} s, idle {idle_w} W"
    mean_w = window_j / window_s
    if idle_w > mean_w * (1 + tolerance) or window_j < 0:
        return (
            f"idle power {idle_w:.3f} W is above the window's mean power {mean_w:.3f} W "
            f"({window_j:.3f} J over {window_s:.2f} s): the energy net of idle power would be "
            f"{window_j - idle_w * window_s:.3f} J over the whole window, below zero"
        )
    return None


@dataclass
class EnergyResult:
    """Energy of one measurement, or why there is none (``mj_per_inference`` is None then)."""

    meter: str
    mj_per_inference: float | None
    note: str
    window_j: float | None = None
    window_s: float | None = None
    idle_w: float | None = None
    rails_j: dict[str, float] = field(default_factory=dict)
    rails_mj_per_inference: dict[str, float] = field(default_factory=dict)
    window_t: tuple[float, float] | None = None  # times of the readings (the meter's clock)
    idle_t: tuple[float, float] | None = None
    total_rails: list[str] = field(default_factory=list)  # the rails summed as the total (others overlap them)

    @classmethod
    def unavailable(cls, meter: str, reason: str) -> EnergyResult:
        return cls(meter=meter, mj_per_inference=None, note=f"unavailable: {reason}")


@dataclass
class PowerLog:
    """Energy of a power log saved during a manual run (``bench ingest``): total joules over the
    log's span, per rail too, and which rails make the total (the others are parts of it).
    ``uncovered``: what part of the logged time has no power reading in ``seconds`` (samples
    dropped at the log's ends, or a powermetrics sample's own elapsed time), empty when none."""

    seconds: float
    samples: int
    rails_j: dict[str, float] = field(default_factory=dict)
    total_rails: list[str] = field(default_factory=list)
    note: str = ""
    uncovered: str = ""

    @property
    def joules(self) -> float:
        """Energy over the log in J: the sum of the total rails (never their parts as well)."""
        return sum(self.rails_j[r] for r in self.total_rails)

    @property
    def mean_w(self) -> float:
        return self.joules / self.seconds if self.seconds > 0 else 0.0


class EnergyMeter(ABC):
    name: str
    sampled = False  # True: instantaneous power, integrated over samples
    default_root = "/"
    label = ""  # shown next to results, e.g. "coarse: whole-device battery"

    def __init__(self, transport=None, root: str | None = None, rails: tuple[str, ...] = ()):
        """``transport``: how the device is reached (None = this machine); ``root``: the sysfs root
        the meter reads (tests point it at a simulated tree); ``rails``: keep only these rails."""
        if transport is None:
            from bench.devices.transports.local import LocalTransport

            transport = LocalTransport(None)
        self.transport = transport
        self.root = (root or self.default_root).rstrip("/") or "/"
        self.rails = tuple(rails)

    @abstractmethod
    def counter_spec(self) -> dict:
        """What to read: ``{"files": {name: path}}`` and/or ``{"command": [...]}`` /
        ``{"stream": [...]}`` with ``"period_s"`` for sampled meters; raise MeterUnavailable."""

    def begin(self) -> None:  # noqa: B027 - optional hook
        """Before a measurement's readings (e.g. start a trace); most meters need nothing."""

    def end(self) -> None:  # noqa: B027 - optional hook
        """After a measurement's last reading (e.g. stop a trace and load it)."""

    def joules(self, before: dict, after: dict) -> dict[str, float]:
        """Counter meters: energy per rail between two raw readings."""
        raise NotImplementedError

    def watts(self, reading: dict) -> dict[str, float]:
        """Sampled meters: power per rail in one raw reading."""
        raise NotImplementedError

    def time_of(self, reading: dict) -> float:
        """Seconds on the meter's clock; the reader's timestamp unless the reading carries its own."""
        return reading["t"]

    def window_joules(self, window: dict) -> dict[str, float]:
        if not self.sampled:
            return self.joules(window["before"], window["after"])
        readings = [window["before"], *window.get("samples", []), window["after"]]
        points = sorted(
            ((self.time_of(r), self.watts(r)) for r in readings if r and r.get("values")), key=lambda p: p[0]
        )
        series: dict[str, list[tuple[float, float]]] = {}
        for t, watts in points:  # each rail over the samples that carry it (tools may print rails on separate lines)
            for rail, w in watts.items():
                series.setdefault(rail, []).append((t, w))
        out: dict[str, float] = {}
        for rail, values in series.items():
            if len(values) >= 2:
                out[rail] = sum(
                    (w0 + w1) / 2 * (t1 - t0) for (t0, w0), (t1, w1) in zip(values, values[1:], strict=False)
                )
        if not out:
            raise MeterUnavailable(f"{self.name}: fewer than two power samples in the window")
        return out

    def sampling_error(self, window: dict, window_s: float) -> float:
        """The share of a window's energy a sampled meter can miss: its trapezoids span the first to
        the last sample, up to one sampling period short at each end (2 x period / window); 0 for
        counter meters and for windows without two samples."""
        if not self.sampled or window_s <= 0:
            return 0.0
        readings = [window.get("before"), *window.get("samples", []), window.get("after")]
        times = sorted(self.time_of(r) for r in readings if r and r.get("values"))
        if len(times) < 2:
            return 0.0
        return min(1.0, 2 * (times[-1] - times[0]) / (len(times) - 1) / window_s)

    def total_rails(self, rails) -> list[str]:
        """The rails whose sum is the measured total; every rail by default. Meters whose rails
        overlap (a board input rail and the rails it feeds) name the input rail alone."""
        return list(rails)

    def keep(self, rails: dict[str, float]) -> dict[str, float]:
        """Only the profile's rails, when it names some."""
        return {r: v for r, v in rails.items() if not self.rails or r in self.rails}

    def _span(self, window: dict) -> float:
        return self.time_of(window["after"]) - self.time_of(window["before"])

    def _net(self, window: dict, idle_rails_w: dict[str, float]) -> tuple[dict[str, float], dict[str, float], float]:
        """(gross J per rail, idle-subtracted J per rail, seconds) of one window."""
        seconds = self._span(window)
        gross = self.window_joules(window)
        return gross, {r: j - idle_rails_w.get(r, 0.0) * seconds for r, j in gross.items()}, seconds

    def _idle_watts(self, idle: dict) -> dict[str, float]:
        idle_s = self._span(idle)
        return {r: j / idle_s for r, j in self.window_joules(idle).items()} if idle_s > 0 else {}

    def energy_per_inference(self, window: dict, idle: dict, inferences: int) -> EnergyResult:
        """Energy of one inference: (window energy - idle power x window time) / inferences."""
        try:
            idle_w = self._idle_watts(idle)
            gross, net, window_s = self._net(window, idle_w)
        except (MeterUnavailable, KeyError, ValueError, IndexError, TypeError) as exc:
            return EnergyResult.unavailable(self.name, f"unreadable meter output ({type(exc).__name__}: {exc})")
        return self._result(gross, {r: j / inferences for r, j in net.items()}, window_s, idle_w, window, idle)

    def differential_energy(self, short: dict, n_short: int, long: dict, n_long: int, idle: dict) -> EnergyResult:
        """Energy of one inference from two runs that differ only in their number of inferences
        (what loading and warm-up cost cancels): (net_long - net_short) / (n_long - n_short)."""
        if n_long <= n_short:
            return EnergyResult.unavailable(
                self.name, f"the full run had no more inferences ({n_long}) than the short one"
            )
        try:
            idle_w = self._idle_watts(idle)
            _, net_short, _ = self._net(short, idle_w)
            gross, net_long, window_s = self._net(long, idle_w)
        except (MeterUnavailable, KeyError, ValueError, IndexError, TypeError) as exc:
            return EnergyResult.unavailable(self.name, f"unreadable meter output ({type(exc).__name__}: {exc})")
        per = {r: (net_long[r] - net_short.get(r, 0.0)) / (n_long - n_short) for r in net_long}
        extra_j = sum(per.get(r, 0.0) for r in self.total_rails(gross)) * (n_long - n_short)
        result = self._result(gross, per, window_s, idle_w, long, idle, extra_j)
        result.note += f"; differential of {n_long} and {n_short} inferences (loading and warm-up cancelled)"
        return result

    def _result(self, gross, per_inference, window_s, idle_w, window, idle, extra_j=None) -> EnergyResult:
        """The stored result; unavailable, with the numbers, when the net energy is below zero by more
        than the meter's noise (:data:`METER_NOISE`); ``extra_j``: a differential's energy of the
        long run's extra inferences (J, total rails), refused when below zero beyond that noise."""
        total = self.total_rails(gross)
        window_j, idle_total = sum(gross[r] for r in total), sum(idle_w.get(r, 0.0) for r in total)
        problem = negative_energy(window_j, window_s, idle_total, METER_NOISE + self.sampling_error(window, window_s))
        if problem is None and extra_j is not None and extra_j < -METER_NOISE * idle_total * window_s:
            problem = "the longer run used less energy than the shorter one (net energy below zero)"
        if problem:
            return EnergyResult.unavailable(self.name, problem)
        label = f" [{self.label}]" if self.label else ""
        parts = (
            f"; total = {' + '.join(total)} (other rails kept per rail, not added)" if len(total) < len(gross) else ""
        )
        return EnergyResult(
            meter=self.name,
            mj_per_inference=sum(per_inference.get(r, 0.0) for r in total) * 1e3,
            note=f"{self.name}{label}: window {window_j:.3f} J over {window_s:.2f} s, "
            f"idle {idle_total:.2f} W subtracted{parts}",
            total_rails=total,
            window_j=window_j,
            window_s=window_s,
            idle_w=idle_total,
            rails_j=gross,
            rails_mj_per_inference={r: j * 1e3 for r, j in per_inference.items()},
            window_t=(self.time_of(window["before"]), self.time_of(window["after"])),
            idle_t=(self.time_of(idle["before"]), self.time_of(idle["after"])),
        )


_METERS: dict[str, type[EnergyMeter]] = {}
HOST_METERS = ("rapl", "nvml")  # what "auto" tries on a Linux host, in this order


def register_meter(cls: type[EnergyMeter]) -> type[EnergyMeter]:
    _METERS[cls.name] = cls
    return cls


def meters() -> dict[str, type[EnergyMeter]]:
    from bench.devices.energy import battery, jetson, macos, nvml, odpm, perfetto, rapl, rpi  # noqa: F401  (registration)

    return dict(_METERS)


def host_meters() -> list[type[EnergyMeter]]:
    """Meters tried for ``meter = "auto"``, in order of preference."""
    known = meters()
    return [known[name] for name in HOST_METERS]


def probe_meter(
    choice: str, transport=None, root: str | None = None, rails: tuple[str, ...] = ()
) -> tuple[EnergyMeter | None, dict | None, str]:
    """The profile's meter (or, for "auto", the first host meter that works) with its spec,
    else None and every reason. "none" turns energy off."""
    if choice == "none":
        return None, None, 'energy measurement is off in the device profile (meter = "none")'
    known = meters()
    if choice != "auto" and choice not in known:
        raise MeterUnavailable(f"unknown energy meter '{choice}'; known: auto, none, {', '.join(known)}")
    candidates = host_meters() if choice == "auto" else [known[choice]]
    reasons = []
    for meter in (cls(transport, root, rails) for cls in candidates):
        try:
            return meter, meter.counter_spec(), meter.name
        except MeterUnavailable as exc:
            reasons.append(str(exc))
    return None, None, "; ".join(reasons)


def probe_host_meter(rapl_root: str | None = None) -> tuple[EnergyMeter | None, dict | None, str]:
    """The first host meter that works on this machine."""
    return probe_meter("auto", None, rapl_root)
