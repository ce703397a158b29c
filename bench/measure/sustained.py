"""Sustained (thermal) runs: latency and temperature over time, and whether the device throttled.

A sustained run measures continuously for a fixed duration in chunks; each chunk records its
median latency and the device's thermal reading (hottest zone in C on Linux, the Android thermal
status on phones). Throttling is flagged when the latency drifts (median of the last third of
the chunks vs the first third) by more than ``DRIFT_LIMIT``, or the thermal state worsens.
"""

from __future__ import annotations

from bench.measure.stats import median_of

DRIFT_LIMIT = 0.10
TEMP_RISE_C = 10.0


def assess(series: list[dict]) -> dict:
    """``{"series", "drift", "throttled", "reasons"}`` for chunks ``{"t", "median_ms", "temp_c"|"status"}``."""
    reasons = []
    drift = None
    if len(series) >= 3:
        third = max(len(series) // 3, 1)
        first = median_of(c["median_ms"] for c in series[:third])
        last = median_of(c["median_ms"] for c in series[-third:])
        drift = last / first - 1 if first is not None and first > 0 and last is not None else None
        if drift is not None and drift > DRIFT_LIMIT:
            reasons.append(f"latency drifted {drift:+.1%} (first vs last third of the run)")
    statuses = [c["status"] for c in series if c.get("status") is not None]
    if statuses and max(statuses) > statuses[0]:
        reasons.append(f"thermal status rose from {statuses[0]} to {max(statuses)}")
    temps = [c["temp_c"] for c in series if c.get("temp_c") is not None]
    if temps and max(temps) - temps[0] >= TEMP_RISE_C:
        reasons.append(f"temperature rose {max(temps) - temps[0]:.1f} C")
    return {"series": series, "drift": drift, "throttled": bool(reasons), "reasons": reasons}
