"""The process group a training process belongs to, and what ``fit`` does with it.

``torchrun --nproc-per-node 2 train.py`` starts ``train.py`` twice and tells each copy who it is
in environment variables: ``RANK`` (0 or 1 here: which process of the job), ``WORLD_SIZE`` (2:
how many), ``LOCAL_RANK`` (which of this machine's processes: picks the GPU), ``MASTER_ADDR`` /
``MASTER_PORT`` (where rank 0 waits for the others). :func:`init_from_env` reads them and joins
the *process group* — the set of processes that exchange tensors through collectives (gloo on
CPUs, NCCL between GPUs). Without them it does nothing: one process is a world of size 1, and
every function here is then a no-op, so the same script runs alone or under ``torchrun``.

What ``fit`` asks of this module (each call is a no-op in a single process):

- :func:`init_from_env` — join the group, share the cores, pick this rank's device;
- :func:`shard` — this rank's part of a loader (``e2edl.data.rank_shard``);
- :func:`is_main` — only rank 0 prints, draws progress bars and writes ``metrics.jsonl`` and
  checkpoints; every rank reads the checkpoint when resuming;
- :func:`reduce_window` / :func:`sum_over_ranks` — train and validation losses summed over the
  ranks, so every rank records the same numbers (and stops together if the loss diverges);
- :func:`gather_rng_states` / :func:`rank_rng_state` — each rank's random state in the checkpoint.

Wrapping the model (DDP, FSDP2) is :mod:`e2edl.train.parallel_model`.

**Threads.** Two processes that each start one thread per core on a 2-core machine do not run
2× slower than one, but 10–14×: OpenMP threads spin while they wait for each other and steal the
cores the other process needs. ``torchrun`` sets ``OMP_NUM_THREADS=1`` for its workers when the
variable is not set; :func:`share_cores` does the same job where nothing set it (the variable
wins when it is set), giving each process ``cores // processes_on_this_machine`` threads.
"""

from __future__ import annotations

import atexit
import datetime
import os
from collections.abc import Iterable

import torch
import torch.distributed as dist

from e2edl.data.rank_shard import is_sharded, shard_loader

DEFAULT_TIMEOUT_SECONDS = 600  # E2EDL_DIST_TIMEOUT overrides: a hung collective fails after this


def is_distributed() -> bool:
    """Whether this process is one of several in an initialised process group."""
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    """This process's rank: 0 … world_size-1 (0 when alone)."""
    return dist.get_rank() if dist.is_available() and dist.is_initialized() else 0


def world_size() -> int:
    """How many processes train together (1 when alone)."""
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def local_rank() -> int:
    """Which of this machine's processes this is (``LOCAL_RANK``; 0 when alone)."""
    return int(os.environ.get("LOCAL_RANK", 0))


def is_main() -> bool:
    """Rank 0: the process that prints, logs and writes checkpoints. Before the group is joined,
    the launcher's ``RANK`` says (a worker knows its rank from the start)."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank() == 0
    return os.environ.get("RANK", "0") == "0"


def launched_by_torchrun() -> bool:
    """Whether a launcher (``torchrun``, Slurm through ``torchrun``) started this process as one
    of a group: ``WORLD_SIZE`` is set and above 1."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def timeout_seconds() -> int:
    """How long a collective may wait for the other ranks before it fails (``E2EDL_DIST_TIMEOUT``)."""
    return int(os.environ.get("E2EDL_DIST_TIMEOUT", DEFAULT_TIMEOUT_SECONDS))


def share_cores(processes: int | None = None) -> int:
    """Give this process its share of the machine's cores as intra-op threads; return the number.

    ``OMP_NUM_THREADS`` wins when it is set (``torchrun`` sets it to 1). Otherwise each of the
    ``processes`` on this machine (default ``LOCAL_WORLD_SIZE``, else 1) gets
    ``cores // processes`` threads, at least one.
    """
    if "OMP_NUM_THREADS" in os.environ:
        threads = max(1, int(os.environ["OMP_NUM_THREADS"]))
    else:
        processes = processes or int(os.environ.get("LOCAL_WORLD_SIZE", 1))
        cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
        threads = max(1, cores // processes)
    torch.set_num_threads(threads)
    return threads


def backend_for(device: torch.device) -> str:
    """gloo for CPU tensors; with a GPU, NCCL for CUDA tensors and gloo for CPU ones (checkpoint
    states and Python objects travel on the CPU)."""
    return "cpu:gloo,cuda:nccl" if device.type == "cuda" else "gloo"


def init_from_env(device: torch.device | str | None = None) -> torch.device:
    """Join the process group that ``torchrun`` described in the environment; return this rank's
    device (``cuda:LOCAL_RANK`` for a GPU without an index). A no-op returning ``device`` when the
    process runs alone or the group is already initialised."""
    device = torch.device(device) if device is not None else torch.device("cpu")
    if device.type == "cuda" and device.index is None and launched_by_torchrun():
        device = torch.device("cuda", local_rank())
    if device.type == "cuda":
        torch.cuda.set_device(device)
    if not launched_by_torchrun() or not dist.is_available() or dist.is_initialized():
        return device
    share_cores()
    timeout = datetime.timedelta(seconds=timeout_seconds())
    store = _attempt_store(timeout)
    if store is None:
        dist.init_process_group(backend=backend_for(device), timeout=timeout)
    else:
        rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
        dist.init_process_group(
            backend=backend_for(device), store=store, rank=rank, world_size=world, timeout=timeout
        )
    atexit.register(destroy)
    return device


def _attempt_store(timeout: datetime.timedelta):
    """torchrun's key-value store, under a prefix of its own for each restart of the group.

    ``torchrun`` (PyTorch 2.5 and later) lets its workers use the store of its rendezvous, and
    keeps that store when it restarts the group after a failure (``--max-restarts``): the keys
    that the dead attempt's ranks wrote there — among them the address each rank listens at —
    are still there when the new attempt looks for them. A rank of the new attempt may then
    connect to a dead rank's old port ("Connection refused", or a hang). Prefixing the keys with
    ``TORCHELASTIC_RESTART_COUNT`` gives each attempt a clean slate. ``None``: not under a
    torchrun that shares its store (plain ``env://`` then does the right thing)."""
    if os.environ.get("TORCHELASTIC_USE_AGENT_STORE") != "True":
        return None
    store = dist.TCPStore(
        os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]), is_master=False, timeout=timeout
    )
    return dist.PrefixStore(f"e2edl/attempt_{os.environ.get('TORCHELASTIC_RESTART_COUNT', '0')}", store)


def destroy() -> None:
    """Leave the process group (at exit; safe to call twice)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def shard(loader: Iterable | None):
    """This rank's part of ``loader`` (``e2edl.data.rank_shard.shard_loader``); alone: the loader."""
    return shard_loader(loader, rank(), world_size())


def sum_over_ranks(*values: torch.Tensor | float | int) -> list:
    """Each value summed over all ranks, with the type it came in (tensor, float or int).

    Alone: the values themselves. Every rank must call it, in the same order."""
    if not is_distributed():
        return list(values)
    on = _collective_device()
    stacked = torch.stack([torch.as_tensor(v, dtype=torch.float64).to(on).reshape(()) for v in values])
    dist.all_reduce(stacked)
    sums = stacked.cpu().tolist()
    out = []
    for value, total in zip(values, sums):
        if isinstance(value, torch.Tensor):
            out.append(torch.as_tensor(total, dtype=value.dtype, device=value.device))
        else:
            out.append(type(value)(total))
    return out


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """``tensor`` averaged over the ranks, in place (and returned)."""
    if is_distributed():
        dist.all_reduce(tensor)
        tensor.div_(world_size())
    return tensor


def _collective_device() -> torch.device:
    """Where small tensors go for a collective: the GPU under NCCL alone, else the CPU (gloo)."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def reduce_window(window) -> None:
    """The training since the last record, over all ranks: ``window.loss_sum`` and
    ``window.samples`` summed, ``window.finite_steps`` the fewest (the first rank to diverge
    names the step). In place; every rank then computes the same train loss."""
    if not is_distributed():
        return
    on = window.loss_sum.device
    loss_sum = window.loss_sum.detach().to(_collective_device(), torch.float64).reshape(1)
    samples = torch.tensor([float(window.samples)], dtype=torch.float64, device=loss_sum.device)
    both = torch.cat([loss_sum, samples])
    dist.all_reduce(both)
    finite = window.finite_steps.detach().to(loss_sum.device).reshape(1).clone()
    dist.all_reduce(finite, op=dist.ReduceOp.MIN)
    window.loss_sum.copy_(both[0].to(on))
    window.samples = int(both[1].item())
    window.finite_steps.copy_(finite[0].to(window.finite_steps.device))


def reduce_evaluation(loader, total_loss: torch.Tensor, count: int) -> tuple[torch.Tensor, int]:
    """An evaluation's loss sum and sample count over all ranks — when ``loader`` is this rank's
    shard of the data (then every rank evaluates its part and all must call this). A whole
    loader (every rank the same data, or one rank alone) needs no reduction."""
    if not is_distributed() or not is_sharded(loader):
        return total_loss, count
    total, count = sum_over_ranks(total_loss, count)
    return total, count


def gather_rng_states() -> list | None:
    """Every rank's random-number-generator states, in rank order (for rank 0's checkpoint);
    ``None`` when alone. Each rank draws its own dropout masks and augmentations, so a resumed run
    restores each rank's own state."""
    if not is_distributed():
        return None
    from e2edl.train.seeding import get_rng_state

    states = [None] * world_size()
    dist.all_gather_object(states, get_rng_state())
    return states


def rank_rng_state(checkpoint: dict) -> dict:
    """The RNG state this rank resumes from: its own when the checkpoint holds one per rank for
    this world size, else the one state the checkpoint has (rank 0's)."""
    states = checkpoint.get("rng_ranks")
    if states and len(states) == world_size():
        return states[rank()]
    return checkpoint["rng"]


def barrier() -> None:
    """Wait until every rank got here (no-op alone)."""
    if is_distributed():
        dist.barrier()
