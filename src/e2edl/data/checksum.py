"""Streaming SHA-256 of a file's content, decompressing gzip on the fly.

For gzip files the hash covers the decompressed bytes (what is stable across mirrors). The
hasher is fed chunk by chunk so a download, a mirror copy and a cache check share one code path
and never hold a whole file in memory.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

from e2edl.atomic import atomic_write
from e2edl.data.registry import Source

CHUNK = 1 << 20


class ContentHasher:
    """Feed raw bytes with ``update``; ``result()`` gives ``(sha256 hex, content size)``.

    With ``gzip=True`` the bytes are decompressed first (multi-member gzip supported);
    ``result()`` raises ``ValueError`` if the gzip stream is corrupt or cut short.
    """

    def __init__(self, gzip: bool = False) -> None:
        self._sha = hashlib.sha256()
        self.size = 0
        self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS) if gzip else None
        self._error: str | None = None

    def update(self, chunk: bytes) -> None:
        if self._inflate is None:
            self._feed(chunk)
            return
        while chunk and self._error is None:
            try:
                self._feed(self._inflate.decompress(chunk))
            except zlib.error as e:
                self._error = f"not valid gzip ({e})"
                return
            chunk = self._inflate.unused_data
            if self._inflate.eof and chunk:  # another gzip member follows
                self._inflate = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def _feed(self, data: bytes) -> None:
        self._sha.update(data)
        self.size += len(data)

    def result(self) -> tuple[str, int]:
        if self._inflate is not None and self._error is None:
            self._feed(self._inflate.flush())
            if not self._inflate.eof:
                self._error = "gzip stream is truncated"
        if self._error:
            raise ValueError(self._error)
        return self._sha.hexdigest(), self.size


def hash_file(path: str | os.PathLike, gzip: bool = False) -> ContentHasher:
    """A ``ContentHasher`` fed with the whole of ``path``."""
    hasher = ContentHasher(gzip)
    for chunk in file_chunks(path):
        hasher.update(chunk)
    return hasher


def mismatch(source: Source, hasher: ContentHasher) -> str | None:
    """``None`` if the hashed content is ``source``'s, else a one-line reason."""
    try:
        sha, size = hasher.result()
    except ValueError as e:
        return str(e)
    what = "decompressed content" if source.gzip else "content"
    if size != source.size:
        return f"{what} is {size:,} bytes, expected {source.size:,}"
    if sha != source.sha256:
        return f"sha256 of {what} is {sha[:16]}..., expected {source.sha256[:16]}..."
    return None


def check_file(path: str | os.PathLike, source: Source) -> str | None:
    """``None`` if ``path`` holds ``source``'s content, else a one-line reason."""
    return mismatch(source, hash_file(path, source.gzip))


class ChecksumMismatch(ValueError):
    """Bytes that were about to enter the cache are not the expected content; nothing was written."""


def write_verified(chunks: Iterable[bytes], dest: Path, source: Source) -> None:
    """Write ``chunks`` to ``dest`` atomically, but only if they hash to ``source``'s content.

    The bytes go to a temp file beside ``dest``; it is renamed onto ``dest`` after the check
    passes, and deleted otherwise (``ChecksumMismatch``) or on any error raised by ``chunks``.
    """
    hasher = ContentHasher(source.gzip)
    with atomic_write(dest, "wb") as out:
        for chunk in chunks:
            out.write(chunk)
            hasher.update(chunk)
        problem = mismatch(source, hasher)
        if problem:
            raise ChecksumMismatch(problem)


def file_chunks(path: str | os.PathLike) -> Iterator[bytes]:
    """The bytes of ``path`` in ``CHUNK``-sized pieces."""
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk
