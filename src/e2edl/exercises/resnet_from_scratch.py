"""The resnet-from-scratch lesson's exercises: the downsampling shortcut, the stem's output size, and
the multiply-adds of a convolution.

The oracles are the library's ``BasicBlock`` and ``ResNet18`` and PyTorch's ``FlopCounterMode``;
typical mistakes are recognised from what the learner's code returns, so the hint can name them.
"""

from __future__ import annotations

from functools import cache

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from e2edl.exercises.checking import Hint, call, expect_equal, expect_tensor
from e2edl.exercises.exercise import Exercise
from e2edl.nn.resnet import BasicBlock, ResNet18

# ----------------------------------------------------------------------------- downsample shortcut


def _parts(module: nn.Module) -> tuple[list[nn.Conv2d], list[nn.BatchNorm2d], list[nn.Module]]:
    convs = [m for m in module.modules() if isinstance(m, nn.Conv2d)]
    norms = [m for m in module.modules() if isinstance(m, nn.BatchNorm2d)]
    pools = [m for m in module.modules() if isinstance(m, (nn.MaxPool2d, nn.AvgPool2d))]
    return convs, norms, pools


def check_downsample_shortcut(fn) -> None:
    for c_in, c, stride in ((64, 64, 1), (128, 128, 1)):
        got = call(fn, c_in, c, stride, what="downsample_shortcut")
        if got is not None:
            raise Hint(
                f"for {c_in} → {c} channels with stride {stride}, x already has the output's shape: the "
                "shortcut is the identity, with no parameters — return None."
            )
    for seed, (c_in, c, stride) in enumerate(((16, 32, 2), (8, 16, 2), (8, 12, 1))):
        described = f"{c_in} → {c} channels, stride {stride}"
        got = call(fn, c_in, c, stride, what="downsample_shortcut")
        if got is None:
            raise Hint(f"for {described} x cannot be added as it is: return a module that projects it.")
        if not isinstance(got, nn.Module):
            raise Hint(f"downsample_shortcut should return an nn.Module (or None), got {type(got).__name__}.")
        convs, norms, pools = _parts(got)
        if pools:
            raise Hint("no pooling: the convolution's own stride shrinks the resolution.")
        if len(convs) != 1:
            raise Hint(f"the projection is one convolution; your module has {len(convs)}.")
        conv = convs[0]
        if conv.kernel_size != (1, 1):
            raise Hint(f"a 1×1 convolution is enough to change the channels; yours is {conv.kernel_size[0]}×"
                       f"{conv.kernel_size[1]}.")  # fmt: skip
        if conv.stride != (stride, stride):
            raise Hint(
                f"for {described} the convolution needs the block's stride, {stride}; yours has {conv.stride[0]}."
            )
        if (conv.in_channels, conv.out_channels) != (c_in, c):
            raise Hint(f"for {described} the convolution maps {c_in} → {c} channels; yours maps "
                       f"{conv.in_channels} → {conv.out_channels}.")  # fmt: skip
        if conv.bias is not None:
            raise Hint("the convolution has no bias (bias=False): the BatchNorm after it has its own shift.")
        if len(norms) != 1 or norms[0].num_features != c:
            raise Hint(f"follow the convolution with BatchNorm2d({c}): the other branch ends with one too.")
        # Same weights in the library's block and in the learner's module: the outputs must agree.
        generator = torch.Generator().manual_seed(seed)
        block = BasicBlock(c_in, c, stride)
        with torch.no_grad():
            block.downsample[0].weight.copy_(
                torch.randn(block.downsample[0].weight.shape, generator=generator)
            )
            bn = block.downsample[1]
            bn.weight.copy_(torch.rand(c, generator=generator) + 0.5)
            bn.bias.copy_(torch.randn(c, generator=generator))
            bn.running_mean.copy_(torch.randn(c, generator=generator))
            bn.running_var.copy_(torch.rand(c, generator=generator) + 0.5)
            conv.weight.copy_(block.downsample[0].weight)
            for name in ("weight", "bias", "running_mean", "running_var"):
                getattr(norms[0], name).copy_(getattr(bn, name))
        block.eval()
        got.eval()
        x = torch.randn(2, c_in, 8, 8, generator=generator)
        with torch.no_grad():
            want = block.downsample(x)
            out = call(got, x, what="your shortcut module")
        expect_tensor(out, want, f"the shortcut's output for {described}", atol=1e-5, rtol=1e-4)


# ---------------------------------------------------------------------------------- stem output


@cache
def _stem() -> nn.Sequential:
    """The library ResNet-18's stem geometry (conv1, maxpool), one output channel: sizes are all we need."""
    with torch.device("meta"):  # no memory, no initialisation: only the layers' settings are read
        model = ResNet18()
    conv, pool = model.conv1, model.maxpool
    return nn.Sequential(
        nn.Conv2d(3, 1, conv.kernel_size, stride=conv.stride, padding=conv.padding, bias=False),
        nn.MaxPool2d(pool.kernel_size, stride=pool.stride, padding=pool.padding),
    )


def _stem_side(size: int) -> int:
    stem = _stem()
    with torch.no_grad():
        return stem(torch.zeros(1, 3, size, size)).shape[-1]


def check_stem_output_size(fn) -> None:
    for size in (224, 64, 65, 33, 97, 7, 1):
        want = _stem_side(size)
        got = call(fn, size, what="stem_output_size")
        if isinstance(got, float) and not got.is_integer():
            raise Hint(f"for size {size} you returned {got}: a side is a whole number of pixels — "
                       "each step takes the floor, ⌊(n + 2p − k) / s⌋ + 1 (use //).")  # fmt: skip
        if isinstance(got, torch.Tensor):
            got = got.item()
        if got == want:
            continue
        if got == size // 4 or got == size / 4:
            raise Hint(f"for size {size} you returned {got}, a quarter of the size; the stem gives {want}: "
                       "apply ⌊(n + 2p − k) / s⌋ + 1 to the convolution, then again to the max-pool.")  # fmt: skip
        conv_only = (size + 6 - 7) // 2 + 1
        if got == conv_only:
            raise Hint(f"for size {size} you stopped after the convolution ({conv_only}); the 3×3 max-pool with "
                       "stride 2 and padding 1 halves it again.")  # fmt: skip
        expect_equal(got, want, f"the stem's output side for a {size}×{size} image")


# -------------------------------------------------------------------------------------- conv MACs


def _counted_macs(conv: nn.Conv2d, height: int, width: int) -> int:
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        conv(torch.zeros(1, conv.in_channels, height, width))
    return counter.get_total_flops() // 2


def check_conv_macs(fn) -> None:
    cases = [
        (nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False), 64, 64, "ResNet-18's stem convolution on 64×64"),
        (nn.Conv2d(64, 64, 3, padding=1, bias=False), 16, 16, "a 3×3 convolution keeping 16×16"),
        (nn.Conv2d(64, 128, 1, stride=2, bias=False), 16, 16, "a 1×1 stride-2 projection"),
        (nn.Conv2d(8, 16, (3, 5), stride=(1, 2), padding=(1, 0)), 10, 21, "a 3×5 kernel with a bias on 10×21"),
        (nn.Conv2d(16, 32, 3, padding=1, groups=4, bias=False), 8, 8, "a grouped convolution (groups=4)"),
    ]  # fmt: skip
    for conv, height, width, described in cases:
        want = _counted_macs(conv, height, width)
        got = call(fn, conv, height, width, what="conv_macs")
        if isinstance(got, torch.Tensor):
            got = got.item()
        if isinstance(got, float) and got.is_integer():
            got = int(got)
        if got == want:
            continue
        kh, kw = conv.kernel_size
        out_h = (height + 2 * conv.padding[0] - kh) // conv.stride[0] + 1
        out_w = (width + 2 * conv.padding[1] - kw) // conv.stride[1] + 1
        if got == 2 * want:
            raise Hint(f"for {described} you counted {got}, twice the multiply-adds: a multiply-add counts once "
                       "(FLOPs count it twice).")  # fmt: skip
        per_position = want // (out_h * out_w)
        if got == per_position * height * width and (out_h, out_w) != (height, width):
            raise Hint(f"for {described} you counted the input's {height}×{width} positions; count the output's "
                       f"{out_h}×{out_w} (stride and padding change it).")  # fmt: skip
        if conv.groups > 1 and got == want * conv.groups:
            raise Hint(f"for {described}: each output channel only sees in_channels / groups = "
                       f"{conv.in_channels // conv.groups} input channels.")  # fmt: skip
        if got == want // (kh * kw):
            raise Hint(
                f"for {described} you left out the kernel: each output value sums over C_in × {kh} × {kw} products."
            )
        if got == want // max(conv.in_channels // conv.groups, 1) and conv.in_channels > 1:
            raise Hint(
                f"for {described} you left out the input channels: each output value sums over C_in × k × k products."
            )
        expect_equal(got, want, f"the multiply-adds of {described}")


EXERCISES = [
    Exercise(
        "downsample-shortcut",
        "downsample_shortcut",
        "the learned shortcut where the shape changes: a 1×1 convolution with the block's stride, then BatchNorm",
        check_downsample_shortcut,
    ),
    Exercise(
        "stem-output-size",
        "stem_output_size",
        "the side of the feature map after ResNet-18's 7×7/2 convolution and 3×3/2 max-pool",
        check_stem_output_size,
    ),
    Exercise(
        "conv-macs",
        "conv_macs",
        "the multiply-adds of a convolution: one per weight per output position",
        check_conv_macs,
    ),
]
