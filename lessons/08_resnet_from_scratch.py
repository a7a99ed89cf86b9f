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
# # 06 · ResNet-18 from scratch on Dogs vs Cats
#
# MNIST was 28×28 gray digits, centred and clean. Real photos are another matter: cats and dogs
# in every pose, lighting and background, at every scale. This lesson takes the network that
# made very deep models trainable — **ResNet** (He et al., 2015) — builds its 18-layer version
# piece by piece, checks it against torchvision's, and trains it **from random weights** on the
# Dogs vs Cats photos. Lesson 07 then shows how much a *pretrained* network changes the picture.
#
# The plan:
# 1. the data: real JPEGs, some unreadable, a stratified split, and augmentation for training only;
# 2. ResNet-18 built in the open: the basic block, the downsampling shortcut, the stem, the head;
# 3. the same weights in torchvision's model and ours give the same outputs;
# 4. why we train at 64×64 on a CPU, and what the run reaches.

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
import torchvision
from torch import nn

from e2edl.figures import image_grid, show_saved
from e2edl.experiments.pets_common import Pets

QUICK = os.environ.get("E2EDL_QUICK") == "1"  # CI runs every notebook in quick mode
RUNS = Path(os.environ.get("E2EDL_RUNS", "runs"))
torch.manual_seed(0)

# %% [markdown]
# ## 1. The data
#
# `Pets.load(size)` finds the Dogs vs Cats archive (cache → course mirror → Microsoft's download),
# extracts it safely, and decodes every JPEG **once** into one uint8 tensor of shape
# (N, 3, size, size), cached on disk: an epoch then slices a tensor instead of decoding 8,000 JPEGs
# again. The original archive has files that are not images at all — empty files, truncated
# JPEGs, a `Thumbs.db` — so the decoder skips what it cannot read and counts it.
#
# The split is **stratified**: 20% of the cats and 20% of the dogs go to validation, chosen with
# a fixed seed, so both parts have the same class balance on every machine. All three Dogs vs
# Cats lessons use this same split, so their accuracies compare.

# %%
data = Pets.load(80, progress=False)
print(f"{len(data.labels)} images decoded at 80×80, {data.skipped} unreadable files skipped")
for part, idx in (("train", data.train_idx), ("validation", data.val_idx)):
    counts = torch.bincount(data.labels[idx], minlength=2).tolist()
    print(f"{part:>10}: {len(idx)} images, {dict(zip(data.class_names, counts))}")
names = [data.class_names[y] for y in data.labels[data.train_idx[:20]]]
image_grid(data.images[data.train_idx[:20]], names, title="Training images")
plt.show()

# %% [markdown]
# Training and validation get **separate** transforms. Training images are randomly cropped
# (25–100% of the area, aspect 3:4 to 4:3), resized to 64×64 and flipped half the time: the
# network never sees the same picture twice, which is the cheapest defence against memorising
# 8,000 photos. Validation images are only resized — a validation score must not depend on a
# dice roll. (A classic bug is to build one `ImageFolder` with one transform and then
# `random_split` it: both halves share the transform, so either training gets no augmentation or
# validation gets random crops.)

# %%
from e2edl.experiments.resnet_from_scratch import augmentation_figure

augmentation_figure(data)
plt.show()

# %% [markdown]
# ## 2. ResNet-18, piece by piece
#
# A plain stack of convolutions gets *harder* to train as it gets deeper, even on its training
# set (lesson 11 measures this). ResNet's fix: let each block learn a **correction** to its input,
# `out = relu(x + F(x))`. If `F` learns nothing, the block passes `x` through unchanged, so adding
# blocks can never make the starting point worse, and gradients reach early layers through the
# `+ x` path.
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

    def forward(self, x):
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
# 16×16) cannot be added to `F(x)` (128 channels, 8×8). The shortcut then becomes a **1×1
# convolution with stride 2** plus BatchNorm — the cheapest map to the new shape (the paper's
# "option B"). Every other shortcut is the identity and has no parameters at all.
#
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

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


ours = ResNet18()
x = torch.randn(1, 3, 224, 224)
for name in ("conv1", "maxpool", "layer1", "layer2", "layer3", "layer4", "avgpool"):
    handle = getattr(ours, name).register_forward_hook(
        lambda module, inputs, output, name=name: print(f"{name:>8}: {tuple(output.shape)}")
    )
ours(x)
print(f"parameters: {sum(p.numel() for p in ours.parameters()):,}")

# %% [markdown]
# ## 3. Same weights, same outputs as torchvision
#
# We named every module exactly as torchvision does (`conv1`, `layer2.0.downsample.0`, `fc`, ...),
# so the two models' `state_dict`s have the same keys and shapes. The test of "did I build the
# same network?" is then direct: copy torchvision's (randomly initialised) weights into ours and
# compare outputs on the same input, in eval mode. To make the BatchNorm layers do something, we
# first give them non-trivial running statistics by running a few batches in training mode.

# %%
ours = ResNet18()
reference = torchvision.models.resnet18()  # random weights: no download needed
reference.train()
with torch.no_grad():
    for _ in range(3):
        reference(torch.randn(8, 3, 64, 64) * 2 + 0.5)  # updates BatchNorm running mean/var
ours.load_state_dict(reference.state_dict())  # strict: every key and shape must match
reference.eval(), ours.eval()
x = torch.randn(4, 3, 96, 96)
with torch.no_grad():
    difference = (ours(x) - reference(x)).abs().max().item()
print(f"largest output difference: {difference:.1e}")
assert difference < 1e-5

# %% [markdown]
# The course library's `e2edl.nn.resnet.ResNet18` is the same network (with torchvision's weight
# initialisation and shape comments); `tests/test_resnet.py` checks this both ways round — our
# weights in torchvision's model too. From here on we use it.
#
# ## 4. What resolution can a CPU afford?
#
# A convolution's cost grows with the number of pixels. ResNet-18 needs about 1.8 billion
# multiply-adds for one 224×224 image; training costs about three times a forward pass. Let us
# measure training speed at a few sizes on this machine:

# %%
from e2edl.nn.resnet import resnet18

model = resnet18(num_classes=2).to(memory_format=torch.channels_last)
optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
for size in (64, 96, 128):
    x = torch.randn(32, 3, size, size).contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 2, (32,))
    times = []
    for _ in range(3):
        start = time.perf_counter()
        loss = nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        times.append(time.perf_counter() - start)
    median = sorted(times)[1]
    print(f"{size:>3} px: {32 / median:6.0f} training images/s → {8000 / 32 * median:5.0f} s per epoch")

# %% [markdown]
# Doubling the side quadruples the cost (roughly: small images use the CPU less efficiently). We
# train at **64×64**: enough to tell a cat from a dog, and affordable for twenty epochs on two
# cores. A GPU would train at 224 in less time.
#
# ## 5. Training from scratch
#
# The recipe (in `e2edl/experiments/resnet_from_scratch.py`): AdamW with a one-cycle learning rate
# (warm up to 2e-3, then anneal to nearly zero), weight decay 0.05, label smoothing 0.1 (targets
# of 0.95/0.05 instead of 1/0, which keeps the network from becoming over-confident), batches of
# 64, 20 epochs. (Plain SGD at a learning rate of 0.1 — the ImageNet recipe — blew the loss up in
# the first epoch on these 8,000 images; AdamW's per-weight step sizes are more forgiving.) On
# CPUs with bf16 instructions the forward and backward passes run in bfloat16 autocast.
# `e2edl run resnet-from-scratch` runs exactly this cell; quick mode trains 4 epochs on 2,000
# images and validates on 1,000.

# %%
from e2edl.course import passed, run_lesson

out = RUNS / "06_resnet_from_scratch"
result = run_lesson("resnet-from-scratch", quick=QUICK, out=out)

# %% [markdown]
# The loss curves and the validation accuracy per epoch:

# %%
show_saved(out / "curves.png", out / "accuracy.png")

# %% [markdown]
# What did the network get wrong? The validation images it was most confident about and still
# misclassified (true → predicted, with its confidence):

# %%
show_saved(out / "mistakes.png", width=9)

# %% [markdown]
# Many mistakes are honest: a small animal in a large scene, two animals, an image that is mostly
# a person or a cage. At 64×64 pixels some are hard for a person too. And what did the first
# layer learn? Its 64 filters of 7×7×3, drawn as colour patches:

# %%
state = torch.load(out / "resnet18" / "checkpoint.pt", weights_only=True)["model"]
filters = state["conv1.weight"]  # (64, 3, 7, 7)
low, high = filters.amin(dim=(1, 2, 3), keepdim=True), filters.amax(dim=(1, 2, 3), keepdim=True)
filters = ((filters - low) / (high - low) * 255).to(torch.uint8)
image_grid(filters, ncols=16, title="First-layer filters after training")
plt.show()

# %% [markdown]
# Colour blobs and oriented edges — what every image network learns first. Trained from scratch
# on 8,000 photos at 64×64, the network reaches the accuracy in the table above (the claim is
# ≥ 80%). That is far from what a network pretrained on ImageNet's 1.28 million images does on the
# same task: lesson 07.

# %%
assert passed(result), "a claim of this lesson failed; see the table above"
