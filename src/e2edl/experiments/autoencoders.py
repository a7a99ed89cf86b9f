"""The autoencoders lesson's experiment: autoencoders on MNIST, and what their codes cost in bytes.

Every autoencoder is trained by ``e2edl.recipes.autoencoders.train_autoencoder``: the convolutional
one at several code sizes k and the fully connected one at k = 2 (and 32), all with MSE on pixels
in [0, 1]. Beside them, PCA at the same k (``PCAAutoencoder``: the best linear code, fitted in
closed form on the same training images). Each code is then *stored*: as float16 (2k bytes per
image) and as 8 bits per number (k bytes per image; the per-dimension min/max that map a number to
0..255 are computed once on the training codes and stored once, 8k bytes for the whole data set).
The bytes and the MSE after decoding the stored code are compared, on the same test digits (the
first 1000; 500 in quick mode), with the raw 784 bytes, lossless PNG and JPEG at the quality that
matches the code's MSE. The notebook trains the claimed models (conv k=32, FC k=2) in the open into
``out/conv_ae_32`` and ``out/fc_ae_2``; with ``resume=True`` this run reuses them.
"""

from __future__ import annotations

from dataclasses import replace

import matplotlib.pyplot as plt
import torch
from torch import nn

from e2edl.compression import (
    codec_roundtrip,
    dequantise,
    fit_quantiser,
    float16_bytes,
    jpeg_curve,
    match_jpeg,
    mse,
    quantise,
    to_unit,
    uint8_bytes,
)
from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig
from e2edl.data.batch_transforms import input_as_target
from e2edl.data.mnist import MNIST
from e2edl.data.tensor_loader import TensorLoader
from e2edl.figures import Table
from e2edl.nn.autoencoder import PCAAutoencoder
from e2edl.recipes.autoencoders import CONV_32, FC_2, QUICK_CONV_32, QUICK_FC_2, train_autoencoder
from e2edl.train import evaluate

RAW_BYTES = 28 * 28  # one uint8 per pixel


@torch.no_grad()
def encode_all(model: nn.Module, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """uint8 (N, 28, 28) → codes (N, k)."""
    return torch.cat(
        [model.encode(to_unit(images[i : i + batch_size])) for i in range(0, len(images), batch_size)]
    )


@torch.no_grad()
def decode_all(model: nn.Module, z: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """(N, k) → reconstructions float (N, 1, 28, 28) in [0, 1]."""
    return torch.cat([model.decode(z[i : i + batch_size]) for i in range(0, len(z), batch_size)])


def compression_row(name, k, model, train_images, compare_images, test_mse, curve) -> dict:
    """Bytes per image and MSE of one model's stored codes on ``compare_images`` (uint8 (N, 28, 28))."""
    z = encode_all(model, compare_images)
    lo, hi = fit_quantiser(encode_all(model, train_images))
    mse_fp16 = mse(decode_all(model, z.half().float()), compare_images)
    mse_uint8 = mse(decode_all(model, dequantise(quantise(z, lo, hi), lo, hi)), compare_images)
    jpeg = match_jpeg(curve, mse_uint8)
    return {
        "model": name,
        "k": k,
        "test_mse": test_mse,
        "float16_bytes": float16_bytes(k),
        "float16_mse": mse_fp16,
        "uint8_bytes": uint8_bytes(k),
        "uint8_mse": mse_uint8,
        "jpeg_quality": jpeg["quality"] if jpeg else "none reaches it",
        "jpeg_bytes": jpeg["bytes"] if jpeg else "",
        "jpeg_mse": jpeg["mse"] if jpeg else "",
        "decoder_parameters": sum(p.numel() for p in model.decoder.parameters()),
    }


COLUMNS = ("model", "k", "test_mse", "float16_bytes", "float16_mse", "uint8_bytes", "uint8_mse",
           "jpeg_quality", "jpeg_bytes", "jpeg_mse")  # fmt: skip


def compression_table(rows: list[dict], references: dict) -> Table:
    """The compression table: reference rows (raw, PNG, the mean image), then the models by k."""
    n = references["n_compare"]
    reference_rows = [
        {"model": "raw uint8 pixels", "uint8_bytes": RAW_BYTES, "uint8_mse": 0.0},
        {"model": "PNG (lossless)", "uint8_bytes": references["png_bytes"], "uint8_mse": 0.0},
        {"model": "mean training image", "k": 0, "test_mse": references["mean_image_test_mse"],
         "uint8_bytes": 0, "uint8_mse": references["mean_image_compare_mse"]},
    ]  # fmt: skip
    order = {"PCA": 0, "fc AE": 1, "conv AE": 2}
    by_k = sorted(rows, key=lambda row: (row["k"], order.get(row["model"], 3)))  # at each k: PCA, FC, conv
    table_rows = [{c: row.get(c, "") for c in COLUMNS} for row in reference_rows + by_k]
    title = (
        f"Bytes per image and MSE per pixel (pixels in [0, 1]) on the first {n} MNIST test digits; "
        "test_mse is on all 10,000 with the float32 code. The 8-bit code maps each code dimension's "
        "training-set [min, max] to 0..255; those 2 float32 per dimension (8k bytes) are stored once "
        "for the data set, not per image. JPEG: the smallest file (quality 1..9, 10..100 in steps of 5) "
        "whose MSE is at most the 8-bit code's. PCA: the best linear code of k numbers."
    )
    mse_format = {c: ".4f" for c in ("test_mse", "float16_mse", "uint8_mse", "jpeg_mse")}
    return Table(table_rows, title=title, formats=mse_format | {"jpeg_bytes": ".1f"})


# ---------------------------------------------------------------- figures


def one_per_digit(labels: torch.Tensor) -> list[int]:
    """Index of the first test image of each digit 0..9."""
    return [int((labels == d).nonzero()[0]) for d in range(10)]


def plot_reconstructions(images: torch.Tensor, models: dict[str, nn.Module]):
    """Top row: the uint8 (10, 28, 28) originals; one row per model below."""
    rows = [("original", to_unit(images))]
    with torch.no_grad():
        rows += [(name, model(to_unit(images))) for name, model in models.items()]
    fig, axes = plt.subplots(len(rows), len(images), figsize=(len(images) * 0.8, len(rows) * 0.85))
    for r, (name, pictures) in enumerate(rows):
        for c in range(len(images)):
            axes[r, c].imshow(pictures[c, 0], cmap="gray", vmin=0, vmax=1)
            axes[r, c].set_xticks([]), axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(name, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle("Test digits and their reconstructions", fontsize=9)
    return fig


def plot_latent_2d(z: torch.Tensor, labels: torch.Tensor, title: str):
    """Scatter of 2-D codes z (N, 2), coloured by digit."""
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    points = ax.scatter(z[:, 0], z[:, 1], c=labels, cmap="tab10", s=3, alpha=0.6, vmin=-0.5, vmax=9.5)
    fig.colorbar(points, ax=ax, ticks=range(10), label="digit")
    ax.set(xlabel="z₁", ylabel="z₂", title=title)
    return fig


@torch.no_grad()
def interpolate(model: nn.Module, a: torch.Tensor, b: torch.Tensor, steps: int = 9) -> torch.Tensor:
    """Decode points on the straight line between the codes of images a and b, each (1, 28, 28) in [0, 1].

    Returns (steps, 1, 28, 28).
    """
    z = model.encode(torch.stack([a, b]))  # (2, k)
    t = torch.linspace(0, 1, steps).unsqueeze(1)  # (steps, 1)
    return model.decode((1 - t) * z[0] + t * z[1])


def plot_interpolation(model: nn.Module, a: torch.Tensor, b: torch.Tensor, name: str, steps: int = 9):
    """Top: blending pixels; bottom: walking the straight line between the two codes."""
    t = torch.linspace(0, 1, steps).view(-1, 1, 1, 1)
    rows = {"pixels": (1 - t) * a + t * b, f"{name} code": interpolate(model, a, b, steps)}
    fig, axes = plt.subplots(2, steps, figsize=(steps * 0.8, 2))
    for r, (label, pictures) in enumerate(rows.items()):
        for c in range(steps):
            axes[r, c].imshow(pictures[c, 0], cmap="gray", vmin=0, vmax=1)
            axes[r, c].set_xticks([]), axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle("Interpolating between two test digits", fontsize=9)
    return fig


def plot_rate_distortion(rows: list[dict], curve: list[dict], png_bytes: float):
    """Bytes per image (log) against MSE: JPEG's curve, lossless PNG, and the stored AE codes."""
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.plot(
        [p["bytes"] for p in curve],
        [p["mse"] for p in curve],
        ".-",
        color="gray",
        ms=3,
        label="JPEG, quality 1 to 100",
    )
    ax.plot([png_bytes], [0], "s", color="black", label="PNG (lossless)")
    ax.plot([RAW_BYTES], [0], "D", color="tab:brown", label="raw pixels")
    for kind, marker in (("conv AE", "o"), ("fc AE", "^"), ("PCA", "P")):
        mine = [r for r in rows if r["model"] == kind]
        if mine:
            ax.plot([r["uint8_bytes"] for r in mine], [r["uint8_mse"] for r in mine], marker,
                    label=f"{kind}, 8-bit code")  # fmt: skip
            ax.plot([r["float16_bytes"] for r in mine], [r["float16_mse"] for r in mine], marker,
                    mfc="none", label=f"{kind}, float16 code")  # fmt: skip
            for r in mine:
                ax.annotate(f"k={r['k']}", (r["uint8_bytes"], r["uint8_mse"]), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")  # fmt: skip
    ax.set_xscale("log")
    ax.set(
        xlabel="bytes per image (log scale)",
        ylabel="MSE per pixel",
        title="What each image costs, and how well it comes back",
    )
    ax.legend(fontsize=7)
    return fig


# ---------------------------------------------------------------- the experiment


def recipes(cfg: RunConfig) -> list:
    """What to train. Quick mode: only the two claimed models, on a fifth of the training images."""
    if cfg.quick:
        return [QUICK_CONV_32, QUICK_FC_2]
    conv = [replace(CONV_32, bottleneck=k) for k in (2, 8, 16, 32, 64)]
    return [*conv, FC_2, replace(FC_2, bottleneck=32, epochs=8)]


def run(cfg: RunConfig) -> dict:
    plan = recipes(cfg)
    if cfg.epochs:
        plan = [replace(recipe, epochs=cfg.epochs) for recipe in plan]
    data = MNIST.load()
    train_images = data.x_train[: plan[0].train_images]  # every recipe of a mode trains on the same images
    test_images, test_labels = data.x_test, data.y_test
    compare = test_images[: 500 if cfg.quick else 1000]

    mean_image = to_unit(train_images).mean(0, keepdim=True)  # (1, 1, 28, 28)
    mean_image_test_mse = mse(mean_image.expand(len(test_images), -1, -1, -1), test_images)
    png_bytes = float(codec_roundtrip(compare, "PNG")[0].mean())
    curve = jpeg_curve(compare)

    models, rows, metrics = {}, [], {"mean_image_test_mse": mean_image_test_mse}
    test_loader = TensorLoader(test_images, batch_size=1000, transform=input_as_target)
    for recipe in plan:
        model, _ = train_autoencoder(data, recipe, **cfg.fit_options(recipe.name))
        models[f"{recipe.kind} k={recipe.bottleneck}"] = model
        test_mse = evaluate(model, test_loader, nn.MSELoss())["loss"]
        rows.append(compression_row(f"{recipe.kind} AE", recipe.bottleneck, model, train_images, compare,
                                    test_mse, curve))  # fmt: skip
        metrics[f"{recipe.name}_test_mse"] = test_mse
        metrics[f"{recipe.name}_uint8_mse"] = rows[-1]["uint8_mse"]
    for k in sorted({recipe.bottleneck for recipe in plan}):
        pca = PCAAutoencoder.fit(to_unit(train_images), k)
        if k in (2, 32):
            models[f"PCA k={k}"] = pca
        test_mse = evaluate(pca, test_loader, nn.MSELoss())["loss"]
        rows.append(compression_row("PCA", k, pca, train_images, compare, test_mse, curve))
        metrics[f"pca_{k}_test_mse"] = test_mse
    metrics["fc_ae_2_over_pca"] = metrics["fc_ae_2_test_mse"] / metrics["pca_2_test_mse"]
    metrics["conv_ae_32_over_pca"] = metrics["conv_ae_32_test_mse"] / metrics["pca_32_test_mse"]

    references = {
        "n_compare": len(compare),
        "png_bytes": png_bytes,
        "mean_image_test_mse": mean_image_test_mse,
        "mean_image_compare_mse": mse(mean_image.expand(len(compare), -1, -1, -1), compare),
    }
    metrics["png_bytes_per_image"] = png_bytes
    conv32 = next(r for r in rows if r["model"] == "conv AE" and r["k"] == 32)
    if isinstance(conv32["jpeg_bytes"], float):
        metrics["jpeg_bytes_at_conv_ae_32_mse"] = conv32["jpeg_bytes"]

    first = one_per_digit(test_labels)
    digits = test_images[first]
    fc2 = models["fc k=2"]
    z2 = encode_all(fc2, test_images[:5000])
    a, b = to_unit(test_images[[first[4], first[9]]])
    figures = {
        "reconstructions": plot_reconstructions(digits, models),
        "latent_2d": plot_latent_2d(z2, test_labels[:5000], "FC autoencoder, k = 2: 5000 test digits"),
        "interpolation": plot_interpolation(models["conv k=32"], a, b, "conv k=32"),
        "interpolation_2d": plot_interpolation(fc2, a, b, "fc k=2"),
        "rate_distortion": plot_rate_distortion(rows, curve, png_bytes),
    }
    return {
        "metrics": metrics,
        "figures": figures,
        "tables": {"compression": compression_table(rows, references)},
        "references": references,
        "jpeg_curve": curve,
    }


LESSON = Lesson(
    name="autoencoders",
    title="Autoencoders: learned compression of MNIST",
    datasets=("mnist",),
    claims=(
        Claim("conv_ae_32_test_mse", "<=", 0.010, 0.008, "conv AE, 32-number code: test MSE per pixel"),
        Claim("conv_ae_32_uint8_mse", "<=", 0.010, 0.008, "… still after storing the code in 32 bytes"),
        Claim("fc_ae_2_test_mse", "<=", 0.046, 0.035, "FC AE, 2-number code: test MSE per pixel"),
        Claim("conv_ae_32_over_pca", "<=", 0.65, 0.55, "conv AE's test MSE over PCA's, both with 32 numbers"),
        Claim("fc_ae_2_over_pca", "<=", 0.85, 0.7, "FC AE's test MSE over PCA's, both with 2 numbers"),
    ),
    run=run,
)
