"""``python -m bench.cli``: the same as the ``bench`` command."""

from bench.cli.app import main

main()
