"""Seeds, random-number-generator states and deterministic kernels: what makes a run repeatable
and resumable."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
import torch.utils.deterministic  # fill_uninitialized_memory lives there


def seed_everything(seed: int, deterministic: bool | None = None) -> None:
    """Seed Python's, NumPy's and PyTorch's global generators (PyTorch's on every device).

    ``deterministic`` sets PyTorch's deterministic-kernel switches for the whole process (see
    :func:`set_deterministic_kernels`): ``True`` switches them on, ``False`` off, ``None`` (the
    default) leaves them as they are, so seeding alone never changes which kernels run. ``fit``
    sets them itself for the length of a run (its ``deterministic`` option: on for the CPU, off on
    a GPU, where the deterministic kernels are slower).
    """
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if deterministic is not None:
        set_deterministic_kernels(deterministic)


def set_deterministic_kernels(on: bool) -> None:
    """Switch PyTorch's deterministic kernels on or off for the whole process.

    On: ``torch.use_deterministic_algorithms(True, warn_only=True)`` (an op without a
    deterministic version warns instead of failing), cuDNN's deterministic algorithms without
    autotuning (``cudnn.benchmark = False``: autotuning picks kernels by timing them), and
    ``CUBLAS_WORKSPACE_CONFIG`` set if it is not (cuBLAS needs it to be deterministic). Off: the
    first two back to PyTorch's defaults; ``cudnn.benchmark`` is left as it is.

    Either way ``torch.utils.deterministic.fill_uninitialized_memory`` is set to False. With
    deterministic algorithms PyTorch otherwise fills every new tensor with NaN before a kernel
    writes it — a debugging aid for kernels that read memory they never wrote, which ours do
    not — and that second write of every activation cost about 5% of a CPU training step of the
    mnist-cnn lesson's network (``benchmarks/fit_overhead.py``). On the CPU the kernels the course
    uses are deterministic either way; on a GPU "on" costs speed.
    """
    if on:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = on
    torch.use_deterministic_algorithms(on, warn_only=on)
    torch.utils.deterministic.fill_uninitialized_memory = False


@contextmanager
def deterministic_kernels(on: bool) -> Iterator[None]:
    """Deterministic kernels on (or off) inside the ``with`` block, and back as they were after it."""
    saved = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.deterministic,
        torch.backends.cudnn.benchmark,
        torch.utils.deterministic.fill_uninitialized_memory,
    )
    set_deterministic_kernels(on)
    try:
        yield
    finally:
        algorithms, warn_only, cudnn_deterministic, cudnn_benchmark, fill = saved
        torch.use_deterministic_algorithms(algorithms, warn_only=warn_only)
        torch.backends.cudnn.deterministic = cudnn_deterministic
        torch.backends.cudnn.benchmark = cudnn_benchmark
        torch.utils.deterministic.fill_uninitialized_memory = fill


def get_rng_state() -> dict:
    """Every global RNG state, as tensors and plain Python values (loadable with weights_only)."""
    kind, keys, pos, has_gauss, cached_gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": {
            "kind": kind,
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gauss": float(cached_gauss),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore every global RNG state that :func:`get_rng_state` saved."""
    python = state["python"]
    random.setstate((python[0], tuple(python[1]), python[2]))
    n = state["numpy"]
    np.random.set_state(
        (n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gauss"])
    )
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
