"""Get a data set's files into the cache: cache, then local mirror, then internet.

Nothing enters the cache unverified: a mirror copy or a download is written to a temp file
beside its destination, hashed on the way, and renamed into place only if the content matches
the registry. A corrupt mirror file is refused and named in the final error if nothing else
works. ``E2EDL_OFFLINE=1`` skips the internet.
"""

from __future__ import annotations

import os
from pathlib import Path

from e2edl.data.archive import extract_once
from e2edl.data.checksum import ChecksumMismatch, check_file, file_chunks, write_verified
from e2edl.data.download import DownloadFailed, download
from e2edl.data.errors import DataUnavailable
from e2edl.data.paths import dataset_dir, mirror_dir, offline
from e2edl.data.registry import DatasetSpec, FileSpec, Source, get_spec

EXTRACTED = "extracted"
Found = tuple[Path, Source]


def fetch(
    name: str,
    *,
    mirror: str | os.PathLike | None = None,
    home: str | os.PathLike | None = None,
    progress: bool = True,
) -> Path:
    """Make every file of data set ``name`` present and verified in the cache; return its folder.

    The folder is ``<home>/<name>`` (``home`` defaults to ``$E2EDL_HOME`` or ``~/.cache/e2edl``);
    archives are also extracted, once, into ``<home>/<name>/extracted/``. ``mirror`` defaults to
    ``$E2EDL_MIRROR``. Raises ``UnknownDataset`` or ``DataUnavailable``.
    """
    spec = get_spec(name)
    folder = dataset_dir(name, home)
    for file in spec.files:
        path, source = obtain(spec, file, folder, mirror_dir(mirror), progress)
        if file.archive:
            extract_once(path, folder / EXTRACTED, stamp=f"{source.filename} {source.sha256}\n")
    return folder


def obtain(spec: DatasetSpec, file: FileSpec, folder: Path, mirror: Path | None, progress: bool) -> Found:
    """One verified cached copy of ``file``, taken from the cache, the mirror or the internet."""
    notes: list[str] = []
    found = (
        _from_cache(file, folder, notes)
        or _from_mirror(spec.name, file, folder, mirror, notes)
        or _from_internet(file, folder, progress, notes)
    )
    if found is None:
        raise DataUnavailable(_unavailable(spec.name, file, folder, notes))
    return found


def cached_copy(file: FileSpec, folder: Path) -> tuple[Path, Source] | None:
    """The first of ``file``'s versions present in ``folder`` (unverified), or ``None``."""
    for source in file.sources:
        if (folder / source.filename).is_file():
            return folder / source.filename, source
    return None


def _from_cache(file: FileSpec, folder: Path, notes: list[str]) -> Found | None:
    for source in file.sources:
        path = folder / source.filename
        if path.is_file():
            problem = check_file(path, source)
            if problem is None:
                return path, source
            notes.append(f"cached {path} is corrupt ({problem})")
    return None


def _from_mirror(
    dataset: str, file: FileSpec, folder: Path, mirror: Path | None, notes: list[str]
) -> Found | None:
    if mirror is None:
        notes.append("no mirror set (E2EDL_MIRROR)")
        return None
    seen = False
    for source in file.sources:
        for candidate in (mirror / dataset / source.filename, mirror / source.filename):
            if candidate.is_file():
                seen = True
                try:
                    write_verified(file_chunks(candidate), folder / source.filename, source)
                    return folder / source.filename, source
                except ChecksumMismatch as e:
                    notes.append(f"mirror file {candidate} refused: {e}")
                except OSError as e:  # unreadable mirror file, or the cache cannot be written
                    notes.append(f"mirror file {candidate} could not be copied ({e.strerror or e})")
    if not seen:
        notes.append(f"not in mirror {mirror}")
    return None


def _from_internet(file: FileSpec, folder: Path, progress: bool, notes: list[str]) -> Found | None:
    if offline():
        notes.append("internet skipped (E2EDL_OFFLINE=1)")
        return None
    for source in file.sources:
        if source.urls:
            try:
                download(source, folder / source.filename, progress=progress)
                return folder / source.filename, source
            except DownloadFailed as e:
                notes.append(f"download failed: {e}")
    return None


def _unavailable(dataset: str, file: FileSpec, folder: Path, notes: list[str]) -> str:
    names = [s.filename for s in file.sources]
    wanted = " or ".join(names)
    return (
        f"{dataset}: cannot get {wanted} ({'; '.join(notes)}). "
        f"Put {wanted} in {folder}/ or in <mirror>/{dataset}/ with E2EDL_MIRROR=<mirror>, "
        f"then run `e2edl data fetch {dataset}`"
    )
