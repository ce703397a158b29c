"""The runtimes' own benchmark tools on a device: where the tool is, how it is pushed and called.

Which tool a runtime has and its arguments are the runtime plug-in's (``NATIVE_TOOL``,
``tool_argv``): ``benchmark_model`` (LiteRT) and ``onnxruntime_perf_test`` (onnxruntime), named in a
device profile's ``[runtimes]`` table as files on this machine; they are pushed to the device once
by content and run there, pinned with ``taskset`` to the profile's CPU mask. Used by the native
runner and by operator profiles on devices (``bench.profiling.device``).
"""

from __future__ import annotations

from pathlib import Path

from bench.devices.transports.base import Transport
from bench.digest import file_sha256
from bench.errors import BenchError
from bench.runtimes.base import RUNTIMES, Runtime, ToolRun, get_runtime


def tool_runtime(device, runtime: str) -> Runtime:
    """The registered runtime ``runtime`` if it has a native tool; BenchError naming the formats
    that do otherwise."""
    chosen = get_runtime(runtime)
    if chosen.native_tool is None:
        formats = [r.format for r in RUNTIMES.values() if r.native_tool]
        raise BenchError(f"{device.name} runs native tools for {', '.join(formats)} only, not {chosen.format}")
    return chosen


def local_tool(device, runtime: str) -> Path:
    """The device's native benchmark tool of ``runtime`` on this machine, from its profile (checked
    before anything connects); raises BenchError saying what to set when it is missing."""
    tool = tool_runtime(device, runtime).native_tool
    local = device.tools.get(tool)
    if not local:
        raise BenchError(
            f"device '{device.name}' has no {tool}: set [runtimes] {tool} = \"/path/to/{tool}\" "
            f"in {device.path or 'its profile'} (the README says where to get it)"
        )
    source = Path(local).expanduser()
    if not source.is_file():
        raise BenchError(f"{tool} not found at {source} (from [runtimes] {tool} in {device.path})")
    return source


def push_tool(device, transport: Transport, runtime: str) -> str:
    """Copy the device's native benchmark tool of ``runtime`` (once, by content) and return its path there."""
    source = local_tool(device, runtime)
    remote = transport.push_once(source, file_sha256(source))
    transport.run(["chmod", "755", remote], timeout=60).check(f"chmod {get_runtime(runtime).native_tool}")
    return remote


def pinned(device, argv: list[str]) -> list[str]:
    """``argv`` under ``taskset MASK`` when the profile pins the device's benchmarks to a cluster."""
    return ["taskset", device.affinity, *argv] if device.affinity else argv


def tool_command(
    runtime: str,
    tool: str,
    graph: str,
    threads: int,
    *,
    runs: int | None,
    seconds: float,
    max_secs: float,
    warmup: int,
    options: dict | None = None,
    estimate_ms: float = 0.0,
    device=None,
    extra: tuple[str, ...] = (),
    inputs: tuple[dict, ...] = (),
    accelerator: tuple[str, ...] = (),
) -> list[str]:
    """The native tool's command line, built by the runtime's plug-in (``tool_argv``): ``runs``
    timed inferences (at least ``seconds``), or with ``runs=None`` as many as fit in ``seconds``; a
    fixed warm-up count (the two runs of the energy differential must warm up alike); ``options``:
    the runtime's options (its defaults when None); ``estimate_ms``: a latency estimate, for tools
    that take a count or a duration but not both; pinned with ``taskset`` per ``device``;
    ``inputs``: the model's inputs as the file names them, for tools that must be told them
    (:func:`tool_inputs`); ``accelerator``: the flags that put the graph on the cell's accelerator
    (``Serving.tool_flags``; empty: the CPU).

    The tool's two output streams are merged on the device, in order: benchmark_model builds
    differ in where they log (the oldest print everything to stderr, later ones INFO lines to
    stdout, and the runtime's own messages such as delegate creation go to stderr)."""
    chosen = get_runtime(runtime)
    run = ToolRun(tool, graph, threads, runs, seconds, max_secs, warmup,
                  chosen.options if options is None else options, estimate_ms, extra, inputs, accelerator)  # fmt: skip
    argv = chosen.tool_argv(run)
    argv = pinned(device, argv) if device is not None else argv
    return ["sh", "-c", 'exec "$@" 2>&1', "sh", *argv]


def tool_inputs(workload) -> tuple[dict, ...]:
    """The inputs a native tool must be told (``ToolRun.inputs``): empty for a model with one float
    input (the tool fills it itself); else each input of the file on this machine (names as the
    file has them, which a user's ``NAME:`` does not change in every format). Empty when the file's
    signature cannot be read (the tool then fills inputs its own way)."""
    if len(workload.inputs) == 1 and workload.inputs.tensors[0].dtype.startswith("float"):
        return ()
    from export.base import get_exporter
    from export.reference import model_file_format

    try:
        declared, _ = get_exporter(model_file_format(workload.path)).io_signature(Path(workload.path))
    except Exception:  # noqa: BLE001 - unreadable here: the tool reads the file itself
        return ()
    return tuple(
        {"name": d["name"], "shape": list(d["shape"]), "dtype": str(d.get("dtype", "float32"))} for d in declared
    )
