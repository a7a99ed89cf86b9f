"""The resnet-from-scratch lesson's experiment: our ResNet-18, trained from random weights on Dogs vs Cats.

The training is the recipe the notebook shows (``e2edl.recipes.resnet_from_scratch``): the full
run trains 20 epochs on the whole training split, quick mode 3 epochs on 2,000 images, validating
on 1,000. The recipe is fixed in advance and the accuracy reported is the last epoch's: nothing is
selected on the validation images.
"""

from __future__ import annotations

import dataclasses

from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig
from e2edl.figures import Table, mistakes_figure, plot_history
from e2edl.recipes.resnet_from_scratch import FULL_RECIPE, QUICK_RECIPE, load_pets_data, train_resnet
from e2edl.train.device import cpu_bf16_pays
from e2edl.train.predict import predict_logits


def run(cfg: RunConfig) -> dict:
    recipe = QUICK_RECIPE if cfg.quick else FULL_RECIPE
    if cfg.epochs:
        recipe = dataclasses.replace(recipe, epochs=cfg.epochs)
    data = load_pets_data(recipe, progress=cfg.progress)
    model, history = train_resnet(data, recipe, **cfg.fit_options("resnet18"))
    logits = predict_logits(model, data.val_loader(recipe.size), amp=cpu_bf16_pays(cfg.device))
    metrics = {
        "val_accuracy": history.last["val_accuracy"],
        "train_seconds": history.last["elapsed"],
        "load_seconds": data.load_seconds,
        "train_images": len(data.train_idx),
        "val_images": len(data.val_idx),
        "skipped_images": data.skipped,
        "resolution": recipe.size,
        "epochs": recipe.epochs,
    }
    figures = {
        "curves": plot_history(history.records, ["train_loss", "val_loss"], "loss", "ResNet-18 from scratch"),
        "accuracy": plot_history(history.records, ["val_accuracy"], "validation accuracy", ""),
        "mistakes": mistakes_figure(data.images[data.val_idx], data.y_val, logits, data.class_names),
    }
    columns = ("epoch", "train_loss", "val_loss", "val_accuracy", "elapsed")
    epochs = Table([{key: record[key] for key in columns} for record in history.records],
                   title="ResNet-18 from scratch, per epoch",
                   formats={"train_loss": ".4f", "val_loss": ".4f", "val_accuracy": ".4f", "elapsed": ".0f"})  # fmt: skip
    return {"metrics": metrics, "figures": figures, "tables": {"epochs": epochs}}


LESSON = Lesson(
    name="resnet-from-scratch",
    title="ResNet-18 from scratch on Dogs vs Cats",
    datasets=("pets",),
    claims=(Claim("val_accuracy", ">=", 0.60, 0.80, "validation accuracy, trained from random weights"),),
    run=run,
)
