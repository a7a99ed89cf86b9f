"""The hand-written ResNet-18 against torchvision's: same names, same shapes, same outputs."""

from __future__ import annotations

import pytest
import torch
from torchvision.models import resnet18 as tv_resnet18

from e2edl.nn.resnet import ResNet18, resnet18

pytestmark = pytest.mark.usefixtures("one_thread")


def with_running_stats(model: torch.nn.Module, seed: int) -> torch.nn.Module:
    """A few train-mode forwards so every BatchNorm's running mean/var are far from 0/1."""
    generator = torch.Generator().manual_seed(seed)
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model(torch.randn(4, 3, 32, 32, generator=generator) * 3 + 1)
    return model.eval()


def test_state_dict_names_and_shapes_match_torchvision() -> None:
    ours, theirs = ResNet18().state_dict(), tv_resnet18(weights=None).state_dict()
    assert list(ours) == list(theirs)
    assert all(ours[k].shape == theirs[k].shape for k in ours)
    assert sum(p.numel() for p in ResNet18().parameters()) == 11_689_512


@pytest.mark.parametrize("num_classes", [1000, 2])
def test_torchvision_weights_load_into_ours(num_classes: int) -> None:
    torch.manual_seed(0)
    theirs = with_running_stats(tv_resnet18(weights=None, num_classes=num_classes), seed=1)
    ours = resnet18(num_classes=num_classes)
    ours.load_state_dict(theirs.state_dict())  # strict: every key present and used
    ours.eval()
    assert not torch.allclose(ours.bn1.running_var, torch.ones(64))
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        expected, got = theirs(x), ours(x)
    assert got.shape == (2, num_classes)
    torch.testing.assert_close(got, expected, atol=1e-6, rtol=0)


@pytest.mark.parametrize("num_classes", [1000, 2])
def test_our_weights_load_into_torchvision(num_classes: int) -> None:
    torch.manual_seed(3)
    ours = with_running_stats(ResNet18(num_classes), seed=4)
    theirs = tv_resnet18(weights=None, num_classes=num_classes)
    theirs.load_state_dict(ours.state_dict())
    theirs.eval()
    x = torch.randn(2, 3, 64, 64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(ours(x), theirs(x), atol=1e-6, rtol=0)


@pytest.mark.parametrize("size", [64, 128])
def test_shapes(size: int) -> None:
    model = ResNet18(num_classes=2).eval()
    x = torch.randn(2, 3, size, size)
    shapes = {}
    hooks = [
        getattr(model, name).register_forward_hook(
            lambda m, i, o, name=name: shapes.__setitem__(name, o.shape)
        )
        for name in ("maxpool", "layer1", "layer2", "layer3", "layer4")
    ]
    with torch.no_grad():
        logits = model(x)
    for hook in hooks:
        hook.remove()
    assert logits.shape == (2, 2)
    assert shapes["maxpool"] == (2, 64, size // 4, size // 4)
    assert shapes["layer1"] == (2, 64, size // 4, size // 4)
    assert shapes["layer2"] == (2, 128, size // 8, size // 8)
    assert shapes["layer3"] == (2, 256, size // 16, size // 16)
    assert shapes["layer4"] == (2, 512, size // 32, size // 32)


def test_identity_shortcut_has_no_parameters() -> None:
    model = ResNet18()
    assert model.layer1[0].downsample is None and model.layer2[1].downsample is None
    assert model.layer2[0].downsample[0].stride == (2, 2)
    assert model.layer2[0].downsample[0].kernel_size == (1, 1)


def test_train_resnet_stores_its_recipe_and_a_finished_run_is_reused(tmp_path) -> None:
    """The notebook trains with the recipe; the run, with resume=True and the same recipe, reuses it."""
    import dataclasses

    from e2edl.data.pets_split import Pets
    from e2edl.recipes.resnet_from_scratch import FULL_RECIPE, QUICK_RECIPE, train_resnet
    from e2edl.train import CheckpointError

    generator = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (12, 3, 40, 40), dtype=torch.uint8, generator=generator)
    labels = torch.tensor([0, 1] * 6)
    data = Pets(images, labels, ["cat", "dog"], 0, torch.arange(8), torch.arange(8, 12), 0.0)
    recipe = dataclasses.replace(QUICK_RECIPE, epochs=1, size=32, batch_size=4)
    model, history = train_resnet(data, recipe, run_dir=tmp_path / "resnet18", progress=False, amp=False)
    assert len(history.records) == 1 and 0 <= history.last["val_accuracy"] <= 1
    again, reused = train_resnet(data, recipe, run_dir=tmp_path / "resnet18", resume=True, progress=False,
                                 amp=False)  # fmt: skip
    assert reused.records == history.records
    assert torch.equal(model.fc.weight, again.fc.weight)
    with pytest.raises(CheckpointError, match="epochs"):
        train_resnet(data, dataclasses.replace(recipe, epochs=2), run_dir=tmp_path / "resnet18", resume=True,
                     progress=False, amp=False)  # fmt: skip
    assert (FULL_RECIPE.epochs, FULL_RECIPE.train_images) == (20, None)  # the full run: every training image
