"""bench: on-device efficiency benchmarking for lightweight vision models.

The command line (``bench``) is the public entry point; the model zoo lives in ``models``
and the exporters in ``export``.
"""

__version__ = "0.1.0"
