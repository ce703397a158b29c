"""The output of TFLite's ``inference_diff`` evaluation tool (``run_eval`` of
``tensorflow/lite/tools/evaluation/tasks/inference_diff``).

It runs a model on the single-threaded CPU reference and on the delegate under test with the same
random inputs and prints, per run (as posted in tensorflow/tensorflow#42294, GPU delegate, TF 2.3)::

    GPU delegate is created.
    Num evaluation runs: 5
    Reference run latency: avg=350.6(us), std_dev=182(us)
    Test run latency: avg=7788.33(us), std_dev=1361(us)
    OutputDiff[0]: avg_error=0, std_dev=0

``avg_error`` is the mean absolute difference between the two runs' output elements (one line per
model output), ``std_dev`` its standard deviation over the evaluation runs. Lines may carry
``INFO: `` or logcat prefixes like the other tools' output.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from bench.parsers.tool_output import NUMBER, ToolFailed, ToolOutputError, strip_prefix

RUNS = re.compile(r"Num evaluation runs: (\d+)")
LATENCY = re.compile(rf"(Reference|Test) run latency: avg=({NUMBER})\(us\), std_dev=({NUMBER})\(us\)")
DIFF = re.compile(rf"OutputDiff\[(\d+)\]: avg_error=({NUMBER}), std_dev=({NUMBER})")
FAILED = re.compile(r"(?i)\b(?:error|failed|could not|unable)\b")


@dataclass
class InferenceDiff:
    """One inference_diff run: evaluation ``runs``, the reference (CPU) and test (delegate) latency in
    ms, and per model output the mean absolute error between them and its standard deviation."""

    runs: int
    reference_ms: float | None = None
    test_ms: float | None = None
    errors: list[float] = field(default_factory=list)
    error_std: list[float] = field(default_factory=list)

    @property
    def max_error(self) -> float:
        """The largest mean absolute error over the model's outputs."""
        return max(self.errors)

    def to_dict(self) -> dict:
        return {
            "tool": "inference_diff",
            "runs": self.runs,
            "reference_ms": self.reference_ms,
            "test_ms": self.test_ms,
            "output_errors": self.errors,
            "output_error_std": self.error_std,
            "max_error": self.max_error,
        }


def parse_inference_diff(text: str) -> InferenceDiff:
    """The inference_diff result in ``text``. Raises ToolFailed with the tool's own lines when it
    printed no result (a delegate that could not be created, a model that would not load), and
    ToolOutputError for a result without its output differences or with a number that is not
    finite."""
    runs, latency, diffs, failures = None, {}, {}, []
    for number, raw in enumerate(text.splitlines(), 1):
        line = strip_prefix(raw.strip())[0].strip()
        if found := RUNS.search(line):
            runs = int(found.group(1))
        elif found := LATENCY.search(line):
            latency[found.group(1)] = float(found.group(2)) / 1e3
        elif found := DIFF.search(line):
            error, spread = float(found.group(2)), float(found.group(3))
            if not (math.isfinite(error) and math.isfinite(spread)):
                raise ToolOutputError(number, f"output {found.group(1)} has a non-finite error: {line[:120]!r}")
            diffs[int(found.group(1))] = (error, spread)
        elif FAILED.search(line):
            failures.append(line[:200])
    if runs is None:
        said = " | ".join(failures[:3])
        raise ToolFailed(0, "inference_diff printed no result" + (f"; it said: {said}" if said else ""))
    if not diffs:
        raise ToolOutputError(0, "inference_diff printed no 'OutputDiff[N]: avg_error=' line")
    ordered = [diffs[i] for i in sorted(diffs)]
    return InferenceDiff(
        runs, latency.get("Reference"), latency.get("Test"), [e for e, _ in ordered], [s for _, s in ordered]
    )
