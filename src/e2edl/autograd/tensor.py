"""A small tensor autograd engine on numpy (float64): the scalar engine, one array at a time.

Same idea as ``scalar.Value``: each operation returns a new ``Tensor`` with a ``_backward`` closure
that adds its inputs' share of ``out.grad`` to their ``.grad``. Two things are new:

* **Broadcasting.** ``x + b`` with ``x`` of shape (B, H) and ``b`` of shape (H,) uses each entry of
  ``b`` B times, so its gradient is the *sum* of the B upstream gradients. ``unbroadcast`` does that:
  it sums the gradient over every axis that broadcasting added or stretched from 1.
* **Matrix multiplication.** For ``C = A @ B``: ``dA = dC @ B^T`` and ``dB = A^T @ dC`` (batched over
  any leading axes, which may broadcast too).
"""

from __future__ import annotations

import math

import numpy as np

Axis = int | tuple[int, ...] | None


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` down to ``shape``, undoing numpy broadcasting (the adjoint of ``np.broadcast_to``)."""
    while grad.ndim > len(shape):  # axes broadcasting added in front
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):  # axes broadcasting stretched from 1
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


def _expand_reduced(grad: np.ndarray, shape: tuple[int, ...], axis: Axis, keepdims: bool) -> np.ndarray:
    """Broadcast the gradient of a reduction (sum, mean, logsumexp) back to the input's ``shape``."""
    if axis is not None and not keepdims:
        axes = (axis,) if isinstance(axis, int) else axis
        grad = np.expand_dims(grad, tuple(a % len(shape) for a in axes))
    return np.broadcast_to(grad, shape)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + e^-x)``, computed from ``e^-|x|`` so that it neither overflows nor loses tiny values."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


class Tensor:
    """A float64 numpy array that records the operations applied to it, so that it can compute gradients."""

    __array_ufunc__ = None  # so that `ndarray * Tensor` calls Tensor.__rmul__ instead of looping in numpy

    def __init__(self, data, _children: tuple[Tensor, ...] = (), _op: str = ""):
        self.data = np.asarray(data, dtype=np.float64)
        self.grad = np.zeros_like(self.data)
        self._backward = lambda: None
        self._prev = _children
        self._op = _op

    shape = property(lambda self: self.data.shape)
    ndim = property(lambda self: self.data.ndim)

    # ---- elementwise, with broadcasting ------------------------------------------------------
    def __add__(self, other: Tensor | float) -> Tensor:
        other = other if isinstance(other, Tensor) else Tensor(other)
        out = Tensor(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += unbroadcast(out.grad, self.shape)
            other.grad += unbroadcast(out.grad, other.shape)

        out._backward = _backward
        return out

    def __mul__(self, other: Tensor | float) -> Tensor:
        other = other if isinstance(other, Tensor) else Tensor(other)
        out = Tensor(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += unbroadcast(other.data * out.grad, self.shape)
            other.grad += unbroadcast(self.data * out.grad, other.shape)

        out._backward = _backward
        return out

    def __pow__(self, exponent: float) -> Tensor:
        assert isinstance(exponent, (int, float)), "only constant exponents are supported"
        out = Tensor(self.data**exponent, (self,), f"**{exponent}")

        def _backward():
            self.grad += exponent * self.data ** (exponent - 1) * out.grad

        out._backward = _backward
        return out

    def _unary(self, value: np.ndarray, local_grad, op: str) -> Tensor:
        """An elementwise op whose derivative ``local_grad(out_data)`` is known in closed form."""
        out = Tensor(value, (self,), op)

        def _backward():
            self.grad += local_grad(out.data) * out.grad

        out._backward = _backward
        return out

    def exp(self) -> Tensor:
        return self._unary(np.exp(self.data), lambda e: e, "exp")  # (e^x)' = e^x

    def log(self) -> Tensor:
        return self._unary(np.log(self.data), lambda _: 1.0 / self.data, "log")  # (log x)' = 1/x

    def tanh(self) -> Tensor:
        return self._unary(np.tanh(self.data), lambda t: 1.0 - t**2, "tanh")

    def relu(self) -> Tensor:
        return self._unary(np.maximum(self.data, 0.0), lambda _: (self.data > 0) * 1.0, "relu")

    def sigmoid(self) -> Tensor:
        return self._unary(_sigmoid(self.data), lambda s: s * (1.0 - s), "sigmoid")

    def softplus(self) -> Tensor:
        """``log(1 + e^x)``, computed as ``max(x, 0) + log1p(e^-|x|)`` so that it never overflows."""
        x = self.data
        value = np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))
        return self._unary(value, lambda _: _sigmoid(x), "softplus")

    # ---- reductions --------------------------------------------------------------------------
    def sum(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        out = Tensor(self.data.sum(axis=axis, keepdims=keepdims), (self,), "sum")

        def _backward():  # every summed entry gets the upstream gradient unchanged
            self.grad += _expand_reduced(out.grad, self.shape, axis, keepdims)

        out._backward = _backward
        return out

    def mean(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        axes = range(self.ndim) if axis is None else (axis,) if isinstance(axis, int) else axis
        count = math.prod(self.shape[a] for a in axes)
        return self.sum(axis=axis, keepdims=keepdims) * (1.0 / count)

    def logsumexp(self, axis: Axis = None, keepdims: bool = False) -> Tensor:
        """``log(sum(exp(x)))``, stable: shift by the max first. Its gradient is ``softmax(x)``."""
        shift = self.data.max(axis=axis, keepdims=True)
        lse = np.log(np.exp(self.data - shift).sum(axis=axis, keepdims=True)) + shift
        out = Tensor(lse if keepdims else np.squeeze(lse, axis=axis), (self,), "logsumexp")

        def _backward():
            softmax = np.exp(self.data - lse)
            self.grad += softmax * _expand_reduced(out.grad, self.shape, axis, keepdims)

        out._backward = _backward
        return out

    # ---- shapes and matrices -----------------------------------------------------------------
    def reshape(self, *shape) -> Tensor:
        out = Tensor(self.data.reshape(*shape), (self,), "reshape")

        def _backward():
            self.grad += out.grad.reshape(self.shape)

        out._backward = _backward
        return out

    def transpose(self, *axes) -> Tensor:
        """Permute axes like ``np.transpose``; with no ``axes``, swap the last two (batched ``.T``)."""
        axes = axes[0] if len(axes) == 1 and isinstance(axes[0], (tuple, list)) else axes
        if not axes:
            axes = (*range(self.ndim - 2), self.ndim - 1, self.ndim - 2) if self.ndim >= 2 else ()
        out = Tensor(np.transpose(self.data, axes or None), (self,), "transpose")

        def _backward():  # undo the permutation
            self.grad += np.transpose(out.grad, np.argsort(axes) if axes else None)

        out._backward = _backward
        return out

    T = property(lambda self: self.transpose())

    def __matmul__(self, other: Tensor) -> Tensor:
        """(..., n, k) @ (..., k, m) -> (..., n, m); the leading (batch) axes broadcast."""
        assert self.ndim >= 2 and other.ndim >= 2, "matmul here needs matrices (use reshape for vectors)"
        out = Tensor(self.data @ other.data, (self, other), "@")

        def _backward():
            self.grad += unbroadcast(out.grad @ np.swapaxes(other.data, -1, -2), self.shape)
            other.grad += unbroadcast(np.swapaxes(self.data, -1, -2) @ out.grad, other.shape)

        out._backward = _backward
        return out

    # ---- backward ----------------------------------------------------------------------------
    def backward(self) -> None:
        """Fill ``.grad`` of every tensor this (scalar) tensor depends on. Gradients accumulate."""
        assert self.data.size == 1, "backward() starts from a scalar, such as a loss"
        order: list[Tensor] = []
        visited: set[int] = set()

        def visit(t: Tensor) -> None:
            if id(t) not in visited:
                visited.add(id(t))
                for child in t._prev:
                    visit(child)
                order.append(t)

        visit(self)
        for t in order:  # leaves keep (accumulate) their .grad, like PyTorch; inner nodes start afresh
            if t._prev:
                t.grad = np.zeros_like(t.data)
        self.grad = np.ones_like(self.data)
        for t in reversed(order):
            t._backward()

    # ---- built from the operations above: no backward of their own -----------------------------
    def __neg__(self) -> Tensor:
        return self * -1.0

    def __sub__(self, other: Tensor | float) -> Tensor:
        return self + (-other)

    def __truediv__(self, other: Tensor | float) -> Tensor:
        return self * other**-1

    __radd__ = __add__
    __rmul__ = __mul__

    def __rsub__(self, other: float) -> Tensor:
        return other + (-self)

    def __rtruediv__(self, other: float) -> Tensor:
        return other * self**-1

    def log_softmax(self, axis: int = -1) -> Tensor:
        return self - self.logsumexp(axis=axis, keepdims=True)

    def __repr__(self) -> str:
        return f"Tensor(shape={self.shape}, op={self._op!r})\n{self.data}"


def cross_entropy(logits: Tensor, targets: np.ndarray) -> Tensor:
    """Mean cross-entropy of ``logits`` (N, C) against integer class ``targets`` (N,), like ``F.cross_entropy``."""
    one_hot = np.eye(logits.shape[-1])[targets]  # (N, C) constant, no gradient needed
    return -(logits.log_softmax(axis=-1) * one_hot).sum(axis=-1).mean()


def binary_cross_entropy_with_logits(logits: Tensor, targets: np.ndarray) -> Tensor:
    """Mean logistic loss of ``logits`` against 0/1 ``targets`` of the same shape, stable for any logit.

    ``-[y log s(z) + (1-y) log(1-s(z))] = softplus(z) - y z``, with ``s`` the sigmoid.
    """
    return (logits.softplus() - logits * np.asarray(targets, dtype=np.float64)).mean()
