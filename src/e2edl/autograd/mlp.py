"""Tiny multilayer perceptrons on the from-scratch engines, and the plain SGD step that trains them.

``Neuron``/``Layer``/``MLP`` are built from scalar ``Value``s (one object per weight: slow, but every
step is visible). ``Linear``/``TensorMLP`` do the same with ``Tensor``s, one matrix product per layer,
and store weights the way ``torch.nn.Linear`` does: ``weight`` (out, in), ``bias`` (out,).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from e2edl.autograd.scalar import Value
from e2edl.autograd.tensor import Tensor


def _uniform(rng: np.random.Generator, fan_in: int, shape) -> np.ndarray:
    """PyTorch's default init for ``nn.Linear``: U(-1/sqrt(fan_in), 1/sqrt(fan_in))."""
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape)


class Module:
    def parameters(self) -> list:
        return []

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.grad = 0.0 if isinstance(p, Value) else np.zeros_like(p.data)


def sgd_step(parameters: Sequence, lr: float) -> None:
    """Plain gradient descent: move every parameter a small step against its gradient."""
    for p in parameters:
        p.data -= lr * p.grad


# ---- scalar engine ---------------------------------------------------------------------------------
class Neuron(Module):
    """``act(w . x + b)`` for one output, with ``act`` tanh (or nothing, for an output neuron)."""

    def __init__(self, n_in: int, rng: np.random.Generator, nonlinear: bool = True):
        self.w = [Value(w) for w in _uniform(rng, n_in, n_in)]
        self.b = Value(_uniform(rng, n_in, ())[()])
        self.nonlinear = nonlinear

    def __call__(self, x: Sequence[Value | float]) -> Value:
        z = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)
        return z.tanh() if self.nonlinear else z

    def parameters(self) -> list[Value]:
        return [*self.w, self.b]


class Layer(Module):
    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator, nonlinear: bool = True):
        self.neurons = [Neuron(n_in, rng, nonlinear) for _ in range(n_out)]

    def __call__(self, x: Sequence[Value | float]) -> list[Value]:
        return [n(x) for n in self.neurons]

    def parameters(self) -> list[Value]:
        return [p for n in self.neurons for p in n.parameters()]


class MLP(Module):
    """``MLP(2, [16, 16, 1])``: tanh hidden layers, a linear last layer. Input: a list of numbers."""

    def __init__(self, n_in: int, sizes: Sequence[int], seed: int = 0):
        rng = np.random.default_rng(seed)
        dims = [n_in, *sizes]
        self.layers = [
            Layer(dims[i], dims[i + 1], rng, nonlinear=i < len(sizes) - 1) for i in range(len(sizes))
        ]

    def __call__(self, x: Sequence[Value | float]) -> list[Value]:
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self) -> list[Value]:
        return [p for layer in self.layers for p in layer.parameters()]


# ---- tensor engine ---------------------------------------------------------------------------------
class Linear(Module):
    """``x @ weight.T + bias``: (N, in) -> (N, out), the same layout as ``torch.nn.Linear``."""

    def __init__(self, n_in: int, n_out: int, rng: np.random.Generator):
        self.weight = Tensor(_uniform(rng, n_in, (n_out, n_in)))
        self.bias = Tensor(_uniform(rng, n_in, (n_out,)))

    def __call__(self, x: Tensor) -> Tensor:
        return x @ self.weight.T + self.bias  # (N, in) @ (in, out) + (out,) -> (N, out)

    def parameters(self) -> list[Tensor]:
        return [self.weight, self.bias]


class TensorMLP(Module):
    """``TensorMLP(2, [32, 32, 2])``: Linear layers with ``activation`` between them, none after the last."""

    def __init__(self, n_in: int, sizes: Sequence[int], activation: str = "tanh", seed: int = 0):
        assert activation in ("tanh", "relu", "sigmoid"), f"unknown activation {activation!r}"
        rng = np.random.default_rng(seed)
        dims = [n_in, *sizes]
        self.layers = [Linear(dims[i], dims[i + 1], rng) for i in range(len(sizes))]
        self.activation = activation

    def __call__(self, x: Tensor | np.ndarray) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(x)  # (N, n_in)
        for i, layer in enumerate(self.layers):
            x = layer(x)
            if i < len(self.layers) - 1:
                x = getattr(x, self.activation)()
        return x  # (N, sizes[-1])

    def parameters(self) -> list[Tensor]:
        return [p for layer in self.layers for p in layer.parameters()]
