"""A config dataclass under ``from __future__ import annotations``: its class body needs the module in
sys.modules while the file executes."""

from __future__ import annotations

from dataclasses import dataclass

import torch.nn as nn


@dataclass
class Config:
    channels: int = 4
    classes: int = 3


class Net(nn.Module):
    def __init__(self, config: Config):
        super().__init__()
        self.conv = nn.Conv2d(3, config.channels, 3, padding=1)
        self.fc = nn.Linear(config.channels, config.classes)

    def forward(self, x):
        return self.fc(self.conv(x).relu().mean((2, 3)))


def make() -> Net:
    return Net(Config())
