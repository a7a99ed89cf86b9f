"""Reference solutions to the experiment-tracking lesson's exercises, and the typical mistakes
their checks must name."""

import csv
import json


class CsvLogger:
    """step, train_loss and val_accuracy of every record in run_dir/metrics.csv."""

    COLUMNS = ("step", "train_loss", "val_accuracy")

    def start(self, run):
        path = run.run_dir / "metrics.csv"
        kept = []
        if run.resumed and path.is_file():  # keep what the checkpoint saw, drop what it did not
            with path.open(newline="") as f:
                kept = [row for row in csv.DictReader(f) if int(row["step"]) <= run.start_step]
        self.file = path.open("w", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=self.COLUMNS, extrasaction="ignore")
        self.writer.writeheader()
        self.writer.writerows(kept)

    def log(self, record):
        self.writer.writerow(record)

    def finish(self, checkpoint):
        pass

    def close(self):
        self.file.close()


def run_table(run_dirs):
    """One row per run folder from its metrics.jsonl, the best validation accuracy first."""
    rows = []
    for run_dir in run_dirs:
        with open(run_dir / "metrics.jsonl") as f:
            records = [json.loads(line) for line in f if line.strip()]
        best = max(records, key=lambda r: r["val_accuracy"])  # the first of equal ones
        rows.append(
            {
                "run": run_dir.name,
                "best_val_accuracy": best["val_accuracy"],
                "best_step": best["step"],
                "last_val_loss": records[-1]["val_loss"],
            }
        )
    return sorted(rows, key=lambda row: row["best_val_accuracy"], reverse=True)


# ---------------------------------------------------------------------------------------------
# Typical mistakes


class CsvLoggerThatOverwrites(CsvLogger):
    def start(self, run):
        self.file = (run.run_dir / "metrics.csv").open("w", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=self.COLUMNS, extrasaction="ignore")
        self.writer.writeheader()


class CsvLoggerThatAppends(CsvLogger):
    def start(self, run):
        path = run.run_dir / "metrics.csv"
        new = not (run.resumed and path.is_file())
        self.file = path.open("w" if new else "a", newline="")
        self.writer = csv.DictWriter(self.file, fieldnames=self.COLUMNS, extrasaction="ignore")
        if new:
            self.writer.writeheader()


class CsvLoggerNeverClosed(CsvLogger):
    def close(self):
        pass


def run_table_of_last_records(run_dirs):
    rows = run_table(run_dirs)
    for row, run_dir in zip(
        sorted(rows, key=lambda r: str(r["run"])), sorted(run_dirs, key=lambda p: p.name)
    ):
        last = json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])
        row["best_val_accuracy"], row["best_step"] = last["val_accuracy"], last["step"]
    return sorted(rows, key=lambda row: row["best_val_accuracy"], reverse=True)


def run_table_unsorted(run_dirs):
    order = {run_dir.name: i for i, run_dir in enumerate(run_dirs)}
    return sorted(run_table(run_dirs), key=lambda row: order[row["run"]])


def run_table_last_of_equals(run_dirs):
    rows = run_table(run_dirs)
    for row, run_dir in zip(rows, [p for r in rows for p in run_dirs if p.name == r["run"]]):
        records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
        row["best_step"] = [r["step"] for r in records if r["val_accuracy"] == row["best_val_accuracy"]][-1]
    return rows


MISTAKES = {
    "csv-logger": [
        (CsvLoggerThatOverwrites, "lost the rows before it"),
        (CsvLoggerThatAppends, "there twice"),
        (CsvLoggerNeverClosed, "close"),
    ],
    "run-table": [
        (run_table_of_last_records, "not the last record's"),
        (run_table_unsorted, "the best run first"),
        (run_table_last_of_equals, "the first record that reached it"),
    ],
}
