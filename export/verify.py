"""Numeric verification of an exported model against PyTorch.

Both run on the same seeded random inputs. We record the max absolute difference, the cosine
similarity of the flattened outputs and top-1 agreement, and judge them against thresholds per
precision. The thresholds (also in the README):

| precision | cosine >= | max abs diff <= (x largest |output|) | top-1 agreement >= |
|---|---|---|---|
| fp32 | 0.99999 | 1e-4 | 1.0 |
| fp16 | 0.999 | 2e-2 | not judged |
| int8 | 0.98 | not judged | not judged |

Top-1 is judged only at fp32: zoo models have random weights, whose logits are nearly tied,
so a reduced-precision flip says nothing about accuracy on real data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from export.artifact import Verification


@dataclass(frozen=True)
class Thresholds:
    min_cosine: float
    max_rel_diff: float | None
    min_top1: float | None


THRESHOLDS = {
    "fp32": Thresholds(0.99999, 1e-4, 1.0),
    "fp16": Thresholds(0.999, 2e-2, None),
    "int8": Thresholds(0.98, None, None),
}
SAMPLES = 4
SEED = 0


def seeded_inputs(shape: tuple[int, ...], n: int = SAMPLES, seed: int = SEED) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(np.float32) for _ in range(n)]


def compare(reference: list[np.ndarray], candidate: list[np.ndarray], precision: str) -> Verification:
    """Judge candidate outputs against reference outputs (one array per input)."""
    limits = THRESHOLDS[precision]
    ref = np.stack([r.reshape(-1) for r in reference]).astype(np.float64)
    got = np.stack([c.reshape(-1) for c in candidate]).astype(np.float64)
    if ref.shape != got.shape:
        return Verification(False, samples=len(reference), reason=f"output shape {got.shape} != {ref.shape}")
    max_abs = float(np.abs(ref - got).max())
    scale = float(np.abs(ref).max()) or 1.0
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1)
    cosine = float(np.min(np.sum(ref * got, axis=1) / np.where(norms == 0, 1.0, norms)))
    top1 = float(np.mean(ref.argmax(axis=1) == got.argmax(axis=1)))
    failures = []
    if not np.isfinite(got).all():
        failures.append("non-finite outputs")
    if cosine < limits.min_cosine:
        failures.append(f"cosine {cosine:.6f} < {limits.min_cosine}")
    if limits.max_rel_diff is not None and max_abs > limits.max_rel_diff * scale:
        failures.append(f"max abs diff {max_abs:.3g} > {limits.max_rel_diff:g} x {scale:.3g}")
    if limits.min_top1 is not None and top1 < limits.min_top1:
        failures.append(f"top-1 agreement {top1:.2f} < {limits.min_top1}")
    return Verification(
        passed=not failures,
        max_abs_diff=max_abs,
        cosine=cosine,
        top1_agreement=top1,
        samples=len(reference),
        thresholds={k: v for k, v in vars(limits).items()},
        reason="; ".join(failures),
    )


def verify(
    run_reference: Callable[[np.ndarray], np.ndarray],
    run_candidate: Callable[[np.ndarray], np.ndarray],
    shape: tuple[int, ...],
    precision: str,
) -> Verification:
    inputs = seeded_inputs(shape)
    return compare([run_reference(x) for x in inputs], [run_candidate(x) for x in inputs], precision)
