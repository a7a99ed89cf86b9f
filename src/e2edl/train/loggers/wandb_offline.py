"""Read an offline W&B run back without a server: its config, history, summary and artifacts.

A W&B run folder (``wandb/offline-run-<time>-<id>/``) keeps the run as a *transaction log*,
``run-<id>.wandb``: every ``wandb.init``, ``run.log``, summary update, artifact and the exit, one
record after the other, which ``wandb sync`` replays to a server later. W&B's own reader prints
those records as JSON lines (``wandb leet inspect --json FOLDER``); this module runs it and
gathers what a run holds. Run it yourself to see every record.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

# A run folder's name: its start time, the run's id, and "-1", "-2"... when a resumed part
# started within the same second as the one before.
_FOLDER = re.compile(r"(\d{8}_\d{6})-[a-z0-9]+(?:-(\d+))?$")
RUN_ID_FILE = "run_id"  # in run_dir/wandb/: the id of the W&B run that run_dir's checkpoint belongs to


@dataclass
class OfflineRun:
    """What a W&B run folder holds. ``history`` has one dict per ``run.log`` call, with W&B's
    own keys (``_step``, ``_runtime``, ``_timestamp``) beside the logged ones."""

    folder: Path
    id: str
    project: str
    name: str = ""
    config: dict = field(default_factory=dict)
    history: list[dict] = field(default_factory=list)
    summary: dict = field(default_factory=dict)
    artifacts: list[dict] = field(default_factory=list)  # {"name", "type", "files": [...]}
    exit_code: int | None = None  # None: the run never ended (killed, or still running)


def transaction_log(folder: str | Path, timeout: float = 60) -> list[dict]:
    """Every record of a run folder's ``.wandb`` log, as W&B's own reader decodes it (one dict
    per record: ``{"num": 1, "type": "run", "run": {...}}``)."""
    folder = Path(folder)
    if not any(folder.glob("run-*.wandb")):
        raise FileNotFoundError(f"no run-*.wandb transaction log in {folder}: is it a W&B run folder?")
    command = [sys.executable, "-m", "wandb", "leet", "inspect", "--json", str(folder)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise RuntimeError(f"wandb leet inspect could not read {folder}: {last}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def read_offline_run(folder: str | Path) -> OfflineRun:
    """Decode one run folder (``.../wandb/offline-run-<time>-<id>``)."""
    run = None
    for record in transaction_log(folder):
        kind = record["type"]
        body = record.get(kind, {})
        if kind == "run":
            run = OfflineRun(
                Path(folder), body["run_id"], body.get("project", ""), body.get("display_name", "")
            )
            run.config.update(body.get("config", {}).get("update", {}))
        elif run is None:
            continue
        elif kind == "config":
            run.config.update(body.get("update", {}))
        elif kind == "history":
            run.history.append(body["item"])
        elif kind == "summary":
            run.summary.update(body.get("update", {}))
        elif kind == "artifact":
            files = [entry["path"] for entry in body.get("manifest", {}).get("contents", [])]
            run.artifacts.append({"name": body["name"], "type": body["type"], "files": files})
        elif kind == "exit":
            run.exit_code = body.get("exit_code", 0)
    if run is None:
        raise ValueError(f"the W&B log in {folder} holds no run record")
    run.config.pop("_wandb", None)
    return run


def run_folders(root: str | Path) -> list[Path]:
    """Every W&B run folder under ``root`` (e.g. a fit run folder), oldest first."""
    folders = [p for p in Path(root).rglob("*run-*") if p.is_dir() and any(p.glob("run-*.wandb"))]
    return sorted(folders, key=_start_time)


def _start_time(folder: Path) -> tuple[str, int]:
    match = _FOLDER.search(folder.name)
    return (match.group(1), int(match.group(2) or 0)) if match else ("", 0)


def read_runs(root: str | Path, run_id: str | None = None) -> list[OfflineRun]:
    """The run folders under ``root`` of one W&B run, oldest first: a resumed run is several
    folders with one id. ``run_id`` None: the id in ``root/wandb/run_id`` (what ``WandbLogger``
    keeps in a ``fit`` run folder: a fresh run there leaves the folders of earlier ones, unsynced
    maybe, and starts a new id); without that file, every run folder under ``root``."""
    id_file = Path(root) / "wandb" / RUN_ID_FILE
    if run_id is None and id_file.is_file():
        run_id = id_file.read_text().strip()
    folders = [f for f in run_folders(root) if run_id is None or (f / f"run-{run_id}.wandb").is_file()]
    return [read_offline_run(folder) for folder in folders]
