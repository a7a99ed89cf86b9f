"""What a lesson is to the library: a name, a title, its data, its claims and its experiment."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from e2edl.course.claims import Claim
from e2edl.progress import progress_enabled


@dataclass
class RunConfig:
    """Everything ``e2edl run`` passes to a lesson's experiment.

    ``epochs=None`` means the lesson's own default for the mode; ``device=None`` means auto-pick
    (cuda → mps → cpu). ``out`` is the run folder: the experiment writes figures and checkpoints there.
    """

    out: Path
    quick: bool = False
    device: str | None = None
    epochs: int | None = None
    seed: int = 0
    resume: bool = False
    progress: bool = True
    tensorboard: bool = False

    def __post_init__(self) -> None:
        self.progress = progress_enabled(self.progress)  # E2EDL_PROGRESS=0 switches every bar off

    def fit_options(self, run_name: str) -> dict:
        """The keyword arguments of ``e2edl.train.fit`` that come from this run's settings.

        Each training in a lesson gets its own folder, ``out/run_name``, for its checkpoint and log.
        """
        return {
            "device": self.device,
            "seed": self.seed,
            "run_dir": self.out / run_name,
            "resume": self.resume,
            "progress": self.progress,
            "tensorboard": self.tensorboard,
        }

    @property
    def mode(self) -> str:
        return "quick" if self.quick else "full"


@dataclass(frozen=True)
class Lesson:
    """A registered lesson.

    ``run(cfg)`` runs the experiment and returns ``{"metrics": {name: number}, "figures": {name:
    matplotlib Figure}, "tables": {name: e2edl.figures.Table}}``; the runner saves the figures and
    tables into ``cfg.out`` and hands the objects to the notebook. Extra keys are kept in
    ``result.json`` under ``details``. ``number`` is set by the registry from the course order.
    """

    name: str
    title: str
    datasets: tuple[str, ...]
    claims: tuple[Claim, ...]
    run: Callable[[RunConfig], dict] = field(repr=False)
    number: int = 0

    @property
    def stem(self) -> str:
        """``NN_name``: the file name of the lesson's source and notebook."""
        return f"{self.number:02d}_{self.name.replace('-', '_')}"

    @property
    def notebook(self) -> str:
        return f"notebooks/{self.stem}.ipynb"

    @property
    def source(self) -> str:
        return f"lessons/{self.stem}.py"
