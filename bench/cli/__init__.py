"""The ``bench`` command line: one thin module per command group (parse, call one library function, render).

Importing this package registers every command on :data:`app` in the order ``bench --help``
lists them; each command imports its heavy dependencies (torch, pandas) only when it runs.
"""

import sys

try:  # Ctrl-C while the command's modules load (about 0.3 s) ends as one during the command does
    from bench.cli.app import app, main

    # One module per command group; importing registers its commands on `app`, in the order of `bench --help`.
    from bench.cli import models, export, accuracy, run, ab, results, profile, predict, ingest, devices  # noqa: E402, F401, I001  isort: skip
except KeyboardInterrupt:
    print("interrupted", file=sys.stderr)
    sys.exit(130)

app.add_typer(results.baseline_app, name="baseline")
app.add_typer(run.farm_app, name="farm")
app.add_typer(predict.predictor_app, name="predictor")

__all__ = ["app", "main"]
