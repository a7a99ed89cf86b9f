"""Reading what Ray Tune wrote for each trial: one ``result.json`` per trial folder, one JSON line
per reported epoch (``training_iteration``, ``trial_id`` and the trial's own metrics).

One reader for the search's budget (``trial_epoch_budget``), the search driver's kill-and-restore
accounting and the tests. A driver killed while writing leaves a last line cut short: it is skipped.
"""

from __future__ import annotations

import json
from pathlib import Path


def trial_rows(experiment: str | Path) -> dict[str, list[dict]]:
    """Trial folder name → its reported rows, in the order written, for every trial under
    ``experiment`` (one search's folder)."""
    found = {}
    for path in sorted(Path(experiment).glob("*/result.json")):
        rows = []
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except ValueError:
                continue  # a line cut short by a killed driver
        found[path.parent.name] = rows
    return found


def epochs_by_trial(experiment: str | Path) -> dict[str, int]:
    """Trial id → the highest training iteration it reported under ``experiment``."""
    done: dict[str, int] = {}
    for rows in trial_rows(experiment).values():
        for row in rows:
            trial = row.get("trial_id")
            if trial is not None and "training_iteration" in row:
                done[trial] = max(done.get(trial, 0), int(row["training_iteration"]))
    return done
