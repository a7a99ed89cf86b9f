"""Autoencoders (``e2edl.nn.autoencoder``) and lesson 05's compression helpers."""

import os
from pathlib import Path

import pytest
import torch
from torch import nn

from e2edl import compression
from e2edl.data.batch_transforms import input_as_target
from e2edl.nn.autoencoder import ConvAutoencoder, FCAutoencoder

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
