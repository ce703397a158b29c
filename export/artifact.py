"""Artifact: one exported file and everything needed to trust and reproduce it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Verification:
    """How the exported model's outputs compare with PyTorch's on seeded random inputs.

    ``passed`` is None when the format cannot be run here (CoreML off macOS) or PyTorch's own
    outputs are not finite on the inputs; ``reason`` says why. ``checks`` lists what was checked
    short of running the file (the traced graph against PyTorch, for CoreML off macOS); ``inputs``
    describes the input distribution (:class:`export.verify.InputSpec`).
    """

    passed: bool | None
    max_abs_diff: float | None = None
    cosine: float | None = None
    top1_agreement: float | None = None
    samples: int = 0
    thresholds: dict = field(default_factory=dict)
    reason: str = ""
    checks: list[str] = field(default_factory=list)
    inputs: str = ""


@dataclass
class Artifact:
    model: str
    format: str
    precision: str
    path: str | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    inputs: list[dict] = field(default_factory=list)  # [{"name": ..., "shape": [...]}]
    outputs: list[dict] = field(default_factory=list)
    converter: str = ""
    versions: dict[str, str] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    cache_key: str = ""
    verification: Verification | None = None
    export_seconds: float | None = None
    cached: bool = False
    error: str | None = None
    weights: str = ""  # the checkpoint's sha256, or how random weights were made
    weights_changed: list[str] = field(default_factory=list)  # zoo norm scales set from 0 to 1
    dependencies: dict[str, str] = field(default_factory=dict)  # module or package -> sha256 or version
    reverified: bool | None = None  # a cache hit re-checked against today's PyTorch model (None: not run)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Exported, and either verified, or not runnable here but checked another way. An export that
        is neither verified nor checked is not ok (the CLI exits 1), nor is a failed verification."""
        if self.error is not None:
            return False
        v = self.verification
        return v is None or v.passed is True or (v.passed is None and bool(v.checks))

    @property
    def verified(self) -> bool | None:
        return None if self.verification is None else self.verification.passed

    def to_dict(self) -> dict:
        """The JSON form ``bench export --json`` prints (one object per artifact)."""
        v = self.verification
        data = asdict(self)
        data.pop("verification")
        data.update(
            verified=self.verified,
            max_abs_diff=v.max_abs_diff if v else None,
            cosine=v.cosine if v else None,
            top1_agreement=v.top1_agreement if v else None,
            verification=asdict(v) if v else None,
        )
        return data

    @classmethod
    def from_dict(cls, data: dict) -> Artifact:
        fields = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        if fields.get("verification") is not None:
            fields["verification"] = Verification(**fields["verification"])
        return cls(**fields)

    def save(self, path: Path) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.to_dict(), indent=2))
        tmp.replace(path)
