"""The tensors-autograd lesson's exercises: a new operation (with its backward) for the scalar engine,
the backward of a sum over an axis for the tensor engine, and a finite-difference gradient.

Each check runs the learner's function on fixed inputs, compares with an oracle (``torch.autograd``
in float64, or the exact derivative), and where the answer is wrong recognises the typical mistakes
(a wrong local derivative, ``=`` instead of ``+=``, a forgotten ``out.grad``, overflow, a divided
gradient, a forward difference) so that the hint can name them.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from e2edl.autograd import Value
from e2edl.exercises.checking import Hint, call, expect_number, expect_tensor
from e2edl.exercises.exercise import Exercise


def _close(got: float, want: float, tol: float = 1e-9) -> bool:
    return isinstance(got, (int, float)) and math.isfinite(got) and abs(got - want) <= tol * (1 + abs(want))


def _sigmoid(a: float) -> float:
    return torch.sigmoid(torch.tensor(a, dtype=torch.float64)).item()


def _softplus(a: float) -> float:
    return F.softplus(torch.tensor(a, dtype=torch.float64)).item()


# ----------------------------------------------------------------------- value-softplus
_OVERFLOW = (
    "softplus({a:g}) overflows: e^{a:g} does not fit in a float. Compute it as "
    "max(a, 0) + log(1 + e^-|a|), and the derivative as 1/(1 + e^-a) for a ≥ 0, e^a/(1 + e^a) below 0, "
    "so that no exponent is ever positive."
)


def _softplus_of(fn, a: float) -> tuple[Value, Value]:
    """(x, softplus(x)) for a fresh leaf x = Value(a), with the learner's output checked to be a new Value."""
    x = Value(a)
    try:
        out = call(fn, x, what="softplus")
    except Hint as hint:
        if "OverflowError" in str(hint):
            raise Hint(_OVERFLOW.format(a=a)) from None
        raise
    if not isinstance(out, Value):
        raise Hint(
            f"softplus should return a new Value, e.g. Value(result, (a,), 'softplus'), "
            f"but it returned {type(out).__name__}."
        )
    if out is x:
        raise Hint("softplus must return a new Value, not change `a` itself.")
    return x, out


def _depends_on(out: Value, x: Value) -> bool:
    """Whether ``x`` is in the graph ``out`` was computed from (directly, or through other operations)."""
    stack, seen = [out], set()
    while stack:
        v = stack.pop()
        if v is x:
            return True
        if id(v) not in seen:
            seen.add(id(v))
            stack.extend(getattr(v, "_prev", ()))
    return False


def _backward(out: Value, a: float) -> None:
    try:
        out.backward()
    except OverflowError:
        raise Hint(_OVERFLOW.format(a=a)) from None
    except Exception as error:
        raise Hint(f"backward() through your softplus raised {type(error).__name__}: {error}.") from None


def check_value_softplus(fn) -> None:
    moderate = (-2.5, -0.3, 0.0, 0.8, 3.0)
    for a in moderate:  # the value, and the link to the input
        x, out = _softplus_of(fn, a)
        expect_number(out.data, _softplus(a), f"softplus({a}).data (log(1 + e^a))", atol=1e-9, rtol=1e-9)
        if not _depends_on(out, x):
            raise Hint(
                "the new Value must list `a` as its input — Value(result, (a,), 'softplus') — "
                "or backward() never reaches `a`."
            )
    for a in moderate:  # the local derivative, with upstream gradient 1
        x, out = _softplus_of(fn, a)
        _backward(out, a)
        if x.grad == 0.0 and _sigmoid(a) != 0.0:
            raise Hint(
                "no gradient reached `a`: give the new Value a `_backward` closure "
                "(out._backward = _backward) that adds to a.grad."
            )
        if not _close(x.grad, _sigmoid(a)):
            raise Hint(
                f"the local derivative is wrong: d softplus(a)/da = sigmoid(a) = 1/(1 + e^-a), which is "
                f"{_sigmoid(a):.6g} at a = {a}, but `a` received {x.grad:.6g}."
            )
    for a in moderate:  # the chain rule: softplus inside a bigger expression
        x, out = _softplus_of(fn, a)
        _backward(out * 3.0, a)
        if _close(x.grad, _sigmoid(a)) and not _close(x.grad, 3 * _sigmoid(a)):
            raise Hint(
                "the gradient ignores what comes after softplus: in 3 * softplus(a), `a` must receive "
                "3 · sigmoid(a). Multiply the local derivative by out.grad (the chain rule)."
            )
        if not _close(x.grad, 3 * _sigmoid(a)):
            raise Hint(
                f"in 3 * softplus(a) at a = {a}, `a` received {x.grad:.6g}, expected {3 * _sigmoid(a):.6g}."
            )
    twice = [  # `a` used twice: the contributions must add up, whichever use runs its backward last
        (lambda x: fn(x) + fn(x), lambda a: 2 * _sigmoid(a)),
        (lambda x: fn(x) + x * 2.0, lambda a: _sigmoid(a) + 2.0),
    ]
    for a in moderate:
        for build, want in twice:
            x = Value(a)
            _backward(call(build, x, what="softplus"), a)
            if not _close(x.grad, want(a)):
                raise Hint(
                    "when `a` is used more than once, it received the gradient of one use only: "
                    "accumulate with a.grad += ..., never a.grad = ... (another use may have added "
                    "its share already)."
                )
    for a in (1000.0, -1000.0, 40.0, -40.0):  # large inputs
        x, out = _softplus_of(fn, a)
        if not math.isfinite(out.data):
            raise Hint(_OVERFLOW.format(a=a))
        expect_number(out.data, _softplus(a), f"softplus({a:g}).data", atol=1e-9, rtol=1e-9)
        _backward(out, a)
        if not _close(x.grad, _sigmoid(a)):
            if not math.isfinite(x.grad):
                raise Hint(_OVERFLOW.format(a=a))
            raise Hint(f"at a = {a:g} the gradient is {x.grad:.6g}, expected sigmoid(a) = {_sigmoid(a):.6g}.")


# ----------------------------------------------------------------------- sum-backward
_SUM_CASES = [  # (shape of x, axis, keepdims)
    ((3, 4), 0, False),
    ((3, 4), 1, True),
    ((2, 3, 4), -1, False),
    ((2, 3, 4), 1, True),
    ((2, 3, 4), None, False),
    ((2, 3), None, True),
    ((5,), 0, False),
]


def _as_tensor(got, what: str) -> torch.Tensor:
    if not isinstance(got, np.ndarray):
        raise Hint(f"{what} should be a numpy array, but it is {type(got).__name__}.")
    return torch.from_numpy(np.array(got, dtype=np.float64))


def check_sum_backward(fn) -> None:
    rng = np.random.default_rng(0)
    for shape, axis, keepdims in _SUM_CASES:
        x = torch.tensor(rng.normal(size=shape), requires_grad=True)
        dims = tuple(range(len(shape))) if axis is None else axis
        y = x.sum(dim=dims, keepdim=keepdims)
        grad = rng.normal(size=tuple(y.shape))  # a different upstream gradient for every sum
        y.backward(torch.tensor(grad))
        want = x.grad
        what = f"sum_backward(grad of shape {grad.shape}, {shape}, axis={axis}, keepdims={keepdims})"
        try:
            got = call(fn, grad.copy(), shape, axis, keepdims, what="sum_backward")
        except Hint as hint:
            if not keepdims and axis is not None and "broadcast" in str(hint):
                raise Hint(
                    f"{what} cannot broadcast: with keepdims=False the summed axis is gone from grad, "
                    "so put it back first with np.expand_dims(grad, axis)."
                ) from None
            raise
        got = _as_tensor(got, what)
        if tuple(got.shape) != shape:
            raise Hint(f"{what} has shape {tuple(got.shape)}; the gradient of x must have x's shape {shape}.")
        if torch.allclose(got * (want.numel() / max(grad.size, 1)), want):
            raise Hint(
                "every entry of the sum gets the upstream gradient unchanged (slope 1): do not divide "
                "by the number of entries summed — that is the backward of mean."
            )
        expect_tensor(got, want, what, atol=1e-12, rtol=1e-12)


# ----------------------------------------------------------------------- numerical-gradient
def _functions() -> list[tuple[str, callable, callable, tuple[int, ...]]]:
    """(description, f, exact gradient, shape of x)."""
    return [
        ("sum(sin(x)·x²)", lambda x: float(np.sum(np.sin(x) * x**2)), lambda x: np.cos(x) * x**2 + 2 * x * np.sin(x), (3, 4)),
        ("sum(x)²", lambda x: float(np.sum(x)) ** 2, lambda x: 2 * np.sum(x) * np.ones_like(x), (5,)),
        ("log(1 + x·x)", lambda x: float(np.log1p(x @ x)), lambda x: 2 * x / (1 + x @ x), (1,)),
    ]  # fmt: skip


def check_numerical_gradient(fn) -> None:
    rng = np.random.default_rng(0)
    for described, f, exact, shape in _functions():
        x = rng.uniform(-1.5, 1.5, size=shape)
        before = x.copy()
        got = call(fn, f, x, what="numerical_gradient")
        what = f"numerical_gradient of {described} at an x of shape {shape}"
        if not np.allclose(x, before, rtol=0, atol=1e-12):
            raise Hint("x changed: put every entry back after moving it (or move the entries of a copy).")
        got = _as_tensor(got, what)
        want = torch.from_numpy(exact(x))
        if tuple(got.shape) != shape:
            raise Hint(f"{what} has shape {tuple(got.shape)}, expected x's shape {shape}.")
        h = 1e-5
        forward = np.array([(f(x + h * e) - f(x)) / h for e in np.eye(x.size).reshape(x.size, *shape)])
        if torch.allclose(got, want * 2, atol=1e-6) and not torch.allclose(got, want, atol=1e-6):
            raise Hint(
                "the gradient is twice the right size: the points x ± h·eᵢ are 2h apart, so divide by 2h."
            )
        if torch.allclose(got, want / 2, atol=1e-6) and not torch.allclose(got, want, atol=1e-6):
            raise Hint(
                "the gradient is half the right size: the two points must be x + h·eᵢ and x − h·eᵢ "
                "(did the second one land back on x?)."
            )
        if not torch.allclose(got, want, atol=1e-7, rtol=0) and np.allclose(
            got.numpy(), forward.reshape(shape), atol=1e-9, rtol=0
        ):
            raise Hint(
                "that is the forward difference (f(x + h) − f(x)) / h, whose error shrinks only like h: "
                "use the central difference (f(x + h) − f(x − h)) / 2h, whose error shrinks like h²."
            )
        expect_tensor(got, want, what, atol=1e-7, rtol=0)


EXERCISES = [
    Exercise(
        "value-softplus",
        "softplus",
        "softplus(a) = log(1 + e^a) as an operation of the scalar engine Value, with its backward",
        check_value_softplus,
    ),
    Exercise(
        "sum-backward",
        "sum_backward",
        "the gradient of x given the gradient of x.sum(axis, keepdims)",
        check_sum_backward,
    ),
    Exercise(
        "numerical-gradient",
        "numerical_gradient",
        "the central-difference gradient of a function of an array",
        check_numerical_gradient,
    ),
]
