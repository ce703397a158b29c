"""bench: on-device efficiency benchmarking for lightweight vision models.

The command line (``bench``) is the public entry point; the model zoo lives in ``models``
and the exporters in ``export``.
"""

__version__ = "0.1.0"


def load_results(store: str | None = None, run_id: str | None = None):
    """Every stored measurement as a pandas DataFrame (raw samples in ``samples_ms``)."""
    from bench.results.records import load_results as _load

    return _load(store, run_id)
