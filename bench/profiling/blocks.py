"""The module hierarchy a profile is reported in.

A *block* is a non-container module (containers are ``nn.Sequential`` / ``ModuleList`` /
``ModuleDict``, which only hold others) at a given semantic depth: depth 1 is the model's own
parts (patch embeddings, each LGL / shift / transformer / semantic-token block or stage, the
head), depth 2 their parts (attention, MLP, norms), and so on. Counting only non-container
levels is also how converters name things (litert-torch drops containers from tensor names),
so the same depth means the same thing for every runtime.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

CONTAINERS = (nn.Sequential, nn.ModuleList, nn.ModuleDict)
TOP_LEVEL = "(top level)"  # ops of the model's own forward, outside every block


@dataclass
class Hierarchy:
    """Blocks at one depth, their execution order and the signature converters name them by."""

    blocks: list[str]  # in execution order
    # block -> ("Class_attr", ...) of every called module on its path (ModuleList/Dict are never called)
    signature: dict[str, tuple[str, ...]]
    depth: int

    def block_of(self, module_path: str) -> str:
        """The block containing a module (by path), or TOP_LEVEL."""
        path = module_path
        while path:
            if path in self.signature:
                return path
            path = path.rsplit(".", 1)[0] if "." in path else ""
        return TOP_LEVEL


def hierarchy(model: nn.Module, input_shape: tuple[int, ...], depth: int = 1) -> Hierarchy:
    """Blocks of ``model`` at ``depth``, ordered by a real forward pass (forward pre-hooks)."""
    modules = dict(model.named_modules())
    chain: dict[str, tuple[str, ...]] = {}  # non-container levels: what "depth" counts
    named: dict[str, tuple[str, ...]] = {}  # called levels (Sequential too): what litert-torch writes
    for path, module in modules.items():
        if not path or isinstance(module, CONTAINERS):
            continue
        parts, called, prefix = [], [], ""
        for name in path.split("."):
            prefix = f"{prefix}.{name}" if prefix else name
            node = modules[prefix]
            label = f"{type(node).__module__}.{type(node).__name__}_{name}"
            if not isinstance(node, CONTAINERS):
                parts.append(label)
            if not isinstance(node, nn.ModuleList | nn.ModuleDict):
                called.append(label)
        chain[path] = tuple(parts)
        named[path] = tuple(called)

    def has_deeper(path: str) -> bool:
        return any(p.startswith(path + ".") and len(c) > len(chain[path]) for p, c in chain.items())

    chosen = {p for p, c in chain.items() if len(c) == depth or (len(c) < depth and not has_deeper(p))}
    order: list[str] = []
    hooks = [
        modules[p].register_forward_pre_hook(lambda _m, _i, p=p: order.append(p) if p not in order else None)
        for p in chosen
    ]
    try:
        with torch.inference_mode():
            model.eval()(torch.randn(input_shape))
    finally:
        for hook in hooks:
            hook.remove()
    order += sorted(chosen - set(order))  # modules the forward never called (kept, at the end)
    return Hierarchy(order, {p: named[p] for p in chosen}, depth)


def block_macs(model: nn.Module, input_shape: tuple[int, ...], blocks: list[str]) -> dict[str, int]:
    """fvcore MACs of each block (inclusive), with the same attention rule as ``bench flops``."""
    import warnings

    from fvcore.nn import FlopCountAnalysis

    from bench.flops import _sdpa_macs

    analysis = FlopCountAnalysis(model.eval(), torch.randn(input_shape))
    analysis = analysis.set_op_handle("aten::scaled_dot_product_attention", _sdpa_macs)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        by_module = analysis.by_module()
        total = int(analysis.total())
    out = {b: int(by_module.get(b, 0)) for b in blocks}
    out[TOP_LEVEL] = max(total - sum(out.values()), 0)
    return out
