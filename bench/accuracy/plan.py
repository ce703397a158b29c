"""What ``bench accuracy`` scores: the models, their preprocessing, the images and calibration set.

Everything the user can get wrong is checked here, before any export or inference (exit 2): the
data folder and its layout, formats and precisions, preprocessing options, the calibration
folder, and that each model runs at its input shape.

Calibration images for int8-static come from ``--calibration DIR``, or else up to 200 images set
aside from ``--data`` (:func:`bench.accuracy.dataset.split_calibration`); images used for
calibration are never scored, and the notes say which were used.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from bench.accuracy.dataset import LabelledImages, load_dataset, split_calibration
from bench.accuracy.preprocess import Preprocess
from bench.errors import BenchError

CALIBRATION_FROM_DATA = 200  # images set aside from --data when no --calibration folder is given
SEED = 0


@dataclass
class Job:
    """One model to score: ``spec`` (export.source.ModelSpec, at the batch size), the images
    (``dataset``, calibration images removed), ``targets`` ``(format, precision)``, the
    ``calibration`` for int8-static (or None), the ``settings`` stored with each row, ``notes``."""

    spec: object
    dataset: LabelledImages
    preprocess: Preprocess
    targets: list[tuple[str, str]]
    settings: dict
    calibration: object | None = None
    notes: list[str] = field(default_factory=list)


def targets_of(formats: list[str], precisions: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """The ``(format, precision)`` pairs that exist (eager PyTorch only at fp32), and a note for each
    pair left out. Raises BenchError when none exists or a precision exists in no format."""
    from export.base import supported

    offered = {"pytorch": ("fp32",), **supported()}
    pairs, notes = [], []
    for fmt in formats:
        for precision in precisions:
            if precision in offered[fmt]:
                pairs.append((fmt, precision))
            else:
                notes.append(f"skipped {fmt} {precision}: {fmt} offers {', '.join(offered[fmt])}")
    for precision in precisions:
        if not any(p == precision for _, p in pairs):
            known = sorted({p for ps in offered.values() for p in ps})
            raise BenchError(f"--precision {precision}: no chosen format has it (precisions: {', '.join(known)})")
    if not any(f == "pytorch" for f, _ in pairs):
        pairs.insert(0, ("pytorch", "fp32"))  # the reference is always scored and shown
    return pairs, notes


def prepare(
    refs: list[str],
    data: Path,
    labels: Path | None,
    formats: list[str],
    precisions: list[str],
    preprocessing: dict,
    calibration_dir: Path | None,
    limit: int | None,
    batch: int,
    max_drop: float,
) -> list[Job]:
    """The jobs of one ``bench accuracy`` call (see the module docstring). Raises BenchError for
    anything the user must fix."""
    from export.calibration import Calibration, preprocess_for
    from export.reference import Inputs, parse_reference
    from export.source import resolve

    targets, notes = targets_of(formats, precisions)
    full = load_dataset(data, labels)
    evaluation, calibration_images, origin = full, None, None
    static = any(p == "int8-static" for _, p in targets)
    if static and calibration_dir is None:
        count = min(CALIBRATION_FROM_DATA, len(full) // 4)
        calibration_images, evaluation = split_calibration(full, max(count, 1), SEED)
        origin = f"{len(calibration_images)} images of --data {full.root} set aside (not scored)"
        notes.append(f"int8-static calibrates on {origin}; {len(evaluation)} images are scored")
    elif static:
        from bench.accuracy.dataset import load_images_only

        own = load_images_only(calibration_dir)
        shared = set(own.files) & set(full.files)
        if shared:
            keep = [i for i, f in enumerate(full.files) if f not in shared]
            if not keep:
                raise BenchError(f"--calibration {calibration_dir} holds every image of --data: none left to score")
            evaluation = full.subset(keep)
            notes.append(f"{len(shared)} images of --data are calibration images too: not scored")
    if limit is not None and limit < len(evaluation):
        picked = np.sort(np.random.default_rng(SEED).choice(len(evaluation), limit, replace=False))
        evaluation = evaluation.subset(int(i) for i in picked)
    jobs = []
    for text in refs:
        ref = parse_reference(text)
        spec = resolve(ref)
        shape = spec.inputs.shape
        if batch != shape[0]:
            spec = resolve(replace(ref, inputs=Inputs.of_shape((batch, *shape[1:]))))
        spec.check_runs()
        preprocess = preprocess_for(spec, **preprocessing)
        calibration = None
        if static:
            if calibration_images is not None:
                calibration = Calibration(calibration_images, preprocess, origin)
            else:
                calibration = Calibration.from_folder(calibration_dir, preprocess)
        settings = {
            "preprocess": asdict(preprocess),
            "preprocess_source": _preprocess_source(spec, preprocessing),
            "batch": batch,
            "limit": limit,
            "max_drop": max_drop,
            "calibration": calibration.describe() if calibration else None,
        }
        jobs.append(Job(spec, evaluation, preprocess, targets, settings, calibration, list(notes)))
    return jobs


def _preprocess_source(spec, given: dict) -> str:
    """Where the preprocessing comes from: the options, or the zoo model's card (with its source)."""
    if any(v is not None for v in given.values()) or not spec.zoo:
        return "command-line options (ImageNet mean/std, crop 0.875, bilinear where not given)"
    import models

    return str(models.get_card(spec.name).preprocess_source)
