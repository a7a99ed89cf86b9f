"""Reference solutions to the residual lesson's exercises, and the typical mistakes their checks catch."""

import torch
import torch.nn.functional as F


def residual_block_forward(block, x: torch.Tensor) -> torch.Tensor:
    """(B, C_in, H, W) → (B, C_out, H/stride, W/stride): what Block(..., residual=True) computes."""
    f = block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x)))))  # F(x): no ReLU after bn2
    return F.relu(f + block.shortcut(x))  # add first, then the ReLU


def option_a_shortcut(x: torch.Tensor, stride: int, out_channels: int) -> torch.Tensor:
    """(B, C, H, W) → (B, out_channels, ceil(H/stride), ceil(W/stride)), new channels all zero."""
    x = x[:, :, ::stride, ::stride]  # every stride-th pixel: (B, C, ceil(H/s), ceil(W/s))
    extra = out_channels - x.shape[1]
    return F.pad(x, (0, 0, 0, 0, 0, extra))  # pad dim 1 at its end: (B, out_channels, ...)


# ------------------------------------------------------------------------------ typical mistakes


def _relu_before_add(block, x):
    f = block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x)))))
    return F.relu(f) + block.shortcut(x)


def _no_final_relu(block, x):
    return block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x))))) + block.shortcut(x)


def _adds_x_not_the_shortcut(block, x):
    return F.relu(block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x))))) + x)


def _plain_block(block, x):
    return F.relu(block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x))))))


def _channels_in_front(x, stride, out_channels):
    x = x[:, :, ::stride, ::stride]
    return F.pad(x, (0, 0, 0, 0, out_channels - x.shape[1], 0))


def _average_pool(x, stride, out_channels):
    x = F.avg_pool2d(x, stride, ceil_mode=True)
    return F.pad(x, (0, 0, 0, 0, 0, out_channels - x.shape[1]))


def _no_new_channels(x, stride, out_channels):
    return x[:, :, ::stride, ::stride]


def _no_subsampling(x, stride, out_channels):
    return F.pad(x, (0, 0, 0, 0, 0, out_channels - x.shape[1]))


MISTAKES = {
    "residual-block-forward": [
        (_relu_before_add, "the ReLU comes after the addition"),
        (_no_final_relu, "the block ends with a ReLU"),
        (_adds_x_not_the_shortcut, "block.shortcut(x)"),
        (_plain_block, "the input is never added"),
    ],
    "option-a-shortcut": [
        (_channels_in_front, "after the existing ones"),
        (_average_pool, "every stride-th pixel"),
        (_no_new_channels, "append"),
        (_no_subsampling, "must shrink"),
    ],
}
