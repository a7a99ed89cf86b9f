"""Decoding Dogs vs Cats once: broken files, the decode cache, the split and the batch transforms."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from e2edl.data import pets_images
from e2edl.data.pets_images import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    RandomResizedCropFlip,
    decode_cached,
    decode_pets,
    eval_transform,
    is_readable_image,
    load_pets_tensors,
    train_transform,
)
from e2edl.data.splits import stratified_split


@pytest.fixture(autouse=True)
def quiet_and_one_thread(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("E2EDL_PROGRESS", "0")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def photo(seed: int = 0, w: int = 48, h: int = 36) -> Image.Image:
    """A smooth RGB picture (JPEG-friendly) with a bright left half, so a flip is visible."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w]
    base = np.stack([x * 255 / w, y * 255 / h, np.full_like(x, 128.0)], axis=-1)
    base += rng.normal(0, 5, base.shape)
    return Image.fromarray(base.clip(0, 255).astype(np.uint8))


@pytest.fixture
def image_files(tmp_path: Path) -> dict[str, Path]:
    """One file of each kind found (or feared) in the Microsoft archive, all named .jpg."""
    folder = tmp_path / "PetImages" / "Cat"
    folder.mkdir(parents=True)
    files = {name: folder / f"{i}.jpg" for i, name in enumerate(
        ["good", "empty", "truncated", "text", "png", "gray", "cmyk"]
    )}  # fmt: skip
    photo().save(files["good"], format="JPEG")
    files["empty"].write_bytes(b"")
    files["truncated"].write_bytes(files["good"].read_bytes()[:300])
    files["text"].write_text("Thumbs.db? no, just text pretending to be a JPEG\n")
    photo(1).save(files["png"], format="PNG")
    photo(2).convert("L").save(files["gray"], format="JPEG")
    photo(3).convert("CMYK").save(files["cmyk"], format="JPEG")
    return files


def test_decode_skips_unreadable_and_converts_odd_modes(image_files: dict[str, Path]) -> None:
    paths = list(image_files.values())
    labels = list(range(len(paths)))  # label i = file i, to see which survive
    images, kept_labels, skipped = decode_pets(paths, labels, 16, workers=0)
    names = list(image_files)
    assert [names[i] for i in kept_labels] == ["good", "png", "gray", "cmyk"]
    assert images.shape == (4, 3, 16, 16) and images.dtype == torch.uint8
    reasons = {Path(path).name: reason for path, reason in skipped}
    assert len(skipped) == 3
    assert reasons["1.jpg"] == "empty file"
    assert reasons["3.jpg"] == "not an image"
    assert "truncated" in reasons["2.jpg"].lower()
    gray = images[2]
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[1], gray[2])  # L → RGB copies the channel
    # the good one: shorter side (36) → 16, then the centre crop; the bright right side is still on the right
    assert images[0, 0, :, -1].float().mean() > images[0, 0, :, 0].float().mean() + 50


def test_decode_in_threads_matches_one_thread(image_files: dict[str, Path]) -> None:
    paths = list(image_files.values())
    one = decode_pets(paths, [0] * len(paths), 16, workers=0)
    many = decode_pets(paths, [0] * len(paths), 16, workers=2)
    assert torch.equal(one.images, many.images) and one.skipped == many.skipped


def test_decode_reports_skipped_count(image_files: dict[str, Path], monkeypatch, capsys) -> None:
    monkeypatch.setenv("E2EDL_PROGRESS", "1")
    decode_pets(list(image_files.values()), [0] * 7, 16, workers=0)
    assert "skipped 3 of 7 files" in capsys.readouterr().out


def test_cache_round_trip_and_invalidation(image_files: dict[str, Path], tmp_path: Path, monkeypatch) -> None:
    paths, labels = list(image_files.values()), [0, 1, 0, 1, 0, 1, 0]
    cache = tmp_path / "cache" / "decoded-16.pt"
    first = decode_cached(paths, labels, 16, cache, workers=0)
    assert cache.is_file() and not list(cache.parent.glob(".*.tmp"))

    real_decode = pets_images.decode_pets
    calls = []
    monkeypatch.setattr(pets_images, "decode_pets", lambda *a, **k: calls.append(1) or real_decode(*a, **k))
    again = decode_cached(paths, labels, 16, cache, workers=0)
    assert calls == []  # read from the cache
    assert torch.equal(again.images, first.images) and torch.equal(again.labels, first.labels)
    assert again.skipped == first.skipped

    photo(9, w=60).save(image_files["good"], format="JPEG")  # a source file changed
    decode_cached(paths, labels, 16, cache, workers=0)
    assert calls == [1]
    decode_cached(paths[:-1], labels[:-1], 16, cache, workers=0)  # the list changed
    assert calls == [1, 1]
    cache.write_bytes(b"not a torch file")  # a damaged cache is rebuilt, not an error
    decode_cached(paths[:-1], labels[:-1], 16, cache, workers=0)
    assert calls == [1, 1, 1]


def test_load_pets_tensors_caches_per_size(image_files: dict[str, Path], tmp_path: Path, monkeypatch) -> None:
    paths = list(image_files.values())
    monkeypatch.setattr(pets_images, "load_pets", lambda **kw: (paths, [0] * 7, ["cat", "dog"]))
    home = tmp_path / "home"
    result = load_pets_tensors(16, home=home, workers=0)
    assert result.images.shape == (4, 3, 16, 16) and result.class_names == ["cat", "dog"]
    assert len(result.skipped) == 3
    assert (home / "pets" / "decoded-16.pt").is_file()
    load_pets_tensors(8, home=home, workers=0)
    assert (home / "pets" / "decoded-8.pt").is_file()


def test_stratified_split() -> None:
    labels = torch.tensor([0] * 60 + [1] * 40)[
        torch.randperm(100, generator=torch.Generator().manual_seed(0))
    ]
    train, val = stratified_split(labels, 0.2, seed=1)
    assert torch.bincount(labels[val]).tolist() == [12, 8]  # 20% of each class
    assert torch.bincount(labels[train]).tolist() == [48, 32]
    assert set(train.tolist()).isdisjoint(val.tolist())
    assert sorted(train.tolist() + val.tolist()) == list(range(100))
    again = stratified_split(labels.tolist(), 0.2, seed=1)
    assert torch.equal(again[0], train) and torch.equal(again[1], val)
    other = stratified_split(labels, 0.2, seed=2)
    assert not torch.equal(other[1], val)
    with pytest.raises(ValueError):
        stratified_split(labels, 1.0, seed=0)


def test_transforms_are_separate_and_eval_is_deterministic() -> None:
    train, evaluate = train_transform(24), eval_transform(24)
    assert train is not evaluate and train is not train_transform(24)
    images = torch.randint(0, 256, (4, 3, 32, 32), dtype=torch.uint8)
    labels = torch.tensor([0, 1, 0, 1])
    out, out_labels = evaluate((images, labels))
    assert out.shape == (4, 3, 24, 24) and out.dtype == torch.float32 and out_labels is labels
    assert torch.equal(out, evaluate(images))
    same = torch.randint(
        0, 256, (2, 3, 24, 24), dtype=torch.uint8
    )  # already the right size: scale + normalise only
    mean, std = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    torch.testing.assert_close(evaluate(same), (same / 255 - mean) / std)
    augmented, _ = train((images, labels))
    assert augmented.shape == (4, 3, 24, 24) and augmented.dtype == torch.float32
    assert not torch.equal(train(images), train(images))


def test_random_crop_flip_is_per_image() -> None:
    image = torch.rand(1, 3, 20, 20)
    batch = image.expand(32, 3, 20, 20)
    identity = RandomResizedCropFlip(20, scale=(1, 1), ratio=(1, 1), flip_p=0.0)
    torch.testing.assert_close(identity(batch), batch)
    flips = RandomResizedCropFlip(20, scale=(1, 1), ratio=(1, 1), generator=torch.Generator().manual_seed(0))(
        batch
    )
    flipped = [torch.allclose(out, image[0].flip(-1), atol=1e-5) for out in flips]
    kept = [torch.allclose(out, image[0], atol=1e-5) for out in flips]
    assert all(f or k for f, k in zip(flipped, kept)) and 0 < sum(flipped) < 32  # some flipped, some not
    crops = RandomResizedCropFlip(10, generator=torch.Generator().manual_seed(0))(batch)
    assert crops.shape == (32, 3, 10, 10)
    assert (
        len({tuple(c.flatten()[:8].tolist()) for c in crops}) > 16
    )  # a different crop for (nearly) each image
    seeded = [RandomResizedCropFlip(10, generator=torch.Generator().manual_seed(5))(batch) for _ in range(2)]
    assert torch.equal(seeded[0], seeded[1])


def find_pets_mirror() -> Path | None:
    candidates = [os.environ.get("E2EDL_MIRROR"), Path(__file__).resolve().parents[2] / "shared" / "data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "pets" / "kagglecatsanddogs-180px-10k.zip").is_file():
            return Path(candidate)
    return None


@pytest.mark.skipif(
    find_pets_mirror() is None, reason="no pets archive in the local mirror (set E2EDL_MIRROR)"
)
def test_real_pets_decode(tmp_path: Path, monkeypatch) -> None:
    from e2edl.data import load_pets

    monkeypatch.setenv("E2EDL_OFFLINE", "1")
    paths, labels, _ = load_pets(mirror=find_pets_mirror(), home=tmp_path)
    assert len(paths) == 10_000
    picked = list(range(100)) + list(range(len(paths) - 100, len(paths)))  # 100 cats, 100 dogs
    images, kept, skipped = decode_pets(
        [paths[i] for i in picked], [labels[i] for i in picked], 64, workers=0
    )
    assert skipped == []
    assert images.shape == (200, 3, 64, 64) and images.dtype == torch.uint8
    assert torch.bincount(kept).tolist() == [100, 100]
    assert 40 < images.float().mean() < 200  # real photos, not blank


def test_is_readable_image_agrees_with_the_decoder(image_files: dict[str, Path]) -> None:
    readable = {name for name, path in image_files.items() if is_readable_image(path)}
    assert readable == {"good", "png", "gray", "cmyk"}


def test_hugging_face_splits_drop_unreadable_files(tmp_path: Path, monkeypatch) -> None:
    """The huggingface-transfer lesson's ``datasets`` path: an image folder with broken files gives
    only readable examples, split per class."""
    pytest.importorskip("datasets")
    from e2edl.data import pets_hf

    root = tmp_path / "PetImages"
    for label, folder in enumerate(("Cat", "Dog")):
        (root / folder).mkdir(parents=True)
        for i in range(10):
            photo(10 * label + i).save(root / folder / f"{i}.jpg", format="JPEG")
    (root / "Cat" / "10.jpg").write_bytes(b"")
    (root / "Dog" / "10.jpg").write_bytes((root / "Dog" / "0.jpg").read_bytes()[:300])  # truncated
    monkeypatch.setattr(pets_hf, "pets_image_folder", lambda: root)
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "hf-cache"))
    splits, unreadable = pets_hf.load_pets_splits(progress=False)
    assert unreadable == 2
    assert len(splits["train"]) + len(splits["test"]) == 20 and len(splits["test"]) == 4
    assert sorted(splits["test"]["label"]) == [0, 0, 1, 1]  # stratified
    for example in splits["train"]:
        assert example["image"].size == (48, 36)  # every remaining example decodes
