"""Read an offline W&B run back without a server: its config, history, summary and artifacts.

W&B keeps no Python reader for a run folder: the run is a transaction log, ``run-<id>.wandb``,
that ``wandb sync`` replays to the server. The log is LevelDB's log format (32 KiB blocks of
records, each with a 7-byte header: checksum, length, type; a record too long for its block is
cut into FIRST, MIDDLE and LAST pieces) after a 7-byte file header, and each record is a
``Record`` message of W&B's own protocol buffers (``wandb.proto.wandb_internal_pb2``), which is
what decodes it here.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path

BLOCK = 32 * 1024
HEADER = struct.Struct("<IHB")  # masked CRC-32C, payload length, record type
FULL, FIRST, MIDDLE, LAST = 1, 2, 3, 4
MAGIC = b":W&B"
_TIME = re.compile(r"\d{8}_\d{6}")  # a run folder's start time, in its name


@dataclass
class OfflineRun:
    """What a W&B run folder holds. ``history`` has one dict per ``run.log`` call, with W&B's
    own keys (``_step``, ``_runtime``, ``_timestamp``) beside the logged ones."""

    folder: Path
    id: str
    project: str
    config: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    artifacts: list[dict] = field(default_factory=list)  # {"name", "type", "files": [...]}
    exit_code: int | None = None


def transaction_log_records(path: str | Path):
    """Yield each record's bytes from a ``.wandb`` file."""
    data = Path(path).read_bytes()
    if data[:4] != MAGIC:
        raise ValueError(f"{path} is not a W&B transaction log (it does not start with {MAGIC!r})")
    position, pieces = 7, []
    while position + HEADER.size <= len(data):
        left_in_block = BLOCK - position % BLOCK
        if left_in_block < HEADER.size:  # the block's tail is padding
            position += left_in_block
            continue
        _, length, kind = HEADER.unpack_from(data, position)
        position += HEADER.size
        payload = data[position : position + length]
        position += length
        if kind == FULL:
            yield payload
        elif kind == FIRST:
            pieces = [payload]
        elif kind == MIDDLE:
            pieces.append(payload)
        elif kind == LAST:
            yield b"".join(pieces + [payload])
        else:  # zeros: the unwritten end of the last block
            break


def _key(item) -> str:
    return item.key or ".".join(item.nested_key)


def read_offline_run(folder: str | Path) -> OfflineRun:
    """Decode one run folder (``.../wandb/offline-run-<time>-<id>``)."""
    from wandb.proto import wandb_internal_pb2

    folder = Path(folder)
    logs = sorted(folder.glob("run-*.wandb"))
    if not logs:
        raise FileNotFoundError(f"no run-*.wandb transaction log in {folder}")
    run = None
    for payload in transaction_log_records(logs[0]):
        record = wandb_internal_pb2.Record.FromString(payload)
        kind = record.WhichOneof("record_type")
        if kind == "run":
            run = OfflineRun(folder, record.run.run_id, record.run.project)
            _update(run.config, record.run.config.update)
        elif run is None:
            continue
        elif kind == "config":
            _update(run.config, record.config.update)
        elif kind == "history":
            run.history.append({_key(item): json.loads(item.value_json) for item in record.history.item})
        elif kind == "summary":
            _update(run.summary, record.summary.update)
        elif kind == "artifact":
            files = [entry.path for entry in record.artifact.manifest.contents]
            run.artifacts.append({"name": record.artifact.name, "type": record.artifact.type, "files": files})
        elif kind == "exit":
            run.exit_code = record.exit.exit_code
    if run is None:
        raise ValueError(f"{logs[0]} holds no run record")
    run.config.pop("_wandb", None)
    return run


def _update(target: dict, updates) -> None:
    for item in updates:
        target[_key(item)] = json.loads(item.value_json)


def run_folders(root: str | Path) -> list[Path]:
    """Every W&B run folder under ``root`` (e.g. a fit run folder), oldest first."""
    folders = [p for p in Path(root).rglob("*run-*") if p.is_dir() and any(p.glob("run-*.wandb"))]
    return sorted(folders, key=_start_time)


def _start_time(folder: Path) -> str:
    match = _TIME.search(folder.name)
    return match.group(0) if match else ""


def read_runs(root: str | Path) -> list[OfflineRun]:
    """Every run folder under ``root``, oldest first: a resumed run is several folders, one id."""
    return [read_offline_run(folder) for folder in run_folders(root)]
