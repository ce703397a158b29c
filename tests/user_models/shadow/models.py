"""A helper named like the benchmark's own zoo package: the model beside it must get this one."""

import torch.nn as nn


def block(width: int) -> nn.Module:
    return nn.Sequential(nn.Conv2d(3, width, 3, padding=1), nn.ReLU())
