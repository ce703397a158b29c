"""Calibration images for full-integer (static) int8: the activation ranges are measured on them.

A :class:`Calibration` is a set of image files and the model's own preprocessing
(:class:`bench.accuracy.preprocess.Preprocess`). Its :attr:`~Calibration.digest` (the images'
fingerprint and the transform) is part of an int8-static artifact's cache key, so other images or
another transform give another file. At most :data:`MAX_IMAGES` images are used, picked evenly
by a seeded draw when the folder holds more.

Where the images come from is said in :attr:`~Calibration.origin`: a ``--calibration DIR``, or
images of ``bench accuracy --data DIR`` set aside (:func:`bench.accuracy.dataset.split_calibration`)
and never measured on.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from bench.accuracy.dataset import LabelledImages, load_images_only
from bench.accuracy.preprocess import Preprocess, decode, image_layout, in_layout
from bench.errors import BenchError
from export.reference import Inputs

MAX_IMAGES = 200
SEED = 0


@dataclass(frozen=True)
class Calibration:
    """``images`` (at most :data:`MAX_IMAGES`) preprocessed by ``preprocess``; ``origin`` says
    where they come from, for the artifact and the user."""

    images: LabelledImages
    preprocess: Preprocess
    origin: str

    @classmethod
    def from_folder(cls, folder: str | Path, preprocess: Preprocess) -> Calibration:
        """Every image under ``folder`` (recursively; a seeded pick of :data:`MAX_IMAGES` of them when
        there are more). Raises BenchError when the folder is missing or holds no images."""
        images = load_images_only(Path(folder), option="--calibration")
        if len(images) > MAX_IMAGES:
            picked = np.sort(np.random.default_rng(SEED).choice(len(images), MAX_IMAGES, replace=False))
            images = images.subset(int(i) for i in picked)
        return cls(images, preprocess, f"--calibration {images.root}")

    @cached_property
    def digest(self) -> str:
        """sha256 over the images' contents (each file's sha256, in order) and the preprocessing: the
        cache key's part, so images rewritten in place (same names and sizes) are new calibration."""
        from bench.digest import files_sha256

        return files_sha256(self.images.files, unreadable_ok=True, material=repr(self.preprocess))

    def describe(self) -> str:
        """``'200 images: --calibration /data/cal (sha256 1f2e...)'``: what the artifact records (the
        images that could be read, and how many could not)."""
        unread = len(self.images) - len(self._decoded)
        skipped = f", {unread} unreadable left out ({self.skipped[0][0].name}: {self.skipped[0][1]})" if unread else ""
        return f"{len(self._decoded)} images: {self.origin} (sha256 {self.digest[:16]}{skipped})"

    def samples(self, inputs: Inputs) -> list[list[np.ndarray]]:
        """The readable images as the model's one image input takes them: ``[array]`` of
        ``(B, 3, S, S)`` each (``(B, S, S, 3)`` for a channels-last input), B consecutive images per
        sample (B the input's batch; a last partial batch is left out; corrupt images are left out).
        Raises BenchError for a model with several or non-image inputs, another side than the
        preprocessing's, fewer readable images than one batch, or when no image could be read."""
        if len(inputs) != 1:
            raise BenchError(
                f"int8-static calibrates models with one image input; this one has {len(inputs)} ({inputs.text})"
            )
        shape = inputs.shape
        layout = image_layout(shape)
        if layout is None or layout[1] != self.preprocess.size:
            raise BenchError(
                f"calibration images are {self.preprocess.size}x{self.preprocess.size} RGB; the model takes "
                f"{','.join(map(str, shape))} (int8-static calibrates image models: N,3,S,S or N,S,S,3)"
            )
        batch, images = shape[0], self._decoded
        if len(images) < batch:
            raise BenchError(f"{self.origin}: {len(images)} readable images, fewer than one batch of {batch}")
        starts = range(0, len(images) - batch + 1, batch)
        return [[in_layout(np.stack(images[i : i + batch]), layout[0])] for i in starts]

    @property
    def skipped(self) -> list[tuple[Path, str]]:
        """``(file, reason)`` of the images that could not be read."""
        return self._decoding[1]

    @property
    def _decoded(self) -> list[np.ndarray]:
        """The readable images, preprocessed (each (3, S, S) float32)."""
        return self._decoding[0]

    @cached_property
    def _decoding(self) -> tuple[list[np.ndarray], list[tuple[Path, str]]]:
        """The images decoded once: (readable ones preprocessed, (file, reason) of the others)."""
        skipped: list[tuple[Path, str]] = []
        arrays = [decode(path, self.preprocess, skipped) for path in self.images.files]
        kept = [a for a in arrays if a is not None]
        if not kept:
            first = f" ({skipped[0][0].name}: {skipped[0][1]})" if skipped else ""
            raise BenchError(f"{self.origin}: none of its {len(self.images)} images could be read{first}")
        return kept, skipped


def preprocess_for(spec, size: int | None = None, **given) -> Preprocess:
    """The evaluation transform of a model (``spec``: export.source.ModelSpec): a zoo model's card
    (mean, std, crop_pct, interpolation, with their source); a user's model ImageNet mean/std,
    crop_pct 0.875, bilinear, unless ``given`` (``mean``, ``std``, ``crop_pct``, ``interpolation``,
    from ``--mean``/``--std``/``--crop-pct``/``--interpolation``) says otherwise. ``size``: the
    square side, by default the model's input's image side (N,3,S,S or N,S,S,3). Raises BenchError for values
    Preprocess refuses."""
    if size is None:  # the image side, NCHW or channels last (else the last dimension, as any shape's)
        shape = spec.inputs.tensors[0].shape
        size = (image_layout(shape) or ("", int(shape[-1])))[1]
    settings: dict = {}
    if spec.zoo:
        import models

        card = models.get_card(spec.name)
        settings = {"mean": card.mean, "std": card.std, "crop_pct": card.crop_pct, "interpolation": card.interpolation}
    settings.update({k: v for k, v in given.items() if v is not None})
    return Preprocess(size=size, **settings)
