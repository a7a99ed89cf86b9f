"""The real data sets, read from the course's local mirror into a temporary cache.

The mirror is ``$E2EDL_MIRROR``, else ``../shared/data`` beside the repository; these tests skip
when neither holds the files. They never write into the mirror.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from e2edl.data import fetch, load_imdb, load_mnist, load_pets, load_tinyshakespeare, verify


def find_mirror() -> Path | None:
    candidates = [os.environ.get("E2EDL_MIRROR"), Path(__file__).resolve().parents[2] / "shared" / "data"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "mnist" / "train-labels-idx1-ubyte.gz").is_file():
            return Path(candidate)
    return None


MIRROR = find_mirror()
pytestmark = pytest.mark.skipif(MIRROR is None, reason="no local data mirror (set E2EDL_MIRROR)")


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One cache for the module, so each data set is copied from the mirror once."""
    return tmp_path_factory.mktemp("e2edl-home")


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("E2EDL_OFFLINE", "1")
    monkeypatch.setenv("E2EDL_PROGRESS", "0")


def test_mnist_train_and_test(home: Path) -> None:
    images, labels = load_mnist("train", mirror=MIRROR, home=home)
    assert images.shape == (60000, 28, 28) and images.dtype == torch.uint8
    assert labels.shape == (60000,) and labels.dtype == torch.int64
    counts = torch.bincount(labels, minlength=10)
    assert counts.sum() == 60000 and counts[1] == 6742 and counts.tolist()[:3] == [5923, 6742, 5958]
    images, labels = load_mnist("test", mirror=MIRROR, home=home)
    assert images.shape == (10000, 28, 28) and torch.bincount(labels).sum() == 10000
    assert int(images.max()) == 255 and int(images.min()) == 0


def test_fashion_mnist_is_balanced(home: Path) -> None:
    images, labels = load_mnist("test", name="fashion-mnist", mirror=MIRROR, home=home)
    assert images.shape == (10000, 28, 28)
    assert torch.bincount(labels).tolist() == [1000] * 10


def test_tinyshakespeare(home: Path) -> None:
    text = load_tinyshakespeare(mirror=MIRROR, home=home)
    assert len(text) == 1_115_394 and text.startswith("First Citizen:")


def test_cached_files_verify(home: Path) -> None:
    fetch("mnist", mirror=MIRROR, home=home)
    assert {row.status for row in verify("mnist", home=home)} == {"ok"}


@pytest.mark.slow
def test_pets_and_imdb_extract_and_list(home: Path) -> None:
    paths, labels, class_names = load_pets(mirror=MIRROR, home=home)
    assert class_names == ["cat", "dog"] and len(paths) == 10000
    assert labels.count(0) == 5000 and labels.count(1) == 5000
    assert all(p.suffix == ".jpg" and p.is_file() for p in paths[::997])
    assert paths[0].parent.name == "Cat" and paths[-1].parent.name == "Dog"
    for split in ("train", "test"):
        texts, labels = load_imdb(split, mirror=MIRROR, home=home)
        assert len(texts) == 25000 and labels.count(1) == 12500 and labels.count(0) == 12500
        assert all(isinstance(t, str) and t for t in texts[::2500])
