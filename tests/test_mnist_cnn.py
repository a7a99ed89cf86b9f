"""The mnist-cnn lesson's network (``e2edl.nn.cnn``) and recipe (``e2edl.recipes.mnist_cnn``)."""

from dataclasses import FrozenInstanceError, asdict, fields, replace

import pytest
import torch
from torch import nn

from e2edl.data.mnist import MNIST
from e2edl.nn.cnn import MnistCNN
from e2edl.recipes.mnist_cnn import ACCURACY, QUICK_SPEED, SPEED, CNNRecipe, ablations, train_cnn
from e2edl.train import CheckpointError, load_checkpoint

pytestmark = pytest.mark.usefixtures("one_thread")


def fake_mnist(n_train: int = 128, n_val: int = 32, seed: int = 0) -> MNIST:
    """Random uint8 digits with labels, in the shape of the real thing."""
    g = torch.Generator().manual_seed(seed)

    def split(n):
        return torch.randint(0, 256, (n, 28, 28), generator=g, dtype=torch.uint8), torch.randint(
            0, 10, (n,), generator=g
        )

    return MNIST(*split(n_train), *split(n_val), *split(16), load_seconds=0.0)


@pytest.mark.parametrize("batchnorm", [True, False])
def test_cnn_shapes_and_parameters(batchnorm: bool) -> None:
    model = MnistCNN(16, 32, 128, batchnorm=batchnorm).eval()
    assert model(torch.randn(3, 1, 28, 28)).shape == (3, 10)
    norms = [m for m in model if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d))]
    assert len(norms) == (3 if batchnorm else 0)
    convs = [m for m in model if isinstance(m, nn.Conv2d)]
    assert all((m.bias is None) == batchnorm for m in convs)  # BatchNorm's shift replaces the bias


def test_recipes_are_frozen_and_ablations_change_one_ingredient() -> None:
    with pytest.raises(FrozenInstanceError):
        SPEED.lr = 1.0
    assert QUICK_SPEED == replace(SPEED, epochs=1) and ACCURACY.widths == (32, 64, 256)
    for label, variant in ablations(SPEED).items():
        changed = {f.name for f in fields(CNNRecipe) if getattr(variant, f.name) != getattr(SPEED, f.name)}
        assert changed - {"evals_per_epoch"} and len(changed - {"evals_per_epoch"}) == 1, (label, changed)
    with pytest.raises(ValueError, match="epochs"):
        CNNRecipe(epochs=0)


def test_train_cnn_checks_validation_and_a_finished_run_is_reused(tmp_path) -> None:
    data = fake_mnist()
    recipe = replace(SPEED, batch_size=16, epochs=1)  # 8 steps, checked after 4 and 8
    model, history = train_cnn(data, recipe, run_dir=tmp_path / "speed", progress=False, device="cpu")
    assert [r["epoch"] for r in history.records] == [0.5, 1]
    assert all(0 <= r["val_accuracy"] <= 1 for r in history.records)
    assert load_checkpoint(tmp_path / "speed" / "checkpoint.pt")["config"] == asdict(recipe)

    again, reused = train_cnn(
        data, recipe, run_dir=tmp_path / "speed", resume=True, progress=False, device="cpu"
    )
    assert reused.records == history.records  # nothing trained again
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), again.state_dict().values()))
    with pytest.raises(CheckpointError, match="lr"):
        train_cnn(data, replace(recipe, lr=0.05), run_dir=tmp_path / "speed", resume=True, progress=False)
