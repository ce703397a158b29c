"""Interleaved A/B measurement of two versions of the same models, judged on paired rounds.

Two versions (two git revisions of the user's repository, or two models given directly) are
exported first (the export cache is shared), then measured in ``rounds`` rounds on one device.
In each round every cell is measured once per version, in fresh runner invocations (a fresh
agent process, or a phone's native tool) with the usual protocol, A then B or B then A: the
order is drawn per round from a seeded RNG and recorded. Slow drift (a noisy neighbour, the CPU
clock, the machine a CI job landed on) hits both versions of a round alike, so the per-round
ratio B/A cancels it; two runs on two days compare the machines, not the code.

The verdict per cell (:func:`paired_verdict`) follows asv's two conditions on the per-round
medians: a regression only when the Wilcoxon signed-rank test of the log ratios is significant
at ``alpha`` **and** the median ratio moved by more than the threshold; ``inconclusive`` when the
bootstrap 95% CI of the change straddles the threshold; ``not-tested`` (with the reason) when
fewer than :data:`MIN_ROUNDS` rounds are complete or the rounds are too few for the test ever to
reach ``alpha``. A round in which either version failed (its agent died, the tool failed) is
dropped from that cell, and said; every measurement, failed ones included, is stored in one run,
tagged in its settings with its side, version, round and position in the round.
"""

from __future__ import annotations

import math
import os
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace

import numpy as np

from bench.errors import BenchError
from bench.measure import stats
from bench.measure.measurement import Cell, Measurement
from bench.measure.revisions import Version
from bench.results.compare import two_condition_verdict

MIN_ROUNDS = 3  # complete rounds below which a cell is not tested
UNTESTED_FACTOR = 2.0  # a not-tested cell fails the gate beyond this many thresholds (untested_regression)
ORDERS = ("AB", "BA")
VERDICTS = ("regression", "improvement", "unchanged", "inconclusive", "not-tested")


def round_orders(rounds: int, seed: int) -> list[str]:
    """The order of each round, ``"AB"`` (A measured first) or ``"BA"``, drawn independently with
    probability 1/2 from a ``numpy`` RNG seeded with ``seed``: the same seed gives the same orders."""
    rng = np.random.default_rng(seed)
    return [ORDERS[int(x)] for x in rng.integers(0, 2, size=rounds)]


def rounds_needed(alpha: float) -> int:
    """The fewest complete rounds with which the exact Wilcoxon test can give ``p < alpha``."""
    n = 1
    while stats.wilcoxon_smallest_p(n) >= alpha:
        n += 1
    return n


@dataclass(frozen=True)
class PairedVerdict:
    """The verdict on one cell from its complete rounds; latencies in ms.

    ``a_ms`` / ``b_ms``: the median over rounds of each version's per-round median; ``change``: the
    median per-round ratio B/A minus 1 (+0.05 = B 5% slower), ``change_ci`` its bootstrap 95% CI;
    ``p_value``: two-sided Wilcoxon signed-rank of the log ratios; ``reason``: why a cell is
    ``not-tested`` or ``inconclusive``."""

    verdict: str
    rounds: int
    a_ms: float | None = None
    b_ms: float | None = None
    change: float | None = None
    change_ci: tuple[float, float] | None = None
    p_value: float | None = None
    reason: str | None = None

    def untested_regression(self, threshold: float) -> bool:
        """A ``not-tested`` cell that is slower by more than twice ``threshold`` beyond doubt short
        of a test: the low end of its 95% CI, or, with too few rounds for a CI, its change, above
        :data:`UNTESTED_FACTOR` x ``threshold``. The gate fails on it: too few rounds never let a
        2x slowdown pass. Twice, because with the few rounds that leave a cell untested the
        bootstrap CI covers less than it says (for 3 rounds it is their range, which holds the
        median 75% of the time), and fresh agents of one file against itself on a shared CI
        runner drifted 5.5-7.8% apart over 3 rounds."""
        if self.verdict != "not-tested" or self.change is None:
            return False
        return (self.change_ci[0] if self.change_ci else self.change) > UNTESTED_FACTOR * threshold

    def to_dict(self) -> dict:
        out = asdict(self)
        out["change_ci"] = list(self.change_ci) if self.change_ci else None
        return out


def paired_verdict(
    a_ms,
    b_ms,
    threshold: float = 0.05,
    alpha: float = 0.01,
    min_rounds: int = MIN_ROUNDS,
    seed: int = 0,
    dropped: int = 0,
) -> PairedVerdict:
    """The verdict on paired per-round latencies (ms) of versions A and B (module docstring).

    ``threshold``: the smallest relative change that counts (0.05 = 5%); ``alpha``: the test's
    significance level; ``seed``: the bootstrap's; ``dropped``: rounds of the cell that were dropped
    (said in a ``not-tested`` reason, and counted in the rounds it asks for). Raises ValueError for
    unequal lengths or a latency that is not above 0."""
    ratios = stats.paired_ratios(a_ms, b_ms)
    n = int(ratios.size)
    lost = f" ({dropped} dropped)" if dropped else ""
    if n < min_rounds:
        numbers = {}
        if n:  # no CI or test, but the change is known: a large one fails the gate (untested_regression)
            change = stats.paired_change(a_ms, b_ms)
            numbers = {"a_ms": stats.median(a_ms), "b_ms": stats.median(b_ms), "change": change}
        reason = f"{n} complete rounds{lost}; at least {min_rounds} are needed"
        return PairedVerdict("not-tested", n, reason=reason, **numbers)
    change = stats.paired_change(a_ms, b_ms)
    ci = stats.paired_change_ci(a_ms, b_ms, seed=seed)
    p = stats.wilcoxon_log_ratio_p(a_ms, b_ms)
    numbers = {
        "a_ms": stats.median(a_ms),
        "b_ms": stats.median(b_ms),
        "change": change,
        "change_ci": ci,
        "p_value": p,
    }
    signed = int(np.count_nonzero(ratios != 1))
    if stats.wilcoxon_smallest_p(signed) >= alpha:
        reason = (
            f"{signed} rounds{lost} cannot reach p < {alpha:g} (their smallest possible p is "
            f"{stats.wilcoxon_smallest_p(signed):.2g}): use --rounds {rounds_needed(alpha) + dropped} or more"
        )
        return PairedVerdict("not-tested", n, reason=reason, **numbers)
    verdict = two_condition_verdict(change, p, threshold, alpha)
    reason = None
    if verdict == "unchanged":
        for limit in (threshold, -threshold):
            if ci[0] < limit < ci[1]:
                verdict = "inconclusive"
                reason = f"the 95% CI of the change ({ci[0]:+.1%} .. {ci[1]:+.1%}) straddles {limit:+.1%}"
                break
    return PairedVerdict(verdict, n, reason=reason, **numbers)


@dataclass(frozen=True)
class Pair:
    """One cell measured on both versions: ``label`` names it for people (the model as the user named
    it, with format, precision, runtime and threads); ``a`` and ``b`` are each version's cell (their
    models are each version's reference)."""

    label: str
    a: Cell
    b: Cell


def pair_cells(labels: list[str], a_cells: list[list[Cell]], b_cells: list[list[Cell]]) -> list[Pair]:
    """Per model (``labels[i]``), its cells on version A and on version B paired by position (the two
    plans differ only in the model reference); BenchError when a model's plans differ in length (two
    model files of different formats are still one pair each)."""
    pairs = []
    for label, a_list, b_list in zip(labels, a_cells, b_cells, strict=True):
        if len(a_list) != len(b_list):
            raise BenchError(f"{label}: {len(a_list)} cells on A but {len(b_list)} on B; name one format")
        for a, b in zip(a_list, b_list, strict=True):
            where = a.runtime if a.accelerator == "cpu" else f"{a.runtime}[{a.accelerator}]"
            pairs.append(Pair(f"{label} {a.format}/{a.precision} {where} x{a.threads}", a, b))
    return pairs


@dataclass(frozen=True)
class Round:
    """One round of one cell: its ``order``, each version's median (ms) and, for a dropped round, why."""

    index: int
    order: str
    a_ms: float | None = None
    b_ms: float | None = None
    dropped: str | None = None
    contended: dict[str, float] = field(default_factory=dict)
    """Side ("a", "b") -> others' share of the measured CPUs, for each version whose measurement in
    this round was flagged contended (``Measurement.contention``)."""

    @property
    def complete(self) -> bool:
        return self.dropped is None and self.a_ms is not None and self.b_ms is not None

    def to_dict(self) -> dict:
        ratio = self.b_ms / self.a_ms if self.complete else None
        return {**asdict(self), "ratio": ratio}


@dataclass
class CellAB:
    """One cell's rounds and verdict."""

    pair: Pair
    rounds: list[Round] = field(default_factory=list)
    verdict: PairedVerdict | None = None

    @property
    def complete(self) -> list[Round]:
        return [r for r in self.rounds if r.complete]

    @property
    def dropped(self) -> list[Round]:
        return [r for r in self.rounds if not r.complete]

    @property
    def contended(self) -> list[Round]:
        """Complete rounds in which a version ran while other processes used the measured CPUs."""
        return [r for r in self.complete if r.contended]

    def contended_text(self) -> str:
        """Those rounds as people read them: ``round 3: B 35%; round 7: A 12%, B 20%`` ("" for none)."""

        def shares(r: Round) -> str:
            return ", ".join(f"{side.upper()} {part:.0%}" for side, part in sorted(r.contended.items()))

        return "; ".join(f"round {r.index + 1}: {shares(r)}" for r in self.contended)

    def to_dict(self) -> dict:
        return {
            "cell": self.pair.label,
            "model_a": self.pair.a.model,
            "model_b": self.pair.b.model,
            "format": self.pair.a.format,
            "precision": self.pair.a.precision,
            "runtime": self.pair.a.runtime,
            "threads": self.pair.a.threads,
            **(self.verdict.to_dict() if self.verdict else {}),
            "rounds_complete": len(self.complete),
            "rounds_dropped": [{"round": r.index, "reason": r.dropped} for r in self.dropped],
            "rounds_contended": [{"round": r.index, "others_share": r.contended} for r in self.contended],
            "round_values": [r.to_dict() for r in self.rounds],
        }


@dataclass
class ABResult:
    """What ``bench ab`` measured and concluded: the stored run, the two versions, the seed and
    order of every round, each cell's rounds and verdict, and why the device was lost, if it was."""

    run_id: str
    device: str
    a: Version
    b: Version
    seed: int
    orders: list[str]
    threshold: float
    alpha: float
    cells: list[CellAB] = field(default_factory=list)
    lost: str | None = None
    wall_s: float | None = None
    resumed: int = 0  # rounds of cells kept from an interrupted attempt (``bench ab --resume``)

    @property
    def regressions(self) -> list[CellAB]:
        return [c for c in self.cells if c.verdict and c.verdict.verdict == "regression"]

    @property
    def untested_regressions(self) -> list[CellAB]:
        """Not-tested cells slower beyond the threshold (``PairedVerdict.untested_regression``)."""
        return [c for c in self.cells if c.verdict and c.verdict.untested_regression(self.threshold)]

    def to_dict(self) -> dict:
        untested = self.untested_regressions
        return {
            "run_id": self.run_id,
            "device": self.device,
            "a": self.a.to_dict(),
            "b": self.b.to_dict(),
            "seed": self.seed,
            "rounds": len(self.orders),
            "orders": self.orders,
            "threshold": self.threshold,
            "alpha": self.alpha,
            "test": "wilcoxon signed-rank on per-round log(B/A)",
            "min_rounds": MIN_ROUNDS,
            "device_lost": self.lost,
            "wall_s": self.wall_s,
            "rounds_resumed": self.resumed,
            "regressions": len(self.regressions),
            "untested_regressions": len(untested),
            "cells": [{**c.to_dict(), "untested_regression": c in untested} for c in self.cells],
        }


def _tagged(
    measurement: Measurement,
    run_id: str,
    version: Version,
    side: str,
    index: int,
    order: str,
    label: str,
    attempt: str | None = None,
) -> Measurement:
    """``measurement`` as a measurement of the A/B run: its repeat is the round, its settings say
    which cell (its pair's ``label``) and version it measured, in which round and in which position
    of the round, and by which ``attempt`` (one ``bench ab`` process; a resume is a new attempt)."""
    tag = {
        "cell": label,
        "attempt": attempt,
        "side": side,
        "version": version.name,
        "label": version.label,
        "revision": version.revision,
        "commit": version.commit,
        "round": index,
        "order": order,
        "position": order.index(side.upper()),
    }
    return replace(
        measurement,
        run_id=run_id,
        cell=replace(measurement.cell, repeat=index),
        settings={**measurement.settings, "ab": tag},
    )


def _contended(by_side: dict[str, Measurement]) -> dict[str, float]:
    """Side -> others' share of the measured CPUs, for the measurements flagged contended."""
    return {
        side: m.contention.get("others_share", 0.0)
        for side, m in by_side.items()
        if isinstance(m.contention, dict) and m.contention.get("contended")
    }


def _round_value(measurement: Measurement) -> tuple[float | None, str | None]:
    """A version's latency in a round (its median, ms) or why there is none."""
    if measurement.status != "ok":
        return None, measurement.error or "failed"
    value = measurement.median_ms
    if value is None or not math.isfinite(value) or value <= 0:
        return None, "no median latency"
    return float(value), None


def check_resumable(
    previous: dict | None, device: str, a: Version, b: Version, pairs: list[Pair], delegation: dict | None = None
) -> dict:
    """The unfinished A/B run ``previous`` (the latest unfinished A/B run on ``device``, a
    :meth:`Store.resumable_run` row) when it measured the same two versions (same revisions and
    commits; a working tree with the same local changes), the same cells and, where it recorded them,
    the same ``delegation`` settings as this command would; BenchError saying what differs otherwise.
    (That the model files themselves are unchanged is checked by :func:`measure_ab` once exported.)"""
    from bench.results.store import hide_secrets

    if previous is None:
        raise BenchError(f"nothing to resume: no unfinished bench ab run on device '{device}'")
    recorded = previous["settings"]["ab"]
    for side, version in (("a", a), ("b", b)):
        # a revision is the commit it names (--base master or --base HEAD, the same commit: the same
        # version); a model file given directly, its name (its content is checked once exported)
        same = recorded[side].get("commit") == version.commit if version.commit else recorded[side] == version.to_dict()
        if not same:
            was, now = recorded[side]["label"], version.label
            if was == now:  # the same names, other commits or other local changes
                was, now = f"{was} at {_short(recorded[side]['commit'])}", f"{now} at {_short(version.commit)}"
            raise BenchError(
                f"the unfinished bench ab run {previous['run_id']} measured {was} as {side.upper()}, not {now}; "
                "--resume continues the latest unfinished bench ab run on the device "
                f"(it ran: bench {hide_secrets(previous.get('argv') or 'ab')})"
            )
    cells = [c["cell"] for c in recorded["cells"]]
    if cells != [p.label for p in pairs]:
        raise BenchError(
            f"the unfinished bench ab run {previous['run_id']} measured {', '.join(cells)}; this command "
            f"names {', '.join(p.label for p in pairs)}"
        )
    kept = previous["settings"].get("delegation")
    if kept is not None and delegation is not None and kept != delegation:
        raise BenchError(
            f"the unfinished bench ab run {previous['run_id']} measured with delegate settings {kept}, not "
            f"{delegation}: give its --delegate-option / --require-full-delegation"
        )
    return previous


def _short(commit: str | None) -> str:
    """A commit id as messages show it: 12 digits, and the digest of local changes after them."""
    if not commit:
        return "no commit"
    head, plus, rest = commit.partition("+")
    return head[:12] + plus + rest


def _kept_rounds(store, run_id: str, labels: list[str]) -> dict[tuple[str, int], tuple[Measurement, Measurement]]:
    """The rounds an earlier attempt of A/B run ``run_id`` finished, by (cell label, round): the
    latest measurement of each version (whatever its status), kept only when both have a latency and
    were measured by the same attempt (so a round's pair is never hours apart). A run stored before
    measurements named their cell is read as one of ``labels`` when it has only one cell."""
    latest: dict[tuple[str, int, str], tuple[Measurement, str | None]] = {}
    for row in store.measurement_rows(run_id):
        tag = (row.get("settings") or {}).get("ab") or {}
        cell = tag.get("cell", labels[0] if len(labels) == 1 else None)
        if cell is not None and {"round", "side"} <= tag.keys():
            latest[cell, tag["round"], tag["side"]] = (Measurement.from_row(row), tag.get("attempt"))
    kept = {}
    for (cell, index, side), (measured_a, attempt) in latest.items():
        if side != "a" or (cell, index, "b") not in latest:
            continue
        measured_b, attempt_b = latest[cell, index, "b"]
        if attempt == attempt_b and _round_value(measured_a)[0] and _round_value(measured_b)[0]:
            kept[cell, index] = (measured_a, measured_b)
    return kept


def measure_ab(
    harness,
    pairs: list[Pair],
    a: Version,
    b: Version,
    rounds: int,
    seed: int,
    threshold: float = 0.05,
    alpha: float = 0.01,
    argv: str = "",
    on_measurement: Callable[[Pair, str, int, Measurement], None] | None = None,
    resume: dict | None = None,
) -> ABResult:
    """Export both versions of every pair, measure them in ``rounds`` interleaved rounds on
    ``harness``'s device (its store must be set), store every measurement in one new run and judge
    each cell (module docstring).

    Each version's model is exported once, before the first round; a version that cannot be
    exported leaves its cell ``not-tested`` with the reason (the failure is stored). A lost device
    ends the rounds; what was measured is judged. ``on_measurement(pair, side, round, measurement)``
    is called after each stored measurement. A run that ends early (Ctrl-C, an error) is marked
    ``interrupted``, one whose device was lost ``device-lost``.

    ``resume``: an unfinished A/B run (:func:`check_resumable`) to finish instead of a new run, with
    its own rounds, orders and seed (``rounds`` and ``seed`` are not used): a round of a cell whose
    two versions both measured before is kept, every other round is measured (both versions), and
    the verdicts are on all of them. The run's lease is taken first (BenchError naming the process
    that measures it now)."""
    from bench.measure.environment import fingerprint
    from bench.measure.harness import failed_measurement, prepare_workload
    from bench.results.lease import RunLease, this_holder

    store = harness.store
    started = time.time()
    if resume is not None:
        recorded = resume["settings"]["ab"]
        run_id, seed, orders = resume["run_id"], recorded["seed"], list(recorded["orders"])
        lease = RunLease(store, run_id)
        try:
            lease.take()
        except BenchError:
            harness.transport.close()
            raise
        kept = _kept_rounds(store, run_id, [p.label for p in pairs])
    else:
        orders = round_orders(rounds, seed)
        plan = [
            replace(cell, repeat=index).plan_entry()
            for index in range(rounds)
            for pair in pairs
            for cell in (pair.a, pair.b)
        ]
        settings = {
            "protocol": asdict(harness.protocol),
            "options": harness.option_overrides,
            "plan": {},
            "delegation": asdict(harness.delegation),
            "ab": {
                "a": a.to_dict(),
                "b": b.to_dict(),
                "seed": seed,
                "rounds": rounds,
                "orders": orders,
                "threshold": threshold,
                "alpha": alpha,
                "cells": [{"cell": p.label, "a": p.a.model, "b": p.b.model} for p in pairs],
            },
        }
        holder = this_holder()
        run_id = store.start_run(harness.device.name, fingerprint(), plan, argv, settings, holder)
        lease = RunLease(store, run_id, holder)
        kept = {}
    result = ABResult(run_id, harness.device.name, a, b, seed, orders, threshold, alpha)
    versions = {"a": a, "b": b}
    attempt = uuid.uuid4().hex[:8]
    status = "interrupted"  # what the run is marked when it ends before its verdicts
    with lease:
        try:
            harness.transport.prepare()
            workloads: dict[tuple[int, str], object] = {}
            cells = [CellAB(pair) for pair in pairs]
            for i, cab in enumerate(cells):
                for side, cell in (("a", cab.pair.a), ("b", cab.pair.b)):
                    workload, error = prepare_workload(cell)
                    tree = versions[side].tree
                    if error and tree is not None and versions[side].commit:  # a file of that revision: by its
                        error = error.replace(f"{tree}{os.sep}", "")  # path in the repository, not the temporary one
                    if error:
                        failed = failed_measurement(cell, harness.device.name, harness.protocol, error)
                        failed = _tagged(failed, run_id, versions[side], side, 0, orders[0], cab.pair.label, attempt)
                        store.add_measurement(failed)
                        cab.verdict = PairedVerdict("not-tested", 0, reason=f"{versions[side].label}: {error}")
                    workloads[i, side] = workload
            for (label, _), pair in kept.items():  # a kept round must be of the files measured now
                i = next((k for k, cab in enumerate(cells) if cab.pair.label == label), None)
                for side, measured in zip(("a", "b"), pair, strict=True):
                    now = getattr(workloads.get((i, side)), "sha256", None)
                    if measured.artifact_sha256 and now and measured.artifact_sha256 != now:
                        raise BenchError(
                            f"{label}: {versions[side].label}'s model is not the one run {run_id} measured "
                            f"(sha256 {measured.artifact_sha256[:12]}, now {now[:12]}); start a new bench ab"
                        )
            for index, order in enumerate(orders):
                for i, cab in enumerate(cells):
                    if cab.verdict is not None:  # a version that could not be exported
                        continue
                    before = kept.get((cab.pair.label, index))
                    if before:  # both versions of this round measured by one earlier attempt
                        seen = _contended(dict(zip("ab", before, strict=True)))
                        cab.rounds.append(Round(index, order, before[0].median_ms, before[1].median_ms, None, seen))
                        result.resumed += 1
                        continue
                    values: dict[str, float | None] = {}
                    measurements: dict[str, Measurement] = {}
                    reasons = []
                    for side in order.lower():
                        cell = cab.pair.a if side == "a" else cab.pair.b
                        measured = harness.measure_with_retry(cell, workloads[i, side])
                        if lease.lost:
                            raise BenchError(
                                f"run {run_id} was taken over by {lease.lost} while this process did not renew "
                                "its lease; stopped without storing more"
                            )
                        measured = _tagged(measured, run_id, versions[side], side, index, order, cab.pair.label,
                                           attempt)  # fmt: skip
                        measured = store.stored(measured)
                        if on_measurement:
                            on_measurement(cab.pair, side, index, measured)
                        values[side], reason = _round_value(measured)
                        measurements[side] = measured
                        if reason:
                            reasons.append(f"{versions[side].name}: {reason}")
                        if harness.lost:
                            break
                    dropped = f"device lost: {harness.lost}" if harness.lost else "; ".join(reasons) or None
                    cab.rounds.append(Round(index, order, values.get("a"), values.get("b"), dropped,
                                            _contended(measurements)))  # fmt: skip
                    if harness.lost:
                        break
                if harness.lost:
                    result.lost = harness.lost
                    break
            for cab in cells:
                if cab.verdict is None:
                    complete = cab.complete
                    cab.verdict = paired_verdict([r.a_ms for r in complete], [r.b_ms for r in complete], threshold,
                                                 alpha, seed=seed, dropped=len(cab.dropped))  # fmt: skip
            result.cells = cells
            status = "device-lost" if result.lost else "finished"
        finally:
            if not harness.lost:
                harness.transport.restore()
            harness.transport.close()
            if not lease.lost:  # a run another process took over is its to finish
                store.finish_run(run_id, status)
    result.wall_s = time.time() - started
    return result
