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
# # 03 · MNIST with a fully connected network
#
# MNIST is 70,000 photographs of handwritten digits, 28×28 grey pixels each, with the digit they
# show. It is small enough to train on a laptop in seconds and hard enough that the choices we
# make — how we feed the data, how we scale the inputs, how we schedule the learning rate — show up
# in the numbers. This lesson builds the whole pipeline once by hand, then hands it to the
# course's `fit()`:
#
# **data set → batches → model → loss → optimizer → training loop → evaluation.**

# %%
import os
import subprocess
import sys
import time
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
# ## 1. The data, as tensors in memory
#
# `e2edl.data.load_mnist` fetches the four original IDX files (from the cache, a local mirror or
# the internet, checking their SHA-256), parses them and returns plain tensors. The whole training
# set is 60,000 × 28 × 28 bytes = 47 MB: it fits in memory many times over, so there is no reason
# to decode images one at a time while training.

# %%
from e2edl.data import load_mnist

start = time.perf_counter()
x_train, y_train = load_mnist("train")
x_test, y_test = load_mnist("test")
print(f"loaded in {time.perf_counter() - start:.2f} s")
print("train:", tuple(x_train.shape), x_train.dtype, " test:", tuple(x_test.shape))
print("digits per class in the training set:", torch.bincount(y_train).tolist())

fig, axes = plt.subplots(3, 12, figsize=(10, 2.8))
for ax, image, label in zip(axes.flat, x_train, y_train):
    ax.imshow(image, cmap="gray")
    ax.set_title(label.item(), fontsize=8)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 2. Normalisation: why we rescale the inputs
#
# Pixels are bytes, 0 to 255. Feeding them raw means the first layer's pre-activations are
# hundreds of times larger than its weights' scale; the gradients with respect to those weights are
# huge too, and one learning rate cannot suit them and the rest of the network. Lesson 02 showed
# the underlying reason: the loss surface becomes badly conditioned, and gradient descent crawls
# along the flat directions while bouncing across the steep ones. The usual fix is to subtract the
# training set's mean pixel value and divide by its standard deviation:

# %%
pixels = x_train.float() / 255
mean, std = pixels.mean().item(), pixels.std().item()
print(f"mean {mean:.4f}, std {std:.4f}  (the constants everybody uses: 0.1307, 0.3081)")

# %% [markdown]
# Let us *measure* what this buys. The same small network, the same seed, the same one pass of
# plain SGD over the data, with three input scalings:


# %%
def one_epoch_accuracy(scale, n_train=60_000 if not QUICK else 15_000, lr=0.05):
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))
    optimizer = torch.optim.SGD(model.parameters(), lr=lr)
    order = torch.randperm(n_train)
    for i in range(0, n_train, 64):
        idx = order[i : i + 64]
        loss = nn.functional.cross_entropy(model(scale(x_train[idx])), y_train[idx])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return (model(scale(x_test)).argmax(1) == y_test).float().mean().item()


scalings = {
    "raw bytes 0..255": lambda x: x.float(),
    "scaled to [0, 1]": lambda x: x.float() / 255,
    "standardised (x/255 − mean)/std": lambda x: (x.float() / 255 - mean) / std,
}
for name, scale in scalings.items():
    print(f"{name:<34} test accuracy after one epoch: {one_epoch_accuracy(scale):.4f}")

# %% [markdown]
# Raw bytes barely learn at a learning rate that suits the other two (the printout above shows
# how far behind they end up); dividing by 255 fixes most of it, and standardising gives the
# network inputs centred on zero with unit spread. From here on every batch is standardised.
#
# ## 3. The pipeline written out once
#
# PyTorch's standard pieces: a `Dataset` answers "give me example *i*"; a `DataLoader` shuffles the
# indices each epoch, groups them into batches and stacks the examples; the model maps a batch
# `(B, 1, 28, 28)` to **logits** `(B, 10)`, one score per digit; `cross_entropy` turns logits and
# labels into a loss; the optimizer updates the weights.

# %%
from torch.utils.data import DataLoader, TensorDataset


def standardise(x):
    return ((x.float() / 255 - 0.1307) / 0.3081).unsqueeze(1)  # (B, 28, 28) uint8 → (B, 1, 28, 28)


n_train = 60_000 if not QUICK else 15_000
dataset = TensorDataset(x_train[:n_train], y_train[:n_train])
loader = DataLoader(dataset, batch_size=256, shuffle=True)

torch.manual_seed(0)
model = nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
start = time.perf_counter()
for images, labels in loader:  # one epoch
    logits = model(standardise(images))  # (B, 10)
    loss = nn.functional.cross_entropy(logits, labels)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
model.eval()  # evaluation mode: dropout off, batch-norm uses its running statistics
with torch.no_grad():
    accuracy = (model(standardise(x_test)).argmax(1) == y_test).float().mean().item()
print(f"one epoch by hand: test accuracy {accuracy:.4f} in {time.perf_counter() - start:.1f} s")

# %% [markdown]
# That loop is correct, but part of its time goes to shuffling bytes rather than learning: the
# `DataLoader` over a `TensorDataset` fetches the examples of every batch one at a time and stacks
# them again. When the whole data set is already a tensor, slicing a shuffled batch out of it in one
# indexing operation does the same job — `e2edl.data.TensorLoader` does exactly that, and applies
# transforms (normalisation, augmentation) to a whole batch at once. The cell below times one
# epoch of batches each way (the `TensorLoader` even normalises as it goes). The much bigger cost
# in the classic tutorial pipeline is turning every image into a PIL image and back with
# `ToTensor`; `benchmarks/mnist_data_path.py` measures that path against ours.

# %%
from e2edl.data import TensorLoader
from e2edl.data.batch_transforms import BatchNormalize

fast_loader = TensorLoader(
    x_train[:n_train], y_train[:n_train], batch_size=256, shuffle=True, transform=BatchNormalize()
)
for name, batches in [("DataLoader(TensorDataset)", loader), ("TensorLoader", fast_loader)]:
    start = time.perf_counter()
    for _batch in batches:
        pass
    print(f"{name:<26} one epoch of batches in {time.perf_counter() - start:.3f} s")

# %% [markdown]
# ## 4. The network, and `fit()`
#
# A **multilayer perceptron** flattens the image into 784 numbers and applies
# `Linear → ReLU → Dropout` a few times, then a last `Linear` to 10 logits. *Dropout* zeroes a random
# fifth of the hidden activations during training, so the network cannot rely on any single unit;
# it is switched off at evaluation. `e2edl.nn.mlp.MLP` is that network:

# %%
from e2edl.nn.mlp import MLP

mlp = MLP(28 * 28, [512, 512], 10, dropout=0.2)
print(mlp)
print(f"{sum(p.numel() for p in mlp.parameters()):,} parameters")

# %% [markdown]
# The lesson's run trains it with `fit()` — the loop above plus evaluation twice per epoch, a
# `metrics.jsonl` log, a checkpoint per epoch and progress bars — using AdamW and a **one-cycle**
# learning-rate schedule: the rate warms up from low to high over the first quarter of training,
# then anneals to nearly zero. Warm-up avoids wrecking the random initial weights with big steps;
# annealing lets the weights settle into a minimum instead of bouncing around it.
#
# The clock starts *before* the data files are read, so the time it reports for reaching 98% test
# accuracy includes loading the data.

# %%
from e2edl.figures import show_saved
from e2edl.course import passed, run_lesson

out = RUNS / "03_mnist_mlp"
result = run_lesson("mnist-mlp", quick=QUICK, out=out)

# %% [markdown]
# The table above is the lesson's verdict: measured values against its claims (in quick mode only
# the accuracy claim applies; the 30-second claim is checked by a full run, `e2edl run mnist-mlp`).
# The curves: test loss keeps falling with the training loss — no sign of overfitting yet.

# %%
show_saved(out / "curves.png", out / "accuracy.png")

# %% [markdown]
# Which digits get confused with which? Rows are the true digit, columns the prediction; the
# off-diagonal counts are the mistakes.

# %%
show_saved(out / "confusion.png")

# %% [markdown]
# And the mistakes the network was *most sure* about. Many are digits a person would hesitate on
# too; some are plain errors that a network which sees shapes rather than pixels avoids — the
# convolutional network of lesson 04.

# %%
show_saved(out / "mistakes.png", width=8)
assert passed(result), "a claim of this lesson failed; see the table above"
