"""Run one search of the hyperparameter-tuning lesson from the command line — on this machine, or
on a Ray cluster someone started (``ray start --head`` + workers, or ``scripts/slurm/ray.sbatch``).

    python scripts/tune_search.py --storage runs/tune                     # a local Ray, 2 CPUs
    python scripts/tune_search.py --address auto --storage /shared/tune   # the running cluster

Run it again with the same ``--storage`` and ``--search``/``--seed`` after the driver died (a killed
job, a lost login node) and it restores the unfinished search with ``Tuner.restore``: finished
trials are kept, interrupted ones resume from their last ``fit`` checkpoint, and the budget goes on
from what was spent. On a cluster the storage must be a folder every node sees (a shared file
system). Prints one JSON line at the end. The same as ``python -m e2edl.recipes.search_driver``.
"""

from e2edl.recipes.search_driver import main

if __name__ == "__main__":
    main()
