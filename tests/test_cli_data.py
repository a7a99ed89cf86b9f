"""`e2edl data list | fetch | verify` as a user sees them: output, exit codes, one-line errors."""

import os
from pathlib import Path

import pytest

from e2edl import cli

MIRROR = Path(os.environ.get("E2EDL_MIRROR") or Path(__file__).resolve().parents[2] / "shared" / "data")


def test_data_list_names_every_data_set(data_env, capsys) -> None:
    assert cli.main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("mnist", "fashion-mnist", "pets", "imdb", "tinyshakespeare"):
        assert name in out


def test_unknown_data_set_is_one_line_exit_2(data_env, capsys) -> None:
    assert cli.main(["data", "fetch", "mnsit"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "mnist" in err


def test_missing_data_says_where_to_put_the_file(data_env, tmp_path, capsys) -> None:
    empty = tmp_path / "empty-mirror"
    empty.mkdir()
    assert cli.main(["--mirror", str(empty), "data", "fetch", "tinyshakespeare"]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert "input.txt" in err and str(data_env) in err
    assert not list(data_env.rglob("*.tmp")), "a half-written file was left in the cache"


@pytest.mark.skipif(not (MIRROR / "tinyshakespeare" / "input.txt").is_file(), reason="no local data mirror")
def test_fetch_from_mirror_then_verify(data_env, capsys) -> None:
    assert cli.main(["--mirror", str(MIRROR), "data", "fetch", "tinyshakespeare"]) == 0
    assert cli.main(["data", "verify", "tinyshakespeare"]) == 0
    assert "ok" in capsys.readouterr().out
    cached = next(data_env.rglob("input.txt"))
    cached.write_bytes(cached.read_bytes()[:-1] + b"?")  # flip the last byte
    assert cli.main(["data", "verify", "tinyshakespeare"]) == 1
    assert "corrupt" in capsys.readouterr().out
