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


def encode_image(image: np.ndarray | torch.Tensor, fmt: str, quality: int | None = None) -> bytes:
    """One uint8 (28, 28) grey image as the bytes of a PNG or JPEG file (``optimize=True``: the
    smallest file each codec makes; for JPEG at the given ``quality``, 1..100)."""
    if isinstance(image, torch.Tensor):
        image = image.numpy()
    options = {"optimize": True} if quality is None else {"optimize": True, "quality": quality}
    buffer = io.BytesIO()
    Image.fromarray(image, mode="L").save(buffer, format=fmt, **options)
    return buffer.getvalue()


def codec_roundtrip(
    images: torch.Tensor, fmt: str, quality: int | None = None
) -> tuple[np.ndarray, torch.Tensor]:
    """Encode each uint8 (N, 28, 28) image as a PNG or JPEG file in memory and decode it again.

    Returns ``(file sizes in bytes (N,), decoded uint8 (N, 28, 28))``. The size is the whole file,
    headers included (see ``payload_bytes`` for the part that holds the pixels).
    """
    sizes, decoded = [], []
    for image in images.numpy():
        data = encode_image(image, fmt, quality)
        sizes.append(len(data))
        decoded.append(np.asarray(Image.open(io.BytesIO(data)).convert("L")))
    return np.array(sizes), torch.from_numpy(np.stack(decoded))


def payload_bytes(data: bytes) -> int:
    """How many bytes of a PNG or JPEG file hold the compressed pixels; the rest is the file's
    header, tables and markers, paid by every image whatever it shows.

    PNG: the data of its IDAT chunks (the compressed pixel stream). JPEG (one scan, as ``encode_image``
    writes): the entropy-coded data between the start-of-scan header and the end-of-image marker.
    """
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        position, payload = 8, 0
        while position < len(data):
            length = int.from_bytes(data[position : position + 4], "big")
            if data[position + 4 : position + 8] == b"IDAT":
                payload += length
            position += 12 + length  # length, type, data, CRC
        return payload
    if data.startswith(b"\xff\xd8"):
        position = 2
        while position < len(data):
            marker = data[position + 1]
            length = int.from_bytes(data[position + 2 : position + 4], "big")
            if marker == 0xDA:  # start of scan: the coded data runs to the end-of-image marker
                scan_start = position + 2 + length
                if not data.endswith(b"\xff\xd9"):
                    raise ValueError("JPEG data does not end with an end-of-image marker")
                return len(data) - 2 - scan_start
            position += 2 + length
        raise ValueError("JPEG data without a start-of-scan marker")
    raise ValueError("not a PNG or JPEG file (unknown signature)")


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
