"""Download one file over HTTP(S) with urllib: retried with backoff, verified, atomic, with progress.

Retries are for transient trouble (connection refused or reset, timeouts, HTTP 5xx/429, a body
cut short); a 4xx answer or a checksum mismatch moves on to the next URL at once. Tuning, read
from the environment so tests (and impatient users) can shorten it: ``E2EDL_DOWNLOAD_TRIES``
(default 3 per URL), ``E2EDL_DOWNLOAD_BACKOFF`` (seconds before the 2nd try, doubling; default 1),
``E2EDL_DOWNLOAD_TIMEOUT`` (socket timeout in seconds; default 30). ``E2EDL_PROGRESS=0`` hides the
progress bar, as it does for training.
"""

from __future__ import annotations

import http.client
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tqdm.auto import tqdm

from e2edl.data.checksum import CHUNK, ChecksumMismatch, write_verified
from e2edl.data.errors import one_line
from e2edl.data.registry import Source
from e2edl.progress import progress_enabled

USER_AGENT = "e2edl (+https://github.com/e2edl/e2edl)"


class DownloadFailed(OSError):
    """Every URL of a source failed; ``str()`` is one line with each URL's last error."""


class _Truncated(OSError):
    """The server closed the connection before sending ``Content-Length`` bytes."""


@dataclass(frozen=True)
class RetryPolicy:
    tries: int = 3
    backoff: float = 1.0
    timeout: float = 30.0

    @classmethod
    def from_env(cls) -> RetryPolicy:
        env = os.environ.get
        return cls(
            tries=max(1, int(env("E2EDL_DOWNLOAD_TRIES", cls.tries))),
            backoff=float(env("E2EDL_DOWNLOAD_BACKOFF", cls.backoff)),
            timeout=float(env("E2EDL_DOWNLOAD_TIMEOUT", cls.timeout)),
        )

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed try number ``attempt`` (1-based): backoff, 2*backoff, ..."""
        return self.backoff * 2 ** (attempt - 1)


def download(source: Source, dest: Path, *, progress: bool = True, policy: RetryPolicy | None = None) -> None:
    """Download ``source`` to ``dest``, trying its URLs in order; ``DownloadFailed`` if all fail.

    ``dest`` appears only once its content is verified; a failed try leaves nothing behind.
    """
    policy = policy or RetryPolicy.from_env()
    progress = progress_enabled(progress)
    errors = []
    for url in source.urls:
        error = _download_url(url, source, dest, progress, policy)
        if error is None:
            return
        errors.append(f"{url}: {error}")
    raise DownloadFailed("; ".join(errors) if errors else f"{source.filename} has no download URL")


def _download_url(url: str, source: Source, dest: Path, progress: bool, policy: RetryPolicy) -> str | None:
    """Try ``url`` up to ``policy.tries`` times; ``None`` on success, else the last error in words."""
    last = "not tried"
    for attempt in range(1, policy.tries + 1):
        try:
            write_verified(_stream(url, dest.name, progress, policy.timeout), dest, source)
            return None
        except ChecksumMismatch as e:
            return f"downloaded file refused: {e}"
        except urllib.error.HTTPError as e:
            last = f"HTTP {e.code} {e.reason}"
            if e.code < 500 and e.code != 429:
                return last
        except (urllib.error.URLError, http.client.HTTPException, OSError) as e:
            last = _describe(e)
        if attempt < policy.tries:
            time.sleep(policy.delay(attempt))
    return f"{last} (gave up after {policy.tries} tries)"


def _stream(url: str, label: str, progress: bool, timeout: float) -> Iterator[bytes]:
    """The body of ``url`` in chunks, with a progress bar; ``_Truncated`` if it ends early."""
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        total = int(response.headers.get("Content-Length") or 0) or None
        received = 0
        with tqdm(
            total=total, unit="B", unit_scale=True, desc=label, disable=not progress, leave=False
        ) as bar:
            while chunk := response.read(CHUNK):
                received += len(chunk)
                bar.update(len(chunk))
                yield chunk
        if total is not None and received < total:
            raise _Truncated(f"connection closed after {received:,} of {total:,} bytes")


def _describe(error: BaseException) -> str:
    """A short one-line description of a network error."""
    reason = getattr(error, "reason", None)
    if isinstance(error, urllib.error.URLError) and reason is not None:
        error = reason if isinstance(reason, BaseException) else error
    text = getattr(error, "strerror", None) or str(error) or type(error).__name__
    return one_line(f"{type(error).__name__}: {text}")
