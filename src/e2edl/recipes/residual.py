"""The residual lesson's recipe: a plain or a residual ``DeepCNN`` trained on Fashion-MNIST.

Every network of the lesson's depth study is trained by :func:`train_deep_cnn` with the same
settings — SGD with Nesterov momentum, a one-cycle learning rate peaking at 0.1, weight decay
5e-4, batches of 128 — and the same seed, so a plain network and a residual one of the same depth
start from the same weights, see the same batches, and differ only in the ``+ x``.
:class:`DepthStudy` says which networks the lesson trains and on how much data.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass

import torch
from torch import nn

from e2edl.data.mnist import MNIST
from e2edl.nn.plain_residual import DeepCNN
from e2edl.train.fit import fit
from e2edl.train.history import History
from e2edl.train.record_every import record_every


@dataclass(frozen=True)
class DeepCNNRecipe:
    """One network of the study and how it is trained. Change a setting with ``dataclasses.replace``."""

    depth: int = 20  # weighted layers, 6n + 2
    residual: bool = True  # False: the same network without the shortcuts
    width: int = 8  # channels of the first stage (then 2×, 4×)
    epochs: int = 2
    batch_size: int = 128
    lr: float = 0.1  # the peak of the one-cycle schedule
    momentum: float = 0.9  # Nesterov
    weight_decay: float = 5e-4
    warmup: float = 0.2  # share of the steps spent raising the learning rate

    @property
    def name(self) -> str:
        """``plain-44-2ep``: the run folder's name, and the network's name in tables and figures."""
        return f"{'residual' if self.residual else 'plain'}-{self.depth}-{self.epochs}ep"


def build_deep_cnn(recipe: DeepCNNRecipe, seed: int = 0) -> DeepCNN:
    """The recipe's network at initialisation. The same seed gives a plain and a residual network
    of the same depth exactly the same starting weights."""
    torch.manual_seed(seed)
    return DeepCNN(recipe.depth, residual=recipe.residual, width=recipe.width)


def train_deep_cnn(
    data: MNIST, recipe: DeepCNNRecipe, *, run_dir=None, seed: int = 0, **fit_options
) -> tuple[DeepCNN, History]:
    """Train the recipe's network on ``data``'s training images; returns ``(model, history)``.

    The history's records are training losses, three per epoch: degradation is about how well a
    network fits its *training* data. Validation and test accuracy are measured afterwards.
    ``fit_options`` go to :func:`e2edl.train.fit` (``progress``, ``resume``, ``device``, ...).
    """
    model = build_deep_cnn(recipe, seed)
    loader = data.train_loader(recipe.batch_size, seed=seed)
    optimizer = torch.optim.SGD(model.parameters(), lr=recipe.lr, momentum=recipe.momentum,
                                nesterov=True, weight_decay=recipe.weight_decay)  # fmt: skip
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=recipe.lr, pct_start=recipe.warmup,
                                                    total_steps=recipe.epochs * len(loader))  # fmt: skip
    history = fit(
        model,
        loader,
        epochs=recipe.epochs,
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=optimizer,
        scheduler=scheduler,
        scheduler_interval="step",
        eval_every=record_every(len(loader)),
        run_dir=run_dir,
        seed=seed,
        config=asdict(recipe),
        **fit_options,
    )
    return model, history


@dataclass(frozen=True)
class DepthStudy:
    """Which networks the lesson trains, on how many images.

    Every depth is trained plain and residual for ``epochs``. With ``long_epochs``, the shallowest
    and the deepest *plain* networks are trained once more, from the same start, for that many
    epochs: does the deep network's deficit shrink with a longer budget (slow convergence) or
    stay (degradation)?
    """

    depths: tuple[int, ...]
    train_images: int
    val_images: int
    test_images: int
    epochs: int
    long_epochs: int | None = None

    def recipes(self, base: DeepCNNRecipe = DeepCNNRecipe()) -> list[DeepCNNRecipe]:
        """Every network to train, in order: each depth plain then residual, then the long runs."""
        runs = [dataclasses.replace(base, depth=depth, residual=residual, epochs=self.epochs)
                for depth in self.depths for residual in (False, True)]  # fmt: skip
        if self.long_epochs:
            runs += [dataclasses.replace(base, depth=depth, residual=False, epochs=self.long_epochs)
                     for depth in (min(self.depths), max(self.depths))]  # fmt: skip
        return runs


QUICK_STUDY = DepthStudy(depths=(8, 20), train_images=5000, val_images=2000, test_images=2000, epochs=1)
FULL_STUDY = DepthStudy(depths=(8, 20, 44), train_images=15000, val_images=5000, test_images=10000,
                        epochs=2, long_epochs=6)  # fmt: skip


def load_fashion(study: DepthStudy) -> MNIST:
    """Fashion-MNIST for the study: the first ``train_images`` of the training part, the first
    ``val_images`` of the validation part (carved from the training file, never trained on) and
    the first ``test_images`` of the test set."""
    data = MNIST.load(name="fashion-mnist", train_subset=study.train_images)
    return dataclasses.replace(
        data,
        x_val=data.x_val[: study.val_images],
        y_val=data.y_val[: study.val_images],
        x_test=data.x_test[: study.test_images],
        y_test=data.y_test[: study.test_images],
    )
