"""STViT-R on Swin: semantic tokens per window in stage 3, and image tokens recovered from them.

Paper: "Making Vision Transformers Efficient from A Token Sparsification View",
arXiv:2303.08685 (CVPR 2023). Official code: github changsn/STViT-R (commit b4a27a0):
``models/swin_transformer.py`` (``SwinTransformer``, ``BasicLayer``, ``Deit`` = the semantic
stage), ``models/layers.py`` (``Attention``, ``Block``, ``SemanticAttentionBlock``,
``PatchEmbed``), ``models/multi_scale.py`` (``multi_scale_semantic_token1``), ``config.py``
(defaults), ``configs/swin_{tiny,small,base}_patch4_window7_224.yaml`` and the training logs
``log/small.txt`` / ``log/base.txt``. Module and parameter names (buffers included) follow that
code, so its checkpoints load without renaming.

The network is Swin with three changes:

* the patch embedding is a LeViT-style stem (two 3x3 stride-2 conv + BatchNorm + Hardswish),
  not a 4x4 patch projection, and has no norm;
* stages 1, 2 and 4 are plain Swin stages; stage 3 (14x14 tokens at 224 input, 7x7 windows)
  repeats a group of six blocks (one group in Swin-T, three in Swin-S/B):

  0. a Swin window-attention block on the image tokens (never shifted);
  1. ``SemanticAttentionBlock``: each 7x7 window is max-pooled to ``sample_window_size`` ^2
     (3x3 = 9) semantic tokens, which attend to themselves and to the window's 10x10
     neighbourhood of image tokens (an unfold, kernel 10 stride 4, which at 14x14 gives one
     neighbourhood per window) -- the semantic tokens are recovered by attention per window;
  2. the semantic tokens attend globally to themselves and all image tokens;
  3. local self-attention among semantic tokens (3x3 windows of the 6x6 semantic map);
  4. global self-attention among semantic tokens;
  5. recovery: the image tokens attend to the semantic tokens (STViT-R's "R").

  Blocks 1-5 are the layer-scaled ``Block`` shared with the DeiT variant (``models/stvit.py``).

Options of the official code, with the defaults of its ``config.py`` that both published logs
record: ``MULTI_SCALE`` = multi_scale_semantic_token1 (window max pooling), ``SAMPLE_WINDOW_SIZE``
= 3, ``USE_GLOBAL`` = False (no learned ``semantic_token2`` added in the first group),
``RELATIVE_POS`` = False (no relative bias in the semantic blocks), ``USE_CONV_POS`` = False,
``SHORTCUT`` = False (the semantic tokens of block 1 have no residual from the pooled tokens).
``USE_LAYER_SCALE`` is True in ``config.py`` but ``models/build.py`` never passes it on, so the
Swin blocks have no layer scale (the logs' parameter counts confirm it); the semantic blocks
always have one. Input is fixed at 224x224, as in the official ``PatchEmbed``.
"""

from __future__ import annotations

import torch
import torch.nn as nn
from timm.layers import DropPath, trunc_normal_

from models._card import ModelCard, Published, Source
from models._layers import Mlp, init_weights
from models._registry import register_model
from models.stvit import CrossAttention, SemanticTokenBlock, _relative_position_index, adaptive_max_pool2d

__all__ = ["STViTSwin", "SemanticAttentionBlock", "SemanticStage", "SwinTransformerBlock"]


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """(B, H, W, C) -> (B * nW, window * window, C), windows in row-major order."""
    b, h, w, c = x.shape
    x = x.view(b, h // window, window, w // window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, c)


def window_reverse(windows: torch.Tensor, window: int, h: int, w: int) -> torch.Tensor:
    """(B * nW, window * window, C) -> (B, H, W, C)."""
    c = windows.shape[-1]
    x = windows.view(-1, h // window, w // window, window, window, c)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, h, w, c)


class WindowAttention(nn.Module):
    """Swin window self-attention with a relative position bias (names as in the official code)."""

    def __init__(self, dim: int, window: int, num_heads: int, qkv_bias: bool = True, attn_drop=0.0, proj_drop=0.0):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.relative_position_bias_table = nn.Parameter(torch.zeros((2 * window - 1) ** 2, num_heads))
        self.register_buffer("relative_position_index", _relative_position_index(window))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)
        trunc_normal_(self.relative_position_bias_table, std=0.02)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        bw, n, c = x.shape
        h = self.num_heads
        qkv = self.qkv(x).reshape(bw, n, 3, h, c // h).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(n, n, -1)
        attn = attn + bias.permute(2, 0, 1).unsqueeze(0)
        if mask is not None:
            nw = mask.shape[0]
            attn = attn.view(-1, nw, h, n, n) + mask.unsqueeze(1).unsqueeze(0)
            attn = attn.view(-1, h, n, n)
        attn = self.attn_drop(attn.softmax(dim=-1))
        return self.proj_drop(self.proj((attn @ v).transpose(1, 2).reshape(bw, n, c)))


def _shift_mask(resolution: int, window: int, shift: int) -> torch.Tensor:
    """(nW, window^2, window^2) additive mask (0 / -100) of shifted-window attention."""
    img = torch.zeros(1, resolution, resolution, 1)
    cuts = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    for i, (hs, ws) in enumerate((hs, ws) for hs in cuts for ws in cuts):
        img[:, hs, ws, :] = i
    ids = window_partition(img, window).squeeze(-1)
    diff = ids.unsqueeze(1) - ids.unsqueeze(2)
    return diff.masked_fill(diff != 0, -100.0).masked_fill(diff == 0, 0.0)


class SwinTransformerBlock(nn.Module):
    """Swin block on a fixed ``resolution x resolution`` token map: (shifted) window attention, MLP.

    Where the map is no larger than the window, the window shrinks to the map and nothing shifts
    (stage 4 at 224 input), as in the official code. ``attn_mask`` is a registered buffer where
    the block shifts, so it is part of the official state dict.
    """

    def __init__(
        self,
        dim: int,
        resolution: int,
        num_heads: int,
        window: int = 7,
        shift: int = 0,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        use_layer_scale: bool = False,
        layer_scale_init_value: float = 1e-5,
    ):
        super().__init__()
        if resolution <= window:
            window, shift = resolution, 0
        self.resolution, self.window, self.shift = resolution, window, shift
        self.norm1 = nn.LayerNorm(dim)
        self.attn = WindowAttention(dim, window, num_heads, qkv_bias, attn_drop, drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)
        self.register_buffer("attn_mask", _shift_mask(resolution, window, shift) if shift else None)
        self.use_layer_scale = use_layer_scale
        if use_layer_scale:
            self.layer_scale_1 = nn.Parameter(layer_scale_init_value * torch.ones(dim))
            self.layer_scale_2 = nn.Parameter(layer_scale_init_value * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        r, w, s = self.resolution, self.window, self.shift
        y = self.norm1(x).view(b, r, r, c)
        if s:
            y = torch.roll(y, shifts=(-s, -s), dims=(1, 2))
        y = window_reverse(self.attn(window_partition(y, w), mask=self.attn_mask), w, r, r)
        if s:
            y = torch.roll(y, shifts=(s, s), dims=(1, 2))
        y = y.reshape(b, r * r, c)
        if self.use_layer_scale:
            x = x + self.drop_path(self.layer_scale_1 * y)
            return x + self.drop_path(self.layer_scale_2 * self.mlp(self.norm2(x)))
        x = x + self.drop_path(y)
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """2x2 neighbours concatenated (official order x00, x10, x01, x11), LayerNorm, Linear 4C -> 2C."""

    def __init__(self, resolution: int, dim: int):
        super().__init__()
        self.resolution = resolution
        self.reduction = nn.Linear(4 * dim, 2 * dim, bias=False)
        self.norm = nn.LayerNorm(4 * dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        r = self.resolution
        x = x.view(b, r, r, c)
        x = torch.cat([x[:, 0::2, 0::2], x[:, 1::2, 0::2], x[:, 0::2, 1::2], x[:, 1::2, 1::2]], -1)
        return self.reduction(self.norm(x.view(b, -1, 4 * c)))


class SwinStage(nn.Module):
    """A plain Swin stage (official ``BasicLayer``): blocks alternating unshifted / shifted, then merging."""

    def __init__(
        self, dim, resolution, depth, num_heads, window, mlp_ratio, qkv_bias, drop, attn_drop, dpr, downsample
    ):
        super().__init__()
        self.blocks = nn.ModuleList(
            SwinTransformerBlock(
                dim, resolution, num_heads, window, 0 if i % 2 == 0 else window // 2, mlp_ratio, qkv_bias, drop,
                attn_drop, dpr[i],
            )
            for i in range(depth)
        )  # fmt: skip
        self.downsample = PatchMerging(resolution, dim) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for blk in self.blocks:
            x = blk(x)
        return x if self.downsample is None else self.downsample(x)


class WindowMaxPool(nn.Module):
    """Each window's tokens max-pooled to ``size x size`` (official ``multi_scale_semantic_token1``).

    (B*nW, C, window, window) -> (B*nW, size*size, C).
    """

    def __init__(self, size: int):
        super().__init__()
        self.size = size
        self.num_samples = size * size

    def forward(self, windows: torch.Tensor) -> torch.Tensor:
        return adaptive_max_pool2d(windows, self.size).flatten(2).transpose(1, 2)


class PosCNN(nn.Module):
    """Residual depthwise 3x3 conv over each window's pooled tokens (official ``PosCNN``, USE_CONV_POS)."""

    def __init__(self, dim: int, size: int):
        super().__init__()
        self.size = size
        self.proj = nn.Sequential(nn.Conv2d(dim, dim, 3, 1, 1, groups=dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        feat = x.transpose(1, 2).reshape(b, c, self.size, self.size)
        return (self.proj(feat) + feat).flatten(2).transpose(1, 2)


class SemanticAttentionBlock(nn.Module):
    """Semantic tokens of each window: max-pooled, then recovered by attention over the window.

    Image tokens (B, R*R, C) -> semantic tokens (B, nW * size^2, C) laid out as a
    (R/window*size)^2 map (6x6 at 224 input). Queries: the window's pooled tokens; keys/values:
    the pooled tokens and the ``neighbourhood``^2 image tokens around the window (the official
    ``F.unfold(kernel_size=10, stride=4)``, written as static slices). Output:
    ``ls1 * attn`` (plus the pooled tokens with ``shortcut``), then ``+ ls2 * mlp(norm2(.))``.
    """

    def __init__(
        self,
        dim: int,
        num_heads: int,
        resolution: int,
        window: int = 7,
        sample_window_size: int = 3,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop: float = 0.0,
        attn_drop: float = 0.0,
        drop_path: float = 0.0,
        layer_scale_init_value: float = 1e-5,
        use_conv_pos: bool = False,
        shortcut: bool = False,
        neighbourhood: int = 10,
        stride: int = 4,
    ):
        super().__init__()
        windows = resolution // window
        if resolution % window or (resolution - neighbourhood) // stride + 1 != windows:
            raise ValueError(
                f"a {resolution}x{resolution} map in {window}x{window} windows does not give one "
                f"{neighbourhood}x{neighbourhood} neighbourhood (stride {stride}) per window"
            )
        self.norm1 = nn.LayerNorm(dim)
        self.multi_scale = WindowMaxPool(sample_window_size)
        self.attn = CrossAttention(dim, num_heads, qkv_bias, attn_drop, drop)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop)
        self.layer_scale_1 = nn.Parameter(layer_scale_init_value * torch.ones(dim))
        self.layer_scale_2 = nn.Parameter(layer_scale_init_value * torch.ones(dim))
        self.use_conv_pos = use_conv_pos
        if use_conv_pos:
            self.conv_pos = PosCNN(dim, sample_window_size)
        self.shortcut = shortcut
        self.resolution, self.window, self.sample_window_size = resolution, window, sample_window_size
        self.neighbourhood, self.stride = neighbourhood, stride

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """(B, R*R, C) -> (B*nW, size^2, C): each window max-pooled to size x size tokens."""
        b, _, c = x.shape
        r, w = self.resolution, self.window
        windows = window_partition(x.view(b, r, r, c), w).transpose(1, 2).reshape(-1, c, w, w)
        tokens = self.multi_scale(windows)
        return self.conv_pos(tokens) if self.use_conv_pos else tokens

    def neighbourhoods(self, x: torch.Tensor) -> torch.Tensor:
        """(B, R*R, C) -> (B*nW, k*k, C): the k x k image tokens around each window (unfold order)."""
        b, _, c = x.shape
        r, k, s = self.resolution, self.neighbourhood, self.stride
        grid = x.view(b, r, r, c)
        n = (r - k) // s + 1
        patches = [grid[:, i * s : i * s + k, j * s : j * s + k] for i in range(n) for j in range(n)]
        return torch.stack(patches, 1).reshape(-1, k * k, c)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, c = x.shape
        pooled = self.pooled(x)
        keys = self.norm1(torch.cat([pooled, self.neighbourhoods(x)], dim=1))
        out = self.layer_scale_1 * self.attn(self.norm1(pooled), keys)
        if self.shortcut:
            out = pooled + self.drop_path(out)
        n, s = self.resolution // self.window, self.sample_window_size
        out = out.view(b, n, n, s, s, c).permute(0, 1, 3, 2, 4, 5).reshape(b, n * s * n * s, c)
        return out + self.drop_path(self.layer_scale_2 * self.mlp(self.norm2(out)))


# What each block of a six-block group of the semantic stage does (official Deit.forward).
GROUP = ("window", "semantic", "cross", "local", "global", "recover")


class SemanticStage(nn.Module):
    """Stage 3 of STViT-R (official ``Deit``): groups of six blocks, see ``GROUP``, then merging."""

    def __init__(
        self,
        dim: int,
        resolution: int,
        depth: int,
        num_heads: int,
        window: int,
        sample_window_size: int,
        mlp_ratio: float,
        qkv_bias: bool,
        drop: float,
        attn_drop: float,
        dpr: list[float],
        downsample: bool,
        relative_pos: bool = False,
        use_conv_pos: bool = False,
        shortcut: bool = False,
        use_global: bool = False,
    ):
        super().__init__()
        if depth % len(GROUP):
            raise ValueError(f"the semantic stage has groups of {len(GROUP)} blocks; depth {depth} is not a multiple")
        grid = resolution // window * sample_window_size  # side of the semantic token map
        self.num_samples = grid * grid
        self.use_global = use_global
        if use_global:
            self.semantic_token2 = nn.Parameter(torch.zeros(1, self.num_samples, dim))
            trunc_normal_(self.semantic_token2, std=0.02)
        common = dict(mlp_ratio=mlp_ratio, qkv_bias=qkv_bias, drop=drop, attn_drop=attn_drop, norm_layer=nn.LayerNorm)
        self.roles = [GROUP[i % len(GROUP)] for i in range(depth)]
        blocks: list[nn.Module] = []
        for i, role in enumerate(self.roles):
            if role == "window":
                blk = SwinTransformerBlock(
                    dim, resolution, num_heads, window, 0, mlp_ratio, qkv_bias, drop, attn_drop, dpr[i]
                )
            elif role == "semantic":
                blk = SemanticAttentionBlock(
                    dim, num_heads, resolution, window, sample_window_size, mlp_ratio, qkv_bias, drop, attn_drop,
                    dpr[i], use_conv_pos=use_conv_pos, shortcut=shortcut,
                )  # fmt: skip
            elif role in ("cross", "recover"):
                blk = SemanticTokenBlock(dim, num_heads, drop_path=dpr[i], **common)
            else:  # local / global self-attention among the semantic tokens
                local = role == "local"
                blk = SemanticTokenBlock(
                    dim, num_heads, drop_path=dpr[i], window_size=sample_window_size if local else grid,
                    relative_pos=relative_pos, local=local, grid=grid, **common,
                )  # fmt: skip
            blocks.append(blk)
        self.blocks = nn.ModuleList(blocks)
        self.downsample = PatchMerging(resolution, dim) if downsample else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        semantic = x  # replaced by the first group's semantic block before any use
        for i, (role, blk) in enumerate(zip(self.roles, self.blocks, strict=True)):
            if role == "window":
                x = blk(x)
            elif role == "semantic":
                semantic = blk(x)
            elif role == "cross":
                queries = semantic + self.semantic_token2 if self.use_global and i == 2 else semantic
                semantic = blk(queries, torch.cat([semantic, x], dim=1))
            elif role == "recover":
                x = blk(x, semantic)
            else:
                semantic = blk(semantic)
        return x if self.downsample is None else self.downsample(x)


class ConvBN(nn.Sequential):
    """Conv2d without bias + BatchNorm2d (official ``Conv2d_BN``: children ``c`` and ``bn``)."""

    def __init__(self, cin: int, cout: int, kernel: int = 1, stride: int = 1, pad: int = 0):
        super().__init__()
        self.add_module("c", nn.Conv2d(cin, cout, kernel, stride, pad, bias=False))
        self.add_module("bn", nn.BatchNorm2d(cout))


class PatchEmbed(nn.Module):
    """Two 3x3 stride-2 ConvBN + Hardswish: (B, 3, 224, 224) -> (B, 56*56, C) tokens, no norm."""

    def __init__(self, in_chans: int = 3, embed_dim: int = 96):
        super().__init__()
        self.proj = nn.Sequential(
            ConvBN(in_chans, embed_dim // 2, 3, 2, 1),
            nn.Hardswish(),
            ConvBN(embed_dim // 2, embed_dim, 3, 2, 1),
            nn.Hardswish(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x).flatten(2).transpose(1, 2)


class STViTSwin(nn.Module):
    """Swin with the STViT-R semantic stage as stage 3 (official ``SwinTransformer`` of STViT-R)."""

    def __init__(
        self,
        img_size: int = 224,
        in_chans: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 96,
        depths: tuple[int, ...] = (2, 2, 6, 2),
        num_heads: tuple[int, ...] = (3, 6, 12, 24),
        window_size: int = 7,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        drop_rate: float = 0.0,
        attn_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        sample_window_size: int = 3,
        relative_pos: bool = False,
        use_conv_pos: bool = False,
        shortcut: bool = False,
        use_global: bool = False,
    ):
        super().__init__()
        if len(depths) != 4:
            raise ValueError("STViT-R has four stages, the third one semantic")
        self.num_classes = num_classes
        self.num_features = embed_dim * 2 ** (len(depths) - 1)
        self.patch_embed = PatchEmbed(in_chans, embed_dim)
        self.pos_drop = nn.Dropout(drop_rate)
        dpr = torch.linspace(0, drop_path_rate, sum(depths)).tolist()
        layers: list[nn.Module] = []
        for i, depth in enumerate(depths):
            dim, resolution = embed_dim * 2**i, img_size // 4 // 2**i
            rates, last = dpr[sum(depths[:i]) : sum(depths[: i + 1])], i == len(depths) - 1
            args = (dim, resolution, depth, num_heads[i], window_size)
            if i == 2:
                layers.append(
                    SemanticStage(
                        *args, sample_window_size, mlp_ratio, qkv_bias, drop_rate, attn_drop_rate, rates, not last,
                        relative_pos, use_conv_pos, shortcut, use_global,
                    )
                )  # fmt: skip
            else:
                layers.append(SwinStage(*args, mlp_ratio, qkv_bias, drop_rate, attn_drop_rate, rates, not last))
        self.layers = nn.ModuleList(layers)
        self.norm = nn.LayerNorm(self.num_features)
        self.avgpool = nn.AdaptiveAvgPool1d(1)
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
        self.apply(init_weights)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pos_drop(self.patch_embed(x))
        for layer in self.layers:
            x = layer(x)
        return torch.flatten(self.avgpool(self.norm(x).transpose(1, 2)), 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(x))


def _create_stvit_swin(**kwargs) -> STViTSwin:
    return STViTSwin(**kwargs)


_REPO = "changsn/STViT-R"
_README = Source(f"{_REPO} README.md", "Results on ImageNet")
_CONFIGS = (
    "Options: the published defaults of config.py, recorded in both logs: MULTI_SCALE "
    "multi_scale_semantic_token1 (window max pooling), SAMPLE_WINDOW_SIZE 3 (9 semantic tokens "
    "per 7x7 window), USE_GLOBAL False, RELATIVE_POS False, USE_CONV_POS False, SHORTCUT False; "
    "USE_LAYER_SCALE is True in config.py but models/build.py never passes it, so the Swin blocks "
    "have none (the logs' exact parameter counts confirm it). "
)
_LOG_MACS = (
    "The log's fvcore table counts BatchNorm in training mode (5 ops per element) where we count "
    "it in eval mode (2 per element): {bn} MMACs of difference in the stem, nothing else. "
)
_CODE_DEFAULT = (
    "The constructor default of the official SwinTransformer is use_global=True (one learned "
    "{n} x {c} semantic_token2, +{extra} params: {total}M, what counting the code with its "
    "constructor defaults gives); the published config and log say False. "
)
_PAPER = (
    "The paper's Swin results table (top-1, FLOPs, throughput of STViT-Swin-T/S/B) was not "
    "available to us, so it is not on the card; its abstract (arXiv:2303.08685) claims, on Swin-T/S/B, "
    "16 semantic tokens per window for about 20% higher speed with slightly higher accuracy, and "
    "for STViT-R over 30% fewer backbone FLOPs. The code and logs use 3x3 = 9 tokens per window "
    "(SAMPLE_WINDOW_SIZE 3), not 16; sample_window_size=4 gives 16."
)


def _card(name: str, params: Published, macs: Published, top1: Published, note: str) -> ModelCard:
    return ModelCard(
        name=name,
        family="stvit",
        input_shape=(1, 3, 224, 224),
        params_m=params,
        macs_g=macs,
        top1=top1,
        note=note,
    )


_TINY_CODE = Source(f"{_REPO} models/swin_transformer.py @b4a27a0", "Swin-T config, counted: sum(numel), fvcore eval")

model_cards = {
    "stvit_swin_tiny": _card(
        "stvit_swin_tiny",
        Published(28.320214, _TINY_CODE, note="no log for Swin-T: counted on the official code"),
        Published(3.616, _TINY_CODE, note="no log for Swin-T: fvcore on the official code, eval mode"),
        Published(None, note="no published top-1 for STViT-R-Swin-T (README lists S and B only)"),
        "The official repository publishes a log, a checkpoint and a top-1 for Swin-S and Swin-B only; "
        "for Swin-T (configs/swin_tiny_patch4_window7_224.yaml: depths 2,2,6,2, one group of six "
        "semantic-stage blocks) params and MACs were counted on the official model code at commit "
        "b4a27a0 with the published options (28,320,214 params; 3.616 GMACs by fvcore in eval mode). "
        + _CONFIGS
        + _CODE_DEFAULT.format(n=36, c=384, extra="13,824", total="28.33")
        + _PAPER,
    ),
    "stvit_swin_small": _card(
        "stvit_swin_small",
        Published(49.625518, Source(f"{_REPO} log/small.txt", "number of params: 49625518")),
        Published(5.826, Source(f"{_REPO} log/small.txt", "fvcore table, model #flops 5.826G")),
        Published(82.7, _README, note="log/small.txt: Max accuracy 82.65%"),
        _CONFIGS
        + _LOG_MACS.format(bn=2.7)
        + _CODE_DEFAULT.format(n=36, c=384, extra="13,824", total="49.64")
        + "The log's `number of GFLOPs: 2.31` comes from the official flops() methods, which return 0 "
        "for the semantic stage and ignore the conv stem; it is not a count of this model. " + _PAPER,
    ),
    "stvit_swin_base": _card(
        "stvit_swin_base",
        Published(87.812336, Source(f"{_REPO} log/base.txt", "number of params: 87812336")),
        Published(10.264, Source(f"{_REPO} log/base.txt", "fvcore table, model #flops 10.264G")),
        Published(83.2, _README, note="log/base.txt: Max accuracy 83.21%"),
        _CONFIGS
        + _LOG_MACS.format(bn=3.6)
        + _CODE_DEFAULT.format(n=36, c=512, extra="18,432", total="87.83")
        + "The log's `number of GFLOPs: 4.06` comes from the official flops() methods, which return 0 "
        "for the semantic stage and ignore the conv stem; it is not a count of this model. " + _PAPER,
    ),
}


@register_model
def stvit_swin_tiny(**kwargs) -> STViTSwin:
    return _create_stvit_swin(embed_dim=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24), **kwargs)


@register_model
def stvit_swin_small(**kwargs) -> STViTSwin:
    return _create_stvit_swin(embed_dim=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24), **kwargs)


@register_model
def stvit_swin_base(**kwargs) -> STViTSwin:
    return _create_stvit_swin(embed_dim=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32), **kwargs)
