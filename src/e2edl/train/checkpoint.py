"""Checkpoints written atomically and read back safely (``weights_only=True``: no code runs)."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from e2edl.atomic import atomic_write


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be read; the message says what to do."""


def save_checkpoint(state: dict, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temp file beside ``path``, then rename: a kill mid-write leaves the old one."""
    path = Path(path)
    with atomic_write(path, "wb") as f:
        torch.save(state, f)
    return path


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no checkpoint at {path}; run without --resume to start afresh")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # torch raises several types for a damaged file
        first_line = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise CheckpointError(
            f"checkpoint {path} cannot be read ({first_line}); delete it and run without --resume"
        ) from error


def check_same_config(path: Path, saved: dict | None, wanted) -> None:
    """A checkpoint continues only the recipe that wrote it: name every setting that differs."""
    if saved is None or wanted is None:
        return
    wanted = dict(wanted)
    if saved == wanted:
        return
    keys = sorted(set(saved) | set(wanted), key=str)
    missing = object()
    differences = [
        f"{key}: {saved.get(key, missing)!r} in the checkpoint, {wanted.get(key, missing)!r} now"
        for key in keys
        if saved.get(key, missing) != wanted.get(key, missing)
    ]
    differences = [d.replace(repr(missing), "(absent)") for d in differences]
    raise CheckpointError(
        f"checkpoint {path} was written by another configuration ({'; '.join(differences)}); "
        "use another run folder, or delete this one to start afresh"
    )
