"""A small ``fit`` run for the distributed tests, started alone or under ``torchrun``.

    torchrun --nproc-per-node 2 tests/distributed_train_script.py RUN_DIR [--slow S] [--strategy fsdp]

It always resumes from ``RUN_DIR``'s checkpoint when there is one, as a job under
``torchrun --max-restarts`` must: a restarted group continues where the checkpoint left off.
Dropout and a noise augmentation drawn from the global RNG make each rank's random state matter,
shuffling the data order, a schedule the scheduler's state. Each worker writes its pid to
``RUN_DIR/pids/rank{R}.attempt{A}`` (A: torchrun's restart count) so a test can kill one.
``--slow`` sleeps per batch so that the test can kill a worker in the middle of an epoch.
"""

import argparse
import os
import sys
import time
from pathlib import Path

import torch
from torch import nn

sys.path.append(str(Path(__file__).resolve().parents[1] / "src"))  # last: PYTHONPATH and the install win

from e2edl.data.tensor_loader import TensorLoader  # noqa: E402
from e2edl.train import fit  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--batch-size", type=int, default=32, help="the global batch")
    parser.add_argument("--dropout", type=float, default=0.3)
    parser.add_argument("--noise", type=float, default=0.05, help="augmentation noise from the global RNG")
    parser.add_argument("--strategy", default="ddp")
    parser.add_argument("--slow", type=float, default=0.0, help="seconds to sleep per batch")
    args = parser.parse_args()

    rank, attempt = os.environ.get("RANK", "0"), os.environ.get("TORCHELASTIC_RESTART_COUNT", "0")
    pids = args.run_dir / "pids"
    pids.mkdir(parents=True, exist_ok=True)
    (pids / f"rank{rank}.attempt{attempt}").write_text(str(os.getpid()))

    torch.manual_seed(123)
    x = torch.randn(512, 16)
    y = (x @ torch.randn(16, 3)).argmax(dim=1)

    def augment(batch):
        time.sleep(args.slow)
        inputs, targets = batch
        return inputs + args.noise * torch.randn_like(inputs), targets

    loader = TensorLoader(x, y, batch_size=args.batch_size, shuffle=True, seed=7, transform=augment)
    torch.manual_seed(0)  # the same initial weights on every rank (DDP would broadcast rank 0's anyway)
    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Dropout(args.dropout), nn.Linear(64, 3))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    fit(
        model,
        loader,
        epochs=args.epochs,
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=optimizer,
        scheduler=scheduler,
        val_loader=TensorLoader(x[:128], y[:128], batch_size=64),
        seed=1,
        run_dir=args.run_dir,
        resume=True,
        progress=False,
        eval_every=5,
        strategy=args.strategy,
    )


if __name__ == "__main__":
    main()
