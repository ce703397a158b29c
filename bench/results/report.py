"""Reports: Pareto plots (PNG + SVG), one self-contained HTML file, and a markdown summary.

Accuracy is the published top-1 from the model cards (labelled as such, with its dataset)
unless the user passes measured accuracy (``--accuracy FILE.csv`` with columns model,top1).
Every text that comes from data (model names, errors) is HTML-escaped: the page runs only the
small sorting script it ships with.
"""

from __future__ import annotations

import base64
import csv
import html
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from bench.errors import BenchError
from bench.results.records import load_results
from bench.results.store import Store

CELL = ["model", "format", "precision", "runtime", "device", "threads"]


@dataclass
class Report:
    html: Path
    markdown: Path
    csv: Path
    plots: list[Path] = field(default_factory=list)


def _accuracy(models: list[str], accuracy_file: str | None) -> tuple[dict[str, float], dict[str, str], str]:
    """top-1 per model, family per model, and the axis label."""
    import models as zoo

    families, top1 = {}, {}
    for name in models:
        try:
            card = zoo.get_card(name)
        except KeyError:
            families[name] = "user"
            continue
        families[name] = card.family
        if card.top1.known and card.task == "image-classification":
            top1[name] = card.top1.value
    if accuracy_file is None:
        return top1, families, "published top-1 (%), ImageNet-1k"
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
    """One row per cell: repeats pooled (median of all samples), energy averaged."""
    ok = frame[frame["status"] == "ok"]
    rows = []
    for key, group in ok.groupby(CELL, sort=True):
        energy = group["energy_mj_per_inference"].dropna()
        rows.append(
            {
                **dict(zip(CELL, key, strict=True)),
                **_latency(group),
                "macs": group["macs"].iloc[-1],
                "gflops_per_s": group["gflops_per_s"].iloc[-1],
                "energy_mj_per_inference": float(energy.mean()) if len(energy) else None,
                "energy_note": group["energy_note"].iloc[-1],
                "peak_memory_mb": float(group["peak_memory_mb"].max()),
                "init_ms": float(group["init_ms"].median()),
            }
        )
    return pd.DataFrame(rows)


def _latency(group: pd.DataFrame) -> dict:
    """Pooled statistics of a cell's samples; a native tool's summary (no samples) as stored."""
    lists = [s for s in group["samples_ms"] if isinstance(s, list | np.ndarray) and len(s)]
    if lists:
        pooled = np.concatenate([np.asarray(s, dtype=float) for s in lists])
        return {
            "median_ms": float(np.median(pooled)),
            "p90_ms": float(np.percentile(pooled, 90)),
            "cv": float(pooled.std(ddof=1) / pooled.mean()) if pooled.size > 1 else 0.0,
            "n_samples": int(pooled.size),
        }
    return {
        "median_ms": float(group["median_ms"].median()),
        "p90_ms": float(group["p90_ms"].median()),
        "cv": float(group["cv"].median()),
        "n_samples": int(group["n_samples"].fillna(0).sum()),
    }


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


def _save(fig, out_dir: Path, stem: str) -> list[Path]:
    paths = []
    for suffix in ("png", "svg"):
        path = out_dir / f"{stem}.{suffix}"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        paths.append(path)
    return paths


def _pareto_figure(cells: pd.DataFrame, metric: str, xlabel: str, ylabel: str, colours: dict, panels: list, title: str):
    import matplotlib.pyplot as plt

    cols = min(len(panels), 2)
    rows = (len(panels) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(6.5 * cols, 4.8 * rows), squeeze=False)
    for ax, (label, sub) in zip(axes.flat, panels, strict=False):
        sub = sub.dropna(subset=[metric, "top1"])
        for family, part in sub.groupby("family"):
            ax.scatter(part[metric], part["top1"], color=colours[family], label=family, s=36, zorder=3)
        if len(sub):
            front = sub.iloc[pareto_front(sub[metric].to_numpy(float), sub["top1"].to_numpy(float))]
            ax.plot(front[metric], front["top1"], "--", color="black", lw=1, zorder=2, label="Pareto frontier")
            for _, p in front.iterrows():
                ax.annotate(p["model"], (p[metric], p["top1"]), fontsize=7, xytext=(4, 3), textcoords="offset points")
        ax.set_xscale("log")
        ax.set_title(label, fontsize=10)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def make_plots(cells: pd.DataFrame, out_dir: Path, ylabel: str) -> list[Path]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colours = _colours(list(cells["family"]))
    panels = [(f"{d} / {r}", sub) for (d, r), sub in cells.groupby(["device", "runtime"])]
    paths = []
    specs = [("median_ms", "median latency (ms, log)", "pareto_latency", "Accuracy vs latency")]
    if cells["energy_mj_per_inference"].notna().any():
        specs.append(
            ("energy_mj_per_inference", "energy per inference (mJ, log)", "pareto_energy", "Accuracy vs energy")
        )
    for metric, xlabel, stem, title in specs:
        if cells.dropna(subset=[metric, "top1"]).empty:
            continue
        fig = _pareto_figure(cells, metric, xlabel, ylabel, colours, panels, title)
        paths += _save(fig, out_dir, stem)
        plt.close(fig)
    per_model = cells.drop_duplicates("model").assign(gmacs=lambda d: d["macs"] / 1e9)
    if not per_model.dropna(subset=["gmacs", "top1"]).empty:
        fig = _pareto_figure(
            per_model, "gmacs", "GMACs (log)", ylabel, colours, [("all devices", per_model)], "Accuracy vs MACs"
        )
        paths += _save(fig, out_dir, "pareto_macs")
        plt.close(fig)
    with_macs = cells.dropna(subset=["macs"])
    if not with_macs.empty:
        fig, ax = plt.subplots(figsize=(7, 5))
        for family, part in with_macs.groupby("family"):
            ax.scatter(part["macs"] / 1e9, part["median_ms"], color=colours[family], label=family, s=30)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("GMACs (log)")
        ax.set_ylabel("median latency (ms, log)")
        ax.set_title("Latency vs MACs: below the trend = runs better than its MACs suggest")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
        fig.tight_layout()
        paths += _save(fig, out_dir, "latency_vs_macs")
        plt.close(fig)
    return paths


def build_report(
    out_dir: str | Path,
    store: str | None = None,
    devices: list[str] | None = None,
    runtimes: list[str] | None = None,
    accuracy_file: str | None = None,
) -> Report:
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise BenchError(f"--out {out} is a file, not a folder")
    out.mkdir(parents=True, exist_ok=True)
    frame = load_results(store)
    if devices:
        frame = frame[frame["device"].isin(devices)]
    if runtimes:
        frame = frame[frame["runtime"].isin(runtimes)]
    from bench.profiling.profile import load_profiles
    from bench.results.report_sections import profile_section, sustained_section

    profiles = [
        p
        for p in load_profiles()
        if (not devices or p["device"] in devices) and (not runtimes or p["runtime"] in runtimes)
    ]
    if frame.empty and not profiles:
        raise BenchError(
            "no measurements to report (run `bench run` or `bench profile` first, or check --device / --runtime)"
        )
    cells = summarize_cells(frame) if not frame.empty else pd.DataFrame()
    top1, families, ylabel = _accuracy(sorted(set(frame["model"])), accuracy_file)
    if not cells.empty:
        cells["top1"] = cells["model"].map(top1)
        cells["family"] = cells["model"].map(families)
    failed = frame[frame["status"] != "ok"]
    plots = make_plots(cells, out, ylabel) if not cells.empty else []
    runs = [r for r in Store(store).list_runs() if r["run_id"] in set(frame["run_id"])]
    report = Report(out / "report.html", out / "summary.md", out / "results.csv", plots)
    cells.to_csv(report.csv, index=False)
    report.markdown.write_text(render_markdown(cells, failed, ylabel))
    extra = profile_section(profiles, out) + sustained_section(frame, out)
    report.html.write_text(render_html(cells, failed, runs, plots, ylabel, extra))
    return report


def render_markdown(cells: pd.DataFrame, failed: pd.DataFrame, ylabel: str) -> str:
    def esc(text) -> str:
        return html.escape(str(text)).replace("|", "\\|")

    lines = [
        "## Benchmark results",
        "",
        f"Accuracy: {ylabel}. Latency: median of all samples per cell.",
        "",
        "| model | device | runtime | format | threads | median ms | p90 ms | mJ/inference | top-1 |",
        "|---|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for _, c in cells.iterrows():
        energy = "-" if pd.isna(c["energy_mj_per_inference"]) else f"{c['energy_mj_per_inference']:.2f}"
        top1 = "-" if pd.isna(c.get("top1")) else f"{c['top1']:.1f}"
        lines.append(
            f"| {esc(c['model'])} | {esc(c['device'])} | {esc(c['runtime'])} | "
            f"{esc(c['format'])}/{esc(c['precision'])} | {c['threads']} | {c['median_ms']:.2f} | "
            f"{c['p90_ms']:.2f} | {energy} | {top1} |"
        )
    if len(failed):
        lines += ["", f"### Failed cells ({len(failed)})", ""]
        lines += [
            f"- {esc(f['model'])} {esc(f['format'])}/{esc(f['precision'])} {esc(f['runtime'])}: {esc(f['error'])}"
            for _, f in failed.iterrows()
        ]
    return "\n".join(lines) + "\n"


_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1400px}
table{border-collapse:collapse;font-size:13px;margin:1em 0}
th,td{border:1px solid #ccc;padding:3px 7px;text-align:right}
th{background:#f0f0f0;cursor:pointer;user-select:none}
td.t,th.t{text-align:left}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}
.failed td{background:#fff0f0}
code{background:#f5f5f5;padding:0 3px}
"""

# Sorting by clicking a header, and a load check that marks each plot; the only script on the page.
_SCRIPT = """
document.querySelectorAll('table.sortable th').forEach(function (th, col) {
  th.addEventListener('click', function () {
    var body = th.closest('table').tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    var asc = th.dataset.dir !== 'asc';
    th.dataset.dir = asc ? 'asc' : 'desc';
    rows.sort(function (a, b) {
      var x = a.cells[col].dataset.v || a.cells[col].textContent;
      var y = b.cells[col].dataset.v || b.cells[col].textContent;
      var nx = parseFloat(x), ny = parseFloat(y);
      var r = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
      return asc ? r : -r;
    });
    rows.forEach(function (r) { body.appendChild(r); });
  });
});
window.addEventListener('load', function () {
  document.querySelectorAll('img').forEach(function (img) {
    img.dataset.loaded = String(img.complete && img.naturalWidth > 0);
  });
  document.body.dataset.ready = '1';
});
"""


def render_html(
    cells: pd.DataFrame, failed: pd.DataFrame, runs: list[dict], plots: list[Path], ylabel: str, extra: str = ""
) -> str:
    e = html.escape
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Benchmark report</title>",
        f"<style>{_STYLE}</style></head><body>",
        "<h1>Benchmark report</h1>",
        f"<p>Accuracy axis: <b>{e(ylabel)}</b>. Published accuracy comes from the model cards "
        "(source cited per model in <code>bench models</code>); it is not measured here.</p>",
    ]
    for plot in plots:
        if plot.suffix == ".png":
            data = base64.b64encode(plot.read_bytes()).decode()
            parts.append(
                f"<h2>{e(plot.stem.replace('_', ' '))}</h2><img alt='{e(plot.stem)}' "
                f"src='data:image/png;base64,{data}'>"
            )
    columns = [
        ("model", "t"),
        ("family", "t"),
        ("device", "t"),
        ("runtime", "t"),
        ("format", "t"),
        ("precision", "t"),
        ("threads", ""),
        ("median_ms", ""),
        ("p90_ms", ""),
        ("cv", ""),
        ("n_samples", ""),
        ("init_ms", ""),
        ("peak_memory_mb", ""),
        ("macs", ""),
        ("gflops_per_s", ""),
        ("energy_mj_per_inference", ""),
        ("top1", ""),
    ]
    parts.append(f"<h2>Results ({len(cells)} cells)</h2><table id='results' class='sortable'><thead><tr>")
    parts += [f"<th class='{cls}'>{e(name)}</th>" for name, cls in columns]
    parts.append("</tr></thead><tbody>")
    for _, c in cells.iterrows():
        parts.append("<tr>")
        for name, cls in columns:
            value = c.get(name)
            missing = value is None or (isinstance(value, float) and np.isnan(value))
            text = "-" if missing else (f"{value:.3g}" if isinstance(value, float) else str(value))
            sort = "" if missing or cls else f" data-v='{e(str(value))}'"
            parts.append(f"<td class='{cls}'{sort}>{e(text)}</td>")
        parts.append("</tr>")
    parts.append("</tbody></table>")
    parts.append(extra)  # where the time goes, sustained runs (already escaped)
    parts.append(f"<h2>Failed cells ({len(failed)})</h2>")
    if len(failed):
        parts.append(
            "<table id='failed'><thead><tr><th class='t'>model</th><th class='t'>cell</th>"
            "<th class='t'>reason</th></tr></thead><tbody>"
        )
        for _, f in failed.iterrows():
            parts.append(
                f"<tr class='failed'><td class='t'>{e(str(f['model']))}</td><td class='t'>"
                f"{e(str(f['format']))}/{e(str(f['precision']))} {e(str(f['runtime']))} on "
                f"{e(str(f['device']))}</td><td class='t'>{e(str(f['error']))}</td></tr>"
            )
        parts.append("</tbody></table>")
    else:
        parts.append("<p>None.</p>")
    parts.append("<h2>Environment</h2>")
    for run in runs:
        env = json.dumps(run["environment"], indent=1, sort_keys=True)
        parts.append(
            f"<h3>run {e(run['run_id'])} on {e(run['device'])} ({e(run['created_at'])}, "
            f"{e(run['status'])})</h3><pre>{e(env)}</pre>"
        )
    parts.append(
        "<h2>How each number was measured</h2><ul>"
        "<li>Each cell ran in a fresh agent process: warm-up runs, then timed runs until the minimum count and "
        "minimum duration were both met (or the median's 95% CI was tight enough); every per-inference latency "
        "is kept. Median, p90 and CV are over all samples of the cell (repeats pooled).</li>"
        "<li>init = session / interpreter creation; peak memory = the agent's peak resident set (VmHWM).</li>"
        "<li>MACs: fvcore multiply-adds (what papers call FLOPs); GFLOP/s = 2 x MACs / median latency.</li>"
        "<li>Energy per inference = (energy over the timed window - idle power x window time) / inferences, "
        "from the device's counters; '-' means no meter worked (the reason is in the results).</li>"
        "<li>Thermal state was read before each cell and the run waited (bounded) for it to settle.</li></ul>"
    )
    parts.append(f"<script>{_SCRIPT}</script></body></html>")
    return "".join(parts)
