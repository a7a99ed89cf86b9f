"""Train on the cores other processes leave free: torch's thread count, re-checked as you go.

**Why.** ``import e2edl`` makes OpenMP's idle threads sleep soon (``e2edl.runtime``), which keeps
two float32 trainings on the same cores fair: each runs about 2× slower, as sharing should cost.
That is not enough for one kind of kernel. The weight gradient of a convolution in bf16
(oneDNN's ``brgconv_bwd_w``, used by bf16 autocast on CPUs with AVX512-BF16 or AMX) splits the
work over all of torch's threads and then waits for all of them at barriers that spin in user
space, where no OpenMP setting reaches. Alone that is fast. With a second process on the same
cores, a thread that lost its core makes all the others spin until it gets one back: measured on
a 2-core Xeon with AMX, two ResNet-18 trainings in bf16 ran **25–37× slower** per step than one
alone (``benchmarks/bf16_sharing.py``; oneDNN's own timings put 38× of it on the convolutions'
weight gradients). With one thread each, nobody waits for a thread without a core, and the pair
runs fairly: 1.7× one alone, with this module doing it.

**What.** :class:`FreeCoreThreads` looks, at most once per ``interval`` seconds, at how busy the
cores this process may use were since the last look (Linux's ``/proc/stat``; work of niced
processes does not count, they give their core up), takes away what
this process and its children (DataLoader workers) used themselves, and sets torch's thread
count to the cores left free — never more than it started with, never fewer than one. Alone
nothing changes. When another training starts, both see each other within a step or two and
each keeps one core; when the other one ends, the threads come back (after two looks in a row
agree, so a neighbour's short pause does not make the count flap). ``close()`` puts the starting
count back. ``fit`` uses it for bf16 autocast on a CPU (``fit(..., share_cores=...)``).

A different thread count can change the last bits of a sum, so a run that shared its cores is
not bit-for-bit the run it would have been alone (it is still correct).

Linux only; elsewhere (no ``/proc/stat``) it changes nothing.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

import torch

PROC = Path("/proc")
# A cpu line of /proc/stat, after its name: user nice system idle iowait irq softirq steal ...
COUNTED_FIELDS = 7  # the cores' own time; steal (a hypervisor's) and guests are not counted
BUSY_FIELDS = (0, 2, 5, 6)  # user, system, irq, softirq
NICE_FIELD = 1  # processes with lowered priority: they give their core up to us, so not counted


def usable_cores() -> list[int]:
    """The CPUs this process may run on (its affinity mask), else all of them."""
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return list(range(os.cpu_count() or 1))


def cpu_ticks(cores: list[int], proc: Path = PROC, count_nice: bool = False) -> tuple[int, int] | None:
    """(busy, all) clock ticks of ``cores`` since boot from ``/proc/stat``; ``None`` without it.
    Niced processes' time counts as busy only with ``count_nice`` (when this process is niced
    too, they compete with it as equals)."""
    try:
        lines = (proc / "stat").read_text().splitlines()
    except OSError:
        return None
    wanted, busy, total = {f"cpu{i}" for i in cores}, 0, 0
    for line in lines:
        name, *fields = line.split()
        if name in wanted:
            ticks = [int(f) for f in fields[:COUNTED_FIELDS]]
            total += sum(ticks)
            busy += sum(ticks[i] for i in BUSY_FIELDS) + (ticks[NICE_FIELD] if count_nice else 0)
    return (busy, total) if total else None


def own_ticks(pid: int | str = "self", proc: Path = PROC) -> int:
    """CPU ticks (user + system) used by a process and its living children (DataLoader workers)."""
    ticks = _process_ticks(proc / str(pid) / "stat")
    for children in (proc / str(pid) / "task").glob("*/children"):
        try:
            ticks += sum(_process_ticks(proc / child / "stat") for child in children.read_text().split())
        except OSError:
            continue
    return ticks


def _process_ticks(stat: Path) -> int:
    try:
        after_name = stat.read_text().rsplit(")", 1)[1].split()  # the name may hold spaces
    except (OSError, IndexError):
        return 0
    return int(after_name[11]) + int(after_name[12])  # utime, stime: fields 14 and 15 of proc(5)


def _niced() -> bool:
    try:
        return os.getpriority(os.PRIO_PROCESS, 0) > 0
    except (AttributeError, OSError):
        return False


class FreeCoreThreads:
    """Keeps torch's thread count at the cores other processes leave free (see the module text).

    Call :meth:`poll` often (``fit`` calls it after every step): it costs a clock read, and
    every ``interval`` seconds a few small reads of ``/proc``. ``on_change(old, new, others)``
    is told each change (``others``: the cores' worth of work seen from other processes).
    ``proc``, ``set_threads`` and ``clock`` are there for tests.
    """

    def __init__(
        self,
        interval: float = 1.0,
        on_change: Callable[[int, int, float], None] | None = None,
        proc: Path = PROC,
        set_threads: Callable[[int], None] = torch.set_num_threads,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if interval <= 0:
            raise ValueError(f"interval must be a positive number of seconds, got {interval}")
        self.interval, self.on_change, self.proc = interval, on_change, proc
        self.set_threads, self.clock = set_threads, clock
        self.cores = usable_cores()
        self.count_nice = _niced()
        self.start_threads = self.threads = torch.get_num_threads()
        self.raise_to: int | None = None  # a higher count one look asked for; the next must agree
        self.active = self.start_threads > 1 and cpu_ticks(self.cores, proc) is not None
        self._last = self._sample() if self.active else None

    def _sample(self) -> tuple[float, int, int, int] | None:
        system = cpu_ticks(self.cores, self.proc, self.count_nice)
        if system is None:
            return None
        return self.clock(), *system, own_ticks(proc=self.proc)

    def others(self, previous: tuple, now: tuple) -> float:
        """Cores' worth of work other processes did between two samples."""
        _, busy0, total0, own0 = previous
        _, busy1, total1, own1 = now
        if total1 <= total0:
            return 0.0
        share = max(0, (busy1 - busy0) - (own1 - own0)) / (total1 - total0)  # of all the cores' time
        return share * len(self.cores)

    def target(self, others: float) -> int:
        """Threads for the cores left free: ``others`` of 0.6 takes a core away, 0.3 does not."""
        free = int(len(self.cores) - others + 0.4)
        return max(1, min(self.start_threads, free))

    def poll(self) -> int:
        """Look again if ``interval`` has passed; adjust the thread count; return it."""
        if not self.active or self.clock() - self._last[0] < self.interval:
            return self.threads
        now = self._sample()
        if now is None:
            return self.threads
        others, self._last = self.others(self._last, now), now
        wanted = self.target(others)
        if wanted < self.threads or (wanted > self.threads and self.raise_to == wanted):
            self._apply(wanted, others)
        self.raise_to = wanted if wanted > self.threads else None
        return self.threads

    def _apply(self, threads: int, others: float) -> None:
        old, self.threads, self.raise_to = self.threads, threads, None
        self.set_threads(threads)
        if self.on_change is not None:
            self.on_change(old, threads, others)

    def close(self) -> None:
        """Put back the thread count this started with."""
        if self.threads != self.start_threads:
            self.set_threads(self.start_threads)
            self.threads = self.start_threads
        self.active = False
