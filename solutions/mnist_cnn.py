"""Reference solutions to the mnist-cnn lesson's exercises, and the typical mistakes their checks catch."""

import math

import torch
import torch.nn.functional as F


def conv_output_size(size: int, kernel: int, stride: int = 1, padding: int = 0) -> int:
    """Height of the output of a convolution over ``size`` pixels (an int)."""
    return (size + 2 * padding - kernel) // stride + 1


def conv2d(x: torch.Tensor, weight: torch.Tensor, stride: int = 1, padding: int = 0) -> torch.Tensor:
    """(B, C_in, H, W) and (C_out, C_in, kh, kw) → (B, C_out, H_out, W_out), as F.conv2d (no bias)."""
    b, _, h, w = x.shape
    c_out, _, kh, kw = weight.shape
    h_out = (h + 2 * padding - kh) // stride + 1
    w_out = (w + 2 * padding - kw) // stride + 1
    patches = F.unfold(x, (kh, kw), padding=padding, stride=stride)  # (B, C_in·kh·kw, H_out·W_out)
    out = weight.reshape(c_out, -1) @ patches  # (B, C_out, H_out·W_out)
    return out.reshape(b, c_out, h_out, w_out)


def max_pool2d(x: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, H, W) → (B, C, H // size, W // size): the max of each size × size block."""
    b, c, h, w = x.shape
    h_out, w_out = h // size, w // size
    blocks = x[:, :, : h_out * size, : w_out * size].reshape(b, c, h_out, size, w_out, size)
    return blocks.amax(dim=(3, 5))


def kaiming_std(shape: tuple[int, ...]) -> float:
    """The std of Kaiming (He) normal initialisation, for ReLU, of a weight of this shape."""
    fan_in = math.prod(shape[1:])  # in_features, or in_channels · kh · kw
    return math.sqrt(2 / fan_in)


# ---------------------------------------------------------------- typical mistakes


def size_without_floor(size, kernel, stride=1, padding=0):
    return (size + 2 * padding - kernel) / stride + 1


def size_padding_once(size, kernel, stride=1, padding=0):
    return (size + padding - kernel) // stride + 1


def size_rounded_up(size, kernel, stride=1, padding=0):
    return math.ceil((size + 2 * padding - kernel) / stride) + 1


def size_without_plus_one(size, kernel, stride=1, padding=0):
    return (size + 2 * padding - kernel) // stride


def conv_flipped(x, weight, stride=1, padding=0):
    return conv2d(x, weight.flip(-2, -1), stride, padding)


def conv_ignoring_padding(x, weight, stride=1, padding=0):
    return conv2d(x, weight, stride, 0)


def conv_ignoring_stride(x, weight, stride=1, padding=0):
    return conv2d(x, weight, 1, padding)


def pool_mean(x, size):
    b, c, h, w = x.shape
    blocks = x[:, :, : h // size * size, : w // size * size].reshape(b, c, h // size, size, w // size, size)
    return blocks.mean(dim=(3, 5))


def pool_rounding_up(x, size):
    h, w = x.shape[-2:]
    padded = F.pad(x, (0, -w % size, 0, -h % size), value=float("-inf"))
    return max_pool2d(padded, size)


def pool_overlapping(x, size):
    return F.max_pool2d(x, size, stride=1)


def kaiming_variance(shape):
    return 2 / math.prod(shape[1:])


def kaiming_fan_out(shape):
    return math.sqrt(2 / (shape[0] * math.prod(shape[2:])))


def kaiming_without_kernel(shape):
    return math.sqrt(2 / shape[1])


def kaiming_without_gain(shape):
    return math.sqrt(1 / math.prod(shape[1:]))


MISTAKES = {
    "conv-output-size": [
        (size_without_floor, "needs the floor"),
        (size_padding_once, "padding counts twice"),
        (size_rounded_up, "needs the floor"),
        (size_without_plus_one, "off by one"),
    ],
    "conv2d-by-hand": [
        (conv_flipped, "flipped the kernel"),
        (conv_ignoring_padding, "padding is missing"),
        (conv_ignoring_stride, "stride is missing"),
    ],
    "max-pool": [
        (pool_mean, "takes the mean"),
        (pool_rounding_up, "drops the last rows"),
        (pool_overlapping, "must not overlap"),
    ],
    "kaiming-std": [
        (kaiming_variance, "the std is its square root"),
        (kaiming_fan_out, "uses the fan-out"),
        (kaiming_without_kernel, "counts the kernel too"),
        (kaiming_without_gain, "not 1/fan_in"),
    ],
}
