"""Two process-wide settings that make PyTorch on a CPU behave, applied by ``import e2edl``.

1. **Fair sharing of the cores.** PyTorch's Linux wheels use GNU OpenMP, whose idle threads spin
   for 300,000 iterations before they sleep. Alone that saves a wake-up; but two PyTorch processes
   on the same cores (two notebooks, a test run beside a lesson) then burn each other's time and
   each runs 10–18× slower instead of 2×. A spin of 3,000 keeps one run alone as fast and two at
   once fair (``benchmarks/thread_sharing.py``). It must be set before torch is first imported —
   import e2edl first. A ``GOMP_SPINCOUNT`` or ``OMP_WAIT_POLICY`` you set yourself wins.
2. **Large buffers kept, not returned.** glibc hands blocks above 32 MiB straight from the kernel
   (``mmap``) and gives them back on ``free``: a convolution network's activations are that big, so
   every forward pass maps, zero-fills and unmaps them again, and the kernel time can equal the
   compute time (measured: 3 forward passes of a small convnet on 64 images at 180 px spent 1.4 s
   in the kernel, 0.3 s with this setting). Raising glibc's thresholds keeps freed blocks for
   reuse. Linux with glibc only; ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_`` set in the
   environment win (glibc reads them itself).
"""

from __future__ import annotations

import ctypes
import os
import platform

SPINCOUNT = "3000"
MMAP_THRESHOLD = 1 << 30  # blocks up to 1 GiB come from the heap and are reused
TRIM_THRESHOLD = (1 << 31) - 1  # free memory at the top of the heap is kept up to 2 GiB
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt's parameter numbers (malloc.h)


def share_cores_fairly() -> None:
    """Set GNU OpenMP's spin before torch loads, unless the user chose a wait policy."""
    if "OMP_WAIT_POLICY" not in os.environ:
        os.environ.setdefault("GOMP_SPINCOUNT", SPINCOUNT)


def keep_large_buffers() -> bool:
    """Raise glibc's mmap and trim thresholds in this process; ``True`` if it was applied."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    if "MALLOC_MMAP_THRESHOLD_" in os.environ or "MALLOC_TRIM_THRESHOLD_" in os.environ:
        return False
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
