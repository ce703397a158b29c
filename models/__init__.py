"""The model zoo: lightweight vision models with published facts and their sources.

Importing this package has no side effects: family modules are imported on the first
registry lookup, so ``import models`` stays cheap and never touches torch hubs or files.
"""

from models._card import ModelCard, Published, Source
from models._registry import UnknownModelError, code_hash, create_model, get_card, list_models, register_model
from models._weights import CheckpointError, load_checkpoint

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
