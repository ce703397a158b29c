"""Zero-filled channel-group shifts, shared by ShiftViT (spatial) and VAST (spatial + temporal).

A move is ``(axis, step)``: ``step = -1`` moves content one position towards index 0 (the
"left" or "up" of the papers), ``+1`` away from it. The vacated border slice is zero, never
wrapped around. Written with slices and ``F.pad`` (no in-place writes) so that tracing,
ONNX, TFLite and CoreML converters all express it with plain Slice / Pad / Concat ops.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SPATIAL_MOVES: tuple[tuple[int, int], ...] = ((-1, -1), (-1, +1), (-2, -1), (-2, +1))  # left, right, up, down
TEMPORAL_MOVES: tuple[tuple[int, int], ...] = ((-3, -1), (-3, +1))  # to the previous frame, to the next


def shift_along(t: torch.Tensor, axis: int, step: int) -> torch.Tensor:
    """Move ``t`` one position along ``axis`` (negative index) in direction ``step``; zero fill."""
    if axis >= 0:
        raise ValueError("axis must be negative (counted from the last dimension)")
    if step not in (-1, 1):
        raise ValueError("step must be -1 or +1")
    n = t.shape[axis]
    kept = t.narrow(axis, 1, n - 1) if step < 0 else t.narrow(axis, 0, n - 1)
    pad = [0, 0] * (-axis - 1) + ([0, 1] if step < 0 else [1, 0])
    return F.pad(kept, pad)


def shift_groups(x: torch.Tensor, n_div: int, moves=SPATIAL_MOVES) -> torch.Tensor:
    """Shift consecutive groups of ``C // n_div`` channels (dim 1), one group per move.

    Channels after the last moved group are passed through unchanged.
    """
    g = x.shape[1] // n_div
    if g * len(moves) > x.shape[1]:
        raise ValueError(f"{len(moves)} groups of {g} channels do not fit in {x.shape[1]} channels")
    parts = [shift_along(x[:, i * g : (i + 1) * g], axis, step) for i, (axis, step) in enumerate(moves)]
    parts.append(x[:, len(moves) * g :])
    return torch.cat(parts, dim=1)
