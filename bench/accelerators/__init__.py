"""Accelerators (CPU, delegates, execution providers, compute units): see :mod:`bench.accelerators.base`."""
