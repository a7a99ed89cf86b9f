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
# # Transfer learning the Hugging Face way
#
# The transfer-learning lesson wrote its training by hand: a frozen backbone, cached features, a
# head, our own `fit`. Most projects you will meet use the **Hugging Face** stack instead. It
# splits the same job into standard pieces, each solving one problem that every project has:
#
# | problem | piece | why it is a piece of its own |
# |---|---|---|
# | thousands of files → examples | `datasets` | an index on disk, read lazily, cached; the same API for local folders and the hub's 100,000 data sets |
# | "how was this model's input prepared?" | an **image processor** | the preprocessing is part of the model: it is saved beside the weights, so it cannot be forgotten |
# | a network that others can load | `PreTrainedModel` + a config | `save_pretrained` / `from_pretrained` rebuild it from files, the Auto classes find it by name |
# | the training loop | `Trainer` + `TrainingArguments` | the loop, the schedule, evaluation, logging, mixed precision and multi-GPU, written once |
#
# The pieces pay off because they fit together: a model saved with `save_pretrained` loads
# anywhere with `from_pretrained`, goes into a `pipeline`, or onto the hub. This lesson trains a
# new Dogs vs Cats classifier on a frozen ImageNet backbone with all of them — the head-only
# approach of the transfer-learning lesson, without the feature cache.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first (this release)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "e2edl[hf] @ git+https://github.com/e2edl/e2edl@v0.1.0"], check=True)  # fmt: skip

from e2edl.course.notebook import setup_lesson, show_source

QUICK, OUT = setup_lesson("huggingface-transfer")  # prints the mode, the run folder and the reference timings

# %%
import os
import tempfile

import datasets
import matplotlib.pyplot as plt
import torch
from torch import nn

from e2edl.exercises import check  # for the exercises at the end

datasets.disable_progress_bars()  # the run prints what it loads

# %% [markdown]
# ## 1. `datasets`: an image folder becomes a `Dataset`
#
# The pets archive is laid out as `PetImages/Cat/*.jpg` and `PetImages/Dog/*.jpg`. Why not just
# list the files? Because a real project also needs the labels, a split, a filter for broken
# files, transforms, and all of it again tomorrow, fast. The `imagefolder` builder turns exactly
# this layout into a `Dataset` with a `label` column named after the folders. It stores an index
# as Apache Arrow on disk (memory-mapped: a data set larger than RAM is fine), decodes an image
# only when an example is read, and caches the index, so the second call is quick.
#
# We name the files (`data_files`) rather than only the folder (`data_dir`): given a folder,
# `datasets` first searches it with dozens of patterns for a train/test layout, which on these
# thousands of photos costs seconds of file-system calls at every call.

# %%
from e2edl.data.pets_hf import pets_image_folder

folder = pets_image_folder()  # the extracted archive, from the course's data layer
files = {"train": [str(folder / "Cat" / "*.jpg"), str(folder / "Dog" / "*.jpg")]}
dataset = datasets.load_dataset("imagefolder", data_files=files, split="train")
print(dataset)
print(dataset.features["label"])
example = dataset[0]
print(example["image"].size, example["image"].mode, "label", example["label"])

# %% [markdown]
# `train_test_split(stratify_by_column="label")` keeps the class balance in both parts, as the
# course's own `stratified_split` does. It is **this lesson's own split**: `datasets` draws it with
# its own random generator, so it is *not* the split that the resnet-from-scratch,
# transfer-learning and vit lessons share — the accuracies are comparable in spirit, not to the
# decimal.

# %%
splits = dataset.train_test_split(test_size=0.2, stratify_by_column="label", seed=0)
for name, part in splits.items():
    counts = torch.bincount(torch.tensor(part["label"]), minlength=2).tolist()
    print(f"{name:>5}: {len(part):,} images, per class {counts}")

# %% [markdown]
# The library's `e2edl.data.pets_hf.load_pets_splits` does the same, after one more step the
# original archive needs: files that no image decoder can read are dropped with a `filter` over
# the paths (cached, like everything `datasets` computes). The lesson's recipe takes its photos
# from there (in quick mode only the first few hundred training and validation examples; the cell
# prints how many). On the course's mirror nothing is dropped, so they are the examples above,
# file for file:

# %%
from e2edl.recipes.huggingface_transfer import load_splits

photos, unreadable = load_splits(QUICK, progress=False)


def paths(part):  # the file behind each example, without decoding any image
    return [image["path"] for image in part.cast_column("image", datasets.Image(decode=False))["image"]]


same = all(paths(photos[name]) == paths(splits[name].select(range(len(photos[name])))) for name in splits)
print(f"{len(photos['train']):,} training and {len(photos['test']):,} validation photos for the recipe")
print(f"unreadable files dropped: {unreadable}; the same examples in the same order: {same}")
assert same or unreadable

# %% [markdown]
# ## 2. The image processor
#
# A pretrained model expects its inputs prepared exactly as in its training: size, pixel scale,
# normalisation. Get one wrong and nothing crashes — the accuracy is just quietly worse. So
# Hugging Face stores that recipe next to the weights as an **image processor**
# (`preprocessor_config.json`), and whoever loads the model loads its preprocessing with it. For
# our EfficientNet-Lite0 it is: resize to 180×180 (the mirror's size), scale pixels to [0, 1],
# normalise with mean 0.5 and std 0.5. `ViTImageProcessor` is a generic resize-rescale-normalise
# processor, so we configure one rather than write one.

# %%
from transformers import ViTImageProcessor

processor = ViTImageProcessor(size={"height": 180, "width": 180}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
pixels = processor([splits["train"][i]["image"] for i in range(4)], return_tensors="pt")["pixel_values"]
print("pixel_values", tuple(pixels.shape), f"range [{pixels.min():.2f}, {pixels.max():.2f}]")

# %% [markdown]
# **Transforms on the fly.** Training needs a *new* random crop and flip of each photo every
# epoch, so augmented images cannot be computed once and stored. `with_transform` attaches a
# function that runs **when examples are read**, batch by batch: nothing is precomputed, nothing
# extra is stored. Training gets random crops and flips before the processor; validation gets the
# processor only (two functions, never one shared object, so validation never sees augmentation):

# %%
from e2edl.data.pets_hf import image_transforms

show_source(image_transforms)
train_transform, val_transform = image_transforms(processor, 180)
train_view = splits["train"].with_transform(train_transform)
print(
    {key: tuple(value.shape) if hasattr(value, "shape") else value for key, value in train_view[:2].items()}
)

# %% [markdown]
# Each example now comes out as `pixel_values` and `labels` — the names of the model's `forward`
# arguments. `Trainer` receives a list of such examples per batch and needs one batch dict:
# a **collate function** stacks the images into `(B, 3, H, W)` and the labels into a `(B,)`
# integer tensor. You will write it in the second exercise.
#
# ## 3. The model: from the hub, or your own `PreTrainedModel`
#
# With internet access, one line gets a pretrained ResNet-18 with a new 2-class head:
#
# ```python
# model = AutoModelForImageClassification.from_pretrained(
#     "microsoft/resnet-18", num_labels=2, id2label={0: "cat", 1: "dog"},
#     label2id={"cat": 0, "dog": 1}, ignore_mismatched_sizes=True)
# ```
#
# (`ignore_mismatched_sizes` because the saved head has 1,000 outputs and ours 2.) The lesson's
# recipe tries exactly that and falls back when the hub cannot be reached. The fallback is a real
# skill in itself: **wrapping your own network** so the whole ecosystem accepts it. Three parts,
# each with a reason:
#
# 1. a `PretrainedConfig` subclass with a unique `model_type`, storing every constructor argument:
#    it becomes `config.json`, which is how a saved model can be rebuilt without your code's
#    call site;
# 2. a `PreTrainedModel` subclass whose `forward(pixel_values, labels=None)` returns an
#    `ImageClassifierOutput` with the loss when labels are given — `Trainer` minimises whatever
#    loss the model returns, so the model, not the loop, decides what the loss is;
# 3. registration with the Auto classes, so that `from_pretrained` can map the `model_type` in a
#    saved `config.json` back to your classes.

# %%
from transformers import AutoConfig, AutoModelForImageClassification, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import ImageClassifierOutput

from e2edl.nn.pretrained import Lite0Features


class Lite0Config(PretrainedConfig):
    model_type = "lesson-lite0"  # the library's own is "e2edl-efficientnet-lite0"

    def __init__(self, hidden_size=1280, **kwargs):
        self.hidden_size = hidden_size
        super().__init__(**kwargs)


class Lite0ForImageClassification(PreTrainedModel):
    config_class = Lite0Config

    def __init__(self, config):
        super().__init__(config)
        self.backbone = Lite0Features(pretrained=False)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, pixel_values, labels=None, **kwargs):
        logits = self.classifier(self.backbone(pixel_values))  # (B, num_labels)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return ImageClassifierOutput(loss=loss, logits=logits)


AutoConfig.register(Lite0Config.model_type, Lite0Config)
AutoModelForImageClassification.register(Lite0Config, Lite0ForImageClassification)

model = Lite0ForImageClassification(Lite0Config(id2label={0: "cat", 1: "dog"})).eval()
with tempfile.TemporaryDirectory() as saved:
    model.save_pretrained(saved)  # config.json + model.safetensors
    print(sorted(os.listdir(saved)))
    reloaded = AutoModelForImageClassification.from_pretrained(saved).eval()
with torch.no_grad():
    same = torch.equal(model(pixels).logits, reloaded(pixels).logits)
print(type(reloaded).__name__, "| identical outputs after the round trip:", same)

# %% [markdown]
# The library's `e2edl.nn.hf_lite0.Lite0ForImageClassification` is this model plus what a real
# one needs: dropout before the classifier, a constructor that loads the ImageNet backbone from
# the wheel, the normalisation recorded in its config, and a `freeze_backbone` option. The parity
# check: our weights in the library's model (the parameter names are the same), the same
# photos, the same logits (in eval mode, where dropout does nothing) and the same loss:

# %%
from e2edl.nn import hf_lite0 as library

library_model = library.Lite0ForImageClassification(
    library.Lite0Config(id2label={0: "cat", 1: "dog"}, label2id={"cat": 0, "dog": 1})
).eval()
library_model.load_state_dict(model.state_dict())
labels = torch.tensor([0, 1, 1, 0])
with torch.no_grad():
    ours, theirs = model(pixels, labels=labels), library_model(pixels, labels=labels)
difference = max((ours.logits - theirs.logits).abs().max(), (ours.loss - theirs.loss).abs())
assert difference == 0
print(f"our Lite0ForImageClassification vs the library's: largest difference {difference:.1e}")

# %% [markdown]
# **Frozen means frozen.** Like the transfer-learning lesson's head-only run, we train only the new
# classifier. And as that lesson showed, `requires_grad_(False)` is half of freezing: `Trainer`
# calls `model.train()` at every step, which puts BatchNorm layers back into train mode, where
# they move their running statistics towards each batch's. The library's model holds its backbone
# in eval mode while `freeze_backbone=True`; for a model from the hub, the recipe calls
# `e2edl.nn.pretrained.freeze(model.base_model)`, which does the same for any module. Section 4
# checks it after training.
#
# ## 4. `Trainer`
#
# `TrainingArguments` holds everything about the loop — epochs, batch size, learning rate and its
# schedule, label smoothing, bf16, when to evaluate and save — and `Trainer` runs it, calling our
# two hooks: the collate function for every batch, and `compute_metrics` after every evaluation.
# `Trainer` itself only knows the loss the model returns; accuracy is ours to compute from the
# logits and labels it hands over (we use torchmetrics: the `evaluate` package downloads its
# metric code at run time and fails offline). You will write this hook in the first exercise.
# `remove_unused_columns=False` matters with `with_transform`: otherwise `Trainer` drops the
# `image` column the transform needs.
#
# The recipe, `e2edl.recipes.huggingface_transfer`: a frozen dataclass of settings and the
# function that trains with them. Unlike the transfer-learning lesson, `Trainer` pushes every
# photo through the frozen backbone in every epoch — the price of its generality (a backbone
# being trained must see each photo anew; a frozen one would not need to).

# %%
from e2edl.recipes.huggingface_transfer import RECIPE, train_classifier

show_source(train_classifier)
print(RECIPE)

# %% [markdown]
# Train it on `photos`, the split loaded in section 1.
# To try other settings, make a new recipe — `dataclasses.replace(RECIPE, lr=3e-4)` — and give it
# its own `run_dir`: a finished run folder belongs to the recipe that wrote it.

# %%
trained, history = train_classifier(photos, RECIPE, run_dir=OUT / "classifier")
evaluations = [record for record in history.records if "val_accuracy" in record]
for record in evaluations:
    print(
        f"epoch {record['epoch']:.0f}: validation loss {record['val_loss']:.4f}, accuracy {record['val_accuracy']:.4f}"
    )

# %% [markdown]
# Did the backbone stay as it was pretrained — every weight *and* every BatchNorm statistic?
# Compare it with a freshly loaded copy:

# %%
from e2edl.recipes.huggingface_transfer import pretrained_classifier, pretrained_part

fresh, _, description = pretrained_classifier(RECIPE)
print("model:", description)
before, after = pretrained_part(fresh).state_dict(), pretrained_part(trained).state_dict()
moved = [name for name in before if not torch.equal(before[name], after[name])]
running = sum(name.endswith(("running_mean", "running_var")) for name in before)
print(
    f"{len(before)} backbone tensors ({running} of them BatchNorm running averages); changed by training: {len(moved)}"
)

# %% [markdown]
# ## 5. The lesson's run, and a `pipeline`
#
# `run_lesson("huggingface-transfer")` — what `e2edl run huggingface-transfer` runs — finds the
# classifier trained above in the run folder (same recipe, same photos) and loads it instead of
# training again, checks the frozen backbone the same way, and draws the Trainer's log:

# %%
from e2edl.course import run_lesson

result = run_lesson("huggingface-transfer", quick=QUICK, out=OUT, resume=True)
result.show("curves")

# %% [markdown]
# The recipe saved the trained model and its processor with `save_pretrained`; a `pipeline`
# loads them back by folder name like any hub model — the processor included, which is the point
# of saving it — and classifies raw images:

# %%
from transformers import pipeline

import e2edl.nn.hf_lite0  # noqa: F401  (registers the Auto classes for the saved model_type)

classify = pipeline("image-classification", model=str(OUT / "classifier" / "model"), device="cpu")
images = [photos["test"][i]["image"] for i in range(6)]
fig, axes = plt.subplots(1, 6, figsize=(12, 2.4))
for ax, image, answer, label in zip(axes, images, classify(images), photos["test"]["label"][:6]):
    ax.imshow(image)
    ax.set_title(
        f"{answer[0]['label']} {answer[0]['score']:.2f}\n(true: {['cat', 'dog'][label]})", fontsize=8
    )
    ax.axis("off")
plt.show()

# %% [markdown]
# The claims of this run are in the table `run_lesson` printed above:

# %%
assert result.passed(), "a claim of this lesson failed; see the table above"

# %% [markdown]
# ## Exercises
#
# Each exercise cell holds a stub; write it, run the cell, then run the check below it. It prints
# ✓, or ✗ with a hint saying what is wrong. (`e2edl check huggingface-transfer --notebook
# YOUR_COPY.ipynb` runs the same checks from a terminal.)
#
# ### 1. `compute_metrics`
#
# `Trainer` calls `compute_metrics(prediction)` after every evaluation with an `EvalPrediction`:
# `prediction.predictions` holds the logits as a NumPy array `(N, classes)` — or a tuple whose
# first element they are, when the model returns more than logits — and `prediction.label_ids`
# the `(N,)` labels. Return `{"accuracy": ...}` as a plain Python float (the Trainer writes its
# log as JSON).

# %% tags=["exercise"]
import numpy as np  # noqa: F401  (np.argmax, ...)


def compute_metrics(prediction):
    """EvalPrediction (logits, labels as NumPy arrays) → {"accuracy": float}."""
    raise NotImplementedError  # your code here


# %%
check("compute-metrics", compute_metrics)

# %% [markdown]
# ### 2. A collate function
#
# Write `collate(examples)`: from a list of examples `{"pixel_values": (3, H, W) tensor, "labels":
# int}`, return one batch `{"pixel_values": (B, 3, H, W), "labels": (B,) int64 tensor}` — the
# keys the model's `forward` takes, and the dtype `cross_entropy` needs for class indices.

# %% tags=["exercise"]
import torch


def collate(examples):
    """List of {"pixel_values": (3, H, W), "labels": int} → {"pixel_values": (B, 3, H, W), "labels": (B,) int64}."""
    raise NotImplementedError  # your code here


# %%
check("collate-pixel-values", collate)
