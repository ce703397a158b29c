"""``bench profile``: per-block time, share, MACs and achieved GFLOP/s of one model on one runtime."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.errors import BenchError
from bench.runtimes.base import RUNTIMES, Runtime, get_runtime


def profilers() -> dict[str, Runtime]:
    """The registered runtimes whose plug-in has a profiler hook, by name, in registry order."""
    return {name: r for name, r in RUNTIMES.items() if r.profiles}


@dataclass
class BlockProfile:
    block: str  # module path ("(top level)" for the model's own ops)
    ms: float
    share: float  # of the sum of blocks
    macs: int
    gflops_per_s: float | None
    ops: int | None = None


@dataclass
class Profile:
    model: str
    runtime: str
    format: str
    device: str
    threads: int
    depth: int
    total_ms: float  # measured end to end, without the profiler
    blocks: list[BlockProfile]
    fallback: list[dict] = field(default_factory=list)
    note: str = ""

    @property
    def blocks_ms(self) -> float:
        return sum(b.ms for b in self.blocks)

    def to_dict(self) -> dict:
        return {**asdict(self), "blocks_ms": self.blocks_ms}


def fallback_summary(fallback: list[dict]) -> list[str]:
    """One line per kind of node that fell back: "3 x AVERAGE_POOL_2D left by XNNPACK (blocks1.0, ...)"."""
    groups: dict[tuple[str, str], list[str]] = {}
    for f in fallback:
        kind = f.get("type") or f.get("op", "?")
        where = f"left by {f['delegate']}" if f.get("delegate") else f"ran on {f.get('provider', '?')}"
        groups.setdefault((kind, where), []).append(f.get("block", "?"))
    lines = []
    for (kind, where), blocks in sorted(groups.items(), key=lambda item: -len(item[1])):
        distinct = list(dict.fromkeys(blocks))
        shown = ", ".join(distinct[:6]) + (f", ... ({len(distinct)} blocks)" if len(distinct) > 6 else "")
        lines.append(f"{len(blocks)} x {kind} {where} ({shown})")
    return lines


def runtime_for(fmt: str | None, runtime: str | None) -> str:
    """The runtime that profiles ``fmt`` (the first registered one with a profiler when
    ``runtime`` is None); BenchError naming what is supported otherwise."""
    supported = profilers()
    if runtime is None:
        choices: dict[str, str] = {}
        for r in supported.values():
            choices.setdefault(r.format, r.name)
        if fmt not in choices:
            raise BenchError(f"profiling supports formats {', '.join(choices)}; not {fmt}")
        return choices[fmt]
    if runtime not in supported:
        raise BenchError(f"profiling is not supported by {runtime}; runtimes that support it: {', '.join(supported)}")
    if fmt is not None and supported[runtime].format != fmt:
        raise BenchError(f"{runtime} runs {supported[runtime].format}, not {fmt}")
    return runtime


def profile_model(
    name: str,
    runtime: str,
    device=None,
    threads: int = 1,
    runs: int = 30,
    depth: int = 1,
    precision: str = "fp32",
) -> Profile:
    """Profile a model on ``device`` (a Device; None = this machine). ``name``: a model reference
    (:mod:`export.reference`), a zoo name or a user's ``file.py:factory`` with its options. Local
    devices run the runtime in this process; remote ones run the runtime's own benchmark tool there
    (``bench.profiling.device``). The runtime's plug-in does the profiling (its ``profile`` hook)."""
    from bench.profiling.blocks import TOP_LEVEL, block_macs, hierarchy  # torch: only where a model is built
    from export.source import resolve

    if depth < 1:
        raise BenchError("--depth must be at least 1")
    chosen = get_runtime(runtime_for(None, runtime))
    remote = device is not None and not device.is_local
    if remote and chosen.native_tool is None:
        on_device = " or ".join(r.format for r in profilers().values() if r.native_tool)
        raise BenchError(f"{runtime} profiles run on this machine only; on '{device.name}' use {on_device}")
    if remote:
        from bench.measure.runners.native_tools import local_tool

        local_tool(device, runtime)  # a profile without the tool fails before the model is built
    spec = resolve(name)
    model = spec.build()
    tree = hierarchy(model, spec.input_shape, depth)
    result = chosen.profile(spec, model, tree, threads, runs, precision, device if remote else None)
    macs = block_macs(model, spec.input_shape, tree.blocks)
    order = [*tree.blocks, TOP_LEVEL]
    measured = sum(result.block_ms.values())
    blocks = [
        BlockProfile(
            block=b,
            ms=result.block_ms[b],
            share=result.block_ms[b] / measured if measured else 0.0,
            macs=macs.get(b, 0),
            gflops_per_s=2 * macs.get(b, 0) / (result.block_ms[b] / 1e3) / 1e9 if result.block_ms[b] > 0 else None,
            ops=result.ops.get(b),
        )
        for b in order
        if b in result.block_ms
    ]
    device_name = device.name if device is not None else "host"
    return Profile(name, runtime, chosen.format, device_name, threads, depth, result.total_ms, blocks,
                   result.fallback, result.note)  # fmt: skip


def profiles_dir() -> Path:
    from bench.paths import results_dir

    return results_dir() / "profiles"


def save_profile(profile: Profile) -> Path:
    """Kept as JSON for `bench report` (one file per model x runtime x device x threads x depth)."""
    import json

    folder = profiles_dir()
    folder.mkdir(parents=True, exist_ok=True)
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in profile.model)
    path = folder / f"{safe}-{profile.runtime}-{profile.device}-x{profile.threads}-d{profile.depth}.json"
    path.write_text(json.dumps(profile.to_dict(), indent=2))
    return path


def load_block_profiles() -> list[dict]:
    """Every saved block profile (``Profile.to_dict()``) under ``results/profiles/``, by file name."""
    import json

    folder = profiles_dir()
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []
