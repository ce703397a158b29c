"""Loading local checkpoints safely and with messages a user can act on."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn as nn

# Official checkpoints wrap the state dict under one of these keys (DeiT / SPACH use "model").
_WRAPPER_KEYS = ("model", "state_dict", "model_state_dict", "module")
_SHOW = 5


class CheckpointError(ValueError):
    """A weights file that is missing, unreadable, or does not fit the model."""


def _read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    if not path.is_file():
        raise CheckpointError(f"weights file not found: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch.load raises anything (KeyError, ...) on garbage
        detail = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else ""
        raise CheckpointError(
            f"{path} is not a PyTorch checkpoint (torch.load with weights_only=True failed: "
            f"{type(exc).__name__} {detail})".replace(" )", ")")
        ) from None
    for key in _WRAPPER_KEYS:
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
            break
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise CheckpointError(f"{path} holds no state dict of tensors (found {type(obj).__name__})")
    # Checkpoints saved from DataParallel / DDP prefix every key with "module.".
    if obj and all(k.startswith("module.") for k in obj):
        obj = {k.removeprefix("module."): v for k, v in obj.items()}
    return obj


def _listing(keys: list[str]) -> str:
    shown = ", ".join(keys[:_SHOW])
    return shown + (f", ... (+{len(keys) - _SHOW} more)" if len(keys) > _SHOW else "")


def load_checkpoint(model: nn.Module, path: str | Path) -> None:
    """Load a local checkpoint strictly; any missing, unexpected or mis-shaped key is an error."""
    path = Path(path)
    state = _read_state_dict(path)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    mismatched = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and state[k].shape != v.shape
    ]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing keys: {_listing(missing)}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected keys: {_listing(unexpected)}")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatches: {_listing(mismatched)}")
    if problems:
        raise CheckpointError(f"{path} does not fit {type(model).__name__}: " + "; ".join(problems))
    model.load_state_dict(state, strict=True)


def _is_norm(module: nn.Module) -> bool:
    """Normalization layers whose ``weight`` is a scale: torch's batch/instance/layer/group norms
    and any subclass (timm's ``LayerNorm2d``, ``BatchNormAct2d``, ...), and RMSNorm."""
    norms = (nn.modules.batchnorm._NormBase, nn.LayerNorm, nn.GroupNorm, nn.LocalResponseNorm)
    return isinstance(module, norms) or type(module).__name__.endswith(("RMSNorm", "LayerNorm2d"))


def unzero_scales(model: nn.Module) -> list[str]:
    """Give the all-zero scales (``weight``) of the normalization layers of a randomly initialised
    zoo model the value 1; nothing else is touched.

    Some definitions zero the last norm of each residual branch at init (timm's ``zero_init_last``,
    used by MobileViT) so that training starts from the identity. With random weights such a
    branch computes nothing, and converters fold it away (the TFLite export of MobileViT-XXS
    lost three of its seven bottleneck blocks), so the artifact would be faster than the trained
    model. Trained scales are not zero. Zero-initialised parameters that are not norm scales
    (positional embeddings, a zero 1x1 conv, layer-scale gammas) keep their zeros, and the export
    pipeline never calls this for a user's model or a checkpoint. Returns the names changed, which
    the artifact records."""
    changed = []
    with torch.no_grad():
        for module_name, module in model.named_modules():
            weight = getattr(module, "weight", None)
            if not _is_norm(module) or not isinstance(weight, nn.Parameter):
                continue
            if weight.numel() > 0 and not weight.any():
                weight.fill_(1.0)
                changed.append(f"{module_name}.weight" if module_name else "weight")
    return changed
