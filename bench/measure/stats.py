"""Statistics of per-inference latency samples, computed in one place from the raw samples.

Like ``torch.utils.benchmark.Measurement``: the samples are the record, everything else is
derived from them, so a later statistic can always be recomputed from the store.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import stats as sps

BOOTSTRAP_RESAMPLES = 2000
CONFIDENCE = 0.95


@dataclass(frozen=True)
class LatencyStats:
    n_samples: int
    median_ms: float
    mean_ms: float
    p90_ms: float
    p99_ms: float
    std_ms: float
    cv: float
    min_ms: float
    max_ms: float
    median_ci_low_ms: float
    median_ci_high_ms: float

    def to_dict(self) -> dict:
        return asdict(self)


def median_ci(samples: np.ndarray, confidence: float = CONFIDENCE, seed: int = 0) -> tuple[float, float]:
    """Bootstrap (percentile) confidence interval of the median, seeded so it is reproducible."""
    if len(samples) < 2 or np.all(samples == samples[0]):
        value = float(np.median(samples))
        return value, value
    result = sps.bootstrap(
        (samples,),
        np.median,
        n_resamples=BOOTSTRAP_RESAMPLES,
        confidence_level=confidence,
        method="percentile",
        vectorized=True,
        random_state=np.random.default_rng(seed),
    )
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def summarize(samples_ms) -> LatencyStats:
    x = np.asarray(samples_ms, dtype=np.float64)
    if x.size == 0:
        raise ValueError("no samples")
    mean = float(x.mean())
    std = float(x.std(ddof=1)) if x.size > 1 else 0.0
    low, high = median_ci(x)
    return LatencyStats(
        n_samples=int(x.size),
        median_ms=float(np.median(x)),
        mean_ms=mean,
        p90_ms=float(np.percentile(x, 90)),
        p99_ms=float(np.percentile(x, 99)),
        std_ms=std,
        cv=std / mean if mean > 0 else 0.0,
        min_ms=float(x.min()),
        max_ms=float(x.max()),
        median_ci_low_ms=low,
        median_ci_high_ms=high,
    )
