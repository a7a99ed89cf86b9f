"""Reading IMDb reviews from their folders: each kind of bad file has one clear, tested behaviour."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from e2edl.data.errors import DataUnavailable
from e2edl.data.imdb import read_reviews


def write_split(root: Path, reviews: dict[str, dict[str, bytes]]) -> Path:
    """``{"neg": {"0_3.txt": b"..."}, "pos": {...}}`` → files under ``root``."""
    for cls, files in reviews.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (root / cls / name).write_bytes(data)
    return root


def test_reads_both_classes_in_id_order(tmp_path: Path) -> None:
    root = write_split(
        tmp_path, {"neg": {"10_1.txt": b"awful", "2_4.txt": b"poor"}, "pos": {"7_9.txt": b"fine"}}
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # clean files: no warning
        texts, labels = read_reviews(root)
    assert texts == ["poor", "awful", "fine"] and labels == [0, 0, 1]


@pytest.mark.parametrize("missing", ["neg", "pos"])
def test_a_missing_class_folder_is_a_one_line_error_naming_it(tmp_path: Path, missing: str) -> None:
    present = {"neg", "pos"} - {missing}
    root = write_split(tmp_path, {cls: {"0_1.txt": b"text"} for cls in present})
    with pytest.raises(DataUnavailable) as error:
        read_reviews(root)
    message = str(error.value)
    assert "\n" not in message and str(root / missing) in message and "neg/ and pos/" in message


def test_empty_reviews_are_skipped_and_counted(tmp_path: Path) -> None:
    root = write_split(tmp_path, {"neg": {"0_1.txt": b"", "1_2.txt": b" \n\t", "2_2.txt": b"bad"}, "pos": {}})
    with pytest.warns(UserWarning, match=r"skipped 2 empty reviews \(first: .*0_1\.txt\)"):
        texts, labels = read_reviews(root)
    assert texts == ["bad"] and labels == [0]


def test_a_byte_that_is_not_utf8_is_replaced_and_counted(tmp_path: Path) -> None:
    root = write_split(
        tmp_path, {"neg": {}, "pos": {"0_8.txt": b"caf\xe9 au lait", "1_9.txt": "café".encode()}}
    )
    with pytest.warns(UserWarning, match=r"not UTF-8 with U\+FFFD in 1 review \(first: .*0_8\.txt\)"):
        texts, labels = read_reviews(root)
    assert texts == ["caf\ufffd au lait", "café"] and labels == [1, 1]


def test_an_over_long_review_is_skipped_unread_and_counted(tmp_path: Path) -> None:
    root = write_split(tmp_path, {"neg": {"0_1.txt": b"x" * 101}, "pos": {"1_9.txt": b"y" * 100}})
    with pytest.warns(UserWarning, match=r"skipped 1 review over 100 bytes \(first: .*0_1\.txt\)"):
        texts, labels = read_reviews(root, max_bytes=100)
    assert texts == ["y" * 100] and labels == [1]


def test_all_problems_are_reported_in_one_warning(tmp_path: Path) -> None:
    root = write_split(
        tmp_path, {"neg": {"0_1.txt": b"", "1_1.txt": b"\xff ok"}, "pos": {"2_9.txt": b"z" * 50}}
    )
    with pytest.warns(UserWarning) as record:
        texts, _ = read_reviews(root, max_bytes=10)
    assert len(record) == 1 and texts == ["\ufffd ok"]
    message = str(record[0].message)
    assert "1 empty review" in message and "1 review over 10 bytes" in message and "not UTF-8" in message
