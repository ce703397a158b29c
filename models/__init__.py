"""The model zoo: lightweight vision models with published facts and their sources.

Importing this package has no side effects and does not import torch: family modules (and
torch, timm) are imported on the first ``create_model``; names and cards come from the registry's
catalogue (see ``models._registry``). Nothing touches torch hubs or downloads.
"""

from models._card import ModelCard, Published, Source
from models._registry import UnknownModelError, code_hash, create_model, get_card, list_models, register_model


def __getattr__(name: str):
    """``CheckpointError`` and ``load_checkpoint`` live with torch (``models._weights``): imported
    when first asked for."""
    if name in ("CheckpointError", "load_checkpoint"):
        from models import _weights

        return getattr(_weights, name)
    raise AttributeError(f"module 'models' has no attribute {name!r}")


__all__ = [
    "CheckpointError",
    "UnknownModelError",
    "code_hash",
    "ModelCard",
    "Published",
    "Source",
    "create_model",
    "get_card",
    "list_models",
    "load_checkpoint",
    "register_model",
]
