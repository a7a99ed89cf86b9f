"""The residual lesson's pieces: plain and residual deep CNNs, add vs concat skips, gradient norms,
landscapes, and the recipe that trains the depth study."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import nn

from e2edl.nn.plain_residual import Block, DeepCNN, blocks_per_stage, weighted_layers
from e2edl.nn.skip_connections import AddSkip, ConcatSkip, conv_bn_relu, dense_block, residual_stack
from e2edl.recipes.residual import FULL_STUDY, QUICK_STUDY, DeepCNNRecipe, build_deep_cnn
from e2edl.train.grad_norms import layer_grad_norms
from e2edl.train.loss_landscape import filter_normalised_direction, loss_along
from e2edl.train.record_every import record_every


@pytest.mark.parametrize("depth", [8, 20, 44])
@pytest.mark.parametrize("residual", [False, True])
def test_depth_counts_weighted_layers_and_shapes(depth: int, residual: bool) -> None:
    model = DeepCNN(depth, residual=residual, width=4)
    assert len(weighted_layers(model)) == depth
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)


def test_bad_depth_is_refused() -> None:
    with pytest.raises(ValueError, match="6n \\+ 2"):
        blocks_per_stage(10)
    assert [blocks_per_stage(d) for d in (8, 20, 32, 44, 56)] == [1, 3, 5, 7, 9]


def test_plain_and_residual_have_the_same_weights_from_the_same_seed() -> None:
    torch.manual_seed(0)
    plain = DeepCNN(20, residual=False, width=4)
    torch.manual_seed(0)
    residual = DeepCNN(20, residual=True, width=4)
    plain_state, residual_state = plain.state_dict(), residual.state_dict()
    assert plain_state.keys() == residual_state.keys()
    assert all(torch.equal(plain_state[k], residual_state[k]) for k in plain_state)
    x = torch.randn(2, 1, 28, 28)
    assert not torch.allclose(plain(x), residual(x))  # the only difference is the + x


def test_shortcut_subsamples_and_zero_pads_channels() -> None:
    block = Block(4, 8, stride=2)
    x = torch.randn(2, 4, 6, 6)
    shortcut = block.shortcut(x)
    assert shortcut.shape == (2, 8, 3, 3)
    assert torch.equal(shortcut[:, :4], x[:, :, ::2, ::2]) and (shortcut[:, 4:] == 0).all()


def test_zero_init_residual_blocks_start_as_the_identity() -> None:
    model = DeepCNN(20, residual=True, width=4, zero_init_residual=True).eval()
    x = torch.relu(torch.randn(2, 4, 28, 28))  # a block's input comes out of a ReLU
    for block in model.blocks[:3]:  # first stage: same shape in and out
        assert torch.equal(block(x), x)


def test_add_keeps_channels_and_concat_grows_them() -> None:
    x = torch.randn(2, 6, 5, 5)
    assert AddSkip(conv_bn_relu(6, 6))(x).shape == (2, 6, 5, 5)
    out = ConcatSkip(conv_bn_relu(6, 4))(x)
    assert out.shape == (2, 10, 5, 5) and torch.equal(out[:, :6], x)  # the input passes through untouched
    assert dense_block(6, growth=4, layers=3)(x).shape == (2, 6 + 3 * 4, 5, 5)
    assert residual_stack(6, layers=3)(x).shape == (2, 6, 5, 5)
    with pytest.raises(RuntimeError):
        AddSkip(conv_bn_relu(6, 4))(x)  # addition needs matching shapes


def test_add_skip_passes_the_gradient_through_unchanged() -> None:
    class Zero(nn.Module):
        def forward(self, x):
            return 0 * x

    x = torch.randn(3, 2, requires_grad=True)
    AddSkip(Zero())(x).sum().backward()
    assert torch.equal(x.grad, torch.ones_like(x))


def test_layer_grad_norms_match_autograd_and_leave_state_alone() -> None:
    torch.manual_seed(0)
    model = DeepCNN(8, residual=True, width=4)
    x, y = torch.randn(16, 1, 28, 28), torch.randint(0, 10, (16,))
    running_mean = model.stem[1].running_mean.clone()
    norms = layer_grad_norms(model, x, y)
    assert [name for name, _ in norms] == [name for name, _ in weighted_layers(model)]
    assert torch.equal(model.stem[1].running_mean, running_mean)
    assert all(p.grad is None for p in model.parameters())
    nn.functional.cross_entropy(model(x), y).backward()
    assert norms[0][1] == pytest.approx(float(model.stem[0].weight.grad.norm()), rel=1e-5)
    assert norms[-1][1] == pytest.approx(float(model.head.weight.grad.norm()), rel=1e-5)


def test_filter_normalised_direction_and_landscape_restore_weights() -> None:
    torch.manual_seed(0)
    model = DeepCNN(8, residual=True, width=4).eval()
    direction = filter_normalised_direction(model, torch.Generator().manual_seed(0))
    weight = model.stem[0].weight
    assert torch.allclose(direction["stem.0.weight"].flatten(1).norm(dim=1), weight.flatten(1).norm(dim=1))
    assert "stem.1.weight" not in direction  # BatchNorm scales (1-D) are not moved
    before = {k: v.clone() for k, v in model.state_dict().items()}
    batch = (torch.randn(8, 1, 28, 28), torch.randint(0, 10, (8,)))
    losses = loss_along(model, direction, [-1.0, 0.0, 1.0], [batch])
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    with torch.no_grad():
        assert losses[1] == pytest.approx(
            float(nn.functional.cross_entropy(model(batch[0]), batch[1])), rel=1e-5
        )
    assert losses[0] != losses[1] != losses[2]


def test_record_every_divides_the_epoch() -> None:
    assert [record_every(n) for n in (117, 39, 468, 7, 2, 1)] == [39, 13, 156, 1, 1, 1]
    assert record_every(12, points=4) == 3
    with pytest.raises(ValueError, match="steps_per_epoch"):
        record_every(0)


def test_the_recipe_gives_plain_and_residual_twins_the_same_start() -> None:
    plain = build_deep_cnn(DeepCNNRecipe(depth=8, residual=False, width=4), seed=3)
    residual = build_deep_cnn(DeepCNNRecipe(depth=8, residual=True, width=4), seed=3)
    other_seed = build_deep_cnn(DeepCNNRecipe(depth=8, residual=True, width=4), seed=4)
    assert all(torch.equal(a, b) for a, b in zip(plain.state_dict().values(), residual.state_dict().values()))
    assert not torch.equal(residual.stem[0].weight, other_seed.stem[0].weight)
    assert plain.residual is False and residual.residual is True


def test_the_studies_train_each_depth_plain_and_residual_then_the_long_plain_runs() -> None:
    names = [recipe.name for recipe in FULL_STUDY.recipes()]
    assert names == ["plain-8-2ep", "residual-8-2ep", "plain-20-2ep", "residual-20-2ep", "plain-44-2ep",
                     "residual-44-2ep", "plain-8-6ep", "plain-44-6ep"]  # fmt: skip
    assert len(set(names)) == len(names)  # one run folder each
    assert [recipe.name for recipe in QUICK_STUDY.recipes()] == ["plain-8-1ep", "residual-8-1ep",
                                                                 "plain-20-1ep", "residual-20-1ep"]  # fmt: skip
    with pytest.raises(dataclasses.FrozenInstanceError):
        FULL_STUDY.recipes()[0].lr = 1.0


def test_train_deep_cnn_stores_its_recipe_and_a_finished_run_is_reused(tmp_path) -> None:
    """The notebook trains with the recipe; the run, with resume=True and the same recipe, reuses it."""
    from e2edl.data.mnist import MNIST
    from e2edl.recipes.residual import train_deep_cnn
    from e2edl.train import CheckpointError

    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (300, 28, 28), dtype=torch.uint8, generator=generator)
    digits = torch.randint(0, 10, (300,), generator=generator)
    data = MNIST(images[:256], digits[:256], images[256:], digits[256:], images[256:], digits[256:], 0.0,
                 "fashion-mnist")  # fmt: skip
    recipe = DeepCNNRecipe(depth=8, residual=True, width=2, epochs=1, batch_size=64)
    model, history = train_deep_cnn(data, recipe, run_dir=tmp_path / recipe.name, progress=False)
    assert [r["step"] for r in history.records] == [1, 2, 3, 4]  # record_every(4 steps) = 1
    again, reused = train_deep_cnn(data, recipe, run_dir=tmp_path / recipe.name, resume=True, progress=False)
    assert reused.records == history.records
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    with pytest.raises(CheckpointError, match="lr"):
        train_deep_cnn(data, dataclasses.replace(recipe, lr=0.05), run_dir=tmp_path / recipe.name, resume=True,
                       progress=False)  # fmt: skip
