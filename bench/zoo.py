"""Zoo listing with measured params and MACs beside the published numbers.

Measured MACs take a trace per model (seconds for the large ones), so they are cached in
``results/cache/macs.json`` under the zoo's code hash: editing a model recounts it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.paths import cache_dir

if TYPE_CHECKING:  # the zoo (and torch) is imported where a zoo model is looked at
    import models


@dataclass(frozen=True)
class ZooRow:
    name: str
    family: str
    input_shape: tuple[int, ...]
    params_m: float
    macs_g: float
    card: models.ModelCard

    def to_dict(self) -> dict:
        card = self.card
        return {
            "name": self.name,
            "family": self.family,
            "task": card.task,
            "input_shape": list(self.input_shape),
            "params_m": round(self.params_m, 3),
            "published_params_m": card.params_m.value,
            "macs_g": round(self.macs_g, 4),
            "published_macs_g": card.macs_g.value,
            "published_top1": card.top1.value,
            "dataset": card.dataset,
            "sources": card.sources,
            "note": card.note,
        }


def _load_cache(key: str) -> dict[str, list[float]]:
    path = cache_dir() / "macs.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data.get("entries", {}) if data.get("key") == key else {}


def _save_cache(key: str, entries: dict[str, list[float]]) -> None:
    path = cache_dir() / "macs.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"key": key, "entries": entries}, indent=1, sort_keys=True))
    tmp.replace(path)


def zoo_rows(names: list[str], on_measure: Callable[[str], None] | None = None) -> list[ZooRow]:
    """Rows for ``names``, counting (and caching) MACs for models not counted yet."""
    import models
    from bench.flops import count_macs

    key = models.code_hash()
    cache = _load_cache(key)
    rows = []
    for name in names:
        card = models.get_card(name)
        if name not in cache:
            if on_measure is not None:
                on_measure(name)
            report = count_macs(models.create_model(name), card.input_shape, name, max_depth=0)
            cache[name] = [report.params / 1e6, report.macs / 1e9]
            _save_cache(key, cache)
        params_m, macs_g = cache[name]
        rows.append(ZooRow(name, card.family, card.input_shape, params_m, macs_g, card))
    return rows


def macs_of(model: str) -> int | None:
    """MACs of a zoo model (from the cache); None for anything else (a user's file)."""
    from export.reference import is_model_file, is_user_reference

    if is_model_file(model) or is_user_reference(model):  # not a zoo name: no need to load the zoo
        return None
    import models as zoo

    try:
        zoo.get_card(model)
    except KeyError:
        return None
    return int(round(zoo_rows([model])[0].macs_g * 1e9))
