"""The data layer: a registry of named data sets, a verified cache, safe extraction and loaders.

Files are found in the cache (``$E2EDL_HOME``, default ``~/.cache/e2edl``), else copied from a
local mirror (``$E2EDL_MIRROR``), else downloaded (unless ``E2EDL_OFFLINE=1``); every copy is
checked against its SHA-256 before it enters the cache. This package imports nothing from the
training, model or lesson code.
"""

from e2edl.data.archive import safe_extract
from e2edl.data.cache import StatusRow, VerifyRow, status, verify
from e2edl.data.errors import DataUnavailable, IDXError, UnknownDataset, UnsafeArchive
from e2edl.data.fetch import fetch
from e2edl.data.idx import read_idx
from e2edl.data.imdb import load_imdb
from e2edl.data.mnist import load_mnist
from e2edl.data.paths import data_home, mirror_dir
from e2edl.data.pets import load_pets
from e2edl.data.pets_images import load_pets_tensors
from e2edl.data.registry import DATASETS, DatasetSpec, FileSpec, Source, get_spec
from e2edl.data.splits import balanced_subset, stratified_split
from e2edl.data.tensor_loader import TensorLoader
from e2edl.data.tinyshakespeare import load_tinyshakespeare

__all__ = [
    "load_pets_tensors",
    "stratified_split",
    "balanced_subset",
    "DATASETS",
    "DataUnavailable",
    "DatasetSpec",
    "FileSpec",
    "IDXError",
    "Source",
    "StatusRow",
    "TensorLoader",
    "UnknownDataset",
    "UnsafeArchive",
    "VerifyRow",
    "data_home",
    "fetch",
    "get_spec",
    "load_imdb",
    "load_mnist",
    "load_pets",
    "load_tinyshakespeare",
    "mirror_dir",
    "read_idx",
    "safe_extract",
    "status",
    "verify",
]
