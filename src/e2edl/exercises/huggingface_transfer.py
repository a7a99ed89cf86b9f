"""The huggingface-transfer lesson's exercises: Trainer's ``compute_metrics`` hook, and a collate
function for ``pixel_values`` and ``labels``. The oracles are the recipe's own
(``e2edl.recipes.huggingface_transfer``); transformers is imported only inside the checks."""

from __future__ import annotations

import numpy as np
import torch

from e2edl.exercises.checking import Hint, call, expect_number, expect_tensor
from e2edl.exercises.exercise import Exercise


def _prediction(logits, labels):
    from transformers import EvalPrediction

    return EvalPrediction(predictions=logits, label_ids=labels)


def check_compute_metrics(fn) -> None:
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(50, 3)).astype(np.float32)  # three classes: the check is not only for two
    labels = rng.integers(0, 3, size=50)
    labels[:20] = logits[:20].argmax(1)  # some right, some wrong
    want = float((logits.argmax(1) == labels).mean())
    got = call(fn, _prediction(logits, labels), what="compute_metrics(prediction)")
    if not isinstance(got, dict) or "accuracy" not in got:
        raise Hint(f'compute_metrics should return a dict with the key "accuracy", got {got!r:.80}.')
    accuracy = got["accuracy"]
    if isinstance(accuracy, bool) or not isinstance(accuracy, (int, float)):
        raise Hint(f"return the accuracy as a plain Python float (float(...)), not a {type(accuracy).__name__}: "
                   "the Trainer writes its log as JSON.")  # fmt: skip
    if abs(accuracy - want * 100) < 1e-4:
        raise Hint("report the accuracy as a fraction in [0, 1], not a percentage.")
    expect_number(accuracy, want, "the accuracy", atol=1e-6)
    tuple_hint = (
        "when the model returns more than logits, predictions is a tuple: the logits are its first element."
    )
    try:
        tupled = call(fn, _prediction((logits, rng.normal(size=(50, 4))), labels), what="compute_metrics")
    except Hint:
        raise Hint(tuple_hint) from None
    if not isinstance(tupled, dict) or not isinstance(tupled.get("accuracy"), (int, float)):
        raise Hint(tuple_hint)
    if abs(tupled["accuracy"] - want) > 1e-6:
        raise Hint(tuple_hint)


def _examples(n: int, seed: int) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    return [{"pixel_values": torch.randn(3, 6, 5, generator=g), "labels": i % 2} for i in range(n)]


def check_collate(fn) -> None:
    from e2edl.recipes.huggingface_transfer import collate

    for n, seed in ((4, 0), (1, 1)):
        examples = _examples(n, seed)
        want = collate(examples)
        got = call(fn, examples, what="collate(examples)")
        if not isinstance(got, dict):
            raise Hint(f"collate should return a dict, got {type(got).__name__}.")
        if set(got) != {"pixel_values", "labels"}:
            raise Hint(f'the batch needs exactly the keys "pixel_values" and "labels" (the model\'s forward '
                       f"arguments), got {sorted(got)}.")  # fmt: skip
        pixels = got["pixel_values"]
        if isinstance(pixels, torch.Tensor) and pixels.shape == (3 * n, 6, 5):
            raise Hint("torch.cat joins the images along their channel axis: (B·3, H, W). torch.stack adds the "
                       "batch axis: (B, 3, H, W).")  # fmt: skip
        expect_tensor(pixels, want["pixel_values"], f"pixel_values of a batch of {n}")
        labels = got["labels"]
        if not isinstance(labels, torch.Tensor):
            raise Hint(f"labels should be a tensor (torch.tensor([...])), but it is {type(labels).__name__}.")
        if labels.dtype != torch.int64:
            raise Hint(
                f"labels should be int64 class indices, as cross_entropy needs, but they are {labels.dtype}."
            )
        expect_tensor(labels, want["labels"], f"labels of a batch of {n}")


EXERCISES = [
    Exercise("compute-metrics", "compute_metrics", "Trainer's metrics hook: accuracy from logits and labels",
             check_compute_metrics),
    Exercise("collate-pixel-values", "collate", "examples → a batch of pixel_values and int64 labels", check_collate),
]  # fmt: skip
