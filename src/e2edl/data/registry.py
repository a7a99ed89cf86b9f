"""The registry of named data sets: where each file comes from and what its content must hash to.

A data set is a list of files (``FileSpec``); each file has one or more acceptable versions
(``Source``), tried in order. Pets and IMDb accept either the canonical public download or the
smaller, differently named subset kept in the course's local mirror (no URL: mirror only).

Checksums are SHA-256 of the *content*: for gzip files, of the decompressed bytes, because gzip
headers (timestamps, names) differ between mirrors of the same data. Sources:

- MNIST / Fashion-MNIST decompressed SHA-256: the course mirror's README (``shared/data/README.md``),
  which states they equal the public originals' content. The public ``.gz`` files differ byte-wise
  from the mirror's (torchvision's MD5s of the public ``.gz`` do not match the mirror's), which is
  why the decompressed content is what is checked.
- ``aclImdb_v1.tar.gz``: tensorflow/datasets ``datasets/imdb_reviews/checksums.tsv``.
- ``kagglecatsanddogs_5340.zip``: huggingface/datasets ``datasets/cats_vs_dogs/dataset_infos.json``.
- ``tinyshakespeare/input.txt``: tensorflow/datasets ``datasets/tiny_shakespeare/checksums.tsv``
  (equal to the mirror's).
"""

from __future__ import annotations

import difflib
import importlib
from collections.abc import Callable
from dataclasses import dataclass

from e2edl.data.errors import UnknownDataset


@dataclass(frozen=True)
class Source:
    """One acceptable version of a file.

    ``sha256`` and ``size`` describe the content (decompressed when ``gzip``). ``urls`` are tried
    in order; an empty tuple means the version exists only in a local mirror.
    """

    filename: str
    sha256: str
    size: int
    urls: tuple[str, ...] = ()
    gzip: bool = False
    note: str = ""


@dataclass(frozen=True)
class FileSpec:
    """One file a data set needs, with its acceptable versions (``sources``, preferred first)."""

    sources: tuple[Source, ...]
    archive: bool = False  # extract into ``<cache>/<dataset>/extracted/`` once fetched

    @property
    def filename(self) -> str:
        """The preferred (canonical) file name, used in messages."""
        return self.sources[0].filename


@dataclass(frozen=True)
class DatasetSpec:
    """A named data set: its files, a one-line description and its loader's dotted name."""

    name: str
    description: str
    files: tuple[FileSpec, ...]
    loader: str

    @property
    def size(self) -> int:
        """Bytes of content of the preferred version of every file (decompressed for gzip)."""
        return sum(f.sources[0].size for f in self.files)

    def load_function(self) -> Callable:
        """The loader (``loader`` is a dotted name so the registry imports no loader module)."""
        module, _, attr = self.loader.rpartition(".")
        return getattr(importlib.import_module(module), attr)


def _gz(filename: str, sha256: str, size: int, bases: tuple[str, ...]) -> FileSpec:
    source = Source(filename, sha256, size, urls=tuple(b + filename for b in bases), gzip=True)
    return FileSpec((source,))


_MNIST_URLS = ("https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/")
_FASHION_URLS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)

_MNIST_SHA = {
    "train-images-idx3-ubyte.gz": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte.gz": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte.gz": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte.gz": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
_FASHION_SHA = {
    "train-images-idx3-ubyte.gz": "c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888",
    "train-labels-idx1-ubyte.gz": "bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9",
    "t10k-images-idx3-ubyte.gz": "5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b",
    "t10k-labels-idx1-ubyte.gz": "0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34",
}
_IDX_SIZES = {  # decompressed bytes: 16-byte header + N*28*28 images, 8-byte header + N labels
    "train-images-idx3-ubyte.gz": 47_040_016,
    "train-labels-idx1-ubyte.gz": 60_008,
    "t10k-images-idx3-ubyte.gz": 7_840_016,
    "t10k-labels-idx1-ubyte.gz": 10_008,
}


def _idx_files(shas: dict[str, str], bases: tuple[str, ...]) -> tuple[FileSpec, ...]:
    return tuple(_gz(name, sha, _IDX_SIZES[name], bases) for name, sha in shas.items())


_PETS = FileSpec(
    (
        Source(
            "kagglecatsanddogs_5340.zip",
            "b7974bd00a84a99921f36ee4403f089853777b5ae8d151c76a86e64900334af9",
            824_887_076,
            urls=(
                "https://download.microsoft.com/download/3/E/1/"
                "3E1C3F21-ECDB-4869-8368-6DEBA77B919F/kagglecatsanddogs_5340.zip",
            ),
            note="Microsoft's original: 12,500 + 12,500 full-size JPEGs, some corrupt",
        ),
        Source(
            "kagglecatsanddogs-180px-10k.zip",
            "fe948eb2b4930ef5ba71fb5562a397ee7552d9c2d737fa4f0835f7be3add1b28",
            72_120_059,
            note="course mirror subset: 5,000 + 5,000 images resized to 180x180, corrupt ones removed",
        ),
    ),
    archive=True,
)

_IMDB = FileSpec(
    (
        Source(
            "aclImdb_v1.tar.gz",
            "c40f74a18d3b61f90feba1e17730e0d38e8b97c05fde7008942e91923d1658fe",
            84_125_825,
            urls=("https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz",),
            note="Maas et al. 2011 original, with the unlabelled part",
        ),
        Source(
            "aclImdb_v1-labelled.tar.gz",
            "f4e7a78c4e692dbbb09829f0bb87e07ccd391169124d02f3f91ba79980e256c5",
            28_378_515,
            note="course mirror subset: the labelled train/test reviews only",
        ),
    ),
    archive=True,
)

_SHAKESPEARE = FileSpec(
    (
        Source(
            "input.txt",
            "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed",
            1_115_394,
            urls=(
                "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
            ),
        ),
    )
)

DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "mnist",
            "MNIST handwritten digits: 60,000 train + 10,000 test 28x28 grey images, 10 classes",
            _idx_files(_MNIST_SHA, _MNIST_URLS),
            "e2edl.data.mnist.load_mnist",
        ),
        DatasetSpec(
            "fashion-mnist",
            "Fashion-MNIST (Zalando): 60,000 train + 10,000 test 28x28 grey clothing images, 10 classes",
            _idx_files(_FASHION_SHA, _FASHION_URLS),
            "e2edl.data.mnist.load_mnist",
        ),
        DatasetSpec(
            "pets",
            "Dogs vs Cats (Microsoft PetImages, the Kaggle competition's set): JPEG photos, 2 classes",
            (_PETS,),
            "e2edl.data.pets.load_pets",
        ),
        DatasetSpec(
            "imdb",
            "IMDb Large Movie Review Dataset: 25,000 train + 25,000 test reviews, positive/negative",
            (_IMDB,),
            "e2edl.data.imdb.load_imdb",
        ),
        DatasetSpec(
            "tinyshakespeare",
            "Tiny Shakespeare: 1,115,394 characters of plays, the char-rnn / nanoGPT corpus",
            (_SHAKESPEARE,),
            "e2edl.data.tinyshakespeare.load_tinyshakespeare",
        ),
    )
}


def get_spec(name: str) -> DatasetSpec:
    """The registry entry for ``name``; ``UnknownDataset`` (a ``KeyError``) lists the known names."""
    try:
        return DATASETS[name]
    except KeyError:
        close = difflib.get_close_matches(name, DATASETS, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise UnknownDataset(
            f"Unknown data set {name!r}; known: {', '.join(DATASETS)}.{hint} (`e2edl data list` shows them)"
        ) from None
