"""Random numbers in ``DataLoader`` workers: distinct per worker, repeatable per run (the dataloaders lesson).

Each epoch the ``DataLoader`` draws a ``base_seed`` from its ``generator`` (or torch's global
generator) and, in worker ``k``, seeds torch, ``random`` and ``numpy.random``'s global state from
``base_seed`` and ``k``. What it cannot reach are random generators the *dataset object* owns
(``self.rng = np.random.default_rng(0)``): the dataset is copied into every worker together with
its generator's state, so every worker draws the very same numbers — and again next epoch.

The recipe: pass ``worker_init_fn=seed_worker`` (re-seeds every generator the dataset holds from
the worker's own seed) and ``generator=loader_generator(seed)`` (makes the base seed, hence the
whole run, repeatable). ``NoisyNumbers`` and ``per_worker_draws`` show the pitfall and the fix.
"""

from __future__ import annotations

import random
import zlib

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info


def _reseed(rng: object, seed: int) -> bool:
    """Re-seed ``rng`` in place if it is a generator we know; returns whether it was one."""
    if isinstance(rng, np.random.Generator):
        rng.bit_generator.state = np.random.default_rng(seed).bit_generator.state
    elif isinstance(rng, np.random.RandomState):
        rng.seed(seed % 2**32)
    elif isinstance(rng, torch.Generator):
        rng.manual_seed(seed)
    elif isinstance(rng, random.Random):
        rng.seed(seed)
    else:
        return False
    return True


def reseed_generators(dataset: object, seed: int) -> list[str]:
    """Re-seed, in place, every random generator held as an attribute of ``dataset``.

    The attribute called ``name`` gets the seed ``seed + crc32(name)``, so two generators of one
    dataset never draw the same stream. NumPy ``Generator`` and ``RandomState``,
    ``torch.Generator`` and ``random.Random`` are recognised. Returns the names re-seeded.
    """
    return [name for name, value in vars(dataset).items() if _reseed(value, seed + zlib.crc32(name.encode()))]


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: re-seed every random generator held as an attribute of the worker's
    dataset from this worker's seed (``get_worker_info().seed``: different per worker and per
    epoch, and repeatable given the loader's generator). Also re-seeds ``random`` and
    ``numpy.random`` — PyTorch ≥ 1.9 does that already; older versions did not."""
    info = get_worker_info()
    seed = info.seed  # base_seed + worker_id
    random.seed(seed)
    np.random.seed(seed % 2**32)
    reseed_generators(info.dataset, seed)


def loader_generator(seed: int) -> torch.Generator:
    """A generator for ``DataLoader(generator=...)``: fixes shuffling and every worker's base seed."""
    return torch.Generator().manual_seed(seed)


class NoisyNumbers(Dataset):
    """``dataset[i]`` → one random number from a NumPy generator *the dataset owns* (seeded once).

    The kind of dataset that draws random augmentations; it is here to show what happens to
    ``self.rng`` when the dataset is copied into several worker processes.
    """

    def __init__(self, n: int = 32, seed: int = 0) -> None:
        self.n = n
        self.rng = np.random.default_rng(seed)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: int) -> float:
        return float(self.rng.random())


def per_worker_draws(
    worker_init_fn=None, seed: int = 0, n: int = 32, batch_size: int = 4
) -> list[list[float]]:
    """The numbers each of 2 workers drew from ``NoisyNumbers(n)`` in one epoch, in order (worker
    ``k`` makes batches ``k, k + 2, ...``), with the given ``worker_init_fn`` and loader seed."""
    loader = DataLoader(NoisyNumbers(n), batch_size=batch_size, num_workers=2,
                        worker_init_fn=worker_init_fn, generator=loader_generator(seed))  # fmt: skip
    draws: list[list[float]] = [[], []]
    for i, batch in enumerate(loader):
        draws[i % 2] += batch.tolist()
    return draws


def duplicated_fraction(draws: list[list[float]]) -> float:
    """Fraction of positions where worker 1 drew exactly what worker 0 drew."""
    pairs = list(zip(*draws))
    return sum(a == b for a, b in pairs) / len(pairs)
