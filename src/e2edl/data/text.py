"""Text into tensors: split a text into tokens, number the tokens, and back.

A model sees integers, not words. Three steps get it there:

1. **Tokenise**: cut a text into tokens. ``word_tokens`` lower-cases, turns IMDb's ``<br />`` line
   breaks into spaces, and keeps words (letters and digits, with inner apostrophes: ``don't``)
   and each punctuation mark (``!``, ``.``) as tokens. For characters a text is its own token list.
2. **Build a vocabulary from the training split only**: every token seen at least ``min_freq``
   times gets a number, the most frequent first. A token the vocabulary does not know — rare in
   training, or met only in validation or test data — becomes ``<unk>``. Building the vocabulary
   from all the data would leak the test set's words into the model's design.
3. **Numericalise** with the vocabulary (``encode``) and turn numbers back into tokens (``decode``).
   ``<pad>`` (number 0) fills the end of short sequences in a batch.

A well-kept library does steps 1–3 (Hugging Face ``tokenizers``: a ``WordLevel`` model with a
regex pre-tokenizer); here they are short enough to read, and ``tests/test_text.py`` checks this
vocabulary against ``tokenizers``' one built with the same rules.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

import torch

PAD, UNK = "<pad>", "<unk>"

_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_WORD_OR_MARK = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def word_tokens(text: str) -> list[str]:
    """``"It's GREAT!<br />10/10"`` → ``["it's", "great", "!", "10", "/", "10"]``."""
    return _WORD_OR_MARK.findall(_BREAK.sub(" ", text).lower())


def with_bigrams(tokens: Sequence[str]) -> list[str]:
    """The tokens followed by every pair of neighbours, ``"not good"`` — a bag of words plus word
    order over a distance of one (fastText's n-gram features, n ≤ 2)."""
    return [*tokens, *(f"{a} {b}" for a, b in zip(tokens, tokens[1:]))]


class Vocabulary:
    """Tokens ↔ integers. ``itos[i]`` is token ``i``; ``stoi`` the inverse.

    Build one with :meth:`build` (from the training split's token lists) or :meth:`of_characters`.
    ``specials`` come first, so with the default ``<pad>`` is 0 and ``<unk>`` is 1.
    """

    def __init__(self, tokens: Iterable[str], specials: Sequence[str] = (PAD, UNK)) -> None:
        self.itos: list[str] = [*specials, *(t for t in tokens if t not in specials)]
        self.stoi: dict[str, int] = {token: i for i, token in enumerate(self.itos)}
        if len(self.stoi) != len(self.itos):
            raise ValueError("a vocabulary's tokens must be distinct")
        self.unk_id: int | None = self.stoi.get(UNK)
        self.pad_id: int | None = self.stoi.get(PAD)
        self.counts: Counter[str] = Counter()  # how often each token was seen (set by ``build``)

    @classmethod
    def build(
        cls,
        token_lists: Iterable[Sequence[str]],
        min_freq: int = 1,
        max_size: int | None = None,
        specials: Sequence[str] = (PAD, UNK),
    ) -> Vocabulary:
        """The tokens seen at least ``min_freq`` times, most frequent first (ties: alphabetical),
        at most ``max_size`` of them besides the specials. Pass the *training* split only."""
        if min_freq < 1:
            raise ValueError(f"min_freq must be >= 1, got {min_freq}")
        counts: Counter[str] = Counter()
        for tokens in token_lists:
            counts.update(tokens)
        kept = sorted((t for t, n in counts.items() if n >= min_freq), key=lambda t: (-counts[t], t))
        vocabulary = cls(kept[:max_size], specials)
        vocabulary.counts = counts
        return vocabulary

    @classmethod
    def of_characters(cls, text: str) -> Vocabulary:
        """Every distinct character of ``text``, in code-point order, no specials (nanoGPT's
        ``shakespeare_char`` numbering: 65 characters for Tiny Shakespeare, ``"\\n"`` is 0)."""
        return cls(sorted(set(text)), specials=())

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, token: str) -> bool:
        return token in self.stoi

    def __repr__(self) -> str:
        shown = ", ".join(map(repr, self.itos[:8]))
        return f"Vocabulary({len(self)} tokens: {shown}{', ...' if len(self) > 8 else ''})"

    def encode(self, tokens: Iterable[str]) -> torch.Tensor:
        """int64 (T,): each token's number; unknown tokens get ``<unk>``'s (an error without one)."""
        if self.unk_id is None:
            try:
                ids = [self.stoi[t] for t in tokens]
            except KeyError as error:
                raise KeyError(
                    f"token {error.args[0]!r} is not in this vocabulary, which has no {UNK}"
                ) from None
        else:
            get, unk = self.stoi.get, self.unk_id
            ids = [get(t, unk) for t in tokens]
        return torch.tensor(ids, dtype=torch.int64)

    def decode(self, ids: Iterable[int] | torch.Tensor, skip: Sequence[str] = (PAD,)) -> list[str]:
        """The tokens of ``ids``, leaving out ``skip`` (padding, by default)."""
        ids = ids.tolist() if isinstance(ids, torch.Tensor) else ids
        return [token for token in (self.itos[i] for i in ids) if token not in skip]


def encode_texts(
    texts: Iterable[str],
    vocabulary: Vocabulary,
    tokenize=word_tokens,
    max_tokens: int | None = None,
) -> list[torch.Tensor]:
    """Each text → its int64 (T_i,) ids, cut after the first ``max_tokens`` tokens (if given)."""
    if max_tokens is not None and max_tokens < 1:
        raise ValueError(f"max_tokens must be >= 1, got {max_tokens}")
    return [vocabulary.encode(tokenize(text)[:max_tokens]) for text in texts]


def unknown_share(sequences: Iterable[torch.Tensor], vocabulary: Vocabulary) -> float:
    """The fraction of all tokens that became ``<unk>``: what the frequency cut-off costs."""
    total = unknown = 0
    for ids in sequences:
        total += len(ids)
        unknown += int((ids == vocabulary.unk_id).sum())
    return unknown / max(total, 1)
