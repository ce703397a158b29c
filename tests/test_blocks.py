"""Each family's characteristic block does what its paper says."""

from __future__ import annotations

import pytest
import torch

import models
from models._shift import SPATIAL_MOVES, TEMPORAL_MOVES, shift_along, shift_groups
from models.edgevit import GlobalSparseAttn
from models.shiftvit import ShiftViTBlock, shift_channels
from models.stvit import SemanticTokenBlock, adaptive_max_pool2d
from models.stvit_swin import SemanticAttentionBlock
from models.vast import AffineShift


def official_shift(x: torch.Tensor, n_div: int) -> torch.Tensor:
    """ShiftViT's shift as the official code writes it: slices into a zero tensor."""
    g = x.shape[1] // n_div
    out = torch.zeros_like(x)
    out[:, 0 * g : 1 * g, :, :-1] = x[:, 0 * g : 1 * g, :, 1:]
    out[:, 1 * g : 2 * g, :, 1:] = x[:, 1 * g : 2 * g, :, :-1]
    out[:, 2 * g : 3 * g, :-1, :] = x[:, 2 * g : 3 * g, 1:, :]
    out[:, 3 * g : 4 * g, 1:, :] = x[:, 3 * g : 4 * g, :-1, :]
    out[:, 4 * g :] = x[:, 4 * g :]
    return out


# --- EdgeViT ---------------------------------------------------------------------------


@pytest.mark.parametrize("sr", [1, 2, 4])
def test_sparse_attention_attends_among_delegates_and_propagates_back(sr: int) -> None:
    attn = GlobalSparseAttn(dim=36, num_heads=1, sr_ratio=sr).eval()
    h = w = 8
    tokens = torch.randn(2, h * w, 36)
    delegates = attn.subsample(tokens, h, w)
    assert delegates.shape == (2, (h // sr) * (w // sr), 36)
    assert attn.propagate(delegates, h, w).shape == (2, h * w, 36)
    assert attn(tokens, h, w).shape == (2, h * w, 36)


def test_sparse_attention_delegates_are_the_strided_grid() -> None:
    attn = GlobalSparseAttn(dim=4, num_heads=1, sr_ratio=2)
    tokens = torch.arange(2 * 16 * 4, dtype=torch.float32).reshape(2, 16, 4)
    grid = tokens.transpose(1, 2).reshape(2, 4, 4, 4)
    expected = grid[:, :, ::2, ::2].flatten(2).transpose(1, 2)
    assert torch.equal(attn.subsample(tokens, 4, 4), expected)


def test_local_propagation_is_a_depthwise_transposed_conv_with_kernel_equal_stride() -> None:
    prop = GlobalSparseAttn(dim=36, num_heads=1, sr_ratio=4).LocalProp
    assert isinstance(prop, torch.nn.ConvTranspose2d)
    assert prop.groups == 36 and prop.kernel_size == (4, 4) and prop.stride == (4, 4)


def test_edgevit_local_aggregation_only_where_stage_subsamples() -> None:
    model = models.create_model("edgevit_xxs")
    assert not isinstance(model.blocks1[0].LocalAgg, torch.nn.Identity)  # sr 4
    assert isinstance(model.blocks4[0].LocalAgg, torch.nn.Identity)  # sr 1


# --- ShiftViT --------------------------------------------------------------------------


def test_shift_matches_official_slice_assignment() -> None:
    x = torch.randn(2, 96, 7, 9)
    assert torch.equal(shift_channels(x, 12), official_shift(x, 12))


def test_shift_zero_fills_borders_instead_of_wrapping() -> None:
    x = torch.ones(1, 12, 5, 5)
    y = shift_channels(x, 12)  # groups of one channel: left, right, up, down
    assert y[0, 0, :, -1].eq(0).all() and y[0, 0, :, :-1].eq(1).all()  # left: last column empty
    assert y[0, 1, :, 0].eq(0).all()  # right: first column empty
    assert y[0, 2, -1, :].eq(0).all()  # up: last row empty
    assert y[0, 3, 0, :].eq(0).all()  # down: first row empty
    assert y[0, 4:].eq(1).all()  # the rest untouched
    assert not torch.equal(y[0, :1], torch.roll(x, -1, dims=3)[0, :1])


def test_shiftvit_block_has_no_token_mixing_parameters() -> None:
    block = ShiftViTBlock(dim=48, n_div=12)
    names = {n.split(".")[0] for n, _ in block.named_parameters()}
    assert names == {"norm2", "mlp"}


# --- shared shift helper ---------------------------------------------------------------


@pytest.mark.parametrize("axis,step", [(-1, -1), (-1, 1), (-2, -1), (-2, 1), (-3, -1), (-3, 1)])
def test_shift_along_moves_every_value_exactly_one_position(axis: int, step: int) -> None:
    x = torch.randn(1, 2, 4, 5, 6)
    y = shift_along(x, axis, step)
    n = x.shape[axis]
    src = x.narrow(axis, 0 if step > 0 else 1, n - 1)
    dst = y.narrow(axis, 1 if step > 0 else 0, n - 1)
    border = y.narrow(axis, 0 if step > 0 else n - 1, 1)
    assert torch.equal(src, dst)
    assert border.eq(0).all()


def test_shift_groups_refuses_more_groups_than_channels() -> None:
    with pytest.raises(ValueError, match="do not fit"):
        shift_groups(torch.randn(1, 4, 3, 3), n_div=2, moves=SPATIAL_MOVES)


# --- STViT -----------------------------------------------------------------------------


def test_semantic_module_leaves_16_semantic_tokens_plus_class_token() -> None:
    model = models.create_model("stvit_deit_tiny")
    tokens = torch.randn(1, 197, 192)
    assert model.initial_semantic_tokens(tokens[:, 1:]).shape == (1, 16, 192)
    assert model.semantic_module(tokens).shape == (1, 1 + 16, 192)


def test_semantic_tokens_start_as_spatially_pooled_image_tokens() -> None:
    model = models.create_model("stvit_deit_tiny")
    image = torch.randn(1, 196, 192)
    grid = image.transpose(1, 2).reshape(1, 192, 14, 14)
    # 14 -> 4 adaptive max pooling (STViT-R multi_scale.py): the first cell is the max of rows/columns 0..3
    assert torch.equal(model.initial_semantic_tokens(image)[0, 0], grid[0, :, :4, :4].amax((1, 2)))


@pytest.mark.parametrize("size,out", [(7, 3), (14, 4), (14, 3), (7, 4)])
def test_static_adaptive_max_pool_equals_torch(size: int, out: int) -> None:
    x = torch.randn(2, 5, size, size)
    assert torch.equal(adaptive_max_pool2d(x, out), torch.nn.functional.adaptive_max_pool2d(x, out))


def test_semantic_module_sits_after_layer_4_for_two_layers() -> None:
    model = models.create_model("stvit_deit_small")
    kinds = [type(b).__name__ for b in model.blocks]
    assert kinds == ["Block"] * 4 + ["SemanticTokenBlock"] * 2 + ["Block"] * 6


def unit_layer_scales(block: torch.nn.Module) -> torch.nn.Module:
    """The official blocks start their layer scales at 1e-5; at 1 a change of the keys is visible."""
    for name, p in block.named_parameters():
        if "layer_scale" in name:
            p.data.fill_(1.0)
    return block.eval()


def test_semantic_block_queries_semantic_tokens_against_image_tokens() -> None:
    block = unit_layer_scales(SemanticTokenBlock(dim=64, num_heads=2))
    semantic, image = torch.randn(1, 17, 64), torch.randn(1, 196, 64)
    out = block(semantic, image)  # STViT-R Block(x, y): queries x, keys and values y
    assert out.shape == semantic.shape
    changed = block(semantic, image + torch.randn_like(image))
    assert not torch.allclose(out, changed)  # the image tokens are the keys and values


# --- STViT-R on Swin -------------------------------------------------------------------


@pytest.mark.parametrize("sample,per_window", [(3, 9), (4, 16)])
def test_semantic_attention_block_gives_sample_squared_tokens_per_window(sample: int, per_window: int) -> None:
    # The published configs and logs use SAMPLE_WINDOW_SIZE 3: 9 tokens per 7x7 window; the
    # abstract speaks of 16 per window, which sample_window_size=4 gives.
    block = SemanticAttentionBlock(dim=32, num_heads=2, resolution=14, sample_window_size=sample).eval()
    image = torch.randn(2, 14 * 14, 32)
    assert block.pooled(image).shape == (2 * 4, per_window, 32)  # 2x2 windows of 7x7 per image
    assert block(image).shape == (2, 4 * per_window, 32)


def test_window_tokens_are_recovered_by_attention_over_their_own_window() -> None:
    block = unit_layer_scales(SemanticAttentionBlock(dim=32, num_heads=2, resolution=14))
    image = torch.randn(1, 14, 14, 32)

    def window_tokens(img: torch.Tensor) -> torch.Tensor:  # (windows, 9, C): the 6x6 map cut in 3x3
        with torch.no_grad():
            out = block(img.reshape(1, 196, 32)).view(2, 3, 2, 3, 32)
        return out.permute(0, 2, 1, 3, 4).reshape(4, 9, 32)

    base = window_tokens(image)
    bump = 5.0 * torch.linspace(-1.0, 1.0, 32)  # not constant over channels: LayerNorm would cancel that
    far = image.clone()
    far[0, 13, 13] += bump  # in the bottom-right window, outside the top-left window's 10x10 keys
    moved = window_tokens(far)
    assert torch.equal(moved[0], base[0])  # a global pooling or attention would move these
    assert not torch.allclose(moved[3], base[3], atol=1e-3)
    near = image.clone()
    near[0, 9, 9] += bump  # in the bottom-right window, inside the top-left window's neighbourhood
    assert torch.equal(block.pooled(near.reshape(1, 196, 32))[0], block.pooled(image.reshape(1, 196, 32))[0])
    assert not torch.allclose(window_tokens(near)[0], base[0], atol=1e-3)  # reached through the attention keys only


def test_semantic_stage_repeats_window_semantic_cross_local_global_recover() -> None:
    stage = models.create_model("stvit_swin_tiny").layers[2]
    kinds = [type(b).__name__ for b in stage.blocks]
    assert kinds == ["SwinTransformerBlock", "SemanticAttentionBlock"] + ["SemanticTokenBlock"] * 4
    assert [getattr(b, "local", None) for b in stage.blocks[2:]] == [False, True, False, False]
    assert stage.blocks[0].shift == 0 and stage.num_samples == 36


def test_recovery_block_updates_image_tokens_from_semantic_tokens() -> None:
    stage = models.create_model("stvit_swin_tiny").layers[2]
    recover = unit_layer_scales(stage.blocks[5])
    image, semantic = torch.randn(1, 196, 384), torch.randn(1, 36, 384)
    with torch.no_grad():
        out = recover(image, semantic)
        assert out.shape == image.shape
        shifted = semantic + torch.linspace(-1.0, 1.0, 384)  # a constant shift would vanish in LayerNorm
        assert not torch.allclose(out, recover(image, shifted), atol=1e-3)


# --- VAST ------------------------------------------------------------------------------


def test_affine_shift_shifts_groups_after_projection_and_modulates_per_channel() -> None:
    mixer = AffineShift(dim=24, n_div=12).eval()
    x = torch.randn(2, 24, 6, 6)
    scale, bias = mixer.scale_bias(x)
    assert scale.shape == bias.shape == (2, 24, 1, 1)
    expected = mixer.proj_out(shift_groups(mixer.proj_in(x), 12, SPATIAL_MOVES) * scale + bias)
    assert torch.allclose(mixer(x), expected, atol=1e-6)


def test_affine_modulation_depends_on_the_input() -> None:
    mixer = AffineShift(dim=24, n_div=12)
    with torch.no_grad():
        mixer.affine.weight.normal_()
    a, _ = mixer.scale_bias(torch.randn(1, 24, 4, 4))
    b, _ = mixer.scale_bias(torch.randn(1, 24, 4, 4))
    assert not torch.allclose(a, b)


def test_video_affine_shift_moves_information_between_frames() -> None:
    x = torch.zeros(1, 12, 4, 3, 3)  # (N, C, T, H, W), groups of one channel
    x[:, :, 1] = 1.0  # only frame 1 is lit
    y = shift_groups(x, 12, SPATIAL_MOVES + TEMPORAL_MOVES)
    assert y[0, 4, 0].eq(1).all() and y[0, 4, 1].eq(0).all()  # group 5: to the previous frame
    assert y[0, 5, 2].eq(1).all() and y[0, 5, 1].eq(0).all()  # group 6: to the next frame
    assert y[0, 6:, 1].eq(1).all() and y[0, 6:, [0, 2, 3]].eq(0).all()  # the rest stays put


def test_temporal_shift_needs_video_input() -> None:
    with pytest.raises(ValueError, match="video"):
        AffineShift(dim=24, temporal=True, spatial_dims=2)


def test_video_mixer_reaches_exactly_the_neighbouring_frames() -> None:
    mixer = AffineShift(dim=24, n_div=12, spatial_dims=3, temporal=True).eval()
    with torch.no_grad():
        mixer.affine.weight.zero_()  # constant affine: isolate the shift's receptive field
    clip = torch.randn(1, 24, 6, 4, 4)
    changed = clip.clone()
    changed[:, :, 3] += 1.0
    with torch.no_grad():
        diff = (mixer(changed) - mixer(clip)).abs().amax(dim=(0, 1, 3, 4))
    assert diff[2] > 0 and diff[3] > 0 and diff[4] > 0
    assert diff[0] == 0 and diff[1] == 0 and diff[5] == 0


def test_vast_takes_a_clip_and_returns_kinetics_logits() -> None:
    model = models.create_model("vast_tiny")
    with torch.no_grad():
        assert model(torch.randn(1, 3, 8, 64, 64)).shape == (1, 400)


@pytest.mark.parametrize("shape", [(2, 24, 5, 6), (2, 24, 3, 5, 6)])
def test_vast_norm_equals_groupnorm_with_one_group(shape) -> None:
    from models.vast import GroupNorm1

    ours, reference = GroupNorm1(24), torch.nn.GroupNorm(1, 24)
    with torch.no_grad():
        ours.weight.normal_()
        ours.bias.normal_()
        reference.load_state_dict(ours.state_dict())
    x = torch.randn(shape) * 3 + 1
    assert torch.allclose(ours(x), reference(x), atol=1e-5)
