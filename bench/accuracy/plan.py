"""What ``bench accuracy`` scores: the models, their preprocessing, the images and calibration set.

Everything the user can get wrong is checked here, before any export or inference (exit 2): the
data folder and its layout, formats and precisions, preprocessing options, the calibration
folder, and that each model runs at its input shape.

Calibration images for int8-static come from ``--calibration DIR``, or else up to 200 images set
aside from ``--data`` (:func:`bench.accuracy.dataset.split_calibration`); images used for
calibration are never scored, and the notes say which were used.

A model file converted elsewhere (``.onnx``, ``.tflite``, ``.mlpackage``: the exact file a user
ships) is scored as it is (:func:`prepare_files`): its image size, layout (NCHW or NHWC) and batch
are read from the file, its precision from its weights; the fp32 PyTorch model it came from, when
given (``--reference``), is scored on the same images as the baseline of its drop.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from bench.accuracy.dataset import LabelledImages, load_dataset, split_calibration
from bench.accuracy.preprocess import Preprocess, image_layout
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
    file: ModelFile | None = None  # a model file scored as it is (``spec``: its reference, or None)


@dataclass(frozen=True)
class ModelFile:
    """A model file scored as it is: ``path`` (absolute), ``format`` and ``precision`` (read from
    the file), ``batch`` (its fixed batch, else ``--batch``), ``size`` (its square image side, px),
    ``layout`` ``NCHW`` or ``NHWC`` (channels last, as TensorFlow and Keras export images),
    ``classes`` (the product of its first output's dimensions after the batch) and ``pixels``: its
    input is uint8 without a quantization scale, so it is fed the resized and cropped 0..255 pixels
    and normalises them itself (float and scaled int8/uint8 inputs are fed the normalised image)."""

    path: Path
    format: str
    precision: str
    batch: int
    size: int
    layout: str
    classes: int
    pixels: bool = False


def scored_file(text: str, batch: int | None) -> ModelFile:
    """The :class:`ModelFile` of ``text`` (a path). Raises BenchError when the file is missing,
    unreadable or not the format its name says (:func:`export.base.read_model_file`); when it does
    not take one image tensor ``(N, 3, S, S)`` / ``(N, S, S, 3)`` of a fixed size, as floats, uint8
    pixels or int8/uint8 that the runtime quantizes with the file's scale; when its first output is
    not ``(N, classes, ...)`` (the batch first); when ``batch`` is given for a file of another fixed
    batch (a dynamic batch takes ``batch``, default 1)."""
    from export.base import declared_dims, declared_dtype, get_exporter, read_model_file

    path = Path(text).expanduser().resolve()
    name = Path(text).name
    if not path.exists():
        raise BenchError(f"model file not found: {text}")
    if path.is_dir() and path.suffix.lower() != ".mlpackage":
        raise BenchError(f"{text} is a folder, not a model file")
    fmt, precision = read_model_file(path)  # the format checked against the content
    try:
        inputs, outputs = get_exporter(fmt).io_signature(path)
        scaled = fmt == "tflite" and _quantized_input(path)
    except Exception as exc:  # noqa: BLE001 - any reader's error on a file that is not a model
        raise BenchError(f"cannot read {text}: {type(exc).__name__}: {' '.join(str(exc).split())}") from None
    if len(inputs) != 1:
        names = ", ".join(str(i["name"]) for i in inputs)
        raise BenchError(f"{text} takes {len(inputs)} inputs ({names}); bench accuracy feeds one image tensor")
    dims = declared_dims(inputs[0]["shape"])
    shown = ",".join("?" if d is None else str(d) for d in dims)
    found = image_layout(dims)
    if found is None:
        raise BenchError(
            f"{text} takes {shown}; bench accuracy feeds square RGB images of a fixed size, "
            "N,3,S,S (NCHW) or N,S,S,3 (NHWC)"
        )
    layout, size = found
    dtype = declared_dtype(inputs[0])
    pixels = dtype == "uint8" and not scaled
    if not (dtype.startswith("float") or pixels or scaled):
        raise BenchError(
            f"{name} takes {dtype} images; bench accuracy feeds float images, 0..255 pixels to a uint8 "
            "input, or an int8/uint8 input quantized with a scale"
        )
    if batch is not None and dims[0] is not None and batch != dims[0]:
        raise BenchError(f"--batch {batch}: {name} has a fixed batch of {dims[0]}")
    batch = dims[0] or batch or 1
    out = outputs[0] if outputs else {"name": "?", "shape": []}
    out_dims = declared_dims(out["shape"])
    out_shown = ",".join("?" if d is None else str(d) for d in out_dims)
    rest = out_dims[1:]
    # a first dimension of 1 is allowed for a dynamic batch: onnxruntime reports the exported batch
    # of a graph whose batch was made dynamic afterwards (the outputs are checked again when run)
    if len(out_dims) < 2 or out_dims[0] not in (None, batch, 1) or None in rest or not rest:
        raise BenchError(
            f"{name}'s first output {out['name']} has shape {out_shown}; bench accuracy reads class "
            f"logits as (N, classes) with the batch ({batch}) first"
        )
    return ModelFile(path, fmt, precision or "fp32", batch, size, layout, int(np.prod(rest)), pixels)


def _quantized_input(path: Path) -> bool:
    """Whether a TFLite file's first input is one the runtime quantizes a float image for (int8 or
    uint8 with a scale: :func:`bench.runtimes.litert.quantization`)."""
    from bench.runtimes import litert

    detail = litert.input_details(litert.create(path, 1, {"xnnpack": False}))[0]
    return litert.quantization(detail) is not None


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
    evaluation = _limited(evaluation, limit)
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


def prepare_files(
    files: list[str],
    reference: str | None,
    data: Path,
    labels: Path | None,
    preprocessing: dict,
    limit: int | None,
    batch: int | None,
    max_drop: float,
) -> list[Job]:
    """One job per model file (:func:`scored_file`), each with ``reference`` (a canonical
    reference, built at the file's batch and image size) as the fp32 PyTorch baseline, or none.
    The preprocessing is the reference's (a zoo card's) unless options say otherwise; without a
    reference the options' (ImageNet mean/std, crop 0.875, bilinear where not given). Raises
    BenchError for anything the user must fix: a file that is not an image classifier of a fixed
    size, a reference whose input is not the file's, a class count that does not fit the data."""
    from bench.accuracy.metrics import check_class_count
    from export.calibration import preprocess_for
    from export.reference import Inputs, parse_reference
    from export.source import resolve

    evaluation = load_dataset(data, labels)
    evaluation = _limited(evaluation, limit)
    jobs = []
    for text in dict.fromkeys(str(Path(f).expanduser().resolve()) for f in files):  # each file once
        file = scored_file(text, batch)
        try:
            check_class_count(file.classes, evaluation)
        except BenchError as exc:
            raise BenchError(f"{file.path.name} (its first output): {exc}") from None
        spec, notes = None, []
        if reference is not None:
            ref = parse_reference(reference)
            # the reference takes images NCHW, or channels last where its shape (given) says so: it
            # is fed in its own layout, whatever the file's
            expected = (file.batch, 3, file.size, file.size)
            if ref.inputs is not None or not ref.is_user:  # a shape given, or a zoo model's own size
                given = resolve(ref).inputs.shape
                taken = image_layout(given)
                if taken is None or taken[1] != file.size:
                    raise BenchError(
                        f"--reference {ref.call} takes {','.join(map(str, given))}; {file.path.name} takes "
                        f"images of {file.size}x{file.size} (N,3,S,S or N,S,S,3)"
                    )
                expected = (file.batch, *given[1:])
            spec = resolve(replace(ref, inputs=Inputs.of_shape(expected)))
            spec.check_runs()
            preprocess = preprocess_for(spec, file.size, **preprocessing)
        else:
            preprocess = Preprocess(size=file.size, **{k: v for k, v in preprocessing.items() if v is not None})
            notes.append(f"no --reference: the drop of {file.path.name} from its fp32 PyTorch model is not judged")
        if file.pixels:
            notes.append(f"{file.path.name} takes uint8 pixels: fed 0..255 after resize and crop (it normalises)")
        settings = {
            "preprocess": asdict(preprocess),
            "preprocess_source": _preprocess_source(spec, preprocessing),
            "batch": file.batch,
            "limit": limit,
            "max_drop": max_drop,
            "calibration": None,
            "layout": file.layout,
            "input": "uint8 pixels 0..255" if file.pixels else "normalised float",
            "reference": spec.reference if spec is not None else None,
        }
        targets = [("pytorch", "fp32")] if spec is not None else []
        jobs.append(Job(spec, evaluation, preprocess, targets, settings, None, notes, file))
    return jobs


def _limited(images: LabelledImages, limit: int | None) -> LabelledImages:
    """``images``, or a seeded pick of ``limit`` of them in their order (``--limit``)."""
    if limit is None or limit >= len(images):
        return images
    picked = np.sort(np.random.default_rng(SEED).choice(len(images), limit, replace=False))
    return images.subset(int(i) for i in picked)


def _preprocess_source(spec, given: dict) -> str:
    """Where the preprocessing comes from: the options, or the zoo model's card (with its source)."""
    if any(v is not None for v in given.values()) or spec is None or not spec.zoo:
        return "command-line options (ImageNet mean/std, crop 0.875, bilinear where not given)"
    import models

    return str(models.get_card(spec.name).preprocess_source)
