"""Runtimes: how an artifact is executed on a device (the agent holds the execution code)."""
