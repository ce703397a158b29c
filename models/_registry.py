"""Registry in the style of timm: one tiny factory per variant, looked up by name.

Family modules register their factories with ``@register_model`` and keep their cards in a
module-level ``model_cards`` dict beside them (data next to the factory, as timm keeps
``default_cfgs``). Family modules (and torch, timm with them) are imported on the first
``create_model``. Names and cards alone come from a catalogue that the first load writes to the
user's cache folder (``$XDG_CACHE_HOME/edge-bench/``, else ``~/.cache/edge-bench/``) under
:func:`code_hash`, so commands that only name or describe zoo models (``bench results``, ``bench
ingest``, ``bench report``) start in a fraction of the seconds torch takes to import; editing a
model file, or another torch or timm, makes a new catalogue.
"""

from __future__ import annotations

import difflib
import fnmatch
import importlib
import importlib.metadata
import os
import pickle
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from models._card import ModelCard

if TYPE_CHECKING:
    import torch.nn as nn

_FAMILY_MODULES = (
    "models.edgevit",
    "models.shiftvit",
    "models.stvit",
    "models.stvit_swin",
    "models.vast",
    "models.baselines",
)

_factories: dict[str, Callable[..., nn.Module]] = {}
_cards: dict[str, ModelCard] = {}
_loaded = False
_catalogue: dict[str, ModelCard] | None = None
CATALOGUES_KEPT = 8  # catalogue files kept in the cache folder (one per version of the zoo's code)


class UnknownModelError(KeyError):
    """A model name that is not in the zoo; the message names the closest matches."""

    def __init__(self, name: str, choices: list[str]):
        close = difflib.get_close_matches(name, choices, n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(close)}?" if close else "; run `bench models` to list them"
        self.message = f"unknown model '{name}'{hint}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def register_model(fn: Callable[..., nn.Module]) -> Callable[..., nn.Module]:
    """Register a variant factory under its function name; its card must sit in ``model_cards``."""
    name = fn.__name__
    module_cards = getattr(sys.modules[fn.__module__], "model_cards", {})
    if name not in module_cards:
        raise RuntimeError(f"{fn.__module__}.model_cards has no card for registered model '{name}'")
    if name in _factories:
        raise RuntimeError(f"model '{name}' registered twice")
    _factories[name] = fn
    _cards[name] = module_cards[name]
    return fn


def register_factory(name: str, fn: Callable[..., nn.Module], card: ModelCard) -> None:
    """Register a factory built from a table (baselines) rather than a ``def`` per variant."""
    if name in _factories:
        raise RuntimeError(f"model '{name}' registered twice")
    _factories[name] = fn
    _cards[name] = card


def _ensure_loaded() -> None:
    global _loaded
    if not _loaded:
        for module in _FAMILY_MODULES:
            importlib.import_module(module)
        _loaded = True


def _catalogue_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "edge-bench" / f"zoo-cards-{code_hash()[:16]}.pickle"


def _all_cards() -> dict[str, ModelCard]:
    """Every zoo card by name: from the catalogue file when it matches this code, else by loading
    the family modules (then written for the next process; a cache folder that cannot be written
    only costs the next process the import)."""
    global _catalogue
    if _loaded:
        return _cards
    if _catalogue is not None:
        return _catalogue
    file = _catalogue_file()
    try:
        cards = pickle.loads(file.read_bytes())
        if isinstance(cards, dict) and cards and all(isinstance(c, ModelCard) for c in cards.values()):
            _catalogue = cards
            return cards
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, TypeError, ValueError):
        pass
    _ensure_loaded()
    written = None
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("wb", dir=file.parent, prefix=".zoo-cards-", delete=False) as tmp:
            written = tmp.name
            tmp.write(pickle.dumps(dict(_cards)))
        os.replace(written, file)  # atomic: a process reading at the same time sees the old or the new file
        # the newest few are kept: checkouts of other revisions (bench ab's worktrees) have their own
        kept = sorted(file.parent.glob("zoo-cards-*.pickle"), key=lambda p: p.stat().st_mtime, reverse=True)
        for old in kept[CATALOGUES_KEPT:]:
            old.unlink(missing_ok=True)
    except OSError:  # a full disk or a read-only home: no catalogue, and no half-written file left behind
        if written is not None:
            Path(written).unlink(missing_ok=True)
    return _cards


def list_models(pattern: str = "*", family: str | None = None) -> list[str]:
    """Sorted names of zoo models matching a shell-style pattern (and optionally a family)."""
    cards = _all_cards()
    names = [n for n in cards if fnmatch.fnmatchcase(n, pattern)]
    if family is not None:
        names = [n for n in names if cards[n].family == family]
    return sorted(names)


def get_card(name: str) -> ModelCard:
    """The card of zoo model ``name``. Raises UnknownModelError (a KeyError naming the closest
    names) for a name that is not in the zoo."""
    cards = _all_cards()
    if name not in cards:
        raise UnknownModelError(name, sorted(cards))
    return cards[name]


def create_model(name: str, weights: str | Path | None = None, **overrides) -> nn.Module:
    """Build a zoo model in eval mode with random weights, or with a local checkpoint.

    ``overrides`` go to the family's constructor (e.g. ``num_classes=10``). Weights are never
    downloaded: ``weights`` is a local file read with ``torch.load(..., weights_only=True)``.
    """
    _ensure_loaded()
    if name not in _factories:
        raise UnknownModelError(name, sorted(_factories))
    model = _factories[name](**overrides)
    if weights is not None:
        from models._weights import load_checkpoint

        load_checkpoint(model, weights)
    return model.eval()


def code_hash() -> str:
    """Hash of the zoo's source files and the library versions that define the baselines.

    Anything derived from a model's code (MAC counts, exported artifacts) is cached under a key
    that includes this, so editing a model invalidates what was derived from it.
    """
    import hashlib

    versions = []
    for dist in ("torch", "timm"):
        try:
            versions.append(f"{dist}={importlib.metadata.version(dist)}")
        except importlib.metadata.PackageNotFoundError:
            versions.append(f"{dist}=unknown")
    digest = hashlib.sha256(";".join(versions).encode())
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()
