"""STViT: semantic tokens on DeiT, so that later layers process 16 tokens instead of 196.

Paper: "Making Vision Transformers Efficient from A Token Sparsification View",
arXiv:2303.08685 (CVPR 2023). Official code exists only for the Swin variant
(github changsn/STViT-R); its ``Attention(x, y)`` (queries from ``x``, keys/values from ``y``
through separate ``q`` and ``kv`` projections) is the building block reused here.

DeiT variant as described for the paper (placement and depth from its ablations):

* layers 1-4: ordinary DeiT blocks on the class token + 14x14 = 196 image tokens;
* layers 5-6: the semantic token module. Layer 5's queries are 16 cluster centres
  initialised by spatial pooling (14x14 -> 4x4 adaptive average) of the image tokens; each
  module layer refines them by attention whose keys/values are the image tokens together
  with the current semantic tokens (global attention);
* layers 7-12: ordinary DeiT blocks on the class token + 16 semantic tokens only.

The module layers have the same parameter count as the DeiT layers they replace (q + kv =
qkv), so params equal DeiT's while MACs drop by about 58% (the paper's claim, which the
tests check). Ordinary blocks are timm's DeiT ``Block`` so parameter names match DeiT.
"""

from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F
from timm.layers import DropPath, Mlp, PatchEmbed, trunc_normal_
from timm.models.vision_transformer import Block

from models._card import ModelCard, Published, Source
from models._layers import init_weights
from models._registry import register_model

__all__ = ["SemanticTokenBlock", "STViT"]


class CrossAttention(nn.Module):
    """Multi-head attention with queries from ``x`` and keys/values from ``y`` (STViT-R naming)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, attn_drop: float = 0.0, proj_drop: float = 0.0):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, dim * 2, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        b, n1, c = x.shape
        n2 = y.shape[1]
        h = self.num_heads
        q = self.q(x).reshape(b, n1, h, c // h).permute(0, 2, 1, 3)
        kv = self.kv(y).reshape(b, n2, 2, h, c // h).permute(2, 0, 3, 1, 4)
        k, v = kv[0], kv[1]
        attn = self.attn_drop(((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1))
        return self.proj_drop(self.proj((attn @ v).transpose(1, 2).reshape(b, n1, c)))


class SemanticTokenBlock(nn.Module):
    """One layer of the semantic token module: semantic tokens attend to image + semantic tokens."""

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = CrossAttention(dim, num_heads, qkv_bias, attn_drop, drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)

    def forward(self, semantic: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        keys = self.norm1(torch.cat([semantic, image], dim=1))
        x = semantic + self.drop_path(self.attn(self.norm1(semantic), keys))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class STViT(nn.Module):
    """DeiT with a semantic token module after ``module_start`` ordinary layers."""

    def __init__(
        self,
        img_size: int = 224,
        patch_size: int = 16,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 384,
        depth: int = 12,
        num_heads: int = 6,
        mlp_ratio: float = 4.0,
        module_start: int = 4,
        module_depth: int = 2,
        semantic_grid: int = 4,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
    ):
        super().__init__()
        if not 0 <= module_start <= depth - module_depth:
            raise ValueError(
                f"semantic module at {module_start}..{module_start + module_depth} does not fit in {depth} layers"
            )
        self.num_classes = num_classes
        self.num_features = self.embed_dim = embed_dim
        self.module_start = module_start
        self.module_depth = module_depth
        self.semantic_grid = semantic_grid
        self.patch_embed = PatchEmbed(img_size, patch_size, in_chans, embed_dim)
        self.grid = self.patch_embed.grid_size
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, self.patch_embed.num_patches + 1, embed_dim))
        self.pos_drop = nn.Dropout(drop_rate)
        dpr = torch.linspace(0, drop_path_rate, depth).tolist()
        blocks: list[nn.Module] = []
        for i in range(depth):
            if module_start <= i < module_start + module_depth:
                blocks.append(
                    SemanticTokenBlock(embed_dim, num_heads, mlp_ratio, True, drop_rate, attn_drop_rate, dpr[i])
                )
            else:
                blocks.append(
                    Block(
                        embed_dim,
                        num_heads,
                        mlp_ratio,
                        qkv_bias=True,
                        proj_drop=drop_rate,
                        attn_drop=attn_drop_rate,
                        drop_path=dpr[i],
                    )
                )
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)
        self.head = nn.Linear(embed_dim, num_classes) if num_classes > 0 else nn.Identity()
        trunc_normal_(self.pos_embed, std=0.02)
        trunc_normal_(self.cls_token, std=0.02)
        self.apply(init_weights)

    def initial_semantic_tokens(self, image: torch.Tensor) -> torch.Tensor:
        """Cluster-centre initialisation: average-pool the token map to a ``grid x grid`` map."""
        b, n, c = image.shape
        h, w = self.grid
        pooled = F.adaptive_avg_pool2d(image.transpose(1, 2).reshape(b, c, h, w), self.semantic_grid)
        return pooled.flatten(2).transpose(1, 2)

    def semantic_module(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, 1 + 196, C) -> (B, 1 + 16, C): class token plus semantic tokens."""
        cls, image = tokens[:, :1], tokens[:, 1:]
        semantic = torch.cat([cls, self.initial_semantic_tokens(image)], dim=1)
        for blk in self.blocks[self.module_start : self.module_start + self.module_depth]:
            semantic = blk(semantic, image)
        return semantic

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.patch_embed(x)
        x = torch.cat([self.cls_token.expand(x.shape[0], -1, -1), x], dim=1)
        x = self.pos_drop(x + self.pos_embed)
        for blk in self.blocks[: self.module_start]:
            x = blk(x)
        x = self.semantic_module(x)
        for blk in self.blocks[self.module_start + self.module_depth :]:
            x = blk(x)
        return self.norm(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x)[:, 0])


def _create_stvit(**kwargs) -> STViT:
    return STViT(**kwargs)


_PAPER = Source("arXiv:2303.08685", "DeiT results table (third-party reading, provisional)")
_ABLATION = Source("arXiv:2303.08685", "module-depth ablation, DeiT-S, 2 layers (provisional)")
_DEIT = Source("timm deit_*_patch16_224", "results-imagenet.csv / benchmark CSV")
_NOTE = (
    "Params equal the DeiT of the same size (module layers split qkv into q + kv); the paper "
    "claims about 58% fewer FLOPs than that DeiT, which the tests check. Published numbers "
    "come from a third-party reading of the paper and are provisional."
)


def _card(name: str, deit_params: float, top1: float, macs: Published = Published(None)) -> ModelCard:
    return ModelCard(
        name=name,
        family="stvit",
        input_shape=(1, 3, 224, 224),
        params_m=Published(deit_params, _DEIT, note="DeiT params; STViT adds none"),
        macs_g=macs,
        top1=Published(top1, _PAPER),
        note=_NOTE,
    )


model_cards = {
    "stvit_deit_tiny": _card("stvit_deit_tiny", 5.72, 72.2),
    "stvit_deit_small": _card("stvit_deit_small", 22.05, 79.8, Published(1.91, _ABLATION)),
    "stvit_deit_base": _card("stvit_deit_base", 86.57, 81.8),
}


@register_model
def stvit_deit_tiny(**kwargs) -> STViT:
    return _create_stvit(embed_dim=192, depth=12, num_heads=3, **kwargs)


@register_model
def stvit_deit_small(**kwargs) -> STViT:
    return _create_stvit(embed_dim=384, depth=12, num_heads=6, **kwargs)


@register_model
def stvit_deit_base(**kwargs) -> STViT:
    return _create_stvit(embed_dim=768, depth=12, num_heads=12, **kwargs)
