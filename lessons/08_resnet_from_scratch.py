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
# # ResNet-18 from scratch on Dogs vs Cats
#
# MNIST was 28×28 gray digits, centred and clean. Real photos are another matter: cats and dogs
# in every pose, lighting and background, at every scale. The residual lesson measured why a deep
# network needs its shortcuts; this lesson takes the network that made very deep models trainable
# — **ResNet** (He et al., 2015) — builds its 18-layer version out of the same residual block,
# checks it against torchvision's, and trains it **from random weights** on the Dogs vs Cats
# photos. The transfer-learning lesson then shows how much a *pretrained* network changes the
# picture.
#
# The plan:
# 1. the data: real JPEGs, a stratified split, and augmentation for training only;
# 2. ResNet-18 built in the open: the basic block, the downsampling shortcut, the stem, the head;
# 3. the same weights in torchvision's model, ours and the library's give the same outputs;
# 4. what a forward pass costs, and why we train at 64×64 on a CPU;
# 5. the training, in sight, and what it reaches.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first (this release)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "e2edl @ git+https://github.com/e2edl/e2edl@v0.1.0"], check=True)  # fmt: skip

from e2edl.course.notebook import setup_lesson, show_source

QUICK, OUT = setup_lesson("resnet-from-scratch")  # prints the mode, the run folder and the reference timings

# %%
import time

import matplotlib.pyplot as plt
import torch
import torchvision
from torch import nn

from e2edl.figures import image_grid
from e2edl.recipes.resnet_from_scratch import FULL_RECIPE, QUICK_RECIPE, load_pets_data

# %% [markdown]
# ## 1. The data
#
# `load_pets_data(recipe)` finds the Dogs vs Cats archive (cache → course mirror → Microsoft's
# download), extracts it safely, and decodes every JPEG **once** into one uint8 tensor of shape
# (N, 3, 80, 80), cached on disk: an epoch then slices a tensor instead of decoding every JPEG
# again. Microsoft's original archive has files that are not images at all — empty files,
# truncated JPEGs, a `Thumbs.db` — so the decoder skips what it cannot read and counts it. How
# many images there are depends on where they came from (Microsoft's archive holds 25,000; a
# mirror may hold fewer), so the cell prints it rather than the text assuming it.
#
# The split is **stratified**: 20% of the cats and 20% of the dogs go to validation, chosen with
# a fixed seed, so both parts have the same class balance on every machine. The
# resnet-from-scratch, transfer-learning and vit lessons use this same split
# (`e2edl.data.pets_split.Pets`), so their validation accuracies compare; the
# huggingface-transfer lesson lets the `datasets` library draw its own split, so its numbers are
# on other validation images. Quick mode trains on a class-balanced part of the training split
# and validates on a part of the validation split.

# %%
RECIPE = QUICK_RECIPE if QUICK else FULL_RECIPE
data = load_pets_data(RECIPE)
print(f"{len(data.labels):,} images decoded at {data.images.shape[-1]}×{data.images.shape[-1]}, "
      f"{data.skipped} unreadable files skipped")  # fmt: skip
for part, idx in (("train", data.train_idx), ("validation", data.val_idx)):
    counts = torch.bincount(data.labels[idx], minlength=2).tolist()
    print(f"{part:>10}: {len(idx):,} images, {dict(zip(data.class_names, counts))}")
names = [data.class_names[y] for y in data.labels[data.train_idx[:20]]]
image_grid(data.images[data.train_idx[:20]], names, title="Training images")
plt.show()

# %% [markdown]
# Training and validation get **separate** transforms. Training images are randomly cropped
# (25–100% of the area, aspect 3:4 to 4:3), resized to 64×64 and flipped half the time: the
# network never sees the same picture twice, which is the cheapest defence against memorising
# the training photos. Validation images are only resized — a validation score must not depend on
# a dice roll. (A classic bug is to build one `ImageFolder` with one transform and then
# `random_split` it: both halves share the transform, so either training gets no augmentation or
# validation gets random crops.) The same ten training images, stored and through the training
# transform twice:

# %%
from e2edl.data.pets_images import IMAGENET_MEAN, IMAGENET_STD, train_transform

images = data.images[data.train_idx[:10]]  # (10, 3, 80, 80) uint8
augment = train_transform(RECIPE.size)  # what data.train_loader applies to every training batch
mean, std = torch.tensor(IMAGENET_MEAN).view(3, 1, 1), torch.tensor(IMAGENET_STD).view(3, 1, 1)
views = [nn.functional.interpolate(images.float(), size=RECIPE.size).to(torch.uint8)]
for _ in range(2):
    augmented, _ = augment((images, torch.zeros(10)))  # (10, 3, 64, 64), normalised
    views.append(((augmented * std + mean).clamp(0, 1) * 255).to(torch.uint8))  # back to pixels to draw
titles = ["stored"] * 10 + ["view 1"] * 10 + ["view 2"] * 10
image_grid(torch.cat(views), titles, ncols=10, title=f"Training views at {RECIPE.size} px")
plt.show()

# %% [markdown]
# ## 2. ResNet-18, piece by piece
#
# The residual lesson measured it: a plain stack of convolutions gets *harder* to train as it gets
# deeper, even on its training set, and letting each block learn a **correction** to its input,
# `out = relu(x + F(x))`, fixes that. ResNet-18 is built from that same block.
#
# ### The basic block
# Two 3×3 convolutions, each followed by BatchNorm, with a ReLU between them, and the input added
# back before the last ReLU. The convolutions have no bias: the BatchNorm right after has its own.


# %%
class BasicBlock(nn.Module):
    def __init__(self, in_channels, channels, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.downsample = None
        if stride != 1 or in_channels != channels:  # x has the wrong shape to be added: project it
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False), nn.BatchNorm2d(channels)
            )

    def forward(self, x):  # (B, C_in, H, W) → (B, C, H/stride, W/stride)
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


x = torch.randn(2, 64, 16, 16)
print("same shape:  ", tuple(BasicBlock(64, 64)(x).shape))
print("downsampling:", tuple(BasicBlock(64, 128, stride=2)(x).shape))

# %% [markdown]
# ### The downsampling shortcut
# When a block halves the resolution (stride 2) and doubles the channels, `x` (64 channels,
# 16×16) cannot be added to `F(x)` (128 channels, 8×8). The residual lesson's small networks used
# a shortcut without weights there (every second pixel, zero channels: the paper's "option A").
# ResNet-18 uses a **1×1 convolution with stride 2** plus BatchNorm — the cheapest *learned* map
# to the new shape ("option B"). Every other shortcut is the identity and has no parameters.
#
# The library's `e2edl.nn.resnet.BasicBlock` is this block. Same weights (with BatchNorm statistics
# made non-trivial by a few batches in training mode), same outputs and input gradients, for a
# block that keeps the shape and for one that downsamples:

# %%
from e2edl.nn import resnet


def with_running_statistics(block, x):
    """Run a few training-mode batches so every BatchNorm's running mean and variance move."""
    block.train()
    with torch.no_grad():
        for _ in range(3):
            block(x * 2 + 0.5)
    return block.eval()


for in_channels, channels, stride in ((64, 64, 1), (64, 128, 2)):
    x = torch.randn(4, in_channels, 16, 16)
    ours = with_running_statistics(BasicBlock(in_channels, channels, stride), x)
    library = resnet.BasicBlock(in_channels, channels, stride).eval()
    library.load_state_dict(ours.state_dict())  # strict: same names, same shapes
    x_ours, x_library = x.clone().requires_grad_(), x.clone().requires_grad_()
    out_ours, out_library = ours(x_ours), library(x_library)
    out_ours.square().sum().backward()
    out_library.square().sum().backward()
    difference = (out_ours - out_library).abs().max().item()
    grad_difference = (x_ours.grad - x_library.grad).abs().max().item()
    print(f"BasicBlock({in_channels}, {channels}, stride={stride}): largest difference {difference:.1e} "
          f"(outputs), {grad_difference:.1e} (input gradients)")  # fmt: skip
    assert difference < 1e-5 and grad_difference < 1e-5

# %% [markdown]
# ### Stem, stages and head
# The **stem** shrinks the image 4× cheaply before the expensive part: a 7×7 convolution with
# stride 2, then a 3×3 max-pool with stride 2. Then four **stages** of two blocks each; every
# stage after the first halves the resolution and doubles the width (64 → 128 → 256 → 512), so
# each stage costs about the same. The **head** averages each of the 512 final feature maps to one
# number (global average pooling — any input size works) and a linear layer gives the class scores.
# 1 stem convolution + 16 block convolutions + 1 linear layer = 18 layers.


# %%
class ResNet18(nn.Module):
    def __init__(self, num_classes=1000):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.layer1 = nn.Sequential(BasicBlock(64, 64), BasicBlock(64, 64))
        self.layer2 = nn.Sequential(BasicBlock(64, 128, stride=2), BasicBlock(128, 128))
        self.layer3 = nn.Sequential(BasicBlock(128, 256, stride=2), BasicBlock(256, 256))
        self.layer4 = nn.Sequential(BasicBlock(256, 512, stride=2), BasicBlock(512, 512))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, num_classes)

    def forward(self, x):  # (B, 3, H, W) → (B, num_classes)
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def trace_shapes(model, size):
    """Print the output shape of the stem and of every stage for one (1, 3, size, size) image."""
    hooks = [getattr(model, name).register_forward_hook(
                 lambda module, inputs, output, name=name: print(f"{name:>8}: {tuple(output.shape)}"))
             for name in ("conv1", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool")]  # fmt: skip
    with torch.no_grad():
        model.eval()(torch.randn(1, 3, size, size))
    for hook in hooks:
        hook.remove()


ours = ResNet18()
trace_shapes(ours, 224)
print(f"parameters: {sum(p.numel() for p in ours.parameters()):,}")

# %% [markdown]
# ## 3. Same weights, same outputs: torchvision's, ours, the library's
#
# We named every module exactly as torchvision does (`conv1`, `layer2.0.downsample.0`, `fc`, ...),
# so the models' `state_dict`s have the same keys and shapes. The test of "did I build the same
# network?" is then direct: copy torchvision's (randomly initialised) weights into ours and into
# the library's `e2edl.nn.resnet.ResNet18`, and compare outputs on the same input, in eval mode.
# To make the BatchNorm layers do something, we first give them non-trivial running statistics by
# running a few batches in training mode.

# %%
reference = torchvision.models.resnet18()  # random weights: no download needed
reference.train()
with torch.no_grad():
    for _ in range(3):
        reference(torch.randn(8, 3, 64, 64) * 2 + 0.5)  # updates BatchNorm running mean/var
library = resnet.ResNet18()
for model in (ours, library):
    model.load_state_dict(reference.state_dict())  # strict: every key and shape must match
    model.eval()
reference.eval()
x = torch.randn(4, 3, 96, 96)
with torch.no_grad():
    expected = reference(x)
    for name, model in (("ours", ours), ("library", library)):
        difference = (model(x) - expected).abs().max().item()
        print(f"{name:>8} vs torchvision: largest output difference {difference:.1e}")
        assert difference < 1e-5

# %% [markdown]
# The library's version adds torchvision's weight initialisation and shape comments;
# `tests/test_resnet.py` checks it both ways round — its weights in torchvision's model too. From
# here on we use it.
#
# ## 4. What does a forward pass cost?
#
# A convolution's cost is one multiply-add (MAC) per weight per output position: `C_out · H_out ·
# W_out · C_in · k · k`. So it grows with the number of pixels. PyTorch's `FlopCounterMode` counts
# the floating-point operations of the convolutions and matrix products of one forward pass (two
# per multiply-add; BatchNorm, ReLU and pooling, a small share, are not counted):

# %%
from torch.utils.flop_counter import FlopCounterMode


def forward_gmacs(model, size):
    """Billions of multiply-adds in the convolutions and the linear layer for one size×size image."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model.eval()(torch.randn(1, 3, size, size))
    return counter.get_total_flops() / 2 / 1e9


model = resnet.resnet18(num_classes=2)
for size in (224, 128, 64):
    print(f"{size:>3}×{size:<3} image: {forward_gmacs(model, size):.2f} GMACs per forward pass")

# %% [markdown]
# Training costs about three forward passes (the backward pass computes two gradients per layer,
# each costing about a forward). Let us measure how many training images per second this machine
# gets through at a few sizes, in batches of 32 (in float32; the training below uses bf16 where
# the CPU has it):

# %%
model = resnet.resnet18(num_classes=2).to(memory_format=torch.channels_last)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
for size in (64, 96, 128):
    x = torch.randn(32, 3, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (32,))
    times = []
    for _ in range(2):
        start = time.perf_counter()
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    best = min(times)  # the faster of two steps: the first may pay one-off costs
    print(f"{size:>3} px: {32 / best:6.0f} training images/s → {len(data.train_idx) / 32 * best:5.0f} s "
          f"per epoch of the {len(data.train_idx):,} training images")  # fmt: skip

# %% [markdown]
# Doubling the side quadruples the multiply-adds; the measured times follow roughly (small images
# use the CPU less efficiently, and whatever else runs on the machine moves them). We train at
# **64×64**: enough to tell a cat from a dog, and affordable for twenty epochs on two cores. A GPU
# would train at 224 in less time.
#
# ### An ImageNet stem on 64-pixel images
# The stem was designed for 224-pixel ImageNet images, where it leaves a 7×7 map for the last
# stage. On our 64-pixel images the same two stride-2 steps, then three more in the stages, leave
# a **2×2** map: each of the 512 final features sees the image in four coarse cells.

# %%
trace_shapes(resnet.resnet18(num_classes=2), 64)

# %% [markdown]
# Networks made for small images (the residual lesson's, the CIFAR ResNets of the paper) use a
# 3×3, stride-1 stem and no max-pool instead. That keeps 4× the resolution in each direction
# through every stage — an 8×8 final map — and every stage then works on 16× the pixels:

# %%
small_image_stem = resnet.resnet18(num_classes=2)
small_image_stem.conv1 = nn.Conv2d(3, 64, 3, stride=1, padding=1, bias=False)
small_image_stem.maxpool = nn.Identity()
trace_shapes(small_image_stem, 64)
print(f"GMACs per 64-px image: ImageNet stem {forward_gmacs(resnet.resnet18(num_classes=2), 64):.2f}, "
      f"3×3 stride-1 stem without max-pool {forward_gmacs(small_image_stem, 64):.2f}")  # fmt: skip

# %% [markdown]
# We keep torchvision's stem: it is what the network costs on two cores for twenty epochs, and
# it keeps the model interchangeable with torchvision's (the transfer-learning lesson loads
# ImageNet weights into exactly this shape). The price is resolution: a 2×2 final map cannot say
# much about *where* in the image something is — for telling a cat from a dog, the average over
# the whole image is what the head uses anyway.
#
# ## 5. Training from scratch, in sight
#
# The recipe: AdamW with a one-cycle learning rate (warm up to 2e-3 over the first 20% of the
# steps, then anneal to nearly zero), weight decay 0.05, label smoothing 0.1 (two classes: targets
# of 0.95/0.05 instead of 1/0, which keeps the network from becoming over-confident), batches of
# 64. The paper's ImageNet recipe is SGD with momentum at a learning rate of 0.1 for batches of
# 256 (Goyal et al., 2017: scale the rate with the batch — 0.025 for our 64); this lesson did not
# tune SGD for this network and these images; it uses AdamW, and its claim is about AdamW's
# result. On CPUs with bf16 instructions the forward and backward passes run in bfloat16
# autocast. The full run trains 20 epochs on the whole training split; quick mode fewer epochs
# on part of it (the recipe printed below is this notebook's).

# %%
from e2edl.recipes.resnet_from_scratch import train_resnet

show_source(train_resnet)
print(RECIPE)

# %% [markdown]
# The next cell trains it, with a progress bar, into `OUT / "resnet18"`. Every record of the
# history is one epoch: the training loss, and the loss and accuracy on the validation images.
# To try other settings, `dataclasses.replace(RECIPE, lr=1e-3)` and another `run_dir` (the
# hand-over refuses a folder written by another recipe). Running the cell again trains again; add
# `resume=True` to reuse a finished run.

# %%
model, history = train_resnet(data, RECIPE, run_dir=OUT / "resnet18")
print(f"after {RECIPE.epochs} epochs: validation accuracy {history.last['val_accuracy']:.4f}")

# %% [markdown]
# The recipe was fixed before training and the accuracy reported is the last epoch's, not the
# best one: nothing is chosen by looking at the validation images, so their accuracy is a fair
# estimate of how the network does on photos it has not seen.
#
# ## 6. The hand-over
#
# `run_lesson` finds the network trained above (same recipe, same folder), reuses it, checks the
# lesson's claim and draws the figures:

# %%
from e2edl.course import full_run, run_lesson
from e2edl.exercises import check  # for the exercises at the end

result = run_lesson("resnet-from-scratch", quick=QUICK, out=OUT, resume=True)

# %%
result.tables["epochs"]

# %%
result.show("curves", "accuracy")

# %% [markdown]
# What did the network get wrong? The validation images it was most confident about and still
# misclassified (true → predicted, with its confidence):

# %%
result.show("mistakes")

# %% [markdown]
# Look at what they are. Confident mistakes on photos like these are often a small animal in a
# large scene, two animals, or an image that is mostly a person or a cage — and at 64×64 pixels
# some are hard for a person too. And what did the first layer learn? Its 64 filters of 7×7×3, drawn as colour patches:

# %%
filters = model.conv1.weight.detach()  # (64, 3, 7, 7)
low, high = filters.amin(dim=(1, 2, 3), keepdim=True), filters.amax(dim=(1, 2, 3), keepdim=True)
filters = ((filters - low) / (high - low) * 255).to(torch.uint8)
image_grid(filters, ncols=16, title="First-layer filters after training")
plt.show()

# %% [markdown]
# Image networks trained long enough learn colour blobs and oriented edges in their first layer;
# how far these filters got depends on how long this notebook trained. The full run on the
# reference machine,
# trained from scratch on the whole training split at 64×64, reaches the validation accuracy
# below; the transfer-learning lesson measures how much further a network pretrained on
# ImageNet's 1.28 million images gets on the same split.

# %%
full_run("resnet-from-scratch")

# %%
assert result.passed(), "a claim of this lesson failed; see the table above"

# %% [markdown]
# ## Exercises
#
# Each exercise cell holds a stub; write the function, run the cell, then run the check below it.
# It prints ✓, or ✗ with a hint saying what is wrong. (`e2edl check resnet-from-scratch --notebook YOUR_COPY.ipynb`
# runs the same checks from a terminal.)
#
# ### 1. The downsampling shortcut
#
# Write the shortcut of a `BasicBlock` from `in_channels` to `channels` with `stride`: `None`
# when the input can be added as it is, otherwise the learned projection ResNet-18 uses. The check
# puts your module into the library's block and compares outputs.

# %% tags=["exercise"]
from torch import nn


def downsample_shortcut(in_channels: int, channels: int, stride: int) -> nn.Module | None:
    """None for an identity shortcut; else a module (B, in_channels, H, W) → (B, channels, H/stride, W/stride)."""
    raise NotImplementedError  # your code here


# %%
check("downsample-shortcut", downsample_shortcut)

# %% [markdown]
# ### 2. The output size of the stem
#
# A convolution or pooling with kernel `k`, stride `s` and padding `p` turns `n` pixels into
# `⌊(n + 2p − k) / s⌋ + 1`. Write the side length after ResNet-18's stem (7×7 convolution, stride 2,
# padding 3; then 3×3 max-pool, stride 2, padding 1) for a square image of side `size`.


# %% tags=["exercise"]
def stem_output_size(size: int) -> int:
    """Side of the feature map after conv1 and maxpool, for a size×size input (an int)."""
    raise NotImplementedError  # your code here


# %%
check("stem-output-size", stem_output_size)

# %% [markdown]
# ### 3. Counting multiply-adds
#
# Write the number of multiply-adds a `nn.Conv2d` layer performs on one `height × width` input:
# one per weight per output position. (The check compares with `FlopCounterMode`, which counts
# two operations per multiply-add.)

# %% tags=["exercise"]
from torch import nn


def conv_macs(conv: nn.Conv2d, height: int, width: int) -> int:
    """Multiply-adds of ``conv`` on one (C_in, height, width) input (bias additions not counted)."""
    raise NotImplementedError  # your code here


# %%
check("conv-macs", conv_macs)
