"""Reference solutions to the hyperparameter-tuning lesson's exercises, and the typical mistakes
their checks must name."""

import numpy as np

from e2edl.recipes.hyperparameter_tuning import StopTrial


def asha_continues(score, rung, reduction_factor):
    """True if ``score`` is at least the (1 - 1/reduction_factor) quantile of ``rung`` (the scores
    recorded at this rung so far, this trial's included): only the best 1/reduction_factor go on."""
    cutoff = np.percentile(np.asarray(rung, dtype=float), (1 - 1 / reduction_factor) * 100)
    return bool(score >= cutoff)


def report_and_stop(report, patience):
    """An on_record hook: report each record's epoch and validation accuracy, then raise StopTrial
    once ``patience`` records in a row brought no better validation accuracy."""
    best, stale = float("-inf"), 0

    def on_record(record):
        nonlocal best, stale
        report({"epoch": record["epoch"], "val_accuracy": record["val_accuracy"]})
        if record["val_accuracy"] > best:
            best, stale = record["val_accuracy"], 0
        else:
            stale += 1
            if stale >= patience:
                raise StopTrial(f"no better validation accuracy in {patience} records")

    return on_record


# ---------------------------------------------------------------------------------------------
# Typical mistakes


def asha_continues_keeps_too_many(score, rung, reduction_factor):
    return bool(score >= np.percentile(rung, 100 / reduction_factor))


def asha_continues_strict(score, rung, reduction_factor):
    return bool(score > np.percentile(rung, (1 - 1 / reduction_factor) * 100))


def report_and_stop_before_reporting(report, patience):
    best, stale = float("-inf"), 0

    def on_record(record):
        nonlocal best, stale
        if record["val_accuracy"] > best:
            best, stale = record["val_accuracy"], 0
        else:
            stale += 1
            if stale >= patience:
                raise StopTrial("stale")
        report({"epoch": record["epoch"], "val_accuracy": record["val_accuracy"]})

    return on_record


def report_and_stop_tie_improves(report, patience):
    best, stale = float("-inf"), 0

    def on_record(record):
        nonlocal best, stale
        report({"epoch": record["epoch"], "val_accuracy": record["val_accuracy"]})
        if record["val_accuracy"] >= best:
            best, stale = record["val_accuracy"], 0
        else:
            stale += 1
            if stale >= patience:
                raise StopTrial("stale")

    return on_record


def report_and_stop_one_late(report, patience):
    best, stale = float("-inf"), 0

    def on_record(record):
        nonlocal best, stale
        report({"epoch": record["epoch"], "val_accuracy": record["val_accuracy"]})
        if record["val_accuracy"] > best:
            best, stale = record["val_accuracy"], 0
        else:
            stale += 1
            if stale > patience:
                raise StopTrial("stale")

    return on_record


def report_and_stop_with_another_exception(report, patience):
    best, stale = float("-inf"), 0

    def on_record(record):
        nonlocal best, stale
        report({"epoch": record["epoch"], "val_accuracy": record["val_accuracy"]})
        if record["val_accuracy"] > best:
            best, stale = record["val_accuracy"], 0
        else:
            stale += 1
            if stale >= patience:
                raise RuntimeError("stale")

    return on_record


MISTAKES = {
    "asha-continues": [
        (asha_continues_keeps_too_many, "only the best 1/"),
        (asha_continues_strict, "compare with >="),
    ],
    "report-and-stop": [
        (report_and_stop_before_reporting, "report the record first"),
        (report_and_stop_tie_improves, "only equals the best"),
        (report_and_stop_one_late, "not one later"),
        (report_and_stop_with_another_exception, "raising StopTrial"),
    ],
}
