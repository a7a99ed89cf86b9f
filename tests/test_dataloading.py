"""The dataloaders lesson's pieces: datasets over files and tensors, samplers, collate, workers, throughput."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader, TensorDataset

from e2edl.data.broken_files import folder_with_broken_files
from e2edl.data.collate import pad_collate, padding_mask, unpad
from e2edl.data.datasets import (
    ImageFileDataset,
    ImageFileStream,
    InMemoryImages,
    UnshardedStream,
    skip_none_collate,
)
from e2edl.data.imbalance import imbalanced_subset
from e2edl.data.samplers import balanced_sampler, class_balancing_weights, class_shares
from e2edl.data.throughput import samples_per_second, spread_sample, throughput_table
from e2edl.data.worker_seeding import (
    NoisyNumbers,
    duplicated_fraction,
    loader_generator,
    per_worker_draws,
    reseed_generators,
    seed_worker,
)


def photo(seed: int, size: int = 40) -> Image.Image:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size]
    base = np.stack([x * 6.0, y * 6.0, np.full_like(x, 100.0 + seed)], axis=-1) + rng.normal(
        0, 3, (size, size, 3)
    )
    return Image.fromarray(base.clip(0, 255).astype(np.uint8))


@pytest.fixture
def jpeg_folder(tmp_path: Path) -> tuple[list[Path], list[int], set[str]]:
    """10 real JPEGs (labels 0..9) and 3 broken .jpg files (truncated, empty, text): paths, labels, broken names."""
    paths, labels = [], []
    for i in range(10):
        path = tmp_path / f"{i}.jpg"
        photo(i).save(path, format="JPEG")
        paths.append(path)
        labels.append(i)
    good = paths[0].read_bytes()
    broken = {"truncated.jpg": good[:200], "empty.jpg": b"", "text.jpg": b"not an image at all\n"}
    for position, (name, content) in zip((2, 5, 11), broken.items()):
        (tmp_path / name).write_bytes(content)
        paths.insert(position, tmp_path / name)
        labels.insert(position, 100 + position)  # labels no readable file has
    return paths, labels, set(broken)


# ------------------------------------------------------------------------------------- datasets


def test_image_file_dataset_skips_broken_files_in_two_workers(jpeg_folder) -> None:
    paths, labels, broken = jpeg_folder
    dataset = ImageFileDataset(paths, labels, size=16)
    loader = DataLoader(dataset, batch_size=4, num_workers=2, collate_fn=skip_none_collate)
    batches = list(loader)  # the workers warn (in their own processes) and carry on
    images = torch.cat([b[0] for b in batches])
    got = torch.cat([b[1] for b in batches])
    assert images.shape == (10, 3, 16, 16) and images.dtype == torch.uint8
    assert got.tolist() == list(range(10))  # every readable file once, in order; no broken label
    assert len(dataset) - len(got) == len(broken) == 3


def test_image_file_dataset_returns_none_and_warns_in_process(jpeg_folder) -> None:
    paths, labels, _ = jpeg_folder
    dataset = ImageFileDataset(paths, labels, size=16)
    with pytest.warns(UserWarning, match="truncated.jpg"):
        assert dataset[2] is None
    image, label = dataset[0]
    assert image.shape == (3, 16, 16) and label == 0


def test_default_collate_fails_on_a_broken_file_in_a_worker(jpeg_folder) -> None:
    """Without skip_none_collate the worker's batch holds a None, and the main process gets the error."""
    paths, labels, _ = jpeg_folder
    loader = DataLoader(ImageFileDataset(paths, labels, size=16), batch_size=4, num_workers=2)
    with pytest.raises(TypeError, match="NoneType"):
        list(loader)


def test_all_none_batch_is_empty() -> None:
    images, labels = skip_none_collate([None, None])
    assert images.numel() == 0 and labels.numel() == 0


def test_image_file_stream_shards_across_workers(jpeg_folder) -> None:
    paths, labels, _ = jpeg_folder
    stream = ImageFileStream(paths, labels, size=16)
    for workers in (0, 2):
        got = [int(y) for _, ys in DataLoader(stream, batch_size=2, num_workers=workers) for y in ys]
        assert sorted(got) == list(range(10)), workers  # each readable file exactly once


def test_an_unsharded_stream_delivers_every_file_once_per_worker(jpeg_folder) -> None:
    paths, labels, _ = jpeg_folder
    stream = UnshardedStream(paths, labels, size=16)
    got = [int(y) for _, ys in DataLoader(stream, batch_size=2, num_workers=2) for y in ys]
    assert sorted(got) == sorted(list(range(10)) * 2)  # the pitfall: two workers, every file twice


def test_folder_with_broken_files_adds_unreadable_jpegs(jpeg_folder, tmp_path: Path) -> None:
    paths, _, broken = jpeg_folder
    good = [p for p in paths if p.name not in broken][:4]
    folder = folder_with_broken_files(good, tmp_path / "mixed", broken=3)
    files = sorted(folder.glob("*.jpg"))
    assert len(files) == 7
    dataset = ImageFileDataset(files, [0] * len(files), size=16)
    with pytest.warns(UserWarning, match="skipping unreadable"):
        readable = [dataset[i] is not None for i in range(len(files))]
    assert sum(readable) == 4
    with pytest.raises(ValueError, match="at least one"):
        folder_with_broken_files([], tmp_path / "empty")


def test_in_memory_images_match_tensor_slicing() -> None:
    images = torch.randint(0, 256, (10, 3, 8, 8), dtype=torch.uint8)
    labels = torch.arange(10)
    dataset = InMemoryImages(images, labels, transform=lambda x: x.float() / 255)
    x, y = next(iter(DataLoader(dataset, batch_size=10)))
    assert torch.equal(x, images.float() / 255) and torch.equal(y, labels)
    with pytest.raises(ValueError, match="labels"):
        InMemoryImages(images, labels[:3])


# ------------------------------------------------------------------------------------- samplers


def test_balancing_weights_give_each_class_equal_total_weight() -> None:
    labels = torch.tensor([0] * 90 + [1] * 9 + [2] * 1)
    weights = class_balancing_weights(labels)
    totals = torch.zeros(3, dtype=torch.float64).index_add_(0, labels, weights)
    assert torch.allclose(totals, torch.ones(3, dtype=torch.float64))


def test_weighted_sampler_draws_the_minority_half_the_time() -> None:
    """1000 of class 0, 100 of class 1: a DataLoader with the balanced sampler draws class 1 in 50% ± 2%."""
    labels = torch.tensor([0] * 1000 + [1] * 100)
    loader = DataLoader(
        TensorDataset(labels), batch_size=100, sampler=balanced_sampler(labels, 20_000, loader_generator(0))
    )
    drawn = torch.cat([batch for (batch,) in loader])
    assert len(drawn) == 20_000
    assert abs(float(class_shares(drawn)[1]) - 0.5) <= 0.02
    shuffled = torch.cat([b for (b,) in DataLoader(TensorDataset(labels), batch_size=100, shuffle=True)])
    assert float(class_shares(shuffled)[1]) == pytest.approx(100 / 1100)  # shuffling keeps the imbalance


def test_imbalanced_subset_has_the_counts_asked_for() -> None:
    labels = torch.tensor([0, 1] * 50)
    subset = imbalanced_subset(labels, [30, 5], seed=0)
    assert torch.bincount(labels[subset]).tolist() == [30, 5]
    assert torch.equal(subset, subset.sort().values) and len(set(subset.tolist())) == 35
    assert torch.equal(subset, imbalanced_subset(labels, [30, 5], seed=0))
    assert not torch.equal(subset, imbalanced_subset(labels, [30, 5], seed=1))
    with pytest.raises(ValueError, match="class 1 has 50"):
        imbalanced_subset(labels, [10, 60])


# -------------------------------------------------------------------------------------- collate


def test_pad_collate_round_trips_exactly() -> None:
    generator = torch.Generator().manual_seed(0)
    samples = [
        (torch.randint(1, 50, (int(t),), generator=generator), i % 3) for i, t in enumerate([5, 1, 9, 3])
    ]
    padded, lengths, labels = pad_collate(samples, pad_value=-1)
    assert padded.shape == (4, 9) and lengths.tolist() == [5, 1, 9, 3] and labels.tolist() == [0, 1, 2, 0]
    assert (padded[~padding_mask(lengths)] == -1).all() and (padded[padding_mask(lengths)] >= 1).all()
    for original, recovered in zip(samples, unpad(padded, lengths)):
        assert torch.equal(original[0], recovered)


def test_pad_collate_keeps_feature_dimensions_in_a_loader() -> None:
    samples = [(torch.randn(t, 3, dtype=torch.float64), 0) for t in (4, 7, 2, 6, 1)]
    loader = DataLoader(samples, batch_size=2, collate_fn=pad_collate)
    recovered = []
    for padded, lengths, _ in loader:
        assert padded.shape[0] == len(lengths) and padded.shape[1] == lengths.max() and padded.shape[2] == 3
        recovered += unpad(padded, lengths)
    assert all(torch.equal(a, b) for a, (b, _) in zip(recovered, samples, strict=True))


# -------------------------------------------------------------------------------------- workers


def test_dataset_owned_generator_repeats_in_every_worker_without_seed_worker() -> None:
    draws = per_worker_draws(None, seed=0)
    assert duplicated_fraction(draws) == 1.0  # the pitfall: both workers draw the same numbers


def test_seed_worker_gives_distinct_and_repeatable_streams() -> None:
    first = per_worker_draws(seed_worker, seed=0)
    assert duplicated_fraction(first) == 0.0
    assert len(set(first[0]) | set(first[1])) == len(first[0]) + len(first[1])
    assert per_worker_draws(seed_worker, seed=0) == first  # same loader seed → same numbers
    assert per_worker_draws(seed_worker, seed=1) != first


def test_seed_worker_changes_numbers_between_epochs() -> None:
    loader = DataLoader(NoisyNumbers(8), batch_size=4, num_workers=2, worker_init_fn=seed_worker,
                        generator=loader_generator(0))  # fmt: skip
    epoch1 = torch.cat(list(loader)).tolist()
    epoch2 = torch.cat(list(loader)).tolist()
    assert epoch1 != epoch2


def test_reseed_generators_gives_each_attribute_its_own_repeatable_stream() -> None:
    import random

    import numpy as np

    class Holder:
        def __init__(self) -> None:
            self.a, self.b = np.random.default_rng(0), np.random.default_rng(0)
            self.legacy, self.torch_rng = np.random.RandomState(0), torch.Generator().manual_seed(0)
            self.python, self.n = random.Random(0), 7

    first, second, other = Holder(), Holder(), Holder()
    assert sorted(reseed_generators(first, 5)) == ["a", "b", "legacy", "python", "torch_rng"]
    reseed_generators(second, 5)
    reseed_generators(other, 6)
    assert first.a.random() == second.a.random() != other.a.random()
    assert first.b.random() != first.a.random()  # one dataset, two generators, two streams
    assert first.n == 7


def test_samples_per_second_counts_every_sample() -> None:
    timing = samples_per_second(
        lambda: DataLoader(TensorDataset(torch.zeros(50, 2)), batch_size=8), repeats=2
    )
    assert timing["samples"] == 50 and timing["per_second"] > 0 and len(timing["all_seconds"]) == 2


def test_spread_sample_takes_every_class_and_throughput_table_reads_every_file(jpeg_folder) -> None:
    paths, labels, broken = jpeg_folder
    readable = [(p, y) for p, y in zip(paths, labels) if p.name not in broken]
    picked, picked_labels = spread_sample([p for p, _ in readable], [y for _, y in readable], 5)
    assert picked_labels == [0, 2, 4, 6, 8]
    rows = throughput_table(picked, picked_labels, size=16, batch_size=2, repeats=1, workers=(0,))
    assert [row["samples"] for row in rows] == [5] * len(rows)
    assert {row["way"] for row in rows} >= {
        "decode JPEGs, 0 workers",
        "from the cache: TensorLoader (slicing)",
    }
