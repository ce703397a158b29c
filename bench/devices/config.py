"""Device profiles: TOML files that say where a suite runs and how it is reached.

Shipped profiles live in ``bench/devices/catalog/``; users add their own in ``$BENCH_DEVICES`` (default
``~/.config/bench/devices/``), one ``NAME.toml`` each (a user profile with a shipped name
replaces it), or pass ``--device-file PATH``. Errors name the file and the line.
"""

from __future__ import annotations

import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import BenchError, one_line

SHIPPED = Path(__file__).parent / "catalog"

# table -> key -> accepted types; "" is the top level
SCHEMA: dict[str, dict[str, tuple[type, ...]]] = {
    "": {
        "name": (str,),
        "transport": (str,),
        "address": (str,),
        "work_dir": (str,),
        "python": (str,),
        "description": (str,),
        "ssh_config": (str,),
        "adb": (str,),
        "adb_server_port": (int,),
    },
    "cpu": {"affinity": (str,), "threads": (list,)},
    # + the path of each registered runtime's native tool (_allowed); inference_diff: TFLite's run_eval
    # of tensorflow/lite/tools/evaluation/tasks/inference_diff, which checks a delegate's outputs
    "runtimes": {"available": (list,), "inference_diff": (str,)},
    "accelerators": {"available": (list,)},  # accelerator specs of bench.accelerators, e.g. "nnapi:google-edgetpu"
    "energy": {"meter": (str,), "rails": (list,), "root": (str,)},
    "thermal": {
        "limit_c": (int, float),
        "limit_status": (int,),
        "max_wait_s": (int, float),
        "fixed_performance": (bool,),
    },
}


@dataclass(frozen=True)
class Device:
    """One device profile, validated: where a suite runs, how it is reached and what it offers."""

    name: str
    transport: str = "local"
    address: str = ""
    work_dir: str = ""
    python: str = "python3"
    description: str = ""
    affinity: str | None = None
    threads: tuple[int, ...] = (1,)
    runtimes: tuple[str, ...] = field(default_factory=lambda: _registered_runtimes())
    accelerators: tuple[str, ...] = ("cpu",)  # what the device has (profile [accelerators] available)
    tools: dict = field(default_factory=dict)
    energy_meter: str = "auto"
    rails: tuple[str, ...] = ()
    thermal_limit_c: float | None = None
    thermal_limit_status: int | None = None
    thermal_max_wait_s: float = 30.0
    thermal_root: str = "/sys/class/thermal"
    fixed_performance: bool = False  # Android: pin clocks during the suite where supported
    rapl_root: str = "/sys/class/powercap"
    energy_root: str = ""  # the meter's sysfs root, when not the standard one (e.g. a simulated tree)
    ssh_config: str = ""  # an ssh_config(5) file passed with -F (default: the user's own)
    adb_path: str = ""  # the adb program (default: adb on PATH)
    adb_server_port: int | None = None  # adb -P PORT (default: adb's own, 5037)
    path: str = ""

    @property
    def is_local(self) -> bool:
        """True when the profile's transport is this machine (its ``is_local``)."""
        from bench.devices.transports.base import transport_class

        return transport_class(self.transport).is_local


def _registered_runtimes() -> tuple[str, ...]:
    """Every registered runtime's name: what a profile offers unless ``[runtimes] available`` says."""
    from bench.runtimes.base import RUNTIMES

    return tuple(RUNTIMES)


def _allowed(table: str) -> dict[str, tuple[type, ...]]:
    """The keys a table accepts: :data:`SCHEMA`'s, and in ``[runtimes]`` the native tool of every
    registered runtime that has one (``benchmark_model = "/path/..."``)."""
    if table != "runtimes":
        return SCHEMA[table]
    from bench.runtimes.base import RUNTIMES

    return {**SCHEMA[table], **{r.native_tool: (str,) for r in RUNTIMES.values() if r.native_tool}}


def user_dir() -> Path:
    """The folder of the user's own device profiles (``$BENCH_DEVICES``)."""
    return Path(os.environ.get("BENCH_DEVICES", "~/.config/bench/devices")).expanduser()


def _table_line(lines: list[str], table: str) -> int:
    """0-based index of the ``[table]`` header, or 0."""
    for i, line in enumerate(lines):
        if re.match(rf"\s*\[\s*{re.escape(table)}\s*\]", line):
            return i
    return 0


def _line_of(text: str, key: str, table: str) -> int:
    """The line where ``key`` is set (inside ``[table]`` when given); 1 when not found."""
    lines = text.splitlines()
    start = _table_line(lines, table) if table else 0
    for i in range(start, len(lines)):
        if re.match(rf"\s*{re.escape(key)}\s*=", lines[i]):
            return i + 1
    return start + 1


def load_device(path: str | Path) -> Device:
    """The device profile in the TOML file ``path``; raises BenchError naming the file and line
    of the first problem (malformed TOML, unknown table or key, wrong type, bad value)."""
    from bench.devices.transports.base import transport_names

    path = Path(path)
    try:
        text = path.read_text()
    except OSError as exc:
        raise BenchError(f"cannot read device profile {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise BenchError(f"cannot read device profile {path}: not UTF-8 text (byte {exc.start})") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"at line (\d+)", str(exc))
        line = int(found.group(1)) if found else max(len(text.splitlines()), 1)  # "at end of document"
        raise BenchError(f"{path}:{line}: malformed TOML: {exc}") from None

    def fail(key: str, table: str, message: str) -> BenchError:
        return BenchError(f"{path}:{_line_of(text, key, table)}: {message}")

    for key, value in data.items():
        if isinstance(value, dict):
            if key not in SCHEMA or not key:
                known = ", ".join(k for k in SCHEMA if k)
                line = _table_line(text.splitlines(), key) + 1
                raise BenchError(f"{path}:{line}: unknown table [{key}]; known: {known}")
            items = [(key, k, v) for k, v in value.items()]
        else:
            items = [("", key, value)]
        for table, k, v in items:
            allowed = _allowed(table)
            where = f"[{table}] {k}" if table else k
            if k not in allowed:
                raise fail(k, table, f"unknown key '{where}'; known: {', '.join(allowed)}")
            if not isinstance(v, allowed[k]) or (isinstance(v, bool) and bool not in allowed[k]):
                names = " or ".join(t.__name__ for t in allowed[k])
                raise fail(k, table, f"'{where}' must be {names}, not {type(v).__name__}")
    for key in ("name", "transport"):
        if key not in data:
            raise BenchError(f"{path}:1: missing required key '{key}'")
    if data["transport"] not in transport_names():
        known = ", ".join(transport_names())
        raise fail("transport", "", f"transport '{data['transport']}' is not one of {known}")
    cpu, runtimes = data.get("cpu", {}), data.get("runtimes", {})
    listed = data.get("accelerators", {}).get("available", ["cpu"])
    accelerators = []
    for spec in listed:
        from bench.accelerators.base import normal_spec

        if not isinstance(spec, str):
            raise fail("available", "accelerators", f"'[accelerators] available' lists {spec!r}: names are strings")
        try:
            normal = normal_spec(spec)  # " gpu" -> "gpu"
        except BenchError as exc:
            raise fail("available", "accelerators", str(exc)) from None
        if normal not in accelerators:
            accelerators.append(normal)
    if "cpu" not in accelerators:
        raise fail("available", "accelerators", "'[accelerators] available' must list cpu (every device has one)")
    energy, thermal = data.get("energy", {}), data.get("thermal", {})
    threads = cpu.get("threads", [1])
    if not threads or not all(isinstance(t, int) and not isinstance(t, bool) and t > 0 for t in threads):
        raise fail("threads", "cpu", "'[cpu] threads' must be a list of positive integers")
    affinity = cpu.get("affinity")
    if affinity is not None and not re.fullmatch(r"[0-9a-fA-F]+", affinity):
        raise fail("affinity", "cpu", f"'[cpu] affinity' must be a hex CPU mask like 'c0', not '{affinity}'")
    from bench.runtimes.base import RUNTIMES

    available = runtimes.get("available", list(RUNTIMES))
    unknown = [r for r in available if r not in RUNTIMES]
    if unknown:
        raise fail("available", "runtimes", f"unknown runtime '{unknown[0]}'; known: {', '.join(RUNTIMES)}")
    from bench.devices.energy.base import meters

    meter = energy.get("meter", "auto")
    if meter not in ("auto", "none", *meters()):
        raise fail("meter", "energy", f"unknown energy meter '{meter}'; known: auto, none, {', '.join(meters())}")
    limit_c = thermal.get("limit_c")
    return Device(
        name=data["name"],
        transport=data["transport"],
        address=data.get("address", ""),
        work_dir=data.get("work_dir", ""),
        python=data.get("python", "python3"),
        description=data.get("description", ""),
        affinity=affinity,
        threads=tuple(threads),
        runtimes=tuple(available),
        accelerators=tuple(str(a) for a in accelerators),
        tools={k: v for k, v in runtimes.items() if k != "available" and v},
        energy_meter=energy.get("meter", "auto"),
        rails=tuple(energy.get("rails", [])),
        energy_root=energy.get("root", ""),
        thermal_limit_c=float(limit_c) if limit_c else None,
        thermal_limit_status=thermal.get("limit_status"),
        thermal_max_wait_s=float(thermal.get("max_wait_s", 30.0)),
        fixed_performance=thermal.get("fixed_performance", False),
        ssh_config=str(Path(data["ssh_config"]).expanduser()) if data.get("ssh_config") else "",
        adb_path=data.get("adb", ""),
        adb_server_port=data.get("adb_server_port"),
        path=str(path),
    )


def device_paths() -> dict[str, Path]:
    """Device name (file stem) -> profile file; user profiles replace shipped ones of the same name."""
    paths = {p.stem: p for p in sorted(SHIPPED.glob("*.toml"))}
    if user_dir().is_dir():
        paths.update({p.stem: p for p in sorted(user_dir().glob("*.toml"))})
    return paths


def list_devices() -> list[Device]:
    """Every known device (shipped and the user's), loaded; raises BenchError on a bad profile."""
    return [load_device(p) for p in device_paths().values()]


def get_device(name: str | None = None, device_file: str | None = None) -> Device:
    """The device ``device_file`` describes, else the known device ``name``: a profile's file name
    (without ``.toml``) or, failing that, the ``name`` inside a profile (what ``bench devices``
    lists). Raises BenchError (listing the known names) when there is none or the name is in
    several profiles."""
    if device_file:
        return load_device(device_file)
    paths = device_paths()
    if name in paths:
        return load_device(paths[name])
    named = []  # `bench devices` lists profiles by their `name`, which may differ from the file's
    for path in paths.values():
        try:
            if load_device(path).name == name:
                named.append(path)
        except BenchError:
            continue  # a broken profile is reported when it is asked for by its file name
    if len(named) > 1:
        files = ", ".join(p.name for p in named)
        raise BenchError(f"device name '{name}' is in several profiles ({files}); ask for one by its file name")
    if named:
        return load_device(named[0])
    known = ", ".join(paths)
    raise BenchError(f"unknown device '{one_line(str(name), 100)}'; known devices: {known} (or --device-file PATH)")
