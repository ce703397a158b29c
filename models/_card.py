"""ModelCard: what a zoo model is and the published numbers it is judged against.

Every published number carries its source, because reports put published accuracy next to
measured latency and a reader must be able to check where each number came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Source:
    """Where a number comes from: an arXiv id (or a repository file) and the table or line."""

    ref: str
    where: str = ""

    def __str__(self) -> str:
        return f"{self.ref} {self.where}".strip()


@dataclass(frozen=True)
class Published:
    """One published number with its source; ``value`` is None when nothing was published."""

    value: float | None
    source: Source | None = None
    note: str = ""

    @property
    def known(self) -> bool:
        return self.value is not None


UNKNOWN = Published(None, note="no published number")


# ImageNet normalisation used by torchvision and timm's default configs (timm.data.constants
# IMAGENET_DEFAULT_MEAN / IMAGENET_DEFAULT_STD); images in [0, 1] are normalised per channel.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
# The evaluation transform of DeiT, which EdgeViT, ShiftViT, STViT and VAST follow for ImageNet
# top-1: shorter side resized to input / 0.875 with bicubic interpolation, centre crop.
DEIT_EVAL = Source(
    "facebookresearch/deit datasets.py build_transform", "eval: Resize(int(size / 0.875), bicubic) + CenterCrop"
)


@dataclass(frozen=True)
class ModelCard:
    """Static facts about one zoo model.

    ``params_m`` and ``macs_g`` are the numbers our implementation is checked against (the
    official code's numbers where they exist, since official checkpoints must load);
    ``paper_params_m`` / ``paper_macs_g`` keep what the paper printed when it differs, and
    ``note`` explains the disagreement. "FLOPs" in these papers are multiply-adds (MACs).
    """

    name: str
    family: str
    input_shape: tuple[int, ...]
    params_m: Published = UNKNOWN
    macs_g: Published = UNKNOWN
    top1: Published = UNKNOWN
    dataset: str = "ImageNet-1k"
    task: str = "image-classification"
    paper_params_m: Published = UNKNOWN
    paper_macs_g: Published = UNKNOWN
    note: str = ""
    tags: tuple[str, ...] = field(default_factory=tuple)
    mean: tuple[float, ...] = IMAGENET_MEAN  # preprocessing: (image in [0, 1] - mean) / std per channel
    std: tuple[float, ...] = IMAGENET_STD
    crop_pct: float = 0.875  # evaluation: shorter side resized to size / crop_pct, then a centre crop
    interpolation: str = "bicubic"
    preprocess_source: Source = DEIT_EVAL

    @property
    def input_range(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """Per-channel (low, high) of the model's preprocessed inputs: images in [0, 1] normalised
        with the card's mean and std; what export verification feeds the model by default."""
        return (
            tuple(round((0 - m) / s, 6) for m, s in zip(self.mean, self.std, strict=True)),
            tuple(round((1 - m) / s, 6) for m, s in zip(self.mean, self.std, strict=True)),
        )

    @property
    def is_video(self) -> bool:
        return len(self.input_shape) == 5

    @property
    def short_sources(self) -> str:
        """The distinct references only (arXiv ids, repositories), for narrow tables."""
        refs: list[str] = []
        for number in (self.params_m, self.macs_g, self.top1, self.paper_params_m, self.paper_macs_g):
            if number.source is not None and number.source.ref not in refs:
                refs.append(number.source.ref)
        return "; ".join(refs)

    @property
    def sources(self) -> list[str]:
        """Distinct sources of the card's numbers, in order of appearance."""
        seen: list[str] = []
        for number in (self.params_m, self.macs_g, self.top1, self.paper_params_m, self.paper_macs_g):
            if number.source is not None and str(number.source) not in seen:
                seen.append(str(number.source))
        return seen
