"""Reference solutions to the sequences lesson's exercises, and the typical mistakes their checks catch."""

from collections import Counter

import torch


def build_vocabulary(token_lists, min_freq):
    """itos: "<pad>", "<unk>", then every token seen >= min_freq times, most frequent first (ties alphabetical)."""
    counts = Counter()
    for tokens in token_lists:
        counts.update(tokens)
    kept = [token for token, n in counts.items() if n >= min_freq]
    kept.sort(key=lambda token: (-counts[token], token))
    return ["<pad>", "<unk>", *kept]


def lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh):
    """x (B, I), h and c (B, H), w_ih (4H, I), w_hh (4H, H), b_ih and b_hh (4H,) → the new (h, c)."""
    gates = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh  # (B, 4H)
    i, f, g, o = gates.chunk(4, dim=-1)  # PyTorch's order: input, forget, cell candidate, output
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


def last_real_output(outputs, lengths):
    """outputs (B, T, H), lengths (B,) → (B, H): row b's output at position lengths[b] − 1."""
    return outputs[torch.arange(len(lengths)), lengths - 1]


# ------------------------------------------------------------------------------ typical mistakes


def _no_specials(token_lists, min_freq):
    return build_vocabulary(token_lists, min_freq)[2:]


def _strictly_more_than(token_lists, min_freq):
    counts = Counter(t for tokens in token_lists for t in tokens)
    kept = sorted((t for t, n in counts.items() if n > min_freq), key=lambda t: (-counts[t], t))
    return ["<pad>", "<unk>", *kept]


def _first_seen_order(token_lists, min_freq):
    counts = Counter(t for tokens in token_lists for t in tokens)
    return ["<pad>", "<unk>", *(t for t, n in counts.items() if n >= min_freq)]


def _every_token(token_lists, min_freq):
    return build_vocabulary(token_lists, 1)


def _gates_ifog(x, h, c, w_ih, w_hh, b_ih, b_hh):
    i, f, o, g = (x @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def _no_tanh_on_c(x, h, c, w_ih, w_hh, b_ih, b_hh):
    i, f, g, o = (x @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * c, c


def _no_input_gate(x, h, c, w_ih, w_hh, b_ih, b_hh):
    i, f, g, o = (x @ w_ih.T + b_ih + h @ w_hh.T + b_hh).chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def _detached(x, h, c, w_ih, w_hh, b_ih, b_hh):
    h, c = lstm_step(x.detach(), h, c, w_ih, w_hh, b_ih, b_hh)
    return h, c


def _last_padded_position(outputs, lengths):
    return outputs[:, -1]


def _off_by_one(outputs, lengths):
    return outputs[torch.arange(len(lengths)), lengths]


MISTAKES = {
    "build-vocabulary": [
        (_no_specials, "should start with the specials"),
        (_strictly_more_than, "is missing"),
        (_first_seen_order, "most frequent first"),
        (_every_token, "must be left out"),
    ],
    "lstm-step": [
        (_gates_ifog, "i, f, g, o"),
        (_no_tanh_on_c, "tanh(c_t)"),
        (_no_input_gate, "input gate"),
        (_detached, "does not depend on x"),
    ],
    "last-real-output": [
        (_last_padded_position, "last *padded* position"),
        (_off_by_one, "off by one"),
    ],
}
