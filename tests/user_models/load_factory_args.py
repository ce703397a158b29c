"""A factory with arguments: the width sets the channels (so the parameter count), classes the output."""

import torch.nn as nn


class Net(nn.Module):
    def __init__(self, width: float, classes: int):
        super().__init__()
        channels = max(1, round(8 * width))
        self.conv = nn.Conv2d(3, channels, 3, padding=1)
        self.fc = nn.Linear(channels, classes)

    def forward(self, x):
        return self.fc(self.conv(x).relu().mean((2, 3)))


def make(width: float = 1.0, classes: int = 3):
    return Net(width, classes)
