"""A labelled text data set made ready for a model: train / validation / test token ids, one vocabulary.

The vocabulary comes from the training part only; the validation part (carved from the training
texts) and the test part are encoded with it, so their unseen words become ``<unk>`` exactly as
new text would at prediction time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from e2edl.data.sequence_loader import SequenceLoader
from e2edl.data.text import Vocabulary

Tokens = Sequence[str]


@dataclass
class EncodedSplit:
    """One part: token ids per text, labels, and which text of the original list each row is."""

    sequences: list[torch.Tensor]
    labels: torch.Tensor  # (N,) int64
    source: torch.Tensor  # (N,) int64: row i is text source[i] of its original split

    def __len__(self) -> int:
        return len(self.sequences)

    @property
    def lengths(self) -> torch.Tensor:
        return torch.tensor([len(s) for s in self.sequences], dtype=torch.int64)


@dataclass
class TextClassificationData:
    """``train`` / ``val`` / ``test`` encoded with ``vocabulary`` (built from ``train`` alone).

    Build it with :meth:`from_tokens`; ``loader(part, batch_size)`` gives ``fit``'s batches.
    ``settings`` records how it was built, so a checkpoint knows which data it was trained on.
    """

    vocabulary: Vocabulary
    train: EncodedSplit
    val: EncodedSplit
    test: EncodedSplit
    settings: dict

    @classmethod
    def from_tokens(
        cls,
        train_tokens: Sequence[Tokens],
        train_labels: Sequence[int],
        test_tokens: Sequence[Tokens],
        test_labels: Sequence[int],
        train_idx: torch.Tensor,
        val_idx: torch.Tensor,
        *,
        min_freq: int = 1,
        max_size: int | None = None,
        max_tokens: int | None = None,
        features: Callable[[Tokens], list[str]] | None = None,
    ) -> TextClassificationData:
        """Encode pre-tokenised texts. ``train_idx`` / ``val_idx`` split the training texts;
        ``features`` (e.g. ``with_bigrams``) turns a text's tokens into the model's tokens; the
        vocabulary keeps those seen ``min_freq`` times in the ``train_idx`` texts (whole); each
        text is then encoded from its first ``max_tokens`` tokens."""
        overlap = set(train_idx.tolist()) & set(val_idx.tolist())
        if overlap:
            raise ValueError(f"{len(overlap)} texts are in both the training and the validation part")

        def model_tokens(tokens: Tokens, limit: int | None = max_tokens) -> list[str]:
            tokens = list(tokens[:limit])
            return features(tokens) if features else tokens

        whole = (model_tokens(train_tokens[i], None) for i in train_idx.tolist())
        vocabulary = Vocabulary.build(whole, min_freq=min_freq, max_size=max_size)
        train_part = [model_tokens(train_tokens[i]) for i in train_idx.tolist()]

        def encode(token_lists, labels, source) -> EncodedSplit:
            labels = torch.as_tensor(labels, dtype=torch.int64)
            return EncodedSplit([vocabulary.encode(t) for t in token_lists], labels, source)

        train_labels = torch.as_tensor(train_labels, dtype=torch.int64)
        return cls(
            vocabulary,
            encode(train_part, train_labels[train_idx], train_idx),
            encode([model_tokens(train_tokens[i]) for i in val_idx.tolist()], train_labels[val_idx], val_idx),
            encode([model_tokens(t) for t in test_tokens], test_labels, torch.arange(len(test_tokens))),
            settings={
                "min_freq": min_freq,
                "max_size": max_size,
                "max_tokens": max_tokens,
                "features": getattr(features, "__name__", None),
                "train_texts": len(train_idx),
                "val_texts": len(val_idx),
                "vocabulary": len(vocabulary),
            },
        )

    def config(self) -> dict:
        """How the data was built (plain values), for ``fit(config=...)``."""
        return {f"data_{key}": value for key, value in self.settings.items()}

    def loader(
        self, part: str, batch_size: int, shuffle: bool = False, seed: int = 0, bucketing: bool = True
    ) -> SequenceLoader:
        """Batches ``((padded, lengths), labels)`` of ``part`` ("train", "val" or "test")."""
        if part not in ("train", "val", "test"):
            raise ValueError(f"part must be 'train', 'val' or 'test', got {part!r}")
        split: EncodedSplit = getattr(self, part)
        return SequenceLoader(split.sequences, split.labels, batch_size, shuffle=shuffle, seed=seed,
                              bucketing=bucketing, pad_id=self.vocabulary.pad_id)  # fmt: skip
