"""Softmax and the cross-entropy built on it, written out: what ``F.softmax``, ``F.log_softmax``,
``F.cross_entropy`` (with ``label_smoothing``) and ``F.binary_cross_entropy_with_logits`` compute.
The linear-regression lesson builds them by hand; ``tests/test_softmax.py`` holds them to PyTorch.

* ``softmax`` turns K scores (*logits*) ``z`` into K probabilities, ``p_k = e^{z_k} / Σ_j e^{z_j}``.
  ``e^z`` overflows float32 above z ≈ 88, so we subtract the largest logit first: it cancels in the
  ratio, and the largest exponent becomes ``e^0 = 1`` (the *log-sum-exp trick*).
* The cross-entropy of a target distribution ``q`` against ``p`` is ``−Σ_k q_k log p_k``. For a
  one-hot ``q`` (class ``y``) that is ``−log p_y = logsumexp(z) − z_y``. Label smoothing ``ε`` mixes
  the one-hot target with the uniform one: ``q = (1 − ε)·onehot + ε/K``.
* With two classes, ``softmax((0, z))₁ = sigmoid(z)``: logistic regression is the K = 2 case, and its
  loss ``−[y log σ(z) + (1 − y) log(1 − σ(z))]`` equals ``softplus(z) − y·z``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def logsumexp(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``log Σ e^{z}`` over ``dim``, computed as ``m + log Σ e^{z − m}`` with ``m`` the largest ``z``."""
    m = logits.detach().amax(dim=dim, keepdim=True)  # a constant shift: the result does not depend on it
    return (logits - m).exp().sum(dim=dim, keepdim=True).log().squeeze(dim) + m.squeeze(dim)


def log_softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``log p_k = z_k − logsumexp(z)``: finite for any finite logits."""
    return logits - logsumexp(logits, dim).unsqueeze(dim)


def softmax(logits: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """``e^{z_k} / Σ_j e^{z_j}``: positive, summing to 1 over ``dim``."""
    return log_softmax(logits, dim).exp()


def smoothed_targets(
    targets: torch.Tensor, num_classes: int, label_smoothing: float = 0.0, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """(B,) class indices → (B, K) target distributions ``(1 − ε)·onehot + ε/K``, of ``dtype``."""
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"label_smoothing is a share of the target, in [0, 1]; got {label_smoothing}")
    if targets.dtype.is_floating_point or targets.ndim != 1:
        raise ValueError(
            f"targets must be a (B,) tensor of class indices (integers), got a {tuple(targets.shape)} "
            f"{str(targets.dtype).removeprefix('torch.')} tensor"
        )
    if len(targets) and not 0 <= int(targets.min()) <= int(targets.max()) < num_classes:
        raise ValueError(
            f"class indices must lie in [0, {num_classes}); got {targets.min()}..{targets.max()}"
        )
    one_hot = F.one_hot(targets, num_classes).to(dtype)  # (B, K)
    return (1.0 - label_smoothing) * one_hot + label_smoothing / num_classes


def cross_entropy(logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """(B, K) logits and (B,) class indices → the mean over the batch of ``−Σ_k q_k log p_k``,
    as ``F.cross_entropy(logits, targets, label_smoothing=label_smoothing)`` (a 0-d tensor)."""
    if logits.ndim != 2:
        raise ValueError(
            f"logits must be (B, K), one row of K class scores per example; got {tuple(logits.shape)}"
        )
    q = smoothed_targets(targets, logits.shape[1], label_smoothing, logits.dtype)  # (B, K)
    return -(q * log_softmax(logits, dim=1)).sum(dim=1).mean()


def binary_cross_entropy_with_logits(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The mean of ``−[y log σ(z) + (1 − y) log(1 − σ(z))]`` over logits ``z`` and 0/1 targets ``y`` of
    the same shape, computed as ``softplus(z) − y·z`` so that no logit overflows it."""
    if logits.shape != targets.shape:
        raise ValueError(
            f"logits {tuple(logits.shape)} and targets {tuple(targets.shape)} must have the same shape "
            "(squeeze the model's (B, 1) output to (B,))"
        )
    return (F.softplus(logits) - targets * logits).mean()
