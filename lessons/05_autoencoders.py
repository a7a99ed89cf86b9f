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
# # Autoencoders: learning to compress
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
# 1. two baselines that need no training: the mean digit (zero bytes per image) and PCA, the best
#    *linear* code of `k` numbers;
# 2. a fully connected autoencoder with a code of just **two** numbers, built in the open and
#    trained with the lesson's recipe;
# 3. what those two numbers learned, next to what PCA's two numbers keep;
# 4. a convolutional autoencoder with a larger code, and the *transposed convolution* its decoder
#    draws with;
# 5. storing the code in bytes (float16, 8 bits) and comparing with PNG and JPEG;
# 6. the lesson's run: a table of bytes and errors over code sizes, PCA beside each autoencoder.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first (this release)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "e2edl @ git+https://github.com/e2edl/e2edl@v0.1.0"], check=True)  # fmt: skip

from e2edl.course.notebook import setup_lesson, show_source

QUICK, OUT = setup_lesson("autoencoders")  # prints the mode, the run folder and the reference timings

# %%
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from e2edl.compression import to_unit
from e2edl.data.mnist import MNIST
from e2edl.exercises import check  # for the exercises at the end
from e2edl.recipes.autoencoders import CONV_32, FC_2, QUICK_CONV_32, QUICK_FC_2

# %% [markdown]
# ## 1. The data, and two baselines that need no training
#
# MNIST arrives as `uint8` images `(N, 28, 28)`. We keep them like that in memory (1 byte per
# pixel) and turn each *batch* into floats in [0, 1] with a channel dimension, `(B, 1, 28, 28)`.
# The last 5,000 training images are held out as a **validation** split: we watch training and
# explore on them, and keep the test set for the lesson's final table. In quick mode the models
# train on the first 12,000 training images, in full mode on all 55,000.
#
# Before training anything: how wrong is a "compressor" that stores **zero** bytes per image and
# always answers with the mean training digit? Its error is the number every code must beat.

# %%
data = MNIST.load()
fc_recipe = QUICK_FC_2 if QUICK else FC_2
conv_recipe = QUICK_CONV_32 if QUICK else CONV_32
train_images = data.x_train[: conv_recipe.train_images]  # uint8 (N, 28, 28): what the models train on
x_val = to_unit(data.x_val)  # float (5000, 1, 28, 28) in [0, 1]
print(f"training images {tuple(train_images.shape)}, validation images {tuple(x_val.shape)}")

mean_digit = to_unit(train_images).mean(0)  # (1, 28, 28)
mean_digit_mse = ((x_val - mean_digit) ** 2).mean().item()
print(f"MSE per pixel of always answering the mean digit: {mean_digit_mse:.4f}")


def show_rows(rows: dict, title: str = "", cmap: str = "gray", vmin=0, vmax=1):
    """Plot image rows: {label: tensor (n, 1, 28, 28)}, one row each."""
    n = len(next(iter(rows.values())))
    fig, axes = plt.subplots(len(rows), n, figsize=(0.8 * n, 0.85 * len(rows)), squeeze=False)
    for r, (label, images) in enumerate(rows.items()):
        for c in range(n):
            axes[r, c].imshow(images[c, 0].detach(), cmap=cmap, vmin=vmin, vmax=vmax)
            axes[r, c].set_xticks([]), axes[r, c].set_yticks([])
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.suptitle(title, fontsize=9)
    plt.show()


one_of_each = torch.tensor([int((data.y_val == d).nonzero()[0]) for d in range(10)])  # a 0, a 1, ... a 9
digits = x_val[one_of_each]  # (10, 1, 28, 28)
show_rows({"validation digits": digits, "mean digit": mean_digit.expand(10, -1, -1, -1)})

# %% [markdown]
# ### The best linear code: PCA
#
# The classic way to describe each image by `k` numbers is **principal component analysis**.
# Subtract the mean digit; find the `k` directions in pixel space (each a 784-pixel pattern) along
# which the training images vary the most — the eigenvectors of the pixels' covariance matrix with
# the largest eigenvalues. An image's code is its `k` coordinates along those directions; decoding
# adds the `k` patterns, so weighted, back onto the mean. Encoder and decoder are both *linear*
# maps, and no other linear pair with `k` numbers in between has a smaller squared error on the
# training images (the Eckart–Young theorem). It is the reference a non-linear autoencoder has to beat.

# %%
x = to_unit(train_images).flatten(1)  # (N, 784)
mean = x.mean(0)  # (784,)
centred = x - mean
covariance = (centred.T @ centred).double() / (len(x) - 1)  # (784, 784)
eigenvalues, eigenvectors = torch.linalg.eigh(covariance)  # ascending order


def pca_reconstruct(images: torch.Tensor, k: int) -> torch.Tensor:
    """(B, 1, 28, 28) → (B, 1, 28, 28): encode to k numbers with PCA, decode, clamp to [0, 1]."""
    directions = eigenvectors[:, -k:].float()  # (784, k): the k directions of largest variance
    z = (images.flatten(1) - mean) @ directions  # (B, k): the code
    return (mean + z @ directions.T).clamp(0, 1).reshape(images.shape)


total = eigenvalues.sum()
for k in (2, 32):
    kept = eigenvalues[-k:].sum() / total
    error = ((pca_reconstruct(x_val, k) - x_val) ** 2).mean().item()
    print(f"PCA, k = {k:>2}: keeps {kept:.0%} of the training images' variance; validation MSE {error:.4f}")
top = eigenvectors[:, -8:].flip(1).T.float().reshape(8, 1, 28, 28)
show_rows({"directions": top}, "The 8 directions of largest variance (red +, blue −)", "RdBu_r", -0.15, 0.15)

# %% [markdown]
# The library's `e2edl.nn.autoencoder.PCAAutoencoder` is this, written as an autoencoder with the
# same interface as the trained ones (`encode`, `decode`): a `Linear` layer holds the directions.
# Fitted on the same images it reconstructs the same digits:

# %%
from e2edl.nn.autoencoder import PCAAutoencoder

pca_2, pca_32 = (PCAAutoencoder.fit(to_unit(train_images), k) for k in (2, 32))
with torch.no_grad():
    difference = max(
        (pca(x_val) - pca_reconstruct(x_val, k)).abs().max().item() for pca, k in ((pca_2, 2), (pca_32, 32))
    )
print(f"largest difference between the library's PCA and ours: {difference:.2e}")
assert difference < 1e-4

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
    nn.Linear(784, 512),
    nn.ReLU(),
    nn.Linear(512, 256),
    nn.ReLU(),
    nn.Linear(256, 128),
    nn.ReLU(),
    nn.Linear(128, k),  # (B, k): the code
)
decoder = nn.Sequential(
    nn.Linear(k, 128),
    nn.ReLU(),
    nn.Linear(128, 256),
    nn.ReLU(),
    nn.Linear(256, 512),
    nn.ReLU(),
    nn.Linear(512, 784),
    nn.Sigmoid(),
    nn.Unflatten(1, (1, 28, 28)),  # (B, 784) → (B, 1, 28, 28)
)
z = encoder(digits)
print("image", tuple(digits.shape), "→ code", tuple(z.shape), "→ image", tuple(decoder(z).shape))
print("parameters:", sum(p.numel() for p in [*encoder.parameters(), *decoder.parameters()]))

# %% [markdown]
# This network is the library's `e2edl.nn.autoencoder.FCAutoencoder(2)`: with our weights loaded,
# it gives the same images.

# %%
from e2edl.nn.autoencoder import FCAutoencoder

library = FCAutoencoder(k)
library.encoder.load_state_dict(encoder.state_dict())
library.decoder.load_state_dict(decoder.state_dict())
with torch.no_grad():
    difference = (library(digits) - decoder(encoder(digits))).abs().max().item()
print(f"largest difference: {difference:.1e}")
assert difference == 0

# %% [markdown]
# Training is the loop of the linear-regression lesson, run by `fit`, with one change: **the target
# is the input**. The loader turns each batch of images into the pair `(x, x)`
# (`input_as_target`), and the loss is the mean squared error between the decoded image and the
# image. The lesson's recipe, `e2edl.recipes.autoencoders`, is a frozen dataclass of settings and
# this function:

# %%
from e2edl.recipes.autoencoders import train_autoencoder

show_source(train_autoencoder)
print(fc_recipe)

# %% [markdown]
# Adam (the mnist-mlp lesson's optimiser) with a one-cycle schedule; the loss is checked on the
# validation images after every epoch. The model is saved in `OUT / "fc_ae_2"`, where the lesson's
# run below finds it instead of training it again. To try other settings, change the recipe —
# e.g. `dataclasses.replace(fc_recipe, lr=1e-3)` — and give it another `run_dir`.

# %%
fc_ae, fc_history = train_autoencoder(data, fc_recipe, run_dir=OUT / fc_recipe.name)
for record in fc_history.records:
    print(f"epoch {record['epoch']:>2}: validation MSE {record['val_loss']:.4f}")
print(f"mean digit {mean_digit_mse:.4f}; PCA with k = 2: {((pca_2(x_val) - x_val) ** 2).mean():.4f}")

# %%
with torch.no_grad():
    show_rows({"original": digits, "PCA, k = 2": pca_2(digits), "FC AE, k = 2": fc_ae(digits)},
              "Two numbers per image, decoded again")  # fmt: skip

# %% [markdown]
# Two numbers cannot hold a whole digit: look for blurry strokes, and for digits that come back
# looking like a different one. But compare the validation errors above: the autoencoder's two
# numbers carry more than the mean digit knows, and more than PCA's best two linear coordinates — a
# non-linear decoder can bend a two-dimensional code around the shapes digits take.
#
# ## 3. What did the two numbers learn?
#
# With `k = 2` we can *look* at the code space. Each dot is a validation digit placed at its code
# `(z₁, z₂)`; the colour is its label, which neither model ever saw. Left, PCA's two coordinates;
# right, the autoencoder's.

# %%
with torch.no_grad():
    codes = {
        "PCA, k = 2": pca_2.encode(x_val),
        "FC autoencoder, k = 2": fc_ae.encode(x_val),
    }  # (5000, 2) each
fig, axes = plt.subplots(1, 2, figsize=(11, 4.5))
for ax, (name, z) in zip(axes, codes.items()):
    points = ax.scatter(z[:, 0], z[:, 1], c=data.y_val, cmap="tab10", s=3, vmin=-0.5, vmax=9.5)
    ax.set(xlabel="z₁", ylabel="z₂", title=name)
fig.colorbar(points, ax=axes, ticks=range(10), label="digit")
fig.suptitle("2-D codes of the 5000 validation digits, coloured by their label", fontsize=10)
plt.show()

# %% [markdown]
# Digits of one class gather in regions of the plane, with no label ever used: to reconstruct well,
# an encoder has to put similar-looking images at nearby codes. How much the classes overlap can be
# put in a number: give each digit the most common label among its 10 nearest neighbours in the
# plane, and count how often that is its own label.


# %%
def neighbours_agree(z: torch.Tensor, labels: torch.Tensor, k: int = 10) -> float:
    """Share of points whose k nearest other points (in z) most often carry their own label."""
    distances = torch.cdist(z, z).fill_diagonal_(float("inf"))  # (N, N); a point is not its own neighbour
    nearest = distances.topk(k, largest=False).indices  # (N, k)
    return (labels[nearest].mode(dim=1).values == labels).float().mean().item()


for name, z in codes.items():
    print(
        f"{name}: the 10 nearest neighbours' label is the digit's own for {neighbours_agree(z[:3000], data.y_val[:3000]):.0%}"
    )

# %% [markdown]
# Compare the two numbers: the autoencoder's plane keeps the classes further apart than PCA's,
# although neither model was ever told there are classes. The decoder, in turn, is a *generator*:
# give it any point of the plane and it draws a digit. Here is a grid of points spanning where the
# autoencoder's codes lie:

# %%
z_ae = codes["FC autoencoder, k = 2"]
lo, hi = z_ae.quantile(0.02, dim=0), z_ae.quantile(0.98, dim=0)
z1, z2 = torch.meshgrid(torch.linspace(lo[0], hi[0], 12), torch.linspace(hi[1], lo[1], 12), indexing="xy")
with torch.no_grad():
    drawn = fc_ae.decode(torch.stack([z1.flatten(), z2.flatten()], dim=1))  # (144, 1, 28, 28)
plt.figure(figsize=(6, 6))
plt.imshow(drawn.reshape(12, 12, 28, 28).permute(0, 2, 1, 3).reshape(12 * 28, 12 * 28), cmap="gray")
plt.axis("off")
plt.title("The decoder, evaluated on a 12 × 12 grid of codes")
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
    z_four, z_nine = fc_ae.encode(torch.stack([four, nine]))
    walk = fc_ae.decode((1 - t.view(-1, 1)) * z_four + t.view(-1, 1) * z_nine)
show_rows({"pixels": (1 - t) * four + t * nine, "codes": walk}, "From a 4 to a 9")

# %% [markdown]
# ## 4. A convolutional autoencoder with a bigger code
#
# Images have structure a flat vector hides: a stroke is a stroke wherever it is. The
# convolutional autoencoder halves the image twice with stride-2 convolutions — by the mnist-cnn
# lesson's formula, a 3×3 kernel with padding 1 and stride 2 gives ⌊(28 + 2 − 3)/2⌋ + 1 = 14, then 7 —
# and maps the `(64, 7, 7)` features to the code with one linear layer. Its decoder has to go the
# other way, from 7×7 to 14×14 to 28×28. Its shapes:

# %%
from e2edl.nn.autoencoder import ConvAutoencoder

conv_ae_shapes = ConvAutoencoder(bottleneck=32)
h = digits
for layer in [*conv_ae_shapes.encoder, *conv_ae_shapes.decoder]:
    h = layer(h)
    print(f"{type(layer).__name__:>16} → {tuple(h.shape)}")

# %% [markdown]
# ### Transposed convolution: how a decoder draws a larger image
#
# A convolution gathers: each output pixel is a weighted sum of a patch of inputs. A **transposed
# convolution** scatters: each *input* pixel stamps a copy of the kernel, scaled by its value, onto
# the output, and the stamps are placed `stride` pixels apart; where stamps overlap, they add up. On
# a 2×2 input with a 3×3 kernel of ones and stride 2, the four stamps cover a 5×5 output and overlap
# on its middle row and column:


# %%
def conv_transpose_by_hand(x: torch.Tensor, kernel: torch.Tensor, stride: int) -> torch.Tensor:
    """x (H, W), kernel (k, k) → ((H − 1)·stride + k, (W − 1)·stride + k): every input pixel adds
    kernel × its value to the output, at (stride·i, stride·j)."""
    k = kernel.shape[0]
    out = torch.zeros((x.shape[0] - 1) * stride + k, (x.shape[1] - 1) * stride + k)
    for i in range(x.shape[0]):
        for j in range(x.shape[1]):
            out[stride * i : stride * i + k, stride * j : stride * j + k] += x[i, j] * kernel
    return out


small = torch.tensor([[1.0, 2.0], [3.0, 4.0]])
kernel = torch.ones(3, 3)
stamped = conv_transpose_by_hand(small, kernel, stride=2)
print(stamped)
library_result = F.conv_transpose2d(small[None, None], kernel[None, None], stride=2)[
    0, 0
]  # (B, C, H, W) in and out
print("largest difference from F.conv_transpose2d:", (stamped - library_result).abs().max().item())
assert torch.equal(stamped, library_result)

# %% [markdown]
# Then `padding` *removes* that many pixels from each border of the result (the opposite of a
# convolution's padding), and `output_padding` adds one row and column back at the bottom and right,
# so that the output size is
#
# $$\text{out} = (\text{in} - 1)\cdot\text{stride} - 2\cdot\text{padding} + \text{kernel} + \text{output\_padding}.$$
#
# Without `output_padding`, a 3×3 transposed convolution with stride 2 and padding 1 turns 7 into 13,
# not 14: a stride-2 convolution maps both 13 and 14 pixels to 7, and `output_padding` says which
# size to go back to. The decoder's two layers, from the formula and as run:

# %%
for layer, size in ((conv_ae_shapes.decoder[3], 7), (conv_ae_shapes.decoder[5], 14)):
    stride, padding, kernel, extra = (
        getattr(layer, a)[0] for a in ("stride", "padding", "kernel_size", "output_padding")
    )
    formula = (size - 1) * stride - 2 * padding + kernel + extra
    ran = layer(torch.zeros(1, layer.in_channels, size, size)).shape[-1]
    print(f"{size:>2} → ({size} − 1)·{stride} − 2·{padding} + {kernel} + {extra} = {formula}; ran: {ran}")
without = nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1)(torch.zeros(1, 1, 7, 7)).shape[-1]
down = [
    F.conv2d(torch.zeros(1, 1, n, n), torch.zeros(1, 1, 3, 3), stride=2, padding=1).shape[-1]
    for n in (13, 14)
]
print(
    f"without output_padding: 7 → {without}; a stride-2 convolution takes 13 → {down[0]} and 14 → {down[1]}"
)

# %% [markdown]
# Why "transposed"? A convolution is a linear map, a matrix $W$ applied to the flattened image; this
# operation applies $W^\top$. The gradient of a convolution with respect to its input is also
# $W^\top$ applied to the output's gradient — so PyTorch's autograd runs a transposed convolution
# whenever it backpropagates through a convolution. Checked with the same 3×3 kernels:

# %%
torch.manual_seed(0)
weights = torch.randn(4, 1, 3, 3)  # a convolution from 1 to 4 channels
image = torch.randn(1, 1, 14, 14, requires_grad=True)
features = F.conv2d(image, weights, stride=2, padding=1)  # (1, 4, 7, 7)
upstream = torch.randn_like(features)  # any gradient arriving from above
(gradient,) = torch.autograd.grad(features, image, upstream)  # Wᵀ · upstream, by autograd
transposed = F.conv_transpose2d(upstream, weights, stride=2, padding=1, output_padding=1)  # (1, 1, 14, 14)
print("largest difference:", (gradient - transposed).abs().max().item())
assert torch.allclose(gradient, transposed, atol=1e-5)

# %% [markdown]
# Now the convolutional autoencoder with a 32-number code, trained with the same recipe function
# (saved in `OUT / "conv_ae_32"`), and compared with PCA at the same `k`:

# %%
print(conv_recipe)
conv_ae, conv_history = train_autoencoder(data, conv_recipe, run_dir=OUT / conv_recipe.name)
for record in conv_history.records:
    print(f"epoch {record['epoch']}: validation MSE {record['val_loss']:.4f}")
print(f"PCA with k = 32: {((pca_32(x_val) - x_val) ** 2).mean():.4f}")
with torch.no_grad():
    show_rows({"original": digits, "PCA, k = 32": pca_32(digits), "conv AE, k = 32": conv_ae(digits)},
              "32 numbers per image, decoded again")  # fmt: skip

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
# (at float32, `8k` bytes — nothing, spread over thousands of images). A number inside the training
# range moves by at most half a level; a new image's code can fall *outside* that range, and is then
# clamped to 0 or 255 first, which moves it further. The cell measures both, on the validation
# images:

# %%
with torch.no_grad():
    z_train = torch.cat(
        [conv_ae.encode(to_unit(train_images[i : i + 4000])) for i in range(0, len(train_images), 4000)]
    )
    z = conv_ae.encode(x_val)  # (5000, 32)
    lo, hi = z_train.min(0).values, z_train.max(0).values  # (32,) each
    q = ((z - lo) / (hi - lo) * 255).round().clamp(0, 255).to(torch.uint8)  # (5000, 32) bytes
    z_8bit = lo + q.float() / 255 * (hi - lo)
    for name, code in [("float32", z), ("float16", z.half().float()), ("8-bit", z_8bit)]:
        print(f"{name:>8} code: validation MSE {((conv_ae.decode(code) - x_val) ** 2).mean():.5f}")
print("bytes per image:", {"raw pixels": 784, "float16 code": 2 * 32, "8-bit code": q[0].numel()})

outside = (z < lo) | (z > hi)  # (5000, 32)
moved = (z_8bit - z).abs() / ((hi - lo) / 255)  # how far each number moved, in levels
print(f"inside the training range: largest move {moved[~outside].max():.3f} levels")
if outside.any():
    print(
        f"outside it: {outside.float().mean():.2%} of the numbers, moved up to {moved[outside].max():.2f} levels"
    )

# %% [markdown]
# The MSE barely moves from float32 to 8 bits, clamped numbers included, because the decoder is
# smooth: a small change in `z` is a small change in the image.
# The library's `e2edl.compression.quantise` and `dequantise` are the two lines above:

# %%
from e2edl.compression import dequantise, quantise

assert torch.equal(quantise(z, lo, hi), q) and torch.allclose(dequantise(q, lo, hi), z_8bit)
print("quantise/dequantise agree with the cell above")

# %% [markdown]
# ### Against PNG and JPEG
#
# A fair comparison stores *the same digits* with ordinary image files. **PNG** is lossless (MSE 0),
# so we report its size. **JPEG** has a quality knob that trades bytes for error, so "how many bytes
# does JPEG need" only has an answer *at a given error*: for each autoencoder we search the qualities
# for the smallest JPEG whose MSE is at most the autoencoder's — JPEG at **matched MSE**. Here is
# the knob on a few qualities, for 500 validation digits:

# %%
from e2edl.compression import codec_roundtrip, encode_image, jpeg_curve, match_jpeg, payload_bytes

sample = data.x_val[:500]
png_sizes, png_decoded = codec_roundtrip(sample, "PNG")
print(f"PNG: {png_sizes.mean():.1f} bytes per image, lossless: {torch.equal(png_decoded, sample)}")
curve = jpeg_curve(sample, qualities=(1, 5, 10, 30, 60, 90))
for point in curve:
    print(
        f"JPEG quality {point['quality']:>2}: {point['bytes']:6.1f} bytes per image, MSE {point['mse']:.5f}"
    )
code_mse = ((conv_ae.decode(z_8bit[:500]) - x_val[:500]) ** 2).mean().item()
match = match_jpeg(curve, target_mse=code_mse)
print(
    f"the 8-bit code's MSE on these digits: {code_mse:.5f}; the smallest of these JPEGs at least as good: {match}"
)

# %% [markdown]
# Where do a small file's bytes go? Part of every file is its *header*: PNG's signature and chunks
# that describe the image, JPEG's quantisation and Huffman tables and markers — paid by every image,
# whatever it shows. `payload_bytes` counts the rest, the bytes that encode the pixels:

# %%
for name, fmt, quality in (("PNG", "PNG", None), ("JPEG at quality 5", "JPEG", 5)):
    files = [encode_image(image, fmt, quality) for image in sample]
    size = sum(map(len, files)) / len(files)
    header = size - sum(map(payload_bytes, files)) / len(files)
    print(
        f"{name}: {size:.1f} bytes per image, of which {header:.1f} ({header / size:.0%}) header and tables"
    )

# %% [markdown]
# A small PNG is mostly compressed pixels, with a fixed header of a few dozen bytes; a small JPEG is
# mostly its tables. Either way, a general-purpose codec knows nothing about digits and pays for
# that on every image. The autoencoder's knowledge lives in its decoder, which is stored once and
# shared by every image — so its size belongs in the accounting too:

# %%
decoder_parameters = sum(p.numel() for p in conv_ae.decoder.parameters())
print(f"conv decoder: {decoder_parameters} parameters = {2 * decoder_parameters / 1e6:.2f} MB at float16")

# %% [markdown]
# That one-off cost only pays back over many images — and only for images like the ones it was
# trained on: this decoder can draw digits, not photographs.
#
# ## 6. The lesson's run
#
# `run_lesson` runs what `e2edl run autoencoders` runs. It reuses the two autoencoders trained above
# and, in full mode, trains the convolutional one at more code sizes (and the fully connected one at
# `k = 32`); it fits PCA at each of those sizes; then, on the same test digits, scored once, it
# stores every code as float16 and as 8 bits and measures bytes and MSE against PNG and
# matched-MSE JPEG. Its claims put numbers on the text: the errors of the two models above, the
# 8-bit code's error, and how far each model's test MSE is below PCA's at the same `k`.

# %%
from e2edl.course import full_run, run_lesson

result = run_lesson("autoencoders", quick=QUICK, out=OUT, resume=True)

# %%
result.tables["compression"]

# %% [markdown]
# How to read the table: each row below the three references is one way to store a digit, grouped
# by `k`. Compare its 8-bit bytes with the JPEG bytes in the same row — that JPEG is the smallest one
# that is at least as accurate — and with PNG and the raw 784 bytes at the top. A larger `k` costs
# more bytes and buys a lower error; where even JPEG's lowest quality is more accurate than a small
# code, the table shows the quality as 1 and a JPEG MSE below the code's: at that error JPEG cannot
# get any smaller. The same, as a picture, and the test digits each model gives back:

# %%
result.show("rate_distortion", "reconstructions")

# %% [markdown]
# The full run, on the reference machine (its claims, then its table):

# %%
full_run("autoencoders")

# %%
assert result.passed(), "a claim of this lesson failed; see the table above"

# %% [markdown]
# Two well-known relatives are left for later: the *denoising* autoencoder, trained to reconstruct
# clean images from corrupted ones, and the *variational* autoencoder, whose code is a probability
# distribution one can sample new digits from. Both change the objective; the architecture and the
# training loop stay what you have seen here.
#
# ## Exercises
#
# Each exercise asks for a piece of this lesson; the cell after it checks your function and says
# what is wrong, if anything. (From a terminal: `e2edl check autoencoders --notebook your_copy.ipynb`.)
#
# **1. The 8-bit round trip.** Write `quantise_round_trip(z, lo, hi)`: the codes `z (N, k)` stored
# in one byte per number — `q`, a `uint8` tensor — and the numbers read back from those bytes, for
# per-dimension ranges `lo, hi (k,)`. Numbers outside `[lo, hi]` go to the nearest end.

# %% tags=["exercise"]
import torch


def quantise_round_trip(
    z: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, k) floats, (k,) ranges → (q: (N, k) uint8 in 0..255, z_hat: (N, k) floats decoded from q)."""
    raise NotImplementedError  # your code here


# %%
check("quantise-round-trip", quantise_round_trip)

# %% [markdown]
# **2. PCA by hand.** Write `pca_reconstruct(train, x, k)`: fit PCA to the rows of `train (N, D)`
# and return the rows of `x (M, D)` encoded to `k` numbers and decoded again (no clamping).

# %% tags=["exercise"]
import torch


def pca_reconstruct(train: torch.Tensor, x: torch.Tensor, k: int) -> torch.Tensor:
    """(N, D) training rows, (M, D) rows to compress → (M, D): x through PCA's top-k directions and back."""
    raise NotImplementedError  # your code here


# %%
check("pca-reconstruct", pca_reconstruct)

# %% [markdown]
# **3. A tiny convolutional autoencoder.** Write `make_autoencoder(k)` returning `(encoder,
# decoder)`: the encoder takes `(B, 1, 28, 28)` images in [0, 1] to `(B, k)` codes with at least one
# stride-2 `nn.Conv2d`; the decoder takes `(B, k)` codes back to `(B, 1, 28, 28)` images in [0, 1]
# with at least one `nn.ConvTranspose2d`. Small is fine: a few thousand parameters.

# %% tags=["exercise"]
from torch import nn


def make_autoencoder(k: int) -> tuple[nn.Module, nn.Module]:
    """(encoder: (B, 1, 28, 28) → (B, k), decoder: (B, k) → (B, 1, 28, 28) in [0, 1])."""
    raise NotImplementedError  # your code here


# %%
check("tiny-conv-autoencoder", make_autoencoder)
