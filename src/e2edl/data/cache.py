"""What the cache holds: ``verify`` re-hashes cached files, ``status`` summarises every data set."""

from __future__ import annotations

import os
from dataclasses import dataclass

from e2edl.data.checksum import check_file
from e2edl.data.fetch import cached_copy
from e2edl.data.paths import dataset_dir
from e2edl.data.registry import DATASETS, DatasetSpec, get_spec


@dataclass(frozen=True)
class VerifyRow:
    """One cached file's check: ``status`` is "ok", "missing" or "corrupt"; ``message`` says what to do."""

    dataset: str
    file: str
    status: str
    message: str


@dataclass(frozen=True)
class StatusRow:
    """One data set for ``e2edl data list``.

    ``size`` is in bytes: of the cached version of each file when cached, else of its preferred
    version (decompressed content for gzip files).
    """

    name: str
    description: str
    size: int
    cached: bool


def verify(name: str | None = None, *, home: str | os.PathLike | None = None) -> list[VerifyRow]:
    """Re-hash the cached files of data set ``name`` (every data set if ``None``): one row per file."""
    specs = [get_spec(name)] if name is not None else list(DATASETS.values())
    return [row for spec in specs for row in _verify_spec(spec, home)]


def _verify_spec(spec: DatasetSpec, home: str | os.PathLike | None) -> list[VerifyRow]:
    folder = dataset_dir(spec.name, home)
    fix = f"run `e2edl data fetch {spec.name}`"
    rows = []
    for file in spec.files:
        found = cached_copy(file, folder)
        if found is None:
            rows.append(VerifyRow(spec.name, file.filename, "missing", f"not in {folder}; {fix}"))
            continue
        path, source = found
        problem = check_file(path, source)
        if problem is None:
            rows.append(
                VerifyRow(spec.name, source.filename, "ok", f"sha256 {source.sha256[:16]}... matches")
            )
        else:
            rows.append(
                VerifyRow(spec.name, source.filename, "corrupt", f"{problem}; delete {path} and {fix}")
            )
    return rows


def status(*, home: str | os.PathLike | None = None) -> list[StatusRow]:
    """One row per registered data set: name, description, size in bytes, whether it is cached.

    "Cached" means a version of every file is present (not re-hashed; ``verify`` does that).
    """
    rows = []
    for spec in DATASETS.values():
        folder = dataset_dir(spec.name, home)
        found = [cached_copy(file, folder) for file in spec.files]
        size = sum(
            hit[1].size if hit else file.sources[0].size for hit, file in zip(found, spec.files, strict=True)
        )
        rows.append(StatusRow(spec.name, spec.description, size, all(found)))
    return rows
