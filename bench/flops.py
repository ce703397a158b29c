"""MACs and parameters per module, from fvcore, cross-checked against torch.utils.flop_counter.

fvcore counts one multiply-add as one "flop", i.e. it counts MACs, which is what the papers
call FLOPs. torch.utils.flop_counter counts two per multiply-add, so its total / 2 is the
cross-check. fvcore skips element-wise ops (add, mul, GELU, softmax, ...) by design; those are
listed in the report, never silently dropped. fvcore has no handle for
``aten::scaled_dot_product_attention`` (timm's fused attention): we add one, otherwise every
attention matmul of DeiT, Swin and MobileViT would vanish from the count.
"""

from __future__ import annotations

import warnings
from collections import Counter
from dataclasses import dataclass, field

import torch
import torch.nn as nn


@dataclass(frozen=True)
class ModuleCost:
    """Params and MACs of one module (a row of ``bench flops``)."""

    name: str
    depth: int
    params: int
    macs: int


@dataclass
class MacsReport:
    """The MAC count of one model at one input shape, with its cross-check."""

    model: str
    input_shape: tuple[int, ...]
    macs: int
    params: int
    flop_counter_macs: int
    skipped_ops: dict[str, int] = field(default_factory=dict)
    modules: list[ModuleCost] = field(default_factory=list)

    @property
    def cross_check_ratio(self) -> float:
        """fvcore MACs / (flop_counter FLOPs / 2); close to 1 (fvcore also counts norms)."""
        return self.macs / self.flop_counter_macs if self.flop_counter_macs else float("nan")

    def to_dict(self) -> dict:
        return {
            "model": self.model,
            "input_shape": list(self.input_shape),
            "unit": "MACs (one multiply-add = 1)",
            "macs": self.macs,
            "params": self.params,
            "flop_counter_macs": self.flop_counter_macs,
            "cross_check_ratio": round(self.cross_check_ratio, 4),
            "skipped_ops": self.skipped_ops,
            "modules": [vars(m) for m in self.modules],
        }


def _sdpa_macs(inputs: list, outputs: list) -> int:
    """MACs of scaled_dot_product_attention: Q @ K^T plus softmax(.) @ V."""
    from fvcore.nn.jit_handles import get_shape

    q, k, v = (get_shape(t) for t in inputs[:3])
    batch = 1
    for d in q[:-2]:
        batch *= d
    length, dim, keys, dim_v = q[-2], q[-1], k[-2], v[-1]
    return batch * length * keys * (dim + dim_v)


def _flop_counter_macs(model: nn.Module, xs: tuple[torch.Tensor, ...]) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(*xs)
    return counter.get_total_flops() // 2


def count_macs(model: nn.Module, input_shape, name: str = "", max_depth: int = 2) -> MacsReport:
    """Count MACs with fvcore on random inputs (``input_shape``: the shape of the one input, or an
    ``export.reference.Inputs`` for several, integer ones 0 or 1); rows down to ``max_depth``.
    The report's ``input_shape`` is the first input's."""
    from fvcore.nn import FlopCountAnalysis, parameter_count

    from export.base import example_tensors
    from export.reference import Inputs
    from export.verify import InputSpec

    inputs = input_shape if isinstance(input_shape, Inputs) else Inputs.of_shape(input_shape)
    model = model.eval()
    xs = example_tensors(inputs, InputSpec().sample(inputs, 1)[0])
    analysis = FlopCountAnalysis(model, xs).set_op_handle("aten::scaled_dot_product_attention", _sdpa_macs)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        total = int(analysis.total())
        by_module = analysis.by_module()
        skipped: Counter[str] = analysis.unsupported_ops()
    params = parameter_count(model)
    rows = [
        ModuleCost(mod or "(total)", 0 if not mod else mod.count(".") + 1, int(params.get(mod, 0)), int(macs))
        for mod, macs in by_module.items()
        if (mod.count(".") + 1 if mod else 0) <= max_depth
    ]
    return MacsReport(
        model=name or type(model).__name__,
        input_shape=inputs.tensors[0].shape,
        macs=total,
        params=int(params[""]),
        flop_counter_macs=_flop_counter_macs(model, xs),
        skipped_ops=dict(sorted(skipped.items(), key=lambda kv: -kv[1])),
        modules=rows,
    )
