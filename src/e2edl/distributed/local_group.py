"""A few worker processes on this machine, joined in one process group, that a notebook can drive.

    with LocalGroup(world_size=2) as group:
        results = group.run(collectives.all_reduce_example)  # [what rank 0 returned, rank 1's]

``torchrun`` starts a *script* N times; a notebook is not a script. ``LocalGroup`` starts N
processes with ``spawn`` (a fresh Python each: ``fork`` would copy the notebook's threads and
locks into the children, which hangs), joins them in a gloo process group at a free port, and
keeps them alive between calls, so each ``run`` costs milliseconds instead of the seconds it
takes a fresh process to import PyTorch.

``group.run(fn, *args)`` calls ``fn(*args)`` on every rank at once and returns the ranks' return
values in rank order. ``fn`` travels by name (module and function name), so it must be importable
— a function defined in a notebook cell is not (its module, ``__main__``, is the notebook's kernel,
which the workers do not have): that is why the lessons' worker functions live in this package.

It fails instead of hanging. Each worker process gets ``threads`` intra-op threads (default 1; see
``e2edl.train.distributed.share_cores``) and the environment variables in ``env``. A call that does not finish within ``timeout`` seconds
(a collective waiting for a rank that never calls it), a worker that raises, or one that dies
ends every worker and raises :class:`GroupFailed` with the rank's traceback. Workers also quit by
themselves when the notebook's process is gone, so none is left behind.
"""

from __future__ import annotations

import atexit
import contextlib
import datetime
import io
import multiprocessing
import multiprocessing.connection
import os
import sys
import time
import traceback
from collections.abc import Callable

import torch

from e2edl.distributed.ports import free_port


class GroupFailed(RuntimeError):
    """A rank raised, died or timed out; the group has been shut down."""


def _dumps(obj) -> bytes:
    """Pickle through ``torch.save``: tensors travel as bytes, not as shared-memory handles that
    die with the process that made them."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


def _loads(data: bytes):
    return torch.load(io.BytesIO(data), weights_only=False)  # our own processes' data


def _worker(rank: int, world_size: int, port: int, threads: int, timeout: float, connection) -> None:
    """One rank: join the group, then run tasks until told to stop (or until the parent is gone)."""
    import torch.distributed as dist

    torch.set_num_threads(threads)
    try:
        dist.init_process_group(
            "gloo",
            init_method=f"tcp://127.0.0.1:{port}",
            rank=rank,
            world_size=world_size,
            timeout=datetime.timedelta(seconds=timeout),
        )
        connection.send(("ready", None))
        while True:
            try:
                task = connection.recv_bytes()
            except EOFError:  # the notebook's end of the pipe closed: it is gone, do not linger
                return
            if not task:
                return
            try:
                fn, args, kwargs = _loads(task)
                connection.send(("ok", _dumps(fn(*args, **kwargs))))
            except BaseException:  # noqa: B036 — report everything to the parent, then go on
                connection.send(("error", traceback.format_exc()))
    except BaseException:  # noqa: B036
        try:
            connection.send(("error", traceback.format_exc()))
        except OSError:
            pass
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()
        # Leave at once: multiprocessing's own way out takes seconds in a process that imported
        # PyTorch, and everything worth cleaning up (the group, the pipe) is done.
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)


@contextlib.contextmanager
def _main_module_hidden():
    """Start children without re-running the caller's script.

    A ``spawn``ed child first re-imports the parent's main script (so that functions defined
    there can be found), which starts the group again from the child unless the script guards
    its code with ``if __name__ == "__main__":``. Our workers need nothing from the main script
    (they run library functions), so while they start, the main module hides its file and spec."""
    main = sys.modules["__main__"]
    saved = {name: getattr(main, name) for name in ("__file__", "__spec__") if hasattr(main, name)}
    for name in saved:
        setattr(main, name, None) if name == "__spec__" else delattr(main, name)
    try:
        yield
    finally:
        for name, value in saved.items():
            setattr(main, name, value)


class LocalGroup:
    """``world_size`` local worker processes in one gloo process group (see the module docstring)."""

    def __init__(
        self,
        world_size: int = 2,
        *,
        threads: int = 1,
        timeout: float = 60.0,
        start_timeout: float = 180.0,
        env: dict[str, str] | None = None,
    ) -> None:
        if world_size < 1:
            raise ValueError(f"world_size must be >= 1, got {world_size}")
        self.world_size, self.threads, self.env = world_size, threads, dict(env or {})
        self.timeout, self.start_timeout = timeout, start_timeout
        self.port: int | None = None
        self._processes: list = []

    def __enter__(self) -> LocalGroup:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def running(self) -> bool:
        return bool(self._processes)

    def start(self) -> LocalGroup:
        """Spawn the workers and wait until they have all joined the process group."""
        if self.running:
            return self
        context = multiprocessing.get_context("spawn")
        self.port = free_port()
        self._connections = []
        settings = {"OMP_NUM_THREADS": str(self.threads), **self.env}  # a spawned child inherits them
        saved = {name: os.environ.get(name) for name in settings}
        os.environ.update(settings)
        try:
            with _main_module_hidden():
                self._spawn(context)
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value
        self._collect("start", self.start_timeout)
        return self

    def _spawn(self, context) -> None:
        for rank in range(self.world_size):
            ours, theirs = context.Pipe()
            args = (rank, self.world_size, self.port, self.threads, self.timeout, theirs)
            process = context.Process(target=_worker, args=args, daemon=True)
            process.start()
            theirs.close()  # the child holds its end; ours sees EOF when the child dies
            self._processes.append(process)
            self._connections.append(ours)

    def run(self, fn: Callable, *args, timeout: float | None = None, **kwargs) -> list:
        """``fn(*args, **kwargs)`` on every rank; the return values in rank order."""
        if not self.running:
            self.start()
        task = _dumps((fn, args, kwargs))
        for connection in self._connections:
            connection.send_bytes(task)
        return [
            _loads(value) for value in self._collect(getattr(fn, "__name__", "task"), timeout or self.timeout)
        ]

    def _collect(self, what: str, timeout: float) -> list:
        """Every rank's answer, or shut down and raise when one fails, dies or times out."""
        answers: dict[int, object] = {}
        deadline = time.monotonic() + timeout
        while len(answers) < self.world_size:
            waiting = [c for r, c in enumerate(self._connections) if r not in answers]
            ready = multiprocessing.connection.wait(waiting, timeout=max(0.0, deadline - time.monotonic()))
            if not ready:
                ranks = sorted(set(range(self.world_size)) - set(answers))
                self._fail(
                    f"{what}: rank(s) {ranks} did not finish within {timeout:.0f} s — a collective "
                    "is probably waiting for a rank that never calls it (or calls another one)"
                )
            for connection in ready:
                rank = self._connections.index(connection)
                try:
                    status, value = connection.recv()
                except EOFError:
                    process = self._processes[rank]
                    process.join(1)
                    self._fail(f"{what}: rank {rank} died (exit code {process.exitcode})")
                if status == "error":
                    self._fail(f"{what} failed on rank {rank}:\n{value}")
                answers[rank] = value
        return [answers[rank] for rank in range(self.world_size)]

    def _fail(self, message: str):
        self.close(grace=2.0)
        raise GroupFailed(message)

    def close(self, grace: float = 10.0) -> None:
        """Stop the workers (politely, then by force) and free the port."""
        if not self._processes:
            return
        for connection in self._connections:
            try:
                connection.send_bytes(b"")  # the stop signal
            except OSError:  # that worker is gone already
                pass
        deadline = time.monotonic() + grace
        for process in self._processes:
            process.join(max(0.0, deadline - time.monotonic()))
        for process in self._processes:
            if process.is_alive():
                process.kill()
                process.join(5)
        for connection in self._connections:
            connection.close()
        self._processes, self._connections = [], []

    def __del__(self) -> None:
        try:
            self.close(grace=1.0)
        except Exception:  # interpreter shutdown: nothing left to clean
            pass

    def __repr__(self) -> str:
        state = f"running at port {self.port}" if self.running else "stopped"
        return f"LocalGroup(world_size={self.world_size}, threads={self.threads}, {state})"


_SHARED: dict[tuple[int, int], LocalGroup] = {}


def shared_group(world_size: int = 2, threads: int = 1) -> LocalGroup:
    """A running group of ``world_size`` workers kept for the whole session (closed at exit).

    A notebook's cells and the lesson's experiment then use the same workers, paying the start-up
    (a fresh PyTorch import in each worker) once. A group that failed is started afresh."""
    key = (world_size, threads)
    group = _SHARED.get(key)
    if group is None or not group.running:
        group = _SHARED[key] = LocalGroup(world_size, threads=threads, timeout=600).start()
    return group


@atexit.register
def _close_shared() -> None:
    for group in _SHARED.values():
        group.close(grace=2.0)
