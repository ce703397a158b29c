"""From image files to normalised (N, 3, H, W) float32 batches, decoded ahead of the runtime.

:class:`Preprocess` is timm's evaluation transform (``timm.data.create_transform(is_training=
False)``, timm 1.0.31, itself torchvision's ``Resize`` + ``CenterCrop`` + ``ToTensor`` +
``Normalize``) written with Pillow and numpy only, so that it needs no torch and gives the same
floats. :func:`decode` opens one file (a corrupt or unreadable one gives ``None`` and a reason);
:func:`batches` decodes a data set in a thread pool a bounded number of batches ahead of the
consumer, so decoding overlaps inference (Pillow releases the GIL while it decodes and resizes).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np
from PIL import Image

from bench.accuracy.dataset import LabelledImages
from bench.errors import BenchError

# Pillow's filters by the names timm and torchvision use (torchvision's InterpolationMode values).
INTERPOLATIONS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
}
CROP_MODES = ("center", "squash")
# timm.data.constants: IMAGENET_DEFAULT_MEAN / _STD and DEFAULT_CROP_PCT.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
DEFAULT_CROP_PCT = 0.875

Skipped = list[tuple[Path, str]]


@dataclass(frozen=True)
class Preprocess:
    """The evaluation transform of one model: resize, centre crop, scale to [0, 1], normalise.

    ``size``: the square crop's side, in pixels. ``crop_pct``: the crop's share of the resized
    image, so the shorter side is first resized to ``floor(size / crop_pct)`` pixels (timm's
    ``scale_size``; above 1.0 the crop is larger than the image and zero-padded, as torchvision's
    ``CenterCrop`` does). ``interpolation``: Pillow's filter for that resize (``nearest``,
    ``bilinear``, ``bicubic``). ``mean`` / ``std``: per RGB channel, on the [0, 1] scale.
    ``crop_mode``: timm's ``center`` (keep the aspect ratio) or ``squash`` (resize both sides to
    ``floor(size / crop_pct)``). Invalid values raise :class:`BenchError` naming the option.
    """

    size: int
    crop_pct: float = DEFAULT_CROP_PCT
    interpolation: str = "bilinear"
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    crop_mode: str = "center"

    def __post_init__(self) -> None:
        if not (isinstance(self.size, int) and self.size >= 1):
            raise BenchError(f"--input-shape: the image side must be a positive integer (got {self.size!r})")
        if not (math.isfinite(self.crop_pct) and 0 < self.crop_pct <= 4):
            raise BenchError(f"--crop-pct must be above 0 and at most 4 (got {self.crop_pct!r})")
        if self.interpolation not in INTERPOLATIONS:
            raise BenchError(f"--interpolation must be one of {', '.join(INTERPOLATIONS)} (got {self.interpolation!r})")
        if self.crop_mode not in CROP_MODES:
            raise BenchError(f"crop mode {self.crop_mode!r} is not supported (only {', '.join(CROP_MODES)})")
        for option, values in (("--mean", self.mean), ("--std", self.std)):
            if len(values) != 3 or not all(math.isfinite(v) for v in values):
                raise BenchError(f"{option} needs 3 finite numbers, one per RGB channel (got {values!r})")
        if not all(v > 0 for v in self.std):
            raise BenchError(f"--std values must be above 0 (got {self.std!r})")
        object.__setattr__(self, "mean", tuple(float(v) for v in self.mean))
        object.__setattr__(self, "std", tuple(float(v) for v in self.std))

    @classmethod
    def from_timm(cls, pretrained_cfg: Mapping) -> Preprocess:
        """The transform of a timm pretrained config (``model.pretrained_cfg``, or the dict of
        ``timm.data.resolve_data_config``): keys ``input_size`` ``(3, H, W)`` with H == W,
        ``crop_pct``, ``interpolation``, ``mean``, ``std`` and ``crop_mode``; missing ones take timm's
        defaults (224, 0.875, bilinear, ImageNet mean/std, center). Raises :class:`BenchError` for
        a non-square input or a crop mode / interpolation this module does not implement."""
        _, height, width = pretrained_cfg.get("input_size", (3, 224, 224))
        if height != width:
            raise BenchError(f"timm config input_size {height}x{width} is not square; only square crops are supported")
        return cls(
            size=int(height),
            crop_pct=float(pretrained_cfg.get("crop_pct") or DEFAULT_CROP_PCT),
            interpolation=str(pretrained_cfg.get("interpolation") or "bilinear"),
            mean=tuple(pretrained_cfg.get("mean") or IMAGENET_MEAN),
            std=tuple(pretrained_cfg.get("std") or IMAGENET_STD),
            crop_mode=str(pretrained_cfg.get("crop_mode") or "center"),
        )

    @property
    def scale_size(self) -> int:
        """The resized shorter side in pixels: ``floor(size / crop_pct)``, as timm computes it."""
        return math.floor(self.size / self.crop_pct)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """(3, size, size): one image as :meth:`__call__` returns it."""
        return (3, self.size, self.size)

    def resize(self, image: Image.Image) -> Image.Image:
        """``image`` resized as ``torchvision.transforms.Resize(scale_size)`` resizes a PIL image:
        shorter side to :attr:`scale_size`, longer side ``int(scale_size * long / short)``
        (truncated); unchanged when already that size. ``squash`` resizes both sides."""
        width, height = image.size
        target = self.scale_size
        if self.crop_mode == "squash":
            new = (target, target)
        elif width <= height:
            new = (target, int(target * height / width))
        else:
            new = (int(target * width / height), target)
        if new == image.size:
            return image
        return image.resize(new, INTERPOLATIONS[self.interpolation])

    def crop(self, image: Image.Image) -> Image.Image:
        """The centre ``size`` x ``size`` of ``image`` as ``torchvision.transforms.functional.
        center_crop``: offsets ``round((side - size) / 2)``; a smaller image is first padded with
        zeros, ``(size - side) // 2`` before and the rest after."""
        width, height = image.size
        side = self.size
        pad_left = (side - width) // 2 if side > width else 0
        pad_top = (side - height) // 2 if side > height else 0
        padded_w = max(width, side)  # width + pad_left + (side - width + 1) // 2 when padded
        padded_h = max(height, side)
        left = int(round((padded_w - side) / 2.0)) - pad_left
        top = int(round((padded_h - side) / 2.0)) - pad_top
        if (left, top, width, height) == (0, 0, side, side):
            return image
        return image.crop((left, top, left + side, top + side))  # Pillow fills outside the image with 0

    @cached_property
    def levels(self) -> np.ndarray:
        """(3, 256) float32: ``(level / 255 - mean) / std`` of each 8-bit level per RGB channel, in
        float32 as torchvision's ``ToTensor`` and ``Normalize`` compute it for one pixel."""
        levels = np.arange(256, dtype=np.float32)[:, None] / np.float32(255)
        mean = np.asarray(self.mean, dtype=np.float32)
        std = np.asarray(self.std, dtype=np.float32)
        return np.ascontiguousarray(((levels - mean) / std).T)

    def __call__(self, image: Image.Image) -> np.ndarray:
        """One image (any Pillow mode; converted to RGB first) as a (3, size, size) float32 array,
        ``(pixel / 255 - mean) / std`` per channel, in float32 as torchvision's ``ToTensor`` and
        ``Normalize`` compute it: looked up in :attr:`levels` (the same floats as computing each
        pixel, in one pass per channel instead of five over the whole image)."""
        rgb = image if image.mode == "RGB" else image.convert("RGB")
        pixels = np.asarray(self.crop(self.resize(rgb)))  # (H, W, 3) uint8
        out = np.empty((3, *pixels.shape[:2]), dtype=np.float32)
        for channel, table in enumerate(self.levels):
            np.take(table, pixels[..., channel], out=out[channel], mode="clip")  # "clip": unbuffered
        return out


def image_layout(shape: Sequence[int | None]) -> tuple[str, int] | None:
    """How a model's image input holds one batch of square RGB images: ``("NCHW", S)`` for
    ``(N, 3, S, S)``, ``("NHWC", S)`` for ``(N, S, S, 3)`` (channels last, as TensorFlow and Keras
    export images); None for any other shape, or a side that is not given (None or 0 in ``shape``)."""
    dims = tuple(shape)
    if len(dims) == 4 and dims[1] == 3 and dims[2] == dims[3] and dims[2]:
        return "NCHW", int(dims[2])
    if len(dims) == 4 and dims[3] == 3 and dims[1] == dims[2] and dims[1]:
        return "NHWC", int(dims[1])
    return None


def in_layout(images: np.ndarray, layout: str) -> np.ndarray:
    """``images`` (N, 3, S, S), as this module makes them, in ``layout``: as they are for ``NCHW``,
    a contiguous (N, S, S, 3) copy for ``NHWC``."""
    return np.ascontiguousarray(images.transpose(0, 2, 3, 1)) if layout == "NHWC" else images


def decode(path: Path, preprocess: Preprocess | None = None, skipped: Skipped | None = None) -> np.ndarray | None:
    """The image at ``path``: with ``preprocess``, a (3, size, size) float32 array; without, the
    decoded (H, W, 3) uint8 RGB pixels.

    A file that cannot be opened or decoded (truncated, not an image, unreadable, larger than
    Pillow's decompression-bomb limit) gives ``None``, and ``(path, reason)`` is appended to
    ``skipped`` when given; the reason is one line, the exception's type and message.
    """
    try:
        with Image.open(path) as image:
            rgb = image.convert("RGB")  # decodes the whole file, so a truncated one fails here
    except Exception as exc:  # noqa: BLE001 - Pillow raises OSError, SyntaxError, ValueError, zlib.error, ...
        if skipped is not None:
            message = " ".join(str(exc).split())
            skipped.append((Path(path), f"{type(exc).__name__}: {message}"[:200]))
        return None
    return preprocess(rgb) if preprocess is not None else np.asarray(rgb)


@dataclass(frozen=True)
class Batch:
    """Up to ``batch`` decoded images of a data set, in its order.

    ``images``: (N, 3, H, W) float32, normalised. ``labels``: (N,) int64 class indices (``-1``
    for unlabelled images). ``indices``: (N,) int64 positions in the data set's ``files``.
    """

    images: np.ndarray
    labels: np.ndarray
    indices: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)


class BatchStream:
    """An iterator of :class:`Batch` over a data set, decoded by ``workers`` threads ahead of use.

    At most ``prefetch`` batches beyond the one being consumed are decoding or decoded at any
    time (bounded memory: ``(prefetch + 1) * batch`` images). Images that cannot be decoded are
    left out of the batches and listed in :attr:`skipped` as ``(file, reason)``; so a batch holds
    ``batch`` images except the last, and :attr:`decoded` + ``len(skipped)`` is the number of files
    read. ``workers=0`` decodes in the consuming thread. Iterate once; :meth:`close` (or leaving a
    ``with`` block, or dropping the iterator) stops the pool.
    """

    def __init__(self, ds: LabelledImages, preprocess: Preprocess, batch: int, workers: int, prefetch: int = 2):
        if batch < 1:
            raise BenchError(f"--batch must be at least 1 (got {batch})")
        if workers < 0:
            raise BenchError(f"the number of decoding workers must be 0 or more (got {workers})")
        self.ds = ds
        self.preprocess = preprocess
        self.batch = batch
        self.workers = workers
        self.prefetch = max(0, prefetch)
        self.skipped: Skipped = []
        self.decoded = 0
        self._iterator = self._run()

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self) -> Batch:
        return next(self._iterator)

    def __enter__(self) -> BatchStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop decoding: pending work is cancelled and the pool shut down."""
        self._iterator.close()

    def _one(self, index: int) -> tuple[np.ndarray | None, Skipped]:
        failed: Skipped = []  # appended by the consumer, so that skipped keeps the data set's order
        return decode(self.ds.files[index], self.preprocess, failed), failed

    def _pack(self, images: list[np.ndarray], indices: list[int]) -> Batch:
        self.decoded += len(indices)
        where = np.asarray(indices, dtype=np.int64)
        labels = np.asarray([self.ds.labels[i] for i in indices], dtype=np.int64)
        stacked = images[0][None] if len(images) == 1 else np.stack(images)  # one image: a view, no copy
        return Batch(stacked, labels, where)

    def _run(self) -> Iterator[Batch]:
        images: list[np.ndarray] = []
        indices: list[int] = []
        for index, image, failed in self._decoded():
            self.skipped += failed
            if image is not None:
                images.append(image)
                indices.append(index)
            if len(indices) == self.batch:
                yield self._pack(images, indices)
                images, indices = [], []
        if indices:
            yield self._pack(images, indices)

    def _decoded(self) -> Iterator[tuple[int, np.ndarray | None, Skipped]]:
        """``(index, image or None, skipped)`` in data set order: decoded here (``workers=0``) or by
        the pool, at most ``(prefetch + 1) * batch`` images ahead."""
        total = len(self.ds)
        if self.workers == 0:
            for index in range(total):
                yield index, *self._one(index)
            return
        ahead = (self.prefetch + 1) * self.batch
        pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="bench-decode")
        pending: deque[tuple[int, Future]] = deque()
        submitted = 0
        try:
            while submitted < total or pending:
                while submitted < total and len(pending) < ahead:
                    pending.append((submitted, pool.submit(self._one, submitted)))
                    submitted += 1
                index, future = pending.popleft()
                yield index, *future.result()
        finally:
            for _, future in pending:
                future.cancel()
            pool.shutdown(wait=True, cancel_futures=True)


def batches(ds: LabelledImages, preprocess: Preprocess, batch: int, workers: int, prefetch: int = 2) -> BatchStream:
    """Decode ``ds`` with ``preprocess`` into batches of ``batch`` images, ``workers`` threads
    decoding up to ``prefetch`` batches ahead; see :class:`BatchStream` (its ``skipped`` lists the
    corrupt files after iteration). Raises :class:`BenchError` when ``batch`` < 1."""
    return BatchStream(ds, preprocess, batch, workers, prefetch)
