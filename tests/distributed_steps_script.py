"""A step-budget ``fit`` run (an endless ``RandomBatches`` sampler) for the distributed tests,
started alone or under ``torchrun``:

    torchrun --nproc-per-node 2 tests/distributed_steps_script.py RUN_DIR --steps 12 --eval-every 4

A tiny next-token model (an embedding and a linear layer, no dropout) on a fixed token sequence
(a pattern with 10% noise); the global batch is ``--batch-size`` windows, which each rank splits
(``e2edl.data.rank_shard.BatchSlices``). A step-interval schedule makes the scheduler's state
matter. It always resumes from ``RUN_DIR``'s checkpoint when there is one.
"""

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

sys.path.append(str(Path(__file__).resolve().parents[1] / "src"))  # last: PYTHONPATH and the install win

from e2edl.data.tensor_loader import TensorLoader  # noqa: E402
from e2edl.train import fit  # noqa: E402
from e2edl.train.batches import RandomBatches  # noqa: E402

VOCAB, BLOCK = 11, 8


class TokenLoss(nn.Module):
    """Cross-entropy over every position: (B, T, V) logits, (B, T) targets."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--eval-every", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=16, help="the global batch")
    args = parser.parse_args()

    generator = torch.Generator().manual_seed(123)
    ids = torch.arange(2000) * 3 % VOCAB  # a pattern a bigram model can learn ...
    noisy = torch.rand(2000, generator=generator) < 0.1  # ... with 10% of the tokens random
    ids[noisy] = torch.randint(VOCAB, (int(noisy.sum()),), generator=generator)  # (N,)
    batches = RandomBatches(ids, block_size=BLOCK, batch_size=args.batch_size, seed=7)
    starts = torch.arange(0, 64 * BLOCK, BLOCK)
    windows = ids[starts[:, None] + torch.arange(BLOCK + 1)]  # (64, T + 1): fixed validation windows
    val_loader = TensorLoader(windows[:, :-1], windows[:, 1:], batch_size=32)

    torch.manual_seed(0)  # the same initial weights on every rank
    model = nn.Sequential(nn.Embedding(VOCAB, 16), nn.Linear(16, VOCAB))  # (B, T) → (B, T, V)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=5, gamma=0.5)
    fit(
        model,
        batches,
        steps=args.steps,
        eval_every=args.eval_every,
        loss_fn=TokenLoss(),
        optimizer=optimizer,
        scheduler=scheduler,
        scheduler_interval="step",
        val_loader=val_loader,
        seed=1,
        run_dir=args.run_dir,
        resume=True,
        progress=False,
    )


if __name__ == "__main__":
    main()
