"""Autoencoders for 28×28 grey images: an encoder squeezes an image into ``bottleneck`` numbers,
a decoder rebuilds the image from them, and training on ``MSE(decode(encode(x)), x)`` forces those
few numbers to keep what matters.

All three models share one interface::

    model.encode(x)  # (B, 1, 28, 28) in [0, 1] → z (B, k)
    model.decode(z)  # (B, k) → (B, 1, 28, 28) in [0, 1]  (a sigmoid output)
    model(x)         # decode(encode(x))

``PCAAutoencoder`` is the linear reference: principal component analysis written as an
autoencoder, fitted in closed form instead of trained.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

IMAGE_SHAPE = (1, 28, 28)
IMAGE_PIXELS = 28 * 28


class Autoencoder(nn.Module):
    """The shared interface: subclasses build ``self.encoder`` and ``self.decoder``."""

    encoder: nn.Module
    decoder: nn.Module

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, 28, 28) → (B, k)."""
        return self.encoder(x)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """(B, k) → (B, 1, 28, 28) in [0, 1]."""
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))


class FCAutoencoder(Autoencoder):
    """A fully connected autoencoder: 784 → hidden… → k → …hidden reversed → 784.

    Every hidden layer is ``Linear`` + ``ReLU``; the code ``z`` is linear (no activation), the
    output goes through a sigmoid so pixels land in [0, 1] like the inputs.
    """

    def __init__(self, bottleneck: int, hidden: Sequence[int] = (512, 256, 128)) -> None:
        super().__init__()
        if bottleneck < 1:
            raise ValueError(f"bottleneck must be >= 1, got {bottleneck}")
        self.bottleneck = bottleneck
        widths = [IMAGE_PIXELS, *hidden]
        encoder: list[nn.Module] = [nn.Flatten()]  # (B, 1, 28, 28) → (B, 784)
        for n_in, n_out in zip(widths, widths[1:]):
            encoder += [nn.Linear(n_in, n_out), nn.ReLU()]
        encoder.append(nn.Linear(widths[-1], bottleneck))  # (B, k)
        self.encoder = nn.Sequential(*encoder)

        back = [bottleneck, *reversed(widths)]  # k, …hidden reversed, 784
        decoder: list[nn.Module] = []
        for n_in, n_out in zip(back, back[1:-1]):
            decoder += [nn.Linear(n_in, n_out), nn.ReLU()]
        decoder += [nn.Linear(back[-2], IMAGE_PIXELS), nn.Sigmoid(), nn.Unflatten(1, IMAGE_SHAPE)]
        self.decoder = nn.Sequential(*decoder)


class ConvAutoencoder(Autoencoder):
    """A convolutional autoencoder: two stride-2 convolutions halve the image twice
    (28 → 14 → 7), a linear layer maps the (C, 7, 7) features to the k-number code; the decoder
    mirrors it with transposed convolutions (7 → 14 → 28) and ends in a sigmoid.
    """

    def __init__(self, bottleneck: int, channels: tuple[int, int] = (32, 64)) -> None:
        super().__init__()
        if bottleneck < 1:
            raise ValueError(f"bottleneck must be >= 1, got {bottleneck}")
        self.bottleneck = bottleneck
        c1, c2 = channels
        self.encoder = nn.Sequential(
            nn.Conv2d(1, c1, 3, stride=2, padding=1),  # (B, c1, 14, 14)
            nn.ReLU(),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1),  # (B, c2, 7, 7)
            nn.ReLU(),
            nn.Flatten(),  # (B, c2·49)
            nn.Linear(c2 * 49, bottleneck),  # (B, k)
        )
        self.decoder = nn.Sequential(
            nn.Linear(bottleneck, c2 * 49),
            nn.ReLU(),
            nn.Unflatten(1, (c2, 7, 7)),  # (B, c2, 7, 7)
            nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1),  # (B, c1, 14, 14)
            nn.ReLU(),
            nn.ConvTranspose2d(c1, 1, 3, stride=2, padding=1, output_padding=1),  # (B, 1, 28, 28)
            nn.Sigmoid(),
        )


class PCAAutoencoder(Autoencoder):
    """Principal component analysis as a linear autoencoder: the best *linear* code of k numbers.

    ``encode``: ``z = (x − mean) · V``, the coordinates of the image along the k directions ``V``
    (784, k) in which the fitted images vary most; ``decode``: ``x̂ = mean + z · Vᵀ``, clamped to
    [0, 1] like the pixels. Among all encoders and decoders that are linear (affine) maps with k
    numbers in between, this pair has the smallest squared error on the images it was fitted to —
    so it is the baseline a non-linear autoencoder has to beat. Build it with :meth:`fit`.
    """

    def __init__(self, bottleneck: int) -> None:
        super().__init__()
        if not 1 <= bottleneck <= IMAGE_PIXELS:
            raise ValueError(f"bottleneck must be in [1, {IMAGE_PIXELS}], got {bottleneck}")
        self.bottleneck = bottleneck
        self.encoder = nn.Sequential(nn.Flatten(), nn.Linear(IMAGE_PIXELS, bottleneck))  # (B, k)
        self.decoder = nn.Sequential(
            nn.Linear(bottleneck, IMAGE_PIXELS),  # (B, 784)
            nn.Hardtanh(0.0, 1.0),  # clamp to [0, 1]: a pixel outside can only be further from the truth
            nn.Unflatten(1, IMAGE_SHAPE),
        )
        self.register_buffer("explained_variance", torch.zeros(bottleneck))  # (k,), largest first

    @classmethod
    @torch.no_grad()
    def fit(cls, images: torch.Tensor, bottleneck: int) -> PCAAutoencoder:
        """Fit to float images (N, 1, 28, 28) in [0, 1]: mean image and top-k eigenvectors of the
        pixels' covariance matrix. Each direction's sign is fixed so that its largest entry is positive."""
        if len(images) < 2:
            raise ValueError(f"PCA needs at least 2 images, got {len(images)}")
        x = images.reshape(len(images), -1).float()  # (N, 784)
        mean = x.mean(0)  # (784,)
        centred = x - mean
        covariance = (centred.T @ centred).double() / (len(x) - 1)  # (784, 784)
        eigenvalues, eigenvectors = torch.linalg.eigh(covariance)  # ascending
        directions = eigenvectors[:, -bottleneck:].flip(1)  # (784, k), largest variance first
        largest = directions.abs().argmax(0)  # (k,) index of each direction's largest entry
        directions = directions * directions[largest, torch.arange(bottleneck)].sign()
        directions = directions.float()
        model = cls(bottleneck)
        model.encoder[1].weight.copy_(directions.T)  # z = V^T (x − mean)
        model.encoder[1].bias.copy_(-directions.T @ mean)
        model.decoder[0].weight.copy_(directions)  # x̂ = mean + V z
        model.decoder[0].bias.copy_(mean)
        model.explained_variance.copy_(eigenvalues.flip(0)[:bottleneck].float())
        return model.eval()
