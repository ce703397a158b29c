"""Artifact: one exported file and everything needed to trust and reproduce it."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass
class Verification:
    """How the exported model's outputs compare with PyTorch's on seeded random inputs.

    ``passed`` is None when the format cannot be run here (CoreML off macOS); ``reason`` says why.
    """

    passed: bool | None
    max_abs_diff: float | None = None
    cosine: float | None = None
    top1_agreement: float | None = None
    samples: int = 0
    thresholds: dict = field(default_factory=dict)
    reason: str = ""


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

    @property
    def ok(self) -> bool:
        return self.error is None and (self.verification is None or self.verification.passed is not False)

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
