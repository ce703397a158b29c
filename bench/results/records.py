"""Reading results back: a pandas DataFrame, and the JSON / CSV / Parquet exports.

The JSON form is a complete record (it carries the raw samples), so an exported file is enough
for ``bench compare`` and reports.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from bench.errors import BenchError
from bench.results.store import Store, measurements

# Every measurement column except the store's row id, then the raw samples.
COLUMNS = [c.name for c in measurements.c if c.name != "id"] + ["samples_ms"]
FORMATS = ("table", "csv", "json", "parquet")


def load_results(store: str | None = None, run_id: str | None = None) -> pd.DataFrame:
    """Every stored measurement (one row each, raw samples in ``samples_ms``) as a DataFrame."""
    rows = Store(store).measurement_rows(run_id)
    frame = pd.DataFrame(rows, columns=COLUMNS) if rows else pd.DataFrame(columns=COLUMNS)
    return frame


def to_records(frame: pd.DataFrame) -> list[dict]:
    return json.loads(frame.to_json(orient="records"))


def _flat(frame: pd.DataFrame) -> pd.DataFrame:
    """The nested columns as JSON text, for formats that hold only scalars."""
    flat = frame.copy()
    for col in ("energy", "thermal", "settings", "runtime_versions", "source"):
        flat[col] = flat[col].map(json.dumps)
    return flat


def write(frame: pd.DataFrame, fmt: str, out: Path | None) -> str | None:
    """Write ``frame`` as csv / json / parquet to ``out`` (csv and json may go to stdout: returned)."""
    if fmt not in FORMATS:
        raise BenchError(f"unknown results format '{fmt}'; choose from: {', '.join(FORMATS)}")
    if fmt == "parquet":
        if out is None:
            raise BenchError("--format parquet needs --out FILE")
        _flat(frame).to_parquet(out, index=False)
        return None
    if fmt == "json":
        text = json.dumps(to_records(frame), indent=2)
    else:
        text = _flat(frame.drop(columns=["samples_ms"])).to_csv(index=False)
    if out is None:
        return text
    out.write_text(text)
    return None
