"""The mnist-cnn lesson's exercises: a convolution's output size, a convolution and max-pooling by
hand, and Kaiming initialisation's standard deviation. Each is checked against PyTorch."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from e2edl.exercises.checking import Hint, call, expect_tensor
from e2edl.exercises.exercise import Exercise

# ---------------------------------------------------------------- 1. output size

# (size, kernel, stride, padding), simplest first: no padding, padding, then stride 2 with and
# without a fraction to drop.
OUTPUT_SIZE_CASES = [(28, 3, 1, 0), (28, 5, 1, 0), (28, 3, 1, 1), (28, 5, 1, 2), (7, 3, 2, 0),
                     (28, 3, 2, 1), (28, 3, 2, 0), (14, 5, 3, 1)]  # fmt: skip


def _conv_output_size_oracle(size: int, kernel: int, stride: int, padding: int) -> int:
    x = torch.zeros(1, 1, size, size)
    return F.conv2d(x, torch.zeros(1, 1, kernel, kernel), stride=stride, padding=padding).shape[-1]


def check_conv_output_size(fn) -> None:
    not_int = None
    for size, kernel, stride, padding in OUTPUT_SIZE_CASES:
        what = f"conv_output_size({size}, {kernel}, stride={stride}, padding={padding})"
        got = call(fn, size, kernel, stride=stride, padding=padding, what=what)
        want = _conv_output_size_oracle(size, kernel, stride, padding)
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        exact = (size + 2 * padding - kernel) / stride
        if isinstance(got, float) and not got.is_integer():
            raise Hint(
                f"{what} is {got}: the output size needs the floor — with stride {stride}, "
                f"(in + 2·padding − kernel) / stride = {exact:g} and the last partial step is not "
                "taken. Use // (integer division)."
            )
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            raise Hint(f"{what} should be an int, but it is {type(got).__name__}.")
        if got == want:
            not_int = not_int or (None if isinstance(got, int) else f"{what} is {got!r}")
            continue
        if got == (size + padding - kernel) // stride + 1:
            raise Hint(
                f"{what} is {got}, expected {want}: padding counts twice — it adds a border on both sides."
            )
        if got == want - 1 or got == want + 1 and exact.is_integer():
            raise Hint(
                f"{what} is {got}, expected {want}: off by one — count the kernel's first position too (+1)."
            )
        if got in (math.ceil(exact) + 1, round(exact) + 1):
            raise Hint(
                f"{what} is {got}, expected {want}: the output size needs the floor of {exact:g}, "
                "not rounding up — a step that would run off the image is not taken."
            )
        if got == size + 2 * padding - kernel + 1:
            raise Hint(
                f"{what} is {got}, expected {want}: divide by the stride — the kernel moves {stride} pixels at a time."
            )
        raise Hint(f"{what} is {got}, expected {want} (what F.conv2d gives).")
    if not_int:
        raise Hint(f"{not_int}: return an int (use // for the division), not a float.")


# ---------------------------------------------------------------- 2. convolution by hand

# (x shape, weight shape, stride, padding)
CONV_CASES = [((2, 3, 7, 6), (4, 3, 3, 3), 1, 0), ((2, 3, 7, 6), (4, 3, 3, 3), 1, 1),
              ((1, 2, 9, 8), (3, 2, 3, 2), 2, 1), ((2, 1, 8, 8), (5, 1, 5, 5), 1, 0)]  # fmt: skip


def check_conv2d(fn) -> None:
    g = torch.Generator().manual_seed(0)
    for x_shape, w_shape, stride, padding in CONV_CASES:
        x, w = torch.randn(x_shape, generator=g), torch.randn(w_shape, generator=g)
        what = f"conv2d(x {x_shape}, weight {w_shape}, stride={stride}, padding={padding})"
        got = call(fn, x.clone(), w.clone(), stride=stride, padding=padding, what=what)
        want = F.conv2d(x, w, stride=stride, padding=padding)
        if isinstance(got, torch.Tensor) and tuple(got.shape) != tuple(want.shape):
            unpadded = tuple(F.conv2d(x, w, stride=stride).shape)
            unstrided = tuple(F.conv2d(x, w, padding=padding).shape)
            if padding and tuple(got.shape) == unpadded:
                raise Hint(f"{what} has shape {tuple(got.shape)}, expected {tuple(want.shape)}: "
                           "the padding is missing — add `padding` zeros on every side first (F.pad).")  # fmt: skip
            if stride > 1 and tuple(got.shape) == unstrided:
                raise Hint(f"{what} has shape {tuple(got.shape)}, expected {tuple(want.shape)}: "
                           f"the stride is missing — move the kernel {stride} pixels at a time.")  # fmt: skip
        if isinstance(got, torch.Tensor) and got.shape == want.shape:
            flipped = F.conv2d(x, w.flip(-2, -1), stride=stride, padding=padding)
            if torch.allclose(got.detach().float(), flipped, atol=1e-4) and not torch.allclose(flipped, want):
                raise Hint(f"{what}: you flipped the kernel. PyTorch's conv2d does not flip it "
                           "(it is a cross-correlation): multiply each patch by the kernel as it is.")  # fmt: skip
        expect_tensor(got, want, what, atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------- 3. max-pooling

POOL_CASES = [((2, 3, 8, 8), 2), ((1, 2, 6, 9), 3), ((2, 2, 7, 9), 2)]  # the last one needs the floor


def check_max_pool(fn) -> None:
    g = torch.Generator().manual_seed(0)
    for shape, size in POOL_CASES:
        x = torch.randn(shape, generator=g)
        what = f"max_pool2d(x {shape}, {size})"
        got = call(fn, x.clone(), size, what=what)
        want = F.max_pool2d(x, size)
        if isinstance(got, torch.Tensor) and tuple(got.shape) != tuple(want.shape):
            h, w = shape[-2:]
            if tuple(got.shape[-2:]) == (-(-h // size), -(-w // size)):
                raise Hint(f"{what} has shape {tuple(got.shape)}, expected {tuple(want.shape)}: "
                           "F.max_pool2d drops the last rows and columns that do not fill a whole "
                           "block (the floor of H / size).")  # fmt: skip
            if tuple(got.shape[-2:]) == (h - size + 1, w - size + 1):
                raise Hint(f"{what} has shape {tuple(got.shape)}, expected {tuple(want.shape)}: "
                           f"the blocks must not overlap — move {size} pixels at a time.")  # fmt: skip
        if isinstance(got, torch.Tensor) and got.shape == want.shape:
            if torch.allclose(got.float(), F.avg_pool2d(x, size), atol=1e-5):
                raise Hint(f"{what} takes the mean of each block; max-pooling keeps the largest value.")
        expect_tensor(got, want, what)


# ---------------------------------------------------------------- 4. Kaiming's standard deviation

KAIMING_CASES = [(256, 784), (10, 64), (32, 16, 5, 5), (16, 1, 5, 5), (64, 32, 3, 3)]


def check_kaiming_std(fn) -> None:
    for shape in KAIMING_CASES:
        what = f"kaiming_std({shape})"
        got = call(fn, shape, what=what)
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if not isinstance(got, (int, float)) or isinstance(got, bool):
            raise Hint(f"{what} should be a number, but it is {type(got).__name__}.")
        fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))
        want = nn.init.calculate_gain("relu") / math.sqrt(fan_in)
        if math.isclose(got, want, rel_tol=1e-6):
            continue
        mistakes = {
            2 / fan_in: "that is the variance 2/fan_in; the std is its square root.",
            math.sqrt(
                1 / fan_in
            ): "ReLU zeroes half of the units, so Kaiming's variance is 2/fan_in, not 1/fan_in.",
            math.sqrt(2 / fan_out): "that uses the fan-out; Kaiming's default mode uses the fan-in, the "
            "number of inputs each output sums (in_features, or in_channels · kh · kw).",
            math.sqrt(2 / shape[1]): "a convolution's fan-in counts the kernel too: in_channels · kh · kw.",
            math.sqrt(2 / (fan_in + fan_out)): "that is Xavier's √(2/(fan_in + fan_out)); Kaiming's is "
            "√(2/fan_in) for ReLU.",
        }
        for value, message in mistakes.items():
            if math.isclose(got, value, rel_tol=1e-6):
                raise Hint(f"{what} is {got:.6g}, expected {want:.6g}: {message}")
        raise Hint(f"{what} is {got:.6g}, expected {want:.6g} = √(2 / fan_in) with fan_in = {fan_in}.")


EXERCISES = [
    Exercise(
        "conv-output-size", "conv_output_size", "the output size of a convolution", check_conv_output_size
    ),
    Exercise("conv2d-by-hand", "conv2d", "a 2-D convolution without F.conv2d", check_conv2d),
    Exercise("max-pool", "max_pool2d", "max-pooling over non-overlapping blocks", check_max_pool),
    Exercise(
        "kaiming-std", "kaiming_std", "the standard deviation of Kaiming initialisation", check_kaiming_std
    ),
]
