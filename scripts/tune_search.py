"""Run one search of the hyperparameter-tuning lesson from the command line — on this machine, or
on a Ray cluster someone started (``ray start --head`` + workers, or ``scripts/slurm/ray.sbatch``).

    python scripts/tune_search.py --storage runs/tune                     # a local Ray, 2 CPUs
    python scripts/tune_search.py --address auto --storage /shared/tune   # the running cluster

Run it again with the same ``--storage`` and ``--search``/``--seed`` after the driver died (a killed
job, a lost login node) and it restores the unfinished search with ``Tuner.restore``: finished
trials are kept, interrupted ones resume from their last ``fit`` checkpoint. On a cluster the
storage must be a folder every node sees (a shared file system). Prints one JSON line at the end.
"""

from __future__ import annotations

import argparse
import json
import os

os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report home: nodes may be offline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
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
    args = parser.parse_args()

    import ray

    from e2edl.data.mnist import MNIST
    from e2edl.recipes.hyperparameter_tuning import (
        SearchPlan,
        best_so_far,
        run_search,
        search_name,
        start_ray,
    )

    seconds = start_ray(args.cpus, address=args.address)
    plan = SearchPlan(
        train_images=args.images, epochs=args.epochs, random_trials=args.trials, seeds=(args.seed,)
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
               "trials": len(results),
               "trial_epochs": spent[-1] if spent else 0, "best_val_accuracy": best[-1] if best else None}  # fmt: skip
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
