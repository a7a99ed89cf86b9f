"""Waiting for a training process to reach a checkpoint, for the kill-and-resume tests.

A run logs its record a moment *before* it writes that record's checkpoint, so "two epochs in the
log" does not mean "epoch 2 on disk": on a slow machine the kill can land in between, and the run
then resumes from an earlier checkpoint than the test meant. Waiting on the checkpoint itself has no
such gap. The file is replaced by a rename, so reading it while the run writes the next is safe.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import torch


def checkpointed(path: Path, key: str) -> int:
    """``key`` ("epoch" or "step") of the checkpoint at ``path``; 0 when there is none yet."""
    try:
        return int(torch.load(path, weights_only=True, map_location="cpu")[key])
    except FileNotFoundError:
        return 0


def wait_for_checkpoint(
    path: Path, key: str, at_least: float, process: subprocess.Popen, timeout: float
) -> None:
    """Poll until the checkpoint's ``key`` reaches ``at_least`` (a re-read only when the file
    changed); fail, saying why, if the process ends first or ``timeout`` seconds pass."""
    deadline, seen = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read()[-2000:] if process.stderr else ""
            raise AssertionError(
                f"the process ended (exit {process.returncode}) before {key} {at_least}: {error}"
            )
        try:
            stamp = path.stat().st_mtime_ns
        except FileNotFoundError:
            stamp = None
        if stamp is not None and stamp != seen:
            seen = stamp
            if checkpointed(path, key) >= at_least:
                return
        time.sleep(0.05)
    raise AssertionError(f"no checkpoint with {key} >= {at_least} in {path} within {timeout:.0f} s")
