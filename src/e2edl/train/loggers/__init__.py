"""Where ``fit``'s records go besides ``metrics.jsonl``: TensorBoard, W&B, or a logger of your own.

Nothing here imports a tracker until a logger starts: ``import e2edl.train.loggers`` costs nothing.

    from e2edl.train.loggers import TensorBoardLogger, WandbLogger
    fit(..., run_dir="runs/adamw", loggers=[TensorBoardLogger(), WandbLogger(name="adamw")])
"""

from e2edl.train.loggers.protocol import Logger, RunInfo, flat_config, numeric
from e2edl.train.loggers.samples import PredictionSamples
from e2edl.train.loggers.tensorboard import TensorBoardLogger, read_scalars, read_tags
from e2edl.train.loggers.wandb import WandbLogger, wandb_mode
from e2edl.train.loggers.wandb_offline import (
    OfflineRun,
    read_offline_run,
    read_runs,
    run_folders,
    transaction_log,
)

__all__ = [
    "Logger",
    "OfflineRun",
    "PredictionSamples",
    "RunInfo",
    "TensorBoardLogger",
    "WandbLogger",
    "flat_config",
    "numeric",
    "read_offline_run",
    "read_runs",
    "read_scalars",
    "read_tags",
    "run_folders",
    "transaction_log",
    "wandb_mode",
]
