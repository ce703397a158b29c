"""Inputs of rank 2 and 3: a Linear model on (batch, features) and a Conv1d on (batch, channels, time)."""

import torch.nn as nn


def linear(features: int = 16):
    return nn.Sequential(nn.Linear(features, 8), nn.ReLU(), nn.Linear(8, 3))


def signal():
    return nn.Sequential(nn.Conv1d(2, 4, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool1d(1), nn.Flatten())
