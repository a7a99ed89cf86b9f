"""Weights & Biases, offline first: compute nodes often have no internet, so a run writes its
folder locally and ``wandb sync FOLDER`` uploads it later from a machine that has.

The run lives in ``run_dir/wandb/offline-run-<time>-<id>/`` (``run-...`` when online): its
settings (config), one history row per record, the summary (last values), the final checkpoint
as a *model artifact*, and a table of sample predictions. A resumed ``fit`` continues the *same*
W&B run: the id is kept in ``run_dir/wandb/run_id``, and the steps go on from the checkpoint's.
Offline, each part of a resumed run is a folder of its own with the same id; ``wandb sync`` of
all of them uploads one run.
"""

from __future__ import annotations

import netrc
import os
import secrets
import socket
import string
from pathlib import Path
from urllib.parse import urlparse

from e2edl.atomic import write_text
from e2edl.train.loggers.protocol import RunInfo, numeric
from e2edl.train.loggers.samples import PredictionSamples
from e2edl.train.loggers.wandb_offline import RUN_ID_FILE

DEFAULT_HOST = "https://api.wandb.ai"


def wandb_mode(timeout: float = 2.0) -> str:
    """``WANDB_MODE`` when it is set; otherwise ``"online"`` only with an API key (``WANDB_API_KEY``
    or ``wandb login``'s ``~/.netrc`` entry) *and* the server answering within ``timeout`` seconds,
    else ``"offline"``. Without a key nothing is sent over the network to decide."""
    mode = os.environ.get("WANDB_MODE")
    if mode:
        return "offline" if mode == "dryrun" else mode
    host = urlparse(os.environ.get("WANDB_BASE_URL", DEFAULT_HOST)).hostname or "api.wandb.ai"
    if not _has_api_key(host):
        return "offline"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return "offline"
    return "online"


def _has_api_key(host: str) -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    path = os.environ.get("NETRC", os.path.expanduser("~/.netrc"))
    try:
        return netrc.netrc(path).authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def new_run_id(length: int = 8) -> str:
    """A fresh W&B run id: lower-case letters and digits, as W&B makes them."""
    return "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(length))


class WandbLogger:
    """``fit(..., loggers=[WandbLogger(project="my-project", name="adamw")])``.

    ``mode``: ``"offline"``, ``"online"`` or ``"disabled"``; ``None`` asks :func:`wandb_mode`.
    ``samples``: a table of sample predictions logged at the end. ``log_checkpoint``: the final
    ``checkpoint.pt`` as an artifact of type ``model`` (offline, W&B copies it into its staging
    folder, ``$WANDB_DATA_DIR``, until ``wandb sync`` uploads it).
    """

    def __init__(
        self,
        project: str = "e2edl",
        name: str | None = None,
        *,
        mode: str | None = None,
        group: str | None = None,
        tags: tuple[str, ...] = (),
        samples: PredictionSamples | None = None,
        log_checkpoint: bool = True,
        wandb_dir: str | Path | None = None,
    ) -> None:
        self.project, self.name, self.mode, self.group, self.tags = project, name, mode, group, tags
        self.samples = samples
        self.log_checkpoint = log_checkpoint
        self.wandb_dir = Path(wandb_dir) if wandb_dir is not None else None
        self.run = None
        self.last_step = 0

    def start(self, run: RunInfo) -> None:
        try:
            import wandb
        except ImportError:
            raise ImportError("W&B logging needs the wandb package: pip install 'e2edl[tracking]'") from None
        folder = self.wandb_dir or run.run_dir
        if folder is None:
            raise ValueError("W&B logging needs a run folder (run_dir) or a wandb_dir")
        # The id lives with the run (its checkpoint's folder), even when W&B writes elsewhere.
        id_file = Path(run.run_dir or folder) / "wandb" / RUN_ID_FILE
        # A resumed fit continues the run it interrupted; a fresh one starts a new W&B run.
        run_id = id_file.read_text().strip() if run.resumed and id_file.is_file() else new_run_id()
        id_file.parent.mkdir(parents=True, exist_ok=True)
        write_text(id_file, run_id + "\n")
        self.model = run.model
        self.run = wandb.init(
            project=self.project,
            name=self.name,
            group=self.group,
            tags=list(self.tags),
            id=run_id,
            resume="allow",
            config=run.config or {},
            dir=str(folder),
            mode=self.mode or wandb_mode(),
            reinit="create_new",
            settings=wandb.Settings(
                console="off",  # leave the notebook's output alone
                disable_git=True,
                save_code=False,
                x_disable_stats=True,  # no system-metrics sampler beside a CPU-bound run
                silent=True,
            ),
        )

    def log(self, record: dict) -> None:
        if self.run is None:
            raise RuntimeError("WandbLogger.log before start: pass it to fit(loggers=[...])")
        self.last_step = record.get("step", self.last_step)
        self.run.log(numeric(record, skip=("step",)), step=self.last_step)

    def finish(self, checkpoint: Path | None) -> None:
        import wandb

        if self.samples is not None and self.model is not None:
            table = wandb.Table(columns=["example", "true", "predicted", "confidence", "correct"])
            for row in self.samples.rows(self.model):
                shown = row["shown"]
                example = shown if isinstance(shown, str) else wandb.Image(_as_picture(shown))
                table.add_data(example, row["true"], row["predicted"], row["confidence"], row["correct"])
            self.run.log({"predictions": table}, step=self.last_step)
        if checkpoint is not None and self.log_checkpoint and Path(checkpoint).is_file():
            artifact = wandb.Artifact(f"model-{self.run.id}", type="model", metadata={"step": self.last_step})
            artifact.add_file(str(checkpoint))
            self.run.log_artifact(artifact)
        self.run.finish(exit_code=0)
        self.run = None

    def close(self) -> None:
        """After an error or an interrupted run: the run ends marked failed (exit code 1)."""
        if self.run is not None:
            self.run.finish(exit_code=1)
            self.run = None


def _as_picture(image):
    """A (H, W) or (C, H, W) tensor → a NumPy array W&B takes as an image, (H, W) or (H, W, C)."""
    array = image.detach().cpu()
    if array.ndim == 3:
        array = array.squeeze(0) if array.shape[0] == 1 else array.permute(1, 2, 0)
    return array.numpy()
