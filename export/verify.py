"""Numeric verification of an exported model against PyTorch.

Both run on the same seeded random inputs. We record the max absolute difference, the cosine
similarity of the flattened outputs and top-1 agreement, and judge them against thresholds per
precision. The thresholds (also in the README):

| precision | cosine >= | max abs diff <= (x largest |output|) | top-1 agreement >= |
|---|---|---|---|
| fp32 | 0.99999 | 1e-4 | 1.0 |
| fp16 | 0.999 | 2e-2 | not judged |
| int8 | 0.98 | not judged | not judged |

Top-1 is judged only at fp32: zoo models have random weights, whose logits are nearly tied,
so a reduced-precision flip says nothing about accuracy on real data.

The inputs (:class:`InputSpec`) follow the model's own preprocessing: a zoo model gets uniform
values over its normalised image range (the card's mean and std), a user's model standard-normal
values unless the user gives ``--input-range LOW,HIGH`` or a folder of real inputs (``.npy``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.errors import BenchError
from export.artifact import Verification


@dataclass(frozen=True)
class Thresholds:
    min_cosine: float
    max_rel_diff: float | None
    min_top1: float | None


THRESHOLDS = {
    "fp32": Thresholds(0.99999, 1e-4, 1.0),
    "fp16": Thresholds(0.999, 2e-2, None),
    "int8": Thresholds(0.98, None, None),
}
SAMPLES = 4
SEED = 0


@dataclass(frozen=True)
class InputSpec:
    """The distribution of the inputs verification feeds both models.

    ``kind`` is ``normal`` (standard normal), ``uniform`` (``low``..``high``, scalars or one value
    per channel on axis 1) or ``files`` (``.npy`` arrays of the input shape, read in name order,
    float32). ``describe()`` goes into the artifact and its cache key."""

    kind: str = "normal"
    low: tuple[float, ...] = ()
    high: tuple[float, ...] = ()
    folder: str | None = None
    digest: str = ""  # of the folder's .npy files (names and contents): edited inputs are new inputs

    @classmethod
    def uniform(cls, low, high) -> InputSpec:
        low, high = tuple(np.atleast_1d(low).tolist()), tuple(np.atleast_1d(high).tolist())
        limit = float(np.finfo(np.float32).max)
        finite = all(np.isfinite(v) and abs(v) <= limit for v in low + high)
        if not finite or any(a >= b for a, b in zip(low, high, strict=False)):
            raise BenchError(
                f"input range {_fmt(low)}..{_fmt(high)}: LOW must be below HIGH, both finite float32 numbers"
            )
        return cls("uniform", low, high)

    @classmethod
    def parse_range(cls, text: str) -> InputSpec:
        """``--input-range LOW,HIGH`` (e.g. ``0,1``). Raises BenchError on anything else."""
        try:
            low, high = (float(v) for v in text.split(","))
        except ValueError:
            raise BenchError(f"--input-range '{text[:60]}' is not two numbers LOW,HIGH such as 0,1") from None
        return cls.uniform(low, high)

    @classmethod
    def from_folder(cls, folder: str | Path) -> InputSpec:
        """Real inputs: every ``*.npy`` in ``folder``. Raises BenchError when there is none."""
        import hashlib

        from bench.digest import file_sha256

        path = Path(folder)
        if not path.is_dir():
            raise BenchError(f"--inputs {folder}: not a folder (give a folder of .npy input arrays)")
        files = sorted(path.glob("*.npy"))
        if not files:
            raise BenchError(f"--inputs {folder}: the folder holds no .npy input arrays")
        digest = hashlib.sha256()
        for file in files:
            digest.update(f"{file.name}:{file_sha256(file)}\n".encode())
        return cls("files", folder=str(path.resolve()), digest=digest.hexdigest())

    def describe(self) -> str:
        if self.kind == "uniform":
            return f"uniform[{_fmt(self.low)}, {_fmt(self.high)}]"
        if self.kind == "files":
            return f"files:{self.folder} (sha256 {self.digest[:16]})"
        return "standard normal"

    def check(self, shape: tuple[int, ...], n: int = SAMPLES) -> None:
        """Raises BenchError (before any export) when the inputs cannot feed a model of ``shape``:
        a file that is not a numeric array of that shape, or holds NaN or inf."""
        for array, name in zip(self.sample(shape, n), self._names(n), strict=False):
            if not np.isfinite(array).all():
                raise BenchError(f"input {name} holds NaN or inf: verification inputs must be finite")

    def _names(self, n: int) -> list[str]:
        if self.kind != "files":
            return [self.describe()] * n
        return [f.name for f in sorted(Path(self.folder).glob("*.npy"))[:n]]

    def sample(self, shape: tuple[int, ...], n: int = SAMPLES, seed: int = SEED) -> list[np.ndarray]:
        """``n`` float32 arrays of ``shape`` (the first ``n`` files for ``files``, which must have
        the shape). Raises BenchError when a file cannot be read or has another shape."""
        if self.kind == "files":
            return self._files(shape, n)
        rng = np.random.default_rng(seed)
        if self.kind == "normal":
            return [rng.standard_normal(shape).astype(np.float32) for _ in range(n)]
        low, high = (_per_channel(v, shape) for v in (self.low, self.high))
        return [(low + (high - low) * rng.random(shape)).astype(np.float32) for _ in range(n)]

    def _files(self, shape: tuple[int, ...], n: int) -> list[np.ndarray]:
        arrays = []
        for file in sorted(Path(self.folder).glob("*.npy"))[:n]:
            try:
                array = np.load(file, allow_pickle=False)
                if not np.issubdtype(array.dtype, np.number) or np.iscomplexobj(array):
                    raise ValueError(f"it holds {array.dtype} values, not real numbers")
                array = array.astype(np.float32)
            except (OSError, ValueError) as exc:
                raise BenchError(f"cannot read input {file.name} as a numeric array: {exc}") from None
            if array.shape != tuple(shape):
                if array.shape != tuple(shape[1:]):
                    raise BenchError(
                        f"input {file.name} has shape {array.shape}, the model takes {tuple(shape)} "
                        f"(or {tuple(shape[1:])} without the batch)"
                    )
                array = array[None]
            arrays.append(array)
        return arrays


def _fmt(values: tuple[float, ...]) -> str:
    return ",".join(f"{v:g}" for v in values) if len(values) > 1 else f"{values[0]:g}"


def _per_channel(values: tuple[float, ...], shape: tuple[int, ...]) -> np.ndarray:
    """Scalars broadcast; one value per channel lies along axis 1."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 1 or len(shape) < 2 or shape[1] != array.size:
        return np.full(shape, float(array.mean()))
    return array.reshape((1, -1) + (1,) * (len(shape) - 2))


def seeded_inputs(
    shape: tuple[int, ...], n: int = SAMPLES, seed: int = SEED, inputs: InputSpec | None = None
) -> list[np.ndarray]:
    """``n`` verification inputs of ``shape`` drawn from ``inputs`` (standard normal by default)."""
    return (inputs or InputSpec()).sample(shape, n, seed)


def compare(reference: list[np.ndarray], candidate: list[np.ndarray], precision: str) -> Verification:
    """Judge candidate outputs against reference outputs (one array per input)."""
    limits = THRESHOLDS[precision]
    ref = np.stack([r.reshape(-1) for r in reference]).astype(np.float64)
    got = np.stack([c.reshape(-1) for c in candidate]).astype(np.float64)
    if ref.shape != got.shape:
        return Verification(False, samples=len(reference), reason=f"output shape {got.shape} != {ref.shape}")
    max_abs = float(np.abs(ref - got).max())
    scale = float(np.abs(ref).max()) or 1.0
    norms = np.linalg.norm(ref, axis=1) * np.linalg.norm(got, axis=1)
    cosine = float(np.min(np.sum(ref * got, axis=1) / np.where(norms == 0, 1.0, norms)))
    top1 = float(np.mean(ref.argmax(axis=1) == got.argmax(axis=1)))
    failures = []
    if not np.isfinite(got).all():
        failures.append("non-finite outputs")
    if cosine < limits.min_cosine:
        failures.append(f"cosine {cosine:.6f} < {limits.min_cosine}")
    if limits.max_rel_diff is not None and max_abs > limits.max_rel_diff * scale:
        failures.append(f"max abs diff {max_abs:.3g} > {limits.max_rel_diff:g} x {scale:.3g}")
    if limits.min_top1 is not None and top1 < limits.min_top1:
        failures.append(f"top-1 agreement {top1:.2f} < {limits.min_top1}")
    return Verification(
        passed=not failures,
        max_abs_diff=max_abs,
        cosine=cosine,
        top1_agreement=top1,
        samples=len(reference),
        thresholds={k: v for k, v in vars(limits).items()},
        reason="; ".join(failures),
    )


def _as_list(outputs) -> list[np.ndarray]:
    return [np.asarray(o) for o in outputs] if isinstance(outputs, (list, tuple)) else [np.asarray(outputs)]


def compare_outputs(
    reference: list[list[np.ndarray]], candidate: list[list[np.ndarray]], precision: str
) -> Verification:
    """Judge every output (``reference[i][k]``: output k for input i) with :func:`compare`; the
    verdict passes when every output passes. ``max_abs_diff`` is the largest, ``cosine`` the
    smallest over outputs, ``top1_agreement`` that of the first output; a reason names its output
    when there are several. A different number of outputs fails."""
    counts = {len(r) for r in reference}, {len(c) for c in candidate}
    if counts[0] != counts[1] or len(counts[0]) != 1:
        return Verification(
            False, samples=len(reference), reason=f"the file has {counts[1]} outputs, PyTorch {counts[0]}"
        )
    (count,) = counts[0]
    verdicts = [compare([r[k] for r in reference], [c[k] for c in candidate], precision) for k in range(count)]
    if count == 1:
        return verdicts[0]
    first = verdicts[0]
    reasons = [f"output {k}: {v.reason}" for k, v in enumerate(verdicts) if v.reason]
    finite = [v for v in verdicts if v.max_abs_diff is not None]
    return Verification(
        passed=all(v.passed for v in verdicts),
        max_abs_diff=max((v.max_abs_diff for v in finite), default=None),
        cosine=min((v.cosine for v in finite), default=None),
        top1_agreement=first.top1_agreement,
        samples=first.samples,
        thresholds=first.thresholds,
        reason="; ".join(reasons),
    )


def verify(
    run_reference: Callable[[np.ndarray], list[np.ndarray]],
    run_candidate: Callable[[np.ndarray], list[np.ndarray]],
    shape: tuple[int, ...],
    precision: str,
    inputs: InputSpec | None = None,
    n: int = SAMPLES,
) -> Verification:
    """Run both on ``n`` inputs from ``inputs`` and judge every output (:func:`compare_outputs`;
    each run returns a list of output arrays, or one array). When PyTorch itself gives non-finite
    outputs on those inputs (``log1p`` of negative values), the inputs are wrong for the model,
    not the export: the reason says so and asks for ``--input-range``/``--inputs``."""
    arrays = seeded_inputs(shape, n, inputs=inputs)
    reference = [_as_list(run_reference(x)) for x in arrays]
    if not all(np.isfinite(o).all() for r in reference for o in r):
        spec = inputs or InputSpec()
        return Verification(
            None,
            samples=len(arrays),
            reason=f"PyTorch itself gives non-finite outputs on {spec.describe()} inputs: not verified; "
            "give the model's input distribution with --input-range LOW,HIGH or --inputs FOLDER",
        )
    return compare_outputs(reference, [_as_list(run_candidate(x)) for x in arrays], precision)
