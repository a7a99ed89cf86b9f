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
