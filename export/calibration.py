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

import hashlib
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from bench.accuracy.dataset import LabelledImages, load_images_only
from bench.accuracy.preprocess import Preprocess, decode
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

    @property
    def digest(self) -> str:
        """sha256 over the images' fingerprint (names, sizes) and the preprocessing: the cache key's part."""
        material = f"{self.images.fingerprint}|{self.preprocess!r}"
        return hashlib.sha256(material.encode()).hexdigest()

    def describe(self) -> str:
        """``'200 images: --calibration /data/cal (sha256 1f2e...)'``: what the artifact records."""
        return f"{len(self.images)} images: {self.origin} (sha256 {self.digest[:16]})"

    def samples(self, inputs: Inputs) -> list[list[np.ndarray]]:
        """One ``[array]`` per readable image, shaped as the model's one image input (``(1, 3, S, S)``
        with S the preprocessing's size; corrupt images are left out). Raises BenchError for a
        model with several or non-image inputs, another side than the preprocessing's, or when no
        image could be read."""
        shape = inputs.shape
        if len(shape) != 4 or shape[0] != 1 or shape[1] != 3 or shape[2:] != (self.preprocess.size,) * 2:
            raise BenchError(
                f"calibration images are {self.preprocess.size}x{self.preprocess.size} RGB; the model takes "
                f"{','.join(map(str, shape))} (int8-static calibrates image models of batch 1)"
            )
        return [[image[None]] for image in self._decoded]

    @cached_property
    def _decoded(self) -> list[np.ndarray]:
        """The readable images, preprocessed (each (3, S, S) float32), decoded once."""
        skipped: list[tuple[Path, str]] = []
        arrays = [decode(path, self.preprocess, skipped) for path in self.images.files]
        kept = [a for a in arrays if a is not None]
        if not kept:
            first = f" ({skipped[0][0].name}: {skipped[0][1]})" if skipped else ""
            raise BenchError(f"{self.origin}: none of its {len(self.images)} images could be read{first}")
        return kept


def preprocess_for(spec, size: int | None = None, **given) -> Preprocess:
    """The evaluation transform of a model (``spec``: export.source.ModelSpec): a zoo model's card
    (mean, std, crop_pct, interpolation, with their source); a user's model ImageNet mean/std,
    crop_pct 0.875, bilinear, unless ``given`` (``mean``, ``std``, ``crop_pct``, ``interpolation``,
    from ``--mean``/``--std``/``--crop-pct``/``--interpolation``) says otherwise. ``size``: the
    square side, by default the model's input's last dimension. Raises BenchError for values
    Preprocess refuses."""
    if size is None:
        size = int(spec.inputs.tensors[0].shape[-1])
    settings: dict = {}
    if spec.zoo:
        import models

        card = models.get_card(spec.name)
        settings = {"mean": card.mean, "std": card.std, "crop_pct": card.crop_pct, "interpolation": card.interpolation}
    settings.update({k: v for k, v in given.items() if v is not None})
    return Preprocess(size=size, **settings)
