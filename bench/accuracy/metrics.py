"""Accuracy of one artifact's logits on a labelled data set, and how far they are from a reference.

:func:`accuracy` turns logits (N, C) and labels (N,) into an :class:`AccuracyResult`: top-1 and
top-5 (fractions; ``*_points`` are percentage points), the 95% Wilson score interval of top-1
(``scipy.stats.binomtest(k, n).proportion_ci(0.95, method="wilson")``, Wilson 1927), and, given
the fp32 PyTorch reference's logits on the same images, the share of images whose top-1 class
agrees and the mean KL divergence KL(softmax(reference) || softmax(candidate)) in nats.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from bench.accuracy.dataset import LabelledImages
from bench.errors import BenchError

CONFIDENCE = 0.95
TOP_K = 5


@dataclass(frozen=True)
class AccuracyResult:
    """Top-1/top-5 of ``n_images`` images over ``n_classes`` classes, as a value.

    ``top1`` / ``top5``: fractions in [0, 1] (``top1_correct`` / ``n_images``); ``top5`` counts an
    image as right when its label is among the 5 highest logits (all of them when there are fewer
    than 5 classes). ``top1_ci``: the 95% Wilson score interval of top-1, as fractions.
    ``agreement``: share of images whose top-1 class equals the reference's, and ``mean_kl``: mean
    over images of KL(softmax(reference) || softmax(logits)) in nats; both ``None`` without a
    reference.
    """

    n_images: int
    n_classes: int
    top1_correct: int
    top5_correct: int
    top1_ci: tuple[float, float]
    agreement: float | None = None
    mean_kl: float | None = None

    @property
    def top1(self) -> float:
        return self.top1_correct / self.n_images

    @property
    def top5(self) -> float:
        return self.top5_correct / self.n_images

    @property
    def top1_points(self) -> float:
        """Top-1 in percentage points (0-100)."""
        return 100.0 * self.top1

    @property
    def top5_points(self) -> float:
        return 100.0 * self.top5

    def drop_points(self, reference: AccuracyResult) -> float:
        """How many percentage points this top-1 is below ``reference``'s (negative when above)."""
        return reference.top1_points - self.top1_points

    def to_dict(self) -> dict:
        """Flat and JSON-ready: the fields (``top1_ci`` as ``top1_ci_low`` / ``top1_ci_high``) plus
        ``top1``, ``top5`` (fractions) and ``top1_points``, ``top5_points``."""
        row = asdict(self)
        low, high = row.pop("top1_ci")
        return {
            **row,
            "top1": self.top1,
            "top5": self.top5,
            "top1_points": self.top1_points,
            "top5_points": self.top5_points,
            "top1_ci_low": low,
            "top1_ci_high": high,
        }

    @classmethod
    def from_dict(cls, row: dict) -> AccuracyResult:
        """The inverse of :meth:`to_dict` (derived keys are ignored)."""
        return cls(
            n_images=int(row["n_images"]),
            n_classes=int(row["n_classes"]),
            top1_correct=int(row["top1_correct"]),
            top5_correct=int(row["top5_correct"]),
            top1_ci=(float(row["top1_ci_low"]), float(row["top1_ci_high"])),
            agreement=None if row.get("agreement") is None else float(row["agreement"]),
            mean_kl=None if row.get("mean_kl") is None else float(row["mean_kl"]),
        )


def check_class_count(n_outputs: int, dataset: LabelledImages) -> None:
    """Raise :class:`BenchError` when a model with ``n_outputs`` logits cannot be scored on ``dataset``.

    The count must equal ``dataset.n_classes`` (class folders, CSV class names, or the label map's
    length); for a labels.csv of bare indices, whose class count is unknown, it must exceed the
    highest index used.
    """
    if dataset.class_count_exact and n_outputs != dataset.n_classes:
        raise BenchError(
            f"the model outputs {n_outputs} classes but --data {dataset.root} has {dataset.n_classes} "
            f"({dataset.layout} layout)"
        )
    if not dataset.class_count_exact and n_outputs < dataset.n_classes:
        raise BenchError(
            f"the model outputs {n_outputs} classes but --data {dataset.root} uses class index "
            f"{dataset.n_classes - 1} (labels.csv)"
        )


def wilson_interval(correct: int, total: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of ``correct`` successes in ``total`` trials, as fractions."""
    from scipy import stats  # imported where scored: bench run imports this package for calibration

    ci = stats.binomtest(int(correct), int(total)).proportion_ci(confidence_level=confidence, method="wilson")
    return (float(ci.low), float(ci.high))


def top_k_correct(logits: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """(N,) bool: whether each label is among its row's ``k`` highest logits (ties: any of them)."""
    k = min(k, logits.shape[1])
    if k == 1:
        return logits.argmax(axis=1) == labels
    top = np.argpartition(-logits, k - 1, axis=1)[:, :k]
    return (top == labels[:, None]).any(axis=1)


def mean_kl(reference: np.ndarray, logits: np.ndarray) -> float:
    """Mean over rows of KL(softmax(reference) || softmax(logits)), nats, computed in float64.

    Per row, ``sum(p * (log p - log q))`` with both log-probabilities from
    ``scipy.special.log_softmax``: that is ``scipy.special.rel_entr(p, q)`` summed, but it stays
    finite where ``q`` underflows to 0 (logit gaps above ~745, which a collapsed int8 artifact
    produces) and ``rel_entr`` would give ``inf``.
    """
    from scipy import special

    log_p = special.log_softmax(np.asarray(reference, dtype=np.float64), axis=1)
    log_q = special.log_softmax(np.asarray(logits, dtype=np.float64), axis=1)
    per_image = np.sum(np.exp(log_p) * (log_p - log_q), axis=1)
    return float(np.mean(np.maximum(per_image, 0.0)))


def agreement(reference: np.ndarray, logits: np.ndarray) -> float:
    """Share of rows whose argmax is the same in ``logits`` and ``reference`` (both (N, C))."""
    return float(np.mean(np.asarray(reference).argmax(axis=1) == np.asarray(logits).argmax(axis=1)))


def accuracy(
    logits: np.ndarray,
    labels: np.ndarray,
    dataset: LabelledImages | None = None,
    reference: np.ndarray | None = None,
    *,
    n_classes: int | None = None,
) -> AccuracyResult:
    """Score ``logits`` (N, C) of any float dtype against integer ``labels`` (N,).

    ``dataset`` (or ``n_classes`` without one) checks the class count (:func:`check_class_count`);
    ``reference`` (N, C) is the fp32 PyTorch model's logits on the same images, in the same order.
    Raises :class:`BenchError` for a class-count mismatch or no images, ``ValueError`` for arrays
    of mismatched shapes or labels outside 0..C-1 (a caller's bug).
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels, dtype=np.int64)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(f"logits {logits.shape} and labels {labels.shape} must be (N, C) and (N,)")
    n, classes = logits.shape
    if dataset is not None:
        check_class_count(classes, dataset)
    elif n_classes is not None and classes != n_classes:
        raise BenchError(f"the model outputs {classes} classes but the data set has {n_classes}")
    if n == 0:
        raise BenchError("no images to score (every image was skipped or the data set is empty)")
    if labels.min() < 0 or labels.max() >= classes:
        raise ValueError(f"labels must be within 0..{classes - 1} (found {labels.min()}..{labels.max()})")
    top1 = int(top_k_correct(logits, labels, 1).sum())
    top5 = int(top_k_correct(logits, labels, TOP_K).sum())
    agree = kl = None
    if reference is not None:
        reference = np.asarray(reference)
        if reference.shape != logits.shape:
            raise ValueError(f"reference logits {reference.shape} and logits {logits.shape} differ in shape")
        agree, kl = agreement(reference, logits), mean_kl(reference, logits)
    return AccuracyResult(n, classes, top1, top5, wilson_interval(top1, n), agree, kl)
