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
# # 04 · MNIST with a convolutional network
#
# The MLP of lesson 03 sees an image as 784 unrelated numbers: shift a digit by one pixel and, to
# the MLP, every input has changed. A **convolutional** network builds in two facts about images
# instead: what matters is *local* (a stroke is a few neighbouring pixels), and the same pattern
# means the same thing *wherever* it appears. This lesson builds the pieces — convolution, padding,
# stride, pooling, BatchNorm, dropout — on a real digit, traces the shapes through a network, and
# then races it: 99.0% test accuracy on two CPU cores, data loading included, in under 20 seconds.

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
import torch.nn.functional as F
from torch import nn

from e2edl.data import load_mnist

QUICK = os.environ.get("E2EDL_QUICK") == "1"  # CI runs every notebook in quick mode
RUNS = Path(os.environ.get("E2EDL_RUNS", "runs"))
torch.manual_seed(0)

x_test, y_test = load_mnist("test")
digit = (x_test[0].float() / 255).reshape(1, 1, 28, 28)  # (B=1, C=1, H, W)
print("a test digit:", y_test[0].item(), tuple(digit.shape))


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
kernels = torch.tensor(
    [
        [[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]],  # responds to left→right brightness changes
        [[-1.0, -2, -1], [0, 0, 0], [1, 2, 1]],  # responds to top→bottom changes
        [[1.0, 1, 1], [1, 1, 1], [1, 1, 1]],  # averages a 3×3 neighbourhood
    ]
).unsqueeze(1)  # (out_channels=3, in_channels=1, 3, 3)
maps = F.conv2d(digit, kernels)  # (1, 3, 26, 26)
print("input", tuple(digit.shape), "→ output", tuple(maps.shape))
show_maps(
    [digit[0, 0], *maps[0]], ["input", "vertical edges", "horizontal edges", "blur"], "Hand-made kernels"
)

# %% [markdown]
# The output is 26×26, not 28×28: a 3×3 kernel fits in only 26 positions across. In general
# `out = (in + 2·padding − kernel) / stride + 1`.
#
# - **Padding** adds a border of zeros so the kernel can be centred on edge pixels; `padding=1`
#   keeps a 3×3 convolution's output the same size as its input.
# - **Stride** moves the kernel more than one pixel at a time, shrinking the output.

# %%
for padding, stride in [(0, 1), (1, 1), (1, 2), (0, 2)]:
    out = F.conv2d(digit, kernels, padding=padding, stride=stride)
    formula = (28 + 2 * padding - 3) // stride + 1
    print(f"padding={padding} stride={stride}: output {tuple(out.shape[2:])}  formula gives {formula}")

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
# ## 3. BatchNorm and dropout
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
# **Dropout** (lesson 03) zeroes random activations during training and scales the rest by
# `1/(1−p)`; in evaluation mode it does nothing. The network of this lesson relies on BatchNorm,
# label smoothing and weight decay for regularisation instead; the ablation below measures what
# BatchNorm buys.
#
# ## 4. The network, and its shapes
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
print(f"{'input':<12}   {tuple(digit.shape)}")
net(digit)
for hook in hooks:
    hook.remove()
mlp_parameters = 784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10
print(
    f"\nMnistCNN parameters: {sum(p.numel() for p in net.parameters()):,}  (lesson 03's MLP: {mlp_parameters:,})"
)

# %% [markdown]
# ## 5. The race to 99%
#
# The library's run trains two networks with `fit()`, both timed from the moment the data files
# start being read:
#
# - the **speed run**: `MnistCNN(16, 32, 128)` for two epochs, checking test accuracy every half
#   epoch; the first check at ≥ 99.0% stops the clock for `seconds_to_99`;
# - the **accuracy run** (full mode only): a wider `MnistCNN(32, 64, 256)` for eight epochs with
#   random shifts of up to two pixels as augmentation, aiming past 99.4%.
#
# What makes the speed run fast, measured on two CPU cores: the data set lives in memory and
# batches are sliced, normalised and augmented as whole tensors (lesson 03); pooling comes before
# BatchNorm and ReLU, so those run on a quarter of the values; NHWC ("channels last") memory layout
# suits the CPU's convolution kernels; SGD with Nesterov momentum under a **one-cycle** schedule
# (warm up to a high learning rate, then anneal linearly) converges in very few epochs; **label
# smoothing** (train towards 0.9 on the right class rather than 1.0) keeps the network from
# chasing over-confident logits. It also runs a small **ablation**: the speed-run network with one
# ingredient changed at a time, same budget.
#
# A word of honesty about the stopwatch: it stops at the first of four test-set checks that reaches
# 99.0%. Looking at the test set several times and keeping the first success is slightly
# optimistic — decisions like "stop now" belong on a validation split carved out of the training
# data, and lesson 10 does it that way. We follow the convention of the published MNIST speed
# records, which report test accuracy, and keep the number of looks small.

# %%
from e2edl.figures import show_saved
from e2edl.course import passed, run_lesson

out = RUNS / "04_mnist_cnn"
result = run_lesson("mnist-cnn", quick=QUICK, out=out)

# %% [markdown]
# The ablation, as measured by this run (in quick mode each variant trains one epoch, in full
# mode two):

# %%
print(f"{'variant':<50} {'test accuracy':>13} {'seconds':>8}")
for row in result["details"]["ablation"]:
    print(f"{row['variant']:<50} {row['test_accuracy']:>13.4f} {row['train_seconds']:>8.1f}")

# %% [markdown]
# Read it with care: one seed and one short budget per row. Differences of a tenth of a percent
# are within seed-to-seed noise (`benchmarks/mnist_cnn_time_to_99.py` measures the spread over
# seeds); only larger gaps say something about the ingredient. Augmentation in particular is meant
# for long runs, where a network would otherwise start memorising the training digits — which is
# why the eight-epoch accuracy run uses it.
#
# What did the trained network learn to look for? The first layer's 16 kernels applied to our test
# digit:

# %%
state = torch.load(out / "speed" / "checkpoint.pt", weights_only=True)["model"]
trained = MnistCNN(16, 32, 128)
trained.load_state_dict(state)
trained.eval()
first_maps = trained[0]((digit - 0.1307) / 0.3081)  # conv1 output (1, 16, 24, 24)
fig, axes = plt.subplots(2, 16, figsize=(14, 2.2))
for i in range(16):
    axes[0, i].imshow(trained[0].weight[i, 0].detach(), cmap="RdBu_r")
    axes[1, i].imshow(first_maps[0, i].detach(), cmap="gray")
    axes[0, i].axis("off")
    axes[1, i].axis("off")
fig.suptitle("Learned 5×5 kernels (top) and what each one sees in the digit (bottom)", fontsize=10)
plt.show()

# %% [markdown]
# Many learned kernels are edge and stroke detectors like the ones we wrote by hand in section 1 —
# nobody told the network to build them. Finally, the confusion matrix and the worst mistakes of
# the run's last network:

# %%
show_saved(out / "confusion.png")
show_saved(out / "mistakes.png", width=8)
assert passed(result), "a claim of this lesson failed; see the table above"
