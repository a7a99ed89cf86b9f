"""Reference solutions to the autoencoders lesson's exercises, and the typical mistakes their checks catch."""

import torch
from torch import nn


def quantise_round_trip(
    z: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """(N, k) floats, (k,) ranges → (q: (N, k) uint8 in 0..255, z_hat: (N, k) floats decoded from q)."""
    q = ((z - lo) / (hi - lo) * 255).round().clamp(0, 255).to(torch.uint8)
    z_hat = lo + q.float() / 255 * (hi - lo)
    return q, z_hat


def pca_reconstruct(train: torch.Tensor, x: torch.Tensor, k: int) -> torch.Tensor:
    """(N, D) training rows, (M, D) rows to compress → (M, D): x through PCA's top-k directions and back."""
    mean = train.mean(0)
    centred = train - mean
    covariance = centred.T @ centred / (len(train) - 1)  # (D, D)
    _, eigenvectors = torch.linalg.eigh(covariance)  # ascending eigenvalues
    directions = eigenvectors[:, -k:]  # (D, k): the largest k
    z = (x - mean) @ directions  # (M, k): the code
    return mean + z @ directions.T


def make_autoencoder(k: int) -> tuple[nn.Module, nn.Module]:
    """(encoder: (B, 1, 28, 28) → (B, k), decoder: (B, k) → (B, 1, 28, 28) in [0, 1])."""
    encoder = nn.Sequential(
        nn.Conv2d(1, 8, 3, stride=2, padding=1),  # (B, 8, 14, 14)
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, stride=2, padding=1),  # (B, 16, 7, 7)
        nn.ReLU(),
        nn.Flatten(),  # (B, 784)
        nn.Linear(16 * 7 * 7, k),  # (B, k)
    )
    decoder = nn.Sequential(
        nn.Linear(k, 16 * 7 * 7),
        nn.ReLU(),
        nn.Unflatten(1, (16, 7, 7)),
        nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1, output_padding=1),  # (B, 8, 14, 14)
        nn.ReLU(),
        nn.ConvTranspose2d(8, 1, 3, stride=2, padding=1, output_padding=1),  # (B, 1, 28, 28)
        nn.Sigmoid(),
    )
    return encoder, decoder


# ---------------------------------------------------------------- typical mistakes


def round_trip_truncating(z, lo, hi):
    q = ((z - lo) / (hi - lo) * 255).clamp(0, 255).floor().to(torch.uint8)
    return q, lo + q.float() / 255 * (hi - lo)


def round_trip_without_clamp(z, lo, hi):
    q = ((z - lo) / (hi - lo) * 255).round().to(torch.uint8)
    return q, lo + q.float() / 255 * (hi - lo)


def round_trip_float_codes(z, lo, hi):
    q = ((z - lo) / (hi - lo) * 255).round().clamp(0, 255)
    return q, lo + q / 255 * (hi - lo)


def round_trip_returning_z(z, lo, hi):
    q, _ = quantise_round_trip(z, lo, hi)
    return q, z


def pca_not_centred(train, x, k):
    _, eigenvectors = torch.linalg.eigh(train.T @ train)
    directions = eigenvectors[:, -k:]
    return x @ directions @ directions.T


def pca_smallest_directions(train, x, k):
    mean = train.mean(0)
    _, eigenvectors = torch.linalg.eigh((train - mean).T @ (train - mean))
    directions = eigenvectors[:, :k]
    return mean + (x - mean) @ directions @ directions.T


def pca_centred_on_x(train, x, k):
    mean = train.mean(0)
    _, eigenvectors = torch.linalg.eigh((train - mean).T @ (train - mean))
    directions = eigenvectors[:, -k:]
    own = x.mean(0)
    return own + (x - own) @ directions @ directions.T


def autoencoder_without_output_padding(k):
    encoder, decoder = make_autoencoder(k)
    decoder[3] = nn.ConvTranspose2d(16, 8, 3, stride=2, padding=1)  # 7 → 13
    decoder[5] = nn.ConvTranspose2d(8, 1, 3, stride=2, padding=1)  # 13 → 25
    return encoder, decoder


def autoencoder_without_sigmoid(k):
    encoder, decoder = make_autoencoder(k)
    return encoder, decoder[:-1]


def autoencoder_upsampling(k):
    encoder, _ = make_autoencoder(k)
    decoder = nn.Sequential(
        nn.Linear(k, 49), nn.Unflatten(1, (1, 7, 7)), nn.Upsample(scale_factor=4), nn.Sigmoid()
    )
    return encoder, decoder


MISTAKES = {
    "quantise-round-trip": [
        (round_trip_truncating, "round to the nearest level"),
        (round_trip_without_clamp, "must be clamped"),
        (round_trip_float_codes, "one byte per number"),
        (round_trip_returning_z, "decode it from the bytes q"),
    ],
    "pca-reconstruct": [
        (pca_not_centred, "subtract the training mean"),
        (pca_smallest_directions, "smallest"),
        (pca_centred_on_x, "training* mean"),
    ],
    "tiny-conv-autoencoder": [
        (autoencoder_without_output_padding, "output_padding=1"),
        (autoencoder_without_sigmoid, "nn.Sigmoid()"),
        (autoencoder_upsampling, "nn.ConvTranspose2d"),
    ],
}
