"""Storage formats (e2edl.data.formats): every builder skips the broken files and every reader gives
back each readable image once, with the same pixels; the measurements of a shuffle; Deep Lake's
versions lose nothing. Small JPEGs made here, two of them broken, as the lesson's source folder has."""

from __future__ import annotations

import random

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision.datasets import ImageFolder

from e2edl.data.formats import FORMATS, ImageSource, Settings, compare_formats, comparison_rows
from e2edl.data.formats.compare import StorageFormat, get_format, same_pixels
from e2edl.data.formats.measure import (
    bytes_on_disk,
    label_autocorrelation,
    mean_rank_displacement,
    run_epoch,
)
from e2edl.data.formats.reader import RandomAccessUnsupported, epoch_loader
from e2edl.data.formats.source import check_image, make_source_folder, scan_image_folder, sort_out
from e2edl.data.pets_images import decode_image_file

SIZE = 32
SETTINGS = Settings(size=SIZE, batch_size=5, epochs=1, random_reads=3, shards=3)
BROKEN = {"cat/truncated.jpg", "dog/empty.jpg"}


def _photos(folder, n: int = 12) -> tuple[list, list]:
    """``n`` small JPEGs with distinct content, alternating labels."""
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True)
    paths, labels = [], []
    for i in range(n):
        pixels = rng.integers(0, 256, (96, 128, 3), dtype=np.uint8)  # big enough that 1/8 holds every header
        pixels[:, :, i % 3] = 30 + 15 * i  # a per-image tint, so no two images are alike
        path = folder / f"{i}.jpg"
        Image.fromarray(pixels).save(path, quality=90)
        paths.append(path)
        labels.append(i % 2)
    return paths, labels


@pytest.fixture(scope="module")
def source(tmp_path_factory) -> ImageSource:
    base = tmp_path_factory.mktemp("formats")
    paths, labels = _photos(base / "photos")
    return scan_image_folder(make_source_folder(paths, labels, ["cat", "dog"], base / "source"))


def _kept(source: ImageSource) -> ImageSource:
    return sort_out(source)[0]


# ------------------------------------------------------------------------------------ the source


def test_the_source_folder_is_listed_in_imagefolder_order_with_the_broken_files(source) -> None:
    listed = ImageFolder(str(source.paths[0].parents[1]))
    assert [(str(p), y) for p, y in zip(source.paths, source.labels)] == listed.samples
    assert len(source) == 14 and {f"{p.parent.name}/{p.name}" for p in source.paths} >= BROKEN


def test_only_decoding_finds_the_truncated_jpeg(source) -> None:
    truncated = next(p for p in source.paths if p.name == "truncated.jpg")
    with Image.open(truncated) as image:
        image.verify()  # the pitfall: headers only, no complaint
    assert "truncated" in check_image(truncated)
    assert check_image(truncated.read_bytes()) == check_image(truncated)
    assert check_image(b"") == "empty file" and check_image(b"not a jpeg") == "not an image"
    assert check_image(source.paths[0]) is None and check_image(source.paths[0].read_bytes()) is None


def test_sort_out_keeps_the_order_and_names_each_skipped_file(source) -> None:
    readable, skipped = sort_out(source)
    assert len(readable) == 12 and {name for name, _ in skipped} == BROKEN
    assert [p for p in source.paths if p.name not in ("truncated.jpg", "empty.jpg")] == readable.paths


# ----------------------------------------------------------------------------------- every format


def _available(key: str) -> StorageFormat:
    storage_format = get_format(key)
    reason = storage_format.unavailable()
    if reason is not None:
        pytest.skip(reason)
    return storage_format


@pytest.mark.parametrize("key", [f.key for f in FORMATS])
def test_every_builder_skips_the_broken_files_and_every_reader_gives_each_image_back_once(
    key, source, tmp_path
) -> None:
    storage_format = _available(key)
    built = storage_format.build(source, tmp_path / key, SETTINGS)
    assert built.written == 12 and {name for name, _ in built.skipped} == BROKEN
    reader = storage_format.open(built.location, SETTINGS)
    assert len(reader) == 12
    epoch = run_epoch(epoch_loader(reader, batch_size=5, epoch=0, seed=0), checksums=True)
    assert sorted(epoch.keys) == list(range(12)) and epoch.black_images == 0
    kept = _kept(source)
    assert epoch.labels == [kept.labels[k] for k in epoch.keys]
    for index in (0, 7, 11):  # the same pixels as decoding the source file, in every format
        expected = decode_image_file(kept.paths[index], SIZE)
        try:
            image, label = reader.read(index)
        except RandomAccessUnsupported:
            assert reader.streaming
            continue
        assert torch.equal(image, expected) and label == kept.labels[index]


def test_every_format_yields_the_same_pixels_and_a_missing_package_is_reported(source, tmp_path) -> None:
    missing = StorageFormat("missing", "a format whose package is absent", "no_such_package_e2edl", False, False,
                            FORMATS[0].build, FORMATS[0].open)  # fmt: skip
    formats = [FORMATS[0], get_format("cache"), missing]
    results = compare_formats(source, tmp_path, SETTINGS, formats, progress=False)
    assert same_pixels(results) and results[2].measured is None
    assert "no_such_package_e2edl" in results[2].unavailable and "pip install" in results[2].unavailable
    rows = comparison_rows(results)
    assert rows[2] == {"format": missing.name, "skipped because": results[2].unavailable}
    assert rows[0]["broken files skipped"] == 2
    assert rows[1]["MB on disk"] == pytest.approx(12 * 3 * SIZE * SIZE / 1e6, rel=0.2)  # the decoded pixels
    assert all(r.measured.complete for r in results[:2]) and results[1].measured.random_read_ms is not None


def test_shards_shuffled_when_written_keep_their_keys(source, tmp_path) -> None:
    _available("webdataset")
    import webdataset as wds

    from e2edl.data.formats.webdataset_shards import build_webdataset

    built = build_webdataset(source, tmp_path, shards=3, order_seed=0)
    urls = sorted(str(p) for p in tmp_path.glob("*.tar"))
    assert len(urls) == 3
    stored = [(int(s["__key__"]), int(s["cls"])) for s in wds.WebDataset(urls, shardshuffle=False)]
    kept = _kept(source)
    assert [k for k, _ in stored] != list(range(12)) and sorted(k for k, _ in stored) == list(range(12))
    assert all(label == kept.labels[k] for k, label in stored) and built.written == 12


def test_bytes_on_disk_counts_every_file(tmp_path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "x").write_bytes(b"12345")
    (tmp_path / "y").write_bytes(b"123")
    assert bytes_on_disk(tmp_path) == 8 and bytes_on_disk(tmp_path / "y") == 3


# ----------------------------------------------------------------------------------- Deep Lake


def test_deep_lake_versions_lose_nothing(source, tmp_path) -> None:
    _available("deeplake")
    import deeplake

    from e2edl.data.formats.deeplake_store import build_deeplake, version_round_trip

    built = build_deeplake(source, tmp_path / "lake")
    before = deeplake.open_read_only(str(built.location))
    images = before["image"].get_bytes(list(range(12)))
    check = version_round_trip(built.location, [0, 5], "subset", ["train"] * 10 + ["val"] * 2)
    assert check.earlier_labels_unchanged and check.earlier_images_unchanged
    assert check.earlier_lacks_new_column and check.latest_has_changes
    assert check.first_version != check.latest_version and check.rows == 12
    latest = deeplake.open_read_only(str(built.location))
    assert latest["image"].get_bytes(list(range(12))) == images  # the images are the same in both versions
    assert images == [p.read_bytes() for p in _kept(source).paths]  # and they are the files' bytes
    assert len(latest.query("SELECT * WHERE subset = 'val'")) == 2


# ------------------------------------------------------------------------------ shuffle measures


def test_mean_rank_displacement_is_zero_unshuffled_and_about_one_for_a_permutation() -> None:
    assert mean_rank_displacement(range(100)) == 0.0
    permutation = torch.randperm(10_000, generator=torch.Generator().manual_seed(0)).tolist()
    assert mean_rank_displacement(permutation) == pytest.approx(1.0, abs=0.03)
    assert mean_rank_displacement([10, 20, 30]) == 0.0  # keys need not be contiguous
    assert mean_rank_displacement(list(range(99, -1, -1))) == pytest.approx(1.5, abs=0.01)


def test_label_autocorrelation_counts_pairs_within_batches_only() -> None:
    assert label_autocorrelation([0, 0, 0, 0, 1, 1, 1, 1], 4) == pytest.approx(1.0)
    assert label_autocorrelation([0, 0, 0, 0, 1, 1, 1, 1], 8) == pytest.approx((6 / 7 - 0.5) / 0.5)
    assert label_autocorrelation([0, 1] * 10, 5) == pytest.approx(-1.0)
    assert label_autocorrelation([2] * 9, 3) == 0.0
    rng = random.Random(0)
    noise = [rng.randrange(3) for _ in range(30_000)]
    assert abs(label_autocorrelation(noise, 64)) < 0.02


def test_the_grouping_oracle_agrees_with_webdataset() -> None:
    _available("webdataset")
    from webdataset.tariterators import group_by_keys

    from e2edl.exercises.data_storage import GROUPING_CASES, _grouped

    for members, _ in GROUPING_CASES:
        theirs = group_by_keys(({"fname": n, "data": d, "__url__": "u"} for n, d in members), lcase=False)
        assert [{k: v for k, v in s.items() if k != "__url__"} for s in theirs] == _grouped(members)
