"""``bench ingest``: store results measured elsewhere (a manual phone run's benchmark_model log,
an onnxruntime_perf_test log, a Monsoon CSV) as measurements, so they show up in results,
reports and compare like any other. Each is marked as ingested and says what the file did and
did not contain; a file that cannot be parsed is an error naming the failing line.
"""

from __future__ import annotations

import codecs
import re
import time
from dataclasses import replace
from pathlib import Path

from bench.devices.energy.base import PowerLogUnusable, negative_energy
from bench.devices.energy.jetson import parse_tegrastats_log
from bench.devices.energy.macos import parse_powermetrics_log
from bench.devices.energy.monsoon import parse_monsoon_csv
from bench.digest import file_sha256
from bench.errors import BenchError, one_line
from bench.measure.measurement import Cell, Measurement
from bench.measure.runners.tool_results import tool_source, tool_stats
from bench.measure.stats import LatencyStats
from bench.parsers.tool_output import PARSERS, ToolFailed, ToolOutputError, ToolResult
from bench.results.store import Store
from bench.runtimes.base import DEFAULT_RUNTIME, get_runtime

# power logs recorded during a manual run: energy only, per inference with --inferences
POWER_LOGS = {"monsoon": parse_monsoon_csv, "tegrastats": parse_tegrastats_log, "powermetrics": parse_powermetrics_log}
TOOLS = (*PARSERS, *POWER_LOGS)
TOOL_FORMAT = {"benchmark_model": "tflite", "onnxruntime_perf_test": "onnx"}
# what a complete log of each tool reports, to say what an ingested one lacked
EXPECTED = {
    "benchmark_model": [
        "count",
        "avg",
        "std",
        "min",
        "max",
        "median",
        "p5",
        "p95",
        "warmup",
        "init",
        "first",
        "peak_memory",
        "delegation",
    ],  # fmt: skip
    "onnxruntime_perf_test": [
        "mean",
        "count",
        "init",
        "first",
        "peak_memory",
        "min",
        "max",
        "median",
        "p90",
        "p95",
        "p99",
        "delegation",
    ],  # fmt: skip
}


def ingest(
    store: Store | str | None,
    file: str,
    tool: str,
    device: str,
    model: str,
    fmt: str | None = None,
    runtime: str | None = None,
    precision: str = "fp32",
    threads: int | None = None,
    inferences: int | None = None,
    idle_w: float | None = None,
    run: int | None = None,
    interval_ms: float | None = None,
    again: bool = False,
    accelerator: str | None = None,
    require_full: bool = False,
) -> dict:
    """Store the result in ``file`` (a ``tool``'s output) as one measurement of ``model`` on ``device``,
    in a run of its own; returns the stored row (``Measurement.to_row``, with ``id`` and ``run_id``).
    ``store``: a Store, or its path / URL (opened, and made if missing, only once the file is read).

    Raises BenchError (one line), with nothing stored, for an unknown tool, format, precision or
    runtime, a format other than the tool's (a benchmark_model log is of a TFLite model), a bad device
    name, an option the tool's file has no use for (``inferences`` / ``idle_w`` with a latency log,
    ``run`` with a power log, ``interval_ms`` with anything but tegrastats), an unreadable file or one
    that is not UTF-8 (UTF-16 / UTF-32 with a byte-order mark are read), a file that does not parse
    as the tool's output (naming the failing line), a power log that gives no energy (one sample,
    tegrastats stamps that cannot give the interval), or one whose energy after idle subtraction is
    not above zero, or a file whose content the store already holds as an ingested run (unless
    ``again``: its numbers would be pooled twice in reports and compare).

    ``accelerator``: where the graph ran (an accelerator spec, e.g. ``gpu``, ``nnapi:google-edgetpu``),
    checked against the delegation the tool log reports exactly as a measured cell is
    (:func:`bench.accelerators.coverage.judge`): BenchError, nothing stored, when the log shows that
    accelerator took no node, or shows another accelerator running nodes of a run given as ``cpu``.
    None: read from the log (the accelerator whose delegate took nodes; the CPU when none did, with
    XNNPACK, benchmark_model's default CPU delegate, counted as the CPU). A log whose only delegate
    took no node is refused unless ``accelerator`` is ``cpu`` (its latency is the CPU's, measured
    under a delegate's name). Power logs do not say: ``accelerator`` as given, else the CPU.
    ``require_full``: a partially delegated log is refused, as ``--require-full-delegation`` fails it.

    ``threads``: the CPU threads of the run; a tool log that states them (benchmark_model's
    ``Num threads: [N]``, perf_test's ``intra_op_num_threads``) gives them when ``threads`` is None and
    must agree with it otherwise (BenchError naming both); else 1, and the row's source says so.
    """
    if tool not in TOOLS:
        raise BenchError(f"unknown tool '{tool}'; choose from: {', '.join(TOOLS)}")
    if not re.fullmatch(r"[\w.\-]{1,64}", device) or set(device) == {"."}:
        shown = one_line(repr(device), 80)  # quoted by repr: a leading space shows
        raise BenchError(f"--device {shown}: 1 to 64 letters, digits, '.', '_' or '-' (not only dots)")
    from bench.devices.config import device_paths

    _check_spelling("--device", device, list(device_paths()), "profiled device")
    if not model.strip() or not model.isprintable() or len(model) > 200:
        raise BenchError("--model: a name of 1 to 200 printable characters (no newline or control character)")
    from export.reference import is_model_file, is_user_reference

    if not (is_model_file(model) or is_user_reference(model)):
        import models as zoo

        _check_spelling("--model", model, zoo.list_models(), "zoo model")
    if tool in POWER_LOGS and run is not None:
        raise BenchError(
            f"--run applies to tool logs holding several runs (--tool {', '.join(PARSERS)}), not to a {tool} power log"
        )
    for option, value in (("--inferences", inferences), ("--idle-w", idle_w)):
        if tool not in POWER_LOGS and value is not None:
            raise BenchError(
                f"{option} applies to power logs (--tool {', '.join(POWER_LOGS)}), "
                f"not to a {tool} log (it has no energy)"
            )
    if interval_ms is not None and tool != "tegrastats":
        raise BenchError(f"--interval-ms applies to tegrastats logs (their sampling interval), not to a {tool} log")
    if require_full and tool in POWER_LOGS:
        raise BenchError(
            f"--require-full-delegation applies to tool logs, which report delegation, not to a {tool} log"
        )
    path = Path(file)
    text = read_log(path, file)
    if fmt and tool in TOOL_FORMAT and fmt != TOOL_FORMAT[tool]:
        raise BenchError(f"--format {fmt[:40]}: a {tool} log is of a {TOOL_FORMAT[tool]} model")
    fmt = fmt or TOOL_FORMAT.get(tool)
    if fmt is None:
        raise BenchError(f"--format is needed with --tool {tool} (the format of the model that was measured)")
    if fmt not in DEFAULT_RUNTIME:
        raise BenchError(f"unknown format '{fmt}'; choose from: {', '.join(DEFAULT_RUNTIME)}")
    runtime = runtime or DEFAULT_RUNTIME[fmt]
    if get_runtime(runtime).format != fmt:
        raise BenchError(f"runtime {runtime} runs {get_runtime(runtime).format}, not {fmt}")
    if fmt != "pytorch":
        from export.base import check_combination

        check_combination(fmt, precision)
    if accelerator is not None:
        from bench.accelerators.base import normal_spec, serving_for

        accelerator = normal_spec(accelerator)  # " gpu" is gpu: one accelerator, one cell
        serving_for(accelerator, runtime)  # an unknown accelerator, or one this runtime does not run
        _check_device_lists(device, accelerator)
    source = {
        "method": "ingested",
        "tool": tool,
        "file": str(path.resolve()),
        "file_sha256": file_sha256(path),
        "content_sha256": content_digest(text, run),
    }
    try:
        if tool == "tegrastats":
            measured = _power_log(
                parse_tegrastats_log(text, interval_ms and interval_ms / 1e3), tool, inferences, idle_w, source
            )
        elif tool in POWER_LOGS:
            measured = _power_log(POWER_LOGS[tool](text), tool, inferences, idle_w, source)
        else:
            measured = _tool(PARSERS[tool](text, run=run), source)
    except PowerLogUnusable as exc:  # the file reads, but gives no energy: not a parse failure
        raise BenchError(f"{file}: {exc.reason}") from None
    except ToolFailed as exc:
        where = f"{file}:{exc.line}" if exc.line else file
        raise BenchError(f"{where}: the {tool} run in this file failed: {exc.reason}") from None
    except ToolOutputError as exc:
        where = f"{file}:{exc.line}" if exc.line else file
        raise BenchError(f"{where}: cannot parse as {tool} output: {exc.reason}") from None
    stated = measured.pop("threads", None)
    if stated is not None and threads is not None and stated != threads:
        raise BenchError(f"--threads {threads}, but the {tool} log says the run used {stated} threads: nothing stored")
    if threads is None and stated is None:
        source.setdefault("notes", []).append("threads: not in the log and --threads not given; stored as 1")
    threads = threads or stated or 1
    spec, coverage = _accelerator(accelerator, tool, runtime, source, require_full, file)
    if spec != accelerator:  # read from the log (or named more precisely by it)
        _check_device_lists(device, spec)
    from bench.zoo import macs_of

    now = time.time()
    cell = Cell(model, fmt, precision, runtime, threads, device=device, accelerator=spec)
    measurement = Measurement(
        cell,
        "ok",
        settings={"ingested": True},
        source=source,
        coverage=coverage,
        macs=macs_of(model),
        started_at=now,
        ended_at=now,
        **measured,
    )
    from bench.measure.environment import fingerprint

    environment = {**fingerprint(), "ingested_from": str(path.resolve())}
    if not isinstance(store, Store):
        store = Store(store)
    if not again and (before := store.ingested_as(source["content_sha256"], None if run else source["file_sha256"])):
        what = f"run {run} of {file}" if run else file
        raise BenchError(
            f"{what} was already ingested (run {before[-1]}, same content): nothing stored, so its numbers are not "
            "counted twice; pass --again to store it once more"
        )
    run_id = store.start_run(device, environment, [cell.plan_entry()], f"ingest {tool} {file}")
    measurement = replace(measurement, run_id=run_id)
    measurement = store.stored(measurement)
    store.finish_run(run_id, "finished")
    return measurement.to_row()


# byte-order marks, longest first (the UTF-32 LE mark begins with the UTF-16 LE one)
BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)


def content_digest(text: str, run: int | None = None) -> str:
    """sha256 (hex) of a log's text as read (:func:`read_log`: its encoding and byte-order mark
    already gone) split into lines as the parsers split it (``str.splitlines``: CRLF, CR and the
    other Unicode line ends), trailing blanks of each line and blank lines at the end left out, and
    the run picked (``--run``) appended: one log saved by another editor, as UTF-16 or with a final
    newline added has the same digest; another run of the same file does not."""
    import hashlib

    lines = [line.rstrip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    picked = f"\n--run {run}" if run is not None else ""
    return hashlib.sha256(("\n".join(lines) + picked).encode()).hexdigest()


def read_log(path: Path, name: str) -> str:
    """The text of a tool or power log: UTF-8, or UTF-8 / UTF-16 / UTF-32 with a byte-order mark
    (PowerShell's ``>`` writes UTF-16 LE with one). Anything else is a one-line BenchError naming
    the first byte that is not UTF-8; no other encoding is guessed."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise BenchError(f"cannot read {name}: {exc.strerror or exc}") from None
    encoding = next((enc for bom, enc in BOMS if data.startswith(bom)), "utf-8")
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise BenchError(
            f"{name} is not {encoding.upper().removesuffix('-SIG')} text (byte 0x{data[exc.start]:02x} at offset "
            f"{exc.start}); save the log as UTF-8"
        ) from None
    if text.count("\x00") * 4 >= len(text) > 0:  # every other byte zero: UTF-16 or UTF-32 text
        raise BenchError(
            f"{name} holds NUL bytes (first at character {text.index(chr(0))}: UTF-16 without a byte-order mark?); "
            "save the log as UTF-8"
        )
    return text


def _check_spelling(option: str, value: str, known: list[str], what: str) -> None:
    """BenchError when ``value`` (of ``option``) is one of the ``known`` names in other letter case
    ("Pixel6" for the profiled device "pixel6"), or is written in compatibility characters that
    NFKC folds to others (full-width "ｐｉｘｅｌ６"): its rows would form cells of their own, apart
    from the name's, and miss what the name brings (the device's checks, the model's MACs)."""
    import unicodedata

    if value in known:
        return
    if (plain := unicodedata.normalize("NFKC", value)) != value:
        raise BenchError(
            f"{option} {value!r} is written in compatibility characters ({plain!r} in plain ones): type it in "
            "plain characters, so that its rows pool with that name's"
        )
    folded = {name.casefold(): name for name in known}
    if value.casefold() in folded:
        known_as = folded[value.casefold()]
        raise BenchError(
            f"{option} '{value}': the {what} is '{known_as}' (names are case-sensitive; "
            f"rows under '{value}' would not pool with its rows)"
        )


def _check_device_lists(device: str, spec: str) -> None:
    """BenchError when ``device`` is a profiled device whose profile does not list accelerator ``spec``
    (a device with no profile here, or with one that does not load, is taken at its word: an
    ingested row's device is a label)."""
    from bench.devices.config import get_device
    from bench.measure.harness import check_device_has

    if spec == "cpu":
        return
    try:
        profile = get_device(device)
    except BenchError:
        return
    check_device_has(profile, spec)


# delegates that run their nodes on the CPU (TensorFlow's own kernels for Select TF ops)
CPU_DELEGATES = {"TfLiteFlexDelegate"}


def _took(entry: dict) -> bool:
    """Whether a delegate entry ran any node."""
    return entry.get("execution") != "none" and entry.get("replaced") != 0


def _accelerator(
    given: str | None, tool: str, runtime: str, source: dict, require_full: bool, file: str
) -> tuple[str, float | None]:
    """The ingested cell's accelerator spec and coverage (share of nodes it ran; None: the CPU or not
    reported), its delegation record added to ``source`` as a measured cell's is; BenchError with
    nothing stored as :func:`ingest` describes."""
    from bench.accelerators.base import DEFAULT, accelerators, serving_for, split_spec
    from bench.accelerators.coverage import judge

    notes = source.setdefault("notes", [])
    if tool in POWER_LOGS:
        said = f"{given}: as given" if given else f"{DEFAULT} (--accelerator not given)"
        notes.append(f"accelerator {said}; a power log does not say where the graph ran")
        return given or DEFAULT, None
    names = {s.reports_as: n for n, a in accelerators().items() for r, s in a.serves.items() if r == runtime}
    names.pop(None, None)
    delegates = source.get("delegates") or []
    entries = [d for d in delegates if d.get("delegate") in names]
    other = [d["delegate"] for d in delegates if d.get("delegate") not in {*names, *CPU_DELEGATES} and _took(d)]
    if other:
        raise BenchError(
            f"{file}: the log shows {one_line(str(other[0]), 60)} running nodes of the graph, which bench has no "
            f"accelerator for on {runtime}: nothing stored (it is not a CPU run)"
        )
    took = [d for d in entries if _took(d)]
    name = split_spec(given)[0] if given else None
    # benchmark_model applies XNNPACK, its default CPU delegate, unasked: part of the run's CPU side unless named
    cpu_too = set() if name == "xnnpack" else {"xnnpack"}
    ran = list(dict.fromkeys(names[d["delegate"]] for d in took if names[d["delegate"]] not in cpu_too))
    refused = [names[d["delegate"]] for d in entries if d not in took and names[d["delegate"]] not in cpu_too]
    said = "; ".join(one_line(e, 160) for e in (source.get("delegate_errors") or [])[:2])
    failed = f"the log's {refused[0]} delegate took no node" if refused else "a delegate failed in the log"
    others = [r for r in ran if r != name]
    if name and name != DEFAULT and others:
        raise BenchError(
            f"{file}: --accelerator {given}, but the log shows the {' and '.join(others)} delegate running nodes of "
            "the graph; nothing stored"
        )
    if len(ran) > 1:
        raise BenchError(
            f"{file}: the log shows delegation to {' and '.join(ran)}: one accelerator per measurement; nothing stored"
        )
    if given is None:
        if not ran and (refused or said):
            raise BenchError(
                f"{file}: {failed}{f' ({said})' if said else ''}, so its latency is the CPU's: pass "
                "--accelerator cpu to store it as a CPU run; nothing stored"
            )
        given = name = ran[0] if ran else DEFAULT
    named = source.get("nnapi_accelerator")  # the NNAPI device the tool was asked for
    if name == "nnapi" and named:
        variant = split_spec(given)[1]
        if variant and variant != named:
            raise BenchError(
                f"{file}: --accelerator {given}, but the log's NNAPI accelerator name is {one_line(named, 60)}; "
                "nothing stored"
            )
        given = _nnapi_spec(named, file)
    unnamed = name == "nnapi" and not named and split_spec(given)[1]  # the user's NNAPI device, not the log's
    if unnamed:
        notes.append(
            f"accelerator {given}: the NNAPI device '{unnamed}' as given, not checked (the log does not name it: "
            "benchmark_model prints its --nnapi_accelerator_name parameter line)"
        )
    if name == DEFAULT:
        if ran:
            raise BenchError(
                f"{file}: --accelerator cpu, but the log shows the {ran[0]} delegate ran nodes of the graph: "
                f"pass --accelerator {ran[0]}; nothing stored"
            )
        if refused or said:
            notes.append(f"stored as the CPU run it was: {failed} ({said or 'no reason'})")
        elif tool == "onnxruntime_perf_test" and "delegation" not in (source.get("found") or []):
            notes.append("accelerator cpu: the log has no node placement (perf_test prints it with -v)")
        return DEFAULT, None
    serving = serving_for(given, runtime)
    if tool == "onnxruntime_perf_test" and "delegation" not in (source.get("found") or []):
        # perf_test prints the node placement only with -v: the user's word, marked unchecked
        if require_full:
            raise BenchError(
                f"{file}: --require-full-delegation cannot be checked: the log has no node placement (run perf_test "
                "with -v); nothing stored"
            )
        source["accelerator"] = {"delegate": serving.reports_as, "checked": False}
        notes.append(f"accelerator {given}: as given, not checked (the log has no node placement; perf_test -v)")
        return given, None
    verdict = judge(given, serving, source, require_full)
    if verdict.error:
        raise BenchError(f"{file}: {verdict.error}; nothing stored")
    if verdict.record:
        source["accelerator"] = {**verdict.record, **({"device_checked": False} if unnamed else {})}
    return given, verdict.coverage


def _nnapi_spec(named: str, file: str) -> str:
    """``nnapi:NAME`` for the NNAPI device a log names; BenchError for a name no spec can hold."""
    from bench.accelerators.base import normal_spec

    try:
        return normal_spec(f"nnapi:{named}")
    except BenchError as exc:
        raise BenchError(f"{file}: the log's NNAPI accelerator name: {exc}; nothing stored") from None


def _tool(result: ToolResult, source: dict) -> dict:
    """Measurement fields from a tool's parsed log (its summary: no samples); notes what it lacked in ``source``."""
    source.update(tool_source(result))
    source["missing"] = [f for f in EXPECTED[result.tool] if f not in result.found]
    return {
        "summary": LatencyStats.from_mapping(tool_stats(result)),
        "init_ms": result.init_ms,
        "first_ms": result.first_ms,
        "peak_memory_mb": result.peak_memory_mb,
        "energy_note": "unavailable: not in an ingested latency log",
        "threads": result.threads,  # the cell's, checked against --threads by the caller
    }


def _power_log(trace, meter: str, inferences: int | None, idle_w: float | None, source: dict) -> dict:
    """Measurement fields from a power log (Monsoon CSV, tegrastats, powermetrics; energy only):
    (log energy - idle power x its span) / inferences, none when part of the logged time has no
    power reading (``trace.uncovered``); notes what it lacked in ``source``. Raises
    BenchError with the numbers when that energy is not above zero (idle power above the mean power)."""
    source.update(samples=trace.samples, seconds=trace.seconds, mean_w=trace.mean_w)
    rails = {"rails_j": trace.rails_j, "total_rails": trace.total_rails} if getattr(trace, "rails_j", None) else {}
    source.update(rails)
    source["missing"] = ["latency (a power trace has none)"]
    idle = idle_w or 0.0
    problem = negative_energy(trace.joules, trace.seconds, idle)
    if problem:
        raise BenchError(f"{source['file']}: {problem}")
    net = trace.joules - idle * trace.seconds
    note = f"{meter}: {trace.joules:.3f} J over {trace.seconds:.2f} s" + (
        ", no idle power subtracted (pass --idle-w)"
        if idle_w is None
        else f", idle power {idle:g} W subtracted (as given)"
        if idle == 0
        else f", idle {idle:.2f} W subtracted"
    )
    uncovered = getattr(trace, "uncovered", "")
    per = net / inferences * 1e3 if inferences and not uncovered else None
    if getattr(trace, "note", ""):
        note += f"; {trace.note}"
    if not inferences:
        note += "; per-inference energy needs --inferences"
    elif uncovered:  # the inferences ran over the whole log; its energy covers less of it
        note += (
            f"; no per-inference energy stored: {uncovered} has no power reading, while the --inferences "
            f"{inferences} ran over the whole log (its energy over the rest and its mean power are stored)"
        )
    return {
        "energy_mj_per_inference": per,
        "energy_note": note,
        "energy": {"meter": meter, "window_j": trace.joules, "window_s": trace.seconds, "idle_w": idle, **rails},
    }


__all__ = ["TOOLS", "ingest"]
