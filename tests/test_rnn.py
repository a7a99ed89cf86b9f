"""The recurrent layers written from their equations equal PyTorch's, and packing does what it says.

Oracle: with the same weights (loaded both ways through ``state_dict``), ``e2edl.nn.rnn``'s RNN,
LSTM and GRU give PyTorch's outputs, final states and gradients (of the input, the initial state
and every weight) to 1e-12 in float64, for random sizes, layer counts and directions; for a
packed batch, each sequence gets exactly what it gets when run alone.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from e2edl.nn.rnn import GRU, LSTM, RNN

pytestmark = pytest.mark.usefixtures("one_thread")

PAIRS = {"rnn": (RNN, nn.RNN), "lstm": (LSTM, nn.LSTM), "gru": (GRU, nn.GRU)}
TOL = 1e-12


def initial_state(kind: str, layers: int, directions: int, batch: int, hidden: int, g: torch.Generator):
    shape = (layers * directions, batch, hidden)
    h = torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True)
    if kind == "lstm":
        return h, torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True)
    return h


def leaves(hx) -> tuple[torch.Tensor, ...]:
    return tuple(hx) if isinstance(hx, tuple) else (hx,)


def clone_leaves(hx):
    cloned = tuple(t.detach().clone().requires_grad_() for t in leaves(hx))
    return cloned if isinstance(hx, tuple) else cloned[0]


def max_difference(a, b) -> float:
    return max((x - y).abs().max().item() for x, y in zip(leaves(a), leaves(b)))


def backward(output, final, seed: int) -> None:
    """A loss that reads every output and every final state, with random weights so nothing cancels."""
    g = torch.Generator().manual_seed(seed)
    loss = (output * torch.randn(output.shape, generator=g, dtype=output.dtype)).sum()
    for part in leaves(final):
        loss = loss + (part * torch.randn(part.shape, generator=g, dtype=part.dtype)).sum()
    loss.backward()


@pytest.mark.parametrize("kind", PAIRS)
@pytest.mark.parametrize("case", range(4))
def test_outputs_states_and_gradients_equal_pytorchs(kind: str, case: int) -> None:
    g = torch.Generator().manual_seed(100 * case + len(kind))
    size = lambda lo, hi: int(torch.randint(lo, hi + 1, (1,), generator=g))
    layers, bidirectional, batch_first = size(1, 3), bool(case % 2), case >= 2
    seq, batch, inputs, hidden = size(1, 7), size(1, 4), size(1, 6), size(1, 5)
    options = dict(num_layers=layers, bidirectional=bidirectional, batch_first=batch_first)
    ours_cls, theirs_cls = PAIRS[kind]
    theirs = theirs_cls(inputs, hidden, **options).double()
    ours = ours_cls(inputs, hidden, **options).double()
    ours.load_state_dict(theirs.state_dict())  # PyTorch's weights into ours (the other way below)

    shape = (batch, seq, inputs) if batch_first else (seq, batch, inputs)
    x = torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True)
    hx = initial_state(kind, layers, 2 if bidirectional else 1, batch, hidden, g)
    x2, hx2 = x.detach().clone().requires_grad_(), clone_leaves(hx)

    out, final = ours(x, hx)
    out2, final2 = theirs(x2, hx2)
    assert out.shape == out2.shape and max_difference(out, out2) <= TOL
    assert max_difference(final, final2) <= TOL
    backward(out, final, case)
    backward(out2, final2, case)
    assert (x.grad - x2.grad).abs().max() <= TOL
    assert max_difference(tuple(t.grad for t in leaves(hx)), tuple(t.grad for t in leaves(hx2))) <= TOL
    for (name, p), (name2, p2) in zip(ours.named_parameters(), theirs.named_parameters(), strict=True):
        assert name == name2 and (p.grad - p2.grad).abs().max() <= TOL, name


@pytest.mark.parametrize("kind", PAIRS)
def test_weights_move_both_ways_and_no_initial_state_means_zeros(kind: str) -> None:
    ours_cls, theirs_cls = PAIRS[kind]
    ours = ours_cls(3, 4, num_layers=2, bidirectional=True, bias=False).double()
    theirs = theirs_cls(3, 4, num_layers=2, bidirectional=True, bias=False).double()
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [
        (n, p.shape) for n, p in theirs.named_parameters()
    ]
    theirs.load_state_dict(ours.state_dict())  # ours into PyTorch's
    x = torch.randn(5, 2, 3, dtype=torch.float64)
    (out, final), (out2, final2) = ours(x), theirs(x)
    assert max_difference(out, out2) <= TOL and max_difference(final, final2) <= TOL


@pytest.mark.parametrize("kind", PAIRS)
def test_an_unbatched_sequence_works_as_in_pytorch(kind: str) -> None:
    ours_cls, theirs_cls = PAIRS[kind]
    theirs = theirs_cls(3, 4, bidirectional=True).double()
    ours = ours_cls(3, 4, bidirectional=True).double()
    ours.load_state_dict(theirs.state_dict())
    x = torch.randn(6, 3, dtype=torch.float64)
    (out, final), (out2, final2) = ours(x), theirs(x)
    assert out.shape == out2.shape == (6, 8) and max_difference(out, out2) <= TOL
    assert max_difference(final, final2) <= TOL


def padded_batch(lengths: list[int], features: int, seed: int) -> torch.Tensor:
    """(B, T_max, features) float64 with zeros after each sequence's length."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(lengths), max(lengths), features, generator=g, dtype=torch.float64)
    for row, length in enumerate(lengths):
        x[row, length:] = 0
    return x


@pytest.mark.parametrize("kind", PAIRS)
@pytest.mark.parametrize("enforce_sorted", [True, False])
def test_a_packed_batch_gives_each_sequence_what_it_gets_alone(kind: str, enforce_sorted: bool) -> None:
    """``pack_padded_sequence`` through PyTorch's layer and ours: every sequence's outputs and final
    state equal those of that sequence run alone, unpadded (so padding changes nothing)."""
    lengths = [7, 5, 5, 2, 1] if enforce_sorted else [2, 7, 1, 5, 4]
    x = padded_batch(lengths, 3, seed=len(kind))
    ours_cls, theirs_cls = PAIRS[kind]
    theirs = theirs_cls(3, 4, num_layers=2, bidirectional=True, batch_first=True).double()
    ours = ours_cls(3, 4, num_layers=2, bidirectional=True, batch_first=True).double()
    ours.load_state_dict(theirs.state_dict())
    for layer in (theirs, ours):
        packed = pack_padded_sequence(
            x, torch.tensor(lengths), batch_first=True, enforce_sorted=enforce_sorted
        )
        out, final = layer(packed)
        out, out_lengths = pad_packed_sequence(out, batch_first=True)
        assert out_lengths.tolist() == lengths
        for row, length in enumerate(lengths):
            alone_out, alone_final = theirs(x[row : row + 1, :length])
            assert (out[row, :length] - alone_out[0]).abs().max() <= TOL
            assert (out[row, length:] == 0).all()
            assert max_difference(tuple(f[:, row] for f in leaves(final)),
                                  tuple(f[:, 0] for f in leaves(alone_final))) <= TOL  # fmt: skip


def test_the_final_forward_state_is_the_last_real_tokens() -> None:
    """Packed: h_n of the forward direction is the output at position length−1 (not at T_max−1),
    and the backward direction's h_n is its output at position 0."""
    lengths = [6, 3, 1]
    x = padded_batch(lengths, 2, seed=7)
    lstm = nn.LSTM(2, 5, bidirectional=True, batch_first=True).double()
    out, (h_n, _) = lstm(pack_padded_sequence(x, torch.tensor(lengths), batch_first=True))
    out, _ = pad_packed_sequence(out, batch_first=True)  # (B, T, 2H)
    for row, length in enumerate(lengths):
        assert torch.equal(h_n[0, row], out[row, length - 1, :5])
        assert torch.equal(h_n[1, row], out[row, 0, 5:])
    padded_out, (padded_h, _) = lstm(x)  # without packing the padding is read as input
    assert (padded_h[0, 1] - h_n[0, 1]).abs().max() > 1e-3


def test_bad_arguments_are_one_line_errors() -> None:
    with pytest.raises(ValueError, match="nonlinearity"):
        RNN(2, 3, nonlinearity="sigmoid")
    with pytest.raises(ValueError, match="dropout"):
        LSTM(2, 3, dropout=1.0)
    with pytest.raises(ValueError, match="initial state of shape"):
        GRU(2, 3)(torch.randn(4, 1, 2), torch.zeros(2, 1, 3))
    with pytest.raises(ValueError, match="input, got shape"):
        LSTM(2, 3)(torch.randn(4))


@pytest.mark.parametrize("kind", PAIRS)
def test_the_shared_oracle_harness_finds_equality_and_would_find_a_difference(kind: str, monkeypatch) -> None:
    """The harness the lesson reports from: ≤ 1e-12 on random cases, and a wrong cell is caught."""
    from e2edl.nn import rnn_oracle

    for seed in range(6):
        assert max(rnn_oracle.oracle_differences(kind, seed).values()) <= TOL
        assert rnn_oracle.packed_differences(kind, seed) <= TOL
    ours_cls = PAIRS[kind][0]
    monkeypatch.setattr(ours_cls, "cell", lambda self, x, state, w, b: tuple(0.5 * s for s in state))
    assert max(rnn_oracle.oracle_differences(kind, 0).values()) > 1e-3
