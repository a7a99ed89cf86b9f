"""Reference solutions to the mnist-mlp lesson's exercises, and the typical mistakes their checks
must name."""

import math

import torch


@torch.no_grad()
def adamw_step(params, grads, state, *, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
    """One AdamW step, in place, as torch.optim.AdamW takes it."""
    beta1, beta2 = betas
    if not state:
        state["t"] = 0
        state["m"] = [torch.zeros_like(p) for p in params]
        state["v"] = [torch.zeros_like(p) for p in params]
    state["t"] += 1
    t = state["t"]
    for p, g, m, v in zip(params, grads, state["m"], state["v"]):
        p.mul_(1 - lr * weight_decay)  # decoupled decay: shrink the weight itself
        m.mul_(beta1).add_((1 - beta1) * g)  # running mean of the gradient
        v.mul_(beta2).add_((1 - beta2) * g * g)  # running mean of its square
        m_hat = m / (1 - beta1**t)  # bias correction: both started at zero
        v_hat = v / (1 - beta2**t)
        p.sub_(lr * m_hat / (v_hat.sqrt() + eps))


def warmup_cosine_lr(step, *, peak_lr, warmup_steps, total_steps):
    """Linear warm-up to peak_lr (reached at step warmup_steps − 1), then a cosine to 0 at total_steps."""
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return peak_lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def early_stopping_epoch(val_losses, patience):
    """The epoch (from 1) of the lowest validation loss seen before patience ran out."""
    best, kept, waited = math.inf, 0, 0
    for epoch, loss in enumerate(val_losses, start=1):
        if loss < best:
            best, kept, waited = loss, epoch, 0
        else:
            waited += 1
            if waited == patience:
                break
    return kept


# --- typical mistakes ------------------------------------------------------------------------


@torch.no_grad()
def adamw_without_bias_correction(
    params, grads, state, *, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01
):
    state.setdefault("m", [torch.zeros_like(p) for p in params])
    state.setdefault("v", [torch.zeros_like(p) for p in params])
    for p, g, m, v in zip(params, grads, state["m"], state["v"]):
        p.mul_(1 - lr * weight_decay)
        m.mul_(betas[0]).add_((1 - betas[0]) * g)
        v.mul_(betas[1]).add_((1 - betas[1]) * g * g)
        p.sub_(lr * m / (v.sqrt() + eps))


@torch.no_grad()
def adam_with_l2(params, grads, state, *, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
    """torch.optim.Adam(weight_decay=...): the decay joins the gradient and is rescaled with it."""
    state.setdefault("t", 0)
    state.setdefault("m", [torch.zeros_like(p) for p in params])
    state.setdefault("v", [torch.zeros_like(p) for p in params])
    state["t"] += 1
    for p, g, m, v in zip(params, grads, state["m"], state["v"]):
        g = g + weight_decay * p
        m.mul_(betas[0]).add_((1 - betas[0]) * g)
        v.mul_(betas[1]).add_((1 - betas[1]) * g * g)
        p.sub_(lr * (m / (1 - betas[0] ** state["t"])) / ((v / (1 - betas[1] ** state["t"])).sqrt() + eps))


@torch.no_grad()
def adamw_forgetting_its_moments(
    params, grads, state, *, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01
):
    for p, g in zip(params, grads):  # m and v made afresh at every call
        m, v = (1 - betas[0]) * g, (1 - betas[1]) * g * g
        p.mul_(1 - lr * weight_decay)
        p.sub_(lr * (m / (1 - betas[0])) / ((v / (1 - betas[1])).sqrt() + eps))


def adamw_rebinding(params, grads, state, *, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
    for p, g in zip(params, grads):
        p = p - lr * g  # a new tensor: the caller's parameter never changes  # noqa: F841


def warmup_one_step_late(step, *, peak_lr, warmup_steps, total_steps):
    if step < warmup_steps:
        return peak_lr * step / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return peak_lr * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))


def cosine_that_comes_back(step, *, peak_lr, warmup_steps, total_steps):
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(1, total_steps - warmup_steps)
    return peak_lr * 0.5 * (1 + math.cos(math.pi * progress))


def cosine_from_step_zero(step, *, peak_lr, warmup_steps, total_steps):
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    return peak_lr * 0.5 * (1 + math.cos(math.pi * min(step / total_steps, 1.0)))


def lowest_loss_ignoring_patience(val_losses, patience):
    return min(range(len(val_losses)), key=val_losses.__getitem__) + 1


def last_of_equal_losses(val_losses, patience):
    best, kept, waited = math.inf, 0, 0
    for epoch, loss in enumerate(val_losses, start=1):
        if loss <= best:
            best, kept, waited = loss, epoch, 0
        else:
            waited += 1
            if waited == patience:
                break
    return kept


def epochs_from_zero(val_losses, patience):
    return early_stopping_epoch(val_losses, patience) - 1


MISTAKES = {
    "adamw-step": [
        (adamw_without_bias_correction, "bias correction"),
        (adam_with_l2, "coupled L2"),
        (adamw_forgetting_its_moments, "keep m, v and the step count"),
        (adamw_rebinding, "in place"),
    ],
    "warmup-cosine-lr": [
        (warmup_one_step_late, "one step late"),
        (cosine_that_comes_back, "stays at 0"),
        (cosine_from_step_zero, "from the end of the warm-up"),
    ],
    "early-stopping-epoch": [
        (lowest_loss_ignoring_patience, "patience ran out"),
        (last_of_equal_losses, "an equal loss is no improvement"),
        (epochs_from_zero, "epochs count from 1"),
    ],
}
