"""The hyperparameter-tuning lesson's experiment: three Ray Tune searches over a small MLP's recipe
on Fashion-MNIST, each with the same budget in trial-epochs, compared by the best validation
accuracy they found against the trial-epochs they spent.

- **Searches** (``e2edl.recipes.hyperparameter_tuning.SEARCHES``): random search, every trial
  trained to the end; random search + ASHA (successive halving: weak trials stop at 1, 3 epochs);
  Optuna's TPE + ASHA. Each runs once per search seed (``FULL.seeds``; quick mode: one seed, a
  tiny search on 5,000 images), ``fit`` as the trainable, one CPU thread per trial, two at once.
  The notebook runs the seed-0 random + ASHA search in the open; this run restores it, finished.
- **The question**: how many trial-epochs does ASHA need to come within 0.2 points of the best
  recipe the plain random search found with its whole budget?
- **Ray's start-up** is timed: the seconds ``ray.init`` takes before the first trial.
- **A driver that dies**: the first seed's plain random search is started by a driver process of
  its own (``e2edl.recipes.search_driver``) against this run's Ray, killed with ``SIGKILL`` at the
  first moment its saved state holds every epoch its trials reported, then restored here with ``Tuner.restore`` and finished — every
  interrupted trial resumed from its ``fit`` checkpoint. (Random search trains every trial to the
  end whatever the timing, and a resumed ``fit`` continues bit for bit: the kill costs time, not
  trial results.)

The best recipe (by validation accuracy) meets the test set once, at the end.
"""

from __future__ import annotations

import json
import shutil
import statistics

import matplotlib.pyplot as plt

from e2edl.atomic import write_json
from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig
from e2edl.data.mnist import MNIST
from e2edl.figures import Table
from e2edl.recipes.hyperparameter_tuning import (
    FULL,
    METRIC,
    QUICK,
    SEARCHES,
    best_so_far,
    best_trial_model,
    epochs_reported,
    run_search,
    search_name,
    start_ray,
)
from e2edl.recipes.search_driver import driver_command, kill_at_first_epoch, resumed_from_checkpoints
from e2edl.train.predict import predict_logits

WITHIN = 0.002  # "as good as": within 0.2 points of validation accuracy
NEVER = 99.0  # the share recorded when a search never came that close


def _reached(spent: list[int], best: list[float], target: float) -> int | None:
    """The first trial-epoch count at which the best-so-far reached ``target``."""
    return next((n for n, b in zip(spent, best) if b >= target), None)


def _curves(curves: dict, budget: int) -> plt.Figure:
    """Best validation accuracy so far against trial-epochs spent, one line per search and seed."""
    fig, ax = plt.subplots(figsize=(7, 4))
    colours = dict(zip(SEARCHES, ("tab:grey", "tab:blue", "tab:orange")))
    for (search, seed), (spent, best) in curves.items():
        ax.step(spent, [100 * b for b in best], where="post", color=colours[search], alpha=0.8,
                label=search if seed == min(s for _, s in curves) else None)  # fmt: skip
    ax.axvline(budget / 2, color="k", ls=":", lw=1, label="half the budget")
    ax.set(xlabel="trial-epochs spent", ylabel="best validation accuracy so far (%)",
           title="Three searches, one budget (a line per search seed)")  # fmt: skip
    low = min(b for _, best in curves.values() for b in best[len(best) // 4 :])
    ax.set_ylim(100 * low - 1, None)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def _trials_figure(reported: dict) -> plt.Figure:
    """Every trial of the first seed's searches: its learning rate against its last validation
    accuracy, the dot's size the epochs it trained."""
    fig, axes = plt.subplots(1, len(reported), figsize=(4 * len(reported), 3.4), sharey=True)
    for ax, (search, (results, rows)) in zip(axes, reported.items()):
        for result in results:
            if result.metrics.get(METRIC) is None:
                continue
            ax.scatter(result.config["lr"], 100 * result.metrics[METRIC], s=12 * result.metrics["training_iteration"],
                       c="tab:blue" if result.config["optimizer"] == "adamw" else "tab:red", alpha=0.6)  # fmt: skip
        ax.set(xscale="log", xlabel="learning rate", title=f"{search}: {len(rows)} trial-epochs")
    axes[0].set_ylabel("last validation accuracy (%)")
    axes[0].scatter([], [], c="tab:blue", label="AdamW")
    axes[0].scatter([], [], c="tab:red", label="SGD + momentum")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def _timeline(rows: list[dict], search: str) -> plt.Figure:
    """When each trial of one search reported its epochs: a row per trial, a dot per epoch, a line
    from its first epoch to its last — the overlaps are the trials running at the same time."""
    fig, ax = plt.subplots(figsize=(7, 3.2))
    start = min(row["at"] for row in rows) if rows else 0.0
    order = {trial: i for i, trial in enumerate(dict.fromkeys(row["trial"] for row in rows))}
    for trial, position in order.items():
        times = [row["at"] - start for row in rows if row["trial"] == trial]
        ax.plot(times, [position] * len(times), marker="o", ms=4, color="tab:blue")
    ax.set(xlabel="seconds since the first reported epoch", ylabel="trial (in order of start)",
           title=f"{search}: when each trial reported its epochs")  # fmt: skip
    fig.tight_layout()
    return fig


KILLED = "random"  # the search whose driver is killed (the first search seed's)


def _killed_and_restored(data: MNIST, plan, storage, name: str):
    """The ``KILLED`` search, started by a driver process of its own against this run's Ray and
    killed once its saved state holds every reported epoch, then restored here (``run_search`` finds it unfinished).
    Returns its results and what the kill and the restore did. What the kill saw is kept beside
    the search (``killed.json``), so a rerun with ``--resume`` reuses both."""
    import ray

    experiment = storage.resolve() / name
    note = experiment / "killed.json"
    if not note.exists():
        shutil.rmtree(experiment, ignore_errors=True)  # a search to interrupt, not one to reuse
        address = ray.get_runtime_context().gcs_address
        command = driver_command(storage, plan, address=address, search=KILLED, seed=0)
        write_json(note, kill_at_first_epoch(command, experiment))
    results = run_search(KILLED, data, plan, seed=0, storage=storage, name=name)
    return results, {**json.loads(note.read_text()), **resumed_from_checkpoints(experiment)}


def run(cfg: RunConfig) -> dict:
    import ray

    plan = QUICK if cfg.quick else FULL
    data = MNIST.load(name="fashion-mnist", train_subset=plan.train_images)
    if ray.is_initialized():
        ray.shutdown()  # the start-up below is timed from nothing
    ray_start = start_ray(plan.cpus)
    rows, curves, first_seed, best = [], {}, {}, None
    try:
        for seed in plan.seeds:
            random_best = random_spent = None
            for search in SEARCHES:
                name = search_name(search, seed)
                if search == KILLED and seed == plan.seeds[0]:
                    results, restore = _killed_and_restored(data, plan, cfg.out / "tune", name)
                else:
                    results = run_search(search, data, plan, seed=seed, storage=cfg.out / "tune", name=name)
                spent, curve = best_so_far(results)
                curves[search, seed] = (spent, curve)
                if seed == plan.seeds[0]:
                    first_seed[search] = (results, epochs_reported(results))
                if search == "random":
                    random_best, random_spent = curve[-1], spent[-1]
                reached = _reached(spent, curve, random_best - WITHIN)
                rows.append({
                    "search": search, "seed": seed,
                    "trials": sum(r.metrics.get(METRIC) is not None for r in results),
                    "trial-epochs": spent[-1], "best val accuracy": curve[-1],
                    "to within 0.2 pt of random's best": reached,
                    "share of random's budget": reached / random_spent if reached else NEVER,
                })  # fmt: skip
                if best is None or curve[-1] > best[0]:
                    best = (curve[-1], results)
        config, model = best_trial_model(best[1])
    finally:
        ray.shutdown()

    # Every decision is made on the validation split: the best recipe meets the test set once.
    logits = predict_logits(model, data.test_loader())
    summary = []
    for search in SEARCHES:
        mine = [r for r in rows if r["search"] == search]
        summary.append({
            "search": search,
            "seeds": len(mine),
            "mean trials": statistics.mean(r["trials"] for r in mine),
            "mean trial-epochs": statistics.mean(r["trial-epochs"] for r in mine),
            "mean best val accuracy": statistics.mean(r["best val accuracy"] for r in mine),
            "median share to random's best": statistics.median(r["share of random's budget"] for r in mine),
        })  # fmt: skip
    by_search = {s["search"]: s for s in summary}
    metrics = {
        "ray_start_seconds": ray_start,
        "budget": plan.budget,
        "most_trial_epochs": max(r["trial-epochs"] for r in rows),
        "random_best": by_search["random"]["mean best val accuracy"],
        "random_asha_best": by_search["random + ASHA"]["mean best val accuracy"],
        "tpe_asha_best": by_search["TPE + ASHA"]["mean best val accuracy"],
        "random_asha_share": by_search["random + ASHA"]["median share to random's best"],
        "tpe_asha_share": by_search["TPE + ASHA"]["median share to random's best"],
        "asha_trials_vs_random": by_search["random + ASHA"]["mean trials"]
        / by_search["random"]["mean trials"],
        "restore_killed_mid_search": float(0 < restore["epochs_before_kill"] < plan.budget),
        "restore_retrained_epochs": restore["retrained"],
        "restore_trial_epochs": restore["trial_epochs"],
        "restore_kill_seconds": restore["killed_after_seconds"],
        "best_val_accuracy": best[0],
        "test_accuracy": (logits.argmax(1) == data.y_test).float().mean().item(),
    }
    formats = {"best val accuracy": ".4f", "share of random's budget": ".2f", "mean best val accuracy": ".4f",
               "median share to random's best": ".2f", "mean trials": ".1f", "mean trial-epochs": ".1f"}  # fmt: skip
    return {
        "metrics": metrics,
        "figures": {
            "curves": _curves(curves, plan.budget),
            "trials": _trials_figure(first_seed),
            "timeline": _timeline(first_seed["random + ASHA"][1], "random + ASHA"),
        },
        "tables": {
            "searches": Table(
                rows, title=f"Each search and seed (budget {plan.budget} trial-epochs)", formats=formats
            ),
            "summary": Table(summary, title="Over the search seeds", formats=formats),
            "restore": Table(
                [
                    {
                        "trial": i,
                        "epochs reported": len(epochs),
                        "Tune's iterations": " ".join(map(str, epochs)),
                    }
                    for i, epochs in enumerate(restore["epochs_by_trial"])
                ],
                title=f"The {KILLED} search (seed {plan.seeds[0]}), its driver killed after "
                f"{restore['epochs_before_kill']} reported epoch(s), restored and finished: "
                f"{restore['trial_epochs']} trial-epochs of a budget of {plan.budget}",
            ),  # fmt: skip
        },
        "best_config": config,
    }


LESSON = Lesson(
    name="hyperparameter-tuning",
    title="Hyperparameter search with Ray Tune: random, ASHA and Optuna's TPE on one budget",
    datasets=("fashion-mnist",),
    claims=(
        Claim(
            "most_trial_epochs",
            "<=",
            10,
            146,
            "no search spent more than the budget (plus the trials running when it ran out)",
        ),
        Claim(  # quick mode: 8 trial-epochs, 2 at once — whether ASHA stops a trial depends on which finishes first
            "asha_trials_vs_random",
            ">",
            None,
            2.0,
            "on the same budget, ASHA tries more recipes than plain random search",
        ),
        Claim(
            "random_asha_share",
            "<=",
            None,
            0.5,
            "random search + ASHA comes within 0.2 points of plain random search's best with at most half its trial-epochs (median over 3 seeds)",
        ),  # fmt: skip
        Claim(
            "tpe_asha_share",
            "<=",
            None,
            0.5,
            "TPE + ASHA comes within 0.2 points of plain random search's best with at most half its trial-epochs (median over 3 seeds)",
        ),  # fmt: skip
        Claim(
            "restore_killed_mid_search",
            "==",
            1,
            1,
            "the random search's driver was killed with SIGKILL after a reported epoch, before the end",
        ),
        Claim(  # the kill waits until the saved state holds every reported epoch (kill_at_first_epoch)
            "restore_retrained_epochs",
            "==",
            0,
            0,
            "Tuner.restore finished it with every interrupted trial resumed from its checkpoint (no epoch trained twice)",
        ),  # fmt: skip
        Claim(
            "restore_trial_epochs",
            "==",
            QUICK.budget,
            FULL.budget,
            "the restored search trained exactly its budget: every trial to its last epoch, none twice",
        ),
        Claim("best_val_accuracy", ">=", 0.78, 0.87, "validation accuracy of the best recipe found"),
        Claim("test_accuracy", ">=", 0.76, 0.86, "test accuracy of the best recipe, scored once"),
        Claim(
            "ray_start_seconds", "<=", None, 15, "Ray starts (ray.init) in under 15 seconds", kind="timing"
        ),
    ),
    run=run,
)
