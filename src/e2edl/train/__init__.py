"""Training: one ``fit`` for every lesson, plus evaluation, checkpoints, seeding and devices."""

from e2edl.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from e2edl.train.device import pick_device
from e2edl.train.fit import CHECKPOINT_NAME, History, TrainingDiverged, evaluate, fit
from e2edl.train.metrics_log import MetricsLog
from e2edl.train.seeding import get_rng_state, seed_everything, set_rng_state

__all__ = [
    "CHECKPOINT_NAME",
    "CheckpointError",
    "History",
    "MetricsLog",
    "TrainingDiverged",
    "evaluate",
    "fit",
    "get_rng_state",
    "load_checkpoint",
    "pick_device",
    "save_checkpoint",
    "seed_everything",
    "set_rng_state",
]
