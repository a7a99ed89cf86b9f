"""Recurrent networks written from their equations: an Elman RNN, an LSTM and a GRU.

A recurrent layer reads a sequence one step at a time and carries a **state** from step to step:
``h_t = cell(x_t, h_{t-1})``. The same weights serve every step, so one layer handles sequences
of any length. The three cells differ in how they update the state (``σ`` is the sigmoid,
``⊙`` the element-wise product, each ``W``/``b`` a learned matrix/bias):

- **RNN** (Elman 1990): ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``.
- **LSTM** (Hochreiter & Schmidhuber 1997, with the forget gate of Gers et al. 2000): four
  gates from the same two products, ``i, f, g, o = σ(·), σ(·), tanh(·), σ(·)``; a cell state
  ``c_t = f ⊙ c_{t-1} + i ⊙ g`` (forget part of the old memory, write part of the new) and
  ``h_t = o ⊙ tanh(c_t)``. The additive update of ``c`` is what lets gradients travel far back.
- **GRU** (Cho et al. 2014): reset and update gates ``r, z``; candidate
  ``n = tanh(W_in x_t + b_in + r ⊙ (W_hn h_{t-1} + b_hn))``; ``h_t = (1 − z) ⊙ n + z ⊙ h_{t-1}``.

``RNN``, ``LSTM`` and ``GRU`` take the arguments of ``torch.nn.RNN`` / ``LSTM`` / ``GRU``
(``num_layers``, ``bidirectional``, ``batch_first``, ``dropout``, ``bias``) and name and shape
their weights the same way (``weight_ih_l0``, ``weight_hh_l1_reverse``; the gates stacked in
PyTorch's order i, f, g, o and r, z, n), so a ``state_dict`` moves between ours and PyTorch's
both ways. They accept a ``PackedSequence`` too. ``tests/test_rnn.py`` checks outputs, final
states and gradients against PyTorch's in float64. PyTorch's versions run fused C++ kernels
(oneDNN on a CPU, cuDNN on a GPU) and are what the long trainings use; these are for reading,
for the oracle, and for measuring what those kernels buy (``benchmarks/lstm_vs_nn_lstm.py``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

State = tuple[torch.Tensor, ...]  # (h,) for the RNN and the GRU, (h, c) for the LSTM; each (B, H)


def rnn_cell(x_proj: torch.Tensor, state: State, w_hh: torch.Tensor, b_hh: torch.Tensor | None,
             nonlinearity: str = "tanh") -> State:  # fmt: skip
    """One Elman step. ``x_proj`` (B, H) is ``W_ih x_t + b_ih``, computed for all steps at once."""
    (h,) = state
    pre = x_proj + F.linear(h, w_hh, b_hh)  # (B, H)
    return (torch.tanh(pre) if nonlinearity == "tanh" else torch.relu(pre),)


def lstm_cell(x_proj: torch.Tensor, state: State, w_hh: torch.Tensor, b_hh: torch.Tensor | None) -> State:
    """One LSTM step. ``x_proj`` (B, 4H) is ``W_ih x_t + b_ih``; ``state`` is ``(h, c)``."""
    h, c = state
    gates = x_proj + F.linear(h, w_hh, b_hh)  # (B, 4H): input, forget, cell, output
    i, f, g, o = gates.chunk(4, dim=-1)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    h = torch.sigmoid(o) * torch.tanh(c)
    return h, c


def gru_cell(x_proj: torch.Tensor, state: State, w_hh: torch.Tensor, b_hh: torch.Tensor | None) -> State:
    """One GRU step. ``x_proj`` (B, 3H) is ``W_ih x_t + b_ih``; the reset gate scales only ``W_hn h + b_hn``."""
    (h,) = state
    x_r, x_z, x_n = x_proj.chunk(3, dim=-1)
    h_r, h_z, h_n = F.linear(h, w_hh, b_hh).chunk(3, dim=-1)
    r = torch.sigmoid(x_r + h_r)
    z = torch.sigmoid(x_z + h_z)
    n = torch.tanh(x_n + r * h_n)
    return ((1 - z) * n + z * h,)


class _Recurrent(nn.Module):
    """The loop over layers, directions and time steps that the three cells share."""

    gates = 1  # how many H-row blocks ``weight_ih`` stacks (4 for the LSTM, 3 for the GRU)
    state_parts = 1  # (h,) or (h, c)

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        bias: bool = True,
        batch_first: bool = False,
        dropout: float = 0.0,
        bidirectional: bool = False,
    ) -> None:
        super().__init__()
        if num_layers < 1 or hidden_size < 1:
            raise ValueError(f"num_layers and hidden_size must be >= 1, got {num_layers} and {hidden_size}")
        if not 0 <= dropout < 1:
            raise ValueError(f"dropout must be in [0, 1), got {dropout}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, dropout
        self.bidirectional = bidirectional
        self.num_directions = 2 if bidirectional else 1
        rows = self.gates * hidden_size
        for layer in range(num_layers):
            layer_input = input_size if layer == 0 else hidden_size * self.num_directions
            for suffix in self._suffixes(layer):
                setattr(self, f"weight_ih{suffix}", nn.Parameter(torch.empty(rows, layer_input)))
                setattr(self, f"weight_hh{suffix}", nn.Parameter(torch.empty(rows, hidden_size)))
                if bias:
                    setattr(self, f"bias_ih{suffix}", nn.Parameter(torch.empty(rows)))
                    setattr(self, f"bias_hh{suffix}", nn.Parameter(torch.empty(rows)))
        self.reset_parameters()

    def _suffixes(self, layer: int) -> list[str]:
        return [f"_l{layer}", f"_l{layer}_reverse"][: self.num_directions]

    def reset_parameters(self) -> None:
        """Every weight and bias uniform in ±1/√H, as PyTorch initialises its recurrent layers."""
        bound = 1 / math.sqrt(self.hidden_size)
        for weight in self.parameters():
            nn.init.uniform_(weight, -bound, bound)

    def cell(
        self, x_proj: torch.Tensor, state: State, w_hh: torch.Tensor, b_hh: torch.Tensor | None
    ) -> State:
        raise NotImplementedError

    def extra_repr(self) -> str:
        options = [f"{self.input_size}, {self.hidden_size}"]
        options += [f"num_layers={self.num_layers}"] * (self.num_layers != 1)
        options += ["bidirectional=True"] * self.bidirectional + ["batch_first=True"] * self.batch_first
        options += [f"dropout={self.dropout}"] * (self.dropout > 0) + ["bias=False"] * (not self.bias)
        return ", ".join(options)

    def forward(self, input, hx=None):
        """``input``: (T, B, I), or (B, T, I) with ``batch_first``, or a ``PackedSequence``.

        Returns ``(output, h_n)`` — ``(output, (h_n, c_n))`` for the LSTM — shaped like PyTorch's:
        ``output`` (T, B, D·H) (batch first if asked; packed if the input was), each final state
        (num_layers·D, B, H), with D = 2 for a bidirectional layer. For a packed input, sequence
        ``b`` stops at its own length: its final forward state is that of its last real token, and
        the backward direction starts there.
        """
        packed = isinstance(input, PackedSequence)
        if packed:
            x, lengths = pad_packed_sequence(input, batch_first=True)  # (B, T, I), original batch order
            mask = (
                torch.arange(x.size(1), device=x.device) < lengths.to(x.device)[:, None]
            )  # (B, T): real tokens
        else:
            if input.dim() not in (2, 3):
                raise ValueError(f"expected a (T, B, I) or (T, I) input, got shape {tuple(input.shape)}")
            unbatched = input.dim() == 2
            x = input.unsqueeze(1) if unbatched else input
            x = x if self.batch_first and not unbatched else x.transpose(0, 1)  # (B, T, I)
            mask = None
        state = self._initial_state(hx, x, unbatched=not packed and input.dim() == 2)

        finals: list[list[torch.Tensor]] = [[] for _ in range(self.state_parts)]
        for layer in range(self.num_layers):
            outputs = []
            for direction, suffix in enumerate(self._suffixes(layer)):
                index = layer * self.num_directions + direction
                start = tuple(part[index] for part in state)
                out, last = self._run_direction(x, start, suffix, reverse=direction == 1, mask=mask)
                outputs.append(out)
                for part, value in zip(finals, last):
                    part.append(value)
            x = torch.cat(outputs, dim=-1)  # (B, T, D·H)
            if self.dropout and self.training and layer < self.num_layers - 1:
                x = F.dropout(x, self.dropout, training=True)
        final = tuple(torch.stack(part) for part in finals)  # each (L·D, B, H)

        if packed:
            output = self._repack(x, lengths, input)
        elif input.dim() == 2:
            output, final = x.squeeze(0), tuple(f.squeeze(1) for f in final)
        else:
            output = x if self.batch_first else x.transpose(0, 1)
        return output, (final if self.state_parts == 2 else final[0])

    def _initial_state(self, hx, x: torch.Tensor, unbatched: bool) -> State:
        shape = (self.num_layers * self.num_directions, x.size(0), self.hidden_size)
        if hx is None:
            return tuple(x.new_zeros(shape) for _ in range(self.state_parts))
        parts = tuple(hx) if self.state_parts == 2 else (hx,)
        if unbatched:
            parts = tuple(p.unsqueeze(1) for p in parts)
        for p in parts:
            if tuple(p.shape) != shape:
                raise ValueError(f"expected an initial state of shape {shape}, got {tuple(p.shape)}")
        return parts

    def _run_direction(self, x: torch.Tensor, state: State, suffix: str, reverse: bool,
                       mask: torch.Tensor | None) -> tuple[torch.Tensor, State]:  # fmt: skip
        """One layer, one direction over (B, T, I) → (B, T, H) and the final state."""
        w_ih, w_hh = getattr(self, f"weight_ih{suffix}"), getattr(self, f"weight_hh{suffix}")
        b_ih = getattr(self, f"bias_ih{suffix}") if self.bias else None
        b_hh = getattr(self, f"bias_hh{suffix}") if self.bias else None
        x_proj = F.linear(x, w_ih, b_ih)  # (B, T, G·H): the input's share of every step at once
        steps = range(x.size(1) - 1, -1, -1) if reverse else range(x.size(1))
        outputs: list[torch.Tensor] = [x_proj.new_empty(0)] * x.size(1)
        for t in steps:
            new = self.cell(x_proj[:, t], state, w_hh, b_hh)
            if mask is not None:  # past its end a sequence keeps its state (and outputs zeros)
                real = mask[:, t, None]  # (B, 1)
                new = tuple(torch.where(real, n, s) for n, s in zip(new, state))
                outputs[t] = new[0] * real
            else:
                outputs[t] = new[0]
            state = new
        return torch.stack(outputs, dim=1), state

    @staticmethod
    def _repack(x: torch.Tensor, lengths: torch.Tensor, like: PackedSequence) -> PackedSequence:
        """(B, T, D·H) padded, original batch order → a ``PackedSequence`` laid out like ``like``."""
        order = like.sorted_indices
        if order is not None:
            x, lengths = x.index_select(0, order.to(x.device)), lengths.index_select(0, order.cpu())
        data = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=True).data
        return PackedSequence(data, like.batch_sizes, like.sorted_indices, like.unsorted_indices)


class RNN(_Recurrent):
    """Elman RNN, ``h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)``; same arguments as ``nn.RNN``."""

    def __init__(self, *args, nonlinearity: str = "tanh", **kwargs) -> None:
        if nonlinearity not in ("tanh", "relu"):
            raise ValueError(f"nonlinearity must be 'tanh' or 'relu', got {nonlinearity!r}")
        self.nonlinearity = nonlinearity
        super().__init__(*args, **kwargs)

    def cell(self, x_proj, state, w_hh, b_hh):
        return rnn_cell(x_proj, state, w_hh, b_hh, self.nonlinearity)


class LSTM(_Recurrent):
    """Long short-term memory; same arguments, weights and outputs as ``nn.LSTM`` (no ``proj_size``)."""

    gates, state_parts = 4, 2

    def cell(self, x_proj, state, w_hh, b_hh):
        return lstm_cell(x_proj, state, w_hh, b_hh)


class GRU(_Recurrent):
    """Gated recurrent unit; same arguments, weights and outputs as ``nn.GRU``."""

    gates = 3

    def cell(self, x_proj, state, w_hh, b_hh):
        return gru_cell(x_proj, state, w_hh, b_hh)
