"""The ``bench`` command line: one thin module per command group (parse, call, render)."""

from bench.cli.app import app, main

__all__ = ["app", "main"]
