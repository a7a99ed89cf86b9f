"""Reference solutions to the resnet-from-scratch lesson's exercises, and the typical mistakes their checks catch."""

from torch import nn


def downsample_shortcut(in_channels: int, channels: int, stride: int) -> nn.Module | None:
    """None for an identity shortcut; else a module (B, in_channels, H, W) → (B, channels, H/stride, W/stride)."""
    if stride == 1 and in_channels == channels:
        return None  # x can be added as it is
    return nn.Sequential(
        nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False),  # 1×1: mixes channels, strides
        nn.BatchNorm2d(channels),
    )


def stem_output_size(size: int) -> int:
    """Side of the feature map after conv1 and maxpool, for a size×size input (an int)."""
    after_conv = (size + 2 * 3 - 7) // 2 + 1  # 7×7 convolution, stride 2, padding 3
    return (after_conv + 2 * 1 - 3) // 2 + 1  # 3×3 max-pool, stride 2, padding 1


def conv_macs(conv: nn.Conv2d, height: int, width: int) -> int:
    """Multiply-adds of ``conv`` on one (C_in, height, width) input (bias additions not counted)."""
    (kh, kw), (sh, sw), (ph, pw) = conv.kernel_size, conv.stride, conv.padding
    out_h = (height + 2 * ph - conv.dilation[0] * (kh - 1) - 1) // sh + 1
    out_w = (width + 2 * pw - conv.dilation[1] * (kw - 1) - 1) // sw + 1
    per_output = (conv.in_channels // conv.groups) * kh * kw  # products summed into one output value
    return conv.out_channels * out_h * out_w * per_output


# ------------------------------------------------------------------------------ typical mistakes


def _always_a_projection(in_channels, channels, stride):
    return nn.Sequential(
        nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False), nn.BatchNorm2d(channels)
    )


def _three_by_three(in_channels, channels, stride):
    if stride == 1 and in_channels == channels:
        return None
    return nn.Sequential(nn.Conv2d(in_channels, channels, 3, stride=stride, padding=1, bias=False),
                         nn.BatchNorm2d(channels))  # fmt: skip


def _without_batchnorm(in_channels, channels, stride):
    if stride == 1 and in_channels == channels:
        return None
    return nn.Conv2d(in_channels, channels, 1, stride=stride, bias=False)


def _with_bias(in_channels, channels, stride):
    if stride == 1 and in_channels == channels:
        return None
    return nn.Sequential(nn.Conv2d(in_channels, channels, 1, stride=stride), nn.BatchNorm2d(channels))


def _stride_one(in_channels, channels, stride):
    if stride == 1 and in_channels == channels:
        return None
    return nn.Sequential(nn.Conv2d(in_channels, channels, 1, bias=False), nn.BatchNorm2d(channels))


def _a_quarter(size):
    return size // 4


def _true_division(size):
    return ((size - 1) / 2 + 1 - 1) / 2 + 1


def _conv_only(size):
    return (size + 6 - 7) // 2 + 1


def _flops(conv, height, width):
    return 2 * conv_macs(conv, height, width)


def _input_positions(conv, height, width):
    (kh, kw) = conv.kernel_size
    return conv.out_channels * height * width * (conv.in_channels // conv.groups) * kh * kw


def _ignores_groups(conv, height, width):
    return conv_macs(conv, height, width) * conv.groups


MISTAKES = {
    "downsample-shortcut": [
        (_always_a_projection, "return None"),
        (_three_by_three, "a 1×1 convolution"),
        (_without_batchnorm, "BatchNorm2d"),
        (_with_bias, "no bias"),
        (_stride_one, "the block's stride"),
    ],
    "stem-output-size": [
        (_a_quarter, "a quarter of the size"),
        (_true_division, "whole number"),
        (_conv_only, "stopped after the convolution"),
    ],
    "conv-macs": [
        (_flops, "twice the multiply-adds"),
        (_input_positions, "count the output's"),
        (_ignores_groups, "in_channels / groups"),
    ],
}
