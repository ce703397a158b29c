"""The kernel sweep's models: one small generated model per operator (or block) the zoo uses.

Each :class:`KernelSpace` is a grid of configurations (channels, kernel, stride, resolution for
convolutions; tokens, heads and width for attention and MLPs) and builds, for one configuration,
a PyTorch module and its input shape. The modules are what the zoo's families are made of:
convolutions with batch norm and activation (fused by every converter, as in MobileNet and the
EdgeViT / STViT stems), depthwise convolutions, VAST's 3-D convolutions over video, linear
layers over tokens, the attention core (two batched matrix products around a softmax), layer
norm, GELU / hard-swish, pooling, the shifts' pad + slice (ShiftViT, AS-MLP), concat, the
reshape / transpose between image and token layouts, and the regrouping of tokens by patch
(MobileViT) or window (Swin). Sampling over these grids is :mod:`bench.predictor.sweep`'s.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn
from torch.nn import functional as F

CHANNELS = (8, 16, 24, 32, 48, 64, 96, 128, 160, 192, 256, 320, 384, 512)
WIDTHS = (32, 64, 96, 128, 192, 256, 320, 384, 512, 768, 1024, 1536, 2048, 3072)
TOKENS = (1, 16, 49, 64, 98, 196, 256, 392, 785, 1024, 3136)
RESOLUTIONS = (7, 14, 28, 56, 112)


@dataclass(frozen=True)
class KernelSpace:
    """A grid of one kernel's configurations; ``build(config)`` returns ``(module, input shape)``."""

    name: str
    grid: dict[str, tuple[int, ...]]
    build: Callable[[dict[str, int]], tuple[nn.Module, tuple[int, ...]]]
    # configurations too large to be worth a sample (elements of the biggest tensor above this)
    limit: int = 8_000_000

    def label(self, config: dict[str, int]) -> str:
        """``kernel:conv(cin=32,cout=64,k=3,s=1,hw=56)``: the measurement's model name in the store."""
        return f"kernel:{self.name}({','.join(f'{k}={config[k]}' for k in self.grid)})"


class _ConvBnAct(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, s: int, groups: int, act: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, s, k // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = (nn.Identity(), nn.ReLU(), nn.Hardswish(), nn.GELU())[act]

    def forward(self, x):
        return self.act(self.bn(self.conv(x)))


def _conv(c: dict[str, int]):
    return _ConvBnAct(c["cin"], c["cout"], c["k"], c["s"], 1, c["act"]), (1, c["cin"], c["hw"], c["hw"])


def _dwconv(c: dict[str, int]):
    return _ConvBnAct(c["c"], c["c"], c["k"], c["s"], c["c"], c["act"]), (1, c["c"], c["hw"], c["hw"])


def _conv3d(c: dict[str, int]):
    # VAST's video layers: pointwise (k=1) and patch-merging (1 x 2 x 2, stride 1 x 2 x 2) convolutions
    # over [1, C, T, H, W]
    size = (1, c["k"], c["k"])
    conv = nn.Conv3d(c["cin"], c["cout"], size, stride=size, bias=False)
    return conv, (1, c["cin"], c["t"], c["hw"], c["hw"])


class _Linear(nn.Module):
    def __init__(self, cin: int, cout: int, act: int) -> None:
        super().__init__()
        self.fc = nn.Linear(cin, cout)
        self.act = (nn.Identity(), nn.GELU(), nn.Hardswish())[act]

    def forward(self, x):
        return self.act(self.fc(x))


def _linear(c: dict[str, int]):
    # rank 2: tokens as the batch, as the zoo's flattened MLPs and heads run it (onnxruntime: Gemm);
    # rank 3: [1, tokens, width], as most ViT blocks run it (MatMul + Add, fused by the runtime)
    shape = (c["tokens"], c["cin"]) if c["rank"] == 2 else (1, c["tokens"], c["cin"])
    return _Linear(c["cin"], c["cout"], c["act"]), shape


class _Attention(nn.Module):
    """The attention core of a ViT block: softmax(q k^T * scale) v over ``heads`` heads, for a batch
    of ``windows`` (Swin's and STViT-R's local windows; 1 for global attention)."""

    def __init__(self, heads: int, dim: int) -> None:
        super().__init__()
        self.heads, self.dim = heads, dim

    def forward(self, x):  # x: [1, tokens, 3 * heads * dim], as a qkv projection gives it
        b, n, _ = x.shape
        qkv = x.reshape(b, n, 3, self.heads, self.dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        attn = (q * self.dim**-0.5) @ k.transpose(-2, -1)
        return (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, self.heads * self.dim)


def _attention(c: dict[str, int]):
    return _Attention(c["heads"], c["dim"]), (c["windows"], c["tokens"], 3 * c["heads"] * c["dim"])


class _Norm(nn.Module):
    def __init__(self, width: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(width)

    def forward(self, x):
        return self.norm(x)


def _layernorm(c: dict[str, int]):
    return _Norm(c["width"]), (1, c["tokens"], c["width"])


class _Elementwise(nn.Module):
    """An activation, or an arithmetic node between two activations (a residual, a gate) or with a
    constant (a layer scale per channel, a bias, a division by a scalar as in attention scaling)."""

    def __init__(self, op: int, width: int, channels_first: bool = False) -> None:
        super().__init__()
        self.op = op
        # per channel: the last axis of tokens [1, N, C], the second of images [1, C, H, W]
        self.scale = nn.Parameter(torch.rand(width, 1, 1) + 0.5 if channels_first else torch.rand(width) + 0.5)

    def forward(self, x):
        if self.op == 4:
            return x * self.scale
        if self.op == 5:
            return x + self.scale
        if self.op == 6:
            return x / 7.0
        if self.op == 0:
            return F.gelu(x)
        if self.op == 1:
            return F.hardswish(x)
        if self.op == 2:
            return x + x.flip(-1)  # an addition of two activations (a residual)
        return x * torch.sigmoid(x)  # SiLU / swish: a multiplication by a gate


def _elementwise(c: dict[str, int]):
    return _Elementwise(c["op"], c["width"]), (1, c["tokens"], c["width"])


def _elementwise_image(c: dict[str, int]):
    return _Elementwise(c["op"], c["c"], channels_first=True), (1, c["c"], c["hw"], c["hw"])


class _Pool(nn.Module):
    def __init__(self, op: int) -> None:
        super().__init__()
        self.op = op

    def forward(self, x):
        if self.op == 0:
            return F.avg_pool2d(x, 3, 2, 1)
        if self.op == 1:
            return F.max_pool2d(x, 3, 2, 1)
        return F.adaptive_avg_pool2d(x, 1).flatten(1)  # a classifier head's global pool


def _pool(c: dict[str, int]):
    return _Pool(c["op"]), (1, c["c"], c["hw"], c["hw"])


class _Shift(nn.Module):
    """ShiftViT's partial shift: four groups of channels moved one pixel (zero-filled), the rest kept."""

    def forward(self, x):
        g = x.shape[1] // 12
        left = F.pad(x[:, :g, :, 1:], (0, 1))
        right = F.pad(x[:, g : 2 * g, :, :-1], (1, 0))
        up = F.pad(x[:, 2 * g : 3 * g, 1:, :], (0, 0, 0, 1))
        down = F.pad(x[:, 3 * g : 4 * g, :-1, :], (0, 0, 1, 0))
        return torch.cat([left, right, up, down, x[:, 4 * g :]], dim=1)


def _shift(c: dict[str, int]):
    return _Shift(), (1, c["c"], c["hw"], c["hw"])


class _Layout(nn.Module):
    """Image to tokens and back: ``[1, C, H, W]`` -> ``[1, HW, C]`` -> ``[1, C, H, W]`` (a patch
    embedding's flatten + transpose and a hybrid block's way back), with a concat of two halves."""

    def forward(self, x):
        b, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)
        tokens = torch.cat([tokens[:, :, : c // 2], tokens[:, :, c // 2 :]], dim=-1)
        return tokens.transpose(1, 2).reshape(b, c, h, w)


def _layout(c: dict[str, int]):
    return _Layout(), (1, c["c"], c["hw"], c["hw"])


class _Windows(nn.Module):
    """Tokens regrouped by patch or window and back, the general permutations the hybrid and
    windowed models make: ``op`` 0 is MobileViT's unfold and fold of 2x2 patches (timm's
    ``MobileVitBlock``: ``[1, C, H, W]`` -> ``[4, HW/4, C]`` -> back), ``op`` 1 Swin's window
    partition and reverse of 7x7 windows on ``[1, H, W, C]``. A layer norm over the channels of
    the regrouped tokens sits between, as in both models (and so that no optimizer cancels the
    two permutations)."""

    def __init__(self, op: int, c: int) -> None:
        super().__init__()
        self.op = op
        self.norm = nn.LayerNorm(c)

    def forward(self, x):
        if self.op == 0:
            b, c, h, w = x.shape
            nh, nw = h // 2, w // 2
            t = x.reshape(b * c * nh, 2, nw, 2).transpose(1, 2)
            t = self.norm(t.reshape(b, c, nh * nw, 4).transpose(1, 3).reshape(b * 4, nh * nw, -1))
            t = t.reshape(b, 4, nh * nw, -1).transpose(1, 3).reshape(b * c * nh, nw, 2, 2)
            return t.transpose(1, 2).reshape(b, c, h, w)
        b, h, w, c = x.shape
        t = self.norm(x.view(b, h // 7, 7, w // 7, 7, c).permute(0, 1, 3, 2, 4, 5).reshape(-1, 49, c))
        return t.view(b, h // 7, w // 7, 7, 7, c).permute(0, 1, 3, 2, 4, 5).reshape(b, h, w, c)


def _windows(c: dict[str, int]):
    shape = (1, c["c"], c["hw"], c["hw"]) if c["op"] == 0 else (1, c["hw"], c["hw"], c["c"])
    return _Windows(c["op"], c["c"]), shape


SPACES: dict[str, KernelSpace] = {
    space.name: space
    for space in (
        KernelSpace(
            "conv",
            {"cin": CHANNELS, "cout": CHANNELS, "k": (1, 3, 5, 7), "s": (1, 2), "hw": RESOLUTIONS, "act": (0, 1, 2, 3)},
            _conv,
        ),  # fmt: skip
        KernelSpace(
            "dwconv",
            {"c": (*CHANNELS, 640, 768, 960), "k": (3, 5, 7), "s": (1, 2), "hw": RESOLUTIONS, "act": (0, 1, 2, 3)},
            _dwconv,
        ),  # fmt: skip
        KernelSpace(
            "conv3d", {"cin": CHANNELS, "cout": CHANNELS, "k": (1, 2), "t": (2, 4, 8), "hw": RESOLUTIONS[:-1]}, _conv3d
        ),  # fmt: skip
        KernelSpace(
            "linear", {"tokens": TOKENS, "cin": WIDTHS, "cout": WIDTHS, "act": (0, 1, 2), "rank": (2, 3)}, _linear
        ),
        KernelSpace(
            "attention",
            {
                "tokens": TOKENS[1:],
                "heads": (1, 2, 3, 4, 6, 8, 12, 16),
                "dim": (16, 32, 48, 64),
                "windows": (1, 4, 16, 64),
            },
            _attention,
            limit=20_000_000,
        ),  # fmt: skip
        KernelSpace("layernorm", {"tokens": TOKENS, "width": WIDTHS}, _layernorm),
        KernelSpace("elementwise", {"tokens": TOKENS, "width": WIDTHS, "op": (0, 1, 2, 3, 4, 5, 6)}, _elementwise),
        KernelSpace(
            "elementwise_image", {"c": CHANNELS, "hw": RESOLUTIONS, "op": (0, 1, 2, 3, 4, 5, 6)}, _elementwise_image
        ),  # fmt: skip
        KernelSpace("pool", {"c": CHANNELS, "hw": RESOLUTIONS, "op": (0, 1, 2)}, _pool),
        KernelSpace("shift", {"c": (24, 48, 96, 192, 384, 768), "hw": RESOLUTIONS}, _shift),
        KernelSpace("layout", {"c": CHANNELS, "hw": RESOLUTIONS}, _layout),
        KernelSpace("windows", {"c": CHANNELS, "hw": (14, 28, 56), "op": (0, 1)}, _windows),
    )
}


class ReferenceModel(nn.Module):
    """The sweep's speed reference (:data:`bench.predictor.sweep.REFERENCE`): a convolution stage
    and a token MLP layer on ``[1, 64, 28, 28]``, about 1 ms on this host's CPU."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(64, 64, 3, 1, 1), nn.BatchNorm2d(64), nn.ReLU())
        self.fc = nn.Linear(64, 256)

    def forward(self, x):
        return self.fc(self.conv(x).flatten(2).transpose(1, 2))


def largest_tensor(space: KernelSpace, config: dict[str, int]) -> int:
    """Elements of the largest of the kernel's input, output and (for attention) score tensors."""
    c = config
    if space.name == "attention":
        return c["windows"] * max(c["tokens"] * 3 * c["heads"] * c["dim"], c["heads"] * c["tokens"] ** 2)
    if space.name == "conv":
        return max(c["cin"], c["cout"]) * c["hw"] ** 2
    if space.name == "conv3d":
        return max(c["cin"], c["cout"]) * c["t"] * c["hw"] ** 2
    if space.name in ("dwconv", "pool", "shift", "layout", "elementwise_image", "windows"):
        return c["c"] * c["hw"] ** 2
    if space.name == "linear":
        return c["tokens"] * max(c["cin"], c["cout"])
    return c["tokens"] * c["width"]
