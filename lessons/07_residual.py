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
# # Residual connections: why deeper used to be worse
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
# Last, the other way to skip: concatenation (DenseNet, U-Net) instead of addition. The next
# lesson, resnet-from-scratch, builds the 18-layer ResNet out of the block written here and trains
# it on photos.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first (this release)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "e2edl @ git+https://github.com/e2edl/e2edl@v0.1.0"], check=True)  # fmt: skip

from e2edl.course.notebook import setup_lesson, show_source

QUICK, OUT = setup_lesson("residual")  # prints the mode, the run folder and the reference timings

# %%
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from e2edl.data.batch_transforms import BatchNormalize
from e2edl.recipes.residual import FULL_STUDY, QUICK_STUDY, load_fashion

STUDY = QUICK_STUDY if QUICK else FULL_STUDY
data = load_fashion(STUDY)  # Fashion-MNIST: training, validation (carved from training) and test images
print(f"training {len(data.x_train):,}, validation {len(data.x_val):,}, test {len(data.x_test):,} images")
classes = ["T-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot"]
fig, axes = plt.subplots(1, 10, figsize=(10, 1.4))
for ax, cls in zip(axes, range(10)):
    ax.imshow(data.x_train[(data.y_train == cls).nonzero()[0, 0]], cmap="gray")
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
    def forward(self, x):  # (B, C, H, W) → (B, C, H, W)
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
# The library's version is `e2edl.nn.plain_residual.Block`: one class with a `residual` switch.
# Same weights in, same outputs and same input gradients out — for both kinds:

# %%
from e2edl.nn.plain_residual import Block

for ours in (plain, residual):
    library = Block(8, 8, residual=isinstance(ours, ResidualBlock))
    library.load_state_dict(ours.state_dict())  # same parameter names: conv1, bn1, conv2, bn2
    x_ours, x_library = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ours, out_library = ours(x_ours), library(x_library)  # training mode: batch statistics
    out_ours.square().sum().backward()
    out_library.square().sum().backward()
    difference = (out_ours - out_library).abs().max().item()
    grad_difference = (x_ours.grad - x_library.grad).abs().max().item()
    print(f"{type(ours).__name__:>13} vs Block(residual={library.residual}): largest difference "
          f"{difference:.1e} (outputs), {grad_difference:.1e} (input gradients)")  # fmt: skip
    assert difference < 1e-6 and grad_difference < 1e-6

# %% [markdown]
# The shortcut has no weights. Where a network halves the resolution and doubles the channels,
# `x` no longer has the block's output shape; the library's shortcut then takes every second
# pixel and pads the new channels with zeros (option A of the paper) — still no weights, so a
# plain and a residual network of the same depth learn exactly the same parameters:

# %%
show_source(Block.shortcut)

# %% [markdown]
# Why does the `+ x` help the gradient? Without the last ReLU, `y = x + F(x)` and
# `∂y/∂x = I + ∂F/∂x`: whatever `F` does, the gradient arriving at `y` also reaches `x`
# unchanged. This block, like the original ResNet's, has a ReLU *after* the add:
# `y = relu(x + F(x))`, so `∂y/∂x = D (I + ∂F/∂x)`, where `D` is diagonal with a 1 where
# `x + F(x) > 0` and a 0 elsewhere. The identity path is gated: where the sum is negative nothing
# gets through, not even along the shortcut. How often is the gate open? For the first block of a
# freshly initialised network, on a batch of training images:

# %%
from e2edl.recipes.residual import DeepCNNRecipe, build_deep_cnn

net = build_deep_cnn(DeepCNNRecipe(depth=20, residual=True), seed=0)
probe_x, probe_y = BatchNormalize(*data.mean_std)(
    (data.x_train[:256], data.y_train[:256])
)  # (256, 1, 28, 28)
with torch.no_grad():
    block_input = net.stem(probe_x)  # (256, 8, 28, 28), after a ReLU: ≥ 0
    block = net.blocks[0]
    f = block.bn2(block.conv2(F.relu(block.bn1(block.conv1(block_input)))))
    gate_open = (block_input + f > 0).float().mean().item()
print(f"the ReLU after the add lets the gradient through at {gate_open:.0%} of the positions")

# %% [markdown]
# A clean identity path needs the ReLU out of the way. He et al.'s follow-up (2016, "Identity
# mappings in deep residual networks") moved BatchNorm and ReLU *into* `F`, before each
# convolution: the **pre-activation** block `y = x + conv(relu(bn(conv(relu(bn(x))))))`. Then
# `∂y/∂x = I + ∂F/∂x` holds exactly, and through a stack of such blocks the gradient reaching the
# output arrives at every block's input along a sum of paths, one of which is untouched. Through a
# stack of plain blocks it must pass through every layer's Jacobian in turn, a product of dozens of
# matrices. This lesson keeps the original post-activation block, the one the resnet-from-scratch
# lesson (and torchvision's ResNet-18) uses.
#
# ## 2. Networks of any depth
#
# `e2edl.nn.plain_residual.DeepCNN(depth, residual)` is the CIFAR network of the ResNet paper for
# 28×28 images: a stem convolution, three stages of `n` blocks (width `w`, `2w`, `4w`; 28, 14 and
# 7 pixels), global average pooling and a linear layer — `6n + 2` weighted layers. Its blocks are
# the library `Block` above. Counting layers and parameters:

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
# (The study below does not use this, so that plain and residual networks start from the same
# weights.)
#
# ## 3. Gradients at initialisation
#
# Before any training: push the batch of 256 training images through a 44-layer plain network and
# its residual twin, and measure the norm of the gradient of the loss with respect to each
# layer's weights. `e2edl.train.grad_norms.layer_grad_norms` does one forward and backward pass:

# %%
from e2edl.train.grad_norms import layer_grad_norms

fig, ax = plt.subplots(figsize=(6, 3.2))
for kind in ("plain", "residual"):
    net = build_deep_cnn(DeepCNNRecipe(depth=44, residual=kind == "residual"), seed=0)
    norms = [n for _, n in layer_grad_norms(net, probe_x, probe_y)]
    ax.plot(range(1, 45), norms, "--" if kind == "plain" else "-", marker=".", label=f"{kind}-44")
    early, late = sum(norms[:14]) / 14, sum(norms[-14:]) / 14  # mean over the first and last 14 layers
    print(f"{kind:>8}-44: mean gradient norm, first 14 layers {early:.3f}, last 14 {late:.3f}, "
          f"ratio {early / late:.1f}")  # fmt: skip
ax.set(xlabel="layer", ylabel="‖∂loss/∂W‖", yscale="log", title="Gradient per layer at initialisation")
ax.legend()
plt.show()

# %% [markdown]
# The story often told is that the early layers of a deep plain network *starve*: the gradient
# vanishes on its way back. With BatchNorm that is not what we measure. The plain network's
# gradient *grows* towards the input — its first layers get many times the gradient of its
# last, the ratio printed above — while the residual network's stays within a small factor. (The
# theory: in a plain BatchNorm network, each layer multiplies the gradient by a factor a little
# above one — Yang et al., 2019; Balduzzi et al., 2017, show it also becomes less and less
# correlated from one input to the next, "shattered".) He et al. had said the same: their plain
# networks had BatchNorm and healthy gradient norms, and still trained worse. The problem is not
# the size of the gradient but how hard this landscape is to descend.
#
# ## 4. The depth study, trained in the open
#
# One recipe trains every network: SGD with Nesterov momentum, a one-cycle learning rate peaking
# at 0.1, weight decay 5e-4, batches of 128, the same seed for every network (so a plain network
# and its residual twin start from the same weights and see the same batches):

# %%
from e2edl.recipes.residual import train_deep_cnn

show_source(train_deep_cnn)

# %% [markdown]
# `STUDY` says which networks, on how much data. The full study trains depths 8, 20 and 44, and
# then the shallowest and the deepest *plain* networks again for three times the budget (more
# on that below); quick mode trains depths 8 and 20 for one epoch on fewer images:

# %%
print(STUDY)
for recipe in STUDY.recipes():
    print(" ", recipe)

# %% [markdown]
# Each network trains into its own folder under `OUT`, with a progress bar. To try other settings,
# change the recipe — `dataclasses.replace(recipe, lr=0.05)` — and train it into another folder
# (a folder holds one recipe's checkpoint; the hand-over below refuses a folder written by
# another). Running this cell again trains again; add `resume=True` to reuse finished runs.

# %%
models, histories = {}, {}
for recipe in STUDY.recipes():
    models[recipe.name], histories[recipe.name] = train_deep_cnn(data, recipe, run_dir=OUT / recipe.name)
    print(f"{recipe.name:>16}: final training loss {histories[recipe.name].last['train_loss']:.3f}")

# %% [markdown]
# (That is the mean loss over the last stretch of batches, in training mode. The table below
# measures every network the same way after training: evaluation mode, the first 2,000 training
# images.)
#
# ## 5. The hand-over: what the study measured
#
# `run_lesson` finds the networks trained above (same recipes, same folders) and reuses them; it
# then measures, for each network, the training loss of the final weights and the accuracy on the
# validation images — the numbers the lesson's comparisons are made on — and, once every
# comparison is made, the test accuracy. Then the gradient norms and the landscapes of section 6.

# %%
from e2edl.course import full_run, run_lesson
from e2edl.exercises import check  # for the exercises at the end

result = run_lesson("residual", quick=QUICK, out=OUT, resume=True)

# %%
result.tables["depths"]

# %%
result.show("curves")

# %% [markdown]
# Read the table by kind. Compare the *plain* rows at the study's budget: the deepest plain
# network ends with a higher training loss than the shallowest one — it fits its own training
# data worse, although it could copy the shallow one and set its extra blocks to the identity.
# That is the degradation, the claim `plain_deep_minus_shallow_train_loss` (at this short budget
# the deficit is small and moves from seed to seed; the longer budget below is the firmer test).
# Compare the
# *residual* rows: there, the extra depth is used (`residual_deep_minus_shallow_train_loss` is
# negative). At the deepest depth the residual network's accuracy is higher by the margins printed
# here — on the validation images, and on the test set scored once at the end:

# %%
metrics = result.metrics
depth = metrics["deepest_depth"]
for split in ("val", "test"):
    print(f"depth {depth}, {split:>4} accuracy: residual {metrics[f'residual_{depth}_{STUDY.epochs}ep_{split}_accuracy']:.4f}"
          f" vs plain {metrics[f'plain_{depth}_{STUDY.epochs}ep_{split}_accuracy']:.4f}, "
          f"margin {metrics[f'residual_minus_plain_{split}_accuracy']:+.4f}")  # fmt: skip
print(f"training loss, deepest minus shallowest: plain {metrics['plain_deep_minus_shallow_train_loss']:+.3f}, "
      f"residual {metrics['residual_deep_minus_shallow_train_loss']:+.3f}")  # fmt: skip

# %% [markdown]
# ### Degradation, or only slow convergence?
#
# Every network gets the same number of steps. A deeper network that simply needs more steps would
# also end behind at a fixed budget — so by itself the table measures slow convergence as much as
# degradation. He et al. trained to convergence and the deficit stayed. We cannot afford that, but
# the full study asks the question directly: it trains the shallowest and the deepest plain
# networks again, from the same start, for three times the budget. If the deep network were only
# slow, its deficit would shrink a lot with three times the steps; if it degrades, the deficit
# stays although both networks' losses fall. The full run's numbers: the rows with the longer
# budget in its table, `plain_deep_minus_shallow_train_loss_long` next to
# `plain_deep_minus_shallow_train_loss`, and their ratio, `plain_deficit_kept_with_longer_budget`
# (1: the deficit did not shrink at all; 0: it closed):

# %%
if "plain_deep_minus_shallow_train_loss_long" in metrics:  # this notebook ran the full study
    print(f"plain, deepest minus shallowest training loss: {metrics['plain_deep_minus_shallow_train_loss']:+.3f} "
          f"after {STUDY.epochs} epochs, {metrics['plain_deep_minus_shallow_train_loss_long']:+.3f} after "
          f"{metrics['long_epochs']}: {metrics['plain_deficit_kept_with_longer_budget']:.0%} of it kept")  # fmt: skip
full_run("residual")  # the reference machine's full run, whatever mode this notebook runs in

# %% [markdown]
# In the full run the deep plain network's deficit does not close with three times the steps,
# although both networks' training losses fall well below where the study's budget left them (the
# claims: `plain_deep_minus_shallow_train_loss_long` stays above a margin, and
# `plain_deficit_kept_with_longer_budget` asks that at least 40% of the deficit stays). What this
# does and does not show: one budget three times longer, narrow networks (8 channels in the first
# stage) on part of Fashion-MNIST. A deficit that persists at both budgets is degradation *within
# the budgets we can afford*; whether it would close after many more epochs, this run cannot say.
#
# ## 6. Inside the trained networks
#
# Gradient norms per layer for the deepest pair, at initialisation and after training:

# %%
result.show("grad_norms")
for kind in ("plain", "residual"):
    print(f"{kind:>8}: first third over last third of the layers, at initialisation "
          f"{metrics[f'{kind}_early_over_late_grad_norm_at_init']:.2f}, after training "
          f"{metrics[f'{kind}_early_over_late_grad_norm_after_training']:.2f}")  # fmt: skip
print(f"factor between the two ratios: {metrics['grad_profile_gap_at_init']:.1f} at initialisation, "
      f"{metrics['grad_profile_gap_after_training']:.1f} after training")  # fmt: skip

# %% [markdown]
# What differed most was the start. At initialisation the plain network's early layers received
# more gradient than its last ones (the first ratio printed), the residual network's did not, and
# the factor between the two ratios is large. After training the two profiles are much closer in
# shape: the factor shrinks to a fraction of what it was (the claim `grad_profile_gap_shrink`,
# after over before). Training evens out most of the plain network's gradient profile — and in
# the same number of steps the plain network still ends at a higher training loss than its
# residual twin (the table above).
#
# And the loss on a fixed batch of training images at `θ + α·d`, where `θ` are the trained
# weights and `d` a random direction rescaled filter by filter to the size of `θ`'s filters
# (Li et al., 2018, "Visualizing the loss landscape of neural nets"; `e2edl.train.loss_landscape`):

# %%
result.show("landscape")
landscape = result.details["landscape"]
alphas = landscape["alphas"]


def bumps(losses):
    """How often the loss goes *down* again while walking away from α = 0 (0 for a clean valley)."""
    centre = len(losses) // 2
    outward = [losses[centre:], losses[centre::-1]]  # towards α = +1, towards α = -1
    return sum(b < a for side in outward for a, b in zip(side, side[1:]))


for name in (name for name in landscape if name != "alphas"):
    at = dict(zip(alphas, landscape[name]))
    print(f"{name:>16}: loss at α=0 {at[0.0]:.3f}, at α=-0.5 {at[-0.5]:.3f}, at α=+0.5 {at[0.5]:.3f}, "
          f"bumps {bumps(landscape[name])}")  # fmt: skip

# %% [markdown]
# Read this with care: it is one random direction through a space with as many dimensions as the
# network has weights (the parameter counts of section 2). What the slice does show is where each
# network ended up (the loss at α = 0) and whether the valley is clean — a loss that only rises
# as we walk away from the minimum — or has bumps, the non-convexity Li et al. found growing with
# depth in networks without shortcuts. How *steep* the walls are is not a fair comparison here:
# the two networks sit at different losses, and one random direction is one draw (`--seed` draws
# another). Li et al.'s striking pictures are 2-D contour plots at finer resolution and of much
# deeper networks (56 and 110 layers without shortcuts, where the landscape turns chaotic); two
# random directions and a grid of steps draw them, at many times the cost of this slice.
#
# ## 7. Skip connections beyond ResNet: concatenate instead of add
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
# with 1×1 convolutions between blocks). Transformers (the vit lesson) are residual too: every
# attention and MLP sub-layer is `x + F(x)`, in the pre-activation form (the normalisation inside
# `F`), so their identity path is clean.

# %%
assert result.passed(), "a claim of this lesson failed; see the table above"

# %% [markdown]
# ## Exercises
#
# Each exercise cell holds a stub; write the function, run the cell, then run the check below it.
# It prints ✓, or ✗ with a hint saying what is wrong. (`e2edl check residual --notebook YOUR_COPY.ipynb`
# runs the same checks from a terminal.)
#
# ### 1. A residual block's forward pass
#
# Write the forward pass of the library's `Block` with `residual=True`, using its layers
# `block.conv1`, `block.bn1`, `block.conv2`, `block.bn2` and its weightless `block.shortcut(x)`.
# Mind where the input is added, and what happens when the block halves the resolution and
# doubles the channels (`stride=2`).

# %% tags=["exercise"]
import torch
import torch.nn.functional as F


def residual_block_forward(block, x: torch.Tensor) -> torch.Tensor:
    """(B, C_in, H, W) → (B, C_out, H/stride, W/stride): what Block(..., residual=True) computes."""
    raise NotImplementedError  # your code here


# %%
check("residual-block-forward", residual_block_forward)

# %% [markdown]
# ### 2. The option-A shortcut
#
# Write the weightless shortcut of a block that changes the shape: take every `stride`-th pixel in
# both directions, then append zero channels up to `out_channels`. It has no parameters — that is
# why a plain and a residual network of the same depth learn the same weights.

# %% tags=["exercise"]
import torch


def option_a_shortcut(x: torch.Tensor, stride: int, out_channels: int) -> torch.Tensor:
    """(B, C, H, W) → (B, out_channels, ceil(H/stride), ceil(W/stride)), new channels all zero."""
    raise NotImplementedError  # your code here


# %%
check("option-a-shortcut", option_a_shortcut)
