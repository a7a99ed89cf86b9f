"""Storing images in fewer bytes: pixel units, quantised codes, and the classic codecs to beat.

The autoencoders lesson measures what an autoencoder's code costs (float16: 2 bytes a number; 8
bits a number with a per-dimension range stored once) against lossless PNG and JPEG at the quality
that matches the code's error. These are those measurements, for any uint8 (N, 28, 28) images.
"""

from __future__ import annotations

import io

import numpy as np
import torch
from PIL import Image

JPEG_QUALITIES = (*range(1, 10), *range(10, 101, 5))  # fine steps where JPEG is coarsest


def to_unit(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, 28, 28) → float (N, 1, 28, 28) in [0, 1]."""
    return images.unsqueeze(1).float().div(255)


def to_uint8(x: torch.Tensor) -> torch.Tensor:
    """float (N, 1, 28, 28) in [0, 1] → uint8 (N, 28, 28), rounded."""
    return x.squeeze(1).mul(255).round().clamp(0, 255).to(torch.uint8)


def mse(a: torch.Tensor, b: torch.Tensor) -> float:
    """Mean squared error per pixel, both in [0, 1] units (uint8 inputs are divided by 255)."""
    if a.dtype == torch.uint8:
        a = a.float() / 255
    if b.dtype == torch.uint8:
        b = b.float() / 255
    return ((a.reshape(len(a), -1) - b.reshape(len(b), -1)) ** 2).mean().item()


# ---------------------------------------------------------------- storing a code


def float16_bytes(k: int) -> int:
    """Bytes to store a k-number code as float16."""
    return 2 * k


def uint8_bytes(k: int) -> int:
    """Bytes to store a k-number code at 8 bits per number (the shared min/max are amortised)."""
    return k


def fit_quantiser(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-dimension ``(lo, hi)``, each (k,), from codes z (N, k): stored once for the whole data set."""
    lo, hi = z.min(0).values, z.max(0).values
    return lo, torch.maximum(hi, lo + 1e-8)  # a constant dimension must not divide by zero


def quantise(z: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """(N, k) float → (N, k) uint8: ``round(255 · (z − lo) / (hi − lo))``, values outside clipped."""
    return ((z - lo) / (hi - lo) * 255).round().clamp(0, 255).to(torch.uint8)


def dequantise(codes: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor) -> torch.Tensor:
    """(N, k) uint8 → (N, k) float; within ``(hi − lo) / 510`` of the original for z in [lo, hi]."""
    return lo + codes.float() / 255 * (hi - lo)


# ---------------------------------------------------------------- classic codecs


def codec_roundtrip(
    images: torch.Tensor, fmt: str, quality: int | None = None
) -> tuple[np.ndarray, torch.Tensor]:
    """Encode each uint8 (N, 28, 28) image as a PNG or JPEG file in memory and decode it again.

    Returns ``(file sizes in bytes (N,), decoded uint8 (N, 28, 28))``. Both codecs run with
    ``optimize=True`` (their smallest files); the size is the whole file, headers included.
    """
    options = {"optimize": True} if quality is None else {"optimize": True, "quality": quality}
    sizes, decoded = [], []
    for image in images.numpy():
        buffer = io.BytesIO()
        Image.fromarray(image, mode="L").save(buffer, format=fmt, **options)
        sizes.append(buffer.tell())
        buffer.seek(0)
        decoded.append(np.asarray(Image.open(buffer).convert("L")))
    return np.array(sizes), torch.from_numpy(np.stack(decoded))


def jpeg_curve(images: torch.Tensor, qualities=JPEG_QUALITIES) -> list[dict]:
    """JPEG's rate–distortion curve on uint8 (N, 28, 28) images: ``{quality, bytes, mse}`` per quality."""
    curve = []
    for quality in qualities:
        sizes, decoded = codec_roundtrip(images, "JPEG", quality)
        curve.append({"quality": quality, "bytes": float(sizes.mean()), "mse": mse(decoded, images)})
    return curve


def match_jpeg(curve: list[dict], target_mse: float) -> dict | None:
    """The smallest JPEG (mean bytes) on the curve whose MSE is at most ``target_mse``; None if none is."""
    good = [point for point in curve if point["mse"] <= target_mse]
    return min(good, key=lambda point: point["bytes"]) if good else None
