"""Safe, atomic extraction of zip and tar(.gz) archives, done once per archive.

Every entry is checked before it is written: absolute paths, ``..`` components, links that
point outside the target (or pass through another link), entries reached through a link, and
device files or FIFOs are refused with ``UnsafeArchive``. Everything is written into a temp
folder beside the target (files created with ``O_EXCL | O_NOFOLLOW``, so never through an
existing link) that is renamed into place at the end: the target is complete or absent, and a
refused archive leaves nothing behind. Tar archives are read in one streaming pass (the gzip
stream is decompressed once, not again for a second, extracting pass).
"""

from __future__ import annotations

import os
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zipfile
from pathlib import Path
from typing import BinaryIO, NoReturn

from e2edl.data.errors import UnsafeArchive

MARKER = ".e2edl-extracted"


def safe_extract(archive: str | os.PathLike, target: str | os.PathLike, *, marker: str | None = None) -> Path:
    """Extract ``archive`` (zip, tar, tar.gz/bz2/xz) into the folder ``target`` and return it.

    A previous ``target`` is replaced. With ``marker``, that text is written to
    ``target/.e2edl-extracted`` before the rename, so the marker's presence means "complete".
    """
    archive, target = Path(archive), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    tmp.chmod(0o755)  # mkdtemp makes it 0700; the extracted folder should be as readable as any other
    try:
        _extract_into(archive, tmp)
        if marker is not None:
            (tmp / MARKER).write_text(marker)
        _swap_into_place(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def extract_once(archive: str | os.PathLike, target: str | os.PathLike, stamp: str) -> Path:
    """``safe_extract`` unless ``target`` already holds a complete extraction marked ``stamp``."""
    target = Path(target)
    if read_marker(target) == stamp:
        return target
    return safe_extract(archive, target, marker=stamp)


def read_marker(target: str | os.PathLike) -> str | None:
    """The marker text of a completed extraction in ``target``, or ``None``."""
    try:
        return (Path(target) / MARKER).read_text()
    except OSError:
        return None


def _extract_into(archive: Path, folder: Path) -> None:
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            _check_zip(zf, _Checker(archive))
            zf.extractall(folder)  # zipfile writes an (in-target) symlink entry as a small text file
    elif tarfile.is_tarfile(archive):
        checker, made = _Checker(archive), set()
        with tarfile.open(archive, "r|*") as tf:  # one streaming pass: check an entry, then write it
            for member in tf:
                _write_tar_member(tf, member, folder, checker, made)
    else:
        raise UnsafeArchive(f"{archive}: not a zip or tar archive; delete it and fetch it again")


def _swap_into_place(tmp: Path, target: Path) -> None:
    """Rename ``tmp`` to ``target``, moving an existing ``target`` aside first and deleting it."""
    old = None
    if target.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
        os.replace(target, old / "previous")
    os.replace(tmp, target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _check_zip(zf: zipfile.ZipFile, checker: _Checker) -> None:
    """Check every entry before anything is written (the zip directory lists them all up front)."""
    for info in zf.infolist():
        mode = info.external_attr >> 16
        name = checker.name(info.filename)
        if stat.S_ISLNK(mode):
            checker.symlink(info.filename, name, zf.read(info).decode("utf-8", "replace"))
        elif mode and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
            checker.refuse(info.filename, "is a device or special file")


def _write_tar_member(
    tf: tarfile.TarFile, member: tarfile.TarInfo, folder: Path, checker: _Checker, made: set[Path]
) -> None:
    """Check ``member``, then create it under ``folder``. Owners, modes and times are not restored."""
    name = checker.name(member.name)
    dest = folder / name if name else folder
    link_source = None
    if member.issym():
        checker.symlink(member.name, name, member.linkname)
    elif member.islnk():
        link_source = folder / checker.hardlink(member.name, member.linkname)
    elif member.isreg():
        checker.files.add(name)
    elif not member.isdir():
        checker.refuse(member.name, "is a device or special file")
    try:
        if member.isdir():
            dest.mkdir(parents=True, exist_ok=True)
            return
        if dest.parent not in made:
            dest.parent.mkdir(parents=True, exist_ok=True)
            made.add(dest.parent)
        if member.issym():
            os.symlink(member.linkname, dest)
        elif link_source is not None:
            os.link(link_source, dest, follow_symlinks=False)
        else:
            _write_new(dest, tf.extractfile(member))
    except (FileExistsError, NotADirectoryError):
        checker.refuse(member.name, "clashes with an earlier entry")


def _write_new(dest: Path, data: BinaryIO | None) -> None:
    """Create ``dest`` (never following or replacing an existing path) with the bytes of ``data``."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
    with os.fdopen(os.open(dest, flags, 0o644), "wb") as out:
        if data is not None:
            shutil.copyfileobj(data, out, 1 << 20)


class _Checker:
    """Checks entries in archive order, remembering what earlier entries created.

    Paths are walked component by component, so a link can neither escape with ``..`` nor pass
    through another link (a link chain could escape where each link alone looks harmless).
    """

    def __init__(self, archive: Path) -> None:
        self.archive = archive
        self.links: set[str] = set()  # symlink entries
        self.passed: set[str] = set()  # folders that link targets pass through
        self.files: set[str] = set()  # regular files: the only valid hard link targets

    def refuse(self, raw: str, why: str) -> NoReturn:
        raise UnsafeArchive(f"{self.archive}: entry {raw!r} {why}; refused")

    def name(self, raw: str) -> str:
        """The entry's normalised relative path; refuses absolute paths, ``..`` and paths through links."""
        parts = raw.replace("\\", "/").split("/")
        if raw.startswith(("/", "\\")) or parts[0][1:2] == ":":
            self.refuse(raw, "has an absolute path")
        parts = [p for p in parts if p not in ("", ".")]
        if ".." in parts:
            self.refuse(raw, "contains '..'")
        if any("/".join(parts[:i]) in self.links for i in range(1, len(parts))):
            self.refuse(raw, "goes through a link in the archive")
        return "/".join(parts)

    def symlink(self, raw: str, name: str, target: str) -> None:
        """A symlink's target is relative to the link's folder."""
        if name in self.passed:
            self.refuse(raw, "is a link that an earlier link's target goes through")
        self._walk(raw, posixpath.dirname(name), target)
        self.links.add(name)

    def hardlink(self, raw: str, target: str) -> str:
        """A tar hard link's target is relative to the archive root and must be an earlier file."""
        resolved = self._walk(raw, "", target)
        if resolved not in self.files:
            self.refuse(raw, f"is a hard link to {target!r}, which is not an earlier file in the archive")
        return resolved

    def _walk(self, raw: str, base: str, target: str) -> str:
        """``target`` resolved from folder ``base``, as a path relative to the extraction folder."""
        if target.startswith(("/", "\\")) or target[1:2] == ":":
            self.refuse(raw, f"links to {target!r}, outside the target")
        stack = [p for p in base.split("/") if p]
        for part in target.replace("\\", "/").split("/"):
            if part in ("", "."):
                continue
            here = "/".join(stack)
            if here in self.links:
                self.refuse(raw, f"links to {target!r} through another link")
            self.passed.add(here)
            if part != "..":
                stack.append(part)
            elif stack:
                stack.pop()
            else:
                self.refuse(raw, f"links to {target!r}, outside the target")
        return "/".join(stack)
