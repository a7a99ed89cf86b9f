"""The one reader of Ray Tune's per-trial result files."""

import json
from pathlib import Path

from e2edl.recipes.tune_results import epochs_by_trial, trial_rows


def write_trial(experiment: Path, folder: str, rows: list[dict], cut_last: str = "") -> None:
    (experiment / folder).mkdir(parents=True)
    text = "".join(json.dumps(row) + "\n" for row in rows) + cut_last
    (experiment / folder / "result.json").write_text(text)


def test_rows_in_order_and_a_line_cut_short_by_a_kill_skipped(tmp_path: Path) -> None:
    write_trial(tmp_path, "train_b", [{"trial_id": "b", "training_iteration": 1, "val": 0.5}])
    write_trial(tmp_path, "train_a", [{"trial_id": "a", "training_iteration": i} for i in (1, 2)],
                cut_last='{"trial_id": "a", "training_iter')  # fmt: skip
    (tmp_path / "experiment_state-x.json").write_text("{}")  # not a trial
    rows = trial_rows(tmp_path)
    assert list(rows) == ["train_a", "train_b"]
    assert [row["training_iteration"] for row in rows["train_a"]] == [1, 2]
    assert rows["train_b"][0]["val"] == 0.5


def test_epochs_by_trial_counts_a_repeated_epoch_once(tmp_path: Path) -> None:
    # after a restore a trial may report an epoch again: its highest iteration is what was trained
    write_trial(tmp_path, "t1", [{"trial_id": "a", "training_iteration": i} for i in (1, 2, 2, 3)])
    write_trial(tmp_path, "t2", [{"trial_id": "b", "training_iteration": 1}, {"done": True}])
    assert epochs_by_trial(tmp_path) == {"a": 3, "b": 1}
    assert epochs_by_trial(tmp_path / "missing") == {}
