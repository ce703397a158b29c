"""Export with a content-addressed cache and verification.

The cache key hashes the model code, the weights, the input shape, the format, precision and
export settings, and the converter versions. An artifact lives in
``results/artifacts/<model>/<format>-<precision>-<key[:16]>/`` beside ``artifact.json`` (its
metadata, including the file's sha256). A lookup whose file no longer matches its sha256 is
treated as a miss and re-exported. Converter output goes to ``export.log`` in that folder, so
``--json`` output stays clean and a failure's details are kept.

Full-integer int8 (``int8-static``) needs calibration images (:class:`export.calibration.
Calibration`): their digest is part of the key, and such an artifact is verified (and re-verified)
on them instead of random inputs.

A cache hit is re-verified before it is reused: today's PyTorch model and the cached file run on
one seeded input and must still agree (a dependency the key does not see may have changed); if
they do not, the artifact is exported again. A failed export is cached too, with its reason, so
a retry does not convert again; ``retry_failed`` converts again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sys
import tempfile
import time
import traceback
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from filelock import FileLock

from bench.digest import path_sha256
from bench.errors import BenchError, one_line
from bench.paths import results_dir
from export.artifact import Artifact, Verification
from export.base import (
    STATIC,
    ConvertReport,
    check_combination,
    check_input_count,
    check_io,
    example_tensors,
    flatten_outputs,
    get_exporter,
    input_names,
)
from export.calibration import Calibration
from export.source import ModelSpec, is_user_code
from export.verify import SEED, THRESHOLDS, InputSpec, Thresholds, verify

META = "artifact.json"


def artifacts_dir() -> Path:
    return results_dir() / "artifacts"


def default_inputs(spec: ModelSpec) -> InputSpec:
    """Verification inputs when the user gives none: a zoo model's normalised image range (its
    card's mean and std), else standard normal."""
    if spec.zoo:
        import models

        return InputSpec.uniform(*models.get_card(spec.name).input_range)
    return InputSpec()


def cache_key(
    spec: ModelSpec,
    fmt: str,
    precision: str,
    inputs: InputSpec | None = None,
    calibration: Calibration | None = None,
    io: str = "float32",
) -> tuple[str, dict, dict]:
    """The artifact's cache key (sha256 hex), its export settings and converter versions."""
    exporter = get_exporter(fmt)
    inputs = inputs or default_inputs(spec)
    static = precision == STATIC and calibration is not None
    plain = spec.inputs.plain  # one unnamed float32 input: its shape, as every such artifact's key has it
    settings = {
        **({"input_shape": list(spec.inputs.shape)} if plain else {"inputs": spec.inputs.to_list()}),
        **exporter.settings(precision, io),
        "verify_inputs": calibration.describe() if static else inputs.describe(),
        **(
            {
                "calibration": {
                    "images": len(calibration.images) - len(calibration.skipped),
                    "unreadable": [f"{path.name}: {why}" for path, why in calibration.skipped[:10]],
                    "origin": calibration.origin,
                    "sha256": calibration.digest,
                }
            }
            if static
            else {}
        ),  # fmt: skip
    }
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
    if artifact.error is not None:  # a cached failure: the same inputs fail the same way
        artifact.cached = True
        return artifact
    file = folder / Path(artifact.path or "").name
    if not file.exists() or path_sha256(file)[0] != artifact.sha256:
        return None  # corrupted or missing: re-export
    artifact.path = str(file)
    artifact.cached = True
    return artifact


_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_OPERATOR = re.compile(r"(?:op=')?(aten\.[A-Za-z0-9_]+(?:\.[A-Za-z0-9_]+)?)")


def _first_line(exc: BaseException) -> str:
    lines = [line.strip() for line in _ANSI.sub("", str(exc)).splitlines()]
    return next((line for line in lines if line), "")


def _user_line(chain: list[BaseException], folder: Path | None) -> str | None:
    """``file.py:LINE`` of the innermost frame in the user's folder among the chain's tracebacks."""
    if folder is None:
        return None
    found = None
    for exc in chain:
        for frame in traceback.extract_tb(exc.__traceback__):
            path = Path(frame.filename)
            if path.is_absolute() and path.is_relative_to(folder) and is_user_code(frame.filename):
                found = f"{path.name}:{frame.lineno}"
    return found


def _reason(exc: BaseException, log: Path | None = None, user_folder: Path | None = None) -> str:
    """One line for a converter failure: the root cause (the deepest chained exception, where
    converters put the real reason under their own banners), the operator it names or the line of
    the user's code it failed at, terminal colour codes stripped, and where the full log is."""
    root, seen, chain = exc, {id(exc)}, [exc]
    while (nxt := root.__cause__ or root.__context__) is not None and id(nxt) not in seen:
        seen.add(id(nxt))
        root = nxt
        chain.append(root)
    text = _first_line(root) or _first_line(exc)
    operator = _OPERATOR.search(text) or _OPERATOR.search(_ANSI.sub("", str(exc)))
    text = re.sub(r"<OpOverload\(op='([^']+)', overload='[^']+'\)>", r"\1", text)
    message = f"{type(root).__name__}: {text}" if text else type(root).__name__
    if operator:
        message = f"at {operator.group(1)}: {message}"
    line = _user_line(chain, user_folder)
    if line:
        message = f"at {line}: {message}"
    suffix = f" (full log: {log})" if log is not None else ""
    return one_line(message, 400 - len(suffix)) + suffix


def export_model(
    spec: ModelSpec,
    fmt: str,
    precision: str = "fp32",
    out_dir: Path | None = None,
    use_cache: bool = True,
    retry_failed: bool = False,
    inputs: InputSpec | None = None,
    calibration: Calibration | None = None,
    io: str = "float32",
) -> Artifact:
    """Export ``spec`` to one format and precision; failures come back as an Artifact with ``error``.

    ``inputs`` is the verification input distribution (default :func:`default_inputs`);
    ``calibration`` the images of ``int8-static``, ``io`` the element type of its inputs and
    outputs (``int8`` for TFLite: :attr:`export.base.Exporter.io_types`). A cache hit is re-verified on one seeded input
    (``reverified``; a calibration image for int8-static) and exported again when it no longer
    matches today's PyTorch model; a cached failure (of the conversion, or of the verification) is
    returned as it is unless ``retry_failed``.
    A precision below fp32 that is not cached yet exports (or finds) the fp32 file first and, where
    the format quantizes files, is quantized from it.
    Raises BenchError for a format/precision combination that does not exist, and for
    ``int8-static`` without calibration images."""
    check_combination(fmt, precision)
    if precision == STATIC and calibration is None:
        raise BenchError(
            "int8-static quantizes activations with ranges measured on images: give --calibration DIR "
            "(a folder of images the model's preprocessing reads)"
        )
    exporter = get_exporter(fmt)
    check_io(io, [fmt], [precision])
    inputs = inputs or default_inputs(spec)
    static = calibration if precision == STATIC else None
    key, settings, versions = cache_key(spec, fmt, precision, inputs, static, io)
    folder = _artifact_folder(spec, fmt, precision, key)
    folder.parent.mkdir(parents=True, exist_ok=True)
    if precision != "fp32" and use_cache and exporter.quantizes_files and not (folder / META).exists():
        # a lower precision is quantized from the verified fp32 file (_fp32_file): make that first, so
        # asking for both (--precision int8,fp32) converts the model once, in either order
        export_model(spec, fmt, "fp32", inputs=inputs)
    # One process at a time per artifact: another `bench` sharing the results folder (a second run, a
    # farm worker on this host) waits here and then finds the artifact cached, instead of deleting
    # and rewriting the folder under a process that is writing or reading it.
    with FileLock(folder.parent / f"{folder.name}.lock"):
        artifact = _lookup(folder) if use_cache else None
        if artifact is not None and not artifact.ok and retry_failed:  # a failed conversion or verification
            artifact = None
        stale = None
        if artifact is not None and artifact.error is None:
            stale = _reverify(spec, exporter, artifact, inputs, calibration)
            if stale:
                artifact = None
        if artifact is None:
            artifact = _export_fresh(
                spec, exporter, precision, folder, key, settings, versions, inputs, calibration, io
            )
            if stale:
                artifact.notes.append(stale)
    if out_dir is not None and artifact.error is None:
        artifact.path = str(_copy_out(Path(artifact.path), out_dir, spec.name, precision))
    return artifact


# cache key -> outcome for zoo models, whose code cannot change within a process (a suite asks again
# for every cell); a user's model file is loaded afresh each time, so it is re-verified each time.
_REVERIFIED: dict[str, bool | None] = {}


def _reverify(
    spec: ModelSpec, exporter, artifact: Artifact, inputs: InputSpec, calibration: Calibration | None
) -> str | None:
    """Run the cached file and today's PyTorch model on one seeded input. Returns why the cached
    file may not be reused (it no longer matches), or None; sets ``artifact.reverified`` (None
    where the format cannot run here). Done once per process for a zoo model."""
    if spec.zoo and artifact.cache_key in _REVERIFIED:
        artifact.reverified = _REVERIFIED[artifact.cache_key]
        return None
    try:  # the runtimes' own lines (LiteRT's "Created TensorFlow Lite XNNPACK delegate") go to the export's log
        with _output_to(Path(artifact.path).parent / "export.log"):
            runner = exporter.load_runner(Path(artifact.path))
            model, _ = spec.build_noting()
            if isinstance(runner, str):  # cannot run here (CoreML off macOS): today's model against the export's
                check = _against_reference(model, spec, inputs, Path(artifact.path).parent)
            else:
                samples = calibration.samples(spec.inputs)[:1] if artifact.precision == STATIC else None
                limits = _limits(spec, artifact.precision)
                reference = _reference(model, spec)
                check = verify(reference, runner, spec.inputs, artifact.precision, inputs, 1, samples, limits)
    except Exception as exc:  # noqa: BLE001 - a file or model that no longer runs: export again
        return f"the cached artifact could not be re-verified ({type(exc).__name__}); exported again"
    if check.passed is False:
        return f"the cached artifact no longer matches the PyTorch model ({check.reason}); exported again"
    artifact.reverified = check.passed
    if spec.zoo:
        _REVERIFIED[artifact.cache_key] = check.passed
    return None


REFERENCE = "reference.npz"  # PyTorch's outputs at export time on the first verification input


def _save_reference(model, spec: ModelSpec, inputs: InputSpec, folder: Path) -> None:
    """Keep what the PyTorch model gave at export time on the first verification input, so a cache
    hit of a file that cannot run here is still checked against today's model."""
    probe = inputs.sample(spec.inputs, 1)[0]
    np.savez(folder / REFERENCE, *_reference(model, spec)(*probe))


def _against_reference(model, spec: ModelSpec, inputs: InputSpec, folder: Path) -> Verification:
    """Today's PyTorch model on the first verification input against its outputs at export time
    (fp32 limits: the same model gives the same numbers); passed None when none were kept."""
    from export.verify import compare_outputs

    try:
        with np.load(folder / REFERENCE) as saved:
            then = [saved[k] for k in saved.files]
    except (OSError, ValueError):
        return Verification(None, reason="no reference outputs kept")
    probe = inputs.sample(spec.inputs, 1)[0]
    return compare_outputs([then], [_reference(model, spec)(*probe)], "fp32")


VERIFY_CALIBRATION_IMAGES = 64  # int8-static is verified on (at most) this many calibration images


def _limits(spec: ModelSpec, precision: str) -> Thresholds | None:
    """The verdict's thresholds: the precision's, but a zoo model's int8-static top-1 agreement is not
    judged (random weights: nearly tied logits; see :mod:`export.verify`)."""
    if precision == STATIC and spec.zoo:
        return replace(THRESHOLDS[STATIC], min_top1=None)
    return None


def _reference(model, spec: ModelSpec):
    """PyTorch's side of verification: ``run(*arrays)`` (one per input) -> the model's flattened
    outputs as arrays."""

    def run(*arrays: np.ndarray) -> list[np.ndarray]:
        with torch.no_grad():
            return [t.numpy() for t in flatten_outputs(model(*example_tensors(spec.inputs, list(arrays))))]

    return run


def _export_fresh(
    spec,
    exporter,
    precision,
    folder: Path,
    key: str,
    settings: dict,
    versions: dict,
    inputs: InputSpec,
    calibration: Calibration | None = None,
    io: str = "float32",
) -> Artifact:
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
        weights=spec.weights_hash,
        dependencies=dict(spec.dependencies),
    )
    start = time.perf_counter()
    with _output_to(folder / "export.log"):
        try:
            model, artifact.weights_changed = spec.build_noting()
            check_input_count(model, spec.inputs, spec.name)
            examples = example_tensors(spec.inputs, inputs.sample(spec.inputs, 1, seed=SEED + 1)[0])
            names = input_names(model, spec.inputs)
            images = calibration.samples(spec.inputs) if precision == STATIC else None
            with _fp32_file(spec, exporter, precision, inputs) as base:
                if base is not None:  # converted once: this precision is quantized from the fp32 export
                    fp32, sha256 = base
                    exporter.quantize(fp32, file, precision, names, images, io)
                    artifact.notes.append(f"quantized from the verified fp32 export (sha256 {sha256[:12]}...)")
                    report = ConvertReport()
                else:
                    report = exporter.convert(model, examples, file, precision, names, images, io) or ConvertReport()
            artifact.inputs, artifact.outputs = exporter.io_signature(file)
            _save_reference(model, spec, inputs, folder)
            runner = exporter.load_runner(file)
            if isinstance(runner, str):
                checks = [] if report.doubts else report.checks
                artifact.verification = Verification(None, reason="; ".join([runner, *report.doubts]), checks=checks)
            else:
                on = images[:VERIFY_CALIBRATION_IMAGES] if images else None
                limits = _limits(spec, precision)
                artifact.verification = verify(_reference(model, spec), runner, spec.inputs, precision, inputs,
                                               samples=on, limits=limits)  # fmt: skip
            artifact.verification.inputs = calibration.describe() if images else inputs.describe()
        except (Exception, SystemExit) as exc:  # noqa: BLE001 - a converter crash (or a forward that exits) is a result
            traceback.print_exc()  # into export.log
            artifact.error = _reason(exc, folder / "export.log", spec.folder)
    artifact.export_seconds = round(time.perf_counter() - start, 3)
    if artifact.error is None:
        artifact.path = str(file)
        artifact.sha256, artifact.size_bytes = path_sha256(file)
    artifact.save(folder / META)  # a failure too: a retry gets it from the cache (retry_failed converts again)
    return artifact


def _artifact_folder(spec: ModelSpec, fmt: str, precision: str, key: str) -> Path:
    """Where the artifact of ``spec`` in ``fmt`` at ``precision`` with cache key ``key`` lives."""
    return artifacts_dir() / spec.name / f"{fmt}-{precision}-{key[:16]}"


@contextlib.contextmanager
def _fp32_file(spec: ModelSpec, exporter, precision: str, inputs: InputSpec) -> Iterator[tuple[Path, str] | None]:
    """For a precision other than fp32: a private copy of the cached, verified fp32 file of the same
    model and format (same cache key but the precision) and its sha256, which
    :meth:`Exporter.quantize` starts from instead of converting the model again (the same graph a
    conversion now would give: the key covers code, weights, settings and converter versions); None
    when there is none. The copy is taken under that artifact's lock, so another process
    re-exporting it is never read halfway."""
    if precision == "fp32" or not exporter.quantizes_files:
        yield None
        return
    folder = _artifact_folder(spec, exporter.name, "fp32", cache_key(spec, exporter.name, "fp32", inputs)[0])
    with tempfile.TemporaryDirectory() as tmp:
        base = None
        if folder.is_dir():
            with FileLock(folder.parent / f"{folder.name}.lock"):
                cached = _lookup(folder)  # its sha256 checked against the file
                if cached is not None and cached.error is None and cached.verified:
                    base = Path(shutil.copy2(cached.path, Path(tmp) / Path(cached.path).name)), cached.sha256
        yield base


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
