"""The experiment-tracking lesson's exercises: a logger of your own (a CSV file that survives a
resumed run), and a run table read from ``metrics.jsonl`` files.

Each check drives the learner's code on fabricated runs in a temporary folder and compares with
what the protocol asks (``e2edl.train.loggers.protocol``), naming the typical mistake: a resumed
run that loses its first rows or keeps rows its checkpoint never saw, a file never closed, the last
record taken for the best, the runs left unsorted.
"""

from __future__ import annotations

import csv
import json
import tempfile
from pathlib import Path

from e2edl.exercises.checking import Hint, call, expect_equal
from e2edl.exercises.exercise import Exercise
from e2edl.train.loggers.protocol import RunInfo

# ---------------------------------------------------------------------------------------------
# 1. A CSV logger

COLUMNS = ("step", "train_loss", "val_accuracy")


def _records(steps, offset: float = 0.0) -> list[dict]:
    """Records shaped like fit's: more keys than the CSV keeps."""
    return [
        {"epoch": step / 4, "step": step, "train_loss": round(1 / step + offset, 4), "lr": 0.01,
         "val_accuracy": round(0.5 + step / 100 + offset, 4), "seconds": 0.1}
        for step in steps
    ]  # fmt: skip


def _rows(records: list[dict]) -> list[dict]:
    return [{column: str(record[column]) for column in COLUMNS} for record in records]


def _drive(logger_class, run_dir: Path, records: list[dict], start_step: int = 0, resumed: bool = False):
    """One run through the protocol; the rows of metrics.csv after close (read while the logger
    still exists, so that a file it never closed is not flushed by its garbage collection)."""
    logger = call(logger_class, what="CsvLogger()")
    call(logger.start, RunInfo(run_dir, None, None, start_step, resumed), what="start")
    for record in records:
        call(logger.log, dict(record), what="log")
    call(logger.finish, run_dir / "checkpoint.pt", what="finish")
    call(logger.close, what="close")
    rows = _read(run_dir / "metrics.csv")
    del logger
    return rows


def _read(path: Path) -> list[dict]:
    if not path.is_file():
        raise Hint(
            f"there is no {path.name} in the run folder after close: write run.run_dir / 'metrics.csv'."
        )
    with path.open(newline="") as f:
        lines = f.read().splitlines()
    if not lines:
        raise Hint("metrics.csv is empty after close: close (or flush) the file in close().")
    header = lines[0].split(",")
    if tuple(header) != COLUMNS:
        raise Hint(f"the first line must be the header {','.join(COLUMNS)}, found {lines[0]!r}.")
    if lines.count(lines[0]) > 1:
        raise Hint("the header appears more than once: write it once, when the file starts.")
    return list(csv.DictReader(lines))


def check_csv_logger(logger_class) -> None:
    with tempfile.TemporaryDirectory() as folder:
        run_dir = Path(folder)
        first = _records([2, 4, 6])
        expect_equal(_drive(logger_class, run_dir, first), _rows(first), "the rows of a fresh run")

        # Interrupted after step 6, but its checkpoint holds step 4: the resumed run logs 6 and 8 again.
        again = _records([6, 8], offset=0.001)
        rows = _drive(logger_class, run_dir, again, start_step=4, resumed=True)
        want = _rows(first[:2] + again)
        if rows == _rows(again):
            raise Hint(
                "the resumed run lost the rows before it: keep those up to run.start_step (the checkpoint's)."
            )
        if rows == _rows(first + again):
            raise Hint(
                "the row of step 6 is there twice: a resumed run drops the rows after run.start_step "
                "(the checkpoint's step), because it logs those steps again."
            )
        expect_equal(rows, want, "the rows after a resumed run")

        fresh = _records([2])
        rows = _drive(logger_class, run_dir, fresh)  # a fresh run in the same folder starts a new file
        if rows != _rows(fresh):
            raise Hint(
                "a fresh run (run.resumed False) starts a new file: what was there belongs to another run."
            )


# ---------------------------------------------------------------------------------------------
# 2. A run table from metrics.jsonl


def _write_run(folder: Path, name: str, accuracies: list[float]) -> Path:
    run_dir = folder / name
    run_dir.mkdir()
    lines = [
        json.dumps({"epoch": i + 1, "step": 10 * (i + 1), "train_loss": 1.0 / (i + 1), "val_loss": 1.0 - a,
                    "val_accuracy": a})
        for i, a in enumerate(accuracies)
    ]  # fmt: skip
    (run_dir / "metrics.jsonl").write_text("\n".join(lines) + "\n")
    return run_dir


def _oracle(run_dirs: list[Path]) -> list[dict]:
    rows = []
    for run_dir in run_dirs:
        records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines() if line]
        best = max(records, key=lambda r: r["val_accuracy"])  # max keeps the first of equals
        rows.append(
            {
                "run": run_dir.name,
                "best_val_accuracy": best["val_accuracy"],
                "best_step": best["step"],
                "last_val_loss": records[-1]["val_loss"],
            }
        )
    return sorted(rows, key=lambda row: -row["best_val_accuracy"])


def check_run_table(fn) -> None:
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        run_dirs = [
            _write_run(folder, "sgd", [0.80, 0.85, 0.84]),
            _write_run(folder, "adamw", [0.86, 0.91, 0.91, 0.89]),  # its best comes twice
            _write_run(folder, "momentum", [0.82, 0.88]),
        ]
        got = call(fn, run_dirs, what="run_table")
        want = _oracle(run_dirs)
        if not isinstance(got, list) or not all(isinstance(row, dict) for row in got):
            raise Hint(f"return a list of dicts, one per run; got {type(got).__name__}.")
        if sorted(map(str, got)) == sorted(map(str, want)) and got != want:
            raise Hint("sort the rows by best validation accuracy, the best run first.")
        by_run = {row.get("run"): row for row in got}
        if set(by_run) != {"sgd", "adamw", "momentum"}:
            raise Hint(
                f"one row per run folder, 'run' its folder's name; got runs {sorted(map(str, by_run))}."
            )
        adamw = by_run["adamw"]
        if adamw.get("best_val_accuracy") == 0.89:
            raise Hint("best_val_accuracy is the best record's, not the last record's.")
        if adamw.get("best_step") == 30:
            raise Hint("the best accuracy came twice: best_step is the first record that reached it.")
        if adamw.get("best_step") in (1, 2):
            raise Hint("best_step is the record's optimiser step ('step'), not its position or epoch.")
        expect_equal(got, want, "the run table")


EXERCISES = [
    Exercise(
        "csv-logger",
        "CsvLogger",
        "A logger (start, log, finish, close) that writes step, train_loss and val_accuracy to "
        "metrics.csv, and keeps a resumed run's rows up to its checkpoint.",
        check_csv_logger,
    ),
    Exercise(
        "run-table",
        "run_table",
        "One row per run folder read from metrics.jsonl — best validation accuracy, its step, the "
        "last validation loss — the best run first.",
        check_run_table,
    ),
]
