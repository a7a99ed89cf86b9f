# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 05 · Autoencoders: learning to compress
#
# So far every network learned to predict a *label*. An **autoencoder** has no labels: it learns to
# predict its own input. That sounds trivial — copy the pixels — until we force the data through a
# narrow **bottleneck**:
#
# ```
# image (784 numbers) → encoder → code z (k numbers, k ≪ 784) → decoder → image again (784 numbers)
# ```
#
# Trained to make the output match the input (mean squared error on pixels in [0, 1]), the encoder
# must decide which `k` numbers say the most about a digit, and the decoder must learn what MNIST
# digits look like in order to fill in everything else. The code `z` is a *learned compression* of
# the image — and we can ask the question every compression scheme must answer: **how many bytes
# per image, for how much error?**
#
# The plan:
# 1. a baseline that knows nothing about each image: the mean digit;
# 2. a fully connected autoencoder with a code of just **two** numbers, built and trained in the open;
# 3. what those two numbers learned: the 2-D code space coloured by digit, and walking between digits;
# 4. a convolutional autoencoder with a larger code;
# 5. storing the code in bytes (float16, 8 bits) and comparing with PNG and JPEG;
# 6. the library's full run: a table over bottleneck sizes.

# %%
import os
import subprocess
import sys
from pathlib import Path

if "google.colab" in sys.modules:  # on Colab, install the course library first
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "e2edl @ git+https://github.com/e2edl/e2edl"],
        check=True,
    )

import matplotlib.pyplot as plt
import torch
from torch import nn

QUICK = os.environ.get("E2EDL_QUICK") == "1"  # CI runs every notebook in quick mode
RUNS = Path(os.environ.get("E2EDL_RUNS", "runs"))
torch.manual_seed(0)

# %% [markdown]
# ## 1. The data, and a baseline that ignores it
#
# MNIST arrives as `uint8` images `(N, 28, 28)`. We keep them like that in memory (1 byte per
# pixel) and turn each *batch* into floats in [0, 1] with a channel dimension, `(B, 1, 28, 28)`.
# For an autoencoder the target is the input itself, so a batch is the pair `(x, x)`.
#
# Before training anything: how wrong is a "compressor" that stores **zero** bytes per image and
# always answers with the mean training digit? Its error is the number every autoencoder must beat.

# %%
from e2edl.data import TensorLoader, load_mnist

train_images, _ = load_mnist("train")  # uint8 (60000, 28, 28)
test_images, test_labels = load_mnist("test")  # uint8 (10000, 28, 28), int64 (10000,)


def to_unit(images):
    """uint8 (N, 28, 28) → float (N, 1, 28, 28) in [0, 1]."""
    return images.unsqueeze(1).float() / 255


def as_pair(batch):
    """A TensorLoader transform: (uint8 images,) → (x, x)."""
    x = to_unit(batch[0])
    return x, x


x_test = to_unit(test_images[:2000])
mean_digit = to_unit(train_images).mean(0)  # (1, 28, 28)
mean_digit_mse = ((x_test - mean_digit) ** 2).mean().item()
print(f"MSE per pixel of always answering the mean digit: {mean_digit_mse:.4f}")


def show_rows(rows: dict, title: str = ""):
    """Plot image rows: {label: tensor (n, 1, 28, 28)}, one row each."""
    n = len(next(iter(rows.values())))
    fig, axes = plt.subplots(len(rows), n, figsize=(0.8 * n, 0.85 * len(rows)), squeeze=False)
    for r, (label, images) in enumerate(rows.items()):
        for c in range(n):
            axes[r, c].imshow(images[c, 0].detach(), cmap="gray", vmin=0, vmax=1)
            axes[r, c].set_xticks([]), axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title, fontsize=9)
    plt.show()


one_of_each = torch.tensor([int((test_labels == d).nonzero()[0]) for d in range(10)])  # a 0, a 1, ... a 9
digits = to_unit(test_images[one_of_each])  # (10, 1, 28, 28)
show_rows({"test digits": digits, "mean digit": mean_digit.expand(10, -1, -1, -1)})

# %% [markdown]
# ## 2. A fully connected autoencoder with a two-number code
#
# The encoder flattens the image and narrows it, layer by layer, down to `k = 2` numbers; the
# decoder is its mirror image. Two details matter:
#
# - the code layer has **no activation**: the two numbers may be anything;
# - the output goes through a **sigmoid**, so every pixel lands in [0, 1] like the input pixels.

# %%
k = 2
encoder = nn.Sequential(
    nn.Flatten(),  # (B, 1, 28, 28) → (B, 784)
    nn.Linear(784, 256),
    nn.ReLU(),
    nn.Linear(256, 64),
    nn.ReLU(),
    nn.Linear(64, k),  # (B, k): the code
)
decoder = nn.Sequential(
    nn.Linear(k, 64),
    nn.ReLU(),
    nn.Linear(64, 256),
    nn.ReLU(),
    nn.Linear(256, 784),
    nn.Sigmoid(),
    nn.Unflatten(1, (1, 28, 28)),  # (B, 784) → (B, 1, 28, 28)
)
autoencoder = nn.Sequential(encoder, decoder)

z = encoder(digits)
print("image", tuple(digits.shape), "→ code", tuple(z.shape), "→ image", tuple(decoder(z).shape))
print("parameters:", sum(p.numel() for p in autoencoder.parameters()))

# %% [markdown]
# Training is the loop from lesson 02 with one change: the target is the input. Every epoch we also
# measure the MSE on 2000 test digits the network never trains on.

# %%
n_train, epochs = (10_000, 3) if QUICK else (55_000, 10)
loader = TensorLoader(train_images[:n_train], batch_size=64, shuffle=True, transform=as_pair)
optimizer = torch.optim.Adam(autoencoder.parameters(), lr=2e-3)
loss_fn = nn.MSELoss()

for epoch in range(epochs):
    loader.set_epoch(epoch)  # a new shuffle every epoch
    for x, target in loader:
        loss = loss_fn(autoencoder(x), target)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        test_mse = loss_fn(autoencoder(x_test), x_test).item()
    print(f"epoch {epoch + 1}: test MSE {test_mse:.4f}  (mean digit: {mean_digit_mse:.4f})")

# %%
with torch.no_grad():
    show_rows({"original": digits, "k = 2": autoencoder(digits)}, "Two numbers per image, decoded again")

# %% [markdown]
# Two numbers cannot hold a whole digit: look for blurry strokes, and for digits that come back
# looking like a different one. But compare the test MSE above with the mean digit's: two numbers
# already carry a good part of what distinguishes one image from another.
#
# ## 3. What did the two numbers learn?
#
# With `k = 2` we can *look* at the code space. Each dot is a test digit placed at its code
# `(z₁, z₂)`; the colour is its label, which the autoencoder never saw.

# %%
with torch.no_grad():
    codes = encoder(to_unit(test_images[:5000]))  # (5000, 2)
plt.figure(figsize=(5.5, 4.5))
points = plt.scatter(codes[:, 0], codes[:, 1], c=test_labels[:5000], cmap="tab10", s=3, vmin=-0.5, vmax=9.5)
plt.colorbar(points, ticks=range(10), label="digit")
plt.xlabel("z₁")
plt.ylabel("z₂")
plt.title("2-D codes of 5000 test digits")
plt.show()

# %% [markdown]
# Digits of one class gather in regions of the plane, with no label ever used: to reconstruct well,
# the encoder had to put similar-looking images at nearby codes. The decoder, in turn, is a
# *generator*: give it any point of the plane and it draws a digit. Here is a grid of points
# spanning where the codes lie:

# %%
lo, hi = codes.quantile(0.02, dim=0), codes.quantile(0.98, dim=0)
z1, z2 = torch.meshgrid(torch.linspace(lo[0], hi[0], 12), torch.linspace(hi[1], lo[1], 12), indexing="xy")
with torch.no_grad():
    drawn = decoder(torch.stack([z1.flatten(), z2.flatten()], dim=1))  # (144, 1, 28, 28)
plt.figure(figsize=(6, 6))
plt.imshow(drawn.reshape(12, 12, 28, 28).permute(0, 2, 1, 3).reshape(12 * 28, 12 * 28), cmap="gray")
plt.axis("off")
plt.title("The decoder, evaluated on a grid of codes")
plt.show()

# %% [markdown]
# ### Walking between two digits
#
# Take a 4 and a 9. Blending their *pixels* gives a ghostly overlay of both. Walking the straight
# line between their *codes* and decoding each point gives images the decoder believes are digits
# all the way.

# %%
four, nine = digits[4], digits[9]
t = torch.linspace(0, 1, 9).view(-1, 1, 1, 1)
with torch.no_grad():
    z_four, z_nine = encoder(torch.stack([four, nine]))
    walk = decoder((1 - t.view(-1, 1)) * z_four + t.view(-1, 1) * z_nine)
show_rows({"pixels": (1 - t) * four + t * nine, "codes": walk}, "From a 4 to a 9")

# %% [markdown]
# What we wrote above is `e2edl.nn.autoencoder.FCAutoencoder` (wider, with a third hidden layer):
# `model.encode(x)` gives the `(B, k)` code, `model.decode(z)` the `(B, 1, 28, 28)` image.
#
# ## 4. A convolutional autoencoder with a bigger code
#
# Images have structure a flat vector hides: a stroke is a stroke wherever it is. The
# convolutional autoencoder halves the image twice with stride-2 convolutions
# (28 → 14 → 7), maps the `(64, 7, 7)` features to the code with one linear layer, and the decoder
# mirrors that with *transposed* convolutions, which double the size (7 → 14 → 28). Its shapes:

# %%
from e2edl.nn.autoencoder import ConvAutoencoder

conv_ae = ConvAutoencoder(bottleneck=32)
h = digits
for layer in [*conv_ae.encoder, *conv_ae.decoder]:
    h = layer(h)
    print(f"{type(layer).__name__:>16} → {tuple(h.shape)}")

# %% [markdown]
# From here on we let the course's `fit` run the loop (it adds progress bars, checkpoints and a
# one-cycle learning-rate schedule that `e2edl.experiments.autoencoders` uses too):

# %%
from e2edl.train import evaluate, fit

conv_epochs = 1 if QUICK else 3
loader = TensorLoader(train_images[:n_train], batch_size=64, shuffle=True, seed=0, transform=as_pair)
optimizer = torch.optim.Adam(conv_ae.parameters(), lr=2e-3)
schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=2e-3, total_steps=conv_epochs * len(loader))
fit(
    conv_ae,
    loader,
    epochs=conv_epochs,
    loss_fn=nn.MSELoss(),
    optimizer=optimizer,
    scheduler=schedule,
    scheduler_interval="step",
    device="cpu",
    run_dir=RUNS / "05_conv_ae_demo",
)
test_loader = TensorLoader(test_images[:2000], batch_size=500, transform=as_pair)
print(f"conv AE, k = 32: test MSE {evaluate(conv_ae, test_loader, nn.MSELoss())['loss']:.4f}")
with torch.no_grad():
    show_rows({"original": digits, "FC, k = 2": autoencoder(digits), "conv, k = 32": conv_ae(digits)})

# %% [markdown]
# ## 5. What does a code cost in bytes?
#
# A code is `k` numbers. Stored as **float16** that is `2k` bytes per image. We can go further and
# store each number in **8 bits**: find each code dimension's range `[lo, hi]` over the training
# codes once, then map each number to the nearest of 256 evenly spaced levels:
#
# $$q = \mathrm{round}\big(255\,(z - lo)/(hi - lo)\big) \in \{0, …, 255\}, \qquad
#   \hat z = lo + q\,(hi - lo)/255 .$$
#
# That is `k` bytes per image; the `2k` numbers `lo, hi` are stored once for the whole data set
# (at float32, `8k` bytes — nothing, spread over thousands of images). The rounding moves each
# number by at most half a level. Does the picture care?

# %%
with torch.no_grad():
    z_train = torch.cat(
        [conv_ae.encode(to_unit(train_images[i : i + 5000])) for i in range(0, n_train, 5000)]
    )
    z = conv_ae.encode(x_test)  # (2000, 32)
    lo, hi = z_train.min(0).values, z_train.max(0).values
    q = ((z - lo) / (hi - lo) * 255).round().clamp(0, 255).to(torch.uint8)  # (2000, 32) bytes
    z_8bit = lo + q.float() / 255 * (hi - lo)
    for name, code in [("float32", z), ("float16", z.half().float()), ("8-bit", z_8bit)]:
        print(f"{name:>8} code: MSE {loss_fn(conv_ae.decode(code), x_test).item():.5f}")
print("bytes per image:", {"raw pixels": 784, "float16 code": 2 * 32, "8-bit code": q[0].numel()})

from e2edl.experiments.autoencoders import dequantise, quantise

assert torch.equal(quantise(z, lo, hi), q) and torch.allclose(dequantise(q, lo, hi), z_8bit)

# %% [markdown]
# The library's `quantise`/`dequantise` are the two lines above (the assert checks it). The MSE
# barely moves from float32 to 8 bits, because the decoder is smooth: a change of half a level
# in `z` is a tiny change in the image.
#
# ### Against PNG and JPEG
#
# A fair comparison stores *the same digits* with ordinary image files. **PNG** is lossless (MSE 0),
# so we report its size. **JPEG** has a quality knob that trades bytes for error, so "how many bytes
# does JPEG need" only has an answer *at a given error*: for each autoencoder we search the qualities
# for the smallest JPEG whose MSE is at most the autoencoder's — JPEG at **matched MSE**. Here is
# the knob on a few qualities:

# %%
from e2edl.experiments.autoencoders import codec_roundtrip, jpeg_curve, match_jpeg

sample = test_images[:500]
png_sizes, png_decoded = codec_roundtrip(sample, "PNG")
print(f"PNG: {png_sizes.mean():.1f} bytes per image, lossless: {torch.equal(png_decoded, sample)}")
curve = jpeg_curve(sample, qualities=(1, 10, 30, 60, 90))
for point in curve:
    print(
        f"JPEG quality {point['quality']:>2}: {point['bytes']:6.1f} bytes per image, MSE {point['mse']:.5f}"
    )
match = match_jpeg(curve, target_mse=loss_fn(conv_ae.decode(z_8bit), x_test).item())
print("smallest of these JPEGs at least as good as our 8-bit code:", match)

# %% [markdown]
# At 28 × 28 a JPEG or PNG file is mostly *header* (tables, markers), which is part of the honest
# answer: a general-purpose codec knows nothing about digits and pays for that on every image. The
# autoencoder's knowledge lives in its decoder, which is stored once and shared by every image — so
# its size belongs in the accounting too:

# %%
decoder_parameters = sum(p.numel() for p in conv_ae.decoder.parameters())
print(f"conv decoder: {decoder_parameters} parameters = {2 * decoder_parameters / 1e6:.2f} MB at float16")

# %% [markdown]
# That one-off cost only pays back over many images — and only for images like the ones it was
# trained on: this decoder can draw digits, not photographs.
#
# ## 6. The full experiment
#
# `e2edl.experiments.autoencoders` (what `e2edl run autoencoders` runs) trains the convolutional
# autoencoder at several bottleneck sizes and the fully connected one at `k = 2`, on all the
# training digits, stores every code as float16 and as 8 bits, and measures bytes and MSE on the
# same test digits as PNG and matched-MSE JPEG. It writes the table to `compression_table.md` and
# figures of reconstructions, the 2-D code space, interpolations and bytes against MSE.
#
# Its claims (full mode): the convolutional autoencoder with a 32-number code reaches a test MSE of
# at most 0.008, also after storing its code in 32 bytes; the fully connected one with two numbers
# reaches at most 0.035. Quick mode trains on a fifth of the data for a few epochs, with looser
# thresholds still far below the mean digit's error.

# %%
from e2edl.course import passed, run_lesson

result = run_lesson("autoencoders", quick=QUICK, out=RUNS / "05_autoencoders")
assert passed(result), "a claim of this lesson failed; see the table above"

# %%
print((RUNS / "05_autoencoders" / "compression_table.md").read_text())

# %% [markdown]
# How to read the table: each autoencoder row is one way to store a digit. Compare its 8-bit bytes
# with the JPEG bytes in the same row — that JPEG is the smallest one that is at least as accurate —
# and with PNG and the raw 784 bytes at the top. A larger `k` costs more bytes and buys a lower
# error; where even JPEG's lowest quality is more accurate than a small code, the table shows the
# quality as 1 and a JPEG MSE below the code's: at that error JPEG cannot get any smaller.
