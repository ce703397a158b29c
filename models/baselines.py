"""Mobile and transformer baselines from timm definitions, with random weights.

These are what the EdgeViT / ShiftViT / STViT papers compare against, so the Pareto plots put
our families next to the same points. ``pretrained=False`` always: nothing is downloaded.
Published numbers are timm's (results-imagenet.csv for top-1 of the named weights tag, the
benchmark CSV for params / GMACs) unless a paper is named.
"""

from __future__ import annotations

from functools import partial

import timm
import torch.nn as nn

from models._card import ModelCard, Published, Source
from models._registry import register_factory

_TIMM_TOP1 = "timm results-imagenet.csv"
_TIMM_COST = Source("timm benchmark CSV", "params / GMACs at the default input")
_SWIN = Source("arXiv:2103.14030", "Table 1(a)")

# name: (family, input side, params M, GMACs, top-1, weights tag or source of top-1)
_TABLE: dict[str, tuple[str, int, float, float, float, str | Source]] = {
    "mobilenetv2_100": ("mobilenet", 224, 3.50, 0.31, 72.91, "ra_in1k"),
    "mobilenetv3_large_100": ("mobilenet", 224, 5.48, 0.23, 75.78, "ra_in1k"),
    "efficientnet_b0": ("efficientnet", 224, 5.29, 0.40, 77.70, "ra_in1k"),
    "mobilevit_xxs": ("mobilevit", 256, 1.27, 0.42, 68.94, "cvnets_in1k"),
    "mobilevit_xs": ("mobilevit", 256, 2.32, 1.05, 74.62, "cvnets_in1k"),
    "mobilevit_s": ("mobilevit", 256, 5.58, 2.03, 78.30, "cvnets_in1k"),
    "deit_tiny_patch16_224": ("deit", 224, 5.72, 1.26, 72.19, "fb_in1k"),
    "deit_small_patch16_224": ("deit", 224, 22.05, 4.61, 79.86, "fb_in1k"),
    "deit_base_patch16_224": ("deit", 224, 86.57, 17.58, 81.98, "fb_in1k"),
    "pvt_v2_b0": ("pvt_v2", 224, 3.67, 0.57, 70.65, "in1k"),
    "swin_tiny_patch4_window7_224": ("swin", 224, 28.29, 4.51, 81.39, "ms_in1k"),
    "swin_small_patch4_window7_224": ("swin", 224, 50.0, 8.7, 83.0, _SWIN),
    "swin_base_patch4_window7_224": ("swin", 224, 88.0, 15.4, 83.5, _SWIN),
}


def _card(name: str) -> ModelCard:
    family, side, params, macs, top1, tag = _TABLE[name]
    cost = tag if isinstance(tag, Source) else _TIMM_COST
    top1_source = tag if isinstance(tag, Source) else Source(_TIMM_TOP1, f"{name}.{tag}")
    return ModelCard(
        name=name,
        family=family,
        input_shape=(1, 3, side, side),
        params_m=Published(params, cost),
        macs_g=Published(macs, cost),
        top1=Published(top1, top1_source),
        tags=("baseline",),
        **_preprocess(name),
    )


def _preprocess(name: str) -> dict:
    """The evaluation transform of timm's pretrained config for ``name`` (a table shipped with timm,
    nothing downloaded): MobileViT (cvnets weights) takes images in [0, 1] unnormalised."""
    cfg = timm.models.get_pretrained_cfg(name)
    return {
        "mean": tuple(cfg.mean),
        "std": tuple(cfg.std),
        "crop_pct": float(cfg.crop_pct),
        "interpolation": cfg.interpolation,
        "preprocess_source": Source(f"timm {timm.__version__} pretrained_cfg", name),
    }


def _create_timm(name: str, **kwargs) -> nn.Module:
    return timm.create_model(name, pretrained=False, **kwargs)


model_cards = {name: _card(name) for name in _TABLE}

for _name in _TABLE:
    register_factory(_name, partial(_create_timm, _name), model_cards[_name])
