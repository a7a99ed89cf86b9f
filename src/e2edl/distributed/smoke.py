"""Does each parallelism run here? A 2-process check of FSDP2, DTensor tensor parallelism and
``torch.distributed.pipelining`` (GPipe and 1F1B) on this machine's backend (gloo on a CPU).

:func:`check` runs in every rank of a ``LocalGroup`` and returns, for each piece, ``"ok"`` or
the exact error it raised (its type and first line), so a lesson can show what runs and skip
what does not with the reason — instead of faking it. Measured on PyTorch 2.14 with gloo on a
CPU: all four run.
"""

from __future__ import annotations

import torch

from e2edl.distributed import fsdp, pipeline, tensor_parallel
from e2edl.distributed.gpt_data_parallel import GPTRun
from e2edl.nn.gpt import GPTConfig

SMOKE_GPT = GPTConfig(vocab_size=32, block_size=8, n_layer=2, n_head=2, n_embd=16, dropout=0.0)
PIECES = ("fsdp2", "tensor_parallel", "pipeline_gpipe", "pipeline_1f1b")


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def check(pieces: tuple[str, ...] = PIECES) -> dict[str, str]:
    """Worker: run each piece on a tiny GPT for two steps; ``{piece: "ok" or the error}``."""
    ids = torch.randint(SMOKE_GPT.vocab_size, (500,), generator=torch.Generator().manual_seed(0))
    run = GPTRun(config=SMOKE_GPT, global_batch=4, steps=2)
    runs = {
        "fsdp2": lambda: fsdp.losses(ids, run, "fsdp"),
        "tensor_parallel": lambda: tensor_parallel.compare_with_single_device(SMOKE_GPT),
        "pipeline_gpipe": lambda: pipeline.train_pipeline(ids, run, "gpipe", 2),
        "pipeline_1f1b": lambda: pipeline.train_pipeline(ids, run, "1f1b", 2),
    }
    report = {}
    for piece in pieces:
        try:
            runs[piece]()
            report[piece] = "ok"
        except Exception as error:  # the reason is the result: shown, then skipped
            report[piece] = _first_line(error)
    return report
