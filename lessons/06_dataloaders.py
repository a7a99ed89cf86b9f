# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Feeding the network: datasets, samplers, collate functions and workers
#
# Until now the data sat in memory as one tensor and a batch was a slice of it. Real data sets are
# folders of files, some of them broken, with classes in unequal numbers and samples of unequal
# sizes. PyTorch splits the job of turning them into batches into small parts, each replaceable:
#
# ```
# Dataset      dataset[i] → one sample            (or IterableDataset: a stream of samples)
# Sampler      which indices, in which order      (sequential, random, weighted, ...)
# collate_fn   a list of samples → one batch      (stack; or pad to the longest)
# DataLoader   puts them together, optionally in worker processes
# ```
#
# This lesson takes each part in turn on the Dogs vs Cats photos — the short ones written here by
# hand and checked against the library's version, the longer ones read from the library's source —
# shows the pitfalls that cost people days (duplicated random numbers in workers, a broken file
# killing a run, a validation set without the rare class), and measures how fast each way of
# reading the photos is. The lessons after this one (resnet-from-scratch, transfer-learning, vit)
# read these photos from a decode-once cache; this lesson shows why.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first (this release)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "e2edl @ git+https://github.com/e2edl/e2edl@v0.1.0"], check=True)  # fmt: skip

from e2edl.course.notebook import setup_lesson, show_source

QUICK, OUT = setup_lesson("dataloaders")  # prints the mode, the run folder and the reference timings

# %%
import gc
import multiprocessing
import tempfile
import warnings
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, random_split

from e2edl.data import load_pets, stratified_split

paths, labels, class_names = load_pets()  # file paths and labels; nothing decoded yet
print(f"{len(paths):,} files, classes {class_names}, first: {paths[0].name} (label {labels[0]})")

# %% [markdown]
# A practical note first: worker processes must be able to reach the dataset. How they get it
# depends on how Python starts processes, its *start method*. With `fork` (the default on Linux
# up to Python 3.13) a worker is a copy of this process and inherits everything, including classes
# defined in a notebook. With `spawn` (the default on macOS and Windows) and `forkserver` (the
# default on Linux from Python 3.14) a worker is a fresh interpreter that receives the dataset
# pickled, so its class must be importable from a module. So every class used with workers below
# lives in the library (`e2edl.data.*`). This machine:

# %%
print(f"Python {sys.version.split()[0]}, {sys.platform}: start method {multiprocessing.get_start_method()!r}")

# %% [markdown]
# ## 1. A map-style dataset over files on disk
#
# A map-style `Dataset` needs two methods: `__len__` and `__getitem__(i)`. Nothing is read when it
# is created; each item is decoded when asked for, so a data set far larger than memory is fine,
# and the work of decoding can be spread over worker processes. Decoding one file is the
# library's `decode_image_file` (shorter side resized to `size`, centre square cut out, RGB):

# %%
from e2edl.data.pets_images import decode_image_file


class PetPhotos(Dataset):
    """dataset[i] → (uint8 image (3, size, size), label)."""

    def __init__(self, paths, labels, size=64):
        self.paths, self.labels, self.size = paths, labels, size

    def __len__(self):
        return len(self.paths)

    def __getitem__(self, i):
        return decode_image_file(self.paths[i], self.size), self.labels[i]


photos = PetPhotos(paths, labels)
image, label = photos[0]
print(len(photos), "items;", tuple(image.shape), image.dtype, "label", label)
loader = DataLoader(photos, batch_size=8, shuffle=True)
images, batch_labels = next(iter(loader))  # default_collate stacked 8 samples
print("one batch:", tuple(images.shape), batch_labels.tolist())

# %% [markdown]
# `e2edl.data.datasets.ImageFileDataset` is this class plus one thing: it survives broken files
# (section 6). On readable files the two agree exactly — from here on we use the library's:

# %%
from e2edl.data.datasets import ImageFileDataset, InMemoryImages

some = list(range(0, len(paths), len(paths) // 200))[:200]  # 200 files spread over both classes
files = ImageFileDataset([paths[i] for i in some], [labels[i] for i in some], size=64)
hand = PetPhotos([paths[i] for i in some], [labels[i] for i in some], size=64)
assert len(files) == len(hand)
assert all(torch.equal(files[i][0], hand[i][0]) and files[i][1] == hand[i][1] for i in range(0, 200, 20))
print("PetPhotos and ImageFileDataset: same length, same pixels and labels on every item checked")

# %% [markdown]
# When the images are already decoded in memory (`e2edl.data.load_pets_tensors` decodes the pets
# once and caches the tensor), a dataset is just indexing. That is `torch.utils.data.TensorDataset`,
# or `e2edl.data.datasets.InMemoryImages` which adds a per-image transform:

# %%
decoded = torch.stack([files[i][0] for i in range(len(files))])  # decode once: (200, 3, 64, 64)
in_memory = InMemoryImages(decoded, torch.tensor([labels[i] for i in some]))
print("same pixels from the files and from memory:", torch.equal(files[7][0], in_memory[7][0]))

# %% [markdown]
# ## 2. An IterableDataset: a stream
#
# Some data cannot be indexed cheaply: lines of a huge compressed file, records arriving over the
# network, shards in a bucket. An `IterableDataset` only has `__iter__`. The catch: with `K`
# workers, the loader runs `K` copies of the iterator — and if each copy reads everything, every
# sample arrives `K` times. The stream must ask `torch.utils.data.get_worker_info()` which worker
# it is and read only its share. `ImageFileStream` does, in its `share` method:

# %%
from e2edl.data.datasets import ImageFileStream, UnshardedStream

show_source(ImageFileStream.share)

# %% [markdown]
# `UnshardedStream` is the same stream with `share` returning every index, whichever worker asks —
# the pitfall, kept in the library so that workers can import it:

# %%
few_paths, few_labels = [paths[i] for i in some[:24]], [labels[i] for i in some[:24]]
for stream in (UnshardedStream(few_paths, few_labels, 32), ImageFileStream(few_paths, few_labels, 32)):
    delivered = sum(len(y) for _, y in DataLoader(stream, batch_size=8, num_workers=2))
    print(f"{type(stream).__name__:<16} 2 workers delivered {delivered} samples from {len(few_paths)} files")

# %% [markdown]
# A stream also gives up what a sampler does: no `len`, no shuffling by index, no weighted draws.
# Use a map-style dataset whenever you can index.
#
# ## 3. Train/validation splits: random vs stratified
#
# `torch.utils.data.random_split` shuffles the indices and cuts. With balanced classes and large
# sets that is fine. With a rare class and a small validation set, the share of the rare class in
# validation is left to chance. Take an imbalanced subset — 1000 cats, 100 dogs
# (`e2edl.data.imbalance.imbalanced_subset`) — and hold out 10%:

# %%
from e2edl.data.imbalance import imbalanced_subset

subset = imbalanced_subset(labels, [1000, 100], seed=0)  # sorted indices into the file list
subset_labels = torch.tensor(labels)[subset]
print("subset:", torch.bincount(subset_labels).tolist(), "(cats, dogs)")
for seed in range(5):
    _, val = random_split(range(len(subset)), [990, 110], torch.Generator().manual_seed(seed))
    print(f"random_split seed {seed}: {int((subset_labels[list(val)] == 1).sum())} dogs of 110")
train_idx, val_idx = stratified_split(subset_labels, 0.1, seed=0)
print(f"stratified_split:        {int((subset_labels[val_idx] == 1).sum())} dogs of {len(val_idx)}")

# %% [markdown]
# A stratified split shuffles each class on its own and takes the same fraction of *each class*
# (`e2edl.data.stratified_split`; writing it is an exercise at the end). The run at the end draws
# 200 random splits and plots how far their dog share wanders.
#
# ## 4. Samplers: which index next
#
# The `DataLoader` asks a **sampler** for indices. `shuffle=False` means a `SequentialSampler`,
# `shuffle=True` a `RandomSampler` (a fresh permutation each epoch):

# %%
from torch.utils.data import RandomSampler, SequentialSampler, WeightedRandomSampler

print("sequential:", list(SequentialSampler(range(8))))
print("random:    ", list(RandomSampler(range(8), generator=torch.Generator().manual_seed(0))))

# %% [markdown]
# Trained on the imbalanced subset, a classifier sees a dog in 1 of 11 samples and can get 91%
# accuracy by always answering "cat". One remedy is to draw the minority class more often. Give
# each sample the weight `1 / (size of its class)`: every class then has total weight 1, and a
# `WeightedRandomSampler` drawing in proportion to weight (with replacement) draws each class
# equally often. One epoch is as many draws as the subset has samples, 1,100:

# %%
counts = torch.bincount(subset_labels)
weights = 1.0 / counts[subset_labels].double()  # (1100,): 1/1000 for a cat, 1/100 for a dog
sampler = WeightedRandomSampler(weights, num_samples=len(subset_labels), replacement=True,
                                generator=torch.Generator().manual_seed(0))  # fmt: skip
indices = torch.tensor(list(sampler))  # (1100,) indices into the subset, with repeats: one epoch
drawn = subset_labels[indices]
dogs_drawn, cats_drawn = indices[drawn == 1], indices[drawn == 0]
print(f"one epoch of {len(indices):,} draws: dogs {float((drawn == 1).double().mean()):.1%} "
      f"(in the data: {float((subset_labels == 1).double().mean()):.1%})")  # fmt: skip
print(f"  dogs: {len(dogs_drawn)} draws of {len(set(dogs_drawn.tolist()))} distinct dogs (of {int(counts[1])}), "
      f"each drawn {len(dogs_drawn) / len(set(dogs_drawn.tolist())):.1f} times on average")  # fmt: skip
print(f"  cats: {len(cats_drawn)} draws of {len(set(cats_drawn.tolist()))} distinct cats (of {int(counts[0])}); "
      f"{int(counts[0]) - len(set(cats_drawn.tolist()))} cats not drawn at all this epoch")  # fmt: skip

# %% [markdown]
# In one epoch each dog is drawn several times while many cats are not drawn at all: oversampling
# repeats the same few photos, so augmentation matters more, and validation must still use the
# *true* class mix. `e2edl.data.samplers.balanced_sampler(labels)` builds exactly this sampler —
# the same weights, so with the same generator seed it draws the same indices:

# %%
from e2edl.data.samplers import balanced_sampler, class_balancing_weights

library_sampler = balanced_sampler(subset_labels, generator=torch.Generator().manual_seed(0))
assert torch.equal(class_balancing_weights(subset_labels), weights)
assert list(library_sampler) == indices.tolist()
print("balanced_sampler: same weights, same", len(indices), "indices")

# %% [markdown]
# The run at the end measures the share of dogs a real `DataLoader` yields from it (the lesson's
# claim).
#
# ## 5. collate_fn: from samples to a batch
#
# `default_collate` stacks samples, which needs equal shapes. Sequences — sentences, audio,
# time series — come in different lengths:

# %%
from torch.utils.data import default_collate

sequences = [(torch.tensor([5, 2, 9]), 0), (torch.tensor([7, 1, 4, 4, 8]), 1), (torch.tensor([3]), 0)]
try:
    default_collate(sequences)
except RuntimeError as error:
    print("default_collate:", str(error).splitlines()[0])

# %% [markdown]
# The fix pads each batch to *its* longest sequence and returns the true lengths, so the model can
# mask the padding and we can undo it:

# %%
from torch.nn.utils.rnn import pad_sequence


def pad_collate(samples, pad_value=0):
    seqs = [seq for seq, _ in samples]
    lengths = torch.tensor([len(s) for s in seqs])
    padded = pad_sequence(seqs, batch_first=True, padding_value=pad_value)  # (B, T_max)
    return padded, lengths, torch.tensor([label for _, label in samples])


padded, lengths, batch_labels = pad_collate(sequences)
print(padded, "\nlengths", lengths.tolist())
mask = torch.arange(padded.shape[1]) < lengths[:, None]  # True on real tokens
restored = [row[:n] for row, n in zip(padded, lengths)]
print("round trip exact:", all(torch.equal(r, s) for r, (s, _) in zip(restored, sequences)))

# %% [markdown]
# `e2edl.data.collate` holds the library's `pad_collate`, with `padding_mask` and `unpad` for the
# two last lines. The same batches in, the same tensors out — with another pad value, and with a
# feature dimension per step:

# %%
from e2edl.data import collate

with_features = [(torch.randn(t, 3), i % 2) for i, t in enumerate((4, 7, 2))]
for batch, options in ((sequences, {}), (sequences, {"pad_value": -1}), (with_features, {})):
    ours, library = pad_collate(batch, **options), collate.pad_collate(batch, **options)
    assert all(torch.equal(a, b) for a, b in zip(ours, library))
assert torch.equal(collate.padding_mask(lengths), mask)
assert all(torch.equal(a, b) for a, b in zip(collate.unpad(padded, lengths), restored))
print("pad_collate, padding_mask, unpad: equal to the hand-written lines on every batch")

# %% [markdown]
# From here on, a `DataLoader` takes the library's as `collate_fn=collate.pad_collate`. Sorting or
# bucketing samples by length (a custom *batch sampler*) reduces how much of each batch is
# padding; the run reports the padding fraction without it.
#
# ## 6. Workers
#
# With `num_workers=K` the loader starts `K` processes, each with its own copy of the dataset;
# each builds whole batches (dataset + collate) and sends them back through shared memory. The
# knobs:
#
# - `num_workers`: how many processes. Decoding JPEGs is CPU work, so more workers than cores
#   gains nothing; starting each worker costs time too (Python, imports, the dataset copy).
# - `persistent_workers=True`: keep the workers alive between epochs instead of restarting them.
# - `prefetch_factor`: batches each worker prepares ahead (default 2).
# - `pin_memory=True`: put batches in page-locked memory so the copy to a CUDA GPU is faster and
#   can overlap with compute (`.to(device, non_blocking=True)`); pointless on a CPU-only machine.
#
# ### A broken file in a worker
#
# Microsoft's original archive of this data set contains unreadable files.
# `e2edl.data.broken_files.folder_with_broken_files` copies 12 real photos into a folder and adds
# two broken ones; 2 workers read it with the default collate:

# %%
from e2edl.data.broken_files import folder_with_broken_files

folder = folder_with_broken_files(paths[:12], Path(tempfile.mkdtemp()) / "pets", broken=2)
files_in_folder = sorted(folder.glob("*.jpg"))
with_broken = ImageFileDataset(files_in_folder, [0] * len(files_in_folder), size=64)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    try:
        list(DataLoader(with_broken, batch_size=4, num_workers=2))
    except Exception as error:  # re-raised in the main process, naming the worker
        print(type(error).__name__, "—", str(error).splitlines()[0])
_ = gc.collect()  # free the failed loader now, which stops its two workers

# %% [markdown]
# The error happens in a worker — here the collate function finds a `None` where an image should
# be; a dataset that simply decoded (like `PetPhotos` above) would fail in the decoder instead —
# and the loader re-raises it in the main process, naming the worker. The epoch is over, and in a
# long run, so is the night. `ImageFileDataset` returns `None` for an unreadable file (with a
# warning naming it), and a collate function that drops the `None`s makes a broken file cost one
# sample:

# %%
from e2edl.data.datasets import skip_none_collate

show_source(skip_none_collate)

# %%
loader = DataLoader(with_broken, batch_size=4, num_workers=2, collate_fn=skip_none_collate)
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    delivered = sum(len(y) for _, y in loader)
print(f"{len(with_broken)} files, {delivered} images delivered, {len(with_broken) - delivered} skipped")

# %% [markdown]
# Batches with a skipped file are one sample short; for training that is harmless. The count of
# skipped files is `len(dataset)` minus what arrived: each worker has its own copy of the dataset,
# so a counter inside it would only count its own share.
#
# ### Random numbers in workers
#
# Random augmentation runs inside the workers. The `DataLoader` seeds torch, `random` and NumPy's
# global generator differently in each worker. But a generator *the dataset owns* is copied into
# every worker as it is — so all workers draw the same numbers. `NoisyNumbers` is such a dataset,
# and `per_worker_draws` reads it with 2 workers and returns what each drew:

# %%
from e2edl.data.worker_seeding import NoisyNumbers, per_worker_draws

show_source(NoisyNumbers)
worker0, worker1 = per_worker_draws(worker_init_fn=None)
print("worker 0:", [round(v, 3) for v in worker0[:6]])
print("worker 1:", [round(v, 3) for v in worker1[:6]])

# %% [markdown]
# Two workers, one stream of "random" crops, twice. The fix is a `worker_init_fn`, a function the
# loader calls first thing in each worker: it re-seeds the dataset's own generators from the seed
# the loader gave this worker (`get_worker_info().seed`: different per worker and per epoch). With
# a seeded `generator` for the loader, the whole run can be repeated:

# %%
from e2edl.data.worker_seeding import seed_worker

show_source(seed_worker)

# %% [markdown]
# `reseed_generators(dataset, seed)` goes through the dataset's attributes and re-seeds every
# random generator it finds, each with its own seed derived from `seed` and the attribute's name
# (so two generators of one dataset do not draw the same stream either). Writing it is an exercise
# at the end. With the fix:

# %%
worker0, worker1 = per_worker_draws(worker_init_fn=seed_worker, seed=0)
print("worker 0:", [round(v, 3) for v in worker0[:6]])
print("worker 1:", [round(v, 3) for v in worker1[:6]])
print("same again with the same loader seed:", per_worker_draws(seed_worker, seed=0) == [worker0, worker1])

# %% [markdown]
# ## 7. How fast? Decoding in workers vs decoding once
#
# The run below reads pet photos at 64 px in batches of 64 (256 photos in quick mode, 1000 in
# full) and times whole passes (median of 3 passes in quick mode, 5 in full): decoding every file
# with 0, 1 and 2 workers (worker start-up included, as each epoch pays it without
# `persistent_workers`), 2 persistent workers on a later epoch, and the decode-once cache — pay
# the decoding once, then read a tensor (`e2edl.data.throughput.throughput_table`;
# `benchmarks/pets_decoding.py` runs the same table on more photos). The run also repeats every
# measurement above for the lesson's claims.

# %%
from e2edl.course import full_run, run_lesson
from e2edl.exercises import check  # for the exercises at the end

result = run_lesson("dataloaders", quick=QUICK, out=OUT)

# %%
result.tables["throughput"]

# %%
result.show("throughput")
print(f"decode-once cache vs decoding with 0 workers: {result.metrics['cache_speedup']:.0f}× the images/s")

# %% [markdown]
# How to read it: this machine's cores, and whatever else runs on them, decide these numbers. A
# worker is a whole process, so with two cores, two workers compete with the main process; worker
# start-up is paid each epoch unless the workers are persistent. Decoding a JPEG costs the same
# every epoch, whoever does it; reading a decoded tensor costs almost nothing — the cache wins by
# the factor printed above. That is why the earlier lessons keep their data in memory, and why,
# for data too big for memory, people store it pre-decoded or pre-resized (and use workers to hide
# what decoding remains). The reference machine's full run (its claim `cache_speedup` is a timing
# claim: a fact about that machine, never failing this notebook):

# %%
full_run("dataloaders")

# %% [markdown]
# The splits and the sampler, measured by the run:

# %%
result.show("splits", "sampler")
metrics = result.metrics
print(f"random_split: dog share in validation varies with stdev {metrics['random_split_minority_share_stdev']:.3f}; "
      f"stratified: {metrics['stratified_minority_share']:.4f}")  # fmt: skip
print(f"padding fraction of the padded batches: {metrics['padding_fraction']:.1%}")

# %%
assert result.passed(), "a claim of this lesson failed; see the table above"

# %% [markdown]
# ## Exercises
#
# Each exercise cell holds a stub; write the function, run the cell, then run the check below it.
# It prints ✓, or ✗ with a hint saying what is wrong. (`e2edl check dataloaders --notebook YOUR_COPY.ipynb`
# runs the same checks from a terminal.)
#
# ### 1. A collate function that pads
#
# Write `pad_collate(samples, pad_value=0)`: `samples` is a list of `(sequence, label)` pairs,
# each sequence a tensor `(T_i,)` or `(T_i, features)`. Return `(padded, lengths, labels)`:
# `padded` of shape `(B, T_max, ...)` with `pad_value` after each sequence, `lengths` the true
# length of each sequence, `labels` one tensor `(B,)`. (`torch.nn.utils.rnn.pad_sequence` does the
# padding; look up its `batch_first` and `padding_value`.)

# %% tags=["exercise"]
import torch


def pad_collate(samples, pad_value=0):
    """[(sequence (T_i, ...), label), ...] → (padded (B, T_max, ...), lengths (B,), labels (B,))."""
    raise NotImplementedError  # your code here


# %%
check("pad-collate", pad_collate)

# %% [markdown]
# ### 2. Seeding a dataset's own generators in a worker
#
# Write `reseed_generators(dataset, seed)`, the heart of `seed_worker`: for every attribute of
# `dataset` (`vars(dataset)`) that is a `numpy.random.Generator`, replace it (or re-seed it) so
# that it draws a stream decided by `seed` alone — and a different stream for each attribute.
# Leave every other attribute alone.

# %% tags=["exercise"]
import numpy as np  # noqa: F401 (you will need it)


def reseed_generators(dataset, seed: int) -> None:
    """Re-seed, in place, every numpy Generator held as an attribute of ``dataset``, each from its own seed."""
    raise NotImplementedError  # your code here


# %%
check("reseed-generators", reseed_generators)

# %% [markdown]
# ### 3. A stratified split
#
# Write `stratified_split(labels, val_fraction, seed)`: `labels` is a `(N,)` tensor of class
# indices. Return `(train_idx, val_idx)`, index tensors that together hold every index once, with
# `round(n_c · val_fraction)` of the `n_c` samples of each class `c` in validation, chosen at random
# with a generator seeded by `seed` (the same seed, the same split).

# %% tags=["exercise"]
import torch


def stratified_split(labels: torch.Tensor, val_fraction: float, seed: int = 0):
    """(train_idx, val_idx): the same fraction of every class goes to validation."""
    raise NotImplementedError  # your code here


# %%
check("stratified-split", stratified_split)
