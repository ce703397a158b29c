"""Where the time goes: per-operator profiles mapped back to the PyTorch module hierarchy."""
