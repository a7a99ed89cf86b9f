"""What every distributed test needs: a timeout on each process, no process left behind, no port
left bound.

``launch(cmd, ...)`` starts a command (``torchrun``, a stand-in ``srun``) in its own process
group with a unique token in its environment; ``finish`` waits for it with a timeout and kills
the whole group if it hangs. ``leftovers(token)`` lists the processes that still carry the token
(every descendant inherits it, even one that escaped its process group), so a test can assert
that none survived.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENV_BIN = Path(sys.executable).parent
TOKEN_VAR = "E2EDL_TEST_TOKEN"


def new_token() -> str:
    return uuid.uuid4().hex


def worker_env(token: str, **extra: str) -> dict:
    """The environment of a launched test process: one thread, no bars, short collective timeouts."""
    env = dict(os.environ)
    env.update(
        {
            TOKEN_VAR: token,
            "OMP_NUM_THREADS": "1",
            "E2EDL_PROGRESS": "0",
            "E2EDL_DIST_TIMEOUT": "60",
            "PATH": f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra)
    return env


def launch(cmd: list[str], env: dict, cwd: Path | None = None, log: Path | None = None) -> subprocess.Popen:
    """Start ``cmd`` in a new session (its own process group), output to ``log`` (or a pipe)."""
    out = open(log, "w") if log is not None else subprocess.PIPE  # noqa: SIM115 — closed by finish
    process = subprocess.Popen(
        cmd, env=env, cwd=cwd or ROOT, stdout=out, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    process.token = env.get(TOKEN_VAR)
    return process


def kill_group(process: subprocess.Popen) -> None:
    """Kill the launched command's process group, and every process that carries its token
    (torchrun starts each worker in a process group of its own)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    for pid in leftovers(process.token) if process.token else []:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(10)


def finish(process: subprocess.Popen, timeout: float, log: Path | None = None) -> tuple[int, str]:
    """Wait up to ``timeout`` s; on a hang kill the whole process group and raise with the output."""
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_group(process)
        output = log.read_text() if log is not None else (process.stdout.read() if process.stdout else "")
        raise AssertionError(
            f"{process.args[:4]}… hung for {timeout} s and was killed:\n{output[-4000:]}"
        ) from None
    finally:
        if process.stdout and not process.stdout.closed:
            process.stdout.close()
    if log is not None:
        output = log.read_text()
    return process.returncode, output or ""


def leftovers(token: str) -> list[int]:
    """Pids of live processes whose environment carries ``token`` (zombies included), except
    the resource tracker that ``multiprocessing``'s spawn starts once per parent process."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if f"{TOKEN_VAR}={token}".encode() not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            if b"resource_tracker" in (entry / "cmdline").read_bytes():
                continue  # multiprocessing's helper of the test process itself: ends with pytest
            found.append(int(entry.name))
        except OSError:  # gone, or not ours
            continue
    return found


def assert_no_leftovers(token: str, wait: float = 10.0) -> None:
    """No process of this test survives it (waits a little for exiting ones, then kills and fails)."""
    deadline = time.monotonic() + wait
    while (pids := leftovers(token)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert not pids, f"processes left behind: {pids}"
