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
# # Hyperparameter search with Ray Tune: random search, ASHA and Optuna on one budget
#
# Which learning rate, which optimiser, how wide, how much dropout? Nobody knows in advance, so we
# try recipes and keep the best — on the **validation** split, so that the test set still says
# something at the end. The only real question is how to spend the compute. This lesson counts it
# in **trial-epochs** (one epoch of one trial) and gives three searches the same budget:
#
# 1. **random search**: draw recipes, train each to the end;
# 2. **random search + ASHA** (asynchronous successive halving): draw recipes, but stop the ones
#    that are behind at 1 and 3 epochs, and spend what that saves on more recipes;
# 3. **Optuna's TPE + ASHA**: the same stopping, and the next recipe is drawn where the good ones
#    were so far.
#
# The task is Fashion-MNIST with a small MLP — on MNIST every decent recipe sits within seed noise
# of 99%, on Fashion-MNIST recipes really differ. The tool is **Ray Tune**, with the course's `fit`
# as the trainable: each epoch is reported to Tune together with `fit`'s checkpoint, so a search
# whose driver dies is *restored* and finishes, and the same script runs on a Ray cluster.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first (this release)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "e2edl[tune] @ git+https://github.com/e2edl/e2edl@v0.1.0"], check=True)  # fmt: skip

from e2edl.course.notebook import setup_lesson, show_source

QUICK, OUT = setup_lesson("hyperparameter-tuning")  # prints the mode, the run folder and the reference timings  # fmt: skip

# %%
import os
from dataclasses import replace

import numpy as np

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # Ray sends no usage report: nodes may be offline

from e2edl.data.mnist import MNIST
from e2edl.recipes.hyperparameter_tuning import FULL, StopTrial, TrialRecipe, train_trial
from e2edl.recipes.hyperparameter_tuning import QUICK as QUICK_PLAN

PLAN = QUICK_PLAN if QUICK else FULL
data = MNIST.load(name="fashion-mnist", train_subset=PLAN.train_images)
print(f"{len(data.x_train):,} training images, {len(data.x_val):,} validation images (Fashion-MNIST)")
print(PLAN)

# %% [markdown]
# ## 1. A trial is a `fit`
#
# A **trial** is one training with one recipe. `TrialRecipe` holds the settings a search may
# change, and `train_trial` is an ordinary recipe function of the course: it builds the MLP and the
# optimiser and calls `fit` with the recipe stored in the checkpoint.

# %%
show_source(TrialRecipe)
show_source(train_trial)

# %% [markdown]
# One trial by hand, two epochs of the default recipe (AdamW at 10⁻³). `fit` calls its
# `on_record` hook after every record — at the end of an epoch, once that epoch's checkpoint is
# written. Here the hook only collects the records:

# %%
seen = []
_, history = train_trial(data, replace(TrialRecipe(), epochs=2), run_dir=OUT / "one-trial",
                         on_record=seen.append, resume=True)  # fmt: skip
print(
    [(r["epoch"], round(r["val_accuracy"], 4)) for r in seen]
    or "reused the finished run: no record to hand over"
)
print(f"validation accuracy after 2 epochs: {history.records[-1]['val_accuracy']:.4f}")

# %% [markdown]
# ## 2. Reporting, and stopping from the hook
#
# A tuner needs two things from a trial: its score after each epoch, and a way to stop it. `fit`
# gives both through the same hook: `on_record` **reports**, and **raising** from it stops the run
# — the checkpoint of that record is already written, and the exception reaches the caller. Here
# a hook stops a hopeless recipe (SGD at 10⁻⁵, far too slow) as soon as its validation accuracy is
# below 60% after an epoch:

# %%
reports = []


def report_or_stop(record):
    reports.append((record["epoch"], round(record["val_accuracy"], 4)))
    if record["val_accuracy"] < 0.60:
        raise StopTrial(f"validation accuracy {record['val_accuracy']:.3f} after epoch {record['epoch']}")


slow = replace(TrialRecipe(), optimizer="sgd", lr=1e-5, epochs=PLAN.epochs)
try:
    train_trial(data, slow, run_dir=None, on_record=report_or_stop, progress=False)
except StopTrial as stop:
    print("stopped:", stop)
print("reports:", reports)
assert len(reports) < PLAN.epochs

# %% [markdown]
# `tune_trainable` is that hook wired to Ray Tune: each record goes to `tune.report` with a
# `Checkpoint` made of the trial's run folder (where `fit` just wrote `checkpoint.pt`). When a
# scheduler decides to stop the trial, Tune ends it at that report. When Tune *restores* a trial
# (the driver died, or a node), `tune.get_checkpoint()` hands the folder back and
# `fit(resume=True)` continues from the last reported epoch — nothing is trained twice, and the
# resumed run ends with the weights an uninterrupted one would have.

# %%
from e2edl.recipes.hyperparameter_tuning import search_space, tune_trainable

show_source(tune_trainable)

# %% [markdown]
# ## 3. The search space, and the budget
#
# Every search draws from the same distributions: the optimiser, a learning rate **log-uniform**
# over four decades (10⁻⁴ to 1: the right rate is a matter of factors, not of increments), weight
# decay log-uniform, a width and a dropout rate.

# %%
show_source(search_space)

# %% [markdown]
# The budget is what the plain random search spends: `random_trials` recipes trained for `epochs`
# epochs each. Both ASHA searches get the same number of trial-epochs; a `Stopper`
# (`trial_epoch_budget`) ends a search once they are spent.

# %%
print(
    f"{PLAN.random_trials} trials × {PLAN.epochs} epochs = a budget of {PLAN.budget} trial-epochs per search"
)

# %% [markdown]
# ## 4. Successive halving, by hand
#
# ASHA trains every recipe for one epoch first. At a **rung** (1, then `reduction_factor`, then
# `reduction_factor²` epochs...) a trial goes on only if its validation accuracy is in the best
# 1/`reduction_factor` of the accuracies recorded at that rung so far — including the trials that
# were stopped there. *Asynchronous*: a trial does not wait for the others; it is compared with
# whoever reached the rung before it, so no CPU sits idle waiting for a rung to fill. The rule is
# one line (the first exercise asks you to write it):


# %%
def goes_on(score, rung, reduction_factor):
    """Is ``score`` in the best 1/reduction_factor of ``rung`` (the scores recorded there so far)?"""
    return score >= np.percentile(rung, (1 - 1 / reduction_factor) * 100)


rung = [0.71, 0.83, 0.78, 0.42, 0.80]  # validation accuracies after epoch 1, in order of arrival
for seen_so_far in range(1, len(rung) + 1):
    score = rung[seen_so_far - 1]
    print(
        f"{score:.2f} arrives, rung {rung[:seen_so_far]}: {'goes on' if goes_on(score, rung[:seen_so_far], 3) else 'stopped'}"
    )

# %% [markdown]
# The first trial always goes on (there is nothing to compare with), which is why early trials
# are promoted generously; as the rung fills, the cut-off rises. Ray's `ASHAScheduler` applies
# this rule with `grace_period=1` (the first rung) and `max_t=epochs` (the last):

# %%
from e2edl.recipes.hyperparameter_tuning import asha, make_tuner, run_search, search_name, start_ray

show_source(asha)

# %% [markdown]
# ## 5. A search with Ray Tune, in the open
#
# Ray runs trials in worker processes. On this machine that means a local "cluster" of one node
# with `PLAN.cpus` CPUs; each trial asks for **one CPU and trains on one thread**. That sizing
# matters: two PyTorch processes with two threads each on two cores run many times slower than
# one alone, because their threads wait for each other; one thread each, two at once, shares the
# cores fairly. Starting Ray (a scheduler, an object store, worker processes) is not free — we
# time it:

# %%
import ray

if ray.is_initialized():
    ray.shutdown()
seconds = start_ray(PLAN.cpus)
print(f"Ray started in {seconds:.1f} s with {ray.available_resources().get('CPU', 0):.0f} CPUs")

# %% [markdown]
# `make_tuner` puts the pieces together: the trainable with the data bound to it, one CPU a trial,
# the search space, the searcher (random, or Optuna's TPE), the scheduler (none, or ASHA) and the
# budget. Its state goes to `storage/name`, which is what makes it restorable.

# %%
show_source(make_tuner)
show_source(run_search)

# %% [markdown]
# The random + ASHA search with search seed 0, into `OUT / "tune"` — the lesson's run below finds
# it finished and reuses it (run the cell again: it is restored, not repeated):

# %%
results = run_search("random + ASHA", data, PLAN, seed=0, storage=OUT / "tune",
                     name=search_name("random + ASHA", 0))  # fmt: skip
frame = results.get_dataframe()
columns = [
    "config/optimizer",
    "config/lr",
    "config/hidden",
    "config/dropout",
    "training_iteration",
    "val_accuracy",
    "node",
]
frame[columns].sort_values("val_accuracy", ascending=False).round(4)

# %% [markdown]
# Each row is a trial: its drawn settings, the epochs it trained (`training_iteration`: ASHA
# stopped those with 1 or 3 when `max_t` is larger) and its last validation accuracy. The recipes
# really differ — a bad learning rate costs ten points or more.

# %%
ray.shutdown()

# %% [markdown]
# ## 6. A driver that dies, a search that finishes
#
# The process that runs `Tuner.fit()` (the *driver*) holds the search's state; Tune writes it to
# `storage/name` as the search goes, and every trial's last checkpoint is there too. If the driver
# is killed — a login node rebooted, a job out of time — `Tuner.restore(path, trainable)` reads it
# back: finished trials stay finished, interrupted ones resume from their last `fit` checkpoint,
# and the search goes on. `run_search` does exactly that when it finds an unfinished search in
# its folder (`Tuner.can_restore`), which is why the lesson's run can reuse the search above:

# %%
from ray import tune

path = (OUT / "tune" / search_name("random + ASHA", 0)).resolve()
print(f"{path.name}: restorable = {tune.Tuner.can_restore(str(path))}")

# %% [markdown]
# The lesson's run proves the restore on a search it interrupts: its plain random search (search
# seed 0). It starts that search with a driver process of its own — `python -m
# e2edl.recipes.search_driver`, the same program as `scripts/tune_search.py` — against the
# lesson's Ray, and kills it with `SIGKILL` (no chance to save anything) at the first moment the
# search's saved state holds a checkpoint of every epoch the trials have reported. Tune writes a
# result as soon as it comes and saves its state only every 10 seconds or so; a kill in between
# would lose the newest epochs' checkpoints, and the restored trials would train those epochs
# again. (Which is fine for a search — but the claims below check that nothing is trained twice,
# so the kill waits for a moment when that holds, pausing the driver to be sure.)

# %%
from e2edl.recipes.search_driver import kill_at_first_epoch

show_source(kill_at_first_epoch)

# %% [markdown]
# Then it calls `run_search` with the same folder, which restores the search and finishes it, and
# reads every trial's `result.json`: an interrupted trial that resumed from its checkpoint reports
# `fit` epochs that continue Tune's iterations; one that started again from scratch would report
# an iteration twice, or epoch 1 at iteration 2. The claims below count those
# (`restore_retrained_epochs`, which must be 0) and the trial-epochs the search trained in all:
# exactly its budget. A random search trains every trial to its last epoch whatever the timing,
# and a resumed `fit` continues bit for bit: the kill costs time, not trial results.
#
# The budget needs care here. `Tuner.restore` rebuilds the search's `Stopper` as it was pickled
# when the search started — with nothing counted. Left like that, a restored search would spend
# its whole budget again on top of what it spent before the kill (a random search is held by its
# number of trials as well; an ASHA search only by the budget). So `trial_epoch_budget` counts
# each trial's highest epoch (a result handed over twice counts once) and, after a restore, first
# reads the epochs already written in the search's folder — `tests/test_tuning.py` checks both:

# %%
from e2edl.recipes.hyperparameter_tuning import trial_epoch_budget

show_source(trial_epoch_budget)

# %% [markdown]
# ## 7. On a cluster
#
# Nothing in the search knows how many machines there are. Start Ray by hand — a **head** and any
# number of **workers** — and point the same script at it:
#
# ```bash
# ray start --head --port 6379 --num-cpus 8 --disable-usage-stats          # on the first machine
# ray start --address HEAD:6379 --num-cpus 8 --disable-usage-stats         # on each other machine
# python scripts/tune_search.py --address auto --storage /shared/tune      # on the head
# ray stop                                                                 # on every machine, at the end
# ```
#
# The storage must be a folder every node sees (a shared file system), since a trial may resume on
# another node than the one that wrote its checkpoint. The `node` column of the table above says
# where each trial ran. The course's test starts a head with no CPUs of its own (it only
# coordinates) and a worker with two, as two processes on one machine, runs this script against
# them and checks that every trial ran on the worker.
#
# On a **Slurm** cluster, `scripts/slurm/ray.sbatch` does the starting for you: `ray start --head`
# on the first node of the allocation, a worker on each other node (each with `srun`), waits until
# all have joined, runs your command with `RAY_ADDRESS` set, and stops the nodes at the end:
#
# ```bash
# sbatch --nodes 4 scripts/slurm/ray.sbatch python scripts/tune_search.py --address auto --storage $SCRATCH/tune
# ```
#
# Resubmit the same job after it ran out of time and the search is restored from `--storage`.

# %% [markdown]
# ## 8. Three searches, one budget
#
# `run_lesson` runs the three searches for each search seed (one seed in quick mode, three in the
# full run) — reusing the one above — and draws, for each, the best validation accuracy found
# against the trial-epochs spent, in the order the epochs finished. The question is read off the
# curves: how many trial-epochs did each ASHA search need to come **within 0.2 points** of the
# best recipe the plain random search found with its whole budget? The best recipe of all is then
# scored on the test set, once.

# %%
from e2edl.course import full_run, run_lesson

result = run_lesson("hyperparameter-tuning", quick=QUICK, out=OUT, resume=True)

# %% [markdown]
# Best validation accuracy so far against trial-epochs spent: a line per search and search seed,
# the dotted line at half the budget.

# %%
result.show("curves")

# %% [markdown]
# Where the first seed's trials ended: learning rate (log scale) against the last validation
# accuracy, AdamW in blue, SGD with momentum in red, the dot's size the epochs it trained. ASHA's
# small dots are the recipes it stopped early: most of them at learning rates far from the good
# band.

# %%
result.show("trials")

# %% [markdown]
# How the two CPUs were shared: each row is a trial of the first seed's random + ASHA search, each
# dot one of its epochs as it was reported. At any moment two trials overlap — one thread each,
# two at once — and the trials ASHA stopped after one epoch are the single dots.

# %%
result.show("timeline")

# %%
result.tables["searches"]

# %%
result.tables["summary"]

# %% [markdown]
# And the random search whose driver was killed: each trial's reported epochs after the restore
# (Tune's iterations, each once), and in the title the trial-epochs spent against the budget:

# %%
result.tables["restore"]

# %% [markdown]
# The column *share of random's budget* answers the question: the trial-epochs a search needed to
# come within 0.2 points of the random search's final best, as a share of that search's budget
# (99 if it never did). With a tiny quick-mode search, one seed says little; the full run (three
# seeds, 16 random trials of 9 epochs each on 30,000 images) gives the median over seeds, and its
# claims say whether ASHA got there with at most half the budget:

# %%
full_run("hyperparameter-tuning")

# %% [markdown]
# What to take from it, whatever the seeds said: early stopping buys more recipes for the same
# compute, and that pays when recipes differ a lot after one epoch already (a bad learning rate
# shows at once). It pays less when the ranking changes late — a recipe that starts slowly and
# ends best is exactly what ASHA stops. TPE helps once it has seen enough trials to model where the
# good ones are; with a few dozen trials it is often no better than random.

# %%
assert result.passed(), "a claim of this lesson failed; see the table above"

# %% [markdown]
# ## Exercises
#
# Each exercise asks you to write one piece of this lesson yourself. Replace the
# `raise NotImplementedError` lines, run the cell, then run the check below it: it prints ✓, or ✗
# with a hint saying what is wrong. (`e2edl check hyperparameter-tuning --notebook YOUR_COPY.ipynb`
# runs all of them from the command line.)
#
# **1. ASHA's rung rule.** Write `asha_continues(score, rung, reduction_factor)`: `rung` is the
# list of validation accuracies recorded at this rung so far (this trial's `score` included);
# return `True` if the trial goes on — if `score` is in the best 1/`reduction_factor` of them,
# measured as NumPy's linear-interpolation percentile.

# %% tags=["exercise"]
import numpy as np  # noqa: F401


def asha_continues(score, rung, reduction_factor):
    """True if score is at least the (1 - 1/reduction_factor) quantile of rung."""
    raise NotImplementedError  # your code here


# %%
from e2edl.exercises import check

check("asha-continues", asha_continues)

# %% [markdown]
# **2. Report, and stop.** Write `report_and_stop(report, patience)`, which returns an `on_record`
# hook for `fit`: for each record it calls `report({"epoch": ..., "val_accuracy": ...})`, and
# once `patience` records in a row brought no better validation accuracy than the best so far, it
# raises `StopTrial` (after reporting that record).

# %% tags=["exercise"]
from e2edl.recipes.hyperparameter_tuning import StopTrial  # noqa: F401


def report_and_stop(report, patience):
    """An on_record hook: report each record, raise StopTrial after `patience` without improvement."""
    raise NotImplementedError  # your code here


# %%
check("report-and-stop", report_and_stop)
