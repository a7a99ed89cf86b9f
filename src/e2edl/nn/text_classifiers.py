"""Three ways to classify a text from its token ids: a bag of n-grams, a BiLSTM, a 1-D CNN.

Each model takes the batches of ``e2edl.data.sequence_loader``: ``(padded, lengths)`` with
``padded`` (B, T) int64 ids (``pad_id`` after each text's end) and ``lengths`` (B,), and returns
logits (B, num_classes). Each reads only the real tokens: the padding of a batch never changes a
text's logits (``tests/test_text_classifiers.py``).

- ``BagOfNgrams`` (fastText, Joulin et al. 2017): the mean of the embeddings of a text's tokens
  and n-grams, then a linear layer. Word order enters only through the n-grams. ``nn.EmbeddingBag``
  does the lookup and the mean in one kernel, and with ``sparse=True`` the backward pass touches
  only the rows of the n-grams in the batch, not the whole (large) table.
- ``BiLSTMClassifier``: an LSTM reads the text left to right and another right to left, each
  stopping at the text's own end (what a packed batch does); their final states go to a linear layer.
- ``TextCNN`` (Kim 2014): 1-D convolutions of widths 3, 4, 5 over the embeddings detect phrases;
  the largest response of each filter anywhere in the text (max over time) goes to a linear layer.
"""

from __future__ import annotations

import torch
from torch import nn

Tokens = tuple[torch.Tensor, torch.Tensor]  # (padded (B, T) int64, lengths (B,) int64)


def init_embedding(embedding: nn.Embedding | nn.EmbeddingBag, bound: float = 0.05) -> None:
    """Uniform in ±``bound``, the padding row zero. PyTorch's default, N(0, 1), is 20 times larger:
    Adam moves each weight by about its learning rate per step, so from N(0, 1) the word vectors
    take far longer to move away from their random start (measured in the sequences lesson's
    validation runs: the CNN reached 72% instead of 81% after three epochs on 4,000 reviews)."""
    nn.init.uniform_(embedding.weight, -bound, bound)
    if embedding.padding_idx is not None:
        with torch.no_grad():
            embedding.weight[embedding.padding_idx].zero_()


class BagOfNgrams(nn.Module):
    """Mean of token/n-gram embeddings → linear. ``padded`` ids include the n-grams' ids."""

    def __init__(
        self, vocab_size: int, embed_dim: int = 32, num_classes: int = 2, pad_id: int = 0, sparse: bool = True
    ) -> None:
        super().__init__()
        self.embedding = nn.EmbeddingBag(
            vocab_size, embed_dim, mode="mean", padding_idx=pad_id, sparse=sparse
        )
        self.head = nn.Linear(embed_dim, num_classes)
        init_embedding(self.embedding, bound=0.1)

    def forward(self, tokens: Tokens) -> torch.Tensor:
        padded, _ = tokens
        return self.head(self.embedding(padded))  # the bag's mean skips pad_id: (B, E) → (B, C)


def reverse_within_lengths(x: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """Each row's first ``lengths[b]`` steps in reverse order, the padding after them left in place.

    ``x`` (B, T, ...). Applied twice it gives ``x`` back. An LSTM run over the result reads each
    sequence from its last real token back to its first, as the backward half of a packed
    bidirectional LSTM does.
    """
    steps = torch.arange(x.size(1), device=x.device)[None, :]  # (1, T)
    lengths = lengths.to(x.device)[:, None]  # (B, 1)
    index = torch.where(steps < lengths, lengths - 1 - steps, steps)  # (B, T)
    return x.gather(1, index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x))


class BiLSTMClassifier(nn.Module):
    """Embedding → an LSTM forward and one backward over each review → features → linear.

    ``pool="last"``: the features are [forward h at the last real token; backward h at the first],
    each direction's summary of the whole review. ``pool="max"``: the largest value of each unit
    over all real positions of both directions, so a strong phrase anywhere in a long review counts
    even if the state has moved on since.

    The numbers are those of ``nn.LSTM(bidirectional=True)`` over a packed batch (the test loads
    the same weights into both), but computed with two passes of the fused kernel over the padded
    batch: the backward LSTM reads each review reversed within its length, and each direction's
    output is read at position ``length − 1``. On a CPU the packed path has no fused backward and
    is about ten times slower (``benchmarks/lstm_vs_nn_lstm.py``). ``rnn`` builds each direction:
    ``nn.LSTM`` (the default) or ``e2edl.nn.rnn.LSTM`` (ours: the same numbers, slower).
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 128,
        hidden_size: int = 128,
        num_classes: int = 2,
        dropout: float = 0.5,
        pad_id: int = 0,
        rnn: type[nn.Module] = nn.LSTM,
        pool: str = "last",
    ) -> None:
        super().__init__()
        if pool not in ("last", "max"):
            raise ValueError(f"pool must be 'last' or 'max', got {pool!r}")
        self.pool = pool
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        init_embedding(self.embedding)
        self.forward_lstm = rnn(embed_dim, hidden_size, batch_first=True)
        self.backward_lstm = rnn(embed_dim, hidden_size, batch_first=True)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * hidden_size, num_classes)

    def forward(self, tokens: Tokens) -> torch.Tensor:
        padded, lengths = tokens
        lengths = lengths.to(padded.device)
        x = self.dropout(self.embedding(padded))  # (B, T, E)
        forward_out, _ = self.forward_lstm(x)  # (B, T, H); after a review's end: padding, never read
        backward_out, _ = self.backward_lstm(reverse_within_lengths(x, lengths))  # (B, T, H)
        if self.pool == "last":
            last = (lengths - 1).view(-1, 1, 1).expand(-1, 1, forward_out.size(2))  # (B, 1, H)
            features = torch.cat([forward_out.gather(1, last), backward_out.gather(1, last)], dim=2)[:, 0]
        else:
            outputs = torch.cat([forward_out, backward_out], dim=2)  # (B, T, 2H); order irrelevant to a max
            padding = torch.arange(outputs.size(1), device=outputs.device)[None, :] >= lengths[:, None]
            features = outputs.masked_fill(padding[:, :, None], float("-inf")).amax(dim=1)
        return self.head(self.dropout(features))  # (B, 2H) → (B, C)


class TextCNN(nn.Module):
    """Embedding → 1-D convolutions of several widths → ReLU → max over the text → dropout → linear.

    Dropout only on the pooled features, as Kim (2014) does: on the embeddings it drowns the
    few phrases the max-pooling looks for.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_dim: int = 128,
        channels: int = 100,
        kernel_sizes: tuple[int, ...] = (3, 4, 5),
        num_classes: int = 2,
        dropout: float = 0.5,
        pad_id: int = 0,
    ) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, embed_dim, padding_idx=pad_id)
        init_embedding(self.embedding)
        self.convs = nn.ModuleList(nn.Conv1d(embed_dim, channels, k) for k in kernel_sizes)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(channels * len(kernel_sizes), num_classes)

    def forward(self, tokens: Tokens) -> torch.Tensor:
        padded, lengths = tokens
        widest = max(conv.kernel_size[0] for conv in self.convs)
        if padded.size(1) < widest:  # a batch of very short texts: pad so every filter fits once
            padded = nn.functional.pad(padded, (0, widest - padded.size(1)), value=self.embedding.padding_idx)
        x = self.embedding(padded).transpose(1, 2)  # (B, E, T)
        lengths = lengths.to(x.device)
        pooled = []
        for conv in self.convs:
            k = conv.kernel_size[0]
            responses = torch.relu(conv(x))  # (B, C, T − k + 1): one per window of k tokens
            # only windows that lie inside the text count (a text shorter than k keeps its first one)
            last_start = (lengths - k).clamp(min=0)  # (B,)
            inside = torch.arange(responses.size(2), device=x.device) <= last_start[:, None]  # (B, T − k + 1)
            pooled.append(responses.masked_fill(~inside[:, None, :], 0.0).amax(dim=2))  # (B, C); ReLU ≥ 0
        return self.head(self.dropout(torch.cat(pooled, dim=1)))  # (B, C·kernels) → (B, classes)
