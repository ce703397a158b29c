"""Affine-Shift Transformers: AST for images and VAST for video clips.

Paper: "Efficient Attention-free Video Shift Transformers", arXiv:2208.11108. No official
code was published and the paper's variant names, depths, widths, shifted-channel fraction
and clip length were not available to us, so every one of them is an explicit, documented
argument here and the cards say that published numbers are unknown.

The Affine-Shift token mixer approximates what multi-head self-attention computes without
attention:

1. a linear (pointwise) projection of the normalised tokens (the "value" path);
2. a zero-filled shift of channel groups by one position: four groups of ``C // n_div``
   channels along width and height (left, right, up, down) and, for video, two more groups
   along time (to the previous and to the next frame), so each position sees its neighbours;
3. an affine modulation: a data-dependent per-channel scale and bias computed from the
   globally averaged tokens (the summary credits it with about +1.5% top-1);
4. an output projection.

A block is ``x + mixer(norm(x))`` then ``x + mlp(norm(x))``. The hierarchy is the
four-stage Swin / ShiftViT layout; the video model embeds 2x4x4 tubelets and merges only
spatially, so time is kept at ``frames / 2`` throughout. Image and video share every module:
``spatial_dims`` (2 or 3) picks Conv2d or Conv3d for the pointwise layers.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn as nn
from timm.layers import DropPath

from models._card import ModelCard, Published, Source
from models._layers import Mlp, init_weights
from models._registry import register_model
from models._shift import SPATIAL_MOVES, TEMPORAL_MOVES, shift_groups

__all__ = ["AffineShift", "AffineShiftBlock", "AffineShiftTransformer"]


def _conv(spatial_dims: int):
    return nn.Conv3d if spatial_dims == 3 else nn.Conv2d


class GroupNorm1(nn.GroupNorm):
    """LayerNorm over all of (C, [T,] H, W): GroupNorm with one group, any rank.

    Computed with means over the non-batch dims instead of ``F.group_norm``, whose reshape to
    (N, groups, C/groups, T, H, W) is a rank-6 tensor that CoreML refuses for video input, and
    with a product instead of ``pow``, which the TFLite converter cannot lower on 5-D tensors.
    Same parameters and the same numbers as ``nn.GroupNorm(1, C)``.
    """

    def __init__(self, num_channels: int):
        super().__init__(1, num_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dims = tuple(range(1, x.dim()))
        centred = x - x.mean(dim=dims, keepdim=True)
        var = (centred * centred).mean(dim=dims, keepdim=True)  # not pow: TFLite cannot lower a 5-D POW
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return centred * torch.rsqrt(var + self.eps) * self.weight.reshape(shape) + self.bias.reshape(shape)


class AffineShift(nn.Module):
    """Projection, channel-group shift, data-dependent per-channel affine, projection."""

    def __init__(self, dim: int, n_div: int = 12, spatial_dims: int = 2, temporal: bool = False):
        super().__init__()
        if temporal and spatial_dims != 3:
            raise ValueError("a temporal shift needs video input (spatial_dims=3)")
        self.n_div = n_div
        self.moves = SPATIAL_MOVES + (TEMPORAL_MOVES if temporal else ())
        conv = _conv(spatial_dims)
        self.proj_in = conv(dim, dim, 1)
        self.affine = nn.Linear(dim, 2 * dim)
        self.proj_out = conv(dim, dim, 1)

    def scale_bias(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Per-sample, per-channel (scale, bias), shaped to broadcast over the token map."""
        pooled = x.flatten(2).mean(-1)
        scale, bias = self.affine(pooled).chunk(2, dim=-1)
        view = (*scale.shape, *([1] * (x.dim() - 2)))
        return 1 + scale.reshape(view), bias.reshape(view)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale, bias = self.scale_bias(x)
        y = shift_groups(self.proj_in(x), self.n_div, self.moves)
        return self.proj_out(y * scale + bias)


class AffineShiftBlock(nn.Module):
    def __init__(
        self,
        dim: int,
        n_div: int = 12,
        mlp_ratio: float = 4.0,
        spatial_dims: int = 2,
        temporal: bool = False,
        drop: float = 0.0,
        drop_path: float = 0.0,
    ):
        super().__init__()
        self.norm1 = GroupNorm1(dim)
        self.mixer = AffineShift(dim, n_div, spatial_dims, temporal)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = GroupNorm1(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), _conv(spatial_dims), drop=drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.mixer(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class Stage(nn.Module):
    def __init__(
        self,
        dim: int,
        depth: int,
        n_div: int,
        mlp_ratio: float,
        spatial_dims: int,
        temporal: bool,
        drop: float,
        drop_path: list[float],
        downsample: bool,
    ):
        super().__init__()
        self.blocks = nn.ModuleList(
            AffineShiftBlock(dim, n_div, mlp_ratio, spatial_dims, temporal, drop, drop_path[i]) for i in range(depth)
        )
        merge = (1, 2, 2) if spatial_dims == 3 else (2, 2)
        self.downsample = (
            nn.Sequential(GroupNorm1(dim), _conv(spatial_dims)(dim, 2 * dim, merge, stride=merge, bias=False))
            if downsample
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        return self.downsample(x) if self.downsample is not None else x


class AffineShiftTransformer(nn.Module):
    """AST (``video=False``, input NCHW) or VAST (``video=True``, input NCTHW)."""

    def __init__(
        self,
        embed_dim: int = 96,
        depths=(2, 2, 6, 2),
        mlp_ratio: float = 4.0,
        n_div: int = 12,
        video: bool = False,
        tubelet: int = 2,
        patch_size: int = 4,
        in_chans: int = 3,
        num_classes: int = 1000,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
    ):
        super().__init__()
        spatial_dims = 3 if video else 2
        self.num_classes = num_classes
        self.num_features = embed_dim * 2 ** (len(depths) - 1)
        patch = (tubelet, patch_size, patch_size) if video else (patch_size, patch_size)
        self.patch_embed = nn.Sequential(
            _conv(spatial_dims)(in_chans, embed_dim, patch, stride=patch), GroupNorm1(embed_dim)
        )
        dpr = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        self.stages = nn.ModuleList(
            Stage(
                embed_dim * 2**i,
                depths[i],
                n_div,
                mlp_ratio,
                spatial_dims,
                video,
                drop_rate,
                dpr[sum(depths[:i]) : sum(depths[: i + 1])],
                downsample=i < len(depths) - 1,
            )
            for i in range(len(depths))
        )
        self.norm = GroupNorm1(self.num_features)
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.apply(partial(init_weights, convs=(nn.Conv2d, nn.Conv3d)))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        for stage in self.stages:
            x = stage(x)
        return self.norm(x).flatten(2).mean(-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


def _create(**kwargs) -> AffineShiftTransformer:
    return AffineShiftTransformer(**kwargs)


_SUMMARY = Source("arXiv:2208.11108", "abstract; third-party summaries")
_NOTE = (
    "No official code or per-model numbers are available: depth, width, shifted fraction "
    "(4/n_div spatial + 2/n_div temporal) and clip length are our documented choices, and "
    "published params, MACs and top-1 are unknown. Summaries report VAST at about 79-80% "
    "Kinetics-400 top-1 without naming a variant."
)


def _card(name: str, video: bool) -> ModelCard:
    return ModelCard(
        name=name,
        family="vast",
        input_shape=(1, 3, 8, 224, 224) if video else (1, 3, 224, 224),
        dataset="Kinetics-400" if video else "ImageNet-1k",
        task="video-classification" if video else "image-classification",
        top1=Published(None, _SUMMARY, note="not published per variant"),
        note=_NOTE,
    )


model_cards = {
    "ast_xxs": _card("ast_xxs", video=False),
    "ast_tiny": _card("ast_tiny", video=False),
    "ast_small": _card("ast_small", video=False),
    "vast_tiny": _card("vast_tiny", video=True),
    "vast_small": _card("vast_small", video=True),
}


@register_model
def ast_xxs(**kwargs) -> AffineShiftTransformer:
    return _create(embed_dim=48, depths=(2, 2, 6, 2), mlp_ratio=4, n_div=12, **kwargs)


@register_model
def ast_tiny(**kwargs) -> AffineShiftTransformer:
    return _create(embed_dim=96, depths=(2, 2, 6, 2), mlp_ratio=4, n_div=12, **kwargs)


@register_model
def ast_small(**kwargs) -> AffineShiftTransformer:
    return _create(embed_dim=96, depths=(2, 2, 18, 2), mlp_ratio=4, n_div=12, **kwargs)


@register_model
def vast_tiny(**kwargs) -> AffineShiftTransformer:
    kwargs.setdefault("num_classes", 400)
    return _create(embed_dim=96, depths=(2, 2, 6, 2), mlp_ratio=4, n_div=12, video=True, **kwargs)


@register_model
def vast_small(**kwargs) -> AffineShiftTransformer:
    kwargs.setdefault("num_classes", 400)
    return _create(embed_dim=96, depths=(2, 2, 18, 2), mlp_ratio=4, n_div=12, video=True, **kwargs)
