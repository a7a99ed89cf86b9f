"""The data-storage lesson's exercises: a measure of how well an epoch was shuffled, grouping the
members of a tar shard into samples the way WebDataset does, and the shuffle buffer of a stream.

Oracles: the library's ``label_autocorrelation``; for the grouping, ``_grouped`` below (the
tests check it against WebDataset's own grouping); for the shuffle buffer, the properties a
buffer of ``B`` samples must have (every item once, no item earlier than ``B − 1`` places before
its position in the stream, the order decided by the seed alone).
"""

from __future__ import annotations

import itertools
import math

import torch

from e2edl.data.formats.measure import label_autocorrelation as library_autocorrelation
from e2edl.exercises.checking import Hint, call, expect_equal, expect_number
from e2edl.exercises.exercise import Exercise

# -------------------------------------------------------------------------- label_autocorrelation


def _labels(n: int, classes: int, seed: int) -> list[int]:
    generator = torch.Generator().manual_seed(seed)
    return torch.randint(classes, (n,), generator=generator).tolist()


def check_label_autocorrelation(fn) -> None:
    cases = [
        ([0, 0, 0, 0, 1, 1, 1, 1], 4, "8 labels sorted by class, batches of 4 (each batch one class)"),
        (sorted(_labels(50, 2, 0)), 8, "50 labels sorted by class, batches of 8"),
        ([0, 1] * 12, 6, "labels alternating 0, 1, 0, 1, ..., batches of 6"),
        (_labels(200, 2, 1), 32, "200 random labels of 2 classes, batches of 32 (the last has 8)"),
        (_labels(90, 3, 2), 10, "90 random labels of 3 classes, batches of 10"),
        (sorted(_labels(60, 3, 3)), 16, "60 labels of 3 classes sorted, batches of 16 (the last has 12)"),
    ]
    for labels, batch_size, described in cases:
        want = library_autocorrelation(labels, batch_size)
        got = call(fn, list(labels), batch_size, what="label_autocorrelation")
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, (int, float)) and not math.isclose(got, want, abs_tol=1e-6):
            _diagnose(labels, batch_size, got, described)
        expect_number(got, want, f"label_autocorrelation for {described}", atol=1e-6)
    try:
        one_class = fn([1] * 12, 4)
    except ZeroDivisionError:
        one_class = "ZeroDivisionError"
    except Exception:  # any other crash: let call() describe it
        one_class = call(fn, [1] * 12, 4, what="label_autocorrelation")
    if not isinstance(one_class, (int, float, torch.Tensor)) or not math.isclose(
        float(one_class), 0.0, abs_tol=1e-9
    ):
        raise Hint("with a single class, chance agreement Σ p_c² is 1 and the formula divides 0 by 0: return 0.0 "
                   f"for that case (got {one_class!r}).")  # fmt: skip


def _diagnose(labels: list[int], batch_size: int, got: float, described: str) -> None:
    """Name the usual mistake when ``got`` matches what it would give."""
    pairs = list(zip(labels, labels[1:]))
    agree_all = sum(a == b for a, b in pairs) / len(pairs)
    shares = torch.bincount(torch.tensor(labels)).double() / len(labels)
    chance = float((shares**2).sum())
    within = [
        (a, b)
        for s in range(0, len(labels), batch_size)
        for a, b in itertools.pairwise(labels[s : s + batch_size])
    ]
    agree = sum(a == b for a, b in within) / len(within)
    full = [(a, b) for s in range(0, len(labels) - batch_size + 1, batch_size)
            for a, b in itertools.pairwise(labels[s : s + batch_size])]  # fmt: skip
    if math.isclose(got, (agree_all - chance) / (1 - chance), abs_tol=1e-6):
        raise Hint(f"for {described}: pairs that straddle two batches were counted; only neighbours in the "
                   "same batch count (the loader never puts them in one batch).")  # fmt: skip
    if math.isclose(got, agree, abs_tol=1e-6):
        raise Hint(f"for {described} you returned the share of agreeing neighbours ({agree:.3f}); subtract what "
                   f"chance gives (Σ p_c² = {chance:.3f}) and divide by 1 − Σ p_c², so a random order gives 0.")  # fmt: skip
    if full and len(full) != len(within):
        agree_full = sum(a == b for a, b in full) / len(full)
        if math.isclose(got, (agree_full - chance) / (1 - chance), abs_tol=1e-6):
            raise Hint(f"for {described}: the last, shorter batch counts too.")
    two_class = float(torch.tensor(labels).double().mean())
    chance_two = two_class**2 + (1 - two_class) ** 2
    if shares.numel() > 2 and math.isclose(got, (agree - chance_two) / (1 - chance_two), abs_tol=1e-6):
        raise Hint(f"for {described}: there are more than two classes; chance is Σ p_c² over every class.")


# ---------------------------------------------------------------------------------- group_by_key


def _split_name(name: str) -> tuple[str, str]:
    folder, _, file_name = name.rpartition("/")
    stem, _, extension = file_name.partition(".")
    return (f"{folder}/{stem}" if folder else stem), extension


def _grouped(members) -> list[dict]:
    """The oracle: consecutive members with the same key form one sample."""
    samples: list[dict] = []
    for name, data in members:
        key, extension = _split_name(name)
        if not samples or samples[-1]["__key__"] != key:
            samples.append({"__key__": key})
        samples[-1][extension] = data
    return samples


GROUPING_CASES = [
    ([("000000.jpg", b"cat"), ("000000.cls", b"0"), ("000001.jpg", b"dog"), ("000001.cls", b"1")],
     "two samples of an image and a label"),
    ([("a.jpg", b"1"), ("a.seg.png", b"2"), ("b.jpg", b"3"), ("b.seg.png", b"4")],
     "members named a.seg.png (a key with a two-part extension)"),
    ([("train.v2/0001.jpg", b"1"), ("train.v2/0001.cls", b"0"), ("train.v2/0002.jpg", b"2")],
     "members in a folder train.v2/ whose name has a dot"),
    ([("x.jpg", b"1"), ("y.jpg", b"2"), ("x.cls", b"3")], "x.jpg, y.jpg, then x.cls again"),
    ([("only.txt", b"hello")], "a single member"),
]  # fmt: skip


def check_group_by_key(fn) -> None:
    for members, described in GROUPING_CASES:
        want = _grouped(members)
        got = call(fn, iter(members), what="group_by_key")
        got = list(got) if not isinstance(got, list) and got is not None else got
        if not isinstance(got, list) or not all(isinstance(s, dict) for s in got):
            raise Hint("group_by_key should return (or yield) the samples: one dict per sample.")
        if got == want:
            continue
        keys = [s.get("__key__") for s in got]
        want_keys = [s["__key__"] for s in want]
        if got == want[:-1]:
            raise Hint(f"for {described} the last sample is missing: when the members run out, the sample being "
                       "filled must still be returned.")  # fmt: skip
        if "a.seg.png" in str(members) and any("a.seg" in str(k) for k in keys):
            raise Hint("split each file name at its FIRST dot: a.seg.png is key a with extension seg.png.")
        if "train.v2" in str(members) and any(k and not str(k).startswith("train.v2/") for k in keys):
            raise Hint("the folder is part of the key and only the file name's first dot counts: "
                       "train.v2/0001.jpg is key train.v2/0001, extension jpg.")  # fmt: skip
        if len(got) < len(want) and "x.cls" in str(members):
            raise Hint("a tar shard is read once, front to back: group consecutive members only (x.cls after "
                       "y.jpg starts a new sample). Collecting every key in a dict would hold the whole shard in "
                       "memory and reorder it.")  # fmt: skip
        if keys == want_keys:
            raise Hint(f"for {described} the keys are right but a sample's fields are not: each member's data "
                       "goes under its extension (sample['jpg'] = the .jpg member's bytes).")  # fmt: skip
        expect_equal(got, want, f"the samples for {described}")


# --------------------------------------------------------------------------------- buffer_shuffle


def _shuffled(fn, n: int, buffer_size: int, seed: int) -> list[int]:
    got = call(fn, iter(range(n)), buffer_size, seed, what="buffer_shuffle")
    try:
        out = list(got)
    except TypeError:
        raise Hint(f"buffer_shuffle should return or yield the items, got {type(got).__name__}.") from None
    return out


def check_buffer_shuffle(fn) -> None:
    n, buffer_size = 200, 10
    out = _shuffled(fn, n, buffer_size, seed=0)
    if sorted(out) != list(range(n)):
        missing = sorted(set(range(n)) - set(out))
        if len(set(out)) == len(out) and 0 < len(missing) <= buffer_size:
            raise Hint(f"{len(missing)} items never came out, no more than the buffer holds: when the stream runs "
                       "out, the items still in the buffer must be yielded too (in random order).")  # fmt: skip
        raise Hint(f"every item must come out exactly once: {n} went in, {len(out)} came out, "
                   f"{len(set(out))} distinct.")  # fmt: skip
    if out == list(range(n)):
        raise Hint("the items came out in their original order: yield a randomly chosen item of the buffer, "
                   "not the oldest one.")  # fmt: skip
    early = [(position, item) for position, item in enumerate(out) if item > position + buffer_size - 1]
    if early:
        position, item = early[0]
        raise Hint(f"item {item} came out at position {position}, before the stream could have reached it with "
                   f"a buffer of {buffer_size}: never hold more than buffer_size items (read, then yield one "
                   "whenever the buffer is full).")  # fmt: skip
    if _shuffled(fn, n, buffer_size, seed=0) != out:
        raise Hint("the same seed gave another order: draw from a generator made from `seed` "
                   "(random.Random(seed)), not from the global one.")  # fmt: skip
    if _shuffled(fn, n, buffer_size, seed=1) == out:
        raise Hint("seeds 0 and 1 gave the same order: the seed should decide the order.")
    if _shuffled(fn, 30, 1, seed=0) != list(range(30)):
        raise Hint(
            "with a buffer of one item there is nothing to choose from: the order must stay as it was."
        )
    whole = _shuffled(fn, 8, 100, seed=3)
    if sorted(whole) != list(range(8)):
        raise Hint("with a buffer larger than the stream, every item must still come out exactly once.")
    firsts = [_shuffled(fn, 40, 4, seed)[0] for seed in range(200)]
    counts = [firsts.count(i) for i in range(4)]
    if min(counts) < 25:  # each of the first 4 items should come out first about 50 times in 200
        raise Hint(f"the first item out should be any of the first 4 with equal chance; over 200 seeds they "
                   f"came first {counts} times: pick uniformly from the whole buffer.")  # fmt: skip


EXERCISES = [
    Exercise(
        "label-autocorrelation",
        "label_autocorrelation",
        "measure how much batches clump by class: neighbour agreement within batches, corrected for chance",
        check_label_autocorrelation,
    ),
    Exercise(
        "group-by-key",
        "group_by_key",
        "group the members of a tar shard into samples by their key, as WebDataset does",
        check_group_by_key,
    ),
    Exercise(
        "buffer-shuffle",
        "buffer_shuffle",
        "shuffle a stream with a buffer of a fixed size, as WebDataset and other streaming loaders do",
        check_buffer_shuffle,
    ),
]
