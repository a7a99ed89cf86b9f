"""A character-level language model: a recurrent network that predicts the next character (char-rnn).

Read ``ids[0..t]``, predict ``ids[t+1]``: the logits at every position of a window are trained at
once against the window shifted by one (``NextTokenLoss``), and the state an LSTM carries from
step to step is its memory of the text so far. ``generate`` feeds the model its own samples.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

State = torch.Tensor | tuple[torch.Tensor, torch.Tensor]  # h, or (h, c) for the LSTM; each (layers, B, H)


class NextTokenLoss(nn.Module):
    """Mean cross-entropy (nats per token) of logits (B, T, V) against next tokens (B, T)."""

    def forward(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.flatten(0, -2), targets.flatten())


CELLS = {"lstm": nn.LSTM, "gru": nn.GRU, "rnn": nn.RNN}


class CharRNN(nn.Module):
    """Embedding → recurrent layers → linear: ``model(ids)`` (B, T) → next-character logits (B, T, V).

    ``cell`` is ``"lstm"`` (the default, char-rnn's choice), ``"gru"`` or ``"rnn"`` (Elman, tanh).
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 64,
        hidden_size: int = 512,
        num_layers: int = 1,
        dropout: float = 0.0,
        cell: str = "lstm",
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(f"cell must be one of {sorted(CELLS)}, got {cell!r}")
        self.cell = cell
        self.embedding = nn.Embedding(vocab_size, embed_dim)
        self.rnn = CELLS[cell](embed_dim, hidden_size, num_layers=num_layers, batch_first=True,
                               dropout=dropout if num_layers > 1 else 0.0)  # fmt: skip
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden_size, vocab_size)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        return self.forward_with_state(ids)[0]

    def forward_with_state(self, ids: torch.Tensor, state: State | None = None) -> tuple[torch.Tensor, State]:
        """Logits (B, T, V) and the state after the last character (to continue from it)."""
        return self.logits_from_embeddings(self.embedding(ids), state)

    def logits_from_embeddings(
        self, x: torch.Tensor, state: State | None = None
    ) -> tuple[torch.Tensor, State]:
        """The model from its embedded input (B, T, E) on: what ``∂loss/∂x_t`` is taken of."""
        out, state = self.rnn(self.dropout(x), state)  # (B, T, H)
        return self.head(self.dropout(out)), state

    @torch.no_grad()
    def generate(
        self,
        prompt: torch.Tensor,
        length: int,
        temperature: float = 1.0,
        generator: torch.Generator | None = None,
    ) -> torch.Tensor:
        """``prompt`` (T0,) ids → (T0 + length,) ids, each new one drawn from softmax(logits / temperature).

        Low temperatures sharpen the distribution (safe, repetitive), high ones flatten it (varied,
        misspelt). ``generator`` (a CPU ``torch.Generator``) makes the samples repeatable.
        """
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        was_training = self.training
        self.eval()
        device = next(self.parameters()).device
        ids = prompt.to(device).view(1, -1)  # (1, T0)
        logits, state = self.forward_with_state(ids)
        out = [prompt.cpu()]
        for _ in range(length):
            probabilities = torch.softmax(logits[0, -1].float().cpu() / temperature, dim=-1)  # (V,)
            token = torch.multinomial(probabilities, 1, generator=generator)  # (1,)
            out.append(token)
            logits, state = self.forward_with_state(token.view(1, 1).to(device), state)
        self.train(was_training)
        return torch.cat(out)
