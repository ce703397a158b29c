"""``bench accuracy``: top-1 of exported artifacts on labelled images, against the fp32 PyTorch model.

One pass over the images per model: each batch is decoded ahead (in threads) while the fp32
PyTorch model (the reference) and every artifact (ONNX, TFLite, CoreML on macOS, as ``bench run``'s
runtimes open them: :meth:`export.base.Exporter.load_runner`) infer on it. Every artifact is scored
on the same images: top-1, top-5, the 95% Wilson interval of top-1, and against the reference its
top-1 agreement and mean KL divergence. An artifact whose top-1 is more than ``max_drop``
percentage points below the reference's is an **accuracy collapse**.

Three things overlap: decoding (in threads), the reference, and the artifacts, which run on the
same batch as the reference in a thread of their own beside it (each artifact on one thread, as
``bench run``'s agent opens it; onnxruntime, LiteRT and torch release the GIL while they compute).
Each gets cores of its own: during the pass torch's intra-op pool is cut to the cores the decoders
and the artifact thread leave (at least one; set back after), since a pool thread that another
thread pushes off its core stalls every operator of the reference until it runs again (on two
cores, one decoder beside a reference on two threads made the pass about 15% slower than beside a
reference on one). On this 2-core host, benchmarks/accuracy_throughput.py: 0.77 of the same
inference work over pre-decoded images with the artifacts after the reference, 0.81 beside it.

The first output of the model is taken as the class logits (N, classes).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import torch

from bench.accuracy.dataset import LabelledImages
from bench.accuracy.metrics import AccuracyResult, accuracy, check_class_count
from bench.accuracy.preprocess import Preprocess, batches, image_layout, in_layout
from bench.errors import BenchError

COLLAPSE = "accuracy collapse"
DEFAULT_MAX_DROP = 1.0  # top-1 points below the fp32 PyTorch reference


@dataclass
class AccuracyRow:
    """One artifact's accuracy (or why it has none) on one data set.

    ``model``: the canonical reference; ``artifact_sha256``: the exact file scored (None for the
    PyTorch reference); ``result``: its metrics (None when ``error``); ``reference_top1``: the fp32
    PyTorch model's top-1 (fraction) on the same images; ``drop_points``: reference minus this, in
    percentage points; ``collapsed``: ``drop_points`` above ``max_drop``. ``dataset``: the data
    set's summary (fingerprint, counts, root); ``settings``: preprocessing, batch, limit and
    calibration; ``skipped``: images that could not be decoded (left out of every score, named in
    ``notes``); ``seconds``: this artifact's (or the reference's) inference time over all images,
    decoding excluded; ``artifact_path``: the file scored."""

    model: str
    format: str
    precision: str
    artifact_sha256: str | None
    dataset: dict
    settings: dict
    result: AccuracyResult | None = None
    reference_top1: float | None = None
    drop_points: float | None = None
    collapsed: bool = False
    error: str | None = None
    skipped: int = 0
    seconds: float = 0.0
    notes: list[str] = field(default_factory=list)
    artifact_path: str | None = None

    @property
    def status(self) -> str:
        return "failed" if self.error else COLLAPSE if self.collapsed else "ok"

    def to_dict(self) -> dict:
        """Flat and JSON-ready (the metrics of :meth:`AccuracyResult.to_dict` inline)."""
        return {
            "model": self.model,
            "format": self.format,
            "precision": self.precision,
            "artifact_sha256": self.artifact_sha256,
            "artifact_path": self.artifact_path,
            "status": self.status,
            "error": self.error,
            **(self.result.to_dict() if self.result else {}),
            "reference_top1": self.reference_top1,
            "drop_points": self.drop_points,
            "collapsed": self.collapsed,
            "dataset": self.dataset,
            "settings": self.settings,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
            "notes": self.notes,
        }


def _cores() -> int:
    """The CPUs this process may run on (its affinity where the OS tells it, else all)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def decode_workers() -> int:
    """Decoding threads by default: two, but one core is kept for inference (one thread on two cores)."""
    return max(1, min(2, _cores() - 1))


@contextlib.contextmanager
def _cores_left(workers: int) -> Iterator[None]:
    """torch's intra-op threads cut to the cores ``workers`` decoding threads leave (at least one),
    and set back after (see the module docstring)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(min(threads, max(1, _cores() - workers)))
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _as_file_takes(run, file, preprocess: Preprocess):
    """``run`` (a runner, or the reason the file cannot run here: None then) fed the normalised NCHW
    batches as ``file`` (:class:`bench.accuracy.plan.ModelFile`) takes them: channels last for
    ``NHWC``; for a uint8 ``pixels`` input, the 0..255 pixels (the normalisation undone: exact,
    the floats are within 1e-4 of a whole level)."""
    if isinstance(run, str):
        return None
    mean = np.asarray(preprocess.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(preprocess.std, dtype=np.float32)[:, None, None]

    def fed(images: np.ndarray):
        if file.pixels:
            images = np.rint((images * std + mean) * 255).clip(0, 255).astype(np.uint8)
        return run(in_layout(images, file.layout))

    return fed


def _in_layout(run, layout: str):
    """``run`` fed the NCHW batches in ``layout`` (:func:`bench.accuracy.preprocess.in_layout`)."""
    return run if layout == "NCHW" else lambda images: run(in_layout(images, layout))


def _float_qdq_twin(target: _Target, path) -> _Target | None:
    """For an ONNX int8 file that runs here (``path``; None when it does not) on an x86-64 CPU whose
    onnxruntime int8 kernels can saturate (:func:`bench.runtimes.onnxruntime.int8_kernel_caveat`):
    a second target running the same file with graph optimizations off, so that its QuantizeLinear /
    DequantizeLinear pairs are computed in float with the file's own scales and zero points rather
    than fused into U8S8 kernels. Its score goes into the row's notes beside the measured one (the
    row's numbers stay those of the runtime as ``bench run`` opens it). None otherwise."""
    from bench.runtimes import onnxruntime as ort_runtime

    if path is None or target.fmt != "onnx" or not target.precision.startswith("int8"):
        return None
    if ort_runtime.int8_kernel_caveat() is None:
        return None
    options = {**ort_runtime.OPTIONS, "graph_optimization": "disable"}
    run = ort_runtime.open_session(str(path), 1, options)[0]
    return _Target(target.fmt, target.precision, run, target.row)


def _run_artifacts(targets: list[_Target], images: np.ndarray, count: int) -> None:
    """Each target's logits of the first ``count`` images of the padded batch ``images``, appended
    to its ``logits`` (its inference time to ``seconds``). Raises BenchError when a first output is
    not (N, classes...) with the batch first."""
    batch = len(images)
    for target in targets:
        start = time.perf_counter()
        out = np.asarray(target.run(images)[0])
        if out.ndim < 2 or out.shape[0] != batch:
            raise BenchError(
                f"{target.row.model} ({target.fmt}): its first output has shape {out.shape} for a batch "
                f"of {batch}; class logits are (N, classes) with the batch first"
            )
        target.seconds += time.perf_counter() - start
        target.logits.append(out.reshape(batch, -1)[:count])


@dataclass
class _Target:
    fmt: str
    precision: str
    run: Callable[..., list[np.ndarray]] | None
    row: AccuracyRow
    logits: list[np.ndarray] = field(default_factory=list)
    seconds: float = 0.0


def evaluate(
    spec,
    dataset: LabelledImages,
    preprocess: Preprocess,
    targets: list[tuple[str, str]],
    *,
    settings: dict,
    max_drop: float = DEFAULT_MAX_DROP,
    calibration=None,
    io: str = "float32",
    workers: int | None = None,
    on_batch: Callable[[int], None] | None = None,
    file=None,
) -> list[AccuracyRow]:
    """Score ``spec`` (export.source.ModelSpec; its input's batch is the batch size) as exported to
    each ``(format, precision)`` of ``targets`` (``("pytorch", "fp32")``: the reference itself) on
    ``dataset`` preprocessed by ``preprocess``, decoded by ``workers`` threads (default
    :func:`decode_workers`; 0: inline). ``calibration`` (export.calibration.Calibration)
    for int8-static, and ``io`` the input/output type of its TFLite file (``int8``: the runtime
    quantizes); ``on_batch(n_images)`` after each batch. Exports that fail or cannot run here
    give rows with ``error``; an export that failed verification is scored with a note. Raises
    BenchError when the model's class count does not fit the data set, or no image can be
    decoded.

    ``file`` (:class:`bench.accuracy.plan.ModelFile`): a model file scored as it is, after the
    targets; ``spec`` is then its fp32 PyTorch reference, or None (no reference: no drop, no
    agreement, nothing judged a collapse)."""
    from bench.digest import path_sha256
    from bench.runtimes.onnxruntime import int8_kernel_caveat
    from export.base import flatten_outputs, get_exporter, io_type_for
    from export.pipeline import export_model

    if spec is not None:
        shape = spec.inputs.shape
        taken = image_layout(shape)
        if taken is None or taken[1] != preprocess.size:
            raise BenchError(
                f"bench accuracy feeds RGB images of {preprocess.size}x{preprocess.size}; the model takes "
                f"{','.join(map(str, shape))} (give --input-shape N,3,S,S or N,S,S,3)"
            )
        layout = taken[0]  # the model and its exports are fed in it
        model = spec.build()
        with torch.inference_mode():  # the class count, before any export (a wrong data set is told at once)
            probe = flatten_outputs(model(torch.zeros(shape)))[0]
        if probe.ndim != 2:
            raise BenchError(f"the model's first output has shape {tuple(probe.shape)}; class logits are (N, classes)")
        check_class_count(probe.shape[1], dataset)
    else:
        model, shape, layout = None, (file.batch, 3, file.size, file.size), "NCHW"
    summary = dataset.summary()
    found: list[_Target] = []
    twins: list[_Target | None] = []  # per target: its file with the QDQ nodes run in float, or None
    for fmt, precision in targets:
        row = AccuracyRow(spec.reference or spec.name, fmt, precision, None, summary, settings)
        run = None
        if fmt != "pytorch":
            artifact = export_model(spec, fmt, precision, calibration=calibration, io=io_type_for(fmt, precision, io))
            row.artifact_sha256, row.artifact_path = artifact.sha256, artifact.path
            if artifact.error:
                row.error = f"export failed: {artifact.error}"
            else:  # a file that failed verification is scored too: its accuracy is the verdict that matters
                if not artifact.ok and artifact.verification.reason:
                    row.notes.append(f"export verification: {artifact.verification.reason}")
                loaded = get_exporter(fmt).load_runner(artifact.path)
                if isinstance(loaded, str):
                    row.error = f"cannot run here: {loaded}"
                else:
                    run = _in_layout(loaded, layout)
        found.append(_Target(fmt, precision, run, row))
        twin = _float_qdq_twin(found[-1], artifact.path if run else None)
        if twin is not None:
            twin.run = _in_layout(twin.run, layout)
        twins.append(twin)
    if file is not None:
        row = AccuracyRow(str(file.path), file.format, file.precision, path_sha256(file.path)[0], summary, settings)
        row.artifact_path = str(file.path)
        loaded = get_exporter(file.format).load_runner(file.path)
        if isinstance(loaded, str):
            row.error = f"cannot run here: {loaded}"
        found.append(_Target(file.format, file.precision, _as_file_takes(loaded, file, preprocess), row))
        twin = _float_qdq_twin(found[-1], file.path if found[-1].run else None)
        if twin is not None:
            twin.run = _as_file_takes(twin.run, file, preprocess)
        twins.append(twin)
    reference: list[np.ndarray] = []
    labels: list[np.ndarray] = []
    batch = shape[0]
    reference_s = 0.0
    workers = decode_workers() if workers is None else workers
    artifacts = [t for t in found if t.run is not None] + [t for t in twins if t is not None]
    beside = model is not None and bool(artifacts)  # artifacts in a thread beside the reference
    pool = ThreadPoolExecutor(1, thread_name_prefix="bench-artifacts") if beside else None
    with (
        batches(dataset, preprocess, batch, workers) as stream,
        torch.inference_mode(),
        _cores_left(workers + (1 if beside else 0)),
        pool or contextlib.nullcontext(),
    ):
        for chunk in stream:
            images = chunk.images
            count = len(images)
            if count < batch:  # the last batch, padded to the exported batch size
                images = np.concatenate([images, np.zeros((batch - count, *images.shape[1:]), images.dtype)])
            running = pool.submit(_run_artifacts, artifacts, images, count) if pool else None
            if model is not None:
                start = time.perf_counter()
                logits = flatten_outputs(model(torch.from_numpy(in_layout(images, layout))))[0].numpy()[:count]
                reference_s += time.perf_counter() - start
                reference.append(logits)
            labels.append(chunk.labels)
            if running is not None:
                running.result()  # raises what the artifacts raised
            else:
                _run_artifacts(artifacts, images, count)
            if on_batch is not None:
                on_batch(count)
        skipped = len(stream.skipped)
        unread = [f"{dataset.relative(path)} ({why})" for path, why in stream.skipped[:5]]
    if not labels:
        raise BenchError(f"--data {dataset.root}: none of its {len(dataset)} images could be decoded")
    truth = np.concatenate(labels)
    ref_logits = np.concatenate(reference) if reference else None
    ref_result = accuracy(ref_logits, truth, dataset, ref_logits) if ref_logits is not None else None
    rows = []
    for target, twin in zip(found, twins, strict=True):
        row = target.row
        row.skipped, row.seconds = skipped, target.seconds
        row.reference_top1 = ref_result.top1 if ref_result is not None else None
        if skipped:
            more = f" and {skipped - len(unread)} more" if skipped > len(unread) else ""
            row.notes.append(f"{skipped} images could not be decoded and are in no score: {'; '.join(unread)}{more}")
        if target.fmt == "pytorch":
            row.result, row.seconds = ref_result, reference_s
        elif target.run is not None:
            row.result = accuracy(np.concatenate(target.logits), truth, dataset, ref_logits)
            if twin is not None:
                in_float = accuracy(np.concatenate(twin.logits), truth, dataset, ref_logits)
                row.notes.append(
                    f"{int8_kernel_caveat()}; with its QDQ nodes run in float (onnxruntime graph optimizations "
                    f"off, no fused int8 kernels) this file scores {100 * in_float.top1:.2f}% top-1 "
                    f"({100 * (in_float.top1 - row.result.top1):+.2f} points): the file's own quantization"
                )
        if row.result is not None and ref_result is not None:
            row.drop_points = row.result.drop_points(ref_result)
            row.collapsed = row.drop_points > max_drop
        rows.append(row)
    return rows
