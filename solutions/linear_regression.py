"""Reference solutions to the linear-regression lesson's exercises, and the typical mistakes their
checks must recognise."""

import torch


def softmax_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """(B, C) logits and (B,) class indices → the mean cross-entropy (a 0-d tensor)."""
    shifted = logits - logits.max(dim=1, keepdim=True).values  # (B, C): the largest logit is now 0
    log_p = shifted - shifted.exp().sum(dim=1, keepdim=True).log()  # (B, C) log-softmax
    classes = logits.shape[1]
    q = torch.full_like(log_p, label_smoothing / classes)  # (B, C): ε/C everywhere...
    q[torch.arange(len(targets)), targets] += 1 - label_smoothing  # ...plus 1 − ε on the right class
    return -(q * log_p).sum(dim=1).mean()


def gradient_descent_step(theta: torch.Tensor, X: torch.Tensor, y: torch.Tensor, lr: float) -> torch.Tensor:
    """θ (d,), X (n, d), y (n,) → θ − lr·∇L for L = mean((Xθ − y)²)."""
    residual = X @ theta - y  # (n,)
    gradient = 2 * X.T @ residual / len(y)  # (d,)
    return theta - lr * gradient


def critical_learning_rate(X: torch.Tensor) -> float:
    """X (n, d), the design matrix → 2/λ_max of the Hessian (2/n)·XᵀX of the mean squared error."""
    hessian = 2 * X.T @ X / len(X)  # (d, d)
    return 2 / torch.linalg.eigvalsh(hessian).max().item()


# ---- typical mistakes, each of which the check must name ----------------------------------------
def cross_entropy_summed(logits, targets, label_smoothing=0.0):
    return softmax_cross_entropy(logits, targets, label_smoothing) * len(targets)


def cross_entropy_per_example(logits, targets, label_smoothing=0.0):
    log_p = logits.log_softmax(dim=1)
    return -log_p[torch.arange(len(targets)), targets]


def cross_entropy_without_the_max(logits, targets, label_smoothing=0.0):
    p = logits.exp() / logits.exp().sum(dim=1, keepdim=True)
    q = torch.full_like(p, label_smoothing / logits.shape[1])
    q[torch.arange(len(targets)), targets] += 1 - label_smoothing
    return -(q * p.log()).sum(dim=1).mean()


def cross_entropy_ignoring_smoothing(logits, targets, label_smoothing=0.0):
    return softmax_cross_entropy(logits, targets)


def cross_entropy_smoothing_not_spread(logits, targets, label_smoothing=0.0):
    log_p = logits.log_softmax(dim=1)
    right = log_p[torch.arange(len(targets)), targets]
    return -((1 - label_smoothing) * right + label_smoothing * log_p.sum(dim=1)).mean()


def cross_entropy_detached(logits, targets, label_smoothing=0.0):
    return torch.tensor(softmax_cross_entropy(logits, targets, label_smoothing).item())


def step_uphill(theta, X, y, lr):
    return theta + (theta - gradient_descent_step(theta, X, y, lr))


def step_without_the_2(theta, X, y, lr):
    return theta - lr * X.T @ (X @ theta - y) / len(y)


def step_with_a_sum(theta, X, y, lr):
    return theta - lr * 2 * X.T @ (X @ theta - y)


def step_with_a_column_target(theta, X, y, lr):
    return theta - lr * 2 * X.T @ ((X @ theta)[:, None] - y) / len(y)


def critical_rate_from_the_smallest_eigenvalue(X):
    return 2 / torch.linalg.eigvalsh(2 * X.T @ X / len(X)).min().item()


def critical_rate_without_the_2(X):
    return 2 / torch.linalg.eigvalsh(X.T @ X / len(X)).max().item()


def critical_rate_one_over_lambda(X):
    return 1 / torch.linalg.eigvalsh(2 * X.T @ X / len(X)).max().item()


MISTAKES = {
    "softmax-cross-entropy": [
        (cross_entropy_summed, "the sum over the batch"),
        (cross_entropy_per_example, "one loss per example"),
        (cross_entropy_without_the_max, "large logits overflow"),
        (cross_entropy_ignoring_smoothing, "label_smoothing is ignored"),
        (cross_entropy_smoothing_not_spread, "spread ε evenly"),
        (cross_entropy_detached, "no gradient"),
    ],
    "gradient-descent-step": [
        (step_uphill, "uphill"),
        (step_without_the_2, "factor 2"),
        (step_with_a_sum, "divided by n"),
        (step_with_a_column_target, "broadcast"),
    ],
    "critical-learning-rate": [
        (critical_rate_from_the_smallest_eigenvalue, "λ_min"),
        (critical_rate_without_the_2, "(2/n)·XᵀX"),
        (critical_rate_one_over_lambda, "1/λ_max"),
    ],
}
