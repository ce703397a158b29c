"""Export with a content-addressed cache and verification.

The cache key hashes the model code, the weights, the input shape, the format, precision and
export settings, and the converter versions. An artifact lives in
``results/artifacts/<model>/<format>-<precision>-<key[:16]>/`` beside ``artifact.json`` (its
metadata, including the file's sha256). A lookup whose file no longer matches its sha256 is
treated as a miss and re-exported. Converter output goes to ``export.log`` in that folder, so
``--json`` output stays clean and a failure's details are kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import sys
import time
import traceback
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch

from bench.paths import results_dir
from export.artifact import Artifact, Verification
from export.base import check_combination, get_exporter
from export.source import ModelSpec, file_sha256
from export.verify import verify

META = "artifact.json"


def artifacts_dir() -> Path:
    return results_dir() / "artifacts"


def path_sha256(path: Path) -> tuple[str, int]:
    """sha256 and size of a file, or of a bundle directory (.mlpackage) file by file."""
    if path.is_file():
        return file_sha256(path), path.stat().st_size
    digest, size = hashlib.sha256(), 0
    for item in sorted(p for p in path.rglob("*") if p.is_file()):
        digest.update(str(item.relative_to(path)).encode())
        digest.update(file_sha256(item).encode())
        size += item.stat().st_size
    return digest.hexdigest(), size


def cache_key(spec: ModelSpec, fmt: str, precision: str) -> tuple[str, dict, dict]:
    exporter = get_exporter(fmt)
    settings = {"input_shape": list(spec.input_shape), **exporter.settings(precision)}
    versions = exporter.versions()
    material = {
        "model": spec.name,
        "code": spec.code_hash,
        "weights": spec.weights_hash,
        "format": fmt,
        "precision": precision,
        "settings": settings,
        "versions": versions,
    }
    return hashlib.sha256(json.dumps(material, sort_keys=True).encode()).hexdigest(), settings, versions


@contextlib.contextmanager
def _output_to(log: Path) -> Iterator[None]:
    """Send fd 1 and 2 (converters print from C++ too) to ``log`` for the duration."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = os.dup(1), os.dup(2)
    with open(log, "ab") as f:
        os.dup2(f.fileno(), 1)
        os.dup2(f.fileno(), 2)
        try:
            yield
        finally:
            sys.stdout.flush()
            sys.stderr.flush()
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            os.close(saved[0])
            os.close(saved[1])


def _lookup(folder: Path) -> Artifact | None:
    try:
        artifact = Artifact.from_dict(json.loads((folder / META).read_text()))
    except (OSError, ValueError, TypeError):
        return None
    file = folder / Path(artifact.path or "").name
    if not file.exists() or path_sha256(file)[0] != artifact.sha256:
        return None  # corrupted or missing: re-export
    artifact.path = str(file)
    artifact.cached = True
    return artifact


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = next((line for line in text if line.strip()), "")
    return f"{type(exc).__name__}: {first[:300]}" if first else type(exc).__name__


def export_model(
    spec: ModelSpec, fmt: str, precision: str = "fp32", out_dir: Path | None = None, use_cache: bool = True
) -> Artifact:
    """Export ``spec`` to one format and precision; failures come back as an Artifact with ``error``."""
    check_combination(fmt, precision)
    exporter = get_exporter(fmt)
    key, settings, versions = cache_key(spec, fmt, precision)
    folder = artifacts_dir() / spec.name / f"{fmt}-{precision}-{key[:16]}"
    artifact = _lookup(folder) if use_cache else None
    if artifact is None:
        artifact = _export_fresh(spec, exporter, precision, folder, key, settings, versions)
    if out_dir is not None and artifact.error is None:
        artifact.path = str(_copy_out(Path(artifact.path), out_dir, spec.name, precision))
    return artifact


def _export_fresh(spec, exporter, precision, folder: Path, key: str, settings: dict, versions: dict) -> Artifact:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    file = folder / f"{spec.name}{exporter.suffix}"
    artifact = Artifact(
        model=spec.name,
        format=exporter.name,
        precision=precision,
        converter=exporter.converter,
        versions=versions,
        settings=settings,
        cache_key=key,
    )
    start = time.perf_counter()
    with _output_to(folder / "export.log"):
        try:
            model = spec.build()
            example = torch.from_numpy(np.zeros(spec.input_shape, dtype=np.float32))
            exporter.convert(model, example, file, precision)
            artifact.inputs, artifact.outputs = exporter.io_signature(file)
            runner = exporter.load_runner(file)
            if isinstance(runner, str):
                artifact.verification = Verification(passed=None, reason=runner)
            else:

                def reference(x: np.ndarray) -> np.ndarray:
                    with torch.no_grad():
                        return model(torch.from_numpy(x)).numpy()

                artifact.verification = verify(reference, runner, spec.input_shape, precision)
        except Exception as exc:  # noqa: BLE001 - a converter crash is a result, not a crash of the suite
            traceback.print_exc()  # into export.log
            artifact.error = _reason(exc)
    artifact.export_seconds = round(time.perf_counter() - start, 3)
    if artifact.error is None:
        artifact.path = str(file)
        artifact.sha256, artifact.size_bytes = path_sha256(file)
        artifact.save(folder / META)
    return artifact


def _copy_out(source: Path, out_dir: Path, name: str, precision: str) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}-{precision}{source.suffix}"
    if target.exists():
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    if source.is_dir():
        shutil.copytree(source, target)
    else:
        shutil.copy2(source, target)
    return target
