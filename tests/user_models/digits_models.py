"""Two small classifiers of scikit-learn's handwritten digits, used as user models (``file.py:factory``).

Both take (N, 3, 32, 32) images normalised with mean 0.5 and std 0.5 per channel (the digits
written by ``tests/digits.py``, preprocessed with ``size=32, crop_pct=1.0``) and return (N, 10)
logits. ``tests/digits.py`` trains them and saves their state dicts for ``--weights``. Plain
PyTorch layers only (attention written out, no fused kernels), so every exporter and quantizer
sees ordinary matmuls, softmax and norms.
"""

import torch
import torch.nn as nn


class ConvNet(nn.Module):
    """A 4x4 patch stem, two 3x3 conv stages with batch norm, global average pooling, a classifier."""

    def __init__(self, width: int = 16, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 4, stride=4),  # 32x32 -> 8x8 (one pixel of the 8x8 originals each)
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.Conv2d(width, 2 * width, 3, padding=1),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.MaxPool2d(2),  # 8x8 -> 4x4
            nn.Conv2d(2 * width, 4 * width, 3, padding=1),
            nn.BatchNorm2d(4 * width),
            nn.ReLU(),
        )
        self.head = nn.Linear(4 * width, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x).mean((2, 3)))


class Attention(nn.Module):
    """Multi-head self-attention over tokens (N, T, dim), written with matmuls and softmax."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.scale = (dim // heads) ** -0.5
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, dim = x.shape
        q, k, v = self.qkv(x).reshape(n, t, 3, self.heads, dim // self.heads).permute(2, 0, 3, 1, 4)
        attn = ((q @ k.transpose(-2, -1)) * self.scale).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(n, t, dim))


class Block(nn.Module):
    """A pre-norm transformer block: x + attention(LN(x)), then x + MLP(LN(x))."""

    def __init__(self, dim: int, heads: int, mlp_ratio: int = 2):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = Attention(dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class TinyViT(nn.Module):
    """Patch embedding (8x8 patches: 16 tokens), position embedding, transformer blocks, mean pooling."""

    def __init__(self, dim: int = 48, heads: int = 4, depth: int = 1, patch: int = 8, classes: int = 10):
        super().__init__()
        self.embed = nn.Conv2d(3, dim, patch, stride=patch)
        self.pos = nn.Parameter(torch.zeros(1, (32 // patch) ** 2, dim))
        nn.init.trunc_normal_(self.pos, std=0.02)
        self.blocks = nn.Sequential(*[Block(dim, heads) for _ in range(depth)])
        self.norm = nn.LayerNorm(dim)
        self.head = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = self.embed(x).flatten(2).transpose(1, 2) + self.pos
        return self.head(self.norm(self.blocks(tokens)).mean(1))


def convnet() -> nn.Module:
    return ConvNet()


def vit() -> nn.Module:
    return TinyViT()


class OutlierChannelConvNet(ConvNet):
    """The trained ConvNet (same parameters, loads its checkpoint) with one activation channel made
    1000x larger after the stem and scaled back before the next convolution: the same function in
    float, but per-tensor int8 activations spend their 256 levels on that one channel and flatten
    the others (the outlier-channel failure of transformer int8 quantization, here on purpose)."""

    def __init__(self):
        super().__init__()
        scale = torch.ones(1, self.features[0].out_channels, 1, 1)
        scale[0, 0] = 1000.0
        self.register_buffer("outlier", scale, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        stem = self.features[:3](x) * self.outlier
        return self.head(self.features[3:](stem / self.outlier).mean((2, 3)))


def convnet_outlier() -> nn.Module:
    return OutlierChannelConvNet()


class ChannelsLastConvNet(ConvNet):
    """The trained ConvNet (loads its checkpoint) taking channels-last images (N, H, W, 3), as
    TensorFlow and Keras export image models: a file of it stands for one converted elsewhere."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.permute(0, 3, 1, 2))


def convnet_nhwc() -> nn.Module:
    return ChannelsLastConvNet()
