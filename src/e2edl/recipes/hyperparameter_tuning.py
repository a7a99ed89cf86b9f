"""The hyperparameter-tuning lesson's recipe: a small MLP on Fashion-MNIST whose settings a Ray Tune
search picks, with ``fit`` as the trainable.

- ``TrialRecipe`` is one trial's settings and ``train_trial`` trains it (``fit`` with the recipe in
  the checkpoint, like every recipe of the course).
- ``search_space()`` is what the searches draw from: optimiser, learning rate (log-uniform over
  four decades), weight decay, width and dropout. On Fashion-MNIST these really matter — a bad
  draw stays near 70% validation accuracy, a good one passes 87% — unlike MNIST, where every
  decent recipe sits within seed noise of 99%.
- ``tune_trainable`` is the function Ray runs per trial: it calls ``train_trial`` with an
  ``on_record`` hook that reports each epoch's validation scores to Tune *with* the run folder
  holding ``fit``'s checkpoint; a restored trial gets that folder back and ``fit(resume=True)``
  continues from it. A scheduler that stops the trial (ASHA) stops it inside that report.
- ``run_search`` runs one of ``SEARCHES`` (random search; random search + ASHA; Optuna's TPE +
  ASHA) under a budget counted in trial-epochs (``TrialEpochBudget``), one CPU thread per trial.
- ``best_so_far`` turns a finished search into the curve the lesson compares: the best validation
  accuracy seen against the trial-epochs spent, in the order the epochs finished.

Ray and Optuna are imported inside the functions that use them (``pip install e2edl[tune]``).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch
from torchmetrics.classification import MulticlassAccuracy

from e2edl.data.mnist import MNIST
from e2edl.nn.mlp import MLP
from e2edl.recipes.tune_results import epochs_by_trial
from e2edl.train import CHECKPOINT_NAME, fit, seed_everything
from e2edl.train.history import History

SEARCHES = ("random", "random + ASHA", "TPE + ASHA")
METRIC = "val_accuracy"


class StopTrial(Exception):
    """Raise it from ``fit``'s ``on_record`` hook to stop a run early: ``fit`` keeps the checkpoint
    of the record it stopped at and lets the exception through to whoever called it."""


@dataclass(frozen=True)
class TrialRecipe:
    """One trial's settings: ``MLP(784, [hidden], 10)`` trained with ``optimizer`` for ``epochs``."""

    optimizer: str = "adamw"  # "adamw" or "sgd" (SGD with Nesterov momentum 0.9)
    lr: float = 1e-3
    weight_decay: float = 1e-4
    hidden: int = 128
    dropout: float = 0.0
    batch_size: int = 128
    epochs: int = 9  # the most a trial may train: the schedulers' max_t

    def __post_init__(self) -> None:
        if self.optimizer not in ("adamw", "sgd"):
            raise ValueError(f"optimizer must be 'adamw' or 'sgd', got {self.optimizer!r}")
        if self.epochs < 1 or self.lr <= 0:
            raise ValueError(f"epochs must be >= 1 and lr > 0, got {self.epochs}, {self.lr}")


@dataclass(frozen=True)
class SearchPlan:
    """The size of the comparison: how many training images, epochs per trial, trials of the plain
    random search (its trial-epochs are every search's budget), and search seeds."""

    train_images: int
    epochs: int  # max_t: a trial that is never stopped trains this many epochs
    random_trials: int
    seeds: tuple[int, ...]
    reduction_factor: int = 3  # ASHA keeps the best 1/3 at each rung: 1, 3, 9 epochs
    cpus: int = 2  # Ray's CPUs: trials at once, one CPU thread each

    @property
    def budget(self) -> int:
        """Trial-epochs every search may spend: what the plain random search spends."""
        return self.random_trials * self.epochs


FULL = SearchPlan(train_images=30_000, epochs=9, random_trials=16, seeds=(0, 1, 2))
QUICK = SearchPlan(train_images=5_000, epochs=2, random_trials=4, seeds=(0,), reduction_factor=2)


def search_space() -> dict:
    """The distributions every search draws a trial's settings from (Ray Tune's domain objects)."""
    from ray import tune

    return {
        "optimizer": tune.choice(["adamw", "sgd"]),
        "lr": tune.loguniform(1e-4, 1.0),
        "weight_decay": tune.loguniform(1e-6, 1e-1),
        "hidden": tune.choice([32, 64, 128, 256]),
        "dropout": tune.uniform(0.0, 0.5),
    }


def train_trial(
    data: MNIST, recipe: TrialRecipe, *, run_dir=None, seed: int = 0, **fit_options
) -> tuple[MLP, History]:
    """Train ``recipe``; return (model, history). ``fit_options`` go to ``fit`` (``on_record``,
    ``resume``, ``progress``...); the recipe is stored in the checkpoint."""
    seed_everything(seed)
    model = MLP(28 * 28, [recipe.hidden], 10, dropout=recipe.dropout)
    if recipe.optimizer == "adamw":
        optimizer = torch.optim.AdamW(model.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    else:
        optimizer = torch.optim.SGD(
            model.parameters(), lr=recipe.lr, momentum=0.9, nesterov=True, weight_decay=recipe.weight_decay
        )
    history = fit(
        model,
        data.train_loader(recipe.batch_size, seed=seed),
        epochs=recipe.epochs,
        loss_fn=torch.nn.CrossEntropyLoss(),
        optimizer=optimizer,
        val_loader=data.val_loader(),
        metrics={"accuracy": MulticlassAccuracy(num_classes=10, average="micro")},
        seed=seed,
        run_dir=run_dir,
        config=asdict(recipe),
        **fit_options,
    )
    return model.eval(), history


def tune_trainable(config: dict, *, data: MNIST, base: TrialRecipe, seed: int = 0, threads: int = 1) -> None:
    """One Ray Tune trial: ``base`` with the drawn ``config``, trained by ``train_trial``.

    Each epoch's record goes to Tune with a checkpoint: the trial's run folder, holding ``fit``'s
    ``checkpoint.pt`` of that very epoch. A trial Tune restores (after a crash, or
    ``Tuner.restore``) finds that folder in ``tune.get_checkpoint()`` and resumes from it.
    """
    import ray
    from ray import tune

    torch.set_num_threads(threads)  # the CPUs Tune gave this trial, and no more
    recipe = replace(base, **config)
    run_dir = Path(tune.get_context().get_trial_dir()) / "fit"
    checkpoint = tune.get_checkpoint()
    if checkpoint is not None:
        checkpoint.to_directory(str(run_dir))

    def report(record: dict) -> None:  # fit's on_record: after the epoch's checkpoint is written
        scores = {key: record[key] for key in ("epoch", "train_loss", "val_loss", METRIC)}
        scores["reported_at"] = time.time()  # orders the epochs of concurrent trials
        scores["node"] = ray.get_runtime_context().get_node_id()[:8]  # which machine trained it
        tune.report(scores, checkpoint=tune.Checkpoint.from_directory(str(run_dir)))

    train_trial(data, recipe, run_dir=run_dir, seed=seed, resume=checkpoint is not None,
                on_record=report, progress=False)  # fmt: skip


def trial_epoch_budget(budget: int, experiment: str | Path | None = None):
    """A Tune ``Stopper`` that ends the whole search once ``budget`` epochs were trained, over all
    trials (trials already running finish the epoch they are in).

    It counts each trial's highest epoch, so a result Tune hands over twice counts once. Restored
    with its search (``Tuner.restore`` rebuilds it empty), it first reads the epochs already
    written under ``experiment``: a restored search spends what was left of the budget, not a new
    one."""
    from ray.tune import Stopper

    class TrialEpochBudget(Stopper):
        def __init__(self) -> None:
            self.epochs: dict[str, int] = {}
            self.read_disk = experiment is not None

        def __setstate__(self, state: dict) -> None:  # unpickled by a restore: read the disk again
            self.__dict__.update(state, read_disk=experiment is not None)

        def spent(self) -> int:
            if self.read_disk:  # once, at the first result after a (re)start
                self.read_disk = False
                for trial, epochs in epochs_by_trial(experiment).items():
                    self.epochs[trial] = max(self.epochs.get(trial, 0), epochs)
            return sum(self.epochs.values())

        def __call__(self, trial_id: str, result: dict) -> bool:
            self.epochs[trial_id] = max(self.epochs.get(trial_id, 0), int(result["training_iteration"]))
            return False

        def stop_all(self) -> bool:
            return self.spent() >= budget

    return TrialEpochBudget()


def asha(plan: SearchPlan):
    """Asynchronous successive halving: at 1, 3, 9... epochs (the rungs), a trial goes on only if
    its validation accuracy is in the best 1/``reduction_factor`` of those that reached the rung."""
    from ray.tune.schedulers import ASHAScheduler

    return ASHAScheduler(
        time_attr="training_iteration",
        max_t=plan.epochs,
        grace_period=1,
        reduction_factor=plan.reduction_factor,
    )


def trainable(data: MNIST, plan: SearchPlan, *, seed: int):
    """``tune_trainable`` with its data and base recipe bound, asking Tune for one CPU a trial."""
    from ray import tune

    bound = tune.with_parameters(tune_trainable, data=data, base=TrialRecipe(epochs=plan.epochs), seed=seed)
    return tune.with_resources(bound, {"cpu": 1})


def make_tuner(search: str, data: MNIST, plan: SearchPlan, *, seed: int, storage: str | Path, name: str):
    """The ``ray.tune.Tuner`` of one search (one of ``SEARCHES``) with search seed ``seed``; its
    state goes to ``storage/name``, where ``Tuner.restore`` finds it."""
    from ray import tune
    from ray.tune.search import BasicVariantGenerator

    if search not in SEARCHES:
        raise ValueError(f"search must be one of {SEARCHES}, got {search!r}")
    if search == "TPE + ASHA":
        from optuna.samplers import TPESampler
        from ray.tune.search.optuna import OptunaSearch

        searcher = OptunaSearch(
            sampler=TPESampler(seed=seed, n_startup_trials=max(4, plan.random_trials // 2))
        )
    else:
        searcher = BasicVariantGenerator(random_state=seed)
    early_stopping = search != "random"
    return tune.Tuner(
        trainable(data, plan, seed=seed),
        param_space=search_space(),
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode="max",
            search_alg=searcher,
            scheduler=asha(plan) if early_stopping else None,
            # without early stopping the budget buys random_trials whole trials; with it, as many
            # as the budget allows (the stopper ends the search)
            num_samples=plan.budget if early_stopping else plan.random_trials,
            reuse_actors=True,  # a trial after another in the same worker skips the start-up
        ),
        run_config=tune.RunConfig(
            name=name,
            storage_path=str(Path(storage).resolve()),
            stop=trial_epoch_budget(plan.budget, Path(storage).resolve() / name),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),  # fit's checkpoint holds it all
            verbose=0,
        ),
    )


def run_search(search: str, data: MNIST, plan: SearchPlan, *, seed: int, storage: str | Path, name: str):
    """Run (or, if ``storage/name`` holds an unfinished one, restore and finish) one search; return
    its ``ResultGrid``."""
    from ray import tune

    path = Path(storage).resolve() / name
    if tune.Tuner.can_restore(str(path)):
        tuner = tune.Tuner.restore(str(path), trainable=trainable(data, plan, seed=seed))
    else:
        tuner = make_tuner(search, data, plan, seed=seed, storage=storage, name=name)
    return tuner.fit()


def epochs_reported(results) -> list[dict]:
    """Every epoch every trial reported, in the order they were reported: trial, epoch, accuracy."""
    rows = []
    for index, result in enumerate(results):
        frame = result.metrics_dataframe
        if frame is None or METRIC not in frame:
            continue  # a trial the budget stopped before its first epoch
        for _, row in frame.iterrows():
            rows.append({"trial": index, "epoch": int(row["training_iteration"]),
                         METRIC: float(row[METRIC]), "at": float(row["reported_at"])})  # fmt: skip
    return sorted(rows, key=lambda row: row["at"])


def best_so_far(results) -> tuple[list[int], list[float]]:
    """The search's curve: trial-epochs spent (1, 2, ...) and the best validation accuracy so far."""
    spent, best, top = [], [], 0.0
    for count, row in enumerate(epochs_reported(results), start=1):
        top = max(top, row[METRIC])
        spent.append(count)
        best.append(top)
    return spent, best


def search_name(search: str, seed: int) -> str:
    """The folder of one search under the storage path: ``random-asha-seed0``."""
    return f"{search.lower().replace(' + ', '-')}-seed{seed}"


def start_ray(cpus: int, address: str | None = None) -> float:
    """Start a Ray instance on this machine with ``cpus`` CPUs (or join the cluster at
    ``address``, e.g. ``"auto"`` after ``ray start --head``); return the seconds it took."""
    import ray

    started = time.perf_counter()
    if address is None:
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False)
    else:
        ray.init(address=address, log_to_driver=False)
    return time.perf_counter() - started


def best_trial_model(results) -> tuple[dict, MLP]:
    """The trial with the best last validation accuracy: its settings and its model, loaded from
    the ``fit`` checkpoint it reported last."""
    from e2edl.train.checkpoint import load_checkpoint

    best = results.get_best_result(metric=METRIC, mode="max", scope="last")
    recipe = replace(TrialRecipe(), **{k: v for k, v in best.config.items()})
    with best.checkpoint.as_directory() as folder:
        state = load_checkpoint(Path(folder) / CHECKPOINT_NAME)
    model = MLP(28 * 28, [recipe.hidden], 10, dropout=recipe.dropout)
    model.load_state_dict(state["model"])
    return best.config, model.eval()
