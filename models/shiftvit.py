"""ShiftViT: attention replaced by a parameter-free shift of channel groups.

Paper: "When Shift Operation Meets Vision Transformer: An Extremely Simple Alternative to
Attention Mechanism", arXiv:2201.10801 (AAAI 2022). Official code: github microsoft/SPACH,
models/shiftvit.py. Parameter names follow the official code so its checkpoints load.

The shift moves ``C / n_div`` channels one pixel left, the next group right, then up, then
down; the remaining channels stay. Vacated border pixels are zero (as the official code's
slice writes into a zero tensor), not wrapped around: this is not ``torch.roll``. We express
it with ``F.pad`` and slices rather than in-place slice assignment, which gives the same
numbers and exports to every converter.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn as nn
from timm.layers import DropPath

from models._card import ModelCard, Published, Source
from models._layers import Mlp, init_weights
from models._registry import register_model
from models._shift import SPATIAL_MOVES, shift_groups

__all__ = ["ShiftViT", "ShiftViTBlock", "shift_channels"]


def shift_channels(x: torch.Tensor, n_div: int) -> torch.Tensor:
    """Shift four groups of ``C // n_div`` channels by one pixel (left, right, up, down), zero-filled."""
    return shift_groups(x, n_div, SPATIAL_MOVES)


class GroupNorm(nn.GroupNorm):
    """GroupNorm with one group: LayerNorm over (C, H, W) for NCHW maps, as in the official code."""

    def __init__(self, num_channels: int, num_groups: int = 1):
        super().__init__(num_groups, num_channels)


class ShiftViTBlock(nn.Module):
    """Shift (the token mixer, no parameters), then a residual MLP after GroupNorm."""

    def __init__(
        self,
        dim: int,
        n_div: int = 12,
        mlp_ratio: float = 4.0,
        drop: float = 0.0,
        drop_path: float = 0.0,
        norm_layer=GroupNorm,
    ):
        super().__init__()
        self.n_div = n_div
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), nn.Conv2d, drop=drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = shift_channels(x, self.n_div)
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """Norm, then a 2x2 stride-2 conv without bias that doubles the width."""

    def __init__(self, dim: int, norm_layer=GroupNorm):
        super().__init__()
        self.norm = norm_layer(dim)
        self.reduction = nn.Conv2d(dim, 2 * dim, 2, stride=2, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.reduction(self.norm(x))


class BasicLayer(nn.Module):
    def __init__(
        self,
        dim: int,
        depth: int,
        n_div: int,
        mlp_ratio: float,
        drop: float,
        drop_path: list[float],
        norm_layer,
        downsample: bool,
    ):
        super().__init__()
        self.blocks = nn.ModuleList(
            ShiftViTBlock(dim, n_div, mlp_ratio, drop, drop_path[i], norm_layer) for i in range(depth)
        )
        self.downsample = PatchMerging(dim, norm_layer) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        return self.downsample(x) if self.downsample is not None else x


class PatchEmbed(nn.Module):
    def __init__(self, patch_size: int, in_chans: int, embed_dim: int, norm_layer=GroupNorm):
        super().__init__()
        self.proj = nn.Conv2d(in_chans, embed_dim, patch_size, stride=patch_size)
        self.norm = norm_layer(embed_dim) if norm_layer is not None else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)
        return self.norm(x) if self.norm is not None else x


class ShiftViT(nn.Module):
    """Swin-like four-stage hierarchy whose blocks mix tokens only by shifting channels."""

    def __init__(
        self,
        n_div: int = 12,
        patch_size: int = 4,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 96,
        depths=(2, 2, 6, 2),
        mlp_ratio: float = 4.0,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        patch_norm: bool = True,
    ):
        super().__init__()
        self.num_classes = num_classes
        self.num_features = int(embed_dim * 2 ** (len(depths) - 1))
        self.patch_embed = PatchEmbed(patch_size, in_chans, embed_dim, GroupNorm if patch_norm else None)
        self.pos_drop = nn.Dropout(drop_rate)
        dpr = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.layers = nn.ModuleList(
            BasicLayer(
                dim=embed_dim * 2**i,
                depth=depths[i],
                n_div=n_div,
                mlp_ratio=mlp_ratio,
                drop=drop_rate,
                drop_path=dpr[sum(depths[:i]) : sum(depths[: i + 1])],
                norm_layer=GroupNorm,
                downsample=i < len(depths) - 1,
            )
            for i in range(len(depths))
        )
        self.norm = GroupNorm(self.num_features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.apply(partial(init_weights, convs=(nn.Conv2d,)))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pos_drop(self.patch_embed(x))
        for layer in self.layers:
            x = layer(x)
        return torch.flatten(self.avgpool(self.norm(x)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


def _create_shiftvit(**kwargs) -> ShiftViT:
    return ShiftViT(**kwargs)


_PAPER = Source("arXiv:2201.10801", "ImageNet-1K table; microsoft/SPACH README model zoo")
_CODE = Source("microsoft/SPACH models/shiftvit.py", "counted: sum(numel), flop_counter/2 at 224")


def _card(
    name: str, code_params: float, code_macs: float, paper: tuple[float, float, float] | None, note: str = ""
) -> ModelCard:
    top1, params, flops = paper if paper else (None, None, None)
    missing = "" if paper else "The paper and README publish no numbers for this variant. "
    return ModelCard(
        name=name,
        family="shiftvit",
        input_shape=(1, 3, 224, 224),
        params_m=Published(code_params, _CODE),
        macs_g=Published(code_macs, _CODE),
        top1=Published(top1, _PAPER if paper else None),
        paper_params_m=Published(params, _PAPER if paper else None),
        paper_macs_g=Published(flops, _PAPER if paper else None),
        note=(missing + note).strip(),
    )


model_cards = {
    "shiftvit_tiny_light": _card("shiftvit_tiny_light", 19.61, 2.963, (79.4, 20, 3.0)),
    "shiftvit_tiny": _card("shiftvit_tiny", 28.57, 4.582, (81.7, 29, 4.5)),
    "shiftvit_small_light": _card("shiftvit_small_light", 33.80, 5.738, (81.6, 34, 5.7)),
    "shiftvit_small": _card("shiftvit_small", 50.30, 8.743, (82.8, 50, 8.8)),
    "shiftvit_base_light": _card("shiftvit_base_light", 59.71, 10.194, None),
    "shiftvit_base": _card("shiftvit_base", 89.03, 15.537, None),
}


@register_model
def shiftvit_tiny_light(**kwargs) -> ShiftViT:
    return _create_shiftvit(embed_dim=96, depths=(2, 2, 6, 2), mlp_ratio=4, n_div=12, **kwargs)


@register_model
def shiftvit_tiny(**kwargs) -> ShiftViT:
    return _create_shiftvit(embed_dim=96, depths=(6, 8, 18, 6), mlp_ratio=2, n_div=12, **kwargs)


@register_model
def shiftvit_small_light(**kwargs) -> ShiftViT:
    return _create_shiftvit(embed_dim=96, depths=(2, 2, 18, 2), mlp_ratio=4, n_div=12, **kwargs)


@register_model
def shiftvit_small(**kwargs) -> ShiftViT:
    return _create_shiftvit(embed_dim=96, depths=(10, 18, 36, 10), mlp_ratio=2, n_div=12, **kwargs)


@register_model
def shiftvit_base_light(**kwargs) -> ShiftViT:
    return _create_shiftvit(embed_dim=128, depths=(2, 2, 18, 2), mlp_ratio=4, n_div=16, **kwargs)


@register_model
def shiftvit_base(**kwargs) -> ShiftViT:
    return _create_shiftvit(embed_dim=128, depths=(10, 18, 36, 10), mlp_ratio=2, n_div=16, **kwargs)
