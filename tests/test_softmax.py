"""The hand-written softmax and cross-entropies against PyTorch's (the oracle), values and gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from e2edl.nn.softmax import (
    binary_cross_entropy_with_logits,
    cross_entropy,
    log_softmax,
    logsumexp,
    smoothed_targets,
    softmax,
)


def random_logits(batch: int, classes: int, scale: float, seed: int, dtype=torch.float64) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return (torch.randn(batch, classes, generator=g, dtype=dtype) * scale).requires_grad_()


@pytest.mark.parametrize("scale", [1.0, 30.0, 1e4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_softmax_log_softmax_and_logsumexp_match_torch(scale: float, dtype) -> None:
    z = random_logits(7, 5, scale, seed=0, dtype=dtype).detach()
    tol = {"atol": 1e-5, "rtol": 1e-5} if dtype == torch.float32 else {"atol": 1e-12, "rtol": 1e-12}
    torch.testing.assert_close(logsumexp(z, dim=1), torch.logsumexp(z, dim=1), **tol)
    torch.testing.assert_close(log_softmax(z, dim=1), F.log_softmax(z, dim=1), **tol)
    torch.testing.assert_close(softmax(z, dim=0), F.softmax(z, dim=0), **tol)
    assert torch.isfinite(log_softmax(z)).all()


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1, 0.35, 1.0])
@pytest.mark.parametrize("scale", [1.0, 1e3])
def test_cross_entropy_matches_torch_with_its_gradient(label_smoothing: float, scale: float) -> None:
    ours, theirs = random_logits(9, 4, scale, seed=1), random_logits(9, 4, scale, seed=1)
    targets = torch.tensor([0, 1, 2, 3, 3, 2, 1, 0, 2])
    loss = cross_entropy(ours, targets, label_smoothing=label_smoothing)
    their_loss = F.cross_entropy(theirs, targets, label_smoothing=label_smoothing)
    loss.backward()
    their_loss.backward()
    assert loss.shape == () and torch.isfinite(loss)
    torch.testing.assert_close(loss, their_loss, atol=1e-10, rtol=1e-10)
    torch.testing.assert_close(ours.grad, theirs.grad, atol=1e-12, rtol=1e-10)


def test_the_gradient_is_softmax_minus_the_target_over_the_batch() -> None:
    z = random_logits(6, 3, 2.0, seed=2)
    targets = torch.tensor([0, 2, 1, 1, 0, 2])
    cross_entropy(z, targets, label_smoothing=0.2).backward()
    q = smoothed_targets(targets, 3, 0.2, torch.float64)
    torch.testing.assert_close(z.grad, (softmax(z.detach(), dim=1) - q) / len(targets))


def test_label_smoothing_over_ten_classes_puts_091_on_the_right_class() -> None:
    q = smoothed_targets(torch.tensor([3]), num_classes=10, label_smoothing=0.1)[0]
    assert q[3].item() == pytest.approx(0.91) and q.sum().item() == pytest.approx(1.0)
    assert torch.allclose(q[torch.arange(10) != 3], torch.tensor(0.01))


def test_two_class_softmax_is_the_sigmoid_and_bce_matches_torch() -> None:
    z = torch.linspace(-40, 40, 81, dtype=torch.float64)
    torch.testing.assert_close(softmax(torch.stack([torch.zeros_like(z), z], dim=1))[:, 1], torch.sigmoid(z))
    y = (torch.arange(81) % 3 == 0).double()
    ours, theirs = z.clone().requires_grad_(), z.clone().requires_grad_()
    loss = binary_cross_entropy_with_logits(ours, y)
    their_loss = F.binary_cross_entropy_with_logits(theirs, y)
    loss.backward()
    their_loss.backward()
    torch.testing.assert_close(loss, their_loss)
    torch.testing.assert_close(ours.grad, theirs.grad)


def test_bad_input_is_a_one_line_error() -> None:
    z = torch.zeros(2, 3)
    with pytest.raises(ValueError, match="class indices"):
        cross_entropy(z, torch.tensor([0, 3]))
    with pytest.raises(ValueError, match="integers"):
        cross_entropy(z, torch.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        cross_entropy(z, torch.tensor([0, 1]), label_smoothing=1.5)
    with pytest.raises(ValueError, match=r"\(B, K\)"):
        cross_entropy(torch.zeros(3), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="squeeze"):
        binary_cross_entropy_with_logits(torch.zeros(4, 1), torch.zeros(4))
