"""The mnist-mlp lesson's recipe: its settings, optimisers, schedule, and a training that resumes
only its own checkpoint. Runs on a few hundred fabricated images, in seconds."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, replace

import pytest
import torch

from e2edl.data.mnist import MNIST
from e2edl.nn.mlp import MLP
from e2edl.recipes.mnist_mlp import (
    OPTIMIZERS,
    RECIPE,
    MLPRecipe,
    make_optimizer,
    one_cycle,
    optimiser_variants,
    regularisation_variants,
    train_mlp,
)
from e2edl.train import CheckpointError

TINY = replace(RECIPE, hidden=(16,), epochs=2, batch_size=50)


def fake_mnist(n_train: int = 300, n_val: int = 100) -> MNIST:
    generator = torch.Generator().manual_seed(0)

    def images(n):
        return torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8, generator=generator)

    def labels(n):
        return torch.randint(0, 10, (n,), generator=generator)

    return MNIST(images(n_train), labels(n_train), images(n_val), labels(n_val), images(50), labels(50), 0.0)


def test_the_recipe_is_frozen_and_checks_its_settings() -> None:
    with pytest.raises(FrozenInstanceError):
        RECIPE.lr = 1.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="optimizer must be one of"):
        MLPRecipe(optimizer="rmsprop")
    with pytest.raises(ValueError, match="epochs"):
        MLPRecipe(epochs=0)
    with pytest.raises(ValueError, match="pct_start"):
        MLPRecipe(pct_start=1.0)
    with pytest.raises(ValueError, match="schedule"):
        MLPRecipe(schedule="step")


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_make_optimizer_decays_the_weight_matrices_only(name: str) -> None:
    model = MLP(784, [8], 10)
    optimizer = make_optimizer(model, replace(RECIPE, optimizer=name, weight_decay=0.3))
    expected = {
        "sgd": torch.optim.SGD,
        "momentum": torch.optim.SGD,
        "nesterov": torch.optim.SGD,
        "adam": torch.optim.Adam,
        "adamw": torch.optim.AdamW,
    }[name]
    assert type(optimizer) is expected
    decay, keep = optimizer.param_groups
    assert decay["weight_decay"] == 0.3 and all(p.ndim == 2 for p in decay["params"])
    assert keep["weight_decay"] == 0.0 and all(p.ndim == 1 for p in keep["params"])
    if expected is torch.optim.SGD:
        assert decay["momentum"] == (0.0 if name == "sgd" else RECIPE.momentum)
        assert decay["nesterov"] == (name == "nesterov")


def test_one_cycle_warms_up_for_pct_start_of_the_steps_then_anneals() -> None:
    recipe = replace(RECIPE, lr=0.01, pct_start=0.3)
    optimizer = make_optimizer(MLP(4, [], 2), recipe)
    scheduler = one_cycle(optimizer, recipe, total_steps=100)
    rates, betas = [], []
    for _ in range(100):
        rates.append(optimizer.param_groups[0]["lr"])
        betas.append(optimizer.param_groups[0]["betas"][0])
        optimizer.step()
        scheduler.step()
    assert rates[0] == pytest.approx(0.01 / 25)
    assert max(rates) == pytest.approx(0.01) and rates.index(max(rates)) == 29  # the peak ends step 0.3·100
    assert rates[-1] == pytest.approx(0.01 / 25 / 1e4, rel=0.05)
    assert betas[0] == pytest.approx(0.95) and betas[29] == pytest.approx(0.85)


def test_one_cycle_leaves_plain_sgd_without_momentum() -> None:
    recipe = replace(RECIPE, optimizer="sgd", lr=0.1)
    optimizer = make_optimizer(MLP(4, [], 2), recipe)
    scheduler = one_cycle(optimizer, recipe, total_steps=10)
    for _ in range(5):
        optimizer.step()
        scheduler.step()
    assert optimizer.param_groups[0]["momentum"] == 0.0


def test_the_studies_change_what_they_say() -> None:
    variants = optimiser_variants(replace(RECIPE, epochs=1))
    assert list(variants) == list(OPTIMIZERS) and all(len(v) == 4 for v in variants.values())
    assert [r.lr for r in variants["sgd"]] == [r.lr for r in variants["momentum"]]  # shared rates
    for name, recipes in variants.items():
        assert all(r.optimizer == name and r.schedule == "constant" and r.epochs == 1 for r in recipes)
        assert all(r.weight_decay == (RECIPE.weight_decay if name == "adamw" else 0.0) for r in recipes)
    base = replace(RECIPE, dropout=0.0, weight_decay=0.0)
    regularised = regularisation_variants(base)
    assert regularised["none"] == replace(base, schedule="constant", evals_per_epoch=1)
    assert regularised["augmentation (shifts ±2 px)"].shift == 2
    assert regularised["all three"].dropout > 0 and regularised["all three"].weight_decay > 0


def test_train_mlp_checks_validation_twice_per_epoch_and_reuses_only_its_own_checkpoint(tmp_path) -> None:
    data = fake_mnist()
    model, history = train_mlp(data, TINY, run_dir=tmp_path / "mlp", progress=False)
    assert isinstance(model, MLP)
    assert [r["epoch"] for r in history.records] == [0.5, 1, 1.5, 2]
    assert all(0 <= r["val_accuracy"] <= 1 for r in history.records)

    again_model, again = train_mlp(data, TINY, run_dir=tmp_path / "mlp", resume=True, progress=False)
    assert again.records == history.records  # finished: reused, not trained again
    for p, q in zip(model.parameters(), again_model.parameters()):
        assert torch.equal(p, q)

    with pytest.raises(CheckpointError, match="lr"):
        train_mlp(data, replace(TINY, lr=1e-2), run_dir=tmp_path / "mlp", resume=True, progress=False)
    with pytest.raises(CheckpointError, match="train_images"):
        train_mlp(fake_mnist(n_train=200), TINY, run_dir=tmp_path / "mlp", resume=True, progress=False)


def test_train_mlp_is_repeatable_from_its_seed() -> None:
    data = fake_mnist()
    recipe = replace(TINY, epochs=1, shift=2, dropout=0.2)
    first = train_mlp(data, recipe, seed=3, progress=False)[1].records
    second = train_mlp(data, recipe, seed=3, progress=False)[1].records
    assert [r["val_loss"] for r in first] == [r["val_loss"] for r in second]
