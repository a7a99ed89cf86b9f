"""The dataloaders lesson's experiment: datasets, samplers, collate functions and workers, measured.

What it measures, on the Dogs vs Cats JPEG files of the pets data set:

- **throughput**: images/s of one pass over ``n`` files (decoded to 64 px) with 0, 1 and 2
  ``DataLoader`` workers, and from a decode-once cache (the same files decoded once into a tensor,
  then read by a ``DataLoader`` and by slicing); median of ``repeats`` passes;
- **splits**: the minority-class share of a 10% validation set, ``random_split`` vs
  ``stratified_split``, over many seeds, on an imbalanced subset (1000 cats, 100 dogs);
- **sampling**: the minority share of the samples a ``DataLoader`` draws from that subset with a
  shuffling sampler and with a class-balancing ``WeightedRandomSampler``;
- **collate**: variable-length sequences padded by ``pad_collate`` and unpadded again;
- **workers**: random numbers drawn by two workers from a dataset that owns a NumPy generator,
  without and with ``seed_worker``; a folder of real JPEGs with broken files, read by 2 workers.
"""

from __future__ import annotations

import statistics
import tempfile
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch.utils.data import DataLoader, TensorDataset, random_split

from e2edl.course.claims import Claim
from e2edl.course.lesson import Lesson, RunConfig
from e2edl.data import load_pets, stratified_split
from e2edl.data.broken_files import folder_with_broken_files
from e2edl.data.collate import pad_collate, unpad
from e2edl.data.datasets import ImageFileDataset, skip_none_collate
from e2edl.data.imbalance import imbalanced_subset
from e2edl.data.samplers import balanced_sampler, class_shares
from e2edl.data.throughput import count_samples, spread_sample, throughput_table
from e2edl.data.worker_seeding import duplicated_fraction, loader_generator, per_worker_draws, seed_worker
from e2edl.figures import Table

SIZE, BATCH = 64, 64
IMBALANCE = {"cat": 1000, "dog": 100}  # the imbalanced subset: class 0 = cat, 1 = dog


# ------------------------------------------------------------------------------------ throughput


def throughput_figure(rows: list[dict]) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(6.5, 3))
    ways = [r["way"] for r in rows][::-1]
    rates = [r["per_second"] for r in rows][::-1]
    bars = ax.barh(
        ways,
        rates,
        color=[
            ("tab:gray" if "paid once" in w else "tab:green" if "cache" in w else "tab:blue") for w in ways
        ],
    )
    ax.bar_label(bars, [f"{r:,.0f}" for r in rates], fontsize=8, padding=2)
    ax.set_xscale("log")
    ax.set(
        xlabel="images per second (log scale)", title=f"Reading {rows[0]['samples']} pet photos at {SIZE} px"
    )
    return fig


# ------------------------------------------------------------------------ splits and sampling


def split_minority_shares(labels: torch.Tensor, seeds: int = 200, val_fraction: float = 0.1) -> dict:
    """Minority share of the validation set for ``seeds`` random splits and for the stratified split."""
    n_val = round(len(labels) * val_fraction)
    random_shares = []
    for seed in range(seeds):
        _, val = random_split(range(len(labels)), [len(labels) - n_val, n_val], loader_generator(seed))
        random_shares.append(float((labels[list(val)] == 1).double().mean()))
    _, val_idx = stratified_split(labels, val_fraction, seed=0)
    return {"random": random_shares, "stratified": float((labels[val_idx] == 1).double().mean()),
            "overall": float((labels == 1).double().mean())}  # fmt: skip


def split_figure(shares: dict, n_val: int = 110) -> plt.Figure:
    """Histogram of the number of dogs in the validation set: random splits vs the stratified one."""
    fig, ax = plt.subplots(figsize=(5.5, 3))
    dogs = [round(share * n_val) for share in shares["random"]]
    ax.hist(dogs, bins=np.arange(min(dogs) - 0.5, max(dogs) + 1.5), color="tab:gray",
            label=f"random_split, {len(dogs)} seeds")  # fmt: skip
    ax.axvline(round(shares["stratified"] * n_val), color="tab:green", lw=3, label="stratified_split")
    ax.axvline(shares["overall"] * n_val, color="black", ls=":", label="expected (share in the subset)")
    ax.set(xlabel=f"dogs among the {n_val} validation samples", ylabel="seeds",
           title="1000 cats + 100 dogs, 10% held out")  # fmt: skip
    ax.legend(fontsize=8)
    return fig


def drawn_minority_share(
    labels: torch.Tensor, sampler=None, shuffle: bool = False, draws: int = 20_000, seed: int = 0
) -> float:
    """The share of class 1 among the labels a ``DataLoader`` yields (epochs repeated up to ``draws``)."""
    loader = DataLoader(TensorDataset(labels), batch_size=500, sampler=sampler, shuffle=shuffle,
                        generator=loader_generator(seed) if shuffle else None)  # fmt: skip
    drawn = []
    while sum(len(d) for d in drawn) < draws:
        drawn += [batch for (batch,) in loader]
    drawn = torch.cat(drawn)[:draws]
    return float(class_shares(drawn, 2)[1])


def sampler_figure(shares: dict) -> plt.Figure:
    fig, ax = plt.subplots(figsize=(5, 2.6))
    bars = ax.bar(list(shares), list(shares.values()), color=["tab:gray", "tab:green"])
    ax.bar_label(bars, [f"{v:.1%}" for v in shares.values()])
    ax.axhline(0.5, color="black", ls=":")
    ax.set(ylabel="share of dogs drawn", ylim=(0, 0.65), title="1000 cats, 100 dogs: what a loader draws")
    return fig


# -------------------------------------------------------------------------------- collate


def variable_length_sequences(n: int = 64, seed: int = 0) -> list[tuple[torch.Tensor, int]]:
    """``n`` (sequence of token ids (T,), label) pairs with lengths 3..20; label = length parity."""
    generator = torch.Generator().manual_seed(seed)
    lengths = torch.randint(3, 21, (n,), generator=generator)
    return [(torch.randint(1, 100, (int(t),), generator=generator), int(t) % 2) for t in lengths]


def pad_round_trip(samples: list[tuple[torch.Tensor, int]], batch_size: int = 8) -> dict:
    """Pad every batch with ``pad_collate`` in a ``DataLoader``, undo it with ``unpad``, compare."""
    loader = DataLoader(samples, batch_size=batch_size, collate_fn=pad_collate)
    recovered, padded_cells, real_cells = [], 0, 0
    for padded, lengths, _ in loader:
        recovered += unpad(padded, lengths)
        padded_cells += padded.numel()
        real_cells += int(lengths.sum())
    exact = len(recovered) == len(samples) and all(torch.equal(a, s) for a, (s, _) in zip(recovered, samples))
    return {"exact": exact, "padding_fraction": 1 - real_cells / padded_cells}


# -------------------------------------------------------------------------------- workers


def read_with_workers(folder: Path, num_workers: int = 2) -> dict:
    """Read every .jpg in ``folder`` with ``ImageFileDataset`` + ``skip_none_collate``."""
    files = sorted(folder.glob("*.jpg"))
    dataset = ImageFileDataset(files, [0] * len(files), SIZE)
    loader = DataLoader(dataset, batch_size=8, num_workers=num_workers, collate_fn=skip_none_collate)
    with warnings.catch_warnings():  # the broken files are there on purpose: no warning per file
        warnings.simplefilter("ignore")
        delivered = count_samples(loader)  # forked workers inherit the filter
    return {"files": len(files), "delivered": delivered, "skipped": len(files) - delivered}


# ------------------------------------------------------------------------------------- run


def run(cfg: RunConfig) -> dict:
    paths, labels, _ = load_pets()
    n_images, repeats = (256, 3) if cfg.quick else (1000, 5)
    bench_paths, bench_labels = spread_sample(paths, labels, n_images)
    rows = throughput_table(bench_paths, bench_labels, SIZE, BATCH, repeats=repeats)
    rate = {r["way"]: r["per_second"] for r in rows}

    subset = imbalanced_subset(labels, list(IMBALANCE.values()), cfg.seed)
    subset_labels = torch.as_tensor(labels)[subset]
    splits = split_minority_shares(subset_labels, seeds=200)
    sampler = balanced_sampler(subset_labels, generator=loader_generator(cfg.seed))
    drawn = {
        "shuffle=True": drawn_minority_share(subset_labels, shuffle=True, seed=cfg.seed),
        "balanced sampler": drawn_minority_share(subset_labels, sampler=sampler),
    }
    padding = pad_round_trip(variable_length_sequences(seed=cfg.seed))
    without_fix = duplicated_fraction(per_worker_draws(None, cfg.seed))
    with_fix = duplicated_fraction(per_worker_draws(seed_worker, cfg.seed))
    repeatable = per_worker_draws(seed_worker, cfg.seed) == per_worker_draws(seed_worker, cfg.seed)
    with tempfile.TemporaryDirectory() as tmp:
        broken = read_with_workers(folder_with_broken_files(bench_paths[:30], Path(tmp) / "pets", broken=3))

    metrics = {
        "minority_share_drawn": drawn["balanced sampler"],
        "minority_share_shuffled": drawn["shuffle=True"],
        "pad_round_trip_exact": float(padding["exact"]),
        "padding_fraction": padding["padding_fraction"],
        "random_split_minority_share_stdev": statistics.stdev(splits["random"]),
        "stratified_minority_share": splits["stratified"],
        "duplicated_draws_without_seed_worker": without_fix,
        "duplicated_draws_with_seed_worker": with_fix,
        "seeded_workers_repeatable": float(repeatable),
        "broken_files_skipped": broken["skipped"],
        "readable_files_delivered": broken["delivered"],
        "images_per_second_0_workers": rate["decode JPEGs, 0 workers"],
        "images_per_second_2_workers": rate["decode JPEGs, 2 workers"],
        "cache_speedup": rate["from the cache: DataLoader, 0 workers"] / rate["decode JPEGs, 0 workers"],
    }
    figures = {
        "throughput": throughput_figure(rows),
        "splits": split_figure(splits),
        "sampler": sampler_figure(drawn),
    }
    throughput = Table([{k: v for k, v in row.items() if k != "all_seconds"} for row in rows],
                       title=f"Reading {rows[0]['samples']} pet photos at {SIZE} px, batches of {BATCH}",
                       formats={"seconds": ".3f", "per_second": ",.0f"})  # fmt: skip
    return {"metrics": metrics, "figures": figures, "tables": {"throughput": throughput}}


LESSON = Lesson(
    name="dataloaders",
    title="Datasets, samplers, collate functions and workers",
    datasets=("pets",),
    claims=(
        Claim(
            "minority_share_drawn", ">=", 0.48, 0.48, "balanced sampler: dogs drawn ≥ 48% (10% of the data)"
        ),
        Claim("minority_share_drawn", "<=", 0.52, 0.52, "balanced sampler: dogs drawn ≤ 52%"),
        Claim("pad_round_trip_exact", "==", 1, 1, "pad_collate then unpad gives back every sequence exactly"),
        Claim(
            "duplicated_draws_without_seed_worker",
            "==",
            1,
            1,
            "the pitfall: two workers draw the same numbers",
        ),
        Claim(
            "duplicated_draws_with_seed_worker", "==", 0, 0, "the fix: seed_worker makes the streams distinct"
        ),
        Claim("seeded_workers_repeatable", "==", 1, 1, "and a seeded loader repeats them run after run"),
        Claim("broken_files_skipped", "==", 3, 3, "3 broken files skipped by 2 workers, no crash"),
        Claim(
            "cache_speedup",
            ">=",
            None,
            10,
            "decode-once cache ≥ 10× the images/s of decoding each time",
            kind="timing",
        ),  # fmt: skip
    ),
    run=run,
)
