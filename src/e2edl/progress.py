"""Progress bars: on by default, off everywhere at once with ``E2EDL_PROGRESS=0`` (tests, CI, logs)."""

from __future__ import annotations

import os


def progress_enabled(progress: bool = True) -> bool:
    """Progress bars are on unless the caller or ``E2EDL_PROGRESS=0`` turns them off."""
    return progress and os.environ.get("E2EDL_PROGRESS", "1") != "0"
