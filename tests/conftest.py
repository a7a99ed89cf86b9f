"""Shared fixtures. Data fixtures are named ``data_*``."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def recorded_results_in_tmp(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No test writes the committed reference runs (``e2edl/results/*.json``): they point at an
    empty temporary folder, so "no full run recorded yet" is what tests see."""
    from e2edl.course import reference

    monkeypatch.setattr(reference, "RESULTS", tmp_path_factory.mktemp("recorded-results"))
    reference._load.cache_clear()


@pytest.fixture
def data_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An isolated data environment; returns the cache root ``$E2EDL_HOME`` (under ``tmp_path``).

    No mirror, offline, progress bars off, and fast retries (3 tries, 10 ms backoff) for tests
    that go online against a local server.
    """
    home = tmp_path / "e2edl-home"
    monkeypatch.setenv("E2EDL_HOME", str(home))
    monkeypatch.delenv("E2EDL_MIRROR", raising=False)
    monkeypatch.setenv("E2EDL_OFFLINE", "1")
    monkeypatch.setenv("E2EDL_PROGRESS", "0")
    monkeypatch.setenv("E2EDL_DOWNLOAD_TRIES", "3")
    monkeypatch.setenv("E2EDL_DOWNLOAD_BACKOFF", "0.01")
    monkeypatch.setenv("E2EDL_DOWNLOAD_TIMEOUT", "5")
    return home


@pytest.fixture
def one_thread():
    """Tiny models run fastest on one thread, and on a busy machine two threads crawl. Use with
    ``pytestmark = pytest.mark.usefixtures("one_thread")``."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
