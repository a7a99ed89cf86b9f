"""A scalar autograd engine: each ``Value`` remembers its inputs and how to push gradients to them.

Each operation builds a new ``Value`` and attaches a small closure, ``_backward``, that applies the
chain rule for that one operation: it reads ``out.grad`` and adds (``+=``, because a value may be
used more than once) its contribution to each input's ``.grad``. ``backward()`` orders the graph
topologically and runs the closures from the output back to the leaves.
"""

from __future__ import annotations

import math


class Value:
    """A scalar that records the operations applied to it, so that it can compute gradients."""

    def __init__(self, data: float, _children: tuple[Value, ...] = (), _op: str = "", label: str = ""):
        self.data = float(data)
        self.grad = 0.0
        self._backward = lambda: None  # a leaf has nothing to pass on
        self._prev = tuple(_children)  # in order, so that backward visits nodes in the same order every run
        self._op = _op
        self.label = label

    def __add__(self, other: Value | float) -> Value:
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():  # d(a+b)/da = 1, d(a+b)/db = 1
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other: Value | float) -> Value:
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():  # d(ab)/da = b, d(ab)/db = a
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def __pow__(self, exponent: float) -> Value:
        assert isinstance(exponent, (int, float)), "only constant exponents are supported"
        out = Value(self.data**exponent, (self,), f"**{exponent}")

        def _backward():  # d(a^k)/da = k a^(k-1)
            self.grad += exponent * self.data ** (exponent - 1) * out.grad

        out._backward = _backward
        return out

    def exp(self) -> Value:
        out = Value(math.exp(self.data), (self,), "exp")

        def _backward():  # d(e^a)/da = e^a, which is out.data
            self.grad += out.data * out.grad

        out._backward = _backward
        return out

    def log(self) -> Value:
        out = Value(math.log(self.data), (self,), "log")

        def _backward():  # d(log a)/da = 1/a
            self.grad += out.grad / self.data

        out._backward = _backward
        return out

    def tanh(self) -> Value:
        out = Value(math.tanh(self.data), (self,), "tanh")

        def _backward():  # d(tanh a)/da = 1 - tanh(a)^2
            self.grad += (1.0 - out.data**2) * out.grad

        out._backward = _backward
        return out

    def relu(self) -> Value:
        out = Value(max(self.data, 0.0), (self,), "relu")

        def _backward():  # slope 1 where a > 0, else 0 (PyTorch's choice at exactly 0, too)
            self.grad += (self.data > 0) * out.grad

        out._backward = _backward
        return out

    def sigmoid(self) -> Value:
        e = math.exp(-abs(self.data))  # 1 / (1 + e^-a), from e^-|a| so that it never overflows
        out = Value(1.0 / (1.0 + e) if self.data >= 0 else e / (1.0 + e), (self,), "sigmoid")

        def _backward():  # d(sigmoid a)/da = s (1 - s)
            self.grad += out.data * (1.0 - out.data) * out.grad

        out._backward = _backward
        return out

    def backward(self) -> None:
        """Fill ``.grad`` of every value this one depends on with d(self)/d(value)."""
        # Topological order: a node comes after everything it was computed from.
        order: list[Value] = []
        visited: set[Value] = set()

        def visit(v: Value) -> None:
            if v not in visited:
                visited.add(v)
                for child in v._prev:
                    visit(child)
                order.append(v)

        visit(self)
        for v in order:  # leaves keep (accumulate) their .grad, like PyTorch; inner nodes start afresh
            if v._prev:
                v.grad = 0.0
        self.grad = 1.0  # d(self)/d(self)
        for v in reversed(order):  # output first, so each node's grad is complete before it is used
            v._backward()

    # The rest is built from the operations above, so needs no backward of its own.
    def __neg__(self) -> Value:
        return self * -1

    def __sub__(self, other: Value | float) -> Value:
        return self + (-other)

    def __truediv__(self, other: Value | float) -> Value:
        return self * other**-1

    __radd__ = __add__  # 2 + a calls a.__radd__(2)
    __rmul__ = __mul__

    def __rsub__(self, other: float) -> Value:
        return other + (-self)

    def __rtruediv__(self, other: float) -> Value:
        return other * self**-1

    def __repr__(self) -> str:
        return f"Value(data={self.data:.6g}, grad={self.grad:.6g})"
