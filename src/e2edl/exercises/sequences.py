"""The sequences lesson's exercises: a vocabulary from training tokens, one LSTM step, and the output
at each sequence's last real token.

The oracles are the library's ``Vocabulary.build``, PyTorch's ``nn.LSTMCell`` (weights loaded) and
plain indexing; each named mistake (gate order, a missing tanh, the padding's last position...) is
recognised by computing it and comparing.
"""

from __future__ import annotations

import torch
from torch import nn

from e2edl.data.text import PAD, UNK, Vocabulary
from e2edl.exercises.checking import Hint, call, expect_tensor
from e2edl.exercises.exercise import Exercise

# ------------------------------------------------------------------------------- build_vocabulary

_TOKENS = [
    ["a", "great", "film", "!", "great", "cast"],
    ["a", "bad", "film", "."],
    ["great", "!", "a", "must", "see", "."],
    ["bad", "bad", "plot", "but", "a", "great", "cast"],
]


def check_build_vocabulary(fn) -> None:
    for min_freq in (2, 1, 3):
        want = Vocabulary.build(_TOKENS, min_freq=min_freq).itos
        got = call(fn, [list(t) for t in _TOKENS], min_freq, what="build_vocabulary")
        if not isinstance(got, list | tuple) or not all(isinstance(t, str) for t in got):
            raise Hint("build_vocabulary should return a list of token strings (itos: index → token).")
        got = list(got)
        if got[:2] != [PAD, UNK]:
            raise Hint(
                f'the list should start with the specials "{PAD}" (id 0) and "{UNK}" (id 1), got {got[:2]}.'
            )
        if len(set(got)) != len(got):
            raise Hint(
                "a token appears twice: count each token once over all the texts (collections.Counter)."
            )
        if set(got) != set(want):
            counts = Vocabulary.build(_TOKENS).counts
            extra = sorted(set(got) - set(want), key=lambda t: counts.get(t, 0))
            missing = sorted(set(want) - set(got))
            if extra and all(counts.get(t, 0) < min_freq for t in extra):
                n = counts.get(extra[0], 0)
                raise Hint(f"with min_freq={min_freq}, {extra[0]!r} (seen {n} time{'s' * (n != 1)}) must be left "
                           "out: keep only the tokens seen at least min_freq times; the rest become <unk>.")  # fmt: skip
            if missing:
                n = counts[missing[0]]
                raise Hint(f"with min_freq={min_freq}, {missing[0]!r} (seen {n} time{'s' * (n != 1)}) is missing: keep every token "
                           f"whose count is >= min_freq.")  # fmt: skip
            raise Hint(f"with min_freq={min_freq} the tokens should be {sorted(want)}, got {sorted(got)}.")
        if got != want:
            raise Hint(f"with min_freq={min_freq} the order should be {want}, got {got}: most frequent first, "
                       "and tokens seen equally often in alphabetical order.")  # fmt: skip


# ------------------------------------------------------------------------------------- lstm_step


def _lstm_reference(x, h, c, w_ih, w_hh, b_ih, b_hh, order=(0, 1, 2, 3), variant: str = "") -> tuple:
    """The LSTM step, or one of its typical mistakes (gate order or a named variant)."""
    gates = (x @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, dim=-1)
    i, f, g, o = (gates[k] for k in order)
    i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
    g = torch.sigmoid(g) if variant == "sigmoid g" else torch.tanh(g)
    if variant == "no input gate":
        c = f * c + g
    elif variant == "no forget gate":
        c = c + i * g
    else:
        c = f * c + i * g
    h = o * c if variant == "no tanh" else o * torch.tanh(c)
    return h, c


_NAMED = {
    "order": [
        ((0, 1, 3, 2), "i, f, o, g"),
        ((0, 2, 1, 3), "i, g, f, o"),
        ((1, 0, 2, 3), "f, i, g, o"),
    ],
    "variant": {
        "no tanh": "h_t = o ⊙ tanh(c_t): squash the cell state before the output gate scales it.",
        "no input gate": "the candidate is written through the input gate: c_t = f ⊙ c_{t−1} + i ⊙ g.",
        "no forget gate": "the old cell state passes through the forget gate: c_t = f ⊙ c_{t−1} + i ⊙ g.",
        "sigmoid g": "the candidate g uses tanh (values in −1..1), the three gates use the sigmoid (0..1).",
    },
}


def _step_inputs(batch: int, inputs: int, hidden: int, seed: int) -> tuple[torch.Tensor, ...]:
    g = torch.Generator().manual_seed(seed)
    r = lambda *shape: torch.randn(*shape, generator=g, dtype=torch.float64)
    return r(batch, inputs), r(batch, hidden), r(batch, hidden), r(4 * hidden, inputs), r(4 * hidden, hidden), \
        r(4 * hidden), r(4 * hidden)  # fmt: skip


def check_lstm_step(fn) -> None:
    for batch, inputs, hidden, seed in ((3, 5, 4, 0), (1, 2, 6, 1)):
        args = _step_inputs(batch, inputs, hidden, seed)
        x, h, c, w_ih, w_hh, b_ih, b_hh = args
        cell = nn.LSTMCell(inputs, hidden).double()
        with torch.no_grad():
            for name, value in zip(
                ("weight_ih", "weight_hh", "bias_ih", "bias_hh"), (w_ih, w_hh, b_ih, b_hh)
            ):
                getattr(cell, name).copy_(value)
        want_h, want_c = cell(x, (h, c))
        leaf = x.clone().requires_grad_(True)
        got = call(fn, leaf, *args[1:], what="lstm_step")
        if not isinstance(got, tuple | list) or len(got) != 2:
            raise Hint("lstm_step should return the new state as a pair (h, c).")
        got_h, got_c = got
        if not isinstance(got_h, torch.Tensor) or not isinstance(got_c, torch.Tensor):
            raise Hint("lstm_step should return two tensors (h, c).")
        if got_h.shape != want_h.shape or got_c.shape != want_c.shape:
            raise Hint(f"h and c should both be (B, H) = {tuple(want_h.shape)}, got {tuple(got_h.shape)} and "
                       f"{tuple(got_c.shape)}; w_ih (4H, I) stacks four gates: split its output in 4 along the last dim.")  # fmt: skip
        close = lambda a, b: torch.allclose(a.detach(), b, atol=1e-9)
        if not (close(got_h, want_h) and close(got_c, want_c)):
            for order, name in _NAMED["order"]:
                wrong_h, wrong_c = _lstm_reference(*args, order=order)
                if close(got_h, wrong_h) and close(got_c, wrong_c):
                    raise Hint(f"you read the gates in the order {name}: PyTorch stacks them as input, forget, "
                               "cell candidate, output (i, f, g, o) in w_ih, w_hh and the biases.")  # fmt: skip
            for variant, hint in _NAMED["variant"].items():
                wrong_h, wrong_c = _lstm_reference(*args, variant=variant)
                if close(got_h, wrong_h) and close(got_c, wrong_c):
                    raise Hint(hint)
            if close(got_c, want_c):
                expect_tensor(got_h, want_h, "h (with c right: look at the output gate)", atol=1e-9)
            expect_tensor(got_c, want_c, "the new cell state c", atol=1e-9)
        if not got_h.requires_grad:
            raise Hint("h does not depend on x for autograd: no .detach(), .item() or NumPy inside the step.")
        (grad,) = torch.autograd.grad(got_h.sum() + got_c.sum(), leaf)
        x_twin = x.clone().requires_grad_(True)
        want_h2, want_c2 = cell(x_twin, (h, c))
        (want_grad,) = torch.autograd.grad(want_h2.sum() + want_c2.sum(), x_twin)
        expect_tensor(grad, want_grad, "the gradient of h + c with respect to x", atol=1e-9)


# ------------------------------------------------------------------------------- last_real_output


def check_last_real_output(fn) -> None:
    g = torch.Generator().manual_seed(0)
    for lengths in ([4, 2, 1, 4], [3, 5], [1]):
        lengths_t = torch.tensor(lengths)
        steps = max(lengths) + 2  # padded further than the longest sequence, as a bigger batch would be
        outputs = torch.randn(len(lengths), steps, 3, generator=g, dtype=torch.float64)
        want = outputs[torch.arange(len(lengths)), lengths_t - 1]
        got = call(fn, outputs.clone(), lengths_t.clone(), what="last_real_output")
        if isinstance(got, torch.Tensor) and got.shape == want.shape:
            if torch.equal(got, outputs[:, -1]) and not torch.equal(got, want):
                raise Hint("outputs[:, -1] is the last *padded* position: for a sequence shorter than the batch's "
                           "longest it is padding. Take each row's own last real position.")  # fmt: skip
            if torch.equal(got, outputs[torch.arange(len(lengths)), lengths_t]):
                raise Hint("off by one: a sequence of length ℓ has its last real token at position ℓ − 1 "
                           "(positions count from 0).")  # fmt: skip
        expect_tensor(got, want, f"the last real outputs for lengths {lengths}")


EXERCISES = [
    Exercise(
        "build-vocabulary",
        "build_vocabulary",
        "the vocabulary of the training texts: specials first, then tokens seen at least min_freq times, most frequent first",
        check_build_vocabulary,
    ),
    Exercise(
        "lstm-step",
        "lstm_step",
        "one LSTM step from its equations, with PyTorch's weight layout (gates i, f, g, o)",
        check_lstm_step,
    ),
    Exercise(
        "last-real-output",
        "last_real_output",
        "from padded outputs (B, T, H) and lengths (B,), each sequence's output at its last real token",
        check_last_real_output,
    ),
]
