"""Registry behaviour, forward passes, traceability, checkpoint loading."""

from __future__ import annotations

import functools
from pathlib import Path

import pytest
import torch

import models
from models import CheckpointError, UnknownModelError

ALL = models.list_models()


def num_classes(name: str) -> int:
    return 400 if models.get_card(name).is_video else 1000


class Built:
    """A zoo model as ``create_model`` returns it, one input at its card's shape, and (computed on
    first use) its output on that input."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.card = models.get_card(name)
        self.model = models.create_model(name)
        self.eval_when_created = not self.model.training
        self.x = torch.randn(self.card.input_shape)
        self._out: torch.Tensor | None = None

    @property
    def out(self) -> torch.Tensor:
        if self._out is None:
            with torch.no_grad():
                self._out = self.model(self.x)
        return self._out


@pytest.fixture(scope="module")
def built(request) -> Built:
    """The zoo model named by the test's (indirect) parameter, built once for every test of this
    module that takes it: pytest runs a module-scoped parameter's tests one after another, and holds
    one model at a time. The tests only read the model (forward, export, state dict)."""
    return Built(request.param)


@pytest.mark.slow
@pytest.mark.parametrize("built", ALL, indirect=True)
def test_forward_at_default_input_gives_class_logits(built: Built) -> None:
    assert built.eval_when_created
    assert built.out.shape == (1, num_classes(built.name))
    assert torch.isfinite(built.out).all()


def test_list_models_filters_by_pattern_and_family() -> None:
    assert models.list_models("edgevit*") == ["edgevit_s", "edgevit_xs", "edgevit_xxs"]
    assert set(models.list_models(family="shiftvit")) == {
        "shiftvit_tiny_light",
        "shiftvit_tiny",
        "shiftvit_small_light",
        "shiftvit_small",
        "shiftvit_base_light",
        "shiftvit_base",
    }
    assert {"stvit_deit_tiny", "stvit_deit_small", "stvit_deit_base"} <= set(ALL)
    assert models.list_models("stvit_swin*") == ["stvit_swin_base", "stvit_swin_small", "stvit_swin_tiny"]
    assert {
        "mobilenetv2_100",
        "mobilenetv3_large_100",
        "efficientnet_b0",
        "mobilevit_xxs",
        "mobilevit_xs",
        "mobilevit_s",
        "deit_tiny_patch16_224",
        "deit_small_patch16_224",
    } <= set(ALL)


def test_unknown_model_names_the_closest() -> None:
    with pytest.raises(UnknownModelError, match="did you mean edgevit_xxs"):
        models.create_model("edgevit_xxx")
    with pytest.raises(UnknownModelError):
        models.get_card("resnet9000")


def test_overrides_reach_the_constructor() -> None:
    model = models.create_model("edgevit_xxs", num_classes=10)
    assert model(torch.randn(1, 3, 224, 224)).shape == (1, 10)


def test_importing_models_does_not_load_families() -> None:
    import subprocess
    import sys

    code = "import sys, models; print(any(m.startswith('models.edgevit') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_names_and_cards_come_from_the_catalogue_without_torch(tmp_path) -> None:
    import json
    import os
    import subprocess
    import sys

    code = (
        "import json, sys, models\n"
        "names = models.list_models()\n"
        "card = models.get_card('edgevit_xs')\n"
        "print(json.dumps([names, card.top1.value, str(card.top1.source), 'torch' in sys.modules]))"
    )
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path)}

    def listing() -> list:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
        return json.loads(out.stdout)

    first = listing()  # no catalogue yet: the family modules (and torch) are loaded, and the catalogue written
    assert first[3] is True and first[0] == models.list_models()
    assert first[1:3] == [models.get_card("edgevit_xs").top1.value, str(models.get_card("edgevit_xs").top1.source)]
    (catalogue,) = (tmp_path / "edge-bench").glob("zoo-cards-*.pickle")
    assert listing() == [*first[:3], False]  # the next process reads the same names and cards without torch
    catalogue.write_bytes(b"damaged")
    assert listing() == first  # a damaged catalogue is rebuilt from the code, never trusted
    assert listing()[3] is False


@pytest.mark.parametrize(
    "built,keys",
    [
        (
            "edgevit_xxs",
            [
                "patch_embed1.proj.weight",
                "blocks1.0.LocalAgg.attn.weight",
                "blocks1.0.SelfAttn.attn.LocalProp.weight",
                "blocks3.2.SelfAttn.attn.qkv.bias",
                "norm.running_mean",
                "head.weight",
            ],
        ),
        (
            "shiftvit_tiny_light",
            [
                "patch_embed.proj.weight",
                "patch_embed.norm.weight",
                "layers.0.blocks.1.norm2.weight",
                "layers.0.blocks.1.mlp.fc2.weight",
                "layers.2.downsample.reduction.weight",
                "norm.bias",
                "head.weight",
            ],
        ),
        (
            "stvit_deit_tiny",
            [
                "cls_token",
                "pos_embed",
                "blocks.0.attn.qkv.weight",
                "blocks.4.attn.q.weight",
                "blocks.5.attn.kv.weight",
                "blocks.11.mlp.fc2.bias",
            ],
        ),
    ],
    indirect=["built"],
)
def test_parameter_names_follow_the_official_code(built: Built, keys: list[str]) -> None:
    state = built.model.state_dict()
    missing = [k for k in keys if k not in state]
    assert not missing


# Recorded from the official code (changsn/STViT-R models/swin_transformer.py at b4a27a0, with
# the published config.py options); how it was made is written in the file.
OFFICIAL_STVIT_SWIN = Path(__file__).parent / "fixtures" / "stvit_swin_official_state_dict.json"


@pytest.mark.parametrize("built", ["stvit_swin_tiny", "stvit_swin_small", "stvit_swin_base"], indirect=True)
def test_stvit_swin_state_dict_is_the_official_one_key_for_key(built: Built) -> None:
    import json

    official = json.loads(OFFICIAL_STVIT_SWIN.read_text())["models"][built.name]
    ours = [[key, list(t.shape)] for key, t in built.model.state_dict().items()]
    assert ours == official  # names, shapes, order; buffers (attn_mask, relative_position_index) included


@pytest.mark.parametrize("built", ["shiftvit_tiny_light"], indirect=True)
def test_shiftvit_has_no_bias_in_patch_merging_like_the_official_code(built: Built) -> None:
    state = built.model.state_dict()
    assert "layers.0.downsample.reduction.bias" not in state


# --- traceability ------------------------------------------------------------------------

ONE_PER_FAMILY = [
    "edgevit_xxs",
    "shiftvit_tiny_light",
    "stvit_deit_tiny",
    "stvit_swin_tiny",
    "ast_xxs",
    "vast_tiny",
    "mobilenetv2_100",
]


def _export(built: Built) -> None:
    exported = torch.export.export(built.model, (built.x,), strict=True)
    with torch.no_grad():
        assert torch.allclose(exported.module()(built.x), built.out, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("built", ONE_PER_FAMILY, indirect=True)
def test_family_traces_without_data_dependent_control_flow(built: Built) -> None:
    _export(built)


# Tracing runs a model's forward code, so whether a model traces is a property of that code, not
# of the numbers a variant passes it: each larger variant below is made by its family's constructor
# from the same module classes as the smallest (VARIANT_OF; checked class by class in
# test_every_variant_is_made_of_the_modules_of_a_traced_model), with only widths, depths and head
# counts changed (see each family's registration), and traces as the smallest does. So every model
# of TRACED is traced itself, and every variant has its forward pass checked above. stvit_swin_small
# stands for the Swin-S/B configuration of STViT-R (three semantic groups in stage 3, Swin-T has one);
# the baselines (timm) are traced at their smallest.
TRACED = [*ONE_PER_FAMILY, "deit_tiny_patch16_224", "swin_tiny_patch4_window7_224", "mobilevit_xxs",
          "efficientnet_b0", "mobilenetv3_large_100", "pvt_v2_b0", "stvit_swin_small"]  # fmt: skip
VARIANT_OF = {
    "ast_tiny": "ast_xxs",
    "ast_small": "ast_xxs",
    "vast_small": "vast_tiny",
    "deit_small_patch16_224": "deit_tiny_patch16_224",
    "deit_base_patch16_224": "deit_tiny_patch16_224",
    "edgevit_xs": "edgevit_xxs",
    "edgevit_s": "edgevit_xxs",
    "mobilevit_xs": "mobilevit_xxs",
    "mobilevit_s": "mobilevit_xxs",
    "shiftvit_tiny": "shiftvit_tiny_light",
    "shiftvit_small_light": "shiftvit_tiny_light",
    "shiftvit_small": "shiftvit_tiny_light",
    "shiftvit_base_light": "shiftvit_tiny_light",
    "shiftvit_base": "shiftvit_tiny_light",
    "stvit_deit_small": "stvit_deit_tiny",
    "stvit_deit_base": "stvit_deit_tiny",
    "stvit_swin_base": "stvit_swin_small",
    "swin_small_patch4_window7_224": "swin_tiny_patch4_window7_224",
    "swin_base_patch4_window7_224": "swin_tiny_patch4_window7_224",
}


def test_every_model_is_traced_or_a_variant_of_a_traced_one() -> None:
    assert sorted([*TRACED, *VARIANT_OF]) == sorted(ALL) and set(VARIANT_OF.values()) <= set(TRACED)
    for variant, traced in VARIANT_OF.items():
        assert models.get_card(variant).family == models.get_card(traced).family, variant


@pytest.mark.slow
@pytest.mark.parametrize("built", [n for n in TRACED if n not in ONE_PER_FAMILY], indirect=True)
def test_every_model_traces(built: Built) -> None:
    _export(built)


def classes(model: torch.nn.Module) -> set[str]:
    """The classes (qualified names) of the modules ``model`` is made of."""
    return {f"{type(m).__module__}.{type(m).__qualname__}" for m in model.modules()}


@functools.cache
def traced_classes(name: str) -> frozenset[str]:
    return frozenset(classes(models.create_model(name)))


@pytest.mark.parametrize("built", list(VARIANT_OF), indirect=True)
def test_every_variant_is_made_of_the_modules_of_a_traced_model(built: Built) -> None:
    ours, traced = classes(built.model), traced_classes(VARIANT_OF[built.name])
    assert ours == traced, (built.name, ours ^ traced)


# --- checkpoints ---------------------------------------------------------------------------


def test_state_dict_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    torch.manual_seed(0)
    original = models.create_model("edgevit_xxs")
    path = tmp_path / "edgevit_xxs.pth"
    torch.save({"model": original.state_dict()}, path)  # wrapped, as official checkpoints are
    torch.manual_seed(1)
    loaded = models.create_model("edgevit_xxs", weights=path)
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        assert torch.equal(original(x), loaded(x))


def test_checkpoint_with_wrong_keys_counts_and_lists_them(tmp_path: Path) -> None:
    state = models.create_model("edgevit_xxs").state_dict()
    for key in list(state)[:7]:
        del state[key]
    state["extra.weight"] = torch.zeros(1)
    path = tmp_path / "bad.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError) as info:
        models.create_model("edgevit_xxs", weights=path)
    message = str(info.value)
    assert "7 missing keys: patch_embed1.norm.weight" in message and "(+2 more)" in message
    assert "1 unexpected keys: extra.weight" in message


def test_checkpoint_with_wrong_shapes_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save(models.create_model("edgevit_xs").state_dict(), path)
    with pytest.raises(CheckpointError, match="shape mismatches"):
        models.create_model("edgevit_xxs", weights=path)


def test_ddp_module_prefix_is_stripped(tmp_path: Path) -> None:
    state = {f"module.{k}": v for k, v in models.create_model("ast_xxs").state_dict().items()}
    path = tmp_path / "ddp.pth"
    torch.save(state, path)
    models.create_model("ast_xxs", weights=path)


def test_pickled_objects_are_not_loaded(tmp_path: Path) -> None:
    path = tmp_path / "evil.pth"
    torch.save({"model": models.create_model("ast_xxs")}, path)  # a whole module, not a state dict
    with pytest.raises(CheckpointError, match="not a PyTorch checkpoint"):
        models.create_model("ast_xxs", weights=path)


def test_random_weights_have_no_zero_scales_that_would_let_converters_drop_branches() -> None:
    from export.source import resolve

    model = resolve("mobilevit_xxs").build()  # timm zeroes each residual branch's last norm at init
    zero = [n for n, p in model.named_parameters() if not n.endswith("bias") and not p.any()]
    assert zero == []
    assert model.stages[0][0].conv3_1x1.bn.weight.eq(1).all()
