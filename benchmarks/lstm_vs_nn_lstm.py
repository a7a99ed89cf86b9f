"""What PyTorch's fused LSTM kernels buy: our step-by-step ``e2edl.nn.rnn.LSTM`` against ``nn.LSTM``,
and a packed batch against two fused passes.

One Adam training step (forward, backward, update), medians over interleaved repeats after a
warm-up, denormals flushed to zero as the lesson's recipes do:

1. the character model's shape (batch 32, 128 characters, input 64, hidden 512, one direction,
   loss on every output): ``nn.LSTM`` vs ours;
2. the IMDb BiLSTM's shape (batch 64, reviews of 128–256 tokens, input 128, hidden 128 per
   direction, loss on the final states): ``nn.LSTM(bidirectional=True)`` over a packed batch, the
   classifier's two fused ``nn.LSTM`` passes over the padded batch (the same numbers), and the same
   two passes with our LSTM.

All compute the same values (``tests/test_rnn.py``, ``tests/test_text_classifiers.py``); they differ
in how: ours runs one small matrix product and a few element-wise operations per step from Python;
PyTorch's padded path runs one fused kernel per layer (oneDNN on a CPU, cuDNN on a GPU); its packed
path, on a CPU, has no fused backward.

Usage: ``python benchmarks/lstm_vs_nn_lstm.py [--threads 2] [--repeats 7] [--device cpu]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence

from e2edl.figures import Table
from e2edl.nn.rnn import LSTM
from e2edl.nn.text_classifiers import reverse_within_lengths
from e2edl.recipes.sequences import flush_denormals


def adam_step(parameters, loss_of):
    """A closure: one forward (``loss_of()``), backward and Adam update."""
    optimizer = torch.optim.Adam(list(parameters), lr=1e-3)

    def step() -> None:
        loss = loss_of()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    return step


def char_model_steps(device: torch.device) -> dict:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(32, 128, 64, generator=g).to(device)
    torch.manual_seed(0)
    theirs = nn.LSTM(64, 512, batch_first=True).to(device)
    ours = LSTM(64, 512, batch_first=True).to(device)
    ours.load_state_dict(theirs.state_dict())
    return {
        "nn.LSTM": adam_step(theirs.parameters(), lambda: theirs(x)[0].square().mean()),
        "ours": adam_step(ours.parameters(), lambda: ours(x)[0].square().mean()),
    }


def bilstm_steps(device: torch.device) -> dict:
    g = torch.Generator().manual_seed(0)
    batch, steps, width = 64, 256, 128
    x = torch.randn(batch, steps, width, generator=g).to(device)
    lengths = torch.randint(steps // 2, steps + 1, (batch,), generator=g)
    last = (lengths - 1).to(device).view(-1, 1, 1).expand(-1, 1, width)
    torch.manual_seed(0)
    packed_lstm = nn.LSTM(width, width, batch_first=True, bidirectional=True).to(device)

    def packed_loss():
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        _, (h_n, _) = packed_lstm(packed)
        return h_n.square().mean()

    def two_passes(cls):
        forward_lstm = cls(width, width, batch_first=True).to(device)
        backward_lstm = cls(width, width, batch_first=True).to(device)

        def loss():
            forward_out, _ = forward_lstm(x)
            backward_out, _ = backward_lstm(reverse_within_lengths(x, lengths))
            return (
                forward_out.gather(1, last).square().mean() + backward_out.gather(1, last).square().mean()
            ) / 2

        return adam_step([*forward_lstm.parameters(), *backward_lstm.parameters()], loss)

    return {
        "nn.LSTM, packed": adam_step(packed_lstm.parameters(), packed_loss),
        "nn.LSTM, two fused passes": two_passes(nn.LSTM),
        "ours, two passes": two_passes(LSTM),
    }


def seconds(step, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    step()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    rows = []
    with flush_denormals():
        for shape, steps in (
            ("char model: B 32, T 128, 64 → 512", char_model_steps(device)),
            ("IMDb BiLSTM: B 64, T 128–256, 128 → 2×128", bilstm_steps(device)),
        ):
            for step in steps.values():  # warm-up
                step()
            times: dict[str, list[float]] = {name: [] for name in steps}
            for _ in range(args.repeats):  # interleaved, so a slow moment of the machine hits all
                for name, step in steps.items():
                    times[name].append(seconds(step, device))
            fastest = min(statistics.median(t) for t in times.values())
            for name, values in times.items():
                median = statistics.median(values)
                rows.append({"shape": shape, "layer": name, "ms per step": 1000 * median,
                             "× the fastest": median / fastest})  # fmt: skip
    print(f"one Adam training step, median of {args.repeats}, {torch.get_num_threads()} threads, {device}")
    print(Table(rows, formats={"ms per step": ".1f", "× the fastest": ".2f"}))


if __name__ == "__main__":
    main()
