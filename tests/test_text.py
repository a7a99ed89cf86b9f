"""Text into tensors: tokens, a vocabulary from the training split, ids and back, bucketed batches
with their padding measured, language-model windows — and the same tokens and vocabulary as the
Hugging Face ``tokenizers`` library given the same rules."""

from __future__ import annotations

import pytest
import torch

from e2edl.data.bucketing import BucketBatchSampler, padding_share, random_batches
from e2edl.data.sequence_loader import SequenceLoader, text_collate
from e2edl.data.text import PAD, UNK, Vocabulary, encode_texts, unknown_share, with_bigrams, word_tokens
from e2edl.data.text_classification import TextClassificationData
from e2edl.data.text_windows import CharSplits, ConsecutiveWindows, RandomWindows, nanogpt_split

TEXTS = [
    "It's GREAT!<br /><br />10/10 -- don't miss it.",
    "Café crème... naïve? Ça va!!",
    "I didn't like it; it's bad.",
    "great great movie, (really) great",
    "Tabs\tand\nnewlines   and  spaces_and_underscores",
]


def test_word_tokens_lowercase_split_punctuation_and_drop_line_breaks() -> None:
    assert word_tokens(TEXTS[0]) == [
        "it's",
        "great",
        "!",
        "10",
        "/",
        "10",
        "-",
        "-",
        "don't",
        "miss",
        "it",
        ".",
    ]
    assert word_tokens(TEXTS[1]) == ["café", "crème", ".", ".", ".", "naïve", "?", "ça", "va", "!", "!"]
    assert word_tokens(TEXTS[4]) == ["tabs", "and", "newlines", "and", "spaces_and_underscores"]
    assert word_tokens("  \n ") == []


def test_bigrams_follow_the_tokens() -> None:
    assert with_bigrams(["not", "good", "!"]) == ["not", "good", "!", "not good", "good !"]
    assert with_bigrams(["one"]) == ["one"] and with_bigrams([]) == []


def test_vocabulary_from_training_tokens_with_cut_off_unk_and_pad() -> None:
    tokens = [word_tokens(t) for t in TEXTS]
    vocabulary = Vocabulary.build(tokens, min_freq=2)
    assert vocabulary.itos[:2] == [PAD, UNK] and vocabulary.pad_id == 0 and vocabulary.unk_id == 1
    # most frequent first, ties alphabetical; everything seen once is out
    assert vocabulary.itos[2:] == [".", "great", "!", "-", "10", "and", "it", "it's"]
    ids = vocabulary.encode(["great", "film", "it"])
    assert ids.dtype == torch.int64 and ids.tolist() == [3, 1, 8]
    assert vocabulary.decode(torch.tensor([3, 1, 0, 0])) == ["great", UNK]
    assert Vocabulary.build(tokens, min_freq=1, max_size=3).itos == [PAD, UNK, ".", "great", "!"]
    with pytest.raises(ValueError, match="min_freq"):
        Vocabulary.build(tokens, min_freq=0)


def test_encode_decode_round_trip_for_known_tokens_and_unknown_share() -> None:
    train = [word_tokens(t) for t in TEXTS[:3]]
    vocabulary = Vocabulary.build(train)
    for tokens in train:
        assert vocabulary.decode(vocabulary.encode(tokens)) == tokens
    encoded = encode_texts(["great unseen words", "It's"], vocabulary, max_tokens=2)
    assert [len(e) for e in encoded] == [2, 1]
    assert unknown_share(encoded, vocabulary) == pytest.approx(1 / 3)


def test_characters_number_like_nanogpt_and_have_no_specials() -> None:
    vocabulary = Vocabulary.of_characters("hello\nworld")
    assert vocabulary.itos == ["\n", "d", "e", "h", "l", "o", "r", "w"]
    text = "hello\nworld"
    assert "".join(vocabulary.decode(vocabulary.encode(text))) == text
    with pytest.raises(KeyError, match="'z' is not in this vocabulary"):
        vocabulary.encode("zz")


def test_same_tokens_and_vocabulary_as_hugging_face_tokenizers() -> None:
    """Oracle: ``tokenizers``' WordLevel model with the same normaliser, pre-tokeniser and cut-off."""
    tk = pytest.importorskip("tokenizers")
    from tokenizers import Regex, normalizers, pre_tokenizers, trainers

    tokenizer = tk.Tokenizer(tk.models.WordLevel(unk_token=UNK))
    tokenizer.normalizer = normalizers.Sequence(
        [normalizers.Replace(Regex(r"<br\s*/?>"), " "), normalizers.Lowercase()]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Split(Regex(r"\w+(?:'\w+)*|[^\w\s]"), "isolated")]
    )
    tokenizer.train_from_iterator(
        TEXTS, trainers.WordLevelTrainer(min_frequency=2, special_tokens=[PAD, UNK])
    )
    vocabulary = Vocabulary.build([word_tokens(t) for t in TEXTS], min_freq=2)
    assert sorted(tokenizer.get_vocab()) == sorted(vocabulary.itos)
    for text in [*TEXTS, "Unseen words, GREAT!"]:
        assert tokenizer.encode(text).tokens == vocabulary.decode(
            vocabulary.encode(word_tokens(text)), skip=()
        )


def test_bucketing_covers_every_sample_once_and_pads_less() -> None:
    g = torch.Generator().manual_seed(0)
    lengths = torch.randint(1, 500, (1000,), generator=g)
    sampler = BucketBatchSampler(lengths, batch_size=32, seed=3, bucket_batches=10)
    batches = sampler.batches()
    assert len(batches) == len(sampler) == 32
    assert sorted(torch.cat(batches).tolist()) == list(range(1000))
    bucketed, plain = padding_share(batches, lengths), padding_share(random_batches(1000, 32), lengths)
    assert bucketed < 0.15 < 0.3 < plain
    sampler.set_epoch(1)
    assert [b.tolist() for b in sampler.batches()] != [b.tolist() for b in batches]  # a new order each epoch
    sampler.set_epoch(0)
    assert [b.tolist() for b in sampler.batches()] == [
        b.tolist() for b in batches
    ]  # depends on (seed, epoch)
    in_order = BucketBatchSampler(lengths, batch_size=32, shuffle=False).batches()
    assert (lengths[torch.cat(in_order)].diff() >= 0).all()
    dropped = BucketBatchSampler(lengths, batch_size=32, drop_last=True, bucket_batches=10).batches()
    assert len(dropped) == 31 and all(len(b) == 32 for b in dropped)


def test_padding_share_counts_empty_slots() -> None:
    assert padding_share([[0, 1]], [3, 1]) == pytest.approx(2 / 6)
    assert padding_share([[0], [1]], [3, 1]) == 0.0


def test_sequence_loader_yields_fits_batches_and_its_order() -> None:
    sequences = [torch.arange(1, n + 1) for n in (5, 2, 7, 1, 3)]
    loader = SequenceLoader(sequences, [0, 1, 0, 1, 1], batch_size=2, shuffle=True, seed=1, pad_id=0)
    assert len(loader) == 3
    seen = []
    for (padded, lengths), labels in loader:
        assert padded.dtype == lengths.dtype == labels.dtype == torch.int64
        assert padded.shape == (len(labels), int(lengths.max()))
        for row, length in zip(padded, lengths.tolist()):
            assert (row[length:] == 0).all() and row[length - 1] == length
        seen += lengths.tolist()
    assert seen == [len(sequences[i]) for i in loader.sample_order().tolist()]
    plain = SequenceLoader(sequences, [0] * 5, batch_size=2, bucketing=False)
    assert plain.sample_order().tolist() == [0, 1, 2, 3, 4]
    with pytest.raises(ValueError, match="sequence 1 is empty"):
        SequenceLoader([torch.tensor([3]), torch.tensor([], dtype=torch.int64)], [0, 1], batch_size=2)
    (padded, lengths), labels = text_collate([(torch.tensor([4, 5]), 1), (torch.tensor([6]), 0)], pad_id=9)
    assert padded.tolist() == [[4, 5], [6, 9]] and lengths.tolist() == [2, 1] and labels.tolist() == [1, 0]


def test_text_classification_data_builds_its_vocabulary_from_the_training_part_only() -> None:
    tokens = [["good", "film"], ["bad", "film"], ["good", "good"], ["secret", "test", "word"]]
    test_tokens = [["good", "secret"]]
    data = TextClassificationData.from_tokens(
        tokens, [1, 0, 1, 0], test_tokens, [1], torch.tensor([0, 1, 2]), torch.tensor([3])
    )
    assert "secret" not in data.vocabulary  # seen only in the validation part
    assert data.val.sequences[0].tolist() == [1, 1, 1] and data.test.sequences[0].tolist()[1] == 1
    assert data.val.source.tolist() == [3] and data.val.labels.tolist() == [0]
    bigrams = TextClassificationData.from_tokens(
        tokens, [1, 0, 1, 0], test_tokens, [1], torch.tensor([0, 1, 2]), torch.tensor([3]),
        features=with_bigrams, max_tokens=2,
    )  # fmt: skip
    assert "good film" in bigrams.vocabulary and bigrams.settings["features"] == "with_bigrams"
    with pytest.raises(ValueError, match="both the training and the validation"):
        TextClassificationData.from_tokens(
            tokens, [1, 0, 1, 0], [], [], torch.tensor([0, 1]), torch.tensor([1])
        )


def test_nanogpt_split_and_character_splits() -> None:
    text = "abcdefghij" * 10
    train, val = nanogpt_split(text)
    assert train == text[:90] and val == text[90:]
    splits = CharSplits.of(text)
    assert len(splits.vocabulary) == 10 and len(splits.train_ids) == 90 and len(splits.val_ids) == 10


def test_language_model_windows_are_shifted_by_one() -> None:
    ids = torch.arange(1000)
    windows = RandomWindows(ids, length=16, batch_size=4, steps=3, seed=0)
    batches = list(windows)
    assert len(batches) == len(windows) == 3
    for x, y in batches:
        assert x.shape == y.shape == (4, 16) and torch.equal(y, x + 1)
    windows.set_epoch(1)
    assert not torch.equal(next(iter(windows))[0], batches[0][0])
    consecutive = ConsecutiveWindows(torch.arange(50), length=8, batch_size=4)
    xs = [x for x, _ in consecutive]
    assert consecutive.windows == 6 and consecutive.targets == 48 and [len(x) for x in xs] == [4, 2]
    assert torch.equal(torch.cat(xs).flatten(), torch.arange(48))
    with pytest.raises(ValueError, match="no window"):
        ConsecutiveWindows(torch.arange(5), length=8, batch_size=1)
