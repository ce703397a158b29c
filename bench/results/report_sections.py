"""Report sections beyond the Pareto plots: where the time goes (saved ``bench profile`` results),
sustained runs (latency and temperature over time, with the throttling verdict) and latency
history (a cell's median per run in commit order, with the steps :mod:`bench.results.history` finds).

Each section function draws its plots into the report folder and returns plain data for the
HTML template (``templates/report.html.j2``), which escapes and lays it out; nothing here writes
HTML. :func:`pyplot` and :func:`save_figure` are the report's only matplotlib set-up and saving.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.measure.measurement import POOLED_FIELDS


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (files only, never a window)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_figure(fig, out_dir: Path, stem: str) -> list[Path]:
    """Save ``fig`` as ``stem.png`` and ``stem.svg`` in ``out_dir``, close it; returns [png, svg]."""
    plt = pyplot()
    paths = []
    for suffix in ("png", "svg"):
        path = out_dir / f"{stem}.{suffix}"
        fig.savefig(path, dpi=110, bbox_inches="tight")
        paths.append(path)
    plt.close(fig)
    return paths


def _slug(*parts: str) -> str:
    return "_".join("".join(c if c.isalnum() else "-" for c in str(p)) for p in parts)


def profile_section(profiles: list[dict], out_dir: Path) -> list[dict]:
    """One bar chart per saved profile (as written by ``bench profile``).

    Returns one entry per profile for the template: the profile's fields (model, runtime, device,
    blocks with ms / share / macs / gflops_per_s, blocks_ms, total_ms, note), ``png`` (its chart)
    and ``fallback`` (one line per node that fell back from the delegate or execution provider).
    """
    if not profiles:
        return []
    from bench.profiling.profile import fallback_summary

    plt = pyplot()
    entries = []
    for p in profiles:
        blocks = p["blocks"]
        fig, ax = plt.subplots(figsize=(7, 0.28 * len(blocks) + 1.2))
        ax.barh([b["block"] for b in blocks][::-1], [b["ms"] for b in blocks][::-1], color="#4c72b0")
        ax.set_xlabel("ms per inference")
        ax.set_title(f"{p['model']} on {p['runtime']} ({p['device']}, {p['threads']} thread(s))")
        stem = "profile_" + _slug(p["model"], p["runtime"], p["device"], p["threads"], p["depth"])
        png, _ = save_figure(fig, out_dir, stem)
        fallback = fallback_summary(p["fallback"]) if p.get("fallback") else []
        entries.append({**p, "note": p.get("note", ""), "png": png, "fallback": fallback})
    return entries


def sustained_runs(frame: pd.DataFrame) -> list[dict]:
    """The sustained series of every ok measurement that has one, with its cell's names."""
    out = []
    for _, row in frame[frame["status"] == "ok"].iterrows():
        thermal = row.get("thermal")
        if isinstance(thermal, dict) and thermal.get("sustained"):
            out.append(
                {**{k: row[k] for k in ("model", "format", "runtime", "device", "threads")}, **thermal["sustained"]}
            )
    return out


def sustained_section(frame: pd.DataFrame, out_dir: Path) -> list[dict]:
    """Latency over time (and temperature or thermal status) for every sustained run.

    Returns one entry per run for the template: model, format, device, ``png``, ``points``,
    ``drift`` (text, e.g. '+3.1%'), ``throttled`` and ``reasons``.
    """
    runs = sustained_runs(frame)
    if not runs:
        return []
    plt = pyplot()
    entries = []
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
        png, _ = save_figure(
            fig, out_dir, "sustained_" + _slug(run["model"], run["format"], run["device"], run["threads"])
        )
        entries.append(
            {
                **{k: run[k] for k in ("model", "format", "device", "throttled")},
                "reasons": list(run.get("reasons") or []),
                "png": png,
                "points": len(run["series"]),
                "drift": "-" if run["drift"] is None else f"{run['drift']:+.1%}",
            }
        )
    return entries


HISTORY_MIN_RUNS = 3  # a cell measured in fewer runs has no history plot


def history_section(frame: pd.DataFrame, runs: list[dict], out_dir: Path) -> list[dict]:
    """One plot per pooled cell stored in at least :data:`HISTORY_MIN_RUNS` runs: its median per run
    (repeats pooled) in commit order, each step found by :func:`bench.results.history.build_histories`
    marked where its new level starts. ``frame``: the report's measurement rows (with samples);
    ``runs``: the store's runs of those rows (their commits and times order the points).

    Returns one entry per plotted cell for the template: ``label``, ``png``, ``points`` (runs) and
    ``steps`` (each: ``at`` (commit, or run id), ``before_ms``, ``after_ms``, ``change``, as text)."""
    from bench.results.history import build_histories

    ok = frame[frame["status"] == "ok"]
    if ok.empty or ok.groupby(list(POOLED_FIELDS))["run_id"].nunique().max() < HISTORY_MIN_RUNS:
        return []  # no cell has a history to draw: the repository's commits need not be read
    histories = [h for h in build_histories(ok.to_dict("records"), runs) if len(h.points) >= HISTORY_MIN_RUNS]
    if not histories:
        return []
    plt = pyplot()
    entries = []
    for history in histories:
        x = list(range(len(history.points)))
        fig, ax = plt.subplots(figsize=(7, 3))
        ax.plot(x, [p.median_ms for p in history.points], marker="o", color="#4c72b0", label="median latency")
        steps = []
        for step in history.steps:
            at = (step.commit or f"run {step.run_id}")[:12]
            ax.axvline(step.index - 0.5, color="#c44e52", linestyle="--", lw=1)
            ax.annotate(f"{step.change:+.1%}", (step.index - 0.5, (step.before_ms + step.after_ms) / 2),
                        color="#c44e52", fontsize=8, xytext=(4, 0), textcoords="offset points")  # fmt: skip
            steps.append({"at": at, "before_ms": f"{step.before_ms:.3f}", "after_ms": f"{step.after_ms:.3f}",
                          "change": f"{step.change:+.1%}"})  # fmt: skip
        every = max(1, len(x) // 12)  # at most about 12 labels
        ax.set_xticks(x[::every], [(p.commit or p.run_id)[:7] for p in history.points][::every], rotation=45,
                      fontsize=7)  # fmt: skip
        ax.set_xlabel("commit (runs in commit order)")
        ax.set_ylabel("median latency (ms)")
        ax.set_title(history.label, fontsize=9)
        ax.grid(alpha=0.3)
        png, _ = save_figure(fig, out_dir, "history_" + _slug(*history.cell))
        entries.append({"label": history.label, "png": png, "points": len(history.points), "steps": steps})
    return entries


def predicted_section(store: str | None, frame: pd.DataFrame, devices: list[str] | None,
                      runtimes: list[str] | None) -> list[dict]:  # fmt: skip
    """The latest ``bench predict`` row per model x runtime x accelerator x device x threads, each
    beside that cell's measured median where one is stored (and the prediction's error), for the
    report's own "predicted, not measured" table: predictions never enter the measured tables or
    plots. Each entry: model, runtime, accelerator, device, threads, predicted_ms, measured_ms
    (None when not measured by ``bench run``), error (None likewise), predictor, fingerprint (of its
    training set, 8 hex digits) and when it predicted, so predictions of two trainings are told apart."""
    from bench.results.store import Store

    rows = Store(store, create=False).measurement_rows(kind="predicted")
    latest: dict[tuple, dict] = {}
    for row in rows:
        if (devices and row["device"] not in devices) or (runtimes and row["runtime"] not in runtimes):
            continue
        latest[(row["model"], row["runtime"], row["accelerator"], row["device"], row["threads"])] = row
    entries = []
    for (model, runtime, accelerator, device, threads), row in sorted(latest.items()):
        measured = None
        if not frame.empty:
            same = frame[(frame["model"] == model) & (frame["runtime"] == runtime) & (frame["device"] == device)
                         & (frame["threads"] == threads) & (frame["accelerator"] == accelerator)
                         & (frame["status"] == "ok")]  # fmt: skip
            if len(same) and same["median_ms"].notna().any():
                measured = float(same["median_ms"].dropna().median())
        predicted = float(row["median_ms"])
        entries.append({
            "model": model, "runtime": runtime, "accelerator": accelerator, "device": device, "threads": threads,
            "predicted_ms": f"{predicted:.2f}", "measured_ms": None if measured is None else f"{measured:.2f}",
            "error": None if measured is None else f"{predicted / measured - 1:+.1%}",
            "predictor": (row["settings"] or {}).get("predictor", "?"),
            "fingerprint": str((row["settings"] or {}).get("fingerprint") or "?")[:8],
            "when": str(row.get("created_at") or "")[:16],
        })  # fmt: skip
    return entries
