"""Where data lives: the cache (``$E2EDL_HOME``), the local mirror (``$E2EDL_MIRROR``), offline mode."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_HOME = "~/.cache/e2edl"


def data_home(home: str | os.PathLike | None = None) -> Path:
    """The cache root: ``home`` if given, else ``$E2EDL_HOME``, else ``~/.cache/e2edl``."""
    chosen = home if home is not None else os.environ.get("E2EDL_HOME") or DEFAULT_HOME
    return Path(chosen).expanduser()


def mirror_dir(mirror: str | os.PathLike | None = None) -> Path | None:
    """The local mirror root: ``mirror`` if given, else ``$E2EDL_MIRROR``, else ``None`` (no mirror)."""
    chosen = mirror if mirror is not None else os.environ.get("E2EDL_MIRROR")
    return Path(chosen).expanduser() if chosen else None


def dataset_dir(name: str, home: str | os.PathLike | None = None) -> Path:
    """The cache folder of data set ``name``: ``<home>/<name>``."""
    return data_home(home) / name


def offline() -> bool:
    """True when ``$E2EDL_OFFLINE`` is set to anything but ``0``/empty: never touch the internet."""
    return os.environ.get("E2EDL_OFFLINE", "").strip().lower() not in ("", "0", "false", "no")
