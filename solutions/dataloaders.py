"""Reference solutions to the dataloaders lesson's exercises, and the typical mistakes their checks catch."""

import zlib

import numpy as np
import torch
from torch.nn.utils.rnn import pad_sequence


def pad_collate(samples, pad_value=0):
    """[(sequence (T_i, ...), label), ...] → (padded (B, T_max, ...), lengths (B,), labels (B,))."""
    sequences = [sequence for sequence, _ in samples]
    lengths = torch.tensor([len(sequence) for sequence in sequences])  # before padding
    padded = pad_sequence(sequences, batch_first=True, padding_value=pad_value)  # (B, T_max, ...)
    labels = torch.tensor([label for _, label in samples])
    return padded, lengths, labels


def reseed_generators(dataset, seed: int) -> None:
    """Re-seed, in place, every numpy Generator held as an attribute of ``dataset``, each from its own seed."""
    for name, value in vars(dataset).items():
        if isinstance(value, np.random.Generator):
            own_seed = seed + zlib.crc32(name.encode())  # a different stream per attribute
            setattr(dataset, name, np.random.default_rng(own_seed))


def stratified_split(labels: torch.Tensor, val_fraction: float, seed: int = 0):
    """(train_idx, val_idx): the same fraction of every class goes to validation."""
    generator = torch.Generator().manual_seed(seed)
    train, val = [], []
    for cls in torch.unique(labels):
        members = (labels == cls).nonzero().flatten()
        members = members[torch.randperm(len(members), generator=generator)]  # shuffle within the class
        n_val = round(len(members) * val_fraction)
        val.append(members[:n_val])
        train.append(members[n_val:])
    return torch.cat(train).sort().values, torch.cat(val).sort().values


# ------------------------------------------------------------------------------ typical mistakes


def _time_first(samples, pad_value=0):
    padded, lengths, labels = pad_collate(samples, pad_value)
    return padded.transpose(0, 1), lengths, labels


def _padded_lengths(samples, pad_value=0):
    padded, _, labels = pad_collate(samples, pad_value)
    return padded, torch.full((len(samples),), padded.shape[1]), labels


def _ignores_pad_value(samples, pad_value=0):
    return pad_collate(samples, 0)


def _labels_as_a_list(samples, pad_value=0):
    padded, lengths, _ = pad_collate(samples, pad_value)
    return padded, lengths, [label for _, label in samples]


def _seeds_the_global_generator(dataset, seed):
    np.random.seed(seed)


def _one_seed_for_all(dataset, seed):
    for name, value in vars(dataset).items():
        if isinstance(value, np.random.Generator):
            setattr(dataset, name, np.random.default_rng(seed))


def _fresh_entropy(dataset, seed):
    for name, value in vars(dataset).items():
        if isinstance(value, np.random.Generator):
            setattr(dataset, name, np.random.default_rng())


def _random_split(labels, val_fraction, seed=0):
    order = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    n_val = round(len(labels) * val_fraction)
    return order[n_val:].sort().values, order[:n_val].sort().values


def _first_of_each_class(labels, val_fraction, seed=0):
    train, val = [], []
    for cls in torch.unique(labels):
        members = (labels == cls).nonzero().flatten()
        n_val = round(len(members) * val_fraction)
        val.append(members[:n_val])
        train.append(members[n_val:])
    return torch.cat(train), torch.cat(val)


def _floor(labels, val_fraction, seed=0):
    generator = torch.Generator().manual_seed(seed)
    train, val = [], []
    for cls in torch.unique(labels):
        members = (labels == cls).nonzero().flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        n_val = int(len(members) * val_fraction)  # 1.8 → 1
        val.append(members[:n_val])
        train.append(members[n_val:])
    return torch.cat(train), torch.cat(val)


MISTAKES = {
    "pad-collate": [
        (_time_first, "batch_first"),
        (_padded_lengths, "each sequence's own length"),
        (_ignores_pad_value, "pass pad_value on"),
        (_labels_as_a_list, "labels should be one tensor"),
    ],
    "reseed-generators": [
        (_seeds_the_global_generator, "still draws what it drew before"),
        (_one_seed_for_all, "its own seed"),
        (_fresh_entropy, "the same seed gave different numbers"),
    ],
    "stratified-split": [
        (_random_split, "Split each class on its own"),
        (_first_of_each_class, "shuffle each class"),
        (_floor, "round it"),
    ],
}
