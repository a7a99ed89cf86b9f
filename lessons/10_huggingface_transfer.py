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
# # 08 · Transfer learning the Hugging Face way
#
# Lesson 07 wrote the training by hand. Most projects you will meet use the **Hugging Face**
# stack instead, where each step has a standard piece:
#
# | step | piece |
# |---|---|
# | files → examples | `datasets`: `load_dataset("imagefolder")`, `train_test_split`, `with_transform` |
# | image → tensor | an **image processor**: resize, rescale, normalise, exactly as the model was trained |
# | the network | `AutoModelForImageClassification` — or **your own** `PreTrainedModel` |
# | the loop | `Trainer` + `TrainingArguments` (+ a `compute_metrics` hook) |
#
# Learning the pieces pays off because they fit together: a model saved with `save_pretrained`
# loads anywhere with `from_pretrained`, goes into a `pipeline`, or onto the hub. This lesson
# trains Dogs vs Cats with all of them.

# %%
import os
import subprocess
import sys
import tempfile
from pathlib import Path

if "google.colab" in sys.modules:  # on Colab, install the course library first
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "e2edl[hf] @ git+https://github.com/e2edl/e2edl"],
        check=True,
    )

import matplotlib.pyplot as plt
import torch
from torch import nn

from e2edl.figures import show_saved
from e2edl.experiments.huggingface_transfer import pets_image_folder

QUICK = os.environ.get("E2EDL_QUICK") == "1"  # CI runs every notebook in quick mode
RUNS = Path(os.environ.get("E2EDL_RUNS", "runs"))
torch.manual_seed(0)

# %% [markdown]
# ## 1. `datasets`: an image folder becomes a `Dataset`
#
# The pets archive is laid out as `PetImages/Cat/*.jpg` and `PetImages/Dog/*.jpg`. The
# `imagefolder` builder turns exactly that layout into a `Dataset`, with a `label` column whose
# class names come from the folder names. It reads files lazily (an image is decoded only when an
# example is accessed) and caches the index as Apache Arrow, so the second call is instant.

# %%
import datasets

datasets.disable_progress_bars()
folder = pets_image_folder()  # the extracted archive, from the course's data layer
dataset = datasets.load_dataset("imagefolder", data_dir=str(folder), split="train")
print(dataset)
print(dataset.features["label"])
example = dataset[0]
print(example["image"].size, example["image"].mode, "label", example["label"])

# %% [markdown]
# `train_test_split(stratify_by_column="label")` keeps the class balance in both parts, like our
# own `stratified_split` in lesson 06 (same 80/20 proportions, a different random draw).

# %%
splits = dataset.train_test_split(test_size=0.2, stratify_by_column="label", seed=0)
for name, part in splits.items():
    counts = torch.bincount(torch.tensor(part["label"]), minlength=2).tolist()
    print(f"{name:>5}: {len(part)} images, per class {counts}")

# %% [markdown]
# ## 2. The image processor
#
# A pretrained model expects its inputs prepared exactly as in its training: size, pixel scale,
# normalisation. Hugging Face stores that recipe next to the weights as an **image processor**
# (`preprocessor_config.json`), so nobody has to guess. For our EfficientNet-Lite0 it is: resize to
# 180×180 (the mirror's size), scale pixels to [0, 1], normalise with mean 0.5 and std 0.5. `ViTImageProcessor` is a
# generic resize-rescale-normalise processor, so we configure one rather than write one.

# %%
from transformers import ViTImageProcessor

processor = ViTImageProcessor(size={"height": 180, "width": 180}, image_mean=[0.5] * 3, image_std=[0.5] * 3)
pixels = processor([splits["train"][i]["image"] for i in range(4)], return_tensors="pt")["pixel_values"]
print("pixel_values", tuple(pixels.shape), f"range [{pixels.min():.2f}, {pixels.max():.2f}]")

# %% [markdown]
# `with_transform` attaches a function that runs **when examples are read**, batch by batch —
# nothing is precomputed or stored. Training gets random crops and flips before the processor;
# validation gets the processor only (two transforms, never one shared object).

# %%
from e2edl.experiments.huggingface_transfer import image_transforms

train_transform, val_transform = image_transforms(processor, 180)
train_view = splits["train"].with_transform(train_transform)
print(
    {key: tuple(value.shape) if hasattr(value, "shape") else value for key, value in train_view[:2].items()}
)

# %% [markdown]
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
# (`ignore_mismatched_sizes` because the saved head has 1,000 outputs and ours 2.) The lesson's run
# tries exactly that and falls back when the hub cannot be reached. The fallback is a real skill in
# itself: **wrapping your own network** so the whole ecosystem accepts it. Three parts:
#
# 1. a `PretrainedConfig` subclass with a unique `model_type`, storing every constructor argument
#    (it becomes `config.json`);
# 2. a `PreTrainedModel` subclass whose `forward(pixel_values, labels=None)` returns an
#    `ImageClassifierOutput` with the loss when labels are given — that is all `Trainer` needs;
# 3. registration with the Auto classes, so `from_pretrained` finds your classes by `model_type`.

# %%
from transformers import AutoConfig, AutoModelForImageClassification, PretrainedConfig, PreTrainedModel
from transformers.modeling_outputs import ImageClassifierOutput

from e2edl.nn.pretrained import Lite0Features


class TinyLite0Config(PretrainedConfig):
    model_type = "lesson-08-lite0"

    def __init__(self, hidden_size=1280, **kwargs):
        self.hidden_size = hidden_size
        super().__init__(**kwargs)


class TinyLite0ForImageClassification(PreTrainedModel):
    config_class = TinyLite0Config

    def __init__(self, config):
        super().__init__(config)
        self.backbone = Lite0Features(pretrained=False)
        self.classifier = nn.Linear(config.hidden_size, config.num_labels)
        self.post_init()

    def forward(self, pixel_values, labels=None, **kwargs):
        logits = self.classifier(self.backbone(pixel_values))  # (B, num_labels)
        loss = nn.functional.cross_entropy(logits, labels) if labels is not None else None
        return ImageClassifierOutput(loss=loss, logits=logits)


AutoConfig.register(TinyLite0Config.model_type, TinyLite0Config)
AutoModelForImageClassification.register(TinyLite0Config, TinyLite0ForImageClassification)

model = TinyLite0ForImageClassification(TinyLite0Config(id2label={0: "cat", 1: "dog"})).eval()
with tempfile.TemporaryDirectory() as folder:
    model.save_pretrained(folder)  # config.json + model.safetensors
    print(sorted(os.listdir(folder)))
    reloaded = AutoModelForImageClassification.from_pretrained(folder).eval()
with torch.no_grad():
    same = torch.equal(model(pixels).logits, reloaded(pixels).logits)
print(type(reloaded).__name__, "| identical outputs after the round trip:", same)

# %% [markdown]
# `e2edl.nn.hf_lite0.Lite0ForImageClassification` is this with dropout before the classifier, a
# constructor that loads the ImageNet backbone from the wheel, the normalisation recorded in its
# config, and a `freeze_backbone` option; `tests/test_hf_lite0.py` checks its round trip and that the Auto classes find it.
#
# ## 4. `Trainer`
#
# `TrainingArguments` holds everything about the loop — epochs, batch size, learning rate and its
# schedule, label smoothing, bf16, when to evaluate and save — and `Trainer` runs it. Accuracy
# comes from a `compute_metrics(prediction)` hook; we use torchmetrics, because the `evaluate`
# package downloads its metric code at run time and fails offline. `remove_unused_columns=False`
# matters with `with_transform`: otherwise `Trainer` drops the `image` column the transform needs.
# The run (`e2edl run huggingface-transfer`) trains the new classifier for two epochs on top of the
# **frozen** ImageNet backbone (`Lite0Config(freeze_backbone=True)`), as lesson 07's head-only run
# did by hand — but without cached features: `Trainer` pushes every image through the backbone in
# every epoch, which is the price of its generality. Fine-tuning every layer instead costs about
# three times as much per step; on two CPU cores, one such epoch at 128 px reached 94.7%, less than
# the frozen backbone at full resolution. On a GPU, set `freeze_backbone=False` and fine-tune.

# %%
from e2edl.course import passed, run_lesson

out = RUNS / "08_huggingface_transfer"
result = run_lesson("huggingface-transfer", quick=QUICK, out=out)
print(open(out / "summary.txt").read())
show_saved(out / "train_loss.png")

# %% [markdown]
# The run saved the fine-tuned model and its processor with `save_pretrained`; a `pipeline` loads
# them back by folder name like any hub model and classifies raw images:

# %%
from transformers import pipeline

import e2edl.nn.hf_lite0  # noqa: F401  (registers the Auto classes for the saved model_type)

classify = pipeline("image-classification", model=str(out / "model"), device="cpu")
images = [splits["test"][i]["image"] for i in range(6)]
fig, axes = plt.subplots(1, 6, figsize=(12, 2.4))
for ax, image, answer, label in zip(axes, images, classify(images), splits["test"]["label"][:6]):
    ax.imshow(image)
    ax.set_title(
        f"{answer[0]['label']} {answer[0]['score']:.2f}\n(true: {['cat', 'dog'][label]})", fontsize=8
    )
    ax.axis("off")
plt.show()

# %%
assert passed(result), "a claim of this lesson failed; see the table above"
