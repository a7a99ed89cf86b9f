"""Safe extraction: hostile zip and tar entries are refused before anything is written."""

from __future__ import annotations

import io
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from e2edl.data import UnsafeArchive, safe_extract
from e2edl.data.archive import MARKER, extract_once, read_marker


def make_zip(path: Path, entries: list[tuple[str, bytes, int]]) -> Path:
    """A zip of ``(name, content, unix mode)`` entries, names kept verbatim."""
    with zipfile.ZipFile(path, "w") as zf:
        for name, content, mode in entries:
            info = zipfile.ZipInfo(name)
            info.external_attr = mode << 16
            zf.writestr(info, content)
    return path


def make_tar(path: Path, members: list[tarfile.TarInfo | tuple[str, bytes]]) -> Path:
    """A tar.gz of regular files ``(name, content)`` and hand-built ``TarInfo`` entries."""
    with tarfile.open(path, "w:gz") as tf:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tf.addfile(member)
            else:
                name, content = member
                info = tarfile.TarInfo(name)
                info.size = len(content)
                tf.addfile(info, io.BytesIO(content))
    return path


def special(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def files_under(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


REG = stat.S_IFREG | 0o644
HOSTILE_ZIPS = {
    "absolute": [("/tmp/e2edl-evil.txt", b"x", REG)],
    "dotdot": [("ok.txt", b"fine", REG), ("../evil.txt", b"x", REG)],
    "dotdot-nested": [("a/../../evil.txt", b"x", REG)],
    "symlink-out": [("link", b"../../outside", stat.S_IFLNK | 0o777)],
    "symlink-absolute": [("link", b"/etc/passwd", stat.S_IFLNK | 0o777)],
    "device": [("dev", b"", stat.S_IFCHR | 0o600)],
}
HOSTILE_TARS = {
    "absolute": [("/tmp/e2edl-evil.txt", b"x")],
    "dotdot": [("ok.txt", b"fine"), ("../evil.txt", b"x")],
    "symlink-out": [special("link", tarfile.SYMTYPE, "../outside")],
    "symlink-absolute": [special("link", tarfile.SYMTYPE, "/etc")],
    "hardlink-out": [special("hard", tarfile.LNKTYPE, "../../etc/passwd")],
    "hardlink-absolute": [special("hard", tarfile.LNKTYPE, "/etc/passwd")],
    "through-link": [special("sub", tarfile.SYMTYPE, "inner"), ("sub/evil.txt", b"x")],
    "chardev": [special("dev", tarfile.CHRTYPE)],
    "fifo": [special("pipe", tarfile.FIFOTYPE)],
}


@pytest.mark.parametrize("case", sorted(HOSTILE_ZIPS))
def test_hostile_zip_refused_and_nothing_written(tmp_path: Path, case: str) -> None:
    archive = make_zip(tmp_path / "evil.zip", HOSTILE_ZIPS[case])
    work = tmp_path / "work"
    work.mkdir()
    target = work / "out"
    with pytest.raises(UnsafeArchive) as info:
        safe_extract(archive, target)
    bad_name = HOSTILE_ZIPS[case][-1][0]
    assert repr(bad_name) in str(info.value) and "\n" not in str(info.value)
    assert files_under(work) == set()  # no target, no temp folder, nothing beside it
    assert not Path("/tmp/e2edl-evil.txt").exists()


@pytest.mark.parametrize("case", sorted(HOSTILE_TARS))
def test_hostile_tar_refused_and_nothing_written(tmp_path: Path, case: str) -> None:
    archive = make_tar(tmp_path / "evil.tar.gz", HOSTILE_TARS[case])
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(UnsafeArchive) as info:
        safe_extract(archive, work / "out")
    last = HOSTILE_TARS[case][-1]
    bad_name = last.name if isinstance(last, tarfile.TarInfo) else last[0]
    assert repr(bad_name.lstrip("/")) in str(info.value) or repr(bad_name) in str(info.value)
    assert "\n" not in str(info.value)
    assert files_under(work) == set()


def test_valid_zip_extracts(tmp_path: Path) -> None:
    archive = make_zip(
        tmp_path / "ok.zip",
        [
            ("PetImages/", b"", stat.S_IFDIR | 0o755),
            ("PetImages/Cat/1.jpg", b"cat", REG),
            ("top.txt", b"t", REG),
        ],
    )
    target = safe_extract(archive, tmp_path / "out")
    assert (target / "PetImages" / "Cat" / "1.jpg").read_bytes() == b"cat"
    assert (target / "top.txt").read_bytes() == b"t"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ok.zip", "out"]  # temp folder gone


def test_valid_tar_with_inside_links_extracts(tmp_path: Path) -> None:
    archive = make_tar(
        tmp_path / "ok.tar.gz",
        [
            ("aclImdb/train/pos/0_9.txt", b"great"),
            special("aclImdb/latest", tarfile.SYMTYPE, "train/pos/0_9.txt"),
            special("aclImdb/copy.txt", tarfile.LNKTYPE, "aclImdb/train/pos/0_9.txt"),
        ],
    )
    target = safe_extract(archive, tmp_path / "out")
    assert (target / "aclImdb" / "train" / "pos" / "0_9.txt").read_text() == "great"
    assert (target / "aclImdb" / "latest").read_text() == "great"
    assert (target / "aclImdb" / "copy.txt").read_text() == "great"


def test_not_an_archive_refused(tmp_path: Path) -> None:
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"this is not an archive")
    with pytest.raises(UnsafeArchive, match="not a zip or tar"):
        safe_extract(junk, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_extract_once_skips_a_completed_extraction(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "a.tar.gz", [("data.txt", b"v1")])
    target = tmp_path / "extracted"
    extract_once(archive, target, stamp="a v1")
    assert read_marker(target) == "a v1" and (target / MARKER).is_file()
    (target / "data.txt").write_text("edited")  # a re-extraction would undo this
    extract_once(archive, target, stamp="a v1")
    assert (target / "data.txt").read_text() == "edited"
    extract_once(archive, target, stamp="a v2")  # another archive version: extracted again
    assert (target / "data.txt").read_text() == "v1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.tar.gz", "extracted"]


def test_extraction_without_marker_is_redone(tmp_path: Path) -> None:
    """A folder without the marker (say, an interrupted manual copy) is replaced, not trusted."""
    archive = make_zip(tmp_path / "a.zip", [("data.txt", b"good", REG)])
    target = tmp_path / "extracted"
    target.mkdir()
    (target / "stale.txt").write_text("half")
    extract_once(archive, target, stamp="a")
    assert files_under(target) == {"data.txt", MARKER}


def test_link_chain_escape_refused(tmp_path: Path) -> None:
    """Each link alone stays inside, together they escape: ``l1 -> l2/../evil`` with ``l2 -> .``."""
    for order in (["l2", "l1"], ["l1", "l2"]):
        links = {"l2": ".", "l1": "l2/../evil.txt"}
        archive = make_tar(tmp_path / "chain.tar.gz", [special(n, tarfile.SYMTYPE, links[n]) for n in order])
        work = tmp_path / f"work-{order[0]}"
        work.mkdir()
        with pytest.raises(UnsafeArchive, match="link"):
            safe_extract(archive, work / "out")
        assert files_under(work) == set()


def test_duplicate_entry_cannot_write_through_an_earlier_link(tmp_path: Path) -> None:
    archive = make_tar(tmp_path / "dup.tar.gz", [special("f", tarfile.SYMTYPE, "g"), ("f", b"x")])
    with pytest.raises(UnsafeArchive, match="clashes with an earlier entry"):
        safe_extract(archive, tmp_path / "out")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dup.tar.gz"]
