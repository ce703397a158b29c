"""Images per second of ``bench accuracy`` against a bare loop over pre-decoded tensors.

    .venv/bin/python benchmarks/accuracy_throughput.py [MODEL] [--size 160] [--format onnx] [--images 1797] [--rounds 5]

On scikit-learn's handwritten digits (written as 32-pixel PNGs by ``tests/digits.py``, resized to
``--size``) with a 10-class model (default: the digits ConvNet of
``tests/user_models/digits_models.py``, random weights: speed does not depend on them), in a
fresh temporary results folder, with the artifact exported once first
(export time is not counted). Side by side in one process, in interleaved rounds:

- ``bench accuracy``: :func:`bench.accuracy.evaluate.evaluate`, decoding in threads while the fp32
  PyTorch reference and the artifact infer;
- the same inference work over images decoded beforehand (the reference and the artifact on each
  image, nothing else);
- the artifact alone over the pre-decoded images (what the runtime can do by itself).

Prints the medians and the ratio of ``bench accuracy`` to the same work on pre-decoded images
(goal: at least 0.8, i.e. decoding overlaps inference): the median of the per-round ratios, each
round's two runs back to back, so that the machine's drift between rounds cancels (with 600
images and 3 rounds, about 1 s per run, five runs on this 2-core VM gave 0.69-0.91; with all
1,797 images and 5 rounds, 0.83-0.91), and, for information, the ratio to the runtime alone (the
reference's share of the time is the rest).
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", nargs="?", default=str(ROOT / "tests/user_models/digits_models.py:convnet"))
    parser.add_argument("--size", type=int, default=160)
    parser.add_argument("--format", default="onnx")
    parser.add_argument("--images", type=int, default=1797)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "tests"))
    with tempfile.TemporaryDirectory() as home:
        os.environ["BENCH_RESULTS"] = home
        import torch
        from digits import write_digits_imagefolder

        from bench.accuracy import evaluate, plan
        from bench.accuracy.preprocess import decode
        from export.base import get_exporter
        from export.pipeline import export_model
        from export.reference import Inputs, canonical

        data = write_digits_imagefolder(Path(home) / "digits")
        targets = [("pytorch", "fp32"), (args.format, "fp32")]
        shape = Inputs.of_shape((1, 3, args.size, args.size))
        preprocessing = {"mean": (0.5,) * 3, "std": (0.5,) * 3, "crop_pct": 1.0, "interpolation": "bilinear"}
        (job,) = plan.prepare([canonical(args.model, shape)], data, None, [args.format], ["fp32"], preprocessing,
                              None, args.images, 1, 100.0)  # fmt: skip
        job.targets = targets
        images = job.dataset
        artifact = export_model(job.spec, args.format, "fp32")
        if artifact.error:
            raise SystemExit(f"export failed: {artifact.error}")
        run = get_exporter(args.format).load_runner(artifact.path)
        model = job.spec.build()
        decoded = [decode(path, job.preprocess)[None] for path in images.files]

        def pipeline() -> float:
            start = time.perf_counter()
            evaluate.evaluate(job.spec, images, job.preprocess, targets, settings={}, max_drop=100.0)
            return time.perf_counter() - start

        def same_work() -> float:
            start = time.perf_counter()
            with torch.inference_mode():
                for x in decoded:
                    model(torch.from_numpy(x))
                    run(x)
            return time.perf_counter() - start

        def runtime_alone() -> float:
            start = time.perf_counter()
            for x in decoded:
                run(x)
            return time.perf_counter() - start

        times: dict[str, list[float]] = {"bench accuracy": [], "same work, pre-decoded": [], "runtime alone": []}
        pipeline()  # warm: sessions, thread pools, caches
        for _ in range(args.rounds):
            times["bench accuracy"].append(pipeline())
            times["same work, pre-decoded"].append(same_work())
            times["runtime alone"].append(runtime_alone())
        n = len(images)
        rates = {name: n / statistics.median(values) for name, values in times.items()}
        print(f"{args.model} {args.format} fp32, {n} digits images at {job.preprocess.size}px, "
              f"{args.rounds} interleaved rounds (torch threads {torch.get_num_threads()}):")  # fmt: skip
        for name, rate in rates.items():
            print(f"  {name:24s} {rate:8.1f} images/s")
        paired = [w / p for w, p in zip(times["same work, pre-decoded"], times["bench accuracy"], strict=True)]
        ratio = statistics.median(paired)
        print(f"  ratio bench accuracy / same work on pre-decoded images: {ratio:.2f} (goal >= 0.8; median of "
              f"{len(paired)} rounds, {min(paired):.2f}-{max(paired):.2f})")  # fmt: skip
        print(f"  ratio bench accuracy / runtime alone: {rates['bench accuracy'] / rates['runtime alone']:.2f}")


if __name__ == "__main__":
    main()
