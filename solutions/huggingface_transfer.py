"""Reference solutions to the huggingface-transfer lesson's exercises, and the typical mistakes
their checks catch."""

import numpy as np
import torch


def compute_metrics(prediction):
    """EvalPrediction (logits, labels as NumPy arrays) → {"accuracy": float}."""
    logits = prediction.predictions
    if isinstance(logits, tuple):  # the model returned more than logits: they come first
        logits = logits[0]
    return {"accuracy": float((np.argmax(logits, axis=-1) == prediction.label_ids).mean())}


def collate(examples):
    """List of {"pixel_values": (3, H, W), "labels": int} → {"pixel_values": (B, 3, H, W), "labels": (B,) int64}."""
    return {
        "pixel_values": torch.stack([example["pixel_values"] for example in examples]),  # (B, 3, H, W)
        "labels": torch.tensor([example["labels"] for example in examples], dtype=torch.int64),  # (B,)
    }


# ------------------------------------------------------------------------------ typical mistakes


def compute_metrics_ignoring_the_tuple(prediction):
    return {"accuracy": float((prediction.predictions.argmax(-1) == prediction.label_ids).mean())}


def compute_metrics_as_a_tensor(prediction):
    logits = prediction.predictions
    logits = logits[0] if isinstance(logits, tuple) else logits
    return {
        "accuracy": (torch.from_numpy(logits).argmax(-1) == torch.from_numpy(prediction.label_ids))
        .float()
        .mean()
    }


def compute_metrics_in_percent(prediction):
    logits = prediction.predictions
    logits = logits[0] if isinstance(logits, tuple) else logits
    return {"accuracy": 100 * float((logits.argmax(-1) == prediction.label_ids).mean())}


def collate_with_cat(examples):
    return {
        "pixel_values": torch.cat([example["pixel_values"] for example in examples]),
        "labels": torch.tensor([example["labels"] for example in examples]),
    }


def collate_with_float_labels(examples):
    return {
        "pixel_values": torch.stack([example["pixel_values"] for example in examples]),
        "labels": torch.tensor([example["labels"] for example in examples], dtype=torch.float32),
    }


def collate_with_other_names(examples):
    return {
        "images": torch.stack([example["pixel_values"] for example in examples]),
        "label": torch.tensor([example["labels"] for example in examples]),
    }


MISTAKES = {
    "compute-metrics": [
        (compute_metrics_ignoring_the_tuple, "tuple"),
        (compute_metrics_as_a_tensor, "plain Python float"),
        (compute_metrics_in_percent, "percentage"),
    ],
    "collate-pixel-values": [
        (collate_with_cat, "torch.stack"),
        (collate_with_float_labels, "int64"),
        (collate_with_other_names, '"pixel_values" and "labels"'),
    ],
}
