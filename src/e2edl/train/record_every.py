"""How often to log inside an epoch so that every record averages the same number of steps."""

from __future__ import annotations


def record_every(steps_per_epoch: int, points: int = 3) -> int:
    """The largest divisor of ``steps_per_epoch`` that still gives at least ``points`` records per epoch.

    Pass it as ``fit(..., eval_every=record_every(len(loader)))``: ``fit`` counts steps across
    epochs, so with a divisor of the epoch length the records fall at the same places in every
    epoch and each averages the training loss over the same number of steps.
    """
    if steps_per_epoch < 1 or points < 1:
        raise ValueError(f"need steps_per_epoch >= 1 and points >= 1, got {steps_per_epoch}, {points}")
    divisors = [d for d in range(1, steps_per_epoch + 1) if steps_per_epoch % d == 0]
    return max((d for d in divisors if d * points <= steps_per_epoch), default=1)
