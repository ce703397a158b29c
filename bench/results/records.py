"""Reading results back: a pandas DataFrame, and the JSON / CSV / Parquet exports.

The JSON form is a complete record (it carries the raw samples), so an exported file is enough
for ``bench compare`` and reports.

Each measurement also carries the top-1 (%) of what it measured (:func:`top1_of`): ``measured``
when ``bench accuracy`` scored that exact artifact (same sha256; eager PyTorch: the same model),
with the data set's fingerprint; else the card's ``published`` number with its source, for fp32
and fp16 only: an int8 artifact never inherits the fp32 number (top-1 empty, and the source says
why).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from bench.errors import BenchError
from bench.paths import output_file
from bench.results.store import Store, measurements

# Every measurement column except the store's row id, then the raw samples, then the top-1 of what ran.
COLUMNS = [c.name for c in measurements.c if c.name != "id"] + ["samples_ms", "top1", "top1_source"]
INT8 = ("int8", "int8-static")
FORMATS = ("table", "csv", "json", "parquet")


def load_results(store: str | None = None, run_id: str | None = None) -> pd.DataFrame:
    """Every stored measurement (one row each, raw samples in ``samples_ms``) as a DataFrame.

    Only reads: BenchError when there is no store at ``store`` (none is created), or no run ``run_id`` in it."""
    results = Store(store, create=False)
    if run_id is not None and run_id not in {r["run_id"] for r in results.list_runs()}:
        raise BenchError(f"no run '{run_id}' in the store {results.shown}; `bench results` shows every run's rows")
    rows = with_top1(results.measurement_rows(run_id), results)
    frame = pd.DataFrame(rows, columns=COLUMNS) if rows else pd.DataFrame(columns=COLUMNS)
    return frame


def with_top1(rows: list[dict], results: Store, published: bool = True) -> list[dict]:
    """``rows`` (the store's measurement rows) with ``top1`` and ``top1_source`` set (:func:`top1_of`);
    ``published`` False: measured numbers only (no model card is read, nor the zoo imported)."""
    latest = latest_scores(results.accuracy_rows())
    for row in rows:
        row["top1"], row["top1_source"] = top1_of(row, latest, published)
    return rows


def latest_scores(scored: list[dict]) -> dict[tuple, dict]:
    """The store's accuracy rows (oldest first) that have a top-1, the latest per scored thing:
    ``("sha256", digest)`` for an artifact, ``("pytorch", model)`` for eager PyTorch."""
    latest = {}
    for row in scored:
        if row["top1"] is not None:
            key = ("sha256", row["artifact_sha256"]) if row["artifact_sha256"] else ("pytorch", row["model"])
            latest[key] = row
    return latest


def top1_of(measurement: dict, latest: dict[tuple, dict], published: bool = True) -> tuple[float | None, str]:
    """``(top-1 in %, its source)`` for one measurement row, given :func:`latest_scores` of the
    store (the latest scoring of the artifact wins). See the module docstring."""
    from export.reference import is_model_file, is_user_reference

    sha = measurement.get("artifact_sha256")
    key = ("sha256", sha) if sha else ("pytorch", measurement["model"]) if measurement["format"] == "pytorch" else None
    row = latest.get(key) if key else None
    if row is not None:
        data = row["dataset"] or {}
        where = f"{data.get('root', '?')}, {row['n_images']} images, fingerprint {row['dataset_fingerprint'][:12]}"
        collapse = (
            f"; accuracy collapse, {row['drop_points']:.1f} points below fp32 PyTorch" if row["collapsed"] else ""
        )
        return round(100 * row["top1"], 4), f"measured ({where}{collapse})"
    model = measurement["model"]
    if not published or is_model_file(model) or is_user_reference(model):  # only a measured number exists
        return None, "none: not measured (bench accuracy scores this artifact)"
    try:
        import models

        card = models.get_card(model)
    except (KeyError, BenchError):  # a zoo name at another input shape, or no longer in the zoo
        return None, "none: not measured (bench accuracy scores this artifact)"
    if not card.top1.known or card.task != "image-classification":
        return None, "none: nothing published"
    if measurement["precision"] in INT8:
        return None, f"none: {card.top1.value:g} is published for fp32; measure this int8 artifact with bench accuracy"
    return card.top1.value, f"published ({card.dataset}; {card.top1.source})"


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
