"""Autoencoders (``e2edl.nn.autoencoder``, PCA included), the autoencoders lesson's compression helpers and recipe."""

import os
from pathlib import Path

import pytest
import torch
from torch import nn

from e2edl import compression
from e2edl.data.batch_transforms import input_as_target
from e2edl.nn.autoencoder import ConvAutoencoder, FCAutoencoder, PCAAutoencoder

MODELS = [FCAutoencoder, ConvAutoencoder]


@pytest.mark.parametrize("model_class", MODELS)
@pytest.mark.parametrize("k", [2, 32])
def test_shapes_and_output_range(model_class, k) -> None:
    torch.manual_seed(0)
    model = model_class(k)
    x = torch.rand(5, 1, 28, 28)
    z = model.encode(x)
    assert z.shape == (5, k)
    out = model.decode(3 * torch.randn(5, k))  # far-out codes too: the sigmoid keeps pixels in range
    assert out.shape == (5, 1, 28, 28) and out.min() >= 0 and out.max() <= 1
    assert torch.equal(model(x), model.decode(z))


@pytest.mark.parametrize("model_class", MODELS)
def test_bottleneck_must_be_positive(model_class) -> None:
    with pytest.raises(ValueError, match="bottleneck must be >= 1"):
        model_class(0)


def test_bytes_per_image() -> None:
    assert compression.float16_bytes(32) == 64 and compression.uint8_bytes(32) == 32
    assert torch.zeros(7, 32).half().numpy().nbytes == 7 * compression.float16_bytes(32)


def test_quantise_round_trip_is_within_half_a_step() -> None:
    torch.manual_seed(0)
    z = torch.randn(1000, 8) * torch.linspace(0.1, 10, 8)  # dimensions of very different spread
    lo, hi = compression.fit_quantiser(z)
    codes = compression.quantise(z, lo, hi)
    assert codes.dtype == torch.uint8 and codes.shape == z.shape
    assert codes.min() == 0 and codes.max() == 255  # the full 0..255 range is used
    error = (compression.dequantise(codes, lo, hi) - z).abs()
    step = (hi - lo) / 255
    assert (error <= step / 2 + 1e-5 * step).all()
    assert error.max() > step.min() / 4  # it is lossy: a wrong "exact" round trip would fail this
    outside = compression.quantise(torch.stack([lo - 1, hi + 1]), lo, hi)  # codes outside are clipped
    assert outside[0].tolist() == [0] * 8 and outside[1].tolist() == [255] * 8


def test_quantiser_survives_a_constant_dimension() -> None:
    z = torch.tensor([[1.0, 0.0], [1.0, 2.0]])
    lo, hi = compression.fit_quantiser(z)
    assert torch.allclose(compression.dequantise(compression.quantise(z, lo, hi), lo, hi), z, atol=1e-2)


def fake_digits(n: int = 6) -> torch.Tensor:
    """uint8 (n, 28, 28): a bright stroke on black, in a different place each time, plus noise."""
    g = torch.Generator().manual_seed(0)
    images = torch.zeros(n, 28, 28)
    for i in range(n):
        images[i, 6 + i : 22, 10 + i : 14 + i] = 1.0
    images = (images * 230 + 20 * torch.rand(n, 28, 28, generator=g)).clamp(0, 255)
    return images.round().to(torch.uint8)


def test_png_is_lossless_and_jpeg_trades_bytes_for_error() -> None:
    images = fake_digits()
    sizes, decoded = compression.codec_roundtrip(images, "PNG")
    assert torch.equal(decoded, images) and sizes.shape == (6,) and (sizes > 0).all()
    curve = compression.jpeg_curve(images, qualities=(5, 50, 95))
    assert [p["quality"] for p in curve] == [5, 50, 95]
    assert curve[0]["bytes"] < curve[2]["bytes"] and curve[0]["mse"] > curve[2]["mse"] > 0
    target = curve[1]["mse"]
    match = compression.match_jpeg(curve, target)
    assert match["mse"] <= target and match["quality"] in (50, 95)
    assert match["bytes"] == min(p["bytes"] for p in curve if p["mse"] <= target)
    assert compression.match_jpeg(curve, -1.0) is None


def test_mse_is_per_pixel_in_unit_range() -> None:
    a = torch.zeros(2, 28, 28, dtype=torch.uint8)
    b = torch.full((2, 28, 28), 255, dtype=torch.uint8)
    assert compression.mse(a, b) == 1.0 and compression.mse(compression.to_unit(b), b) == 0.0
    assert torch.equal(compression.to_uint8(compression.to_unit(b)), b)


def mirror() -> Path | None:
    candidates = [os.environ.get("E2EDL_MIRROR"), Path(__file__).resolve().parents[2] / "shared" / "data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "mnist").is_dir():
            return Path(candidate)
    return None


@pytest.mark.skipif(mirror() is None, reason="no MNIST mirror (set E2EDL_MIRROR)")
def test_a_short_training_beats_the_mean_image(tmp_path, monkeypatch) -> None:
    """2000 real digits, two epochs: the FC autoencoder at k = 8 must beat the mean image by far."""
    monkeypatch.setenv("E2EDL_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("E2EDL_MIRROR", str(mirror()))
    from e2edl.data import TensorLoader, load_mnist
    from e2edl.train import evaluate, fit

    images, _ = load_mnist("test")
    train, held_out = images[:2000], images[-1000:]
    mean_mse = compression.mse(
        compression.to_unit(train).mean(0, keepdim=True).expand(1000, -1, -1, -1), held_out
    )
    torch.manual_seed(0)
    model = FCAutoencoder(8, hidden=(256,))
    loader = TensorLoader(train, batch_size=64, shuffle=True, transform=input_as_target)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    fit(model, loader, epochs=3, loss_fn=nn.MSELoss(), optimizer=optimizer, device="cpu", progress=False)
    held_out_mse = evaluate(
        model, TensorLoader(held_out, batch_size=500, transform=input_as_target), nn.MSELoss()
    )
    assert held_out_mse["loss"] < 0.6 * mean_mse, (held_out_mse, mean_mse)


def test_pca_autoencoder_matches_scikit_learn() -> None:
    """Codes up to each direction's sign, the unclamped reconstruction and the variances agree."""
    from sklearn.decomposition import PCA

    torch.manual_seed(0)
    images = (torch.rand(300, 1, 28, 28) * torch.rand(1, 1, 28, 28)).clamp(0, 1)  # pixels of different spread
    model = PCAAutoencoder.fit(images, 5)
    reference = PCA(n_components=5, svd_solver="full").fit(images.reshape(300, -1).double().numpy())
    z = model.encode(images)
    z_reference = torch.from_numpy(reference.transform(images.reshape(300, -1).double().numpy())).float()
    assert z.shape == (300, 5)
    assert torch.allclose(z.abs(), z_reference.abs(), atol=1e-4)
    unclamped = model.decoder[0](z).reshape(300, -1)
    expected = torch.from_numpy(reference.inverse_transform(z_reference.double().numpy())).float()
    assert torch.allclose(unclamped, expected, atol=1e-4)
    assert torch.allclose(
        model.explained_variance, torch.from_numpy(reference.explained_variance_).float(), rtol=1e-4
    )
    out = model(images)
    assert out.shape == images.shape and out.min() >= 0 and out.max() <= 1


def test_pca_error_is_the_variance_it_leaves_out() -> None:
    """Unclamped, PCA's squared error per image is the sum of the eigenvalues it drops."""
    torch.manual_seed(0)
    images = torch.rand(400, 1, 28, 28) ** 3
    full = PCAAutoencoder.fit(images, 784)
    for k in (1, 10, 100):
        model = PCAAutoencoder.fit(images, k)
        error = ((model.decoder[0](model.encode(images)) - images.reshape(400, -1)) ** 2).sum(1).mean()
        dropped = full.explained_variance[k:].sum() * (400 - 1) / 400
        assert torch.allclose(error, dropped, rtol=1e-3), (k, error, dropped)
    with pytest.raises(ValueError, match="bottleneck"):
        PCAAutoencoder(0)


def test_payload_bytes_separates_pixels_from_header() -> None:
    image = fake_digits(1)[0]
    png = compression.encode_image(image, "PNG")
    assert compression.payload_bytes(png) == len(png) - 57  # signature 8, IHDR 25, IEND 12, IDAT's own 12
    low, high = (compression.encode_image(image, "JPEG", quality) for quality in (5, 95))
    assert 0 < compression.payload_bytes(low) < compression.payload_bytes(high)
    assert len(low) - compression.payload_bytes(low) > 100  # quantisation and Huffman tables, markers
    with pytest.raises(ValueError, match="not a PNG or JPEG"):
        compression.payload_bytes(b"GIF89a")


def test_train_autoencoder_watches_validation_and_a_finished_run_is_reused(tmp_path) -> None:
    from dataclasses import asdict, replace

    from e2edl.data.mnist import MNIST
    from e2edl.recipes.autoencoders import QUICK_FC_2, AutoencoderRecipe, train_autoencoder
    from e2edl.train import CheckpointError, load_checkpoint

    images = fake_digits(6).repeat(20, 1, 1)  # (120, 28, 28)
    labels = torch.zeros(120, dtype=torch.int64)
    data = MNIST(images[:100], labels[:100], images[100:], labels[100:], images[:10], labels[:10], 0.0)
    recipe = replace(QUICK_FC_2, epochs=2, batch_size=20, train_images=80)
    model, history = train_autoencoder(
        data, recipe, run_dir=tmp_path / recipe.name, progress=False, device="cpu"
    )
    assert recipe.name == "fc_ae_2" and len(history.records) == 2 and "val_loss" in history.last
    assert load_checkpoint(tmp_path / "fc_ae_2" / "checkpoint.pt")["config"] == asdict(recipe)
    again, reused = train_autoencoder(data, recipe, run_dir=tmp_path / "fc_ae_2", resume=True, progress=False)
    assert reused.records == history.records
    assert torch.equal(model(compression.to_unit(images[:4])), again(compression.to_unit(images[:4])))
    with pytest.raises(CheckpointError, match="epochs"):
        train_autoencoder(
            data, replace(recipe, epochs=3), run_dir=tmp_path / "fc_ae_2", resume=True, progress=False
        )
    with pytest.raises(ValueError, match="kind"):
        AutoencoderRecipe(kind="vae")
