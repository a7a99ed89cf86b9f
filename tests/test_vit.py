"""The hand-written ViT: patches, positions, norms, rollout, and timm's ViT as the oracle."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from e2edl.nn.vit import (
    Block,
    PatchEmbedding,
    ViT,
    ViTConfig,
    attention_maps,
    attention_rollout,
    cls_rollout,
    patchify,
    position_similarity,
    sincos_positions,
)

MNIST_LIKE = ViTConfig(image_size=28, patch_size=7, in_channels=1, num_classes=10, dim=32, depth=2, n_heads=4)
PETS_LIKE = ViTConfig(image_size=32, patch_size=8, in_channels=3, num_classes=2, dim=48, depth=3, n_heads=3,
                      mlp_ratio=4.0)  # fmt: skip


pytestmark = pytest.mark.usefixtures("one_thread")


def images_for(cfg: ViTConfig, batch: int = 3, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, cfg.in_channels, cfg.image_size, cfg.image_size, generator=g)


@pytest.mark.parametrize(("channels", "size", "patch"), [(1, 28, 7), (1, 28, 4), (3, 64, 8), (3, 12, 3)])
def test_strided_conv_equals_unfold_then_linear(channels, size, patch) -> None:
    torch.manual_seed(0)
    embed = PatchEmbedding(patch, channels, dim=20)
    x = torch.randn(2, channels, size, size)
    patches = patchify(x, patch)  # (B, N, C·P·P)
    assert patches.shape == (2, (size // patch) ** 2, channels * patch * patch)
    linear = nn.Linear(channels * patch * patch, 20)
    with torch.no_grad():
        linear.weight.copy_(embed.proj.weight.flatten(1))
        linear.bias.copy_(embed.proj.bias)
    torch.testing.assert_close(embed(x), linear(patches), atol=1e-5, rtol=1e-5)


def test_patchify_reads_patches_row_by_row() -> None:
    x = torch.arange(16.0).reshape(1, 1, 4, 4)
    patches = patchify(x, 2)
    assert patches[0, 0].tolist() == [0, 1, 4, 5]  # top-left patch
    assert patches[0, 1].tolist() == [2, 3, 6, 7]  # top-right patch: next along the row
    assert patches[0, 3].tolist() == [10, 11, 14, 15]


def test_sincos_positions() -> None:
    pos = sincos_positions(grid=4, dim=16)
    assert pos.shape == (16, 16)
    assert pos.abs().max() <= 1
    assert torch.cdist(pos, pos).add(torch.eye(16)).min() > 0.1  # every position distinct
    # Patches in the same row share the row half of their vector.
    torch.testing.assert_close(pos[0, :8], pos[3, :8])
    similarity = position_similarity(torch.cat([torch.zeros(1, 16), pos]), grid=4)
    assert similarity.shape == (4, 4, 4, 4)
    torch.testing.assert_close(similarity[1, 2, 1, 2], torch.tensor(1.0))
    assert similarity[0, 0, 0, 1] > similarity[0, 0, 0, 3]  # nearer patches look more alike
    with pytest.raises(ValueError, match="divisible by 4"):
        sincos_positions(4, 18)


@pytest.mark.parametrize("cfg", [MNIST_LIKE, PETS_LIKE])
def test_shapes_and_parameter_names_match_timm(cfg: ViTConfig) -> None:
    ours, theirs = ViT(cfg), VisionTransformer(**cfg.timm_kwargs())
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: v.shape for k, v in theirs.state_dict().items()
    }
    x = images_for(cfg)
    assert ours(x).shape == (3, cfg.num_classes)
    assert ours.forward_features(x).shape == (3, cfg.grid**2 + 1, cfg.dim)


@pytest.mark.parametrize("cfg", [MNIST_LIKE, PETS_LIKE])
def test_timm_weights_give_identical_outputs_in_our_vit(cfg: ViTConfig) -> None:
    torch.manual_seed(1)
    theirs = VisionTransformer(**cfg.timm_kwargs()).eval()
    with torch.no_grad():  # timm starts biases at 0 and the CLS token near 0; make every weight count
        for p in theirs.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    ours = ViT(cfg).eval()
    ours.load_state_dict(theirs.state_dict())  # strict: every name present and used
    x = images_for(cfg, seed=2)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(ours.forward_features(x), theirs.forward_features(x), atol=1e-5, rtol=1e-5)


def test_our_weights_give_identical_outputs_in_timm() -> None:
    torch.manual_seed(3)
    ours = ViT(PETS_LIKE).eval()
    theirs = VisionTransformer(**PETS_LIKE.timm_kwargs()).eval()
    theirs.load_state_dict(ours.state_dict())
    x = images_for(PETS_LIKE, seed=4)
    with torch.no_grad():
        torch.testing.assert_close(theirs(x), ours(x), atol=1e-5, rtol=1e-5)


def test_fixed_sincos_positions_are_a_saved_buffer_not_a_parameter() -> None:
    cfg = replace(MNIST_LIKE, positions="sincos")
    model = ViT(cfg)
    assert "pos_embed" in model.state_dict()
    assert all(name != "pos_embed" for name, _ in model.named_parameters())
    assert model.pos_embed[0, 0].abs().sum() == 0  # the CLS token's slot carries no position
    theirs = VisionTransformer(**cfg.timm_kwargs()).eval()
    theirs.load_state_dict(model.state_dict())  # still loads into timm, as its pos_embed
    x = images_for(cfg)
    with torch.no_grad():
        torch.testing.assert_close(theirs(x), model.eval()(x), atol=1e-5, rtol=1e-5)


def test_batchnorm_depends_on_the_batch_and_layernorm_does_not() -> None:
    torch.manual_seed(0)
    x = torch.randn(4, 10, 16) * 2 + 1  # (B, T, D)
    others = torch.randn(4, 10, 16) * 5 - 3
    padded = torch.cat([x, torch.zeros(4, 6, 16)], dim=1)  # six padding tokens after each sequence
    for norm in ("layer", "batch"):
        block = Block(ViTConfig(dim=16, n_heads=2, norm=norm)).train()
        with torch.no_grad():
            alone = block.norm1(x)[:1]
            in_other_company = block.norm1(torch.cat([x[:1], others[1:]]))[:1]
            one = block.norm1(x[:1])
            with_padding = block.norm1(padded)[:, :10]
            block.eval()
            eval_mode = block.norm1(x)
            block.train()
            train_mode = block.norm1(x)
        same = norm == "layer"
        assert torch.allclose(alone, in_other_company, atol=1e-5) is same  # the other examples
        assert torch.allclose(alone, one, atol=1e-5) is same  # a batch of one
        assert torch.allclose(train_mode, with_padding, atol=1e-5) is same  # padding tokens
        assert torch.allclose(train_mode, eval_mode, atol=1e-5) is same  # train vs eval mode


def test_attention_rollout() -> None:
    torch.manual_seed(0)
    model = ViT(MNIST_LIKE).eval()
    x = images_for(MNIST_LIKE, batch=2)
    maps = attention_maps(model, x)
    T = MNIST_LIKE.grid**2 + 1
    assert len(maps) == MNIST_LIKE.depth and maps[0].shape == (2, MNIST_LIKE.n_heads, T, T)
    assert all(not block.attn.keep_attention for block in model.blocks)  # switched back off
    rollout = attention_rollout(maps)
    assert rollout.shape == (2, T, T) and (rollout >= 0).all()
    torch.testing.assert_close(rollout.sum(-1), torch.ones(2, T))
    one_block = attention_rollout(maps[:1])
    torch.testing.assert_close(one_block, (maps[0].mean(1) + torch.eye(T)) / 2)
    heat = cls_rollout(model, x)
    assert heat.shape == (2, MNIST_LIKE.grid, MNIST_LIKE.grid)
    torch.testing.assert_close(heat.sum((1, 2)), torch.ones(2))


def test_conv_stem_makes_the_same_token_grid() -> None:
    cfg = replace(PETS_LIKE, stem="conv")
    model = ViT(cfg).eval()
    x = images_for(cfg)
    assert model.patch_embed(x).shape == ViT(PETS_LIKE).patch_embed(x).shape == (3, cfg.grid**2, cfg.dim)
    assert model(x).shape == (3, 2)
    with pytest.raises(ValueError, match="power-of-two"):
        ViT(ViTConfig(stem="conv", patch_size=7))


def test_bad_configs_are_refused() -> None:
    with pytest.raises(ValueError, match="multiple of patch_size"):
        ViT(ViTConfig(image_size=30, patch_size=7))
    with pytest.raises(ValueError, match="positions"):
        ViT(ViTConfig(positions="rope"))
    with pytest.raises(ValueError, match="norm"):
        ViT(ViTConfig(norm="group"))
    with pytest.raises(ValueError, match="stem"):
        ViT(ViTConfig(stem="resnet"))
    with pytest.raises(ValueError, match="timm twin"):
        ViTConfig(norm="batch").timm_kwargs()
    with pytest.raises(ValueError, match="timm twin"):
        ViTConfig(stem="conv", patch_size=4).timm_kwargs()
