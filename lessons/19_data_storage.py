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
# # Storing a data set: folders, caches, Arrow tables, tar shards, chunks and Deep Lake
#
# The dataloaders lesson read the pet photos from a folder of JPEGs and from a decode-once cache.
# Past a few thousand images, *how the data sits on disk* becomes a decision of its own: it sets
# how fast an epoch can run, how well it can be shuffled, whether training can stream from object
# storage (S3, Google Cloud Storage) instead of a local disk, and whether last month's labels can
# still be read after someone fixed them. Every format's website claims to be fast; few show
# numbers, and none on a small machine. So this lesson stores the same pet photos six ways and
# measures them side by side:
#
# | way | on disk | read by |
# |---|---|---|
# | folder of JPEGs | one file per image, a folder per class | torchvision's `ImageFolder` |
# | decode-once cache | one uint8 tensor of every decoded image | indexing (the dataloaders lesson) |
# | Hugging Face `datasets` | an Arrow table holding the JPEG bytes | memory-mapped rows |
# | WebDataset | tar files ("shards") of `key.jpg` + `key.cls` | a stream, shuffled through a buffer |
# | LitData | binary chunks + an index, written by `optimize` | `StreamingDataset` |
# | Deep Lake 4 | a versioned, typed column store | `.pytorch()`, queries in TQL |
#
# The rules of the comparison: the same photos in every format, with a **truncated JPEG and an
# empty file** among them that every builder must find and skip; every format decodes and
# resizes with the same function, so what differs is the storage; the same `DataLoader`
# settings; and the lesson claims only what its run measured.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first (this release)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "e2edl[storage] @ git+https://github.com/e2edl/e2edl@v0.1.0"], check=True)  # fmt: skip

from e2edl.course.notebook import setup_lesson, show_source

QUICK, OUT = setup_lesson("data-storage")  # prints the mode, the run folder and the reference timings

# %%
import io
import shutil
import tarfile

import matplotlib.pyplot as plt
import torch
from PIL import Image
from torch.utils.data import DataLoader

from e2edl.data import load_pets, stratified_split
from e2edl.data.formats import make_source_folder, scan_image_folder
from e2edl.data.throughput import spread_sample
from e2edl.exercises import check  # for the exercises at the end

SIZE = 128  # every format yields (3, 128, 128) uint8 images
N = 300 if QUICK else 10_000  # photos in this notebook's folder (the run at the end uses as many)
WORK = OUT / "notebook"  # what this notebook builds; deleted and made again on each run
shutil.rmtree(WORK, ignore_errors=True)

paths, labels, class_names = load_pets()
some_paths, some_labels = spread_sample(paths, labels, N)  # evenly spaced: cats and dogs
print(f"{len(paths):,} pet photos available; this notebook uses {len(some_paths):,}")

# %% [markdown]
# ## 1. The source: a folder of JPEGs, two of them broken
#
# Data usually arrives as a folder per class. `make_source_folder` lays out our photos that way
# and adds what a scraped data set contains: a JPEG cut off after an eighth of its bytes, and an
# empty file. `scan_image_folder` lists the folder in the order torchvision's `ImageFolder` does
# (class folders sorted, then file names) — the source order. A sample's **key** is its place in
# that order among the readable files; every format stores it, so the measurements can compare
# formats sample by sample.

# %%
root = make_source_folder(some_paths, some_labels, class_names, WORK / "source")
source = scan_image_folder(root)
truncated, empty = root / "cat" / "truncated.jpg", root / "dog" / "empty.jpg"
print(f"{len(source):,} files in {root}, classes {source.class_names}")
print(f"{truncated.name}: {truncated.stat().st_size} bytes; {empty.name}: {empty.stat().st_size} bytes")

# %% [markdown]
# How do you find the broken files? Pillow's `Image.verify()` sounds like the answer, but it reads
# only the headers, and the truncated file has all of them:

# %%
with Image.open(truncated) as image:
    image.verify()  # no exception: the headers are fine
print(f"verify() found nothing wrong with {truncated.name}")
try:
    with Image.open(truncated) as image:
        image.load()  # decode the pixels
except OSError as error:
    print(f"decoding {truncated.name}: OSError: {error}")

# %% [markdown]
# Only decoding tells. `check_image` decodes each file (at 1/8 scale for a JPEG, which still
# reads every byte) and returns the reason it failed, or `None`; `sort_out` splits a source into
# the readable files and the skipped ones. **Every builder in this lesson starts with it**, and
# reports what it skipped:

# %%
from e2edl.data.formats.source import check_image, sort_out

show_source(sort_out)
readable, skipped = sort_out(source)
print(f"{len(readable):,} readable files; skipped: {skipped}")
print("check_image on a good file:", check_image(readable.paths[0]))

# %% [markdown]
# ## 2. A folder of JPEGs and `ImageFolder`
#
# The simplest format is the folder itself. `ImageFolder` lists every file with an image suffix,
# broken ones included, and an epoch fails when it reaches one:

# %%
from torchvision.datasets import ImageFolder

listed = ImageFolder(root)
print(f"ImageFolder lists {len(listed):,} samples, the 2 broken files among them")
broken_index = [i for i, (path, _) in enumerate(listed.samples) if path.endswith("truncated.jpg")][0]
try:
    listed[broken_index]
except OSError as error:
    print(f"sample {broken_index}: OSError: {error}")

# %% [markdown]
# `build_image_folder` builds a clean tree of the readable files (hard links, so no bytes are
# copied), and `ImageFolderReader` reads it with `ImageFolder`, decoding each file with the course's
# `decode_image_file` (shorter side to 128 px, centre square). Every format below has a builder
# `build_*` returning a `Built` record, and a reader whose samples are `(image, label, key)`:

# %%
from e2edl.data.formats.image_folder import ImageFolderReader, build_image_folder

folder_built = build_image_folder(source, WORK / "folder")
folder = ImageFolderReader(folder_built.location, SIZE)
image, label, key = folder.dataset()[0]
print(folder_built)
print(f"sample 0: {tuple(image.shape)} {image.dtype}, label {label} ({class_names[label]}), key {key}")

# %% [markdown]
# ## 3. The decode-once cache
#
# The dataloaders lesson's cache decodes every image once and saves the pixels: an epoch is then
# indexing. Its size is fixed by the resolution, 3 × 128 × 128 bytes per image, against the
# JPEG's few kilobytes:

# %%
from e2edl.data.formats.measure import bytes_on_disk
from e2edl.data.formats.tensor_cache import TensorCacheReader, build_tensor_cache

cache_built = build_tensor_cache(source, WORK / "cache", SIZE)
cache = TensorCacheReader(cache_built.location, SIZE)
jpeg_bytes = bytes_on_disk(folder_built.location) / folder_built.written
cache_bytes = bytes_on_disk(cache_built.location) / cache_built.written
print(f"skipped by the decoder: {cache_built.skipped}")
print(
    f"bytes per image: JPEG {jpeg_bytes:,.0f}, decoded {cache_bytes:,.0f} ({cache_bytes / jpeg_bytes:.1f}×)"
)
print("same pixels as decoding the file:", torch.equal(cache.read(5)[0], folder.read(5)[0]))

# %% [markdown]
# The cache must fit in memory (the whole tensor is loaded), and a change of resolution means
# decoding everything again.
#
# ## 4. Hugging Face `datasets`: JPEG bytes in an Arrow table
#
# An Arrow table stores columns in one file that is *memory-mapped*: opening it reads nothing, and
# row `i` is a slice of the mapped file. The `Image` feature keeps each JPEG's bytes as they are
# and decodes to a PIL image when a row is read. Handed the broken files, it stores them without
# a word:

# %%
import datasets

datasets.disable_progress_bars()
features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=class_names)})
few = readable.paths[:3] + [truncated, empty]
table = datasets.Dataset.from_dict(
    {"image": [{"bytes": p.read_bytes(), "path": None} for p in few], "label": [0, 0, 0, 0, 1]},
    features=features,
)
print(f"built a table of {len(table)} rows, broken files included")
for i in range(len(table)):
    try:
        print(f"row {i}: {table[i]['image'].size} image")
    except Exception as error:  # what an epoch would meet
        print(f"row {i}: {type(error).__name__}: {error}")

# %% [markdown]
# The failure comes when an epoch reaches the row — possibly hours into training. The library's
# `build_hf_arrow` checks first, then saves with `save_to_disk`; its reader switches the `Image`
# feature's own decoding off (`Image(decode=False)` gives the bytes) and decodes like every other
# format. Parity: the bytes stored for each key are the file's bytes.

# %%
from e2edl.data.formats.hf_arrow import HFArrowReader, build_hf_arrow

hf_built = build_hf_arrow(source, WORK / "hf")
stored = datasets.load_from_disk(str(hf_built.location)).cast_column("image", datasets.Image(decode=False))
same = all(stored[k]["image"]["bytes"] == readable.paths[k].read_bytes() for k in range(0, len(stored), 37))
print(hf_built.skipped, f"{len(stored)} rows; stored bytes equal the files' bytes: {same}")
hf = HFArrowReader(hf_built.location, SIZE)

# %% [markdown]
# ## 5. WebDataset: tar shards read as a stream
#
# A WebDataset shard is an ordinary tar file. A sample is a run of consecutive members that share
# a **key**, the file name up to its first dot: `000000.jpg` and `000000.cls` are sample
# `000000`'s image and label. Nothing else is needed, so we can write a shard with Python's
# `tarfile`:

# %%
import webdataset as wds


def add_member(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tar.addfile(info, io.BytesIO(data))


hand_tar = WORK / "by-hand.tar"
with tarfile.open(hand_tar, "w") as tar:
    for key in range(6):
        add_member(tar, f"{key:06d}.jpg", readable.paths[key].read_bytes())
        add_member(tar, f"{key:06d}.cls", str(readable.labels[key]).encode())
with tarfile.open(hand_tar) as tar:
    print("members:", tar.getnames()[:4], "...")
by_hand = list(wds.WebDataset(str(hand_tar), shardshuffle=False))
print("WebDataset groups them into", len(by_hand), "samples with fields", sorted(by_hand[0]))

# %% [markdown]
# Reading a tar front to back is the one access pattern every disk and object store does fast,
# so WebDataset streams shards straight from `s3://`, `gs://` or `https://` URLs. Grouping members
# by key as they stream past is an exercise at the end. The library's `build_webdataset` writes
# shards with WebDataset's `ShardWriter` (after the check); parity: its first six samples are the
# ones written by hand.

# %%
from e2edl.data.formats.webdataset_shards import WebDatasetReader, build_webdataset

wds_built = build_webdataset(source, WORK / "webdataset", shards=10)
first_shard = sorted(wds_built.location.glob("*.tar"))[0]
library = list(wds.WebDataset(str(first_shard), shardshuffle=False))[:6]
assert [s["__key__"] for s in library] == [s["__key__"] for s in by_hand]
assert all(a["jpg"] == b["jpg"] and a["cls"] == b["cls"] for a, b in zip(library, by_hand))
print(wds_built.skipped, f"{len(list(wds_built.location.glob('*.tar')))} shards; first 6 samples equal")
tar_overhead = (bytes_on_disk(wds_built.location) - bytes_on_disk(folder_built.location)) / wds_built.written
print(f"tar bytes beyond the JPEGs: {tar_overhead:,.0f} per sample (headers, padding to 512-byte blocks)")

# %% [markdown]
# The catch is shuffling. A stream has no `dataset[i]`, so a `DataLoader` cannot draw a random
# permutation. WebDataset shuffles the order of the shards and then passes samples through a
# **buffer**: it holds `B` samples, and each new one replaces a randomly chosen sample, which is
# yielded. A sample can only meet samples stored near it. Our shards were written in source
# order — all the cats, then all the dogs — so look at the labels of the first batches (c = cat,
# d = dog), with a buffer of one shard's worth of samples:


# %%
def first_batches(shard_folder, batches=3, batch_size=32, seed=0) -> list[str]:
    urls = [str(p) for p in sorted(shard_folder.glob("*.tar"))]
    buffer = -(-len(readable) // len(urls))  # one shard's worth
    stream = wds.WebDataset(urls, shardshuffle=len(urls), seed=seed).shuffle(buffer, seed=seed)
    labels_in_order = ["cd"[int(sample["cls"])] for sample in stream]
    return ["".join(labels_in_order[i * batch_size : (i + 1) * batch_size]) for i in range(batches)]


for batch in first_batches(wds_built.location):
    print(batch)

# %% [markdown]
# Long runs of one class, often a whole batch of it: each such step pulls the model towards "cat"
# or towards "dog". How long the runs are depends on the order the shards happened to come in,
# so it changes from epoch to epoch. The cure is to shuffle **once, when writing**
# (`order_seed`); the reader's approximate shuffle is then enough:

# %%
shuffled_built = build_webdataset(source, WORK / "webdataset-shuffled", shards=10, order_seed=0)
for batch in first_batches(shuffled_built.location):
    print(batch)

# %% [markdown]
# ## 6. Measuring a shuffle
#
# Two numbers, computed from the keys and labels in the order an epoch yields them
# (`e2edl.data.formats.measure`):
#
# - **mean rank displacement**: how far a sample moved from its place in the source, divided by
#   what a random permutation gives, (N² − 1) / 3N: 0 for no shuffle, about 1 for a full one;
# - **label autocorrelation within batches**: how much more often neighbours *in the same batch*
#   share a class than chance, (agree − Σ p_c²) / (1 − Σ p_c²): 0 for a random order, 1 when every
#   batch is a single class. (Writing it is the first exercise.)
#
# The source order, a `DataLoader`'s permutation, and the two shard streams above:

# %%
from e2edl.data.formats.measure import label_autocorrelation, mean_rank_displacement, run_epoch
from e2edl.data.formats.reader import epoch_loader

orders = {"source order": (list(range(len(readable))), readable.labels)}
permutation = torch.randperm(len(readable), generator=torch.Generator().manual_seed(0)).tolist()
orders["DataLoader(shuffle=True)"] = (permutation, [readable.labels[k] for k in permutation])
for name, built in (
    ("WebDataset, class order", wds_built),
    ("WebDataset, shuffled when written", shuffled_built),
):
    epoch = run_epoch(epoch_loader(WebDatasetReader(built.location, SIZE), batch_size=64))
    orders[name] = (epoch.keys, epoch.labels)
for name, (keys, order_labels) in orders.items():
    print(f"{name:<34} displacement {mean_rank_displacement(keys):5.2f}   "
          f"label autocorrelation {label_autocorrelation(order_labels, 64):5.2f}")  # fmt: skip

# %% [markdown]
# The stream of class-ordered shards moves samples far (whole shards change places) and still
# clumps classes within batches — displacement alone would miss it, which is why both numbers
# are measured.
#
# ## 7. LitData: `optimize` and `StreamingDataset`
#
# LitData's `optimize` runs a function over every input in worker processes and packs what it
# returns into binary chunk files with an `index.json`; `StreamingDataset` reads them from a
# local folder or streams them from object storage. Like the `Image` feature, it stores whatever
# the function returns — here the bytes of each file, the truncated one included:

# %%
import litdata

from e2edl.data.formats.litdata_chunks import LitDataReader, build_litdata, read_item

inputs = [(0, str(readable.paths[0]), 0), (1, str(truncated), 0)]
litdata.optimize(fn=read_item, inputs=inputs, output_dir=str(WORK / "litdata-by-hand"), chunk_size=2,
                 num_workers=1, mode="overwrite", start_method="fork", verbose=False)  # fmt: skip
chunks = litdata.StreamingDataset(str(WORK / "litdata-by-hand"))
for i in range(len(chunks)):
    stored_bytes = chunks[i]["jpg"]
    print(f"item {i}: {len(stored_bytes):,} bytes stored; check_image says: {check_image(stored_bytes)}")

# %% [markdown]
# The library's `build_litdata` checks first, then optimizes (one worker, order kept) into about
# ten chunks. Its reader shuffles the order of the chunks and, within a chunk, items in windows —
# another approximate shuffle, measured by the run below. Unlike a tar stream, the index allows
# `dataset[i]`.

# %%
lit_built = build_litdata(source, WORK / "litdata", chunks=10)
lit = LitDataReader(lit_built.location, SIZE)
print(
    lit_built.skipped,
    f"{len(lit)} items;",
    "same pixels as the folder:",
    torch.equal(lit.read(7)[0], folder.read(7)[0]),
)

# %% [markdown]
# ## 8. Deep Lake: a versioned data set you can query
#
# Deep Lake 4 stores typed columns — here a JPEG-compressed image, the label, the file name and
# its size, and our key — in a folder or in object storage, and records every change: a
# `commit` makes a version that can be opened again later, unchanged. Create the data set
# from the readable photos (all 10,000 in full mode):

# %%
import deeplake
from deeplake import types

lake_path = WORK / "deeplake"
lake = deeplake.create(str(lake_path), schema={
    "image": types.Image(dtype="uint8", sample_compression="jpg"),  # the JPEG's bytes, decoded on read
    "label": types.Int64(),
    "file_name": types.Text(),
    "file_size": types.Int64(),
    "key": types.Int64(),
})  # fmt: skip
for first in range(0, len(readable), 500):  # append in batches: one call per row costs a round trip each
    batch_paths = readable.paths[first : first + 500]
    lake.append({
        "image": [p.read_bytes() for p in batch_paths],
        "label": readable.labels[first : first + 500],
        "file_name": [p.name for p in batch_paths],
        "file_size": [p.stat().st_size for p in batch_paths],
        "key": list(range(first, first + len(batch_paths))),
    })  # fmt: skip
lake.commit(f"{len(lake)} pet photos")
first_version = lake.version
lake.summary()
print("version", first_version)

# %% [markdown]
# Deep Lake checks nothing on the way in. Append the truncated JPEG, read it back, and look at it
# beside the photo it was cut from:

# %%
lake.append({"image": [truncated.read_bytes()], "label": [0], "file_name": [truncated.name],
             "file_size": [truncated.stat().st_size], "key": [-1]})  # fmt: skip
pixels = lake[len(lake) - 1]["image"]  # (H, W, 3) uint8, decoded by Deep Lake
print(f"no error: a {pixels.shape} image, mean pixel value {pixels.mean():.1f}, max {pixels.max()}")
cut_from = readable.paths.index(root / class_names[some_labels[0]] / some_paths[0].name)  # its key
fig, axes = plt.subplots(1, 2, figsize=(5, 2.8))
for ax, shown, title in zip(
    axes, (lake[cut_from]["image"], pixels), ("the photo", "its first eighth, read back")
):
    ax.imshow(shown)
    ax.set_title(title, fontsize=9)
    ax.axis("off")
fig.suptitle("What Deep Lake returns for a truncated JPEG", fontsize=10)
plt.show()
lake.rollback()  # forget everything since the last commit
print(len(lake), "rows after rollback")

# %% [markdown]
# An image, and no error — whatever the decoder made of the missing bytes (on this machine it is
# all black on some reads and stripes of noise on others). Trained on, it is a picture of nothing
# labelled "cat". That is why the builder checks first. Now change the data set the way a project does: a review finds
# three labels wrong (here we pretend, and flip them), and we add a column marking each photo's
# split (a stratified 80/20 split). Then commit again:

# %%
original_labels = lake["label"][:].tolist()
for row in (0, 1, 2):
    lake[row]["label"] = 1 - original_labels[row]
_, val_idx = stratified_split(torch.tensor(original_labels), 0.2, seed=0)
subset = ["train"] * len(lake)
for row in val_idx.tolist():
    subset[row] = "val"
lake.add_column("subset", types.Text())
lake["subset"][0 : len(lake)] = subset
lake.commit("flip 3 labels after review; add the train/val subset")
for version in lake.history:
    print(version.id, version.message)

# %% [markdown]
# The first version is still there, exactly as it was — its labels, its images, and no `subset`
# column:

# %%
earlier = lake.history[first_version].open()
print("labels, first version:", earlier["label"][0:5].tolist(), "— latest:", lake["label"][0:5].tolist())
print("columns, first version:", sorted(c.name for c in earlier.schema.columns))
assert earlier["label"][:].tolist() == original_labels
assert earlier["image"].get_bytes(list(range(len(earlier)))) == lake["image"].get_bytes(
    list(range(len(lake)))
)
assert "subset" not in [c.name for c in earlier.schema.columns]
print("first version unchanged: every label, every image byte, the columns")

# %% [markdown]
# A run that trained on the first version can be repeated exactly, and the fix can be compared
# with it. Queries are written in TQL, Deep Lake's SQL dialect; the result is a view of the data
# set:

# %%
val_dogs = lake.query("SELECT * WHERE subset = 'val' AND label = 1")
largest = lake.query("SELECT file_name, file_size ORDER BY file_size DESC LIMIT 3")
print(f"{len(val_dogs)} validation dogs (by counting in Python: "
      f"{sum(1 for y, s in zip(lake['label'][:].tolist(), subset) if y == 1 and s == 'val')})")  # fmt: skip
print("largest files:", list(zip(largest["file_name"][:], largest["file_size"][:].tolist())))

# %% [markdown]
# `.pytorch(transform)` turns a data set or a view into a map-style PyTorch `Dataset`; the
# transform gets a row. Here `row_to_sample` decodes the stored bytes like every other format, and
# the courses's training transform (random crop and flip per image, normalised) runs on each
# batch:

# %%
from e2edl.data.formats.deeplake_store import row_to_sample
from e2edl.data.pets_images import IMAGENET_MEAN, IMAGENET_STD, train_transform
from e2edl.figures import image_grid

train_view = lake.query("SELECT * WHERE subset = 'train'")
loader = DataLoader(train_view.pytorch(transform=lambda row: row_to_sample(row, SIZE)), batch_size=16,
                    shuffle=True, generator=torch.Generator().manual_seed(0))  # fmt: skip
images, batch_labels, keys = next(iter(loader))  # (16, 3, 128, 128) uint8
batch = train_transform(SIZE)(images)  # (16, 3, 128, 128) float, normalised
print(tuple(batch.shape), batch.dtype, f"mean {batch.mean():.2f}, std {batch.std():.2f}")
mean, std = torch.tensor(IMAGENET_MEAN)[:, None, None], torch.tensor(IMAGENET_STD)[:, None, None]
image_grid((batch * std + mean).clamp(0, 1), [class_names[y] for y in batch_labels], ncols=8,
           title="One training batch from the Deep Lake view: random crops and flips")  # fmt: skip
plt.show()

# %% [markdown]
# The same code works on data in object storage; only the path changes (with credentials for
# the bucket, or an Activeloop token for `al://`). Not run here — this machine has no cloud:
#
# ```python
# deeplake.create("s3://my-bucket/pets", creds={"aws_access_key_id": ..., "aws_secret_access_key": ...})
# deeplake.open_read_only("gcs://my-bucket/pets")
# deeplake.open("al://my-org/pets")  # a data set on Activeloop's service
# ```
#
# Parity: the library's `build_deeplake` (check, create with `pets_schema()`, append, commit)
# builds the same rows as the cells above did, and `version_round_trip` repeats the version steps
# — the run below uses both.

# %%
from e2edl.data.formats.deeplake_store import build_deeplake, version_round_trip

library_lake = deeplake.open_read_only(str(build_deeplake(source, WORK / "deeplake-library").location))
for column in ("label", "file_name", "file_size", "key"):
    assert list(library_lake[column][:]) == list(earlier[column][:]), column
assert library_lake["image"].get_bytes(list(range(len(library_lake)))) == earlier["image"].get_bytes(
    list(range(len(earlier)))
)
print(f"build_deeplake: the same {len(library_lake):,} rows as the first version built above")
show_source(version_round_trip)

# %% [markdown]
# ## 9. Side by side
#
# The run builds every format from a fresh source folder of the same photos (300 in quick mode,
# 10,000 in full mode, plus the two broken files) and measures each: the time to build (the check
# included), the bytes on disk, images/s over a shuffled epoch (median of 3 epochs after a warm-up
# one, so the operating system's file cache is warm: these are not cold-disk numbers), the CPU
# time per image, the median time to read one random sample, and the two shuffle measures
# (averaged over the 4 epochs read, since an approximate shuffle varies from epoch to epoch) —
# `DataLoader` in the main process, batches of 64 (`e2edl.data.formats.compare.compare_formats`;
# `benchmarks/data_formats.py` runs the same with other settings). It also checks that every
# format yielded the same pixels under the same key, every image once per epoch, no black image,
# and repeats the Deep Lake checks.

# %%
from e2edl.course import full_run, run_lesson

result = run_lesson("data-storage", quick=QUICK, out=OUT)

# %%
result.tables["formats"]

# %%
result.show("formats")
metrics = result.metrics
print(
    f"decoded cache vs the folder: {metrics['cache_speedup_vs_folder']:.0f}× the images/s, "
    f"{metrics['cache_cpu_saving_vs_folder']:.0f}× less CPU per image, {metrics['bytes_vs_folder_cache']:.1f}× the bytes"
)
print(f"slowest format that stores JPEGs: {metrics['slowest_jpeg_format_vs_folder']:.2f}× the folder's images/s")  # fmt: skip

# %% [markdown]
# How to read it. Wall-clock images/s depend on the machine and on what else runs on it; the CPU
# time per image is the work a format costs, and moves much less with the load. Every format that
# keeps the JPEG bytes (folder, Arrow, tar, LitData, Deep Lake) spends its time **decoding**, so
# on a local disk with a warm cache they sit close together; the decoded cache skips the decoding
# and is in another league, paid for in bytes (and memory) and in being tied to one resolution.
# Tar shards carry the overhead printed in section 5 per sample (a header, a PAX header and
# padding to 512-byte blocks for each member): visible on photos of a few kilobytes, negligible
# on large ones. The shuffle columns show the
# streams' weakness: shards or chunks written in class order stay clumped, the same shards
# shuffled once when written do not.
#
# Which to pick when:
#
# - **It fits in memory at the training resolution, one machine, many epochs**: the decoded
#   cache. Nothing is faster; rebuild it when the resolution changes.
# - **A local disk and a data set you are still collecting**: a folder of JPEGs. Simple, every
#   tool reads it; spread the decoding over workers (the dataloaders lesson).
# - **Remote or network storage, or far more data than a disk**: shards (WebDataset) or chunks
#   (LitData): few large files read front to back. Shuffle once when writing, and keep shards
#   small enough that the buffer mixes several.
# - **Labels and columns that change, several people, a need to reproduce last month's run**:
#   Deep Lake (versions, queries); Hugging Face `datasets` when the data lives on the Hub and
#   random access to rows is what you need.
#
# The reference machine's full run (timing claims there are facts about that machine, never
# failing this notebook):

# %%
full_run("data-storage")

# %%
assert result.passed(), "a claim of this lesson failed; see the table above"

# %% [markdown]
# ## Exercises
#
# Each exercise cell holds a stub; write the function, run the cell, then run the check below it.
# It prints ✓, or ✗ with a hint saying what is wrong. (`e2edl check data-storage --notebook YOUR_COPY.ipynb`
# runs the same checks from a terminal.)
#
# ### 1. How clumped are the batches?
#
# Write `label_autocorrelation(labels, batch_size)`: `labels` are the class indices in the order an
# epoch yielded them, cut into batches of `batch_size` (the last may be shorter). Count the pairs
# of neighbours *within the same batch* and the share `agree` of them with equal labels; with
# `p_c` the share of class `c` among all labels, return `(agree − Σ p_c²) / (1 − Σ p_c²)` — and
# 0.0 when there is a single class.


# %% tags=["exercise"]
def label_autocorrelation(labels, batch_size):
    """How much more often neighbours within a batch share a label than chance: 0 random, 1 one class per batch."""
    raise NotImplementedError  # your code here


# %%
check("label-autocorrelation", label_autocorrelation)

# %% [markdown]
# ### 2. From tar members to samples
#
# Write `group_by_key(members)`: `members` yields `(name, data)` pairs in the order a tar file holds
# them. A member's key is its name up to the **first dot of the file name** (the folder is part
# of the key: `train/0001.seg.png` has key `train/0001` and extension `seg.png`). Consecutive
# members with the same key form one sample, `{"__key__": key, extension: data, ...}`; return
# (or yield) the samples in order. Read the members once, front to back, as a stream.


# %% tags=["exercise"]
def group_by_key(members):
    """Members ``(name, data)`` of a tar shard, in order → samples ``{"__key__": key, extension: data, ...}``."""
    raise NotImplementedError  # your code here


# %%
check("group-by-key", group_by_key)

# %% [markdown]
# ### 3. A shuffle buffer
#
# Write `buffer_shuffle(items, buffer_size, seed)`: `items` is a stream (an iterator: no `len`, no
# indexing). Keep at most `buffer_size` items; while the buffer is not full, add the next item;
# once it is full, each new item takes the place of a uniformly chosen one, which you yield. When
# the stream ends, yield what is left in the buffer in random order. Draw every random number
# from `random.Random(seed)`, so the same seed gives the same order.

# %% tags=["exercise"]
import random  # noqa: F401 (you will need it)


def buffer_shuffle(items, buffer_size, seed):
    """Yield every item of the stream ``items`` once, in an order shuffled through ``buffer_size`` slots."""
    raise NotImplementedError  # your code here


# %%
check("buffer-shuffle", buffer_shuffle)
