"""Numeric verification of an exported model against PyTorch.

Both run on the same seeded random inputs. We record the max absolute difference, the cosine
similarity of the flattened outputs and top-1 agreement, and judge them against thresholds per
precision. The thresholds (also in the README):

| precision | cosine >= | max abs diff <= (x largest |output|) | top-1 agreement >= |
|---|---|---|---|
| fp32 | 0.99999 | 1e-4 | 1.0 |
| fp16 | 0.999 | 2e-2 | not judged |
| int8 | 0.98 | not judged | not judged |
| int8-static | 0.95 | not judged | 0.9 (on calibration images; not judged for zoo models) |

Top-1 is judged at fp32, and for full-integer int8 (``int8-static``) on its calibration images
(real images, where random inputs say nothing about int8): zoo models have random weights, whose
logits are nearly tied, so a reduced-precision flip of theirs says nothing about accuracy on real
data, and their int8-static top-1 is recorded but not judged.

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
from export.reference import Inputs, TensorSpec


@dataclass(frozen=True)
class Thresholds:
    min_cosine: float
    max_rel_diff: float | None
    min_top1: float | None


THRESHOLDS = {
    "fp32": Thresholds(0.99999, 1e-4, 1.0),
    "fp16": Thresholds(0.999, 2e-2, None),
    "int8": Thresholds(0.98, None, None),
    "int8-static": Thresholds(0.95, None, 0.9),
}
SAMPLES = 4
SEED = 0


@dataclass(frozen=True)
class InputSpec:
    """The distribution of the inputs verification feeds both models.

    ``kind`` is ``normal`` (standard normal), ``uniform`` (``low``..``high``, scalars or one value
    per channel on axis 1) or ``files`` (``.npy`` arrays of the input shape, read in name order;
    for a model with several inputs ``.npz`` files, one per sample, an array per input named as
    the input or in order). Integer and bool inputs get 0 and 1 unless files give them.
    ``describe()`` goes into the artifact and its cache key."""

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
        from bench.digest import files_sha256

        path = Path(folder)
        if not path.is_dir():
            raise BenchError(f"--inputs {folder}: not a folder (give a folder of .npy input arrays)")
        files = _input_files(path)
        if not files:
            raise BenchError(f"--inputs {folder}: the folder holds no .npy (or, for several inputs, .npz) input arrays")
        return cls("files", folder=str(path.resolve()), digest=files_sha256(files))

    def describe(self) -> str:
        if self.kind == "uniform":
            return f"uniform[{_fmt(self.low)}, {_fmt(self.high)}]"
        if self.kind == "files":
            return f"files:{self.folder} (sha256 {self.digest[:16]})"
        return "standard normal"

    def check(self, inputs: Inputs, n: int = SAMPLES) -> None:
        """Raises BenchError (before any export) when these inputs cannot feed a model taking
        ``inputs``: a file that is not a numeric array of the shape, or holds NaN or inf."""
        for arrays, name in zip(self.sample(inputs, n), self._names(n), strict=False):
            if not all(np.isfinite(a).all() for a in arrays if a.dtype.kind == "f"):
                raise BenchError(f"input {name} holds NaN or inf: verification inputs must be finite")

    def _names(self, n: int) -> list[str]:
        if self.kind != "files":
            return [self.describe()] * n
        return [f.name for f in _input_files(Path(self.folder))[:n]]

    def sample(self, inputs: Inputs, n: int = SAMPLES, seed: int = SEED) -> list[list[np.ndarray]]:
        """``n`` samples, each one array per model input (its shape and dtype): the first ``n``
        files for ``files``; else drawn from this distribution for float inputs, and 0 or 1 for
        integer and bool inputs (indices and masks any embedding or mask accepts). Raises
        BenchError when a file cannot be read or has another shape."""
        if self.kind == "files":
            return self._files(inputs, n)
        rng = np.random.default_rng(seed)
        samples = []
        for _ in range(n):
            arrays = []
            for tensor in inputs:
                shape, dtype = tensor.shape, np.dtype(tensor.dtype)
                if dtype.kind in "iub":
                    arrays.append(rng.integers(0, 2, shape).astype(dtype))
                elif self.kind == "normal":
                    arrays.append(rng.standard_normal(shape).astype(dtype))
                else:
                    low, high = (_per_channel(v, shape) for v in (self.low, self.high))
                    arrays.append((low + (high - low) * rng.random(shape)).astype(dtype))
            samples.append(arrays)
        return samples

    def _files(self, inputs: Inputs, n: int) -> list[list[np.ndarray]]:
        samples = []
        for file in _input_files(Path(self.folder))[:n]:
            try:
                if file.suffix == ".npz":
                    with np.load(file, allow_pickle=False) as archive:
                        stored = {k: archive[k] for k in archive.files}
                else:
                    stored = {"arr_0": np.load(file, allow_pickle=False)}
            except (OSError, ValueError) as exc:
                raise BenchError(f"cannot read input {file.name} as a numeric array: {exc}") from None
            if len(stored) != len(inputs):
                raise BenchError(
                    f"input {file.name} holds {len(stored)} arrays, the model takes {len(inputs)} inputs "
                    "(give one .npz per sample with an array per input, named as the inputs or in order)"
                )
            names = [t.name for t in inputs]
            if all(k in stored for k in names):
                ordered = [stored[k] for k in names]
            elif all(k == f"arr_{i}" for i, k in enumerate(stored)):  # np.savez(f, a, b): in order
                ordered = list(stored.values())
            else:
                raise BenchError(
                    f"input {file.name} holds arrays {', '.join(stored)[:80]}; name them as the inputs "
                    f"({', '.join(n or '?' for n in names)}) or save them in order (np.savez(f, a, b))"
                )
            samples.append([_as_input(a, t, file.name) for a, t in zip(ordered, inputs, strict=True)])
        return samples


def _input_files(folder: Path) -> list[Path]:
    """The ``.npy`` (one input) and ``.npz`` (several) files of an ``--inputs`` folder, in name order."""
    return sorted(p for p in folder.iterdir() if p.suffix in (".npy", ".npz") and p.is_file())


def _as_input(array: np.ndarray, tensor: TensorSpec, file: str) -> np.ndarray:
    """``array`` as one input's dtype, with a batch axis added when it lacks one; BenchError when
    it is not numeric or has another shape."""
    shape = tuple(tensor.shape)
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool) or np.iscomplexobj(array):
        raise BenchError(
            f"cannot read input {file} as a numeric array: it holds {array.dtype} values, not real numbers"
        )
    if np.dtype(tensor.dtype).kind in "iub" and array.dtype.kind == "f" and not np.all(np.mod(array, 1) == 0):
        raise BenchError(f"input {file} holds fractions for the {tensor.dtype} input {tensor.name or ''}".rstrip())
    if array.shape != shape:
        if array.shape != shape[1:]:
            raise BenchError(
                f"input {file} has shape {array.shape}, the model takes {shape} (or {shape[1:]} without the batch)"
            )
        array = array[None]
    return array.astype(tensor.dtype)


def _fmt(values: tuple[float, ...]) -> str:
    return ",".join(f"{v:g}" for v in values) if len(values) > 1 else f"{values[0]:g}"


def _per_channel(values: tuple[float, ...], shape: tuple[int, ...]) -> np.ndarray:
    """Scalars broadcast; one value per channel lies along axis 1."""
    array = np.asarray(values, dtype=np.float64)
    if array.size == 1 or len(shape) < 2 or shape[1] != array.size:
        return np.full(shape, float(array.mean()))
    return array.reshape((1, -1) + (1,) * (len(shape) - 2))


def seeded_inputs(
    model_inputs: Inputs, n: int = SAMPLES, seed: int = SEED, inputs: InputSpec | None = None
) -> list[list[np.ndarray]]:
    """``n`` verification samples (one array per model input) drawn from ``inputs`` (standard
    normal by default)."""
    return (inputs or InputSpec()).sample(model_inputs, n, seed)


def compare(
    reference: list[np.ndarray], candidate: list[np.ndarray], precision: str, limits: Thresholds | None = None
) -> Verification:
    """Judge candidate outputs against reference outputs (one array per input) by ``limits``
    (default: the precision's :data:`THRESHOLDS`)."""
    limits = limits or THRESHOLDS[precision]
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
    reference: list[list[np.ndarray]],
    candidate: list[list[np.ndarray]],
    precision: str,
    limits: Thresholds | None = None,
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
    verdicts = [compare([r[k] for r in reference], [c[k] for c in candidate], precision, limits) for k in range(count)]
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
    run_reference: Callable[..., list[np.ndarray]],
    run_candidate: Callable[..., list[np.ndarray]],
    model_inputs: Inputs,
    precision: str,
    inputs: InputSpec | None = None,
    n: int = SAMPLES,
    samples: list[list[np.ndarray]] | None = None,
    limits: Thresholds | None = None,
) -> Verification:
    """Run both on ``n`` samples from ``inputs`` (or on ``samples``, one array per model input each:
    calibration images) and judge every output (:func:`compare_outputs`, by ``limits`` when
    given); each run takes one array per model input and returns a list of output arrays, or one
    array. When PyTorch itself gives non-finite
    outputs on those inputs (``log1p`` of negative values), the inputs are wrong for the model,
    not the export: the reason says so and asks for ``--input-range``/``--inputs``."""
    arrays = samples if samples is not None else seeded_inputs(model_inputs, n, inputs=inputs)
    reference = [_as_list(run_reference(*x)) for x in arrays]
    if not all(np.isfinite(o).all() for r in reference for o in r):
        spec = inputs or InputSpec()
        return Verification(
            None,
            samples=len(arrays),
            reason=f"PyTorch itself gives non-finite outputs on {spec.describe()} inputs: not verified; "
            "give the model's input distribution with --input-range LOW,HIGH or --inputs FOLDER",
        )
    return compare_outputs(reference, [_as_list(run_candidate(*x)) for x in arrays], precision, limits)
