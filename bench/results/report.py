"""Reports: Pareto plots (PNG + SVG), one self-contained HTML file, and a markdown summary.

Accuracy is each cell's top-1 as :func:`bench.results.records.top1_of` gives it: measured by
``bench accuracy`` on that exact artifact where it was, else the card's published number (fp32 and
fp16 only); the plots draw measured points filled and published ones hollow. ``--accuracy
FILE.csv`` (columns model,top1) replaces both with the user's own measured numbers.
The HTML page is the Jinja2 template ``templates/report.html.j2`` rendered with autoescape on:
every text that comes from data (model names, errors) is escaped, and the page runs only the
small sorting script it ships with. Plots are embedded by one helper (:func:`data_uri`).
"""

from __future__ import annotations

import base64
import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bench.accelerators.coverage import delegation_mark
from bench.errors import BenchError
from bench.measure.measurement import POOLED_FIELDS, Measurement
from bench.measure.runners.tool_results import median_is_mean
from bench.measure.stats import spread_of_medians
from bench.paths import output_folder
from bench.results.markdown import cell as md_cell
from bench.results.records import COLUMNS, load_results
from bench.results.store import NoStoreError, Store

CELL = list(POOLED_FIELDS)  # a cell with its repeats pooled


@dataclass
class Report:
    html: Path
    markdown: Path
    csv: Path
    plots: list[Path] = field(default_factory=list)


MEASURED_AND_PUBLISHED = "top-1 (%): filled = measured (bench accuracy), hollow = published"


def axis_label(ylabel: str) -> str:
    """The plots' top-1 axis label for the report's accuracy description ``ylabel``: short enough
    to stay within the axes' height (a longer one ran into the figure's title). The legend says
    what filled and hollow mean, so the mixed case is "top-1 (%)"; others wrap at 40 characters."""
    if ylabel == MEASURED_AND_PUBLISHED:
        return "top-1 (%)"
    import textwrap

    return textwrap.fill(ylabel, 40)


def _accuracy(models: list[str], accuracy_file: str | None) -> tuple[dict[str, float] | None, dict[str, str], str]:
    """top-1 per model from ``accuracy_file`` (None without one: each cell keeps its own), family per
    model, and the axis label."""
    import models as zoo

    families = {}
    for name in models:
        try:
            families[name] = zoo.get_card(name).family
        except KeyError:
            families[name] = "user"
    if accuracy_file is None:
        return None, families, MEASURED_AND_PUBLISHED
    path = Path(accuracy_file)
    try:
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            if not {"model", "top1"} <= set(reader.fieldnames or []):
                raise KeyError(f"header is {','.join(reader.fieldnames or [])}")
            measured = {row["model"]: float(row["top1"]) for row in reader}
    except (OSError, KeyError, ValueError) as exc:
        raise BenchError(f"--accuracy {path}: expected a CSV with columns model,top1 ({exc})") from None
    return measured, families, f"measured top-1 (%) from {path.name}"


def summarize_cells(frame: pd.DataFrame) -> pd.DataFrame:
    """One row per cell: repeats pooled (median of all samples, with its bootstrap 95% CI), energy
    averaged, and the spread of the pooled measurements' own medians (:func:`_repeat_spread`)."""
    ok = frame[frame["status"] == "ok"]
    rows = []
    for key, group in ok.groupby(CELL, sort=True):
        energy = group["energy_mj_per_inference"].dropna()
        parts = [Measurement.from_row(r) for r in group.to_dict("records")]
        rows.append(
            {
                **dict(zip(CELL, key, strict=True)),
                **_latency(parts),
                **_repeat_spread(parts),
                "macs": group["macs"].iloc[-1],
                "gflops_per_s": group["gflops_per_s"].iloc[-1],
                "energy_mj_per_inference": float(energy.mean()) if len(energy) else None,
                "energy_note": group["energy_note"].iloc[-1],
                "peak_memory_mb": float(group["peak_memory_mb"].max()),
                "coverage": float(group["coverage"].min())
                if "coverage" in group and group["coverage"].notna().any()
                else None,
                # "partial" (with or without node counts: NNAPI's 'partially executed' has none),
                # "unchecked" (an ingested log that did not show where the graph ran) or "mixed"
                # (repeats with different delegation: the lowest share is shown, the latency mixes them)
                "delegation": delegation_mark(group["source"], group.get("coverage")) if "source" in group else None,
                "memory_meaning": memory_meaning(group["source"].iloc[-1] if "source" in group else None),
                "median_is_mean": "source" in group and median_is_mean(group["source"].iloc[-1]),
                "contended": any(isinstance(c, dict) and c.get("contended") for c in group.get("contention", [])),
                "init_ms": float(group["init_ms"].median()),
                "top1": group["top1"].iloc[-1] if "top1" in group else None,
                "top1_source": group["top1_source"].iloc[-1] if "top1_source" in group else None,
            }
        )
    return pd.DataFrame(rows)


def _latency(parts: list[Measurement]) -> dict:
    """Pooled statistics of a cell's repeats (``Measurement.merge``: their samples merged; native
    tools' summaries pooled when no repeat kept samples). Unknown values are NaN."""
    pooled = Measurement.merge(parts)

    def known(value) -> float:
        return float("nan") if value is None else float(value)

    return {
        "median_ms": known(pooled.median_ms),
        "p90_ms": known(pooled.p90_ms),
        "p95_ms": known(pooled.p95_ms),
        "cv": known(pooled.cv),
        "n_samples": int(pooled.n_samples or 0),
        "median_ci_low_ms": known(pooled.median_ci_low_ms),
        "median_ci_high_ms": known(pooled.median_ci_high_ms),
    }


def _repeat_spread(parts: list[Measurement]) -> dict:
    """The spread between a cell's pooled measurements (``--repeats N`` rows, and the rows of every
    run the report pools): ``repeats`` (how many have a median), the lowest and highest of their
    medians and the CV of those medians (:func:`bench.measure.stats.spread_of_medians`); NaN below 2.
    This, not the pooled median's bootstrap CI, is the uncertainty to quote (see the README)."""
    spread = spread_of_medians(p.median_ms for p in parts)

    def known(value) -> float:
        return float("nan") if value is None else float(value)

    return {
        "repeats": spread.count,
        "repeat_min_ms": known(spread.min_ms),
        "repeat_max_ms": known(spread.max_ms),
        "repeat_cv": known(spread.cv),
    }


def memory_meaning(source) -> str | None:
    """What a measurement's ``peak_memory_mb`` is, from its stored ``source``: the agent's peak
    resident set, or what the native tool reported (e.g. benchmark_model's "memory footprint delta
    from the start of the tool", not a peak); None when the row does not say (rows stored before
    the meaning was recorded, other than the agent's)."""
    if not isinstance(source, dict):
        return None
    if source.get("memory_meaning"):
        return str(source["memory_meaning"])
    if source.get("method") == "agent":
        from bench.measure.runners.agent_runner import AGENT_MEMORY_MEANING

        return AGENT_MEMORY_MEANING
    return None


def pareto_front(cost: np.ndarray, accuracy: np.ndarray) -> np.ndarray:
    """Indices of points no other point beats on both (lower cost, higher accuracy), by cost."""
    order = np.lexsort((-accuracy, cost))
    front, best = [], -np.inf
    for i in order:
        if accuracy[i] > best:
            front.append(i)
            best = accuracy[i]
    return np.asarray(front, dtype=int)


def _colours(families: list[str]) -> dict[str, tuple]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10"]
    return {family: cmap(i % 10) for i, family in enumerate(sorted(set(families)))}


# Plot file stem -> (section title, one-line caption) in the HTML report.
PLOT_TITLES = {
    "pareto_latency": ("Accuracy against latency", "One panel per device and runtime; bars: the median's 95% CI."),
    "pareto_energy": ("Accuracy against energy", "One panel per device and runtime; energy per inference."),
    "pareto_macs": ("Accuracy against MACs", "Compute of each model, the same on every device."),
    "latency_vs_macs": (
        "Latency against MACs",
        "Points below the trend run better than their MACs suggest; bars: the median's 95% CI.",
    ),
}
LATENCY_LABEL = "median latency (ms, log)"


def _log_axis(axis) -> None:
    """A log axis labelled in plain numbers (no minor labels, no 10^x), at 1-2-5 steps over up to
    1.5 decades of data, 1-3 steps up to 3 decades and powers of ten beyond, so that the labels of a
    wide axis do not run into each other (call it after the data is drawn)."""
    import math

    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    low, high = sorted(axis.get_data_interval())
    decades = math.log10(high / low) if low > 0 and math.isfinite(high / low) else 0.0
    subs = (1.0, 2.0, 5.0) if decades <= 1.5 else (1.0, 3.0) if decades <= 3 else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def _latency_errors(part: pd.DataFrame) -> np.ndarray | None:
    """Distances (2, n) from each median to its 95% CI bounds, for error bars; None without CIs."""
    if "median_ci_low_ms" not in part or part["median_ci_low_ms"].isna().all():
        return None
    median = part["median_ms"].to_numpy(float)
    low = part["median_ci_low_ms"].fillna(part["median_ms"]).to_numpy(float)
    high = part["median_ci_high_ms"].fillna(part["median_ms"]).to_numpy(float)
    return np.clip(np.vstack([median - low, high - median]), 0, None)


def _scatter(ax, x: str, y: str, part: pd.DataFrame, colour, label: str, size: int) -> None:
    """One family's points; latency on either axis carries its CI as error bars. On a top-1 axis,
    points of published top-1 are hollow, measured ones filled."""
    published = part["top1_source"].astype(str).str.startswith("published") if y == "top1" else None
    if published is not None and published.any():
        solid = part[~published]
        if len(solid):
            ax.scatter(solid[x], solid[y], color=colour, label=label, s=size, zorder=3)
        hollow = part[published]
        ax.scatter(hollow[x], hollow[y], facecolors="none", edgecolors=colour, linewidths=1.3, s=size, zorder=3,
                   label=None if len(solid) else label)  # fmt: skip
    else:
        ax.scatter(part[x], part[y], color=colour, label=label, s=size, zorder=3)
    for name, keyword in ((x, "xerr"), (y, "yerr")):
        errors = _latency_errors(part) if name == "median_ms" else None
        if errors is not None:
            ax.errorbar(
                part[x], part[y], fmt="none", ecolor=colour, elinewidth=1, capsize=2, zorder=2, **{keyword: errors}
            )


def _pareto_figure(cells: pd.DataFrame, metric: str, xlabel: str, ylabel: str, colours: dict, panels: list, title: str):
    from bench.results.report_sections import pyplot

    plt = pyplot()
    cols = min(len(panels), 2)
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 4.8 * rows), squeeze=False, layout="constrained")
    for ax, (label, sub) in zip(axes.flat, panels, strict=False):
        sub = sub.dropna(subset=[metric, "top1"])
        for family, part in sub.groupby("family"):
            _scatter(ax, metric, "top1", part, colours[family], family, 36)
        if len(sub):
            front = sub.iloc[pareto_front(sub[metric].to_numpy(float), sub["top1"].to_numpy(float))]
            ax.plot(front[metric], front["top1"], "--", color="black", lw=1, zorder=2, label="Pareto frontier")
            for _, p in front.iterrows():
                ax.annotate(p["model"], (p[metric], p["top1"]), fontsize=7, xytext=(4, 3), textcoords="offset points")
        ax.set_xscale("log")
        _log_axis(ax.xaxis)
        ax.margins(x=0.12)  # room for the names of the points at either end
        ax.set_title(label, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if "top1_source" in sub and len(sub):  # what filled and hollow mean, in the legend
            ax.scatter([], [], color="grey", s=30, label="measured top-1")
            ax.scatter([], [], facecolors="none", edgecolors="grey", s=30, label="published top-1")
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    _legend_below(fig, axes.flat)
    fig.suptitle(title)
    return fig


def _legend_below(fig, axes) -> None:
    """One legend for every panel of ``fig``, below them (outside every axes, so it never covers a
    point); each label once, in the order first drawn."""
    entries: dict[str, object] = {}
    for ax in axes:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    if entries:
        fig.legend(list(entries.values()), list(entries), loc="outside lower center", fontsize=7,
                   ncol=min(len(entries), 5), frameon=False)  # fmt: skip


def make_plots(cells: pd.DataFrame, out_dir: Path, ylabel: str) -> list[Path]:
    """The report's plots as PNG + SVG in ``out_dir`` (stems as in :data:`PLOT_TITLES`); no plot
    without data for it (no energy plot when no meter worked)."""
    from bench.results.report_sections import pyplot, save_figure

    plt = pyplot()
    ylabel = axis_label(ylabel)
    colours = _colours(list(cells["family"]))
    panels = [
        (f"{d} / {r}" if a == "cpu" else f"{d} / {r} / {a}", sub)
        for (d, r, a), sub in cells.groupby(["device", "runtime", "accelerator"])
    ]
    paths = []
    specs = [("median_ms", LATENCY_LABEL, "pareto_latency", "Accuracy vs latency")]
    if cells["energy_mj_per_inference"].notna().any():
        specs.append(
            ("energy_mj_per_inference", "energy per inference (mJ, log)", "pareto_energy", "Accuracy vs energy")
        )
    for metric, xlabel, stem, title in specs:
        if cells.dropna(subset=[metric, "top1"]).empty:
            continue
        paths += save_figure(_pareto_figure(cells, metric, xlabel, ylabel, colours, panels, title), out_dir, stem)
    per_model = cells.drop_duplicates("model").assign(gmacs=lambda d: d["macs"] / 1e9)
    if not per_model.dropna(subset=["gmacs", "top1"]).empty:
        fig = _pareto_figure(
            per_model, "gmacs", "GMACs (log)", ylabel, colours, [("all devices", per_model)], "Accuracy vs MACs"
        )
        paths += save_figure(fig, out_dir, "pareto_macs")
    with_macs = cells.dropna(subset=["macs"]).assign(gmacs=lambda d: d["macs"] / 1e9)
    if not with_macs.empty:
        fig, ax = plt.subplots(figsize=(7, 5), layout="constrained")
        for family, part in with_macs.groupby("family"):
            _scatter(ax, "gmacs", "median_ms", part, colours[family], family, 30)
        ax.set_xscale("log")
        ax.set_yscale("log")
        _log_axis(ax.xaxis)
        _log_axis(ax.yaxis)
        ax.set_xlabel("GMACs (log)")
        ax.set_ylabel(LATENCY_LABEL)
        ax.set_title("Latency vs MACs: below the trend = runs better than its MACs suggest")
        ax.grid(alpha=0.3)
        _legend_below(fig, [ax])
        paths += save_figure(fig, out_dir, "latency_vs_macs")
    return paths


def build_report(
    out_dir: str | Path,
    store: str | None = None,
    devices: list[str] | None = None,
    runtimes: list[str] | None = None,
    accuracy_file: str | None = None,
) -> Report:
    try:
        frame, no_store = load_results(store), ""
    except NoStoreError as exc:  # saved profiles alone make a report
        frame, no_store = pd.DataFrame(columns=COLUMNS), f": {exc}"
    if devices:
        frame = frame[frame["device"].isin(devices)]
    if runtimes:
        frame = frame[frame["runtime"].isin(runtimes)]
    from bench.profiling.profile import load_block_profiles
    from bench.results.report_sections import history_section, predicted_section, profile_section, sustained_section

    profiles = [
        p
        for p in load_block_profiles()
        if (not devices or p["device"] in devices) and (not runtimes or p["runtime"] in runtimes)
    ]
    predicted = predicted_section(store, frame, devices, runtimes) if not no_store else []
    if frame.empty and not profiles and not predicted:
        raise BenchError(
            "no measurements to report (run `bench run` or `bench profile` first, or check --device / --runtime)"
            + no_store
        )
    out = output_folder(out_dir, "--out")
    cells = summarize_cells(frame) if not frame.empty else pd.DataFrame()
    top1, families, ylabel = _accuracy(sorted(set(frame["model"])), accuracy_file)
    if not cells.empty:
        if top1 is not None:  # --accuracy FILE: the user's numbers for every cell of a model
            cells["top1"] = cells["model"].map(top1)
            cells["top1_source"] = cells["top1"].map(lambda v: None if pd.isna(v) else f"measured ({accuracy_file})")
        cells["family"] = cells["model"].map(families)
        cells["top1_kind"] = cells["top1_source"].map(_kind)
        if top1 is None and not (cells["top1_kind"] == "measured").any():
            ylabel = "published top-1 (%), ImageNet-1k"  # nothing measured: every point is hollow
    failed = frame[frame["status"] != "ok"]
    plots = make_plots(cells, out, ylabel) if not cells.empty else []
    run_ids = set(frame["run_id"])  # none when only saved profiles are reported (there may be no store)
    runs = [r for r in Store(store, create=False).list_runs() if r["run_id"] in run_ids] if run_ids else []
    report = Report(out / "report.html", out / "summary.md", out / "results.csv", plots)
    cells.to_csv(report.csv, index=False)
    report.markdown.write_text(render_markdown(cells, failed, ylabel))
    sections = {"profiles": profile_section(profiles, out), "sustained": sustained_section(frame, out),
                "predicted": predicted, "history": history_section(frame, runs, out)}  # fmt: skip
    report.html.write_text(render_html(cells, failed, runs, plots, ylabel, **sections))
    return report


def _kind(source) -> str | None:
    """``measured`` / ``published`` / None from a ``top1_source`` text."""
    if not isinstance(source, str):
        return None
    return next((k for k in ("measured", "published") if source.startswith(k)), None)


def _md_num(value, digits: int = 2) -> str:
    """A number for the markdown table; ``-`` when unknown (a native tool reports no p90)."""
    return "-" if value is None or pd.isna(value) else f"{value:.{digits}f}"


def _md_range(low, high) -> str:
    """``low-high`` in ms for the markdown table; ``-`` when either end is unknown."""
    return "-" if _missing(low) or _missing(high) else f"{low:.2f}-{high:.2f}"


def _md_repeats(c) -> str:
    """The spread of a cell's repeat medians: ``9.50-11.40, CV 7.1% (5)``; ``-`` for a single one."""
    low, high = c.get("repeat_min_ms"), c.get("repeat_max_ms")
    if _missing(low) or _missing(high):
        return "-"
    return f"{_md_range(low, high)}, CV {c['repeat_cv']:.1%} ({int(c['repeats'])})"


# What the report says about the two intervals (summary.md and the HTML page), as the README does.
REPEATS_NOTE = (
    "Which interval to quote: with --repeats N (or several runs pooled), quote the spread of the repeat "
    "medians (min-max and their CV): the median's 95% CI is bootstrapped from the pooled samples and "
    "covers only the noise within timed windows, not the drift from one run to the next, so it is far "
    "narrower than what a rerun gives."
)


def render_markdown(cells: pd.DataFrame, failed: pd.DataFrame, ylabel: str) -> str:
    lines = [
        "## Benchmark results",
        "",
        f"Accuracy: {ylabel}. Latency: median of all samples per cell; p90 / p95 from the samples, "
        "or the native tool's own (- = the tool printed none).",
        "",
        f"{REPEATS_NOTE}",
        "",
        "| model | device | runtime | accelerator | format | threads | median ms | p90 ms | p95 ms | median 95% CI ms "
        "| repeat medians ms | mJ/inference | top-1 | top-1 is |",
        "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for _, c in cells.iterrows():
        energy = _md_num(c["energy_mj_per_inference"])
        top1 = "-" if pd.isna(c.get("top1")) else f"{c['top1']:.1f}"
        kind = c.get("top1_kind") if isinstance(c.get("top1_kind"), str) else "-"
        if "accuracy collapse" in str(c.get("top1_source") or ""):
            kind += ", accuracy collapse"
        lines.append(
            f"| {md_cell(c['model'])} | {md_cell(c['device'])} | {md_cell(c['runtime'])} | {_md_accelerator(c)} | "
            f"{md_cell(c['format'])}/{md_cell(c['precision'])} | {c['threads']} | {_md_num(c['median_ms'])}"
            f"{' (mean)' if c.get('median_is_mean') is True else ''} | "
            f"{_md_num(c['p90_ms'])} | {_md_num(c['p95_ms'])} | "
            f"{_md_range(c.get('median_ci_low_ms'), c.get('median_ci_high_ms'))} | {_md_repeats(c)} | "
            f"{energy} | {top1} | {kind} |"
        )
    if len(failed):
        lines += ["", f"### Failed cells ({len(failed)})", ""]
        lines += [
            f"- {md_cell(f['model'])} {md_cell(f['format'])}/{md_cell(f['precision'])} "
            f"{md_cell(f['runtime'])}{_md_on(f.get('accelerator'))}: {md_cell(f['error'])}"
            for _, f in failed.iterrows()
        ]
    return "\n".join(lines) + "\n"


def _on(accelerator) -> str:
    """``[gpu]`` after a failed cell's runtime when it ran on an accelerator, else nothing (plain text)."""
    return "" if accelerator in (None, "cpu") or _missing(accelerator) else f"[{accelerator}]"


def _md_on(accelerator) -> str:
    """``[gpu]`` after a failed cell's runtime when it ran on an accelerator, else nothing."""
    return "" if accelerator in (None, "cpu") else f"[{md_cell(accelerator)}]"


def _md_accelerator(c) -> str:
    """A cell's accelerator with its coverage in the summary: ``gpu 91% (partial)``."""
    coverage = c.get("coverage")
    if _missing(coverage):
        mark = c.get("delegation")
        return md_cell(c["accelerator"]) + (f" ({mark})" if isinstance(mark, str) else "")
    mark = "mixed" if c.get("delegation") == "mixed" else "partial" if coverage < 1 else None
    return f"{md_cell(c['accelerator'])} {coverage:.0%}" + (f" ({mark})" if mark else "")


NOISY_CV = 0.10  # a cell whose latency CV is above this is marked noisy in the HTML table

# (column, title, unit, format): the HTML results table; format "" = text (left-aligned, sorted as text).
_COLUMNS = (
    ("model", "model", "", ""),
    ("family", "family", "", ""),
    ("device", "device", "", ""),
    ("runtime", "runtime", "", ""),
    ("accelerator", "accelerator", "", ""),
    ("coverage", "delegated", "% of nodes", ".0f"),
    ("format", "format", "", ""),
    ("precision", "precision", "", ""),
    ("threads", "threads", "", ".0f"),
    ("median_ms", "median", "ms", ".2f"),
    ("median_ci", "median 95% CI", "ms", "range"),
    ("repeat_range", "repeat medians", "min-max ms", "range"),
    ("repeat_cv", "CV of repeat medians", "%", ".1f"),
    ("repeats", "repeats", "", ".0f"),
    ("p90_ms", "p90", "ms", ".2f"),
    ("p95_ms", "p95", "ms", ".2f"),
    ("cv", "CV", "%", ".1f"),
    ("n_samples", "samples", "", ".0f"),
    ("init_ms", "init", "ms", ".0f"),
    ("peak_memory_mb", "peak memory", "MB", ".0f"),
    ("macs", "MACs", "G", ".2f"),
    ("gflops_per_s", "GFLOP/s", "", ".1f"),
    ("energy_mj_per_inference", "energy", "mJ/inference", ".2f"),
    ("top1", "top-1", "%", ".1f"),
    ("top1_source", "top-1 source", "", ""),
)
_SCALE = {"cv": 100.0, "repeat_cv": 100.0, "macs": 1e-9, "coverage": 100.0}  # stored unit -> the header's
# format "range" columns: (low, high) columns of the cell shown as "low-high", and their tooltip
_RANGES = {
    "median_ci": (
        ("median_ci_low_ms", "median_ci_high_ms"),
        "bootstrap 95% CI of the pooled median: the noise within the timed windows only, not between runs",
    ),
    "repeat_range": (
        ("repeat_min_ms", "repeat_max_ms"),
        "lowest and highest median of the cell's separate measurements (repeats, runs): quote this spread",
    ),
}


def data_uri(path: Path) -> str:
    """A PNG file as a ``data:image/png;base64,...`` URI, so the page embeds it and fetches nothing."""
    return "data:image/png;base64," + base64.b64encode(Path(path).read_bytes()).decode()


_MARKS = {
    "partial": "the accelerator took only part of the graph (the runtime did not say how many nodes)",
    "unchecked": "the accelerator as given: the ingested log did not show where the graph ran",
    "mixed": "the repeats ran with different delegation (the lowest share is shown): the pooled latency mixes "
    "two placements of the graph; compare them with bench results",
}


def _missing(value) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _table_cell(
    name: str,
    value,
    spec: str,
    noisy: bool,
    meaning: str | None = None,
    mean: bool = False,
    contended: bool = False,
    mark: str | None = None,
) -> dict:
    """One results-table cell: shown text, numeric sort key, class ("t" for text, "noisy") and tooltip.
    ``meaning``: what the peak-memory number is (:func:`memory_meaning`), its tooltip; a delta (what
    benchmark_model reports) is marked "(delta)" in the text too. ``mean``: the cell's median is a
    native tool's mean (it printed no median), marked "(mean)". ``mark``: "partial" (the accelerator took
    part of the graph) or "unchecked" (taken as given), shown in the coverage column when there is no
    coverage number, or "mixed" (repeats with different delegation), shown beside it
    (:func:`delegation_mark`). Format "range": ``value`` is a
    (low, high) pair (:data:`_RANGES`)."""
    if spec == "range":
        low, high = value
        if _missing(low) or _missing(high):
            return {"text": "-", "sort": None, "cls": "", "tip": None}
        return {"text": f"{low:.2f}-{high:.2f}", "sort": repr(float(low)), "cls": "", "tip": _RANGES[name][1]}
    if name == "coverage" and _missing(value) and isinstance(mark, str):
        tip = _MARKS[mark]
        return {"text": mark, "sort": None, "cls": "noisy", "tip": tip}
    if _missing(value):
        return {"text": "-", "sort": None, "cls": "t" if not spec else "", "tip": None}
    if not spec:
        return {"text": str(value), "sort": None, "cls": "t", "tip": None}
    noisy_here = noisy and name in ("median_ms", "cv")
    text = format(float(value) * _SCALE.get(name, 1.0), spec)
    tip = f"noisy: CV above {NOISY_CV:.0%}, the median is less trustworthy" if noisy_here else None
    if name == "coverage" and mark == "mixed":  # repeats with different delegation pooled
        return {"text": f"{text} (mixed)", "sort": repr(float(value)), "cls": "noisy", "tip": _MARKS["mixed"]}
    if name == "coverage" and float(value) < 1.0:  # partial delegation: part of the graph ran on the CPU
        text, tip = f"{text} (partial)", "the accelerator took only part of the graph; the rest ran on the CPU"
        return {"text": text, "sort": repr(float(value)), "cls": "noisy", "tip": tip}
    if name == "peak_memory_mb" and meaning:
        text, tip = (f"{text} (delta)" if "delta" in meaning else text), meaning
    if name == "median_ms" and mean:
        text, tip = f"{text} (mean)", "the native tool printed no median: this is its mean"
    if name == "median_ms" and contended:  # other processes used the measured CPUs: inflated
        text, tip = f"{text} (contended)", "other processes used the measured CPUs during the timed runs"
        return {"text": text, "sort": repr(float(value)), "cls": "noisy", "tip": tip}
    return {"text": text, "sort": repr(float(value)), "cls": "noisy" if noisy_here else "", "tip": tip}


def _plot_entry(png: Path) -> dict:
    title, caption = PLOT_TITLES.get(png.stem, (png.stem.replace("_", " "), ""))
    return {"title": title, "caption": caption, "png": png}


def render_html(
    cells: pd.DataFrame,
    failed: pd.DataFrame,
    runs: list[dict],
    plots: list[Path],
    ylabel: str,
    profiles: list[dict] | None = None,
    sustained: list[dict] | None = None,
    predicted: list[dict] | None = None,
    history: list[dict] | None = None,
) -> str:
    """The self-contained report page from ``templates/report.html.j2`` (autoescape on).

    ``cells``: one row per pooled cell (:func:`summarize_cells` plus ``top1`` and ``family``);
    ``failed``: the failed measurement rows; ``runs``: the store's runs (environment shown);
    ``plots``: PNG/SVG paths (PNGs are embedded); ``profiles``, ``sustained``, ``predicted`` and
    ``history``: the sections built by :mod:`bench.results.report_sections`.
    """
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("bench.results", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["embed"] = data_uri
    rows = []
    for _, c in cells.iterrows():
        cv = c.get("cv")
        noisy = not _missing(cv) and cv > NOISY_CV
        meaning = c.get("memory_meaning")
        meaning = meaning if isinstance(meaning, str) else None
        mean = c.get("median_is_mean") is True
        contended = c.get("contended") is True
        values = {name: tuple(c.get(k) for k in _RANGES[name][0]) if name in _RANGES else c.get(name)
                  for name, _, _, _ in _COLUMNS}  # fmt: skip
        rows.append(
            [
                _table_cell(name, values[name], spec, noisy, meaning, mean, contended, c.get("delegation"))
                for name, _, _, spec in _COLUMNS
            ]
        )
    return env.get_template("report.html.j2").render(
        ylabel=ylabel,
        plots=[_plot_entry(p) for p in plots if p.suffix == ".png"],
        columns=[{"title": title, "unit": unit, "cls": "" if spec else "t"} for _, title, unit, spec in _COLUMNS],
        cells=rows,
        noisy_cv=NOISY_CV,
        repeats_note=REPEATS_NOTE,
        profiles=profiles or [],
        sustained=sustained or [],
        predicted=predicted or [],
        history=history or [],
        failed=[
            {k: str(f[k]) for k in ("model", "format", "precision", "runtime", "device", "error")}
            | {"runtime": str(f["runtime"]) + _on(f.get("accelerator"))}
            for _, f in failed.iterrows()
        ],
        runs=[{**run, "environment": json.dumps(run["environment"], indent=1, sort_keys=True)} for run in runs],
    )
