"""Tiny Shakespeare: the char-rnn corpus as one string."""

from __future__ import annotations

import os

from e2edl.data.fetch import fetch


def load_tinyshakespeare(
    *, mirror: str | os.PathLike | None = None, home: str | os.PathLike | None = None
) -> str:
    """The whole corpus, 1,115,394 characters (plain ASCII), fetched first if needed."""
    return (fetch("tinyshakespeare", mirror=mirror, home=home) / "input.txt").read_text(encoding="utf-8")
