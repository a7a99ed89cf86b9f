"""One search of the hyperparameter-tuning lesson run by a process of its own — the *driver* — and
what happens when that process dies.

    python -m e2edl.recipes.search_driver --storage runs/tune                     # a local Ray, 2 CPUs
    python -m e2edl.recipes.search_driver --address auto --storage /shared/tune   # a running cluster

(``scripts/tune_search.py`` is the same command.) Run it again with the same ``--storage``,
``--search`` and ``--seed`` after the driver died (a killed job, a lost login node) and it restores
the unfinished search with ``Tuner.restore``: finished trials are kept, interrupted ones resume from
their last ``fit`` checkpoint, and the budget goes on from what was spent. On a cluster the storage
must be a folder every node sees (a shared file system). It prints one JSON line at the end.

The lesson proves it: ``kill_at_first_epoch`` starts this driver and kills it with ``SIGKILL`` at the
first epoch a trial reports; the lesson then restores the search itself (``run_search``), and
``resumed_from_checkpoints`` reads what every trial wrote.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from e2edl.recipes.tune_results import epochs_by_trial, trial_rows

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report home: nodes may be offline


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Run (or restore and finish) one Ray Tune search.")
    parser.add_argument("--storage", required=True, help="the folder for the search's state and checkpoints")
    parser.add_argument("--address", default=None, help="a running cluster's address ('auto': the local one)")
    parser.add_argument("--search", default="random + ASHA", help="'random', 'random + ASHA' or 'TPE + ASHA'")
    parser.add_argument("--seed", type=int, default=0, help="the search seed")
    parser.add_argument("--cpus", type=int, default=2, help="CPUs of a local Ray (ignored with --address)")
    parser.add_argument("--images", type=int, default=30_000, help="training images of Fashion-MNIST")
    parser.add_argument("--epochs", type=int, default=9, help="epochs of a trial never stopped (max_t)")
    parser.add_argument(
        "--trials", type=int, default=16, help="random-search trials: budget = trials × epochs"
    )
    parser.add_argument(
        "--reduction-factor", type=int, default=3, help="ASHA keeps the best 1/this at each rung"
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)

    import ray

    from e2edl.data.mnist import MNIST
    from e2edl.recipes.hyperparameter_tuning import (
        SEARCHES,
        SearchPlan,
        best_so_far,
        run_search,
        search_name,
        start_ray,
    )

    if args.search not in SEARCHES:
        sys.exit(f"--search must be one of {', '.join(repr(s) for s in SEARCHES)}, got {args.search!r}")
    seconds = start_ray(args.cpus, address=args.address)
    plan = SearchPlan(
        train_images=args.images,
        epochs=args.epochs,
        random_trials=args.trials,
        seeds=(args.seed,),
        reduction_factor=args.reduction_factor,
    )
    data = MNIST.load(name="fashion-mnist", train_subset=plan.train_images)
    try:
        cpus_by_node = {n["NodeID"][:8]: n["Resources"].get("CPU", 0) for n in ray.nodes() if n["Alive"]}
        results = run_search(args.search, data, plan, seed=args.seed, storage=args.storage,
                             name=search_name(args.search, args.seed))  # fmt: skip
        spent, best = best_so_far(results)
    finally:
        ray.shutdown()
    summary = {"ray_start_seconds": round(seconds, 2), "nodes": len(cpus_by_node), "cpus_by_node": cpus_by_node,
               "trials": len(results), "budget": plan.budget,
               "trial_epochs": spent[-1] if spent else 0, "best_val_accuracy": best[-1] if best else None}  # fmt: skip
    print(json.dumps(summary))


def driver_command(storage: str | Path, plan, *, address: str, search: str, seed: int) -> list[str]:
    """The command line of this driver for one search of ``plan`` (a ``SearchPlan``)."""
    return [sys.executable, "-m", "e2edl.recipes.search_driver", "--address", address,
            "--storage", str(Path(storage).resolve()), "--search", search, "--seed", str(seed),
            "--images", str(plan.train_images), "--epochs", str(plan.epochs),
            "--trials", str(plan.random_trials), "--reduction-factor", str(plan.reduction_factor)]  # fmt: skip


def checkpointed_iterations(experiment: Path) -> dict[str, int] | None:
    """Trial id → the training iteration of the newest checkpoint that the search's newest saved
    state (``experiment_state-*.json``) records for the trial (0: none yet) — what a restore
    resumes it from. ``None`` while there is no state, or it is being written.

    Tune writes a trial's ``result.json`` line first and records its checkpoint in that state later
    (the state is saved every 10 s or so); a driver killed in between loses the checkpoint, and the
    trial trains that epoch again after the restore. Each trial's checkpoint manager is stored
    pickled, as hex (unpickling it imports Ray's classes: this reads our own search's files)."""
    import pickle

    states = sorted(experiment.glob("experiment_state-*.json"))
    if not states:
        return None
    try:
        state = json.loads(states[-1].read_text())
    except (OSError, ValueError):
        return None  # replaced, or being written: look again
    found = {}
    for trial, metadata in state.get("trial_data", []):
        manager = json.loads(metadata).get("checkpoint_manager")
        try:
            latest = pickle.loads(bytes.fromhex(manager["value"]))._latest_checkpoint_result
            found[json.loads(trial)["trial_id"]] = int(latest.metrics["training_iteration"]) if latest else 0
        except (AttributeError, KeyError, TypeError, ValueError, pickle.UnpicklingError):
            return None
    return found


def state_holds_every_reported_epoch(experiment: Path) -> bool:
    """True when some trial has reported an epoch and the saved state holds a checkpoint of every
    trial's last reported epoch: a driver killed now loses no epoch."""
    reported, saved = epochs_by_trial(experiment), checkpointed_iterations(experiment)
    if not reported or not saved:
        return False
    return all(saved.get(trial, 0) >= epochs for trial, epochs in reported.items())


def kill_at_first_epoch(
    command: list[str], experiment: Path, env: dict | None = None, timeout: float = 600
) -> dict:
    """Start the driver ``command`` and ``SIGKILL`` it (its whole process group) at the first
    moment the search's saved state holds a checkpoint of every epoch its trials have reported;
    return the seconds that took and the epochs the trials had reported.

    The driver is paused (``SIGSTOP``) and the files read again before the kill, so that no trial
    reports an epoch between the last look and the kill; if one did, it goes on (``SIGCONT``)."""
    started = time.perf_counter()
    env = {**os.environ, "OMP_NUM_THREADS": "1"} if env is None else env
    driver = subprocess.Popen(command, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)  # fmt: skip
    deadline = time.monotonic() + timeout
    try:
        while True:
            if driver.poll() is not None:
                raise RuntimeError(
                    f"the search driver ended before it could be killed: {driver.stderr.read()[-2000:]}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the search's saved state did not catch up with its trials' epochs within {timeout:.0f} s"
                )
            if state_holds_every_reported_epoch(experiment):
                os.killpg(driver.pid, signal.SIGSTOP)  # nothing is written while we look again
                if state_holds_every_reported_epoch(experiment):
                    break
                os.killpg(driver.pid, signal.SIGCONT)
            time.sleep(0.05)
    finally:
        if driver.poll() is None:
            os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    return {
        "killed_after_seconds": time.perf_counter() - started,
        "epochs_before_kill": sum(len(rows) for rows in trial_rows(experiment).values()),
    }


def resumed_from_checkpoints(experiment: Path) -> dict:
    """What a finished (possibly restored) search wrote: its trials' epochs, and ``retrained`` —
    epochs reported twice, or whose ``fit`` epoch differs from Tune's iteration: a trial that
    trained again from scratch instead of resuming from its checkpoint (0 when every resume
    worked)."""
    rows = trial_rows(experiment)
    again = sum(len(r) - len({row["training_iteration"] for row in r}) for r in rows.values())
    return {
        "trial_epochs": sum(len(r) for r in rows.values()),
        "retrained": again
        + sum(row["epoch"] != row["training_iteration"] for r in rows.values() for row in r),
        "epochs_by_trial": [[row["training_iteration"] for row in r] for r in rows.values()],
    }


if __name__ == "__main__":
    main()
