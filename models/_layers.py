"""Small building blocks shared by the zoo families (parameter names as in the official code)."""

from __future__ import annotations

import torch
import torch.nn as nn
from timm.layers import trunc_normal_


class Mlp(nn.Module):
    """Two-layer MLP, ``fc1 -> act -> fc2``: Linear on tokens, or 1x1 convs on NCHW / NCTHW maps.

    ``layer`` is ``nn.Linear``, ``nn.Conv2d`` or ``nn.Conv3d``; the parameter names (fc1, fc2)
    are those of the EdgeViT, ShiftViT and timm MLPs, so checkpoints load either way.
    """

    def __init__(self, dim: int, hidden: int, layer: type[nn.Module] = nn.Linear, act_layer=nn.GELU, drop: float = 0.0):
        super().__init__()
        kernel = () if layer is nn.Linear else (1,)
        self.fc1 = layer(dim, hidden, *kernel)
        self.act = act_layer()
        self.fc2 = layer(hidden, dim, *kernel)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


def init_weights(m: nn.Module, convs: tuple[type[nn.Module], ...] = ()) -> None:
    """The ViT initialisation the official codes use: truncated normal (std 0.02) for Linear (and
    the given conv types), zero biases, unit-scale norms. Use as ``model.apply(partial(...))``."""
    if isinstance(m, (nn.Linear, *convs)):
        trunc_normal_(m.weight, std=0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.LayerNorm, nn.GroupNorm)):
        nn.init.zeros_(m.bias)
        nn.init.ones_(m.weight)
