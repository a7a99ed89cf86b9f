# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Experiment tracking: metrics.jsonl, TensorBoard and W&B, offline first
#
# A week into a project you have forty runs, and the question is no longer "what is the loss?"
# but "which run was the one with the constant learning rate, and what did it reach at step 150?".
# Experiment tracking answers it: every run writes down its settings, its numbers as they come,
# and what it produced, in a form you can compare later. This lesson logs one training to three
# places, reads each back with its own tool, and checks that they agree:
#
# 1. **a logger is four calls** — `start`, `log`, `finish`, `close` — written by hand once;
# 2. **`metrics.jsonl`**, which `fit` always writes: one JSON line per record, the source of truth;
# 3. **TensorBoard**: scalars, histograms of the weights, images of sample predictions, the
#    hparams view;
# 4. **Weights & Biases (W&B)**, *offline*: a run folder on disk that `wandb sync` uploads later —
#    the way it works on a cluster node without internet;
# 5. two recipes of the mnist-mlp lesson's network **compared from their logs**, and what logging
#    costs per step.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first (this release)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "e2edl[tracking] @ git+https://github.com/e2edl/e2edl@v0.1.0"], check=True)  # fmt: skip

from e2edl.course.notebook import setup_lesson, show_source

QUICK, OUT = setup_lesson("experiment-tracking")  # prints the mode, the run folder and the reference timings

# %%
import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np

from e2edl.data.mnist import MNIST
from e2edl.recipes.experiment_tracking import QUICK_RECIPES, RECIPES, TRAIN_IMAGES, train_tracked
from e2edl.recipes.mnist_mlp import train_mlp

# W&B runs offline unless told otherwise: nothing in this notebook needs an account or a network.
os.environ.setdefault("WANDB_MODE", "offline")
# Where W&B stages offline artifacts until `wandb sync` (section 4): beside the lesson's runs.
os.environ.setdefault("WANDB_DATA_DIR", str((OUT / "wandb-staging").resolve()))
data = MNIST.load(train_subset=TRAIN_IMAGES["quick" if QUICK else "full"])
print(f"{len(data.x_train):,} training images, {len(data.x_val):,} validation images")

# %% [markdown]
# ## 1. A logger is four calls
#
# `fit` produces a **record** at every evaluation: a dict with the step, the training loss, the
# learning rate, the validation scores and the clock. It always appends the record to
# `run_dir/metrics.jsonl`; every other destination is a **logger** passed as
# `fit(..., loggers=[...])`: an object with four methods, called in this order:
#
# - `start(run)` once there is training to do, with a `RunInfo`: the run folder, the recipe's
#   config, the model, and whether this is a fresh run or a resumed one (and from which step);
# - `log(record)` for every record — the very dict that goes to `metrics.jsonl`;
# - `finish(checkpoint)` when the training ended normally and the final checkpoint is written;
# - `close()` always, last, also after an error: a tracker marks its run as failed.
#
# Here is the whole protocol, and a logger written by hand that keeps the records in a list:

# %%
from e2edl.train.loggers import Logger, RunInfo

show_source(Logger)


# %%
class ListLogger:
    """Keeps every record in a list, and notes the other calls."""

    def __init__(self):
        self.records, self.calls = [], []

    def start(self, run: RunInfo):
        self.calls.append(f"start (resumed={run.resumed}, from step {run.start_step})")

    def log(self, record: dict):
        self.records.append(dict(record))

    def finish(self, checkpoint):
        self.calls.append(f"finish ({Path(checkpoint).name})")

    def close(self):
        self.calls.append("close")


small = replace(data, x_train=data.x_train[:2000], y_train=data.y_train[:2000])
mine = ListLogger()
_, history = train_mlp(small, replace(RECIPES["adamw-one-cycle"], epochs=1), run_dir=OUT / "own-logger",
                       loggers=[mine], progress=False)  # fmt: skip
print(mine.calls, f"and {len(mine.records)} records")

# %% [markdown]
# **Parity check.** The records our logger received are, value for value, the lines `fit` wrote to
# `metrics.jsonl` — the library's `MetricsLog` hands the same dict to both:

# %%
jsonl = [json.loads(line) for line in (OUT / "own-logger" / "metrics.jsonl").read_text().splitlines()]
assert mine.records == jsonl == history.records
print(f"{len(jsonl)} records equal; the last: {jsonl[-1]}")

# %% [markdown]
# With `resume=True` and a finished checkpoint of the same recipe, `fit` trains nothing, so it
# starts no logger: trackers only hear about training that happens (a resumed, unfinished run
# starts them with `resumed=True` and the checkpoint's step).

# %%
again = ListLogger()
train_mlp(small, replace(RECIPES["adamw-one-cycle"], epochs=1), run_dir=OUT / "own-logger",
          loggers=[again], resume=True, progress=False)  # fmt: skip
print("calls:", again.calls, "records:", again.records)
assert again.calls == [] and again.records == []

# %% [markdown]
#
# ## 2. Two recipes, logged to all three
#
# The network is the mnist-mlp lesson's MLP and its recipe is that lesson's `train_mlp`; the only
# new thing is the list of loggers: TensorBoard with a histogram of every weight at each record and
# the sample predictions as an image at the end, and W&B with the same records, the final
# checkpoint as an *artifact* and the samples as a *table*.

# %%
from e2edl.recipes.experiment_tracking import tracking_loggers

show_source(tracking_loggers)
show_source(train_tracked)

# %% [markdown]
# The two recipes: the mnist-mlp lesson's own (AdamW, one-cycle schedule, weight decay) and plain
# SGD with momentum at a constant rate. Both are trained below into `OUT / name`; run the cell
# again and the finished checkpoints are reused. A recipe of your own (`replace(recipe, lr=...)`)
# needs a run folder of its own: a checkpoint refuses to continue another recipe.

# %%
recipes = QUICK_RECIPES if QUICK else RECIPES
for name, recipe in recipes.items():
    print(name, recipe)
    model, history = train_tracked(data, name, recipe, run_dir=OUT / name, resume=True)
    print(f"  best validation accuracy {max(history.series('val_accuracy')):.4f}")

# %% [markdown]
# What one run folder holds: the checkpoint, `metrics.jsonl`, TensorBoard's event file, and W&B's
# run folder (`offline-run-<time>-<id>`) with the file `run_id` that a resumed run reads to go on
# with the *same* W&B run.

# %%
run_dir = OUT / "adamw-one-cycle"
for path in sorted(run_dir.rglob("*")):
    depth = len(path.relative_to(run_dir).parts)
    if depth <= 3 and "logs" not in path.parts and "tmp" not in path.parts:
        size = f"{path.stat().st_size:>9,} bytes" if path.is_file() else ""
        print(f"{'  ' * (depth - 1)}{path.name:<48}{size}")

# %% [markdown]
# ## 3. TensorBoard
#
# TensorBoard reads a folder of *event files* (each a sequence of records: a tag such as
# `val_accuracy`, a step, a value) and draws them. Start it on the lesson's folder to see both runs
# side by side, one colour each:
#
# ```bash
# tensorboard --logdir runs/17_experiment_tracking      # then open http://localhost:6006
# ```
#
# (on a cluster, start it on the login node and forward the port: `ssh -L 6006:localhost:6006 ...`).
# Its tabs: **SCALARS** (the curves), **HISTOGRAMS** / **DISTRIBUTIONS** (the weights at each
# record), **IMAGES** (the predictions) and **HPARAMS** (each run's settings against its final
# scores, one row per run — the run table of section 5, sortable). TensorBoard's own reader
# (`EventAccumulator`) lists what the event file holds:

# %%
from e2edl.train.loggers import read_scalars, read_tags

for kind, tags in read_tags(run_dir / "tensorboard").items():
    if tags:
        print(f"{kind:<11} {len(tags):>2} tags, e.g. {tags[:3]}")

# %% [markdown]
# The HPARAMS tab comes from three small summaries written at the end of the run: the settings
# (the recipe's config, flattened), which scalars count as its scores, and this run's values:

# %%
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

events = EventAccumulator(str(run_dir / "tensorboard"))
events.Reload()
print("hparams summaries:", sorted(events.PluginTagToContent("hparams")))

# %% [markdown]
# **Are the numbers the same?** TensorBoard stores a scalar as a 32-bit float, `metrics.jsonl` as a
# Python float (64 bits): what TensorBoard holds is `float32(value)`, the value rounded to about 7
# significant digits. After that cast, every value must be equal:

# %%
records = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
scalars = read_scalars(run_dir / "tensorboard")  # {tag: [(step, value), ...]}
for tag in ("train_loss", "val_accuracy", "lr"):
    stored = dict(scalars[tag])
    exact = [stored[r["step"]] == float(np.float32(r[tag])) for r in records]
    rounding = max(abs(stored[r["step"]] - r[tag]) for r in records)
    print(f"{tag:<13} {sum(exact)}/{len(records)} equal after float32; largest rounding {rounding:.1e}")

# %% [markdown]
# ## 4. Weights & Biases, offline
#
# W&B keeps runs on a server, with a web page per project. On a compute node without internet (the
# usual case on a cluster) it runs **offline**: the run is written to
# `run_dir/wandb/offline-run-<time>-<id>/`, and later, from any machine with a network and an
# account (`wandb login`):
#
# ```bash
# wandb sync runs/17_experiment_tracking/*/wandb/offline-run-*
# ```
#
# uploads each folder as if the run had been online. A resumed run is several folders with one id;
# `wandb sync` replays them in order into one run. The library's `WandbLogger` runs offline unless
# `WANDB_MODE` says otherwise or there is both an API key and a server answering. One more thing to
# copy when a node's files move: offline artifacts (the checkpoint) are staged in
# `$WANDB_DATA_DIR` (default `~/.local/share/wandb`; this notebook sets it to
# `OUT / "wandb-staging"`) until synced, and the run's log points there.
#
# The run's file `run-<id>.wandb` is a *transaction log*: every `init`, `log`, summary update,
# artifact and the exit, one record after another, which is what `wandb sync` replays. W&B's own
# reader prints it (`wandb leet inspect --json FOLDER`); `read_offline_run` gathers it:

# %%
from e2edl.train.loggers import read_runs, transaction_log

[wandb_run] = read_runs(run_dir)
print(f"run {wandb_run.id} of project {wandb_run.project!r}, exit code {wandb_run.exit_code}")
print("config:", {k: wandb_run.config[k] for k in ("optimizer", "lr", "schedule", "epochs")})
print(
    "history:",
    len(wandb_run.history),
    "rows; the last:",
    {k: wandb_run.history[-1][k] for k in ("_step", "val_accuracy")},
)
print("artifacts:", [(a["name"], a["type"], a["files"][-1]) for a in wandb_run.artifacts])
print("record types in the log:", sorted({r["type"] for r in transaction_log(wandb_run.folder)}))

# %% [markdown]
# W&B keeps Python floats as they are (JSON doubles): its history holds `metrics.jsonl`'s values
# exactly, with W&B's `_step` equal to `fit`'s optimiser step:

# %%
rows = {row["_step"]: row for row in wandb_run.history}
assert all(rows[r["step"]][key] == r[key] for r in records for key in r if key != "step")
print(f"all {len(records)} records equal in W&B's history")

# %% [markdown]
# ## 5. The lesson's run: comparing the recipes from their logs
#
# `run_lesson` finds both trainings finished and reuses them. It then reads every value of both
# `metrics.jsonl` files back from TensorBoard and from W&B (the claims `tensorboard_mismatches` and
# `wandb_mismatches`), draws the curves from the logs, builds the run table (settings from W&B's
# config, scores from `metrics.jsonl`), measures what a record costs each logger, and scores the
# better recipe — chosen on validation accuracy — on the test set, once.

# %%
from e2edl.course import full_run, run_lesson

result = run_lesson("experiment-tracking", quick=QUICK, out=OUT, resume=True)

# %% [markdown]
# The two runs against the optimiser step: validation accuracy (left) and training loss (right,
# log scale), both read from `metrics.jsonl`. The same curves are TensorBoard's SCALARS tab and
# W&B's charts.

# %%
result.show("curves")
result.tables["runs"]

# %% [markdown]
# The first layer's weights as TensorBoard's histogram stored them, at the first and the last
# record (TensorBoard's buckets are narrow near zero and wide far from it; the figure re-bins them
# into equal widths). Compare the tails of the two curves: as training goes on,
# some weights grow away from where they started. A histogram that collapses to zero, or whose
# tails run away, is a bug you can see without reading a number. Below it, the sample predictions
# image, titled true→predicted, as TensorBoard's IMAGES tab shows it.

# %%
result.show("histogram", "samples")

# %% [markdown]
# ### What to log, and what not
#
# Logging is not free. The table times one record for each logger against one training step of
# this MLP: `metrics.jsonl` and TensorBoard scalars cost a small fraction of a step, and W&B's
# `log` only hands the record to its background process. A **histogram of every weight** sorts
# all the parameters into buckets on every record: the table's largest row, by far — compare its
# last column with 1, a whole training step — and it grows with the number of weights. So:
#
# - scalars (losses, accuracies, learning rate, gradient norm, seconds) at every record: cheap;
# - histograms, images and tables at every evaluation, not every step, and fewer of them for big
#   models;
# - the config once, the final checkpoint once (as an artifact), the test score once;
# - never a tensor's value read back from the GPU at every step just to log it (each read makes
#   the CPU wait for the GPU: `fit` reads its loss once per record for that reason).

# %%
result.tables["logging_cost"]

# %% [markdown]
# What the full run on the reference machine measured (all 55,000 training images, three epochs;
# the costs on a quiet machine):

# %%
full_run("experiment-tracking")

# %%
assert result.passed(), "a claim of this lesson failed; see the table above"

# %% [markdown]
# ## Exercises
#
# Each exercise asks you to write one piece of this lesson yourself. Replace the
# `raise NotImplementedError` lines, run the cell, then run the check below it: it prints ✓, or ✗
# with a hint saying what is wrong. (`e2edl check experiment-tracking --notebook YOUR_COPY.ipynb`
# runs all of them from the command line.)
#
# **1. A logger of your own.** Write `CsvLogger`, a logger `fit` accepts, that writes the columns
# `step,train_loss,val_accuracy` of every record to `run.run_dir / "metrics.csv"` (a header line,
# then one line per record; other keys of the record are left out). A **resumed** run
# (`run.resumed`) keeps the rows up to `run.start_step` — what its checkpoint saw — and drops the
# later ones, since it logs those steps again; a fresh run starts a new file. Make sure everything
# is on disk once `close()` returns.

# %% tags=["exercise"]
import csv  # noqa: F401  (csv.DictReader, csv.DictWriter)


class CsvLogger:
    """step, train_loss and val_accuracy of every record in run_dir/metrics.csv."""

    def start(self, run):
        """run: a RunInfo (run.run_dir, run.resumed, run.start_step)."""
        raise NotImplementedError  # your code here

    def log(self, record):
        raise NotImplementedError  # your code here

    def finish(self, checkpoint):
        raise NotImplementedError  # your code here

    def close(self):
        raise NotImplementedError  # your code here


# %%
from e2edl.exercises import check

check("csv-logger", CsvLogger)

# %% [markdown]
# **2. A run table.** Write `run_table(run_dirs)`: for each run folder (a `pathlib.Path`), read
# its `metrics.jsonl` and return a dict `{"run": folder name, "best_val_accuracy": ...,
# "best_step": the step of the first record that reached it, "last_val_loss": the last record's}`;
# return the list of them, the run with the best validation accuracy first.

# %% tags=["exercise"]
import json  # noqa: F401


def run_table(run_dirs):
    """A list of dicts (run, best_val_accuracy, best_step, last_val_loss), best run first."""
    raise NotImplementedError  # your code here


# %%
check("run-table", run_table)
