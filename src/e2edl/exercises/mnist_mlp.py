"""The mnist-mlp lesson's exercises: an AdamW step, a warm-up + cosine learning rate, and the epoch
early stopping keeps.

Each check compares the learner's function with an oracle — ``torch.optim.AdamW``, the library's
``e2edl.train.schedules.warmup_cosine``, a plain early-stopping loop — on fixed inputs, and names
the typical mistake when the answer matches one (no bias correction, L2 instead of decoupled decay,
moments not kept, warm-up off by one step, patience ignored...).
"""

from __future__ import annotations

import math

import torch

from e2edl.exercises.checking import Hint, call, expect_equal, expect_number, expect_tensor
from e2edl.exercises.exercise import Exercise
from e2edl.train.schedules import warmup_cosine

# ---------------------------------------------------------------------------------------------
# 1. One AdamW step

ADAMW = {"lr": 0.1, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.1}
SHAPES = [(3, 4), (4,)]
STEPS = 4


def _problem() -> tuple[list[torch.Tensor], list[list[torch.Tensor]]]:
    """Fixed parameters and a fixed gradient for each of ``STEPS`` steps."""
    generator = torch.Generator().manual_seed(0)
    params = [torch.randn(shape, generator=generator) for shape in SHAPES]
    grads = [[torch.randn(shape, generator=generator) for shape in SHAPES] for _ in range(STEPS)]
    return params, grads


def _torch_adamw(params, grads) -> list[list[torch.Tensor]]:
    """The parameters after each step of ``torch.optim.AdamW``: the oracle."""
    params = [p.clone() for p in params]
    optimizer = torch.optim.AdamW(params, **ADAMW)
    after = []
    for step_grads in grads:
        for p, g in zip(params, step_grads):
            p.grad = g.clone()
        optimizer.step()
        after.append([p.clone() for p in params])
    return after


def _adamw_variant(params, grads, mistake: str) -> list[list[torch.Tensor]]:
    """AdamW written out with one typical mistake, to recognise it in a learner's answer."""
    lr, (b1, b2), eps, wd = ADAMW["lr"], ADAMW["betas"], ADAMW["eps"], ADAMW["weight_decay"]
    params = [p.clone() for p in params]
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    after = []
    for t, step_grads in enumerate(grads, start=1):
        if mistake == "state not kept":
            m, v, t = [torch.zeros_like(p) for p in params], [torch.zeros_like(p) for p in params], 1
        if mistake == "step count not kept":
            t = 1
        for i, (p, g) in enumerate(zip(params, step_grads)):
            if mistake == "coupled":
                g = g + wd * p
            elif mistake == "decay without lr":
                p.mul_(1 - wd)
            elif mistake != "no decay":
                p.mul_(1 - lr * wd)
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            if mistake == "no bias correction":
                m_hat, v_hat = m[i], v[i]
            else:
                m_hat, v_hat = m[i] / (1 - b1**t), v[i] / (1 - b2**t)
            p.sub_(lr * m_hat / (v_hat.sqrt() + eps))
        after.append([p.clone() for p in params])
    return after


ADAMW_MISTAKES = {
    "no bias correction": "you forgot the bias correction: divide m by (1 − β₁ᵗ) and v by (1 − β₂ᵗ) "
    "(both start at zero, so early on they are far too small)",
    "coupled": "that is coupled L2 (Adam's weight_decay): AdamW shrinks the weight itself, "
    "p ← p·(1 − lr·weight_decay), and leaves the gradient out of it",
    "decay without lr": "the decay must be scaled by the learning rate: p ← p·(1 − lr·weight_decay)",
    "no decay": "the weight decay is missing: AdamW also shrinks each weight, p ← p·(1 − lr·weight_decay)",
    "state not kept": "your moments start from zero at every call: keep m, v and the step count in "
    "`state` so the next call continues them",
    "step count not kept": "the step count t must grow by one with every call: the bias correction "
    "uses 1 − βᵗ with the current t",
}


def _same(got: list[torch.Tensor], want: list[torch.Tensor]) -> bool:
    return all(torch.allclose(a, b, atol=1e-5, rtol=1e-4) for a, b in zip(got, want))


def check_adamw_step(fn) -> None:
    params, grads = _problem()
    want = _torch_adamw(params, grads)
    variants = {mistake: _adamw_variant(params, grads, mistake) for mistake in ADAMW_MISTAKES}
    mine, state = [p.clone() for p in params], {}
    for step, step_grads in enumerate(grads):
        before = [p.clone() for p in mine]
        result = call(fn, mine, [g.clone() for g in step_grads], state, **ADAMW, what="adamw_step")
        if all(torch.equal(a, b) for a, b in zip(mine, before)):
            returned = " (it returned new tensors instead)" if result is not None else ""
            raise Hint(
                f"step {step + 1} left the parameters unchanged{returned}: update each tensor in "
                "place, e.g. p.mul_(...) and p.sub_(...), rather than rebinding p = ..."
            )
        if _same(mine, want[step]):
            continue
        for mistake, after in variants.items():
            if _same(mine, after[step]):
                raise Hint(f"after step {step + 1} of {STEPS}: {ADAMW_MISTAKES[mistake]}.")
        for i, (got, expected) in enumerate(zip(mine, want[step])):
            expect_tensor(got, expected, f"after step {step + 1}, params[{i}]", atol=1e-5, rtol=1e-4)


# ---------------------------------------------------------------------------------------------
# 2. The learning rate of a warm-up + cosine schedule

SCHEDULES = [  # (peak_lr, warmup_steps, total_steps)
    (0.1, 10, 100),
    (3e-4, 4, 20),
    (1.0, 0, 30),
]


def _library_rates(peak_lr: float, warmup_steps: int, total_steps: int, n: int) -> list[float]:
    """The rate of each of the first ``n`` steps under ``warmup_cosine``: the oracle."""
    optimizer = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=peak_lr)
    scheduler = warmup_cosine(optimizer, warmup_steps, total_steps)
    rates = []
    for _ in range(n):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        scheduler.step()
    return rates


def check_warmup_cosine_lr(fn) -> None:
    for peak_lr, warmup_steps, total_steps in SCHEDULES:
        want = _library_rates(peak_lr, warmup_steps, total_steps, total_steps + 5)
        for step, expected in enumerate(want):
            settings = {"peak_lr": peak_lr, "warmup_steps": warmup_steps, "total_steps": total_steps}
            try:
                got = call(fn, step, **settings, what="warmup_cosine_lr")
            except Hint as hint:
                if "ZeroDivisionError" in str(hint) and warmup_steps == 0:
                    raise Hint(
                        "with warmup_steps=0 there is no warm-up (and nothing to divide by): "
                        "the cosine starts at peak_lr at step 0."
                    ) from None
                raise
            if isinstance(got, torch.Tensor) and got.numel() == 1:
                got = got.item()
            if isinstance(got, (int, float)) and math.isclose(got, expected, rel_tol=1e-6, abs_tol=1e-12):
                continue
            where = (
                f"at step {step} (peak_lr={peak_lr}, warmup_steps={warmup_steps}, total_steps={total_steps})"
            )
            if isinstance(got, (int, float)):
                if step < warmup_steps and math.isclose(got, peak_lr * step / warmup_steps, abs_tol=1e-12):
                    raise Hint(
                        f"{where} the rate is {got:.6g}: the warm-up is one step late. Step 0 already "
                        "takes peak_lr/warmup_steps, so use (step + 1)/warmup_steps and reach peak_lr "
                        "at step warmup_steps − 1."
                    )
                if step >= total_steps and got > 1e-12:
                    raise Hint(
                        f"{where} the rate is {got:.6g}: after total_steps the rate stays at 0 — "
                        "clamp the cosine's progress at 1."
                    )
                progress_from_zero = 0.5 * (1 + math.cos(math.pi * min(step / total_steps, 1.0)))
                if step >= warmup_steps and math.isclose(got, peak_lr * progress_from_zero, rel_tol=1e-6):
                    raise Hint(
                        f"{where} the rate is {got:.6g}: the cosine's progress runs from the end of the "
                        "warm-up, (step − warmup_steps)/(total_steps − warmup_steps), so it starts "
                        "at peak_lr."
                    )
            expect_number(got, expected, f"the rate {where}", atol=1e-12, rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# 3. The epoch early stopping keeps

CURVES = [  # (validation losses after epochs 1, 2, ..., patience)
    ([0.9, 0.7, 0.6, 0.65, 0.7, 0.8], 2),
    ([1.0, 0.8, 0.9, 0.95, 0.7], 2),
    ([1.0, 0.8, 0.85, 0.9, 0.95, 0.5], 3),
    ([0.5, 0.4, 0.4, 0.45, 0.5], 5),
    ([0.9, 0.8, 0.7, 0.6], 1),
]


def _early_stopping(losses: list[float], patience: int) -> tuple[int, int]:
    """(epoch kept, epoch after which training stopped), epochs counted from 1: the oracle."""
    best, kept, waited = math.inf, 0, 0
    for epoch, loss in enumerate(losses, start=1):
        if loss < best:
            best, kept, waited = loss, epoch, 0
        else:
            waited += 1
            if waited == patience:
                return kept, epoch
    return kept, len(losses)


def check_early_stopping_epoch(fn) -> None:
    answers = []
    for losses, patience in CURVES:
        got = call(fn, list(losses), patience, what="early_stopping_epoch")
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, int) and not (isinstance(got, float) and got.is_integer()):
            raise Hint(f"early_stopping_epoch should return an epoch number (an int), got {got!r}.")
        answers.append((int(got), losses, patience))
    wanted = [_early_stopping(losses, patience) for losses, patience in CURVES]
    if all(got == kept - 1 for (got, _, _), (kept, _) in zip(answers, wanted)):
        raise Hint("every answer is one too small: epochs count from 1 (val_losses[0] is epoch 1).")
    for (got, losses, patience), (kept, stopped) in zip(answers, wanted):
        if got == kept:
            continue
        curve = f"for val_losses={losses}, patience={patience}"
        if got > stopped:
            raise Hint(
                f"{curve} you kept epoch {got}, but training never got there: after {patience} epochs "
                f"in a row without a new lowest loss it stopped after epoch {stopped} (patience ran out)."
            )
        if losses[got - 1] == losses[kept - 1]:
            raise Hint(
                f"{curve} you kept epoch {got}: an equal loss is no improvement, so keep the earlier "
                f"epoch {kept}."
            )
        expect_equal(got, kept, f"the epoch kept {curve}")


EXERCISES = [
    Exercise(
        "adamw-step",
        "adamw_step",
        "One AdamW step on a list of tensors, in place, equal to torch.optim.AdamW's.",
        check_adamw_step,
    ),
    Exercise(
        "warmup-cosine-lr",
        "warmup_cosine_lr",
        "The learning rate at a step of a linear warm-up followed by a cosine to zero.",
        check_warmup_cosine_lr,
    ),
    Exercise(
        "early-stopping-epoch",
        "early_stopping_epoch",
        "The epoch whose weights early stopping keeps, given the validation losses and a patience.",
        check_early_stopping_epoch,
    ),
]
