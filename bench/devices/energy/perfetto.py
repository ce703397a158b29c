"""Pixel power rails through a perfetto trace (data source ``android.power``, ``collect_power_rails``).

The trace's ``PowerRails`` packets hold rail descriptors (index, name) and energy samples (index,
``timestamp_ms`` since boot, ``energy`` in uWs since boot), sampled every poll period (>= 100 ms).
We read them with the perfetto Python package's own protobuf definitions and interpolate each
rail's energy linearly at the window boundaries, whose times come from the device's
``/proc/uptime`` (the same since-boot clock). Perfetto works without root on user builds, where
the ODPM sysfs files often do not.
"""

from __future__ import annotations

import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

from bench.devices.energy.base import EnergyMeter, MeterUnavailable, register_meter

CONFIG = """\
buffers { size_kb: 16384 fill_policy: RING_BUFFER }
data_sources {
  config {
    name: "android.power"
    android_power_config { battery_poll_ms: 100 collect_power_rails: true }
  }
}
duration_ms: 3600000
"""
POLL_S = 0.1  # battery_poll_ms above: rails are sampled this often
MARGIN_S = 3 * POLL_S  # waited after the start and before the stop, so samples bracket every window


def parse_power_rails(data: bytes) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """{rail: (seconds since boot, joules since boot)} of a perfetto trace."""
    from google.protobuf.message import DecodeError
    from perfetto.protos.perfetto.trace.perfetto_trace_pb2 import Trace

    trace = Trace()
    try:
        trace.ParseFromString(data)
    except DecodeError as exc:
        raise ValueError(f"not a perfetto trace: {exc}") from None
    names: dict[int, str] = {}
    points: dict[int, list[tuple[float, float]]] = {}
    for packet in trace.packet:
        if not packet.HasField("power_rails"):
            continue
        for rail in packet.power_rails.rail_descriptor:
            names[rail.index] = rail.rail_name
        for sample in packet.power_rails.energy_data:
            points.setdefault(sample.index, []).append((sample.timestamp_ms / 1e3, sample.energy / 1e6))
    out = {}
    for index, series in points.items():
        series.sort()
        t, j = np.asarray(series).T
        out[names.get(index, f"rail{index}")] = (t, j)
    return out


def uptime_s(text: str) -> float:
    return float(text.split()[0])


@register_meter
class PerfettoMeter(EnergyMeter):
    name = "perfetto"

    def __init__(self, transport=None, root: str | None = None, rails: tuple[str, ...] = ()):
        super().__init__(transport, root, rails)
        self.series: dict[str, tuple[np.ndarray, np.ndarray]] = {}
        self.key = ""

    def counter_spec(self) -> dict:
        if self.transport.run(["sh", "-c", "command -v perfetto"], timeout=30).returncode != 0:
            raise MeterUnavailable("no perfetto on this device (Android 9+ ships it)")
        if self.transport.read_text("/proc/uptime") is None:
            raise MeterUnavailable("cannot read /proc/uptime on the device")
        return {"files": {"uptime": "/proc/uptime"}, "session": True}

    def begin(self) -> None:
        """Start a detached tracing session for the measurement."""
        config = Path(tempfile.mkdtemp()) / "power.pbtxt"
        config.write_text(CONFIG)
        remote_config = self.transport.remote_path("perfetto-power.pbtxt")
        self.transport.push(config, remote_config)
        self.key = f"bench-{uuid.uuid4().hex[:8]}"
        self.trace_path = self.transport.remote_path(f"{self.key}.pftrace")
        done = self.transport.run(
            ["perfetto", "--txt", "-c", remote_config, "-o", self.trace_path, f"--detach={self.key}"], timeout=60
        )
        if done.returncode != 0:
            raise MeterUnavailable(f"perfetto did not start: {done.stderr.strip()[-200:]}")
        time.sleep(MARGIN_S)  # a sample lies before the first window even when the first poll is late

    def end(self) -> None:
        """Stop the session and load its rails.

        Waits ``MARGIN_S`` first: the rails are polled, not read at the stop, so without it the last
        window's end could lie after the last sample. A window the samples still do not bracket is
        refused in :meth:`joules`, never extrapolated.
        """
        time.sleep(MARGIN_S)
        self.transport.run(["perfetto", f"--attach={self.key}", "--stop"], timeout=60)
        local = Path(tempfile.mkdtemp()) / "power.pftrace"
        self.transport.pull(self.trace_path, local)
        self.transport.run(["rm", "-f", self.trace_path], timeout=30)
        self.series = parse_power_rails(local.read_bytes())
        if not self.series:
            raise MeterUnavailable("the perfetto trace has no power rails (does the device expose them?)")

    def time_of(self, reading: dict) -> float:
        return uptime_s(reading["values"]["uptime"])

    def joules(self, before: dict, after: dict) -> dict[str, float]:
        t0, t1 = self.time_of(before), self.time_of(after)
        out = {}
        for rail, (t, j) in self.series.items():
            if t[0] > t0 or t[-1] < t1:
                raise MeterUnavailable(f"rail {rail} has no samples around {t0:.3f}..{t1:.3f} s")
            out[rail] = float(np.interp(t1, t, j) - np.interp(t0, t, j))
        return self.keep(out)
