"""``e2edl run NAME --nproc N``: the same command again, N times, under ``torchrun``.

``torchrun`` is how PyTorch starts a process group on one machine or many (``e2edl run`` is
short for it on one machine)::

    e2edl run mnist-mlp --nproc 2
    # is
    OMP_NUM_THREADS=<cores / 2> torchrun --standalone --nproc-per-node 2 -m e2edl run mnist-mlp

``--standalone`` runs the rendezvous on this machine at a free port, so two jobs never collide.
Each worker runs ``python -m e2edl run ...`` with ``RANK``, ``WORLD_SIZE`` and friends set, and
``fit`` notices them (``e2edl.train.distributed``). ``torchrun -m e2edl run NAME`` works as it is;
this module only adds the short form and a fair share of the cores per worker.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence


def without_nproc(argv: Sequence[str]) -> list[str]:
    """``argv`` without ``--nproc N`` / ``--nproc=N`` (the workers must not launch again)."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--nproc":
            skip = True
        elif not arg.startswith("--nproc="):
            out.append(arg)
    return out


def threads_per_worker(nproc: int) -> int:
    """This machine's cores shared among ``nproc`` workers (at least one thread each)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(1, cores // nproc)


def torchrun_command(argv: Sequence[str], nproc: int) -> list[str]:
    """The ``torchrun`` command that runs ``e2edl <argv>`` in ``nproc`` processes on this machine."""
    if nproc < 1:
        raise ValueError(f"--nproc must be at least 1, got {nproc}")
    return [
        sys.executable, "-m", "torch.distributed.run",  # = torchrun, with this Python
        "--standalone", "--nproc-per-node", str(nproc),
        "-m", "e2edl", *without_nproc(argv),
    ]  # fmt: skip


def relaunch(argv: Sequence[str], nproc: int) -> int:
    """Run ``e2edl <argv>`` under ``torchrun`` with ``nproc`` workers; return its exit code.

    ``OMP_NUM_THREADS`` (unless set) gives each worker its share of the cores: with one thread
    per core each, N processes on the same cores run many times slower than they should."""
    env = dict(os.environ)
    env.setdefault("OMP_NUM_THREADS", str(threads_per_worker(nproc)))
    command = torchrun_command(argv, nproc)
    print(f"e2edl: {nproc} processes, {env['OMP_NUM_THREADS']} thread(s) each: {' '.join(command[2:])}")
    try:
        return subprocess.run(command, env=env).returncode
    except KeyboardInterrupt:  # torchrun forwards the signal to its workers and stops them
        return 130
