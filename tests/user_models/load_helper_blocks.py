"""A helper module beside the model file that imports it (load_uses_helper.py)."""

import torch.nn as nn

SCALE = 1.0


class Block(nn.Module):
    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, x):
        return self.conv(x).relu() * SCALE
