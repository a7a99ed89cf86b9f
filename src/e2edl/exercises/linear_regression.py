"""The linear-regression lesson's exercises: softmax cross-entropy (with label smoothing), one step of
gradient descent for linear regression in matrix form, and the critical learning rate.

Each check compares the learner's function with PyTorch (``F.cross_entropy``, ``torch.autograd``)
or the exact formula on fixed random inputs; when the answer is wrong it compares it with what the
typical mistakes compute (a sum for a mean, a forgotten max shift, the smoothing mass not spread
over the classes, a missing factor 2, the wrong eigenvalue...) so that the hint can name them.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from e2edl.exercises.checking import Hint, call, expect_number, expect_tensor
from e2edl.exercises.exercise import Exercise


def _close(got, want: torch.Tensor, tol: float = 1e-5) -> bool:
    return (
        isinstance(got, torch.Tensor)
        and got.shape == want.shape
        and bool(torch.isfinite(got).all())
        and torch.allclose(got.detach().to(want.dtype), want, atol=tol, rtol=tol)
    )


# ----------------------------------------------------------------------- softmax-cross-entropy
def _logits(batch: int, classes: int, scale: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, classes, generator=g) * scale, torch.randint(0, classes, (batch,), generator=g)


def _loss(fn, logits: torch.Tensor, targets: torch.Tensor, smoothing: float | None):
    args = (logits, targets) if smoothing is None else (logits, targets, smoothing)
    return call(fn, *args, what="softmax_cross_entropy")


def check_softmax_cross_entropy(fn) -> None:
    logits, targets = _logits(8, 5, 1.0, seed=0)
    want = F.cross_entropy(logits, targets)
    got = _loss(fn, logits, targets, None)
    per_example = F.cross_entropy(logits, targets, reduction="none")
    if _close(got, per_example):
        raise Hint("that is one loss per example: return their mean over the batch, a single number.")
    if _close(got, want * len(targets)) or _close(got, per_example.sum()):
        raise Hint(
            "that is the sum over the batch: F.cross_entropy returns the mean, so divide by the batch size."
        )
    if _close(got, -want):
        raise Hint("the sign is wrong: the loss is −log p(right class), a positive number.")
    expect_tensor(got, want, "softmax_cross_entropy(logits (8, 5), targets)", atol=1e-5, rtol=1e-5)

    # the gradient must flow back to the logits, and be PyTorch's
    logits.requires_grad_()
    got = _loss(fn, logits, targets, None)
    if not got.requires_grad:
        raise Hint(
            "no gradient can flow back to the logits: compute the loss with torch operations only "
            "(no .item(), .numpy() or new tensors built from values)."
        )
    (grad,) = torch.autograd.grad(got, logits)
    (want_grad,) = torch.autograd.grad(F.cross_entropy(logits, targets), logits)
    expect_tensor(
        grad, want_grad, "the gradient of your loss with respect to the logits", atol=1e-6, rtol=1e-4
    )

    # large logits
    big, big_targets = _logits(6, 4, 1e4, seed=1)
    got = _loss(fn, big, big_targets, None)
    if isinstance(got, torch.Tensor) and not torch.isfinite(got).all():
        raise Hint(
            "large logits overflow: e^z is inf above z ≈ 88 in float32. Subtract each row's largest logit "
            "before exponentiating — it cancels in the softmax (log p = z − m − log Σ e^(z − m))."
        )
    expect_tensor(
        got, F.cross_entropy(big, big_targets), "the loss for logits of size 10⁴", atol=1e-2, rtol=1e-5
    )

    # label smoothing
    logits, targets = _logits(8, 10, 2.0, seed=2)
    got = _loss(fn, logits, targets, 0.1)
    want = F.cross_entropy(logits, targets, label_smoothing=0.1)
    if _close(got, F.cross_entropy(logits, targets)):
        raise Hint(
            "label_smoothing is ignored: the target becomes (1 − ε)·onehot + ε/K, i.e. 0.91 on the right "
            "class and 0.01 on each other one for ε = 0.1, K = 10."
        )
    log_p = F.log_softmax(logits, dim=1)
    not_spread = -(0.9 * log_p.gather(1, targets[:, None])[:, 0] + 0.1 * log_p.sum(dim=1)).mean()
    not_spread_rest = -(0.9 * log_p.gather(1, targets[:, None])[:, 0] + 0.1 / 9 * (log_p.sum(dim=1) - log_p.gather(1, targets[:, None])[:, 0])).mean()  # fmt: skip
    if _close(got, not_spread):
        raise Hint("spread ε evenly over the K classes: each gets ε/K (the right class 1 − ε + ε/K), not ε.")
    if _close(got, not_spread_rest):
        raise Hint(
            "PyTorch spreads ε over all K classes, the right one included: ε/K each, so the right class "
            "gets 1 − ε + ε/K (0.91 for ε = 0.1, K = 10), not ε/(K − 1) over the others."
        )
    expect_tensor(
        got, want, "softmax_cross_entropy(logits, targets, label_smoothing=0.1)", atol=1e-5, rtol=1e-5
    )


# ----------------------------------------------------------------------- gradient-descent-step
def _regression(n: int, d: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    X = torch.cat(
        [torch.ones(n, 1, dtype=torch.float64), torch.rand(n, d - 1, generator=g, dtype=torch.float64)], 1
    )
    y = X @ torch.randn(d, generator=g, dtype=torch.float64) + 0.1 * torch.randn(
        n, generator=g, dtype=torch.float64
    )
    theta = torch.randn(d, generator=g, dtype=torch.float64)
    return X, y, theta


def check_gradient_descent_step(fn) -> None:
    for n, d, seed in ((50, 2, 0), (40, 4, 1)):
        X, y, theta = _regression(n, d, seed)
        lr = 0.1
        before = theta.clone()
        try:
            got = call(fn, theta, X, y, lr, what="gradient_descent_step")
        except Hint as hint:
            if "size of tensor" in str(hint) or "shapes cannot be multiplied" in str(hint):
                raise Hint(
                    f"{hint} Mind the shapes: X @ theta is (n,), like y; the gradient Xᵀ(Xθ − y) is (d,), "
                    "like theta. A (n, 1) column meeting a (n,) vector broadcasts to an (n, n) matrix."
                ) from None
            raise
        if not torch.equal(theta, before):
            raise Hint(
                "theta changed in place: return a new tensor theta − lr · gradient and leave theta as it was."
            )
        residual = X @ theta - y  # (n,)
        gradient = 2 * X.T @ residual / n  # (d,)
        want = theta - lr * gradient
        what = f"gradient_descent_step(theta ({d},), X ({n}, {d}), y ({n},), lr={lr})"
        if isinstance(got, torch.Tensor) and got.shape != want.shape and got.numel() == d * n:
            raise Hint(
                f"{what} has shape {tuple(got.shape)}: a (n, 1) column met a (n,) vector and broadcast to a "
                "matrix. Keep the residual Xθ − y of shape (n,)."
            )
        mistakes = [
            (theta + lr * gradient, "that step goes uphill: move against the gradient, θ − lr·∇L."),
            (theta - lr * gradient / 2, "the step is half as long as it should be: the derivative of (Xθ − y)² brings down a factor 2."),
            (theta - lr * gradient * n, "the loss is the mean over the n examples, so its gradient is divided by n: (2/n)·Xᵀ(Xθ − y)."),
            (theta - lr * gradient * n / 2, "the loss is the mean of the squared errors: its gradient is (2/n)·Xᵀ(Xθ − y) — both the 2 and the 1/n are missing."),
        ]  # fmt: skip
        if not _close(got, want, 1e-9):
            for wrong, hint in mistakes:
                if _close(got, wrong, 1e-9):
                    raise Hint(hint)
        expect_tensor(got, want, what, atol=1e-9, rtol=1e-9)


# ----------------------------------------------------------------------- critical-learning-rate
def check_critical_learning_rate(fn) -> None:
    for n, d, seed in ((200, 2, 0), (100, 3, 1)):
        X, _, _ = _regression(n, d, seed)
        X[:, 1:] *= torch.arange(1, d, dtype=torch.float64) * 2  # features of different scales
        hessian = 2 * X.T @ X / n
        eigenvalues = torch.linalg.eigvalsh(hessian)
        want = 2 / eigenvalues.max().item()
        got = call(fn, X.clone(), what="critical_learning_rate")
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, (int, float)):
            raise Hint(
                f"critical_learning_rate should return a number, but it returned {type(got).__name__}."
            )
        mistakes = [
            (2 / eigenvalues.min().item(), "that is 2/λ_min: the steepest direction, the largest eigenvalue λ_max, limits the step."),
            (want / 2, "that is 1/λ_max, half the critical rate: one step multiplies the error along the steepest direction by 1 − lr·λ_max, which leaves [−1, 1] only above lr = 2/λ_max."),
            (want * 2, "twice too large: the Hessian of the mean squared error is (2/n)·XᵀX — the 2 comes from the square."),
            (want / n, "n times too small: the loss is a mean over the n examples, so the Hessian is (2/n)·XᵀX, not 2·XᵀX."),
            (want * n, "n times too large: the Hessian of a mean over n examples is (2/n)·XᵀX, divided by n once."),
        ]  # fmt: skip
        if math.isfinite(got) and abs(got - want) > 1e-9 * want:
            for wrong, hint in mistakes:
                if abs(got - wrong) <= 1e-6 * abs(wrong):
                    raise Hint(hint)
        expect_number(got, want, f"critical_learning_rate(X of shape ({n}, {d}))", atol=0, rtol=1e-9)


EXERCISES = [
    Exercise(
        "softmax-cross-entropy",
        "softmax_cross_entropy",
        "the mean cross-entropy of (B, C) logits against (B,) class indices, with label smoothing",
        check_softmax_cross_entropy,
    ),
    Exercise(
        "gradient-descent-step",
        "gradient_descent_step",
        "one step of gradient descent on the mean squared error of a linear model, in matrix form",
        check_gradient_descent_step,
    ),
    Exercise(
        "critical-learning-rate",
        "critical_learning_rate",
        "the learning rate above which gradient descent on the mean squared error diverges",
        check_critical_learning_rate,
    ),
]
