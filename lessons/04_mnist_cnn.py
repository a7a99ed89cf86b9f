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
# # MNIST with a convolutional network
#
# The fully connected network of the mnist-mlp lesson sees an image as 784 unrelated numbers: shift
# a digit by one pixel and, to that network, every input has changed. A **convolutional** network
# builds in two facts about images instead: what matters is *local* (a stroke is a few neighbouring
# pixels), and the same pattern means the same thing *wherever* it appears. This lesson builds the
# pieces — convolution, padding, stride, pooling — on a real digit, then two ideas every deep
# network depends on: how to **initialise** the weights so that signals survive many layers, and
# **BatchNorm**. It traces the shapes through a network, and then races it to 99% accuracy on a
# CPU — with every decision, the stopwatch included, made on a validation split, and the test set
# scored once at the end.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first (this release)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "e2edl @ git+https://github.com/e2edl/e2edl@v0.1.0"], check=True)  # fmt: skip

from e2edl.course.notebook import setup_lesson, show_source

QUICK, OUT = setup_lesson("mnist-cnn")  # prints the mode, the run folder and the reference timings

# %%
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from e2edl.data.batch_transforms import BatchNormalize
from e2edl.data.mnist import MNIST
from e2edl.exercises import check  # for the exercises at the end

data = MNIST.load()  # training, validation (the last 5,000 training images) and test sets, in memory
print(
    f"train {tuple(data.x_train.shape)}, validation {tuple(data.x_val.shape)}, test {tuple(data.x_test.shape)}"
)
normalise = BatchNormalize(*data.mean_std)  # uint8 → (x/255 − mean) / std, the data set's own statistics
pixels = data.x_train[:1].unsqueeze(1).float() / 255  # (B=1, C=1, H, W) in [0, 1], for the pictures
print("a training digit:", data.y_train[0].item(), tuple(pixels.shape))


def show_maps(maps, titles, suptitle=""):
    """Plot a row of 2-D maps."""
    fig, axes = plt.subplots(1, len(maps), figsize=(2 * len(maps), 2.2))
    for ax, m, t in zip(axes, maps, titles):
        ax.imshow(m.detach(), cmap="gray")
        ax.set_title(t, fontsize=8)
        ax.axis("off")
    fig.suptitle(suptitle, fontsize=10)
    plt.show()


# %% [markdown]
# ## 1. Convolution
#
# A convolution slides a small grid of weights — a **kernel** — over the image and, at each
# position, outputs the weighted sum of the pixels under it. One kernel, one output map; the same
# nine weights are used at every position (*weight sharing*), which is why a conv layer has so few
# parameters. Here are three kernels written by hand: a vertical-edge detector, a horizontal-edge
# detector and a blur.

# %%
kernels = torch.stack(
    [
        torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]),  # responds to left→right brightness changes
        torch.tensor([[-1.0, -2, -1], [0, 0, 0], [1, 2, 1]]),  # responds to top→bottom changes
        torch.full((3, 3), 1 / 9),  # the mean of a 3×3 neighbourhood (all ones would sum it instead)
    ]
).unsqueeze(1)  # (out_channels=3, in_channels=1, 3, 3)
maps = F.conv2d(pixels, kernels)  # (1, 3, 26, 26)
print("input", tuple(pixels.shape), "→ output", tuple(maps.shape))
show_maps(
    [pixels[0, 0], *maps[0]], ["input", "vertical edges", "horizontal edges", "blur"], "Hand-made kernels"
)

# %% [markdown]
# "The weighted sum of the pixels under it", checked at one position: the output at row 10, column
# 12 of the first map is the 3×3 patch whose top-left corner is pixel (10, 12), multiplied by the
# kernel element by element and summed. (PyTorch does not flip the kernel, as the mathematical
# convolution would: strictly, this is a *cross-correlation*. Since the kernels are learned, the
# difference does not matter.)

# %%
patch = pixels[0, 0, 10:13, 12:15]  # (3, 3)
by_hand = (patch * kernels[0, 0]).sum()
print(f"by hand {by_hand:.6f}, F.conv2d {maps[0, 0, 10, 12]:.6f}")
assert torch.allclose(by_hand, maps[0, 0, 10, 12])

# %% [markdown]
# The output is 26×26, not 28×28: a 3×3 kernel fits in only 26 positions across. In general
#
# $$\text{out} = \left\lfloor \frac{\text{in} + 2\cdot\text{padding} - \text{kernel}}{\text{stride}} \right\rfloor + 1 .$$
#
# - **Padding** adds a border of zeros on *each* side (so it counts twice) and lets the kernel be
#   centred on edge pixels; `padding=1` keeps a 3×3 convolution's output the same size as its input.
# - **Stride** moves the kernel more than one pixel at a time, shrinking the output. The floor ⌊·⌋
#   matters: with stride 2 the fraction can be x.5, and a last half-step that would run off the
#   image is not taken.

# %%
for padding, stride in [(0, 1), (1, 1), (1, 2), (0, 2)]:
    out = F.conv2d(pixels, kernels, padding=padding, stride=stride)
    fraction = (28 + 2 * padding - 3) / stride
    formula = math.floor(fraction) + 1
    print(
        f"padding={padding} stride={stride}: output {tuple(out.shape[2:])}  "
        f"formula ⌊{fraction:g}⌋ + 1 = {formula}"
    )

# %% [markdown]
# ## 2. Pooling
#
# **Max-pooling** keeps the largest value in each 2×2 block: the map shrinks by half in each
# direction, the network's later layers see a wider area of the image for the same cost, and a
# feature that moves by a pixel often lands in the same block — a little translation invariance.

# %%
edges = F.relu(maps[:, :1])  # the vertical-edge map, negatives clipped
pooled = F.max_pool2d(edges, 2)
print(tuple(edges.shape), "→ max_pool2d(2) →", tuple(pooled.shape))
show_maps([edges[0, 0], pooled[0, 0]], ["edges 26×26", "pooled 13×13"])

# %% [markdown]
# ## 3. Initialisation: keeping the signal alive through many layers
#
# Before a network has learned anything, its weights are random — but *how* random decides whether
# it can learn at all. Take one unit of a layer, $y = \sum_{i=1}^{n} w_i x_i$, with $n$ inputs
# (the **fan-in**) and independent, zero-mean weights of variance $\mathrm{Var}(w)$. Then
#
# $$\mathrm{Var}(y) = n \cdot \mathrm{Var}(w) \cdot \mathbb{E}[x^2].$$
#
# Each layer multiplies the size of the signal by a factor; stack 30 layers and a factor of 0.5
# shrinks it a billion-fold, a factor of 2 blows it up as much. The cure is to choose
# $\mathrm{Var}(w)$ so that the factor is 1:
#
# - after a **ReLU**, half the units are zero, so $\mathbb{E}[x^2]$ is half the variance of the
#   previous layer's output: $\mathrm{Var}(w) = 2/n$ — **Kaiming** (or He) initialisation;
# - **tanh** is close to the identity near 0: $\mathrm{Var}(w) = 1/n$ keeps the forward signal;
#   **Xavier** (Glorot) initialisation takes $2/(n_\text{in} + n_\text{out})$, a compromise with
#   the backward pass, times a *gain* (PyTorch's `calculate_gain("tanh")` is 5/3) for tanh's squashing.
#
# For a convolution, the fan-in is everything one output sums over: `in_channels × kh × kw`. And
# PyTorch's **default**, for `nn.Linear` and `nn.Conv2d` alike, draws weights uniformly from
# $\pm 1/\sqrt{n}$, whose standard deviation is $1/\sqrt{3n}$ — smaller than Kaiming's $\sqrt{2/n}$:

# %%
for layer in (nn.Linear(256, 256), nn.Conv2d(16, 32, 5)):
    fan_in = layer.weight[0].numel()  # in_features, or in_channels · kh · kw
    print(
        f"{type(layer).__name__:<6} fan-in {fan_in:>3}: default weights' std {layer.weight.std():.4f}, "
        f"1/√(3·fan-in) = {1 / math.sqrt(3 * fan_in):.4f}, Kaiming's √(2/fan-in) = {math.sqrt(2 / fan_in):.4f}"
    )
print(
    f"the gains PyTorch uses: ReLU {nn.init.calculate_gain('relu'):.4f} (√2), tanh {nn.init.calculate_gain('tanh'):.4f}"
)

# %% [markdown]
# Does it matter? Here is a deep network with no tricks — 30 `Linear` layers of 256 units, each
# followed by ReLU (or tanh) — fed a batch of 1,000 normalised training digits. For each way of
# drawing the weights, the cell measures the mean and standard deviation of every layer's output.

# %%
DEPTH, WIDTH = 30, 256
x_batch = normalise((data.x_train[:1000], data.y_train[:1000]))[0].flatten(1)  # (1000, 784)


def deep_net(init, activation, depth=DEPTH, width=WIDTH, batchnorm=False) -> nn.Sequential:
    """``depth`` × (Linear → [BatchNorm] → activation); ``init(weight)`` draws the weights (None: PyTorch's default)."""
    layers, fan_in = [], 784
    for _ in range(depth):
        linear = nn.Linear(fan_in, width)
        if init is not None:
            init(linear.weight)
            nn.init.zeros_(linear.bias)
        layers += [linear, *([nn.BatchNorm1d(width)] if batchnorm else []), activation()]
        fan_in = width
    return nn.Sequential(*layers)


@torch.no_grad()
def activation_stats(net: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
    """(depth, 2): the mean and standard deviation of each activation layer's output."""
    stats = []
    for layer in net:
        x = layer(x)
        if isinstance(layer, (nn.ReLU, nn.Tanh)):
            stats.append((x.mean().item(), x.std().item()))
    return torch.tensor(stats)


INITS = {
    "N(0, 0.01²): too small": lambda w: nn.init.normal_(w, 0, 0.01),
    "N(0, 1): too large": lambda w: nn.init.normal_(w, 0, 1),
    "PyTorch default": None,
    "Kaiming": lambda w: nn.init.kaiming_normal_(w, nonlinearity="relu"),
    "Xavier, tanh gain": lambda w: nn.init.xavier_normal_(w, gain=nn.init.calculate_gain("tanh")),
}
stats = {}
for activation, good in ((nn.ReLU, "Kaiming"), (nn.Tanh, "Xavier, tanh gain")):
    for name, init in INITS.items():
        if name.startswith(("Kaiming", "Xavier")) and name != good:
            continue
        torch.manual_seed(0)
        stats[activation.__name__, name] = activation_stats(deep_net(init, activation), x_batch)

fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
for ax, activation in zip(axes, ("ReLU", "Tanh")):
    for (act, name), s in stats.items():
        if act == activation:
            ax.semilogy(range(1, DEPTH + 1), s[:, 1].clamp(min=1e-30), marker=".", label=name)
    ax.set(xlabel="layer", title=f"{DEPTH} × (Linear 256 → {activation})")
    ax.legend(fontsize=7)
axes[0].set_ylabel("std of the layer's output (log scale)")
fig.suptitle("How the scale of the activations changes with depth, for each initialisation", fontsize=10)
plt.show()
print(f"{'':<6} {'initialisation':<24} {'layer 1 mean, std':>20} {'layer 30 mean, std':>22}")
for (activation, name), s in stats.items():
    print(f"{activation:<6} {name:<24} {s[0, 0]:>9.3g}, {s[0, 1]:<9.3g} {s[-1, 0]:>11.3g}, {s[-1, 1]:.3g}")

# %% [markdown]
# Read the plot from left to right, one layer at a time. Weights that are too small shrink the signal
# by the same factor at every layer, until the last layers output numbers below 1e-20 — nothing.
# Plain N(0, 1) weights blow a ReLU network's activations up by as many orders of magnitude, and
# drive tanh into saturation: a standard deviation near 1 means nearly every unit sits at ±1, where
# tanh is flat and passes back almost no gradient. PyTorch's default shrinks the signal too, only more
# slowly. Kaiming (for ReLU) and Xavier with the tanh gain keep it at the same scale from the first
# layer to the thirtieth. (A ReLU layer's output has a positive mean — it is never negative — which
# is why the plot shows the standard deviation.)
#
# Kaiming's rule is one line; written by hand for a conv layer's weight and drawn from the same seed,
# it is the very tensor `nn.init.kaiming_normal_` gives:

# %%
shape = (32, 16, 5, 5)  # (out_channels, in_channels, kh, kw)
fan_in = shape[1] * shape[2] * shape[3]  # 16 · 5 · 5 = 400
torch.manual_seed(0)
mine = torch.randn(shape) * math.sqrt(2 / fan_in)
torch.manual_seed(0)
library = nn.init.kaiming_normal_(torch.empty(shape), nonlinearity="relu")
print(
    f"std: by hand {mine.std():.5f}, nn.init {library.std():.5f}, √(2/{fan_in}) = {math.sqrt(2 / fan_in):.5f}"
)
print("largest difference:", (mine - library).abs().max().item())
assert torch.equal(mine, library)

# %% [markdown]
# A signal that vanishes on the way forward takes the gradient with it on the way back. Twenty ReLU
# layers of 64 units, trained for 200 steps of SGD with momentum on batches of 128 training digits,
# once with PyTorch's default and once with Kaiming's initialisation, then scored on the validation
# split:


# %%
def train_deep(init, steps=200, depth=20, width=64, lr=0.003):
    """A plain deep ReLU network on MNIST: the training losses and the validation accuracy."""
    torch.manual_seed(0)
    net = nn.Sequential(deep_net(init, nn.ReLU, depth, width), nn.Linear(width, 10))
    optimizer = torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9)
    losses = []
    for step in range(steps):
        batch = slice(step * 128, (step + 1) * 128)
        x, y = normalise((data.x_train[batch], data.y_train[batch]))
        loss = F.cross_entropy(net(x.flatten(1)), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    with torch.no_grad():
        x_val, y_val = normalise((data.x_val, data.y_val))
        accuracy = (net(x_val.flatten(1)).argmax(1) == y_val).float().mean().item()
    return losses, accuracy


plt.figure(figsize=(5.5, 3.2))
for name in ("PyTorch default", "Kaiming"):
    losses, accuracy = train_deep(INITS[name])
    plt.plot(losses, label=f"{name}: validation accuracy {accuracy:.3f}")
    print(f"{name:<16} loss {losses[0]:.3f} → {sum(losses[-20:]) / 20:.3f} (last 20 steps), "
          f"validation accuracy {accuracy:.3f}")  # fmt: skip
plt.xlabel("step")
plt.ylabel("training loss")
plt.title("20 ReLU layers: the same network, two initialisations", fontsize=10)
plt.legend(fontsize=8)
plt.show()

# %% [markdown]
# With the default, the loss stays at $\ln 10 \approx 2.303$ — the loss of a uniform guess over ten
# classes — and the validation accuracy is that of a guess; with Kaiming's initialisation the same
# network learns. The network of this lesson is only four weight layers deep and uses PyTorch's
# default initialisation; it trains well because of the next idea, which rescales every layer's
# output while training.
#
# ## 4. BatchNorm and dropout
#
# **BatchNorm** normalises each channel over the batch: subtract the batch mean, divide by the
# batch standard deviation, then apply a learned scale and shift. It keeps activations in a range
# where gradients flow well, so larger learning rates train stably. During training it uses the
# statistics of the current batch and keeps a running average; in evaluation mode it uses that
# running average — so `model.eval()` matters:

# %%
bn = nn.BatchNorm2d(3)
batch = 5 + 3 * torch.randn(8, 3, 10, 10)  # activations with mean 5, std 3
out = bn(batch)  # training mode: normalised with this batch's statistics
print(f"train mode: mean {out.mean():.3f}, std {out.std():.3f}")
print("running mean after one batch (momentum 0.1):", [round(v, 3) for v in bn.running_mean.tolist()])
bn.eval()
print(f"eval mode on the same batch: mean {bn(batch).mean():.3f}  (running statistics have not caught up)")

# %% [markdown]
# It also undoes a bad initialisation: the deep ReLU network whose signal vanished with N(0, 0.01²)
# weights, with a BatchNorm after every linear layer (in training mode):

# %%
torch.manual_seed(0)
with_bn = activation_stats(deep_net(INITS["N(0, 0.01²): too small"], nn.ReLU, batchnorm=True), x_batch)
print(
    "std of each layer's output, layers 1, 10, 20, 30:",
    [round(with_bn[i, 1].item(), 3) for i in (0, 9, 19, 29)],
)
print(f"std of ReLU(x) for a standard normal x: √((1 − 1/π)/2) = {math.sqrt((1 - 1 / math.pi) / 2):.3f}")

# %% [markdown]
# Every layer's input is standardised again, whatever the weights' scale, so the signal keeps its
# size all the way down, close to the standard deviation of a ReLU of a standard normal variable.
#
# **Dropout** (the mnist-mlp lesson) zeroes random activations during training and scales the rest
# by `1/(1−p)`; in evaluation mode it does nothing. The network of this lesson relies on BatchNorm,
# label smoothing and weight decay for regularisation instead; the ablation below measures what
# BatchNorm buys.
#
# ## 5. The network, and its shapes
#
# `e2edl.nn.cnn.MnistCNN` stacks two stages of `Conv 5×5 → MaxPool → BatchNorm → ReLU`, then a
# small classifier. A forward hook on every layer prints the shape flowing through it:

# %%
from e2edl.nn.cnn import MnistCNN

net = MnistCNN(16, 32, 128).eval()
hooks = [
    layer.register_forward_hook(
        lambda module, inputs, output: print(f"{type(module).__name__:<12} → {tuple(output.shape)}")
    )
    for layer in net
]
print(f"{'input':<12}   {tuple(pixels.shape)}")
net(pixels)
for hook in hooks:
    hook.remove()
mlp_parameters = 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10
print(
    f"\nMnistCNN parameters: {sum(p.numel() for p in net.parameters()):,}  "
    f"(a 784-512-512-10 MLP like the mnist-mlp lesson's: {mlp_parameters:,})"
)

# %% [markdown]
# ## 6. The race to 99%
#
# How fast can this network reach 99% accuracy on a CPU? To answer honestly, the clock must not
# look at the test set: "stop when the test accuracy reaches 99%" chooses the stopping point *on*
# the test set, and a test score chosen that way is optimistic. So the decisions — when the race is
# won, which variant of the recipe is better — are made on a **validation split**, the last 5,000
# training images, which the network never trains on (`MNIST.val_loader()`). The test set is scored
# once, at the end, for each final network.
#
# The recipe is library code, `e2edl.recipes.mnist_cnn`: a frozen dataclass of settings and one
# function that builds the model, the optimiser and the schedule and calls `fit`:

# %%
from e2edl.recipes.mnist_cnn import ACCURACY, QUICK_SPEED, SPEED, train_cnn

show_source(train_cnn)
print(SPEED)

# %% [markdown]
# What each ingredient is for:
#
# - **SGD with Nesterov momentum and weight decay**, from the mnist-mlp lesson: momentum averages
#   the recent gradients so that steps keep going in consistent directions, and Nesterov's version
#   takes the gradient at the point momentum is about to carry the weights to; weight decay adds
#   `5e-4 · w` to every weight's gradient, pulling weights towards zero unless the data needs them.
# - the **one-cycle schedule**, also from the mnist-mlp lesson: the learning rate warms up linearly
#   from `lr/10` to `lr` over the first quarter of the steps (`warmup=0.25`), then falls linearly
#   to `lr/1000`: large steps while the network is far from a solution, small ones to settle in.
#   PyTorch's `OneCycleLR` also moves the momentum the other way by default (from `max_momentum=0.95`
#   down to `base_momentum=0.85` while the rate rises, and back), so the recipe's `momentum` only
#   applies to its constant-rate variant.
# - **label smoothing** (the linear-regression lesson's cross-entropy with softened targets): the
#   target spreads `0.1` evenly over all ten classes, so the right class gets `0.9 + 0.01`:

# %%
smoothing, classes = SPEED.label_smoothing, 10
target = torch.full((classes,), smoothing / classes)
target[3] += 1 - smoothing
print(f"smoothed target for the digit 3: {[round(t, 3) for t in target.tolist()]}, sum {target.sum():.2f}")

# %% [markdown]
# It keeps the network from chasing ever larger logits on examples it already gets right.
#
# What makes it fast on a CPU: the data set lives in memory and batches are sliced, normalised and
# augmented as whole tensors (the mnist-mlp lesson); pooling comes before BatchNorm and ReLU, so
# those run on a quarter of the values; and the NHWC ("channels last") memory layout suits the
# CPU's convolution kernels.
#
# Now the speed run, in the open: two epochs (one in quick mode), a check on the validation split
# every half epoch. It saves its checkpoint in `OUT / "speed"`; the lesson's run below finds it there
# and does not train it again. To try other settings, change the recipe — e.g.
# `dataclasses.replace(SPEED, lr=0.05)` — and give it another `run_dir`: a folder holds one
# recipe's training.

# %%
speed_recipe = QUICK_SPEED if QUICK else SPEED
model, history = train_cnn(data, speed_recipe, run_dir=OUT / "speed")
for record in history.records:
    print(
        f"epoch {record['epoch']:<4} validation accuracy {record['val_accuracy']:.4f}  after {record['elapsed']:.1f} s"
    )
seconds = history.seconds_to(0.99, offset=data.load_seconds)
print(
    "99.0% validation accuracy",
    "not reached" if seconds is None else f"after {seconds:.1f} s (loading included)",
)

# %% [markdown]
# What did the trained network learn to look for? The first layer's 16 kernels, and what each one
# makes of a digit:

# %%
first_layer = model[0]  # Conv2d(1, 16, 5)
digit, _ = normalise((data.x_train[:1], data.y_train[:1]))  # (1, 1, 28, 28), normalised as in training
with torch.no_grad():
    first_maps = first_layer(digit)  # (1, 16, 24, 24)
fig, axes = plt.subplots(2, 16, figsize=(14, 2.2))
for i in range(16):
    axes[0, i].imshow(first_layer.weight[i, 0].detach(), cmap="RdBu_r")
    axes[1, i].imshow(first_maps[0, i], cmap="gray")
    axes[0, i].axis("off")
    axes[1, i].axis("off")
fig.suptitle(
    "Learned 5×5 kernels (top; red positive, blue negative) and their output on a digit (bottom)", fontsize=10
)
plt.show()

# %% [markdown]
# Are these edge detectors like the hand-made ones of section 1? One way to ask: an edge detector
# answers a *change* of brightness in some direction, so it looks like a smoothed directional
# derivative. The cell below compares each learned kernel with derivative-of-Gaussian filters in 16
# directions (the best |cosine similarity|: 1 is a perfect edge filter), does the same for 1,600
# untrained kernels drawn by PyTorch's default initialisation, and measures how far training moved
# the first layer from its random start (the speed run's seed gives back its initial weights).

# %%
from e2edl.train import seed_everything


def edge_filters(size=5, directions=16, sigma=1.0) -> torch.Tensor:
    """(directions, size·size): unit-norm derivatives of a Gaussian, at angles 0..180°."""
    r = torch.arange(size) - (size - 1) / 2
    yy, xx = torch.meshgrid(r, r, indexing="ij")
    gauss = torch.exp(-(xx**2 + yy**2) / (2 * sigma**2))
    angles = torch.arange(directions) * math.pi / directions
    filters = torch.stack([(xx * a.cos() + yy * a.sin()) * gauss for a in angles]).flatten(1)
    return F.normalize(filters, dim=1)


def best_edge_match(weights: torch.Tensor) -> torch.Tensor:
    """For each kernel of (n, 1, 5, 5): the largest |cosine| with an edge filter."""
    return (F.normalize(weights.flatten(1), dim=1) @ edge_filters().T).abs().max(1).values


learned = best_edge_match(first_layer.weight.detach())
untrained = best_edge_match(torch.cat([nn.Conv2d(1, 16, 5).weight.detach() for _ in range(100)]))
print(
    f"best match with an edge filter, median: learned {learned.median():.2f}, untrained {untrained.median():.2f}"
)
print(
    f"share above 0.6: learned {(learned > 0.6).float().mean():.0%}, untrained {(untrained > 0.6).float().mean():.0%}"
)
seed_everything(0)  # what train_cnn does before building the model
start = MnistCNN(*speed_recipe.widths)[0].weight.detach()
moved = (first_layer.weight.detach() - start).norm() / start.norm()
print(f"training moved the first layer's weights by {moved:.0%} of their initial size")

# %% [markdown]
# Compare the lines. By this measure the learned kernels are more edge-like than random ones, but
# few, if any, are clean edge detectors: training moved the first layer only part of the way from
# its random start — enough, because every layer after it adapts to whatever the first one computes.
# What each kernel does to a digit is in the bottom row of the figure above.
#
# ## 7. The lesson's run
#
# `run_lesson` runs what `e2edl run mnist-cnn` runs: it reuses the speed run trained above, trains
# the **ablation** — the speed run's recipe with one ingredient changed at a time, same budget — and,
# in full mode, the **accuracy run**: a wider network for eight epochs with random shifts of up to
# two pixels as augmentation:

# %%
print(ACCURACY)

# %%
from e2edl.course import full_run, run_lesson

result = run_lesson("mnist-cnn", quick=QUICK, out=OUT, resume=True)

# %%
result.tables["ablation"]

# %% [markdown]
# Read it with care: one seed and one short budget per row. Differences of a tenth of a percent
# are within seed-to-seed noise (`benchmarks/mnist_cnn_time_to_99.py` measures the spread over
# seeds); only larger gaps say something about the ingredient. Augmentation in particular is meant
# for long runs, where a network would otherwise start memorising the training digits — which is
# why the eight-epoch accuracy run uses it.
#
# The speed run's validation accuracy at each check, then — from the test set, scored once at the
# end — the confusion matrix and the most confident mistakes of the run's last network:

# %%
result.show("speed_accuracy", "confusion", "mistakes")
if not QUICK:
    result.show("curves")

# %% [markdown]
# The full run, on the reference machine (its claims, then its ablation table with two epochs per
# row):

# %%
full_run("mnist-cnn")

# %%
assert result.passed(), "a claim of this lesson failed; see the table above"

# %% [markdown]
# ## Exercises
#
# Each exercise asks for a piece of this lesson; the cell after it checks your function and says
# what is wrong, if anything. (From a terminal: `e2edl check mnist-cnn --notebook your_copy.ipynb`.)
#
# **1. The output size of a convolution.** Write `conv_output_size(size, kernel, stride=1,
# padding=0)`: the height (or width) of a convolution's output, as an `int`, for an input of
# `size` pixels.


# %% tags=["exercise"]
def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Height of the output of a convolution over ``size`` pixels (an int)."""
    raise NotImplementedError  # your code here


# %%
check("conv-output-size", conv_output_size)

# %% [markdown]
# **2. A convolution by hand.** Write `conv2d(x, weight, stride=1, padding=0)` for a batch
# `x (B, C_in, H, W)` and kernels `weight (C_out, C_in, kh, kw)`, without `F.conv2d`: loops over the
# output positions are fine, or gather every patch at once with `F.unfold` (or `Tensor.unfold`)
# and multiply by the kernels as a matrix. It must equal `F.conv2d(x, weight, stride=stride,
# padding=padding)`.

# %% tags=["exercise"]
import torch
import torch.nn.functional as F


def conv2d(x: torch.Tensor, weight: torch.Tensor, stride: int = 1, padding: int = 0) -> torch.Tensor:
    """(B, C_in, H, W) and (C_out, C_in, kh, kw) → (B, C_out, H_out, W_out), as F.conv2d (no bias)."""
    raise NotImplementedError  # your code here


# %%
check("conv2d-by-hand", conv2d)

# %% [markdown]
# **3. Max-pooling.** Write `max_pool2d(x, size)`: the largest value of each non-overlapping
# `size × size` block of every map of `x (B, C, H, W)`, as `F.max_pool2d(x, size)` computes it —
# including what it does when `H` or `W` is not a multiple of `size`.

# %% tags=["exercise"]
import torch


def max_pool2d(x: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, H, W) → (B, C, H // size, W // size): the max of each size × size block."""
    raise NotImplementedError  # your code here


# %%
check("max-pool", max_pool2d)

# %% [markdown]
# **4. Kaiming's standard deviation.** Write `kaiming_std(shape)`: the standard deviation of
# Kaiming initialisation for a ReLU network, for a weight of shape `(out_features, in_features)`
# (a linear layer) or `(out_channels, in_channels, kh, kw)` (a convolution).


# %% tags=["exercise"]
def kaiming_std(shape: tuple[int, ...]) -> float:
    """The std of Kaiming (He) normal initialisation, for ReLU, of a weight of this shape."""
    raise NotImplementedError  # your code here


# %%
check("kaiming-std", kaiming_std)
