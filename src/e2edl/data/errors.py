"""The data layer's exceptions. Every message is one line that says what went wrong and what to do."""

from __future__ import annotations


def one_line(text: str) -> str:
    """Collapse ``text`` onto one line (messages end up in a terminal next to an exit code)."""
    return " ".join(str(text).split())


class DataUnavailable(RuntimeError):
    """A data set's file could be had from neither the cache, the mirror, nor the internet.

    ``str()`` is one line naming the file and where to put it; the CLI maps it to exit code 2.
    """

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


class UnsafeArchive(ValueError):
    """An archive entry would escape the extraction folder (absolute path, ``..``, outside link, device)."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


class IDXError(ValueError):
    """An IDX file (MNIST format) is malformed: wrong magic, wrong sizes or truncated."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


class UnknownDataset(KeyError):
    """A data set name that is not in the registry."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))
        self.message = one_line(message)

    def __str__(self) -> str:  # KeyError's str() would wrap the message in quotes
        return self.message
