"""The oracle for ``e2edl.nn.rnn``: our recurrent layers against PyTorch's on random cases, in float64.

``oracle_differences(kind, seed)`` builds a random configuration (sizes, layers, directions,
batch-first or not), loads PyTorch's weights into ours, runs both on the same input and initial
state, backpropagates the same random loss through both, and returns the largest differences of
the outputs, the final states and the gradients (input, initial state, every weight).
``packed_differences(kind, seed)`` checks the packed path: every sequence of a packed batch gets
what it gets when run alone. ``tests/test_rnn.py`` and the sequences lesson both use them.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from e2edl.nn.rnn import GRU, LSTM, RNN

PAIRS = {"rnn": (RNN, nn.RNN), "lstm": (LSTM, nn.LSTM), "gru": (GRU, nn.GRU)}


def _parts(state) -> tuple[torch.Tensor, ...]:
    return tuple(state) if isinstance(state, tuple) else (state,)


def _largest(a, b) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(_parts(a), _parts(b), strict=True))


def twins(kind: str, input_size: int, hidden_size: int, **options) -> tuple[nn.Module, nn.Module]:
    """``(ours, pytorch's)`` in float64, ours holding a copy of PyTorch's freshly initialised weights."""
    ours_cls, theirs_cls = PAIRS[kind]
    theirs = theirs_cls(input_size, hidden_size, **options).double()
    ours = ours_cls(input_size, hidden_size, **options).double()
    ours.load_state_dict(theirs.state_dict())
    return ours, theirs


def oracle_differences(kind: str, seed: int) -> dict[str, float]:
    """Largest |ours − PyTorch's| over outputs, final states and gradients, for one random case."""
    g = torch.Generator().manual_seed(seed)
    size = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=g))
    options = dict(num_layers=size(1, 3), bidirectional=bool(size(0, 1)), batch_first=bool(size(0, 1)))
    seq, batch, inputs, hidden = size(1, 8), size(1, 4), size(1, 6), size(1, 6)
    ours, theirs = twins(kind, inputs, hidden, **options)
    shape = (batch, seq, inputs) if options["batch_first"] else (seq, batch, inputs)
    state_shape = (options["num_layers"] * (2 if options["bidirectional"] else 1), batch, hidden)
    x = torch.randn(shape, generator=g, dtype=torch.float64)
    h0 = [
        torch.randn(state_shape, generator=g, dtype=torch.float64) for _ in range(2 if kind == "lstm" else 1)
    ]
    loss_weights = None
    results = []
    for model in (ours, theirs):
        x_leaf = x.clone().requires_grad_(True)
        h_leaves = [h.clone().requires_grad_(True) for h in h0]
        output, final = model(x_leaf, tuple(h_leaves) if kind == "lstm" else h_leaves[0])
        if loss_weights is None:  # a random linear loss of every output and final state
            loss_weights = [
                torch.randn(t.shape, generator=g, dtype=torch.float64) for t in (output, *_parts(final))
            ]
        loss = sum((t * w).sum() for t, w in zip((output, *_parts(final)), loss_weights))
        leaves = [x_leaf, *h_leaves, *model.parameters()]
        grads = torch.autograd.grad(loss, leaves, allow_unused=True)  # a broken layer may ignore an input
        grads = [torch.zeros_like(leaf) if grad is None else grad for leaf, grad in zip(leaves, grads)]
        results.append((output.detach(), tuple(f.detach() for f in _parts(final)), grads))
    (out, final, grads), (out2, final2, grads2) = results
    return {
        "output": _largest(out, out2),
        "final_state": _largest(final, final2),
        "gradient": max(float((a - b).abs().max()) for a, b in zip(grads, grads2, strict=True)),
    }


@torch.no_grad()
def packed_differences(kind: str, seed: int) -> float:
    """Largest difference between each sequence of a packed batch (through PyTorch's layer and ours)
    and the same sequence run alone through PyTorch's: outputs and final states."""
    g = torch.Generator().manual_seed(seed)
    batch = int(torch.randint(2, 6, (1,), generator=g))
    lengths = torch.randint(1, 9, (batch,), generator=g)
    x = torch.randn(batch, int(lengths.max()), 3, generator=g, dtype=torch.float64)
    ours, theirs = twins(kind, 3, 4, num_layers=2, bidirectional=True, batch_first=True)
    worst = 0.0
    for model in (theirs, ours):
        packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
        out, final = model(packed)
        out, _ = pad_packed_sequence(out, batch_first=True)
        for row, length in enumerate(lengths.tolist()):
            alone_out, alone_final = theirs(x[row : row + 1, :length])
            worst = max(worst, float((out[row, :length] - alone_out[0]).abs().max()))
            worst = max(worst, _largest(tuple(f[:, row] for f in _parts(final)),
                                        tuple(f[:, 0] for f in _parts(alone_final))))  # fmt: skip
    return worst
