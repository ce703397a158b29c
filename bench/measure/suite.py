"""Named suites of zoo models."""

from __future__ import annotations

from bench.errors import BenchError

# What a user needs for an EdgeViT-style Pareto comparison on a 2-core host in minutes:
# every EdgeViT, the light ShiftViTs, STViT on DeiT-T/S and STViT-R on Swin-T, the smallest
# Affine-Shift image model, and the mobile baselines the papers compare with. Heavy reference
# points (DeiT-B, Swin, STViT-R-Swin-S/B) and video models are in the full suite only.
DEFAULT_SUITE: tuple[str, ...] = (
    "edgevit_xxs",
    "edgevit_xs",
    "edgevit_s",
    "shiftvit_tiny_light",
    "shiftvit_small_light",
    "shiftvit_base_light",
    "stvit_deit_tiny",
    "stvit_deit_small",
    "stvit_swin_tiny",
    "ast_xxs",
    "mobilenetv2_100",
    "mobilenetv3_large_100",
    "efficientnet_b0",
    "mobilevit_xxs",
    "mobilevit_xs",
    "mobilevit_s",
    "deit_tiny_patch16_224",
    "deit_small_patch16_224",
)

SUITES = ("default", "full")


def suite_models(suite: str) -> list[str]:
    """The zoo model names of a named suite."""
    import models  # the zoo (and torch) only where zoo names are resolved

    if suite == "default":
        return list(DEFAULT_SUITE)
    if suite == "full":
        return models.list_models()
    raise BenchError(f"unknown suite '{suite}'; choose from: {', '.join(SUITES)}")


def resolve_models(patterns: list[str] | None, suite: str = "default") -> list[str]:
    """Model names from names / shell patterns, or the suite when none are given."""
    import models

    if not patterns:
        return suite_models(suite)
    names: list[str] = []
    for pattern in patterns:
        matched = models.list_models(pattern) if any(c in pattern for c in "*?[") else None
        if matched == []:
            raise BenchError(f"no zoo model matches '{pattern}'; run `bench models` to list them")
        for name in matched or [models.get_card(pattern).name]:
            if name not in names:
                names.append(name)
    return names
