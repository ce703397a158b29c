"""Accuracy of what ships: labelled image folders, the model's own preprocessing, and the metrics.

- :mod:`bench.accuracy.dataset`: the folder layouts (ImageFolder, ``labels.csv``, ImageNet synsets
  with a label map), their fingerprint, and the calibration / evaluation split.
- :mod:`bench.accuracy.preprocess`: timm's evaluation transform with Pillow, and batches decoded
  in a thread pool ahead of inference (corrupt images skipped and counted).
- :mod:`bench.accuracy.metrics`: top-1 / top-5, the Wilson interval, agreement and KL divergence
  against a reference, as an :class:`AccuracyResult`.
"""

from bench.accuracy.dataset import LabelledImages, load_dataset, load_images_only, split_calibration
from bench.accuracy.metrics import AccuracyResult, accuracy, check_class_count
from bench.accuracy.preprocess import Batch, BatchStream, Preprocess, batches, decode

__all__ = [
    "AccuracyResult",
    "Batch",
    "BatchStream",
    "LabelledImages",
    "Preprocess",
    "accuracy",
    "batches",
    "check_class_count",
    "decode",
    "load_dataset",
    "load_images_only",
    "split_calibration",
]
