"""Reading results back: a pandas DataFrame, and the JSON / CSV / Parquet exports.

The JSON form is a complete record (it carries the raw samples), so an exported file is enough
for ``bench compare`` and reports.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from bench.errors import BenchError
from bench.paths import output_file
from bench.results.store import Store, measurements

# Every measurement column except the store's row id, then the raw samples.
COLUMNS = [c.name for c in measurements.c if c.name != "id"] + ["samples_ms"]
FORMATS = ("table", "csv", "json", "parquet")


def load_results(store: str | None = None, run_id: str | None = None) -> pd.DataFrame:
    """Every stored measurement (one row each, raw samples in ``samples_ms``) as a DataFrame.

    Only reads: BenchError when there is no store at ``store`` (none is created), or no run ``run_id`` in it."""
    results = Store(store, create=False)
    if run_id is not None and run_id not in {r["run_id"] for r in results.list_runs()}:
        raise BenchError(f"no run '{run_id}' in the store {results.url}; `bench results` shows every run's rows")
    rows = results.measurement_rows(run_id)
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
    """Write ``frame`` as csv / json / parquet to ``out`` (csv and json may go to stdout: returned).

    Raises BenchError for an unknown format, parquet without ``out``, an ``out`` that is a folder or
    whose folder is missing, or a file that cannot be written."""
    if fmt not in FORMATS:
        raise BenchError(f"unknown results format '{fmt}'; choose from: {', '.join(FORMATS)}")
    if fmt == "parquet" and out is None:
        raise BenchError("--format parquet needs --out FILE")
    if out is not None:
        out = output_file(out, "--out")
    try:
        if fmt == "parquet":
            _flat(frame).to_parquet(out, index=False)
            return None
        if fmt == "json":
            text = json.dumps(to_records(frame), indent=2)
        else:
            text = _flat(frame.drop(columns=["samples_ms"])).to_csv(index=False)
        if out is None:
            return text
        out.write_text(text)
    except OSError as exc:
        raise BenchError(f"cannot write --out {out}: {exc.strerror or exc}") from None
    return None
