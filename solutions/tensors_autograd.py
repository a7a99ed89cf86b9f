"""Reference solutions to the tensors-autograd lesson's exercises, and the typical mistakes their
checks must recognise."""

import math

import numpy as np

from e2edl.autograd import Value


def softplus(a: Value) -> Value:
    """log(1 + e^a) as a new Value, with a _backward that passes the gradient on to `a`."""
    # max(a, 0) + log(1 + e^-|a|): the exponent is never positive, so nothing overflows
    out = Value(max(a.data, 0.0) + math.log1p(math.exp(-abs(a.data))), (a,), "softplus")

    def _backward():  # d softplus(a)/da = sigmoid(a), computed from e^-|a| as well
        e = math.exp(-abs(a.data))
        sigmoid = 1.0 / (1.0 + e) if a.data >= 0 else e / (1.0 + e)
        a.grad += sigmoid * out.grad

    out._backward = _backward
    return out


def sum_backward(grad: np.ndarray, shape: tuple, axis: int | None, keepdims: bool) -> np.ndarray:
    """The gradient of x (of shape `shape`) given `grad`, the gradient of x.sum(axis, keepdims)."""
    if axis is not None and not keepdims:
        grad = np.expand_dims(grad, axis)  # put the summed axis back, with size 1
    return np.broadcast_to(grad, shape).copy()  # every summed entry gets the gradient unchanged


def numerical_gradient(f, x, h=1e-5):
    """The central-difference gradient of f at the array x, one entry at a time (x's shape)."""
    grad = x.copy()
    for i in range(x.size):
        old = x.flat[i]
        x.flat[i] = old + h
        plus = f(x)
        x.flat[i] = old - h
        minus = f(x)
        x.flat[i] = old  # leave x as we found it
        grad.flat[i] = (plus - minus) / (2 * h)
    return grad


# ---- typical mistakes, each of which the check must name ----------------------------------------
def _value(a, data, local_derivative, accumulate=True, chain=True):
    out = Value(data, (a,), "softplus")

    def _backward():
        share = local_derivative() * (out.grad if chain else 1.0)
        a.grad = a.grad + share if accumulate else share

    out._backward = _backward
    return out


def _stable_sigmoid(x):
    e = math.exp(-abs(x))
    return 1.0 / (1.0 + e) if x >= 0 else e / (1.0 + e)


def _stable_softplus(x):
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def softplus_overflowing(a):
    return _value(a, math.log(1 + math.exp(a.data)), lambda: 1 / (1 + math.exp(-a.data)))


def softplus_wrong_derivative(a):  # sigmoid(-a) instead of sigmoid(a)
    return _value(a, _stable_softplus(a.data), lambda: _stable_sigmoid(-a.data))


def softplus_overwrites_grad(a):
    return _value(a, _stable_softplus(a.data), lambda: _stable_sigmoid(a.data), accumulate=False)


def softplus_forgets_out_grad(a):
    return _value(a, _stable_softplus(a.data), lambda: _stable_sigmoid(a.data), chain=False)


def softplus_without_backward(a):
    return Value(_stable_softplus(a.data), (a,), "softplus")


def sum_backward_without_expand_dims(grad, shape, axis, keepdims):
    return np.broadcast_to(grad, shape).copy()


def sum_backward_like_mean(grad, shape, axis, keepdims):
    full = sum_backward(grad, shape, axis, keepdims)
    return full * grad.size / full.size


def numerical_gradient_forward(f, x, h=1e-5):
    grad, base = x.copy(), f(x)
    for i in range(x.size):
        old = x.flat[i]
        x.flat[i] = old + h
        grad.flat[i] = (f(x) - base) / h
        x.flat[i] = old
    return grad


def numerical_gradient_over_h(f, x, h=1e-5):
    return numerical_gradient(f, x, h) * 2


def numerical_gradient_moves_x(f, x, h=1e-5):
    grad = x.copy()
    for i in range(x.size):
        x.flat[i] += h
        plus = f(x)
        x.flat[i] -= 2 * h
        grad.flat[i] = (plus - f(x)) / (2 * h)  # x is left at x − h·eᵢ
    return grad


MISTAKES = {
    "value-softplus": [
        (softplus_overflowing, "overflows"),
        (softplus_wrong_derivative, "local derivative is wrong"),
        (softplus_overwrites_grad, "a.grad +="),
        (softplus_forgets_out_grad, "out.grad"),
        (softplus_without_backward, "_backward"),
    ],
    "sum-backward": [
        (sum_backward_without_expand_dims, "np.expand_dims"),
        (sum_backward_like_mean, "backward of mean"),
    ],
    "numerical-gradient": [
        (numerical_gradient_forward, "forward difference"),
        (numerical_gradient_over_h, "divide by 2h"),
        (numerical_gradient_moves_x, "x changed"),
    ],
}
