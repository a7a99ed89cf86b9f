"""Pick the device to train on: the fastest one present unless the user names one."""

from __future__ import annotations

import torch


def pick_device(requested: str | torch.device | None = None) -> torch.device:
    """``None``/``"auto"`` → cuda, then mps, then cpu. A named device that is absent is an error.

    >>> pick_device("cpu")
    device(type='cpu')
    """
    if requested is None or str(requested) == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(requested)
    except RuntimeError:
        raise ValueError(f"unknown device {requested!r}; use cpu, cuda, cuda:N, mps or auto") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {requested!r} asked for, but this machine has no CUDA GPU; use --device cpu"
        )
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ValueError(
            f"device {requested!r} asked for, but only {torch.cuda.device_count()} CUDA GPU(s) exist"
        )
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"device {requested!r} asked for, but MPS is not available here; use --device cpu")
    return device


def cpu_has_bf16() -> bool:
    """True where the CPU does bf16 matrix maths natively (AVX512-BF16 or AMX). There bf16
    autocast roughly halves the time of a convolution network's step; elsewhere it is slower than
    float32."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


def cpu_bf16_pays(requested: str | torch.device | None = None) -> bool:
    """Whether ``fit(..., amp=True)`` on this device should be asked for: on a CPU with bf16
    instructions. (On CUDA, ``fit`` uses mixed precision by default anyway.)"""
    return pick_device(requested).type == "cpu" and cpu_has_bf16()


def cpu_model() -> str:
    """The CPU's model name as the operating system reports it (Linux, macOS), else the platform's."""
    import platform
    import subprocess
    from pathlib import Path

    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.is_file():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    try:
        out = subprocess.run(
            ["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True, timeout=5
        )
        if out.returncode == 0 and out.stdout.strip():
            return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return platform.processor() or platform.machine()


def cpu_matrix_extensions() -> list[str]:
    """The CPU's matrix-maths extensions that change the course's speeds: AVX-512, its bf16
    instructions, and AMX tiles (Linux only; elsewhere an empty list)."""
    from pathlib import Path

    cpuinfo = Path("/proc/cpuinfo")
    if not cpuinfo.is_file():
        return []
    flags = set()
    for line in cpuinfo.read_text(errors="replace").splitlines():
        if line.startswith("flags"):
            flags = set(line.split(":", 1)[1].split())
            break
    named = {"avx512f": "AVX-512", "avx512_bf16": "AVX512-BF16", "amx_bf16": "AMX-BF16"}
    return [name for flag, name in named.items() if flag in flags]


def describe_machine() -> dict:
    """What a timing depends on: CPU model and extensions, cores, torch threads, GPU, versions."""
    import os
    import platform

    extensions = cpu_matrix_extensions()
    return {
        "cpu": cpu_model(),
        "cpu_extensions": extensions,
        "cores": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.machine(),
    }


def machine_summary(machine: dict) -> str:
    """One line for a report: ``Intel Xeon (AVX-512, AMX-BF16), 2 cores, 2 torch threads, no GPU, ...``."""
    extensions = f" ({', '.join(machine['cpu_extensions'])})" if machine.get("cpu_extensions") else ""
    gpu = machine.get("gpu") or "no GPU"
    return (
        f"{machine['cpu']}{extensions}, {machine['cores']} cores, {machine['torch_threads']} torch threads, "
        f"{gpu}, Python {machine['python']}, torch {machine['torch']}"
    )
