"""Latency history: a cell's median over the stored runs in commit order, with step detection.

asv's approach (its ``step_detect``: a piecewise-constant fit with a penalty on each step, from the
description in asv's documentation), done with ``ruptures``' PELT search on the log of the medians
with an L1 cost, so a single noisy run is not a step and a lasting change is. The penalty comes
from the noise of the history itself (the median absolute difference of consecutive runs), so a
noisy device needs a larger change to show a step. A step is reported when its segments' medians
differ by at least ``threshold``; it names the first run (commit) of the new level.
"""

from __future__ import annotations

import math
import subprocess
from dataclasses import dataclass, field

import numpy as np

from bench.measure.measurement import Cell, Measurement


@dataclass(frozen=True)
class Point:
    """One stored run of a cell: its run id, commit (None when not recorded), when it ran, and the
    pooled median of its repeats in ms."""

    run_id: str
    commit: str | None
    created_at: str
    median_ms: float


@dataclass(frozen=True)
class Step:
    """A lasting change in a cell's history: it starts at ``points[index]`` (``commit``), from
    ``before_ms`` to ``after_ms`` (the medians of the two segments), ``change`` = after / before - 1."""

    index: int
    commit: str | None
    run_id: str
    before_ms: float
    after_ms: float

    @property
    def change(self) -> float:
        return self.after_ms / self.before_ms - 1.0


@dataclass
class History:
    """A pooled cell (:data:`~bench.measure.measurement.POOLED_FIELDS` key) and its points, oldest
    commit first, with the steps found."""

    cell: tuple
    points: list[Point]
    steps: list[Step] = field(default_factory=list)

    @property
    def label(self) -> str:
        model, fmt, precision, runtime, accelerator, device, threads = self.cell
        where = runtime if accelerator == "cpu" else f"{runtime}[{accelerator}]"
        return f"{model} {fmt}/{precision} {where} x{threads} on {device}"


def detect_steps(medians: list[float], threshold: float = 0.05) -> list[tuple[int, float, float]]:
    """``(index, before, after)`` of each lasting level change in ``medians`` (ms, in commit order):
    PELT with an L1 cost on log(medians), segments of at least 2 runs (one slow run is not a step),
    penalty ``4 * sigma`` per step where ``sigma`` is the noise between consecutive runs (1.4826 x
    the median absolute consecutive difference / sqrt 2, at least 0.5%); then neighbouring segments
    whose medians differ by less than ``threshold`` are merged (closest first), so noise that split a
    level does not hide its step. Fewer than 4 points have no steps, nor has a history with a median
    of 0 ms or less (it has no logarithm)."""
    import ruptures as rpt

    if len(medians) < 4 or min(medians) <= 0:
        return []
    values = np.asarray(medians, dtype=float)
    y = np.log(values)
    sigma = max(1.4826 * float(np.median(np.abs(np.diff(y)))) / math.sqrt(2), 0.005)
    ends = rpt.Pelt(model="l1", min_size=2, jump=1).fit(y.reshape(-1, 1)).predict(pen=4 * sigma)
    bounds = [0, *ends]
    segments = [(bounds[i], bounds[i + 1]) for i in range(len(bounds) - 1)]

    def level(segment: tuple[int, int]) -> float:
        return float(np.median(values[segment[0] : segment[1]]))

    while len(segments) > 1:
        gaps = [abs(math.log(level(b) / level(a))) for a, b in zip(segments, segments[1:], strict=False)]
        closest = int(np.argmin(gaps))
        if gaps[closest] >= math.log1p(threshold):
            break
        a, b = segments[closest], segments[closest + 1]
        segments[closest : closest + 2] = [(a[0], b[1])]
    return [(b[0], level(a), level(b)) for a, b in zip(segments, segments[1:], strict=False)]


def commit_order(commits: set[str]) -> dict[str, int]:
    """Position of each commit in this repository's history (``git rev-list --topo-order --reverse
    --all``; oldest first); commits the repository does not have are left out."""
    try:
        done = subprocess.run(
            ["git", "rev-list", "--topo-order", "--reverse", "--all"], capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired):
        return {}
    if done.returncode != 0:
        return {}
    order = {sha: i for i, sha in enumerate(done.stdout.split())}
    return {c: order[c] for c in commits if c in order}


def build_histories(rows: list[dict], runs: list[dict], threshold: float = 0.05) -> list[History]:
    """One :class:`History` per pooled cell of the ``ok`` measurement ``rows`` (store rows with
    samples), its runs ordered by their commit's position in this repository's history (runs of an
    unknown commit, or none, by when they ran), repeats of a run pooled; steps found by
    :func:`detect_steps`."""
    run_info = {r["run_id"]: r for r in runs}
    by_cell: dict[tuple, dict[str, list[Measurement]]] = {}
    for row in rows:
        if row["status"] != "ok":
            continue
        measured = Measurement.from_row(row)
        by_cell.setdefault(Cell.from_row(row).pooled_key, {}).setdefault(row["run_id"], []).append(measured)
    order = commit_order({r.get("git_commit") for r in runs if r.get("git_commit")})
    histories = []
    for key, per_run in sorted(by_cell.items(), key=lambda item: tuple(map(str, item[0]))):
        points = []
        for run_id, parts in per_run.items():
            median = Measurement.merge(parts).median_ms
            if median is None:
                continue
            info = run_info.get(run_id, {})
            points.append(Point(run_id, info.get("git_commit"), str(info.get("created_at", "")), float(median)))
        points.sort(key=lambda p: (order.get(p.commit or "", math.inf), p.created_at))
        found = detect_steps([p.median_ms for p in points], threshold)
        steps = [Step(i, points[i].commit, points[i].run_id, before, after) for i, before, after in found]
        histories.append(History(key, points, steps))
    return histories
