"""The residual lesson's exercises: a residual block's forward pass, and the weightless option-A shortcut.

Each check compares the learner's function with the library (``e2edl.nn.plain_residual.Block``)
on fixed random inputs; when the answer is wrong it compares it with what the typical mistakes
compute, so that the hint can name the mistake.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from e2edl.exercises.checking import Hint, call, expect_tensor_naming_mistakes
from e2edl.exercises.exercise import Exercise
from e2edl.nn.plain_residual import Block

# ----------------------------------------------------------------------- residual block forward


def _block(in_channels: int, channels: int, stride: int, seed: int) -> Block:
    """A residual ``Block`` in evaluation mode whose BatchNorms do something (random statistics)."""
    generator = torch.Generator().manual_seed(seed)
    block = Block(in_channels, channels, stride, residual=True)
    with torch.no_grad():
        for conv in (block.conv1, block.conv2):
            conv.weight.copy_(torch.randn(conv.weight.shape, generator=generator) * 0.3)
        for bn in (block.bn1, block.bn2):
            bn.weight.copy_(torch.rand(channels, generator=generator) + 0.5)
            bn.bias.copy_(torch.randn(channels, generator=generator) * 0.2)
            bn.running_mean.copy_(torch.randn(channels, generator=generator) * 0.2)
            bn.running_var.copy_(torch.rand(channels, generator=generator) + 0.5)
    return block.eval()


def check_residual_block_forward(fn) -> None:
    cases = [((4, 4, 1), "a block that keeps the shape (4 → 4 channels, stride 1)"),
             ((4, 8, 2), "a block that halves the resolution and doubles the channels (4 → 8, stride 2)")]  # fmt: skip
    for seed, ((c_in, c_out, stride), described) in enumerate(cases):
        block = _block(c_in, c_out, stride, seed)
        x = torch.randn(3, c_in, 6, 6, generator=torch.Generator().manual_seed(10 + seed))
        with torch.no_grad():
            want = block(x)
            f = block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x)))))
            shortcut = block.shortcut(x)
        try:
            with torch.no_grad():
                got = call(fn, block, x, what="residual_block_forward")
        except Hint as hint:
            if stride > 1 and "RuntimeError" in str(hint) and "size" in str(hint):
                raise Hint(
                    f"for {described}, x and F(x) have different shapes and cannot be added: add "
                    "block.shortcut(x) (every second pixel, new channels zero) instead of x."
                ) from None
            raise
        mistakes = [
            (F.relu(f) + shortcut, "the ReLU comes after the addition: relu(F(x) + shortcut(x)), not relu(F(x)) + x."),
            (f + shortcut, "the block ends with a ReLU, applied to the sum F(x) + shortcut(x)."),
            (F.relu(f), "the input is never added: that is the plain block. Add block.shortcut(x) before the last ReLU."),
            (F.relu(F.relu(f) + shortcut), "F(x) ends with bn2, without a ReLU: the only ReLU after conv2 comes after the addition."),
        ]  # fmt: skip
        expect_tensor_naming_mistakes(got, want, mistakes, f"the output for {described}")


# ---------------------------------------------------------------------------- option-A shortcut


def check_option_a_shortcut(fn) -> None:
    cases = [((2, 4, 8, 8), 2, 8), ((3, 3, 7, 7), 2, 6), ((2, 5, 6, 6), 1, 5), ((1, 2, 9, 9), 3, 4)]
    for seed, (shape, stride, out_channels) in enumerate(cases):
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed))
        block = Block(shape[1], out_channels, stride)
        want = block.shortcut(x)
        got = call(fn, x, stride, out_channels, what="option_a_shortcut")
        extra = out_channels - shape[1]
        h = math.ceil(shape[2] / stride)
        described = f"x of shape {shape}, stride {stride}, {out_channels} channels out"
        subsampled = x[:, :, ::stride, ::stride]
        mistakes = [
            (F.pad(subsampled, (0, 0, 0, 0, extra, 0)), "the new zero channels go after the existing ones (pad at the end of dim 1), so channel c of x stays channel c."),
            (F.pad(F.avg_pool2d(x, stride, ceil_mode=True), (0, 0, 0, 0, 0, extra)), "take every stride-th pixel (x[:, :, ::stride, ::stride]); averaging pixels is a different shortcut."),
            (F.pad(F.max_pool2d(x, stride, ceil_mode=True), (0, 0, 0, 0, 0, extra)), "take every stride-th pixel (x[:, :, ::stride, ::stride]); max-pooling is a different shortcut."),
        ]  # fmt: skip
        if isinstance(got, torch.Tensor) and got.dim() == 4 and got.shape[1] == shape[1] and extra:
            raise Hint(f"for {described} the output keeps {shape[1]} channels: append {extra} zero channels.")
        if isinstance(got, torch.Tensor) and got.dim() == 4 and got.shape[2] == shape[2] and stride > 1:
            raise Hint(
                f"for {described} the resolution must shrink to {h}×{h}: keep one pixel in {stride} in each direction."
            )
        expect_tensor_naming_mistakes(got, want, mistakes, f"the shortcut of {described}")


EXERCISES = [
    Exercise(
        "residual-block-forward",
        "residual_block_forward",
        "the forward pass of a residual block: relu(F(x) + shortcut(x))",
        check_residual_block_forward,
    ),
    Exercise(
        "option-a-shortcut",
        "option_a_shortcut",
        "the weightless shortcut: every stride-th pixel, zero channels appended",
        check_option_a_shortcut,
    ),
]
