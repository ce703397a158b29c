"""STViT: semantic tokens on DeiT, so that later layers process 16 tokens instead of 196.

Paper: "Making Vision Transformers Efficient from A Token Sparsification View",
arXiv:2303.08685 (CVPR 2023). Official code exists only for the Swin variant
(github changsn/STViT-R, see ``models/stvit_swin.py``). The modules the two variants share are
written here with the official structure and parameter names:

* ``CrossAttention`` is STViT-R ``models/layers.py`` ``Attention``: queries from ``x``,
  keys/values from ``y`` through separate ``q`` and ``kv`` projections, optional relative
  position bias over a square token window (off in every published config);
* ``SemanticTokenBlock`` is STViT-R ``layers.py`` ``Block``: pre-norm cross-attention
  (``norm1`` on both queries and keys) and MLP, each residual branch scaled by a learnable
  per-channel layer scale (``layer_scale_1`` / ``layer_scale_2``, initialised to 1e-5), with an
  optional local mode that attends inside square windows of the semantic token map;
* ``adaptive_max_pool2d`` is STViT-R ``models/multi_scale.py`` ``multi_scale_semantic_token1``:
  semantic tokens are initialised by adaptive *max* pooling of the image-token map.

DeiT variant as described for the paper (placement and depth from its ablations; no official
code, so the layout is provisional):

* layers 1-4: ordinary DeiT blocks on the class token + 14x14 = 196 image tokens;
* layers 5-6: the semantic token module. Layer 5's queries are the class token and 16 cluster
  centres initialised by spatial pooling (14x14 -> 4x4 adaptive max) of the image tokens; each
  module layer refines them by attention whose keys/values are the current semantic tokens
  together with the image tokens (global attention);
* layers 7-12: ordinary DeiT blocks on the class token + 16 semantic tokens only.

The module layers have the parameters of the DeiT layers they replace (q + kv = qkv) plus the
two layer-scale vectors of the official ``Block``; MACs drop by about 58% (the paper's claim,
which the tests check). Ordinary blocks are timm's DeiT ``Block`` so parameter names match DeiT.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn as nn
from timm.layers import DropPath, Mlp, PatchEmbed, trunc_normal_
from timm.models.vision_transformer import Block

from models._card import ModelCard, Published, Source
from models._layers import init_weights
from models._registry import register_model

__all__ = ["CrossAttention", "SemanticTokenBlock", "STViT", "adaptive_max_pool2d"]


def _pool_regions(size: int, out: int) -> list[tuple[int, int]]:
    """The [start, end) ranges adaptive pooling uses along one axis (as ATen computes them)."""
    return [((i * size) // out, -((-(i + 1) * size) // out)) for i in range(out)]


def adaptive_max_pool2d(x: torch.Tensor, out: int) -> torch.Tensor:
    """``F.adaptive_max_pool2d(x, out)`` on (N, C, H, W) with static ops only.

    Where every output cell covers a window of the same size at a constant stride (7 -> 3 is a
    3x3 window at stride 2, as in every STViT-R window) it is one ``max_pool2d``; otherwise
    (14 -> 4) a max over each cell's slice. Either way export sees no adaptive pooling, which
    ONNX and TFLite converters refuse when the sizes do not divide.
    """
    h, w = x.shape[-2:]
    rows, cols = _pool_regions(h, out), _pool_regions(w, out)

    def uniform(regions: list[tuple[int, int]]) -> tuple[int, int] | None:
        sizes = {b - a for a, b in regions}
        steps = {b[0] - a[0] for a, b in zip(regions, regions[1:], strict=False)} or {1}
        return (sizes.pop(), steps.pop()) if len(sizes) == 1 and len(steps) == 1 else None

    if (r := uniform(rows)) and (c := uniform(cols)):
        return nn.functional.max_pool2d(x, (r[0], c[0]), (r[1], c[1]))
    cells = [torch.stack([x[..., a:b, c:d].amax((-2, -1)) for c, d in cols], -1) for a, b in rows]
    return torch.stack(cells, -2)


def _relative_position_index(window: int) -> torch.Tensor:
    """(w*w, w*w) index into a ((2w-1)^2, heads) bias table, as Swin and STViT-R build it."""
    coords = torch.stack(torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")).flatten(1)
    relative = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0) + (window - 1)
    return relative[:, :, 0] * (2 * window - 1) + relative[:, :, 1]


class CrossAttention(nn.Module):
    """Multi-head attention, queries from ``x`` and keys/values from ``y`` (STViT-R ``Attention``).

    With ``relative_pos`` the attention adds a learned bias per relative offset inside a square
    ``window_size`` window (query and key sets must then be that window's tokens).
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        qkv_bias: bool = True,
        attn_drop: float = 0.0,
        proj_drop: float = 0.0,
        window_size: int | None = None,
        relative_pos: bool = False,
    ):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, dim * 2, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        self.window_size = window_size
        self.relative_pos = relative_pos
        if relative_pos:
            if window_size is None:
                raise ValueError("relative_pos needs a window_size")
            self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window_size - 1) ** 2, num_heads))
            trunc_normal_(self.relative_position_bias_table, std=0.02)
            self.register_buffer("relative_position_index", _relative_position_index(window_size))

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        b, n1, c = x.shape
        n2 = y.shape[1]
        h = self.num_heads
        q = self.q(x).reshape(b, n1, h, c // h).permute(0, 2, 1, 3)
        kv = self.kv(y).reshape(b, n2, 2, h, c // h).permute(2, 0, 3, 1, 4)
        k, v = kv[0], kv[1]
        attn = (q @ k.transpose(-2, -1)) * self.scale
        if self.relative_pos:
            n = self.relative_position_index.shape[0]
            bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
            attn = attn + bias.permute(2, 0, 1).unsqueeze(0)
        attn = self.attn_drop(attn.softmax(dim=-1))
        return self.proj_drop(self.proj((attn @ v).transpose(1, 2).reshape(b, n1, c)))


class SemanticTokenBlock(nn.Module):
    """STViT-R ``Block``: tokens ``x`` attend to ``y`` (default: to themselves), then an MLP.

    ``x + ls1 * attn(norm1(x), norm1(y))`` then ``x + ls2 * mlp(norm2(x))``. With ``local`` the
    tokens form a ``grid x grid`` map and attend only inside ``window_size`` windows of it
    (self-attention; ``y`` must be None). Layer scales start at ``layer_scale_init_value``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        norm_layer: type[nn.Module] = partial(nn.LayerNorm, eps=1e-6),
        layer_scale_init_value: float = 1e-5,
        window_size: int | None = None,
        relative_pos: bool = False,
        local: bool = False,
        grid: int | None = None,
    ):
        super().__init__()
        if local and (window_size is None or grid is None or grid % window_size):
            raise ValueError(f"local attention needs windows of {window_size} tiling a {grid}x{grid} map")
        self.norm1 = norm_layer(dim)
        self.attn = CrossAttention(dim, num_heads, qkv_bias, attn_drop, drop, window_size, relative_pos)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)
        self.layer_scale_1 = nn.Parameter(layer_scale_init_value * torch.ones(dim))
        self.layer_scale_2 = nn.Parameter(layer_scale_init_value * torch.ones(dim))
        self.local = local
        self.window_size = window_size
        self.grid = grid

    def local_attention(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        g, w = self.grid, self.window_size
        x = x.view(b, g // w, w, g // w, w, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, w * w, c)
        out = self.attn(x, x)
        return out.view(b, g // w, g // w, w, w, c).permute(0, 1, 3, 2, 4, 5).reshape(b, g * g, c)

    def forward(self, x: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        if self.local:
            attn = self.local_attention(self.norm1(x))
        else:
            attn = self.attn(self.norm1(x), self.norm1(x if y is None else y))
        x = x + self.drop_path(self.layer_scale_1 * attn)
        return x + self.drop_path(self.layer_scale_2 * self.mlp(self.norm2(x)))


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
        """Cluster-centre initialisation: max-pool the token map to a ``grid x grid`` map (the
        adaptive max pooling of STViT-R ``multi_scale_semantic_token1``)."""
        b, n, c = image.shape
        h, w = self.grid
        pooled = adaptive_max_pool2d(image.transpose(1, 2).reshape(b, c, h, w), self.semantic_grid)
        return pooled.flatten(2).transpose(1, 2)

    def semantic_module(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, 1 + 196, C) -> (B, 1 + 16, C): class token plus semantic tokens."""
        cls, image = tokens[:, :1], tokens[:, 1:]
        semantic = torch.cat([cls, self.initial_semantic_tokens(image)], dim=1)
        for blk in self.blocks[self.module_start : self.module_start + self.module_depth]:
            semantic = blk(semantic, torch.cat([semantic, image], dim=1))
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
    "Params are those of the DeiT of the same size (module layers split qkv into q + kv) plus "
    "the two layer-scale vectors of each of the two module layers (STViT-R layers.py Block): "
    "+4 x width, under 0.02%. The abstract (arXiv:2303.08685) claims nearly 60% fewer FLOPs "
    "than that DeiT and more than 100% higher throughput; the tests check the FLOPs claim. "
    "No official DeiT code is published: the layout (module after layer 4, 2 layers, 4x4 "
    "tokens) and the top-1 / FLOPs numbers come from a third-party reading of the paper's "
    "tables, which were not available to us to check, and stay provisional."
)


def _card(name: str, deit_params: float, top1: float, macs: Published = Published(None)) -> ModelCard:
    return ModelCard(
        name=name,
        family="stvit",
        input_shape=(1, 3, 224, 224),
        params_m=Published(deit_params, _DEIT, note="DeiT params; STViT adds only 4 x width layer scales"),
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
