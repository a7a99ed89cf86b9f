"""A small training run for the resume test: ``python resume_script.py RUN_DIR [--resume] [--loader ...]``.

Dropout, shuffling and a learning-rate schedule make every random-number generator, the data
order and the scheduler matter, so a resume that forgets any of them ends with other weights.
``--slow`` sleeps a little per batch so the test can kill the process in the middle of an epoch.
"""

import argparse
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset, default_collate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from e2edl.data.tensor_loader import TensorLoader  # noqa: E402
from e2edl.train import fit  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("run_dir")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--loader", choices=["tensor", "dataloader"], default="tensor")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--slow", type=float, default=0.0, help="seconds to sleep per batch")
    args = parser.parse_args()
    torch.set_num_threads(1)

    torch.manual_seed(123)
    x = torch.randn(1024, 16)
    y = (x @ torch.randn(16, 3)).argmax(dim=1)

    def slow(batch):
        """Sleep (so the test can kill mid-epoch) and add noise drawn from torch's global RNG (an augmentation)."""
        time.sleep(args.slow)
        x, y = batch
        return x + 0.05 * torch.randn_like(x), y

    if args.loader == "tensor":
        loader = TensorLoader(x, y, batch_size=32, shuffle=True, seed=7, transform=slow)
    else:  # order drawn from torch's global RNG, which the checkpoint restores
        collate = lambda samples: slow(default_collate(samples))
        loader = DataLoader(TensorDataset(x, y), batch_size=32, shuffle=True, collate_fn=collate)

    model = nn.Sequential(nn.Linear(16, 64), nn.ReLU(), nn.Dropout(0.3), nn.Linear(64, 3))
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    fit(
        model,
        loader,
        epochs=args.epochs,
        loss_fn=nn.CrossEntropyLoss(),
        optimizer=optimizer,
        scheduler=scheduler,
        val_loader=TensorLoader(x[:256], y[:256], batch_size=128),
        seed=1,
        run_dir=args.run_dir,
        resume=args.resume,
        progress=False,
        eval_every=10,
    )


if __name__ == "__main__":
    main()
