"""What a collective costs: the latency–bandwidth (α–β) model, fitted to measurements.

Sending a message of ``b`` bytes costs ``α + b/β``: a fixed latency α (seconds: system calls,
the network's round trip, a kernel launch) plus the bytes over the bandwidth β (bytes/second).
A ring all-reduce of ``b`` bytes over N ranks sends 2(N-1) messages of b/N bytes one after the
other, so it costs ``2(N-1)·α + 2(N-1)/N · b/β``: latency-bound for small messages (the α term
dominates: many small all-reduces are slow — why DDP packs gradients into buckets),
bandwidth-bound for large ones, where the time grows linearly with the size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class LatencyBandwidth:
    """α (seconds per message) and β (bytes per second) of one link."""

    latency: float
    bandwidth: float

    def message_seconds(self, nbytes: float) -> float:
        """One point-to-point message of ``nbytes``."""
        return self.latency + nbytes / self.bandwidth

    def ring_all_reduce_seconds(self, nbytes: float, world_size: int) -> float:
        """A ring all-reduce of ``nbytes`` over ``world_size`` ranks."""
        if world_size == 1:
            return 0.0
        steps = 2 * (world_size - 1)
        return steps * self.latency + steps / world_size * nbytes / self.bandwidth

    @classmethod
    def fit_ring(cls, nbytes: Sequence[float], seconds: Sequence[float], world_size: int) -> LatencyBandwidth:
        """α and β that best explain measured ring all-reduce times.

        The model is a line, t = a + c·b, with a = 2(N-1)·α and c = 2(N-1)/(N·β). The fit
        minimises the *relative* error (each equation divided by its t): the times span orders
        of magnitude, and a plain least-squares line would fit the largest messages only and
        could give a negative latency.
        """
        if world_size < 2:
            raise ValueError("a single rank sends nothing: fit needs world_size >= 2")
        if len(nbytes) != len(seconds) or len(nbytes) < 2:
            raise ValueError("give at least two (size, seconds) measurements of equal count")
        b = torch.tensor(nbytes, dtype=torch.float64)
        t = torch.tensor(seconds, dtype=torch.float64)
        design = torch.stack([torch.ones_like(b), b], dim=1) / t[:, None]  # (M, 2), rows divided by t
        a, c = torch.linalg.lstsq(design, torch.ones_like(t)[:, None]).solution[:, 0].tolist()
        steps = 2 * (world_size - 1)
        a, c = max(a, 1e-9), max(c, 1e-15)  # noise can push a tiny latency below zero
        return cls(latency=a / steps, bandwidth=steps / (world_size * c))

    def __str__(self) -> str:
        return f"α = {self.latency * 1e6:.1f} µs per message, β = {self.bandwidth / 1e9:.2f} GB/s"
