"""Random numbers in ``DataLoader`` workers: distinct per worker, repeatable per run (lesson 10).

Each epoch the ``DataLoader`` draws a ``base_seed`` from its ``generator`` (or torch's global
generator) and, in worker ``k``, seeds torch, ``random`` and ``numpy.random``'s global state from
``base_seed`` and ``k``. What it cannot reach are random generators the *dataset object* owns
(``self.rng = np.random.default_rng(0)``): the dataset is copied into every worker together with
its generator's state, so every worker draws the very same numbers — and again next epoch.

The recipe: pass ``worker_init_fn=seed_worker`` (re-seeds every generator the dataset holds from
the worker's own seed) and ``generator=loader_generator(seed)`` (makes the base seed, hence the
whole run, repeatable).
"""

from __future__ import annotations

import random
import zlib

import numpy as np
import torch
from torch.utils.data import get_worker_info


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


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: re-seed every random generator held as an attribute of the worker's
    dataset from this worker's seed (``get_worker_info().seed``: different per worker and per
    epoch, and repeatable given the loader's generator). Also re-seeds ``random`` and
    ``numpy.random`` — PyTorch ≥ 1.9 does that already; older versions did not."""
    info = get_worker_info()
    seed = info.seed  # base_seed + worker_id
    random.seed(seed)
    np.random.seed(seed % 2**32)
    for name, value in vars(info.dataset).items():
        _reseed(value, seed + zlib.crc32(name.encode()))  # a different stream per attribute


def loader_generator(seed: int) -> torch.Generator:
    """A generator for ``DataLoader(generator=...)``: fixes shuffling and every worker's base seed."""
    return torch.Generator().manual_seed(seed)
