"""A Hugging Face ``Trainer``'s log in ``fit``'s record names, so its runs plot and compare like ours."""

from __future__ import annotations


def records_from_trainer_log(log_history: list[dict]) -> list[dict]:
    """``trainer.state.log_history`` as ``fit`` records: ``train_loss``, or ``val_loss`` and
    ``val_accuracy`` (the ``eval_`` entries), each with its ``epoch`` and ``step``."""
    records = []
    for entry in log_history:
        if "loss" in entry:
            records.append({"epoch": entry["epoch"], "step": entry["step"], "train_loss": entry["loss"]})
        elif "eval_loss" in entry:
            records.append({"epoch": entry["epoch"], "step": entry["step"], "val_loss": entry["eval_loss"],
                            "val_accuracy": entry["eval_accuracy"]})  # fmt: skip
    return records
