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
# # 11 · Residual connections: why deeper used to be worse
#
# Stack more layers and a network can represent more. It can also represent everything the
# shallower network could: let the extra layers compute the identity. So a deeper network should
# never *train* worse than a shallower one. In 2015 He et al. showed that, in practice, it does:
# a 56-layer plain CNN ended with a higher **training** error than a 20-layer one on CIFAR-10.
# Not overfitting — the deep network fits the training data worse. They called it the
# **degradation problem**, and fixed it with one line: let each block add its input to its
# output, `y = x + F(x)`. Then "do nothing" is the easy default (`F = 0`), and depth stops hurting.
#
# This lesson measures the problem and the fix on Fashion-MNIST: plain and residual networks of
# increasing depth, same weights to learn, same start, same training budget. Then we look inside:
# how large the gradient is at each layer, and what the loss looks like around the trained weights.
# Last, the other way to skip: concatenation (DenseNet, U-Net) instead of addition.

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

x_train, y_train = load_mnist("train", name="fashion-mnist")  # (60000, 28, 28) uint8, (60000,)
classes = ["T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]
fig, axes = plt.subplots(1, 10, figsize=(10, 1.4))
for ax, cls in zip(axes, range(10)):
    ax.imshow(x_train[(y_train == cls).nonzero()[0, 0]], cmap="gray")
    ax.set_title(classes[cls], fontsize=8)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 1. A plain block and a residual block
#
# Both are two 3×3 convolutions, each followed by BatchNorm, with ReLUs. The residual block adds
# its input `x` before the last ReLU:


# %%
class PlainBlock(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):  # (B, C, H, W) → (B, C, H, W)
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))))


class ResidualBlock(PlainBlock):
    def forward(self, x):
        f = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))  # F(x), the learned correction
        return F.relu(x + f)


x = torch.randn(4, 8, 28, 28)
plain, residual = PlainBlock(8), ResidualBlock(8)
residual.load_state_dict(plain.state_dict())  # the very same weights
print("same shape out:", tuple(plain(x).shape), tuple(residual(x).shape))
print(
    "parameters:",
    sum(p.numel() for p in plain.parameters()),
    "vs",
    sum(p.numel() for p in residual.parameters()),
)

# %% [markdown]
# The shortcut has no weights. Where a network halves the resolution and doubles the channels,
# `x` no longer has the block's output shape; the shortcut then takes every second pixel and pads
# the new channels with zeros (option A of the paper) — still no weights, so a plain and a
# residual network of the same depth learn exactly the same parameters.
#
# The gradient tells why the `+ x` matters. For `y = x + F(x)`, `∂y/∂x = I + ∂F/∂x`: whatever
# `F` does, the gradient arriving at `y` also reaches `x` unchanged. Through a stack of plain
# blocks it must pass through every `∂F/∂x` in turn, a product of dozens of matrices.
#
# ## 2. Networks of any depth
#
# `e2edl.nn.plain_residual.DeepCNN(depth, residual)` is the CIFAR network of the ResNet paper for
# 28×28 images: a stem convolution, three stages of `n` blocks (width `w`, `2w`, `4w`; 28, 14 and
# 7 pixels), global average pooling and a linear layer — `6n + 2` weighted layers. Its `Block`
# is the pair above with a `residual` switch. Counting layers and parameters:

# %%
from e2edl.nn.plain_residual import DeepCNN, weighted_layers

for depth in (8, 20, 44):
    nets = {kind: DeepCNN(depth, residual=kind == "residual", width=8) for kind in ("plain", "residual")}
    sizes = {kind: sum(p.numel() for p in net.parameters()) for kind, net in nets.items()}
    print(f"depth {depth}: {len(weighted_layers(nets['plain']))} conv/linear layers, "
          f"parameters plain {sizes['plain']:,}, residual {sizes['residual']:,}")  # fmt: skip

# %% [markdown]
# A trick from later work (Goyal et al., 2017): start each residual block's last BatchNorm scale
# at zero. Then `F(x) = 0` at initialisation and every block is *exactly* the identity — the
# network starts as a shallow one and grows into its depth:

# %%
identity_start = DeepCNN(44, residual=True, width=8, zero_init_residual=True).eval()
activations = torch.relu(torch.randn(2, 8, 28, 28))
block = identity_start.blocks[0]
print("block(x) == x exactly:", torch.equal(block(activations), activations))

# %% [markdown]
# (The experiment below does not use this, so that plain and residual networks start from the
# same weights.)
#
# ## 3. Gradients at initialisation
#
# Before any training: push one batch of 256 training images through a 44-layer plain network and
# its residual twin, and measure the norm of the gradient of the loss with respect to each
# layer's weights. `e2edl.train.grad_norms.layer_grad_norms` does one forward and backward pass:

# %%
from e2edl.data.batch_transforms import BatchNormalize
from e2edl.data.batch_transforms import FASHION_MEAN, FASHION_STD
from e2edl.train.grad_norms import layer_grad_norms

probe_x, probe_y = BatchNormalize(FASHION_MEAN, FASHION_STD)((x_train[:256], y_train[:256]))
fig, ax = plt.subplots(figsize=(6, 3.2))
for kind in ("plain", "residual"):
    torch.manual_seed(0)
    net = DeepCNN(44, residual=kind == "residual", width=8)
    norms = [n for _, n in layer_grad_norms(net, probe_x, probe_y)]
    ax.plot(range(1, 45), norms, "--" if kind == "plain" else "-", marker=".", label=f"{kind}-44")
    early, late = sum(norms[:14]) / 14, sum(norms[-14:]) / 14  # mean over the first and last 14 layers
    print(
        f"{kind:>8}-44: mean gradient norm, first 14 layers {early:.3f}, last 14 {late:.3f}, ratio {early / late:.1f}"
    )
ax.set(xlabel="layer", ylabel="‖∂loss/∂W‖", yscale="log", title="Gradient per layer at initialisation")
ax.legend()
plt.show()

# %% [markdown]
# The story often told is that the early layers of a deep plain network *starve*: the gradient
# vanishes on its way back. With BatchNorm that is not what we measure. The plain network's
# gradient *grows* towards the input — its first layers get many times the gradient of its last,
# the ratio printed above — while the residual network's stays within a small factor. (The theory: in a
# plain BatchNorm network, each layer multiplies the gradient by a factor a little above one —
# Yang et al., 2019; Balduzzi et al., 2017, show it also becomes less and less correlated from one
# input to the next, "shattered".) He et al. had said the same: their plain networks had
# BatchNorm and healthy gradient norms, and still trained worse. The problem is not the size of
# the gradient but how hard this landscape is to descend. The residual network's gradient reaches
# every layer with about the same strength, through the shortcuts.
#
# ## 4. The experiment
#
# The run trains, for each depth, a plain and a residual `DeepCNN` of width 8 on a subset of the
# Fashion-MNIST training set, with the same recipe (SGD + Nesterov momentum, one-cycle learning
# rate up to 0.1, weight decay 5e-4, batches of 128) and the same number of steps; it then
# measures test accuracy on the Fashion-MNIST test set and the training loss of the final
# weights. Full mode: depths 8, 20 and 44, 15,000 training images, 2 epochs. Quick mode: depths
# 8 and 20, 5,000 images, 1 epoch. It also computes gradient norms for the deepest pair and the
# loss along a random direction around their trained weights.

# %%
from e2edl.figures import show_saved
from e2edl.course import passed, run_lesson

out = RUNS / "11_residual"
result = run_lesson("residual", quick=QUICK, out=out)

# %%
print((out / "depths.md").read_text())
show_saved(out / "curves.png", width=7)

# %% [markdown]
# Read the table by kind. Compare the *plain* rows: the deepest plain network ends with a higher
# training loss than the shallowest one — it fits its own training data worse, although it could
# copy the shallow one and set its extra blocks to the identity. That is the degradation, and the
# lesson's claim `plain_deep_minus_shallow_train_loss > 0`. Compare the *residual* rows: there,
# the extra depth is used. At the deepest depth the residual network's test accuracy is higher
# by the margin printed here:

# %%
metrics = result["metrics"]
depth = metrics["deepest_depth"]
print(f"depth {depth}: residual {metrics[f'residual_{depth}_test_accuracy']:.4f} vs "
      f"plain {metrics[f'plain_{depth}_test_accuracy']:.4f} test accuracy, "
      f"margin {metrics['residual_minus_plain_test_accuracy']:+.4f}")  # fmt: skip

# %% [markdown]
# One seed and a short budget per network: the margin would shrink with much longer training (a
# plain 44-layer network does get there, slowly) but the ordering is what He et al. found at every
# budget they tried.
#
# ## 5. Inside the trained networks
#
# Gradient norms per layer for the deepest pair, at initialisation and after training:

# %%
show_saved(out / "grad_norms.png", width=9)

# %% [markdown]
# After training the two profiles are much closer to each other. What differed was the start:
# during its first steps the plain network's early layers received many times the gradient of its
# last ones, the residual network's layers about the same.

# %% [markdown]
# And the loss on a fixed batch of training images at `θ + α·d`, where `θ` are the trained
# weights and `d` a random direction rescaled filter by filter to the size of `θ`'s filters
# (Li et al., 2018, "Visualizing the loss landscape of neural nets"; `e2edl.train.loss_landscape`):

# %%
show_saved(out / "landscape.png", width=6)
landscape = result["details"]["landscape"]
alphas = landscape["alphas"]


def bumps(losses):
    """How often the loss goes *down* again while walking away from α = 0 (0 for a clean valley)."""
    centre = len(losses) // 2
    outward = [losses[centre:], losses[centre::-1]]  # towards α = +1, towards α = -1
    return sum(b < a for side in outward for a, b in zip(side, side[1:]))


for name in (f"plain-{depth}", f"residual-{depth}"):
    at = dict(zip(alphas, landscape[name]))
    print(f"{name:>12}: loss at α=0 {at[0.0]:.3f}, at α=-0.5 {at[-0.5]:.3f}, at α=+0.5 {at[0.5]:.3f}, "
          f"bumps {bumps(landscape[name])}")  # fmt: skip

# %% [markdown]
# Read this with care: it is one random direction through a space with as many dimensions as the
# network has weights (the parameter counts of section 2). What the slice does show is where each network ended up (the loss at α = 0)
# and whether the valley is clean — a loss that only rises as we walk away from the minimum — or
# has bumps, the non-convexity Li et al. found growing with depth in networks without shortcuts.
# How *steep* the walls are is not a fair comparison here: the two networks sit at different
# losses, and the steepness ordering changes from run to run (the quick and full runs disagree).
# Li et al.'s striking pictures are 2-D contour plots at finer resolution and of much deeper
# networks (56 and 110 layers without shortcuts, where the landscape turns chaotic); two random
# directions and a grid of steps draw them, at many times the cost of this slice.
#
# ## 6. Skip connections beyond ResNet: concatenate instead of add
#
# Adding needs `F(x)` to have `x`'s shape and mixes the two. **Concatenating** along the channel
# dimension keeps `x` untouched next to `F(x)`: channels grow. DenseNet (Huang et al., 2017) builds
# blocks where each layer sees the concatenation of *all* earlier outputs; U-Net (Ronneberger et
# al., 2015) concatenates each encoder map onto the decoder map of the same resolution, so fine
# detail lost by downsampling comes back. In code:

# %%
from e2edl.nn.skip_connections import AddSkip, ConcatSkip, conv_bn_relu, dense_block, residual_stack

x = torch.randn(2, 16, 28, 28)
print("add:    16 channels →", AddSkip(conv_bn_relu(16, 16))(x).shape[1])
print("concat: 16 channels + 12 new →", ConcatSkip(conv_bn_relu(16, 12))(x).shape[1])
dense, stack = dense_block(16, growth=12, layers=4), residual_stack(16, layers=4)
print(f"dense block, growth 12, 4 layers: 16 → {dense(x).shape[1]} channels, "
      f"{sum(p.numel() for p in dense.parameters()):,} parameters")  # fmt: skip
print(f"residual stack, 4 layers:         16 → {stack(x).shape[1]} channels, "
      f"{sum(p.numel() for p in stack.parameters()):,} parameters")  # fmt: skip

# %% [markdown]
# Both give the gradient a direct path back. Addition keeps the width fixed and lets a block
# *refine* its input; concatenation keeps every earlier feature available as it was, at the price
# of channels that grow with depth (DenseNets keep the growth rate small and shrink the channels
# with 1×1 convolutions between blocks). Transformers (lesson 09) are residual: every attention
# and MLP sub-layer is `x + F(x)`.

# %%
assert passed(result), "a claim of this lesson failed; see the table above"
