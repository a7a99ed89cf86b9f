"""The hyperparameter-tuning lesson's exercises: the rung rule of asynchronous successive halving
(ASHA), and an ``on_record`` hook for ``fit`` that reports each record and stops the run.

The rung rule is checked against NumPy's percentile on random and edge-case rungs (a trial alone at
its rung, ties, reduction factors 2, 3, 4); the hook is driven on fabricated records and once
through a real (tiny) ``fit``, naming the typical mistake: a cut-off at the wrong quantile, a
strict comparison that stops the first trial, a record not reported before stopping, patience off
by one, a tie counted as an improvement.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torchmetrics.classification import MulticlassAccuracy

from e2edl.exercises.checking import Hint, call, expect_equal
from e2edl.exercises.exercise import Exercise
from e2edl.recipes.hyperparameter_tuning import StopTrial
from e2edl.train import fit

# ---------------------------------------------------------------------------------------------
# 1. ASHA's rung rule


def _continues(score: float, rung: list[float], reduction_factor: int) -> bool:
    cutoff = np.percentile(np.asarray(rung, dtype=float), (1 - 1 / reduction_factor) * 100)
    return bool(score >= cutoff)


def _rung_cases() -> list[tuple[float, list[float], int]]:
    generator = np.random.default_rng(0)
    cases = [(0.8, [0.8], 3), (0.5, [0.5, 0.9], 2), (0.9, [0.5, 0.9], 2), (0.7, [0.7, 0.7, 0.7], 3)]
    for _ in range(40):
        n = int(generator.integers(2, 12))
        rung = [round(float(v), 3) for v in generator.uniform(0.6, 0.9, n)]
        cases.append((rung[int(generator.integers(0, n))], rung, int(generator.choice([2, 3, 4]))))
    return cases


def check_asha_continues(fn) -> None:
    for score, rung, factor in _rung_cases():
        got = call(fn, score, list(rung), factor, what="asha_continues")
        if not isinstance(got, (bool, np.bool_)):
            raise Hint(f"return True or False, got {type(got).__name__}.")
        want = _continues(score, rung, factor)
        if got == want:
            continue
        if len(rung) == 1:
            raise Hint(
                "a trial alone at its rung must go on (nothing to compare with yet): compare with >=, "
                "its own score is the cut-off."
            )
        if bool(got) == _continues(score, rung, round(1 / (1 - 1 / factor))) or bool(got) == bool(
            score >= np.percentile(rung, 100 / factor)
        ):
            raise Hint(
                f"the cut-off is the (1 - 1/reduction_factor) quantile of the rung: with factor {factor} "
                f"only the best 1/{factor} go on, not the best {factor - 1}/{factor}."
            )
        if score == np.percentile(rung, (1 - 1 / factor) * 100):
            raise Hint("a score equal to the cut-off goes on: compare with >=, not >.")
        expect_equal(bool(got), want, f"asha_continues({score}, {rung}, {factor})")


# ---------------------------------------------------------------------------------------------
# 2. A report-and-stop hook for fit


def _outcome(make_hook, accuracies: list[float], patience: int) -> tuple[list[dict], int | None]:
    """What a hook did on one run: the reports it made, and the record (1, 2...) it stopped at."""
    reports = []
    hook = make_hook(reports.append, patience)
    for index, accuracy in enumerate(accuracies):
        try:
            hook({"epoch": index + 1, "step": 10 * (index + 1), "train_loss": 1.0, "val_accuracy": accuracy})
        except StopTrial:
            return reports, index + 1
    return reports, None


def _hook(report, patience, *, tie_improves=False, extra_patience=0, report_last=True):
    """The reference hook, or (with a keyword changed) one of the typical mistakes."""
    best, stale = -1.0, 0

    def on_record(record):
        nonlocal best, stale
        scores = {"epoch": record["epoch"], "val_accuracy": record["val_accuracy"]}
        improved = record["val_accuracy"] >= best if tie_improves else record["val_accuracy"] > best
        best, stale = (record["val_accuracy"], 0) if improved else (best, stale + 1)
        if stale >= patience + extra_patience:
            if report_last:
                report(scores)
            raise StopTrial(f"no better validation accuracy in {patience} records")
        report(scores)

    return on_record


CASES = (
    ([0.70, 0.75, 0.74, 0.73, 0.72, 0.80], 2),  # stops at the 4th record
    ([0.70, 0.75, 0.75, 0.75, 0.76], 2),  # a tie is no improvement: stops at the 4th
    ([0.70, 0.72, 0.74, 0.76], 1),  # never stops
    ([0.80, 0.79, 0.81, 0.80, 0.79, 0.78, 0.77], 3),  # stops at the 6th
)
MISTAKEN = (
    ({"report_last": False}, "report the record first, then raise: the tuner must see the score that stopped the trial."),
    ({"tie_improves": True}, "a record that only equals the best so far is no improvement."),
    ({"extra_patience": 1}, "stop at the `patience`-th record in a row without improvement, not one later."),
    ({"extra_patience": -1}, "stop after `patience` records without improvement, not `patience - 1`."),
)  # fmt: skip


def check_report_and_stop(fn) -> None:
    def learner(report, patience):
        return call(fn, report, patience, what="report_and_stop")

    got = []
    for accuracies, patience in CASES:
        try:
            got.append(_outcome(learner, accuracies, patience))
        except Hint:
            raise
        except Exception as error:  # it stopped with something else than StopTrial
            raise Hint(f"stop the run by raising StopTrial, not {type(error).__name__}: {error}") from None
    for reports, _ in got:
        if reports and set(reports[0]) != {"epoch", "val_accuracy"}:
            raise Hint(f"report a dict with 'epoch' and 'val_accuracy', got keys {sorted(reports[0])}.")
    want = [_outcome(_hook, accuracies, patience) for accuracies, patience in CASES]
    if got != want:
        for mistake, hint in MISTAKEN:
            if got == [_outcome(functools.partial(_hook, **mistake), a, p) for a, p in CASES]:
                raise Hint(hint)
        for (accuracies, patience), mine, right in zip(CASES, got, want):
            expect_equal(
                mine,
                right,
                f"(the reports, the record it stopped at) for accuracies {accuracies}, patience {patience}",
            )

    # Through fit: the hook's StopTrial stops training; the records up to it were reported.
    generator = torch.Generator().manual_seed(0)
    inputs, targets = torch.randn(64, 4, generator=generator), torch.randint(0, 2, (64,), generator=generator)
    batches = [(inputs[i : i + 16], targets[i : i + 16]) for i in range(0, 64, 16)]
    model = torch.nn.Linear(4, 2)
    reports = []
    try:
        fit(model, batches, epochs=20, loss_fn=torch.nn.CrossEntropyLoss(),
            optimizer=torch.optim.SGD(model.parameters(), lr=0.0), val_loader=batches[:1],
            metrics={"accuracy": MulticlassAccuracy(num_classes=2, average="micro")}, progress=False,
            on_record=learner(reports.append, 2))  # fmt: skip
    except StopTrial:
        pass
    else:
        raise Hint(
            "with a learning rate of 0 nothing improves, yet the run went on: raise StopTrial from the hook."
        )
    expect_equal(len(reports), 3, "the number of reports of a run that never improves (patience 2)")


EXERCISES = [
    Exercise(
        "asha-continues",
        "asha_continues",
        "ASHA's rung rule: does a trial with this score go on, given the scores recorded at its rung "
        "and the reduction factor?",
        check_asha_continues,
    ),
    Exercise(
        "report-and-stop",
        "report_and_stop",
        "An on_record hook for fit that reports each record's epoch and validation accuracy and "
        "raises StopTrial after `patience` records without improvement.",
        check_report_and_stop,
    ),
]
