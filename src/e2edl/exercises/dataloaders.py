"""The dataloaders lesson's exercises: a padding collate function, re-seeding a dataset's own random
generators in a worker, and a stratified split.

The oracles are the library's ``pad_collate`` and the properties a stratified split must have
(every class split in the same proportion, nothing lost, nothing shared, repeatable per seed).
"""

from __future__ import annotations

import copy

import numpy as np
import torch

from e2edl.data.collate import pad_collate as library_pad_collate
from e2edl.exercises.checking import Hint, call, expect_tensor
from e2edl.exercises.exercise import Exercise

# ------------------------------------------------------------------------------------ pad_collate


def _sequences(lengths, seed: int, features: int | None = None) -> list[tuple[torch.Tensor, int]]:
    generator = torch.Generator().manual_seed(seed)
    samples = []
    for i, length in enumerate(lengths):
        shape = (length,) if features is None else (length, features)
        samples.append((torch.randint(1, 100, shape, generator=generator), i % 3))
    return samples


def check_pad_collate(fn) -> None:
    cases = [
        (_sequences([3, 5, 1], seed=0), {}, "three sequences of lengths 3, 5, 1"),
        (_sequences([4, 2, 6, 6], seed=1), {"pad_value": -1}, "four sequences padded with pad_value=-1"),
        (_sequences([2, 7], seed=2, features=3), {}, "two sequences of 3 features per step, lengths 2 and 7"),
    ]
    for samples, options, described in cases:
        want_padded, want_lengths, want_labels = library_pad_collate(samples, **options)
        got = call(fn, samples, **options, what="pad_collate")
        if not isinstance(got, tuple | list) or len(got) != 3:
            raise Hint("pad_collate should return three things: (padded, lengths, labels).")
        padded, lengths, labels = got
        if (
            isinstance(padded, torch.Tensor)
            and padded.shape == want_padded.transpose(0, 1).shape != want_padded.shape
        ):
            raise Hint(f"for {described} the padded batch has shape {tuple(padded.shape)}: time first. The "
                       f"batch comes first, (B, T_max, ...) = {tuple(want_padded.shape)} (batch_first=True).")  # fmt: skip
        if isinstance(padded, torch.Tensor) and padded.shape == want_padded.shape and options:
            default_padding = library_pad_collate(samples)[0]
            if torch.equal(padded, default_padding) and not torch.equal(padded, want_padded):
                raise Hint(f"for {described} the padding should be {options['pad_value']}: pass pad_value on "
                           "(pad_sequence(..., padding_value=pad_value)).")  # fmt: skip
        expect_tensor(padded, want_padded, f"the padded batch for {described}")
        if isinstance(lengths, torch.Tensor) and torch.equal(
            lengths, torch.full_like(want_lengths, padded.shape[1])
        ):
            raise Hint("lengths are each sequence's own length before padding, not the padded length.")
        if not isinstance(lengths, torch.Tensor):
            raise Hint(f"lengths should be a tensor (torch.tensor([...])), got {type(lengths).__name__}.")
        expect_tensor(lengths, want_lengths, f"the lengths for {described}")
        if not isinstance(labels, torch.Tensor):
            raise Hint(
                f"labels should be one tensor (B,), like default_collate makes, got {type(labels).__name__}."
            )
        expect_tensor(labels, want_labels, f"the labels for {described}")


# -------------------------------------------------------------------------------- reseed_generators


class _Augmenting:
    """A dataset-like object holding two NumPy generators (as a random augmentation would) and a number."""

    def __init__(self) -> None:
        self.crop_rng = np.random.default_rng(0)
        self.flip_rng = np.random.default_rng(0)
        self.size = 64


def _draws(obj: _Augmenting) -> tuple[float, float]:
    return float(obj.crop_rng.random()), float(obj.flip_rng.random())


def check_reseed_generators(fn) -> None:
    original = _Augmenting()
    untouched = _draws(copy.deepcopy(original))
    copies = {seed: [copy.deepcopy(original), copy.deepcopy(original)] for seed in (1, 2)}
    for seed, pair in copies.items():
        for obj in pair:
            call(fn, obj, seed, what="reseed_generators")
    draws = {seed: [_draws(obj) for obj in pair] for seed, pair in copies.items()}
    if not isinstance(copies[1][0].crop_rng, np.random.Generator):
        raise Hint(
            "keep each generator a numpy Generator (np.random.default_rng(...)): the dataset draws from it."
        )
    if draws[1][0] == untouched or draws[2][0] == untouched:
        raise Hint("the dataset's own generator still draws what it drew before: np.random.seed only seeds "
                   "the global generator; re-seed (or replace) the generators that are attributes of the dataset.")  # fmt: skip
    if draws[1][0] != draws[1][1]:
        raise Hint("the same seed gave different numbers: derive the new generators from `seed` alone "
                   "(np.random.default_rng(seed + ...)), so a run can be repeated.")  # fmt: skip
    if draws[1][0] == draws[2][0]:
        raise Hint("seeds 1 and 2 gave the same numbers: each worker has its own seed; use it.")
    crop, flip = draws[1][0]
    if crop == flip:
        raise Hint("two generators of the dataset now draw the same numbers: give each attribute its own seed "
                   "(e.g. seed plus a number derived from the attribute's name).")  # fmt: skip
    if copies[1][0].size != 64:
        raise Hint(
            "only the random generators change: other attributes (here `size`) must stay as they were."
        )


# ---------------------------------------------------------------------------------- stratified split


def _as_index_list(value, what: str) -> list[int]:
    if isinstance(value, torch.Tensor):
        value = value.tolist()
    if not isinstance(value, list | tuple) or not all(isinstance(i, int) for i in value):
        raise Hint(f"{what} should be a tensor or list of integer indices.")
    return list(value)


def check_stratified_split(fn) -> None:
    labels = torch.tensor([0] * 90 + [1] * 9 + [2] * 31)[
        torch.randperm(130, generator=torch.Generator().manual_seed(0))
    ]
    counts = torch.bincount(labels).tolist()
    splits = {}
    for seed in (0, 1):
        got = call(fn, labels, 0.2, seed, what="stratified_split")
        if not isinstance(got, tuple | list) or len(got) != 2:
            raise Hint("stratified_split should return two things: (train_idx, val_idx).")
        train, val = (_as_index_list(part, name) for part, name in zip(got, ("train_idx", "val_idx")))
        if set(train) & set(val):
            raise Hint(
                f"{len(set(train) & set(val))} indices are in both parts: each sample goes to exactly one."
            )
        if sorted(train + val) != list(range(len(labels))):
            raise Hint(f"the two parts hold {len(set(train + val))} distinct indices of {len(labels)}: every "
                       "sample must be in one of them.")  # fmt: skip
        for cls, n in enumerate(counts):
            in_val = int((labels[val] == cls).sum())
            if in_val == int(n * 0.2) != round(n * 0.2):
                raise Hint(f"class {cls} has {n} samples, so 20% is {n * 0.2:g}: round it ({round(n * 0.2)} "
                           f"to validation) rather than cut it off with int() ({in_val}).")  # fmt: skip
            if abs(in_val - n * 0.2) > 0.5:
                raise Hint(f"class {cls} has {n} samples, so 20% is {n * 0.2:g}: {round(n * 0.2)} should go to "
                           f"validation, but {in_val} did. Split each class on its own.")  # fmt: skip
        splits[seed] = sorted(val)
    again = call(fn, labels, 0.2, 0, what="stratified_split")
    if sorted(_as_index_list(again[1], "val_idx")) != splits[0]:
        raise Hint("the same seed gave another split: draw the shuffle from a generator seeded with `seed`.")
    if splits[0] == splits[1]:
        first = sorted(
            i
            for cls in range(3)
            for i in (labels == cls).nonzero().flatten().tolist()[: round(counts[cls] * 0.2)]
        )
        if splits[0] == first:
            raise Hint(
                "validation takes the first samples of each class: shuffle each class (with the seed) first."
            )
        raise Hint(
            "seeds 0 and 1 gave the same split: the seed should decide which samples go to validation."
        )


EXERCISES = [
    Exercise(
        "pad-collate",
        "pad_collate",
        "a collate function for sequences of different lengths: pad to the longest, keep the lengths",
        check_pad_collate,
    ),
    Exercise(
        "reseed-generators",
        "reseed_generators",
        "re-seed the random generators a dataset owns, in a worker, from the worker's seed",
        check_reseed_generators,
    ),
    Exercise(
        "stratified-split",
        "stratified_split",
        "a train/validation split that takes the same share of every class",
        check_stratified_split,
    ),
]
