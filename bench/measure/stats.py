"""Statistics of per-inference latency samples, computed in one place from the raw samples.

Like ``torch.utils.benchmark.Measurement``: the samples are the record, everything else is
derived from them, so a later statistic can always be recomputed from the store. Every other
module (the harness, the report, the regression gate, the CLI) calls these functions instead of
computing its own: one bootstrap, one resample count, one way to pool repeats.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np

BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95
BOOTSTRAP_MEMORY = 2_000_000  # resampled values held at once, bounding memory for long sample lists


@dataclass(frozen=True)
class LatencyStats:
    """Summary statistics of one cell's latency, all in milliseconds except ``n_samples`` and ``cv``.

    Computed from samples by :func:`summarize`; a native tool's summary (no samples) may leave any
    field ``None`` where the tool did not report it. ``cv`` is a fraction (0.05 = 5%).
    """

    n_samples: int | None = None
    median_ms: float | None = None
    mean_ms: float | None = None
    p90_ms: float | None = None
    p95_ms: float | None = None
    p99_ms: float | None = None
    std_ms: float | None = None
    cv: float | None = None
    min_ms: float | None = None
    max_ms: float | None = None
    median_ci_low_ms: float | None = None
    median_ci_high_ms: float | None = None

    def to_dict(self) -> dict:
        """The fields by name, as the store's columns of the same names hold them."""
        return asdict(self)

    @classmethod
    def from_mapping(cls, values: dict) -> LatencyStats:
        """The statistics fields of ``values`` (missing or NaN -> None); other keys are ignored."""
        return cls(**{f.name: _value(values.get(f.name)) for f in fields(cls)})


STAT_FIELDS = tuple(f.name for f in fields(LatencyStats))


def _value(value):
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


def as_samples(samples_ms) -> np.ndarray:
    """Samples (any sequence of numbers, in ms) as a 1-D float64 array."""
    return np.asarray(samples_ms, dtype=np.float64).reshape(-1)


MAX_VALUE = 1e12  # ms (about 32 years), counts, times: anything larger is not a measurement, and its
# statistics (variance: the square) would overflow to inf


def _finite_number(value) -> bool:
    """A real number (not a bool, not text), finite, >= 0 and at most :data:`MAX_VALUE`."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and 0 <= value <= MAX_VALUE


def finite_samples(samples_ms) -> np.ndarray:
    """:func:`as_samples` for samples from outside (a results file, a device's agent): raises
    ValueError naming the first value that is not a finite number of ms >= 0 (text, NaN, inf, negative)."""
    if isinstance(samples_ms, (str, bytes, Mapping)) or not isinstance(samples_ms, Iterable):
        raise ValueError(f"samples_ms must be a list of numbers, not {type(samples_ms).__name__}")
    values = list(samples_ms)
    for i, value in enumerate(values):
        if not _finite_number(value):
            raise ValueError(f"sample {i} is {str(value)[:40]!r}, not a finite number of ms from 0 to {MAX_VALUE:g}")
    return as_samples(values)


def check_statistics(values: Mapping, names: Iterable[str] = STAT_FIELDS) -> None:
    """Raise ValueError naming the first of ``names`` in ``values`` that is given (not None) but is
    not a finite number from 0 to :data:`MAX_VALUE`: a latency statistic, a count or a time from outside."""
    for name in names:
        value = values.get(name)
        if value is None:
            continue
        if not _finite_number(value):
            raise ValueError(f"{name} is {str(value)[:40]!r}, not a finite number from 0 to {MAX_VALUE:g}")


def pool(sample_lists: Iterable) -> np.ndarray:
    """Repeats pooled: the samples of every list, merged into one array (empty lists are skipped)."""
    arrays = [as_samples(s) for s in sample_lists if s is not None and len(s)]
    return np.concatenate(arrays) if arrays else np.empty(0)


def bootstrap_median_ci(
    combine: Callable[..., np.ndarray],
    samples: Sequence[np.ndarray],
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of a statistic of the samples' medians.

    Each sample (1-D, ms) is resampled with replacement ``BOOTSTRAP_RESAMPLES`` times, in chunks
    so that at most about ``BOOTSTRAP_MEMORY`` values are held at once; ``combine`` gets the
    medians of k resamples of each sample (one array of shape (k,) per sample) and returns k
    values, e.g. ``lambda m: m`` for the median itself. Seeded, so reproducible.
    """
    rng = np.random.default_rng(seed)
    chunk = max(1, BOOTSTRAP_MEMORY // max(s.size for s in samples))
    values = []
    for start in range(0, BOOTSTRAP_RESAMPLES, chunk):
        k = min(chunk, BOOTSTRAP_RESAMPLES - start)
        values.append(combine(*(np.median(rng.choice(s, size=(k, s.size)), axis=1) for s in samples)))
    estimates = np.concatenate(values)
    tail = (1 - confidence) / 2
    return float(np.quantile(estimates, tail)), float(np.quantile(estimates, 1 - tail))


def median_ci(samples: np.ndarray, confidence: float = CONFIDENCE, seed: int = 0) -> tuple[float, float]:
    """Bootstrap (percentile) confidence interval of the median in ms, seeded so it is reproducible."""
    samples = as_samples(samples)
    if len(samples) < 2 or np.all(samples == samples[0]):
        value = float(np.median(samples))
        return value, value
    return bootstrap_median_ci(lambda medians: medians, (samples,), confidence, seed)


def median(samples) -> float:
    """The median of the samples (ms)."""
    return float(np.median(as_samples(samples)))


def median_change(base: np.ndarray, cand: np.ndarray) -> float:
    """Relative change of the median from ``base`` to ``cand``: +0.05 = 5% slower."""
    return median(cand) / median(base) - 1


def median_change_ci(
    base: np.ndarray, cand: np.ndarray, confidence: float = CONFIDENCE, seed: int = 0
) -> tuple[float, float]:
    """Bootstrap confidence interval of :func:`median_change` (both sides resampled independently)."""
    return bootstrap_median_ci(lambda b, c: c / b - 1, (as_samples(base), as_samples(cand)), confidence, seed)


def mann_whitney_p(base: np.ndarray, cand: np.ndarray) -> float:
    """Two-sided Mann-Whitney U p-value: do the two sample sets come from one distribution?"""
    from scipy import stats as sps  # only the regression gate needs scipy

    return float(sps.mannwhitneyu(cand, base, alternative="two-sided").pvalue)


def welch_p(base: LatencyStats, cand: LatencyStats) -> float | None:
    """Two-sided Welch t-test p-value from two summaries' mean, standard deviation and count (what a
    native tool prints when it keeps no samples); None when either side lacks one of them, has fewer
    than 2 inferences, or both have no spread. A test of the means, weaker than Mann-Whitney on
    samples for skewed latencies, but a test where otherwise there would be none."""
    from scipy import stats as sps

    sides = (base, cand)
    if any(s.mean_ms is None or s.std_ms is None or not s.n_samples or s.n_samples < 2 for s in sides):
        return None
    if base.std_ms == 0 and cand.std_ms == 0:
        return None
    result = sps.ttest_ind_from_stats(
        cand.mean_ms, cand.std_ms, cand.n_samples, base.mean_ms, base.std_ms, base.n_samples, equal_var=False
    )
    return float(result.pvalue)


def median_of(values: Iterable[float | None]) -> float | None:
    """Median of the values that are known (None and NaN skipped), e.g. a median of medians; None if none are."""
    known = [float(v) for v in values if _value(v) is not None]
    return float(np.median(known)) if known else None


@dataclass(frozen=True)
class Spread:
    """How far apart separate measurements of one cell landed (``bench run --repeats N``, or several
    runs): ``count`` medians known, their ``min_ms`` and ``max_ms``, and ``cv`` (sample standard
    deviation over mean, a fraction). Below 2 medians there is no spread: all but ``count`` are None.

    This is the run-to-run uncertainty a user should quote: each measurement's bootstrap CI of the
    median only covers the noise within its own timed window, not the drift between windows."""

    count: int
    min_ms: float | None = None
    max_ms: float | None = None
    cv: float | None = None


def spread_of_medians(medians: Iterable[float | None]) -> Spread:
    """:class:`Spread` of the known medians (ms; None and NaN skipped)."""
    known = np.asarray([float(v) for v in medians if _value(v) is not None], dtype=np.float64)
    if known.size < 2:
        return Spread(int(known.size))
    mean = float(known.mean())
    cv = float(known.std(ddof=1)) / mean if mean > 0 else 0.0
    return Spread(int(known.size), float(known.min()), float(known.max()), cv)


def summarize(samples_ms, ci: bool = True) -> LatencyStats:
    """Every statistic of the samples (ms); ``ci=False`` leaves the median's bootstrap CI out (it costs
    the most). Raises ValueError when there are no samples."""
    x = as_samples(samples_ms)
    if x.size == 0:
        raise ValueError("no samples")
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    low, high = median_ci(x) if ci else (None, None)
    return LatencyStats(
        n_samples=int(x.size),
        median_ms=float(np.median(x)),
        mean_ms=mean,
        p90_ms=float(np.percentile(x, 90)),
        p95_ms=float(np.percentile(x, 95)),
        p99_ms=float(np.percentile(x, 99)),
        std_ms=std,
        cv=std / mean if mean > 0 else 0.0,
        min_ms=float(x.min()),
        max_ms=float(x.max()),
        median_ci_low_ms=low,
        median_ci_high_ms=high,
    )


def pool_summaries(summaries: Sequence[LatencyStats]) -> LatencyStats:
    """Repeats pooled when there are no samples (native tools' summaries): one summary is itself;
    several give the median of each statistic, the sum of ``n_samples``, the extreme min and max,
    and no confidence interval (it cannot be recomputed without samples)."""
    if len(summaries) == 1:
        return summaries[0]
    known = [s.n_samples for s in summaries if s.n_samples is not None]
    return LatencyStats(
        n_samples=int(sum(known)),
        min_ms=min((s.min_ms for s in summaries if s.min_ms is not None), default=None),
        max_ms=max((s.max_ms for s in summaries if s.max_ms is not None), default=None),
        **{
            name: median_of(getattr(s, name) for s in summaries)
            for name in ("median_ms", "mean_ms", "p90_ms", "p95_ms", "p99_ms", "std_ms", "cv")
        },
    )


def gflops_per_s(macs: int | None, median_ms: float | None) -> float | None:
    """Achieved GFLOP/s: 2 flops per multiply-add over the median latency; None when either is unknown or 0."""
    return 2 * macs / (median_ms / 1e3) / 1e9 if macs and median_ms else None


# --- paired rounds (``bench ab``) -------------------------------------------------------------------


def paired_ratios(a_ms, b_ms) -> np.ndarray:
    """Per-round ratios B/A of two equally long sequences of per-round latencies (ms, > 0), in order;
    raises ValueError for sequences of different lengths or a value that is not above 0."""
    a, b = as_samples(a_ms), as_samples(b_ms)
    if a.size != b.size:
        raise ValueError(f"{a.size} rounds of A against {b.size} of B: paired rounds come in pairs")
    if a.size and (a.min() <= 0 or b.min() <= 0):
        raise ValueError("a paired latency must be above 0 ms")
    return b / a


def paired_change(a_ms, b_ms) -> float:
    """Relative change from A to B of paired rounds: the median of the per-round ratios B/A minus 1
    (+0.05 = B 5% slower). A drift shared by both sides of a round cancels in its ratio."""
    return float(np.median(paired_ratios(a_ms, b_ms))) - 1


def paired_change_ci(a_ms, b_ms, confidence: float = CONFIDENCE, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap confidence interval of :func:`paired_change`: whole rounds resampled with
    replacement (``BOOTSTRAP_RESAMPLES`` times, seeded), so each round's pairing is kept."""
    ratios = paired_ratios(a_ms, b_ms)
    if ratios.size < 2 or np.all(ratios == ratios[0]):
        value = float(np.median(ratios)) - 1 if ratios.size else float("nan")
        return value, value
    low, high = bootstrap_median_ci(lambda medians: medians, (ratios,), confidence, seed)
    return low - 1, high - 1


def wilcoxon_log_ratio_p(a_ms, b_ms) -> float:
    """Two-sided Wilcoxon signed-rank p-value of the per-round log ratios log(B/A): is the typical
    round's ratio different from 1? Exact for small round counts without ties (scipy); rounds whose
    ratio is exactly 1 carry no sign and are left out. 1.0 when no round is left."""
    from scipy import stats as sps

    logs = np.log(paired_ratios(a_ms, b_ms))
    logs = logs[logs != 0]
    if logs.size == 0:
        return 1.0
    return float(sps.wilcoxon(logs, zero_method="wilcox", alternative="two-sided").pvalue)


def wilcoxon_smallest_p(rounds: int) -> float:
    """The smallest two-sided p-value the exact Wilcoxon signed-rank test can give with ``rounds``
    pairs (every round moving the same way): ``2 / 2**rounds``. Below ``alpha`` only from
    ``rounds >= 8`` for alpha 0.01."""
    return min(1.0, 2.0 / 2.0**rounds)
