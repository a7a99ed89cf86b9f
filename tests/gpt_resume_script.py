"""A small GPT trained for a step budget, for the resume test:
``python gpt_resume_script.py RUN_DIR [--resume] [--slow SECONDS]``.

It goes through the gpt lesson's own recipe (``train_gpt``): random windows drawn by a checkpointed
sampler, dropout (the global RNG), AdamW and a warm-up + cosine schedule — a resume that forgets
any of them ends with other weights. ``--slow`` sleeps after each optimizer step, so the test can
kill the process between two checkpoints.
"""

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from e2edl.data.text_windows import CharSplits  # noqa: E402
from e2edl.recipes.gpt import NANOGPT_CPU, train_gpt  # noqa: E402

STEPS = 40


def text() -> str:
    """A made-up text with something to learn: words from a small list, in a seeded order."""
    g = torch.Generator().manual_seed(0)
    words = ["to", "be", "or", "not", "that", "is", "the", "question", "whether", "tis", "nobler"]
    return " ".join(words[i] for i in torch.randint(len(words), (3000,), generator=g).tolist())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--slow", type=float, default=0.0, help="seconds to sleep after each step")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.slow:
        register_optimizer_step_post_hook(lambda *_: time.sleep(args.slow))
    data = CharSplits.of(text())
    model = replace(NANOGPT_CPU.model, vocab_size=len(data.vocabulary), block_size=16, n_layer=2, n_embd=32,
                    dropout=0.1)  # fmt: skip
    recipe = replace(NANOGPT_CPU, model=model, steps=STEPS, batch_size=4, warmup_steps=5, eval_every=5)
    train_gpt(data, recipe, run_dir=args.run_dir, resume=args.resume, progress=False, seed=1)


if __name__ == "__main__":
    main()
