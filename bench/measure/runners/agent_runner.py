"""The agent runner: this machine, Linux boards over ssh, Macs.

It copies the self-contained agent (``bench/measure/agent.py``) and the model file to the device
(once, by content) and runs the agent there with the device's Python; the agent returns every
per-inference latency and raw energy readings as JSON lines.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import bench
from bench.accelerators.coverage import assess_outputs
from bench.devices.energy.base import EnergyResult
from bench.devices.transports.base import Transport
from bench.digest import file_sha256
from bench.errors import one_line
from bench.measure import agent as agent_module
from bench.measure.runners.base import CellRunner, Execution, Workload, register_runner
from bench.measure.stats import check_statistics, finite_samples
from bench.measure.sustained import assess
from bench.parsers.tool_output import placement_delegates
from bench.runtimes.base import get_runtime

PROJECT_ROOT = Path(bench.__file__).resolve().parents[1]  # where `bench` and `models` import from
# what peak_memory_mb of an agent measurement is (a native tool's row says what the tool reported)
AGENT_MEMORY_MEANING = "peak resident set (VmHWM) of the agent process that loaded and ran the model (MB)"


def parse_events(stdout: str) -> dict[str, dict]:
    """The agent's events by name; repeated ones (``chunk``) also as a list under ``<name>s``."""
    events: dict = {}
    for line in stdout.splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue  # runtimes print banners on stdout (e.g. XNNPACK)
        if isinstance(event, dict) and "event" in event:
            events[event["event"]] = event
            events.setdefault(event["event"] + "s", []).append(event)
    return events


@register_runner
class AgentRunner(CellRunner):
    """The JSON-lines agent, run by this Python on this machine or by the device's Python elsewhere."""

    kind = "agent"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.local = self.transport.is_local
        self._copies: dict[Path, str] = {}

    def _agent(self) -> str:
        return self._on_device(Path(agent_module.__file__))

    def _on_device(self, source: Path) -> str:
        """Where a file of this project (the agent, a runtime plug-in) is on the device: itself
        here, else copied once by content."""
        if source not in self._copies:
            self._copies[source] = str(source) if self.local else self.transport.push_once(source, file_sha256(source))
        return self._copies[source]

    def execute(self, cell, workload: Workload, options: dict, cpus: list[int] | None, serving=None) -> Execution:
        p = self.protocol
        path = workload.path
        if not self.local and cell.format != "pytorch":
            path = self.transport.push_once(Path(workload.path), workload.sha256 or file_sha256(Path(workload.path)))
        job = {
            "runtime": cell.runtime,
            "runtime_file": self._on_device(get_runtime(cell.runtime).file),  # the plug-in the agent loads
            "artifact": path,
            "threads": cell.threads,
            "inputs": workload.inputs.to_list(),
            "warmup": p.warmup,
            "min_runs": p.min_runs,
            "min_time": p.min_time,
            "max_runs": p.max_runs,
            "max_time": p.max_time,
            "ci_target": p.ci_target,
            "idle_max": p.idle_max,
            "options": options,
            "cpus": cpus,
            "energy": self.energy_spec,
            "sustained_s": p.sustained_s,
            "chunk_s": p.chunk_s,
            "thermal_root": self.device.thermal_root,
            "python_path": [str(PROJECT_ROOT)] if self.local else [],
        }
        python = sys.executable if self.local else self.device.python
        done = self.transport.run([python, self._agent()], stdin=json.dumps(job), timeout=p.max_time + p.idle_max + 600)
        events = parse_events(done.stdout)
        tail = " | ".join(done.stderr.strip().splitlines()[-3:])
        if "error" in events:
            e = events["error"]
            return Execution(error=f"{e['stage']}: {e['message']}")
        if "done" not in events:
            code = done.returncode
            how = f"was killed by {signal_name(-code)}" if code < 0 else f"exited with code {code}"
            said = f": {one_line(tail, 300)}" if tail else " (nothing on stderr)"
            return Execution(error=f"the agent {how}{said}")
        try:  # a NaN or inf from the device is a failed cell, never a stored number
            samples = events["samples"]["ms"]
            finite_samples(samples)
            check_statistics({**events["init"], **events["first"], **events["done"]},
                             ("init_ms", "first_ms", "peak_rss_mb"))  # fmt: skip
        except ValueError as exc:
            return Execution(error=f"the agent reported a bad number: {exc}")
        series = [{k: c[k] for k in ("t", "n", "median_ms", "temp_c")} for c in events.get("chunks", [])]
        applied = dict(events["init"].get("options") or {}) or None
        source = {"method": "agent", "transport": self.transport.name, "memory_meaning": AGENT_MEMORY_MEANING}
        if applied and "placement" in applied:  # nodes per execution provider, as the session placed them
            source["placement"] = applied.pop("placement")
            source["delegates"] = placement_delegates(source["placement"])
        if applied and "output_check" in applied:  # the accelerator's outputs against the CPU's
            source["output_check"] = assess_outputs(applied.pop("output_check"))
        return Execution(
            sustained=assess(series) if p.sustained_s else None,
            samples=samples,
            init_ms=events["init"]["init_ms"],
            first_ms=events["first"]["first_ms"],
            peak_memory_mb=events["done"]["peak_rss_mb"],
            versions=events["init"].get("versions"),
            options=applied,
            contention=events["window"].get("contention"),
            cpus=events.get("hello", {}).get("cpus"),
            energy=self._energy(events),
            source=source,
        )

    def _energy(self, events: dict) -> EnergyResult | None:
        if self.meter is None:
            return None
        window, idle = events["window"].get("energy"), events.get("idle", {}).get("energy")
        if not window or not idle:
            return EnergyResult.unavailable(self.meter.name, "the agent returned no counter readings")
        return self.meter.energy_per_inference(window, idle, events["window"]["n"])

    @classmethod
    def probe(cls, device, transport: Transport) -> tuple[list[tuple[str, str]], bool]:
        """The device's Python and, per runtime the profile offers, the module that provides it
        (on this machine also whatever else the runtime needs); False when Python did not run."""
        from bench.runtimes.base import RUNTIMES

        python = sys.executable if transport.is_local else device.python
        check = (
            "import importlib.util as u, json, sys; "
            "print(json.dumps({m: u.find_spec(m) is not None for m in sys.argv[1:]}))"
        )
        modules = sorted({m for name in device.runtimes for m in RUNTIMES[name].modules})
        done = transport.run([python, "-c", check, *modules], timeout=60)
        try:
            found = json.loads(done.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            first = done.stderr.strip().splitlines()[0] if done.stderr.strip() else "unknown"
            return [("python", f"missing: `{python}` did not run ({first})")], False
        rows = [("python", python)]
        for name in device.runtimes:
            candidates = RUNTIMES[name].modules
            ok = [m for m in candidates if found.get(m)]
            reason = RUNTIMES[name].unavailable_reason() if transport.is_local else None
            if ok and not reason:
                rows.append((f"runtime {name}", f"ok ({ok[0]})"))
            else:
                missing = reason or f"no {' or '.join(candidates)} for {python}"
                rows.append((f"runtime {name}", f"missing: {missing}"))
        return rows, True


def signal_name(number: int) -> str:
    """``SIGKILL`` for 9; ``signal 64`` for a number this system does not name."""
    import signal

    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
