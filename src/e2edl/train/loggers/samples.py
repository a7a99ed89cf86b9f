"""A few examples shown with the model's predictions at the end of a run (a W&B table, a
TensorBoard image): the quickest way to see *what* a model gets wrong, not only how often."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class PredictionSamples:
    """``inputs`` (N, ...) as the model takes them (normalised), their ``labels`` (N,) and the
    ``class_names``; what a person looks at is ``images`` (N, H, W) or (N, C, H, W), uint8 — for
    pictures — or ``texts`` (N strings); without either, the inputs themselves are shown."""

    inputs: torch.Tensor
    labels: torch.Tensor
    class_names: Sequence[str]
    images: torch.Tensor | None = None
    texts: Sequence[str] | None = None

    def __post_init__(self) -> None:
        n = len(self.inputs)
        shown = self.images if self.images is not None else self.texts
        if len(self.labels) != n or (shown is not None and len(shown) != n):
            raise ValueError(
                f"samples need as many labels and images/texts as inputs: {n} inputs, "
                f"{len(self.labels)} labels" + (f", {len(shown)} shown" if shown is not None else "")
            )

    @torch.no_grad()
    def predict(self, model: nn.Module) -> tuple[torch.Tensor, torch.Tensor]:
        """(predicted class (N,), its probability (N,)) from ``model`` in evaluation mode."""
        device = next(model.parameters()).device
        was_training = model.training
        model.eval()
        probabilities = model(self.inputs.to(device)).float().softmax(-1).cpu()  # (N, classes)
        model.train(was_training)
        confidence, predicted = probabilities.max(-1)
        return predicted, confidence

    def rows(self, model: nn.Module) -> list[dict]:
        """One dict per example: ``shown`` (an image tensor or a text), ``true``, ``predicted``,
        ``confidence`` and ``correct``."""
        predicted, confidence = self.predict(model)
        shown = self.images if self.images is not None else self.texts
        shown = shown if shown is not None else self.inputs
        return [
            {
                "shown": shown[i],
                "true": self.class_names[int(self.labels[i])],
                "predicted": self.class_names[int(predicted[i])],
                "confidence": round(float(confidence[i]), 4),
                "correct": bool(predicted[i] == self.labels[i]),
            }
            for i in range(len(self.inputs))
        ]
