"""Resolution cache -> mirror -> internet, verification before caching, retries, verify/status.

Downloads go through the real urllib path against an ``http.server`` on 127.0.0.1.
"""

from __future__ import annotations

import ast
import gzip
import hashlib
import http.server
import importlib
import io
import socket
import tarfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import e2edl.data.download as download_module
from e2edl.data import (
    DATASETS,
    DatasetSpec,
    DataUnavailable,
    FileSpec,
    Source,
    UnknownDataset,
    data_home,
    fetch,
    get_spec,
    mirror_dir,
    status,
    verify,
)

CONTENT = b"the quick brown fox jumps over the lazy dog\n" * 100


def source(name: str, content: bytes = CONTENT, *, urls: tuple[str, ...] = (), gzip: bool = False) -> Source:
    return Source(name, hashlib.sha256(content).hexdigest(), len(content), urls=urls, gzip=gzip)


def register(monkeypatch: pytest.MonkeyPatch, *files: FileSpec, name: str = "toy") -> DatasetSpec:
    spec = DatasetSpec(name, "a toy data set", files, "e2edl.data.tinyshakespeare.load_tinyshakespeare")
    monkeypatch.setitem(DATASETS, name, spec)
    return spec


def put(path: Path, content: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def listing(folder: Path) -> list[str]:
    """Every file under ``folder`` (temp files included), or [] if it does not exist."""
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) if folder.exists() else []


# ---------------------------------------------------------------- a scripted local HTTP server


class Server:
    """``routes[path]`` is a list of replies ``(status, body)``, served in turn (the last one repeats).

    A reply with status ``"short"`` announces more bytes than it sends, then hangs up.
    """

    def __init__(self) -> None:
        self.routes: dict[str, list[tuple[int | str, bytes]]] = {}
        self.hits: dict[str, int] = {}
        handler = self._handler()
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.01,), daemon=True)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.httpd.server_port}{path}"

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                server.hits[self.path] = server.hits.get(self.path, 0) + 1
                replies = server.routes.get(self.path, [(404, b"not found")])
                status, body = replies[min(server.hits[self.path], len(replies)) - 1]
                self.send_response(200 if status == "short" else status)
                self.send_header("Content-Length", str(len(body) + (1000 if status == "short" else 0)))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        return Handler


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    monkeypatch.delenv("E2EDL_OFFLINE", raising=False)
    srv = Server()
    srv.thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The backoff delays the downloader waited (recorded, not slept)."""
    recorded: list[float] = []
    monkeypatch.setattr(download_module.time, "sleep", recorded.append)
    return recorded


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------- paths and registry


def test_home_and_mirror_resolution(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("E2EDL_HOME", raising=False)
    monkeypatch.delenv("E2EDL_MIRROR", raising=False)
    assert data_home() == Path.home() / ".cache" / "e2edl"
    assert mirror_dir() is None
    monkeypatch.setenv("E2EDL_HOME", str(tmp_path / "h"))
    monkeypatch.setenv("E2EDL_MIRROR", str(tmp_path / "m"))
    assert data_home() == tmp_path / "h" and mirror_dir() == tmp_path / "m"
    assert data_home(tmp_path / "x") == tmp_path / "x" and mirror_dir(tmp_path / "y") == tmp_path / "y"


def test_registry_entries_are_complete() -> None:
    assert set(DATASETS) == {"mnist", "fashion-mnist", "pets", "imdb", "tinyshakespeare"}
    for spec in DATASETS.values():
        assert spec.description and spec.files and callable(spec.load_function())
        for file in spec.files:
            assert file.sources[0].urls, f"{spec.name}: the preferred version must be downloadable"
            for src in file.sources:
                assert len(src.sha256) == 64 and int(src.sha256, 16) >= 0 and src.size > 0
                assert all(url.startswith(("https://", "http://")) for url in src.urls)
    assert [s.filename for s in get_spec("pets").files[0].sources] == [
        "kagglecatsanddogs_5340.zip",
        "kagglecatsanddogs-180px-10k.zip",
    ]


def test_unknown_dataset_lists_names_and_close_matches() -> None:
    with pytest.raises(KeyError) as info:
        get_spec("fashion_mnist")
    assert isinstance(info.value, UnknownDataset)
    message = str(info.value)
    assert "known: mnist, fashion-mnist, pets, imdb, tinyshakespeare" in message
    assert "Did you mean fashion-mnist" in message and not message.startswith("'")


def test_data_package_stays_on_the_ground_floor() -> None:
    """e2edl.data imports only itself, the stdlib-only e2edl.atomic and e2edl.progress, and third-party code
    (never train/nn/course/cli)."""
    package = Path(__file__).resolve().parents[1] / "src" / "e2edl" / "data"
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            for name in names:
                if name == "e2edl" or name.startswith("e2edl."):
                    assert name.startswith(("e2edl.data", "e2edl.atomic", "e2edl.progress")), (
                        f"{path.name} imports {name}"
                    )


# ---------------------------------------------------------------- cache and mirror


def test_mirror_hit_is_copied_verified_then_served_from_cache(
    data_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch, FileSpec((source("input.txt"),)))
    put(tmp_path / "mirror" / "toy" / "input.txt", CONTENT)
    folder = fetch("toy", mirror=tmp_path / "mirror")
    assert folder == data_env / "toy"
    assert (folder / "input.txt").read_bytes() == CONTENT and listing(folder) == ["input.txt"]
    (tmp_path / "mirror" / "toy" / "input.txt").unlink()
    assert fetch("toy") == folder  # now from the cache: no mirror, offline


def test_mirror_from_environment_and_flat_layout(
    data_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch, FileSpec((source("input.txt"),)))
    put(tmp_path / "mirror" / "input.txt", CONTENT)  # <mirror>/<file> is accepted too
    monkeypatch.setenv("E2EDL_MIRROR", str(tmp_path / "mirror"))
    assert (fetch("toy") / "input.txt").read_bytes() == CONTENT


def test_gzip_files_are_verified_by_decompressed_content(
    data_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch, FileSpec((source("a.gz", gzip=True),)))
    other_header = gzip.compress(CONTENT, mtime=123456)  # another mirror's gzip header, same content
    put(tmp_path / "mirror" / "toy" / "a.gz", other_header)
    assert (fetch("toy", mirror=tmp_path / "mirror") / "a.gz").read_bytes() == other_header


@pytest.mark.parametrize(
    ("mirrored", "is_gzip"),
    [
        (CONTENT[:-1] + b"?", False),
        (CONTENT[:100], False),
        (gzip.compress(CONTENT.upper()), True),
        (gzip.compress(CONTENT)[:-12], True),
        (b"not gzip at all" * 9, True),
    ],
    ids=["flipped-byte", "short", "gzip-other-content", "gzip-truncated", "not-gzip"],
)
def test_corrupt_mirror_file_refused_and_named(
    data_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mirrored: bytes, is_gzip: bool
) -> None:
    register(monkeypatch, FileSpec((source("a.bin", gzip=is_gzip),)))
    bad = put(tmp_path / "mirror" / "toy" / "a.bin", mirrored)
    with pytest.raises(DataUnavailable) as info:
        fetch("toy", mirror=tmp_path / "mirror")
    message = str(info.value)
    assert f"mirror file {bad} refused" in message and "\n" not in message
    assert listing(data_env) == ["toy"]  # the folder, and nothing in it


def test_unreadable_mirror_file_is_a_data_error_not_a_traceback(
    data_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fetch_module = importlib.import_module("e2edl.data.fetch")  # the module; e2edl.data.fetch is the function

    register(monkeypatch, FileSpec((source("a.bin"),)))
    put(tmp_path / "mirror" / "toy" / "a.bin", CONTENT)

    def unreadable(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(fetch_module, "file_chunks", unreadable)
    with pytest.raises(DataUnavailable, match=r"could not be copied \(Permission denied\)"):
        fetch("toy", mirror=tmp_path / "mirror")


def test_unavailable_message_says_what_to_put_where(data_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register(
        monkeypatch,
        FileSpec((source("big.zip", urls=("https://example.invalid/big.zip",)), source("small.zip"))),
    )
    with pytest.raises(DataUnavailable) as info:
        fetch("toy")
    message = str(info.value)
    assert isinstance(info.value, RuntimeError) and "\n" not in message
    assert "cannot get big.zip or small.zip" in message
    assert f"Put big.zip or small.zip in {data_env / 'toy'}/ or in <mirror>/toy/" in message
    assert "no mirror set (E2EDL_MIRROR)" in message and "internet skipped (E2EDL_OFFLINE=1)" in message


def test_corrupt_cached_file_is_replaced_from_the_mirror(
    data_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch, FileSpec((source("input.txt"),)))
    put(data_env / "toy" / "input.txt", b"bit rot")
    put(tmp_path / "mirror" / "toy" / "input.txt", CONTENT)
    assert (fetch("toy", mirror=tmp_path / "mirror") / "input.txt").read_bytes() == CONTENT


def test_mirror_only_alternative_is_accepted(
    data_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    subset = b"a smaller, differently named subset"
    canonical = source("full.bin", urls=("https://example.invalid/full.bin",))
    register(monkeypatch, FileSpec((canonical, source("subset.bin", subset))))
    put(tmp_path / "mirror" / "toy" / "subset.bin", subset)
    folder = fetch("toy", mirror=tmp_path / "mirror")
    assert listing(folder) == ["subset.bin"]
    assert [row.status for row in verify("toy")] == ["ok"]


def test_archives_are_extracted_once_into_the_cache(
    data_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tf:
        info = tarfile.TarInfo("aclImdb/README")
        info.size = len(CONTENT)
        tf.addfile(info, io.BytesIO(CONTENT))
    archive = buffer.getvalue()
    register(monkeypatch, FileSpec((source("a.tar.gz", archive),), archive=True))
    put(tmp_path / "mirror" / "toy" / "a.tar.gz", archive)
    folder = fetch("toy", mirror=tmp_path / "mirror")
    readme = folder / "extracted" / "aclImdb" / "README"
    assert readme.read_bytes() == CONTENT
    readme.write_bytes(b"untouched by a second fetch")
    fetch("toy")
    assert readme.read_bytes() == b"untouched by a second fetch"


# ---------------------------------------------------------------- downloads


def test_download_success_then_cache_hit(
    data_env: Path, server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    server.routes["/input.txt"] = [(200, CONTENT)]
    register(monkeypatch, FileSpec((source("input.txt", urls=(server.url("/input.txt"),)),)))
    monkeypatch.setenv("E2EDL_PROGRESS", "1")
    folder = fetch("toy", progress=True)
    assert (folder / "input.txt").read_bytes() == CONTENT and listing(folder) == ["input.txt"]
    fetch("toy")
    assert server.hits == {"/input.txt": 1}


def test_download_checksum_mismatch_refused_and_nothing_cached(
    data_env: Path, server: Server, monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    server.routes["/input.txt"] = [(200, b"a different file")]
    register(monkeypatch, FileSpec((source("input.txt", urls=(server.url("/input.txt"),)),)))
    with pytest.raises(DataUnavailable, match="downloaded file refused: content is 16 bytes, expected 4,400"):
        fetch("toy", progress=False)
    assert listing(data_env / "toy") == []
    assert server.hits == {"/input.txt": 1} and sleeps == []  # a wrong file is not retried


def test_transient_errors_are_retried_with_backoff(
    data_env: Path, server: Server, monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    server.routes["/input.txt"] = [(503, b"busy"), ("short", CONTENT[:10]), (200, CONTENT)]
    register(monkeypatch, FileSpec((source("input.txt", urls=(server.url("/input.txt"),)),)))
    assert (fetch("toy", progress=False) / "input.txt").read_bytes() == CONTENT
    assert server.hits == {"/input.txt": 3}
    assert sleeps == pytest.approx([0.01, 0.02])  # E2EDL_DOWNLOAD_BACKOFF, doubling


def test_retries_exhausted_give_one_line_error(
    data_env: Path, server: Server, monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    server.routes["/input.txt"] = [("short", CONTENT[:10])]
    register(monkeypatch, FileSpec((source("input.txt", urls=(server.url("/input.txt"),)),)))
    with pytest.raises(DataUnavailable) as info:
        fetch("toy", progress=False)
    message = str(info.value)
    assert "\n" not in message and server.url("/input.txt") in message
    assert "gave up after 3 tries" in message and f"Put input.txt in {data_env / 'toy'}/" in message
    assert server.hits == {"/input.txt": 3} and len(sleeps) == 2
    assert listing(data_env / "toy") == []


def test_http_404_moves_to_the_next_url_without_retrying(
    data_env: Path, server: Server, monkeypatch: pytest.MonkeyPatch, sleeps: list[float]
) -> None:
    server.routes["/second/input.txt"] = [(200, CONTENT)]
    urls = (server.url("/first/input.txt"), server.url("/second/input.txt"))
    register(monkeypatch, FileSpec((source("input.txt", urls=urls),)))
    assert (fetch("toy", progress=False) / "input.txt").read_bytes() == CONTENT
    assert server.hits == {"/first/input.txt": 1, "/second/input.txt": 1} and sleeps == []


def test_connection_refused(data_env: Path, monkeypatch: pytest.MonkeyPatch, sleeps: list[float]) -> None:
    monkeypatch.delenv("E2EDL_OFFLINE")
    url = f"http://127.0.0.1:{unused_port()}/input.txt"
    register(monkeypatch, FileSpec((source("input.txt", urls=(url,)),)))
    with pytest.raises(DataUnavailable) as info:
        fetch("toy", progress=False)
    message = str(info.value)
    assert f"{url}: ConnectionRefusedError" in message and "gave up after 3 tries" in message
    assert "\n" not in message and len(sleeps) == 2


def test_mirror_is_preferred_to_the_internet(
    data_env: Path, server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    register(monkeypatch, FileSpec((source("input.txt", urls=(server.url("/input.txt"),)),)))
    put(tmp_path / "mirror" / "toy" / "input.txt", CONTENT)
    fetch("toy", mirror=tmp_path / "mirror")
    assert server.hits == {}


# ---------------------------------------------------------------- verify and status


def test_verify_reports_ok_missing_and_corrupt(data_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register(
        monkeypatch,
        FileSpec((source("good.txt"),)),
        FileSpec((source("gone.txt"),)),
        FileSpec((source("bad.txt"),)),
    )
    put(data_env / "toy" / "good.txt", CONTENT)
    put(data_env / "toy" / "bad.txt", CONTENT.upper())
    rows = {row.file: row for row in verify("toy")}
    assert {name: row.status for name, row in rows.items()} == {
        "good.txt": "ok",
        "gone.txt": "missing",
        "bad.txt": "corrupt",
    }
    assert "e2edl data fetch toy" in rows["gone.txt"].message
    assert f"delete {data_env / 'toy' / 'bad.txt'}" in rows["bad.txt"].message
    assert all(row.dataset == "toy" for row in rows.values())
    assert {row.dataset for row in verify()} == set(DATASETS)  # no name: every data set


def test_status_lists_every_data_set(data_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch, FileSpec((source("big.zip", b"x" * 1000), source("small.zip", b"y" * 10))))
    rows = {row.name: row for row in status()}
    assert set(rows) == set(DATASETS)
    assert rows["toy"].description == "a toy data set" and rows["toy"].size == 1000 and not rows["toy"].cached
    assert rows["mnist"].size == 47_040_016 + 60_008 + 7_840_016 + 10_008
    put(data_env / "toy" / "small.zip", b"y" * 10)
    rows = {row.name: row for row in status()}
    assert rows["toy"].cached and rows["toy"].size == 10  # the cached version's size
