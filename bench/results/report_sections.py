"""Report sections beyond the Pareto plots: where the time goes (saved ``bench profile`` results)
and sustained runs (latency and temperature over time, with the throttling verdict)."""

from __future__ import annotations

import base64
import html
from pathlib import Path

import pandas as pd


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # files only, never a window
    import matplotlib.pyplot as plt

    return plt


def _slug(*parts: str) -> str:
    return "_".join("".join(c if c.isalnum() else "-" for c in str(p)) for p in parts)


def _img(path: Path, alt: str) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f"<img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'>"


def _save(fig, out_dir: Path, stem: str) -> Path:
    for suffix in ("svg", "png"):
        fig.savefig(out_dir / f"{stem}.{suffix}", dpi=110, bbox_inches="tight")
    return out_dir / f"{stem}.png"


def profile_section(profiles: list[dict], out_dir: Path) -> str:
    """One bar chart and one table per saved profile."""
    if not profiles:
        return ""
    plt = _pyplot()
    e = html.escape
    parts = ["<h2>Where the time goes</h2>"]
    for p in profiles:
        blocks = p["blocks"]
        fig, ax = plt.subplots(figsize=(7, 0.28 * len(blocks) + 1.2))
        ax.barh([b["block"] for b in blocks][::-1], [b["ms"] for b in blocks][::-1], color="#4c72b0")
        ax.set_xlabel("ms per inference")
        ax.set_title(f"{p['model']} on {p['runtime']} ({p['device']}, {p['threads']} thread(s))")
        png = _save(fig, out_dir, "profile_" + _slug(p["model"], p["runtime"], p["device"], p["threads"], p["depth"]))
        plt.close(fig)
        parts.append(f"<h3>{e(p['model'])} on {e(p['runtime'])} ({e(p['device'])})</h3>{_img(png, 'profile')}")
        parts.append(
            f"<p>Blocks sum to {p['blocks_ms']:.2f} ms; the whole model measured alone {p['total_ms']:.2f} ms. "
            f"{e(p.get('note', ''))}</p><table class='profile'><thead><tr><th class='t'>block</th><th>ms</th>"
            "<th>share</th><th>MACs</th><th>GFLOP/s</th></tr></thead><tbody>"
        )
        for b in blocks:
            gflops = "-" if b["gflops_per_s"] is None else f"{b['gflops_per_s']:.1f}"
            parts.append(
                f"<tr><td class='t'>{e(b['block'])}</td><td>{b['ms']:.3f}</td><td>{b['share']:.1%}</td>"
                f"<td>{b['macs'] / 1e6:.1f}M</td><td>{gflops}</td></tr>"
            )
        parts.append("</tbody></table>")
        if p.get("fallback"):
            from bench.profiling.profile import fallback_summary

            items = "".join(f"<li>{e(line)}</li>" for line in fallback_summary(p["fallback"]))
            parts.append(f"<p>Nodes that fell back from the delegate or execution provider:</p><ul>{items}</ul>")
    return "".join(parts)


def sustained_runs(frame: pd.DataFrame) -> list[dict]:
    out = []
    for _, row in frame[frame["status"] == "ok"].iterrows():
        thermal = row.get("thermal")
        if isinstance(thermal, dict) and thermal.get("sustained"):
            out.append(
                {**{k: row[k] for k in ("model", "format", "runtime", "device", "threads")}, **thermal["sustained"]}
            )
    return out


def sustained_section(frame: pd.DataFrame, out_dir: Path) -> str:
    """Latency over time (and temperature or thermal status) for every sustained run."""
    runs = sustained_runs(frame)
    if not runs:
        return ""
    plt = _pyplot()
    e = html.escape
    parts = ["<h2>Sustained runs</h2>"]
    for run in runs:
        t = [c["t"] for c in run["series"]]
        fig, ax = plt.subplots(figsize=(7, 3))
        ax.plot(t, [c["median_ms"] for c in run["series"]], marker="o", color="#c44e52", label="median latency")
        ax.set_xlabel("seconds into the run")
        ax.set_ylabel("median latency (ms)")
        status = [c.get("status") for c in run["series"]]
        temps = [c.get("temp_c") for c in run["series"]]
        if any(v is not None for v in status) or any(v is not None for v in temps):
            twin = ax.twinx()
            thermal = status if any(v is not None for v in status) else temps
            twin.step(t, [float("nan") if v is None else v for v in thermal], where="post", color="#55a868")
            twin.set_ylabel("thermal status" if thermal is status else "hottest zone (C)")
        flag = "THROTTLED" if run["throttled"] else "no throttling"
        ax.set_title(f"{run['model']} {run['format']} on {run['device']}: {flag}")
        png = _save(fig, out_dir, "sustained_" + _slug(run["model"], run["format"], run["device"], run["threads"]))
        plt.close(fig)
        drift = "-" if run["drift"] is None else f"{run['drift']:+.1%}"
        verdict = f"<b class='throttled'>THROTTLED</b>: {e('; '.join(run['reasons']))}" if run["throttled"] else flag
        parts.append(
            f"<h3>{e(run['model'])} {e(run['format'])} on {e(run['device'])}</h3>{_img(png, 'sustained')}"
            f"<p class='sustained'>{len(run['series'])} points, latency drift {drift}; {verdict}</p>"
        )
    return "".join(parts)
