"""The pieces every exercise check is made of: call the learner's code, compare with an oracle,
and on a mismatch raise a :class:`Hint` that says *what* is wrong — never a bare assertion.

A check is a function ``check(fn)`` that returns quietly when ``fn`` is right and raises ``Hint``
otherwise. The helpers below produce the hints a learner needs most: not written yet, crashed (with
the input shape), wrong type, wrong shape, wrong values (where and by how much), wrong gradient.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch


class Hint(Exception):
    """A failed check. The message is the hint shown to the learner, one or two sentences."""


def call(fn: Callable, *args, what: str = "your function", **kwargs):
    """Call the learner's ``fn``; turn a stub or a crash into a :class:`Hint`."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise Hint(
            f"{what} is not written yet: replace `raise NotImplementedError` with your code."
        ) from None
    except Hint:
        raise
    except Exception as error:  # any crash in learner code becomes a hint, never a traceback
        shapes = ", ".join(_describe(a) for a in args)
        message = str(error).strip().splitlines()[0] if str(error).strip() else ""
        raise Hint(f"{what} raised {type(error).__name__}: {message} (called with {shapes}).") from None


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a {tuple(value.shape)} {str(value.dtype).removeprefix('torch.')} tensor"
    if isinstance(value, (list, tuple)):
        return f"a {type(value).__name__} of {len(value)}"
    return repr(value) if isinstance(value, (int, float, str)) else type(value).__name__


def expect_tensor(got, want: torch.Tensor, what: str, atol: float = 1e-6, rtol: float = 1e-5) -> None:
    """``got`` must be a tensor of ``want``'s shape with values within ``atol + rtol·|want|``."""
    if not isinstance(got, torch.Tensor):
        raise Hint(f"{what} should be a tensor, but it is {type(got).__name__}.")
    if tuple(got.shape) != tuple(want.shape):
        raise Hint(f"{what} has shape {tuple(got.shape)}, expected {tuple(want.shape)}.")
    if not torch.is_floating_point(want):
        if not torch.equal(got.to(want.dtype), want):
            wrong = (got.to(want.dtype) != want).sum().item()
            raise Hint(f"{what}: {wrong} of {want.numel()} entries are wrong.")
        return
    got = got.detach().to(want.dtype)
    if not torch.isfinite(got).all():
        raise Hint(f"{what} contains NaN or infinity (overflow? a log of 0? an exp of a large number?).")
    error = (got - want).abs()
    bound = atol + rtol * want.abs()
    if (error > bound).any():
        index = tuple(int(i) for i in torch.nonzero(error > bound)[0])
        at = f" at index {index}" if index else ""
        raise Hint(
            f"{what} is off by up to {error.max().item():.3g}{at}: got {got[index].item():.6g}, "
            f"expected {want[index].item():.6g}."
        )


def expect_number(got, want: float, what: str, atol: float = 1e-6, rtol: float = 1e-6) -> None:
    """``got`` must be a number (or a one-element tensor) within ``atol + rtol·|want|`` of ``want``."""
    if isinstance(got, torch.Tensor):
        if got.numel() != 1:
            raise Hint(f"{what} should be a single number, but it has shape {tuple(got.shape)}.")
        got = got.item()
    if not isinstance(got, (int, float)):
        raise Hint(f"{what} should be a number, but it is {type(got).__name__}.")
    if not math.isfinite(got):
        raise Hint(f"{what} is {got}.")
    if abs(got - want) > atol + rtol * abs(want):
        raise Hint(f"{what} is {got:.6g}, expected {want:.6g}.")


def expect_equal(got, want, what: str) -> None:
    """Exact equality for plain values (ints, tuples, strings)."""
    if got != want:
        raise Hint(f"{what} is {got!r}, expected {want!r}.")


def _close(got, want: torch.Tensor, atol: float, rtol: float) -> bool:
    return (
        isinstance(got, torch.Tensor)
        and got.shape == want.shape
        and torch.allclose(got.detach().float(), want, atol=atol, rtol=rtol, equal_nan=True)
    )


def expect_tensor_naming_mistakes(
    got, want: torch.Tensor, mistakes: list[tuple[torch.Tensor, str]], what: str,
    atol: float = 1e-5, rtol: float = 1e-4,
) -> None:  # fmt: skip
    """Pass if ``got`` is close to ``want``; if it equals what a typical mistake computes (the
    ``(tensor, hint)`` pairs of ``mistakes``, in order), raise that mistake's hint; otherwise the
    general hint of :func:`expect_tensor` (shape, where and by how much)."""
    if _close(got, want, atol, rtol):
        return
    for wrong, hint in mistakes:
        if _close(got, wrong, atol, rtol):
            raise Hint(hint)
    expect_tensor(got, want, what, atol=atol, rtol=rtol)
