"""The data-parallel lesson's recipe: the character-level GPT trained by one process on the global
batch and by DDP on 2 processes, the same batches, the same start.

``train_gpt_both_ways`` is what the notebook calls in the open and what the experiment calls
again: with a ``run_dir`` it stores the two loss curves there with the run's settings
(``losses.json``) and hands them back instead of training again when asked for the same run.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch

from e2edl.atomic import write_text
from e2edl.data.text_windows import CharSplits
from e2edl.data.tinyshakespeare import load_tinyshakespeare
from e2edl.distributed.gpt_data_parallel import TINY_GPT, GPTRun, train_gpt_ddp, train_gpt_single
from e2edl.distributed.local_group import LocalGroup

QUICK_GPT = GPTRun(config=TINY_GPT, global_batch=16, steps=40)  # 2 layers, 64 wide, 32 characters of context
FULL_GPT = GPTRun(config=TINY_GPT, global_batch=16, steps=300)


def character_ids() -> torch.Tensor:
    """Tiny Shakespeare's training part (nanoGPT's first 90%) as ids of its 65 characters."""
    return CharSplits.of(load_tinyshakespeare()).train_ids


def train_gpt_both_ways(
    ids: torch.Tensor,
    run: GPTRun,
    group: LocalGroup,
    *,
    run_dir: str | Path | None = None,
    resume: bool = True,
) -> dict:
    """``{"single": losses, "ddp": losses}``: one process on the global batch, then DDP on the
    group's ranks, each rank its slice of every global batch (``e2edl.distributed.gpt_data_parallel``).
    With ``resume``, curves already in ``run_dir`` for the same settings are returned as they are."""
    settings = {"run": asdict(run), "world_size": group.world_size, "tokens": len(ids)}
    path = Path(run_dir) / "losses.json" if run_dir is not None else None
    if resume and path is not None and path.is_file():
        saved = json.loads(path.read_text())
        if saved["settings"] == json.loads(json.dumps(settings)):
            return saved["losses"]
    losses = {"single": train_gpt_single(ids, run), "ddp": group.run(train_gpt_ddp, ids, run)[0]}
    if path is not None:
        write_text(path, json.dumps({"settings": settings, "losses": losses}))
    return losses
