"""Small models that reproduce what converters and exporters got wrong for users' own models
(issue #16, faults 2, 3, 5, 8 and 9). Each factory is referenced as ``export_kinds.py:NAME``."""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


class ZeroInitialised(nn.Module):
    """A zero-initialised positional embedding and a zero-initialised 1x1 conv (fault 2): both are
    the user's choices and must be exported as zeros."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.pos = nn.Parameter(torch.zeros(1, 8, 16, 16))
        self.gate = nn.Conv2d(8, 8, 1)
        nn.init.zeros_(self.gate.weight)
        self.norm = nn.BatchNorm2d(8)
        nn.init.zeros_(self.norm.weight)  # a zeroed norm scale in a user's model stays zero too

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x) + self.pos
        return (y + self.gate(y) + self.norm(y)).mean((2, 3))


class BranchOnMean(nn.Module):
    """Data-dependent control flow (fault 3): tracing keeps one branch."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.mean() > 0:
            return self.conv(x) * 2
        return self.conv(x) - 1


class DivideByMax(nn.Module):
    """A data-dependent Python number (fault 3): tracing freezes the divisor."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x / x.abs().max().item())


class Log1p(nn.Module):
    """Correct on images in [0, 1], NaN on negative inputs in PyTorch itself (fault 5)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(torch.log1p(x))


class AdaptiveMaxPool(nn.Module):
    """An operator the ONNX exporter has no function for (fault 8)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.adaptive_max_pool2d(self.conv(x), 3).flatten(1)


def zero_initialised() -> nn.Module:
    return ZeroInitialised()


def branch_on_mean() -> nn.Module:
    return BranchOnMean()


def divide_by_max() -> nn.Module:
    return DivideByMax()


def log1p() -> nn.Module:
    return Log1p()


def adaptive_max_pool() -> nn.Module:
    return AdaptiveMaxPool()


class TupleAndDict(nn.Module):
    """Several outputs (fault 4): a tuple holding a dict, as detection heads return them."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor):
        y = self.conv(x)
        return y.mean((2, 3)), {"map": torch.relu(y), "energy": (y * y).sum(1)}


def tuple_and_dict() -> nn.Module:
    return TupleAndDict()


class TwoInputs(nn.Module):
    """Two float inputs (fault 4's second half): an image and a mask of its size."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, image: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.conv(image * mask)


def two_inputs() -> nn.Module:
    return TwoInputs()


class ImageAndTokens(nn.Module):
    """An image and integer token ids (an embedding indexes with them) -> logits and a token map."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.embed = nn.Embedding(4, 8)
        self.head = nn.Linear(8, 5)

    def forward(self, image: torch.Tensor, ids: torch.Tensor):
        pooled = self.conv(image).mean((2, 3))  # (N, 8)
        tokens = self.embed(ids)  # (N, T, 8)
        return self.head(pooled + tokens.mean(1)), tokens * pooled[:, None, :]


def image_and_tokens() -> nn.Module:
    return ImageAndTokens()


class StdGate(nn.Module):
    """A data-dependent branch that inputs of either sign do not flip (std > 2): tracing keeps one
    branch silently, so the tracer's warning must keep CoreML from counting as checked."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if x.std() > 2.0:
            y = y * 0.0
        return y


def std_gate() -> nn.Module:
    return StdGate()


class UnusedInput(nn.Module):
    """A forward with an input it never reads: torch.onnx.export drops it from the file."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor, unused: torch.Tensor) -> torch.Tensor:
        return self.fc(x)


def unused_input() -> nn.Module:
    return UnusedInput()
