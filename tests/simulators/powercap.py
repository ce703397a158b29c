"""SIMULATION of a Linux powercap (RAPL) sysfs tree whose energy counter follows CPU load.

A background thread rewrites ``intel-rapl:0/energy_uj`` every ``period`` seconds. Power is
``idle_w + busy_w * busy`` where ``busy`` is the fraction of all CPUs busy since the last update
(from ``/proc/stat``), so a benchmark window really costs more energy than an idle window. The
counter wraps at ``max_energy_range_uj`` like the real one. Every update is logged with a
CLOCK_MONOTONIC timestamp (``time.perf_counter``, the clock the agent uses), so a test can
integrate the simulated truth over exactly the windows the meter reported.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np


def _cpu_times() -> tuple[int, int]:
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


class SimulatedPowercap:
    def __init__(
        self,
        root: Path,
        idle_w: float = 2.0,
        busy_w: float = 10.0,
        period: float = 0.002,
        max_range_uj: int = 60_000_000,
        start_uj: int = 59_000_000,
    ):
        self.root = root
        self.idle_w, self.busy_w, self.period = idle_w, busy_w, period
        self.max_range_uj = max_range_uj
        zone = root / "intel-rapl:0"
        zone.mkdir(parents=True)
        (zone / "name").write_text("package-0\n")
        (zone / "max_energy_range_uj").write_text(f"{max_range_uj}\n")
        sub = root / "intel-rapl:0:0"  # a subzone, which a meter must not add to its package
        sub.mkdir()
        (sub / "name").write_text("core\n")
        (sub / "energy_uj").write_text("0\n")
        (sub / "max_energy_range_uj").write_text(f"{max_range_uj}\n")
        self.energy_file = zone / "energy_uj"
        self.total_uj = float(start_uj)
        self.log_t: list[float] = []
        self.log_uj: list[float] = []
        self._write()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _write(self) -> None:
        tmp = self.energy_file.with_suffix(".tmp")
        tmp.write_text(f"{int(self.total_uj) % self.max_range_uj}\n")
        tmp.replace(self.energy_file)  # readers never see a half-written number
        self.log_t.append(time.perf_counter())
        self.log_uj.append(self.total_uj)

    smooth_s = 0.0  # > 0: load averaged over this long (a sensor's averaging), else since the last update

    def _run(self) -> None:
        history = [(time.perf_counter(), *_cpu_times())]
        last = history[0][0]
        while not self._stop.is_set():
            time.sleep(self.period)
            busy1, total1 = _cpu_times()
            now = time.perf_counter()
            history.append((now, busy1, total1))
            while len(history) > 2 and now - history[1][0] >= self.smooth_s:
                history.pop(0)
            _, busy0, total0 = history[0]
            busy = (busy1 - busy0) / (total1 - total0) if total1 > total0 else self._last_busy
            self._last_busy = busy
            self.power_w = self.idle_w + self.busy_w * busy
            self.total_uj += self.power_w * (now - last) * 1e6
            last = now
            self._write()

    _last_busy = 0.0
    power_w = 0.0

    def __enter__(self) -> SimulatedPowercap:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def energy_j(self, t0: float, t1: float) -> float:
        """Simulated truth: energy between two CLOCK_MONOTONIC instants."""
        uj = np.interp([t0, t1], self.log_t, self.log_uj)
        return float(uj[1] - uj[0]) / 1e6

    def net_of(self, energy: dict) -> tuple[float, float]:
        """Simulated truth for a meter's stored ``energy`` (its ``window_t`` and ``idle_t``): the
        window's energy less the idle window's mean power over it (J), and that idle power (W)."""
        (w0, w1), (i0, i1) = energy["window_t"], energy["idle_t"]
        idle_w = self.energy_j(i0, i1) / (i1 - i0)
        return self.energy_j(w0, w1) - idle_w * (w1 - w0), idle_w


def measured_net_energy(
    measure: Callable[[int], tuple[dict, SimulatedPowercap]], rails: list[str], attempts: int = 3
) -> tuple[dict, SimulatedPowercap, float]:
    """(row, simulator, true mJ per inference) of the first of ``attempts`` measurements
    (``measure(attempt)`` -> its stored row and the simulator it ran beside) whose simulated truth
    has net energy. The simulated rails follow the whole machine's load, so another test's burst in
    the idle window can leave none: the meter must then store none and say it was below zero, and
    the measurement is taken again. Each stored result's rails must be ``rails``."""
    for attempt in range(attempts):
        row, sim = measure(attempt)
        if row["energy_mj_per_inference"] is None:  # the meter saw no net energy and stored none
            assert "below zero" in row["energy_note"], row["energy_note"]
            continue
        assert list(row["energy"]["rails_j"]) == rails, row["energy"]
        truth_mj = sim.net_of(row["energy"])[0] / row["n_samples"] * 1e3
        if truth_mj > 0:
            return row, sim, truth_mj
    raise AssertionError(f"{attempts} idle windows busier than the measured ones")


class SimulatedIna3221(SimulatedPowercap):
    """SIMULATION of a Jetson INA3221 hwmon tree (``VDD_IN``: mV and mA files) following CPU load.

    The same load model as the powercap tree, exposed as instantaneous voltage and current the
    way the real driver does; ``energy_j`` is the truth a sampled meter should approach.
    """

    volts = 5.0
    smooth_s = 0.1  # the INA3221 averages its conversions; jiffy-level noise would alias otherwise

    def __init__(self, root: Path, **kwargs):
        hwmon = root / "1-0040/hwmon/hwmon3"
        hwmon.mkdir(parents=True)
        (hwmon / "in1_label").write_text("VDD_IN\n")
        (hwmon / "in1_input").write_text(f"{int(self.volts * 1000)}\n")
        (hwmon / "in2_label").write_text("VDD_SOC\n")  # a second rail, which the profile leaves out
        (hwmon / "in2_input").write_text("1000\n")
        (hwmon / "curr2_input").write_text("100\n")
        self.current_file = hwmon / "curr1_input"
        super().__init__(root / "powercap-unused", **kwargs)
        self.power_w = self.idle_w
        self._write()

    def _write(self) -> None:
        if not hasattr(self, "current_file"):
            return super()._write()
        tmp = self.current_file.with_suffix(".tmp")
        tmp.write_text(f"{int(self.power_w / self.volts * 1000)}\n")
        tmp.replace(self.current_file)
        self.log_t.append(time.perf_counter())
        self.log_uj.append(self.total_uj)
