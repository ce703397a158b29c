"""Simulations of hardware that cannot exist on a CI machine (power rails, phones)."""
