"""Hugging Face ``tokenizers`` (Rust) beside the course's from-scratch byte-level BPE (``e2edl.data.bpe``).

``train_byte_level_bpe`` configures ``tokenizers`` as GPT-2's tokenizer is configured — the
``ByteLevel`` pre-tokenizer (GPT-2's regular expression, then every byte spelled as a printable
character), a BPE model, the 256 byte characters as the initial alphabet — and trains it on a text
to a vocabulary size, as ``BPETokenizer.train`` does. ``token_bytes`` and ``merge_order`` read the
trained tokenizer back as raw bytes, so the two can be compared token for token:
``compare_merges`` counts the tokens both learned and the merges they learned in the same place.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from e2edl.data.bpe import BPETokenizer, gpt2_byte_alphabet


def train_byte_level_bpe(texts: str | Sequence[str], vocab_size: int):
    """A ``tokenizers.Tokenizer``: byte-level BPE trained on ``texts`` to ``vocab_size`` tokens (256 bytes + merges)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)  # GPT-2's regex, then bytes
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
    )
    tokenizer.train_from_iterator([texts] if isinstance(texts, str) else texts, trainer)
    return tokenizer


def _to_bytes(spelled: str) -> bytes:
    byte_of = {char: byte for byte, char in gpt2_byte_alphabet().items()}
    return bytes(byte_of[c] for c in spelled)


def token_bytes(tokenizer) -> dict[bytes, int]:
    """Each token of a byte-level ``tokenizers.Tokenizer`` as the bytes it stands for → its id."""
    return {_to_bytes(token): i for token, i in tokenizer.get_vocab(with_added_tokens=False).items()}


def token_pieces(tokenizer, ids: Sequence[int]) -> list[bytes]:
    """The bytes of each token id of a byte-level ``tokenizers.Tokenizer`` (its ids number the bytes
    in another order than ours, so compare pieces, not ids)."""
    by_id = {i: piece for piece, i in token_bytes(tokenizer).items()}
    return [by_id[i] for i in ids]


def merge_order(tokenizer) -> list[bytes]:
    """The tokens that a trained byte-level BPE's merges made, in the order it learned them."""
    merges = json.loads(tokenizer.to_str())["model"]["merges"]
    return [
        _to_bytes(a) + _to_bytes(b) for a, b in (m.split(" ") if isinstance(m, str) else m for m in merges)
    ]


def compare_merges(ours: BPETokenizer, theirs) -> dict:
    """How alike two byte-level BPEs are: tokens both have, and merges learned at the same step."""
    our_merges = sorted((i, token) for token, i in ours.ranks.items() if i >= 256)
    our_order = [token for _, token in our_merges]
    their_order = merge_order(theirs)
    same_place = sum(a == b for a, b in zip(our_order, their_order))
    return {
        "our_merges": len(our_order),
        "their_merges": len(their_order),
        "common_tokens": len(ours.ranks.keys() & token_bytes(theirs).keys()),
        "same_place": same_place,
        "same_place_fraction": same_place / max(len(our_order), 1),
    }
