"""IMDb Large Movie Review Dataset: review texts with binary sentiment labels.

Real files are not always clean, so each kind of bad review has one behaviour, counted and
reported in a single warning that names the first file of each kind:

- an **empty** review (no characters but white space) is skipped: there is nothing to classify;
- a byte that is **not UTF-8** is replaced by U+FFFD (``�``) and the review kept: one bad byte
  should not cost a whole review, or a whole run;
- an **over-long** review (more than ``max_bytes``; the longest real one has 13,704 bytes) is
  skipped without being read: it is not a review, and it would dominate a batch's padding;
- a missing ``pos/`` or ``neg/`` folder is a one-line ``DataUnavailable`` naming the folder.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

from e2edl.data.errors import DataUnavailable
from e2edl.data.fetch import EXTRACTED, fetch

CLASS_NAMES = ["neg", "pos"]  # label 0 = negative (rating <= 4), 1 = positive (rating >= 7)
MAX_REVIEW_BYTES = 100_000  # 7× the longest review of the real data set


def load_imdb(
    split: str = "train",
    *,
    mirror: str | os.PathLike | None = None,
    home: str | os.PathLike | None = None,
    max_bytes: int = MAX_REVIEW_BYTES,
) -> tuple[list[str], list[int]]:
    """``(texts, labels)`` of ``split`` ("train" or "test", 25,000 each, half positive).

    Reads ``aclImdb/<split>/{neg,pos}/<id>_<rating>.txt`` from the extracted archive; the order is
    all negatives then all positives, each by review id.
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    root = fetch("imdb", mirror=mirror, home=home) / EXTRACTED / "aclImdb" / split
    if not root.is_dir():
        raise DataUnavailable(
            f"{root} is missing from the extracted IMDb archive; delete {root.parents[1]} and run `e2edl data fetch imdb`"
        )
    return read_reviews(root, max_bytes=max_bytes)


def read_reviews(root: str | os.PathLike, max_bytes: int = MAX_REVIEW_BYTES) -> tuple[list[str], list[int]]:
    """``(texts, labels)`` from ``root/neg/*.txt`` (label 0) and ``root/pos/*.txt`` (label 1).

    Empty and over-long reviews are skipped and undecodable bytes replaced, with one warning
    that counts each (see the module's docstring).
    """
    root = Path(root)
    texts: list[str] = []
    labels: list[int] = []
    problems: dict[str, list[Path]] = {"empty": [], "over-long": [], "not UTF-8": []}
    for label, cls in enumerate(CLASS_NAMES):
        for path in _reviews(root / cls):
            if path.stat().st_size > max_bytes:
                problems["over-long"].append(path)
                continue
            data = path.read_bytes()
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError:
                problems["not UTF-8"].append(path)
                text = data.decode("utf-8", errors="replace")
            if not text.strip():
                problems["empty"].append(path)
                continue
            texts.append(text)
            labels.append(label)
    _warn(problems, max_bytes)
    return texts, labels


def _warn(problems: dict[str, list[Path]], max_bytes: int) -> None:
    actions = {
        "empty": "skipped {n} empty review{s} (first: {first})",
        "over-long": "skipped {n} review{s} over {max_bytes:,} bytes (first: {first})",
        "not UTF-8": "replaced bytes that are not UTF-8 with U+FFFD in {n} review{s} (first: {first})",
    }
    parts = [
        actions[kind].format(n=len(paths), s="s" * (len(paths) != 1), first=paths[0], max_bytes=max_bytes)
        for kind, paths in problems.items()
        if paths
    ]
    if parts:
        warnings.warn("IMDb: " + "; ".join(parts), stacklevel=3)


def _reviews(folder: Path) -> list[Path]:
    """The ``<id>_<rating>.txt`` files of ``folder``, sorted by id."""
    if not folder.is_dir():
        raise DataUnavailable(
            f"{folder} is missing: an IMDb split needs both neg/ and pos/ (if it came from "
            "`e2edl data fetch imdb`, delete the data set's `extracted` folder and fetch it again)"
        )
    return sorted(folder.glob("*.txt"), key=_review_id)


def _review_id(path: Path) -> tuple[int, str]:
    head = path.stem.split("_")[0]
    return (int(head) if head.isdigit() else -1, path.name)
