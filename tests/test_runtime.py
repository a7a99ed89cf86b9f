"""``import e2edl`` sets fair core sharing before torch loads, and keeps large buffers, unless told otherwise."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

PROBE = "import os, e2edl; print(os.environ.get('GOMP_SPINCOUNT'), e2edl._runtime.keep_large_buffers())"


def probe(**env: str) -> list[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("GOMP_", "OMP_WAIT", "MALLOC_"))}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], env=clean | env, capture_output=True, text=True, check=True
    )
    return out.stdout.split()


def test_the_spin_is_set_unless_the_user_chose() -> None:
    assert probe()[0] == "3000"
    assert probe(GOMP_SPINCOUNT="123")[0] == "123"
    assert probe(OMP_WAIT_POLICY="PASSIVE")[0] == "None"


@pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only")
def test_large_buffers_are_kept_unless_glibc_was_told_otherwise() -> None:
    assert probe()[1] == "True"
    assert probe(MALLOC_MMAP_THRESHOLD_="65536")[1] == "False"
