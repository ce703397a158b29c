"""Eager PyTorch CPU latency of each zoo model at batch 1, for information.

    .venv/bin/python benchmarks/zoo_forward.py [PATTERN] [--min-time 1.0] [--threads 1]

Uses torch.utils.benchmark (blocked autorange) and prints the median per model with its IQR.
This is the PyTorch reference, not what a device runtime achieves: use `bench run` for that.
"""

from __future__ import annotations

import argparse
import warnings

import torch
import torch.utils.benchmark as tb

import models


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pattern", nargs="?", default="*")
    parser.add_argument("--min-time", type=float, default=1.0, help="seconds of timed runs per model")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    torch.set_num_threads(args.threads)
    print(f"{'model':32s} {'input':>16s} {'median ms':>10s} {'IQR ms':>8s} {'runs':>5s}")
    for name in models.list_models(args.pattern):
        card = models.get_card(name)
        model = models.create_model(name)
        x = torch.randn(card.input_shape)
        with torch.inference_mode():
            model(x)  # warm-up outside the timer
            m = tb.Timer(
                "model(x)", globals={"model": model, "x": x}, num_threads=args.threads, label=name
            ).blocked_autorange(min_run_time=args.min_time)
        shape = "x".join(map(str, card.input_shape[1:]))
        print(f"{name:32s} {shape:>16s} {m.median * 1e3:10.2f} {m.iqr * 1e3:8.2f} {len(m.times):5d}", flush=True)


if __name__ == "__main__":
    main()
