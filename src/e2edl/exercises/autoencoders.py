"""The autoencoders lesson's exercises: the 8-bit round trip of a code, PCA by hand, and a tiny
convolutional autoencoder. Each is checked against the library or PyTorch."""

from __future__ import annotations

import torch
from torch import nn

from e2edl.compression import dequantise, quantise
from e2edl.exercises.checking import Hint, call, expect_tensor
from e2edl.exercises.exercise import Exercise

# ---------------------------------------------------------------- 1. the 8-bit round trip


def _codes(generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Codes (40, 3) of very different spreads, the range of the first 30, and all 40: the last
    ten are new codes, some of them outside the range."""
    z = torch.randn(40, 3, generator=generator) * torch.tensor([0.1, 1.0, 20.0]) + torch.tensor(
        [0.0, 5.0, -3.0]
    )
    lo, hi = z[:30].min(0).values, z[:30].max(0).values
    return z, lo, hi


def check_quantise_round_trip(fn) -> None:
    z, lo, hi = _codes(torch.Generator().manual_seed(0))
    inside = z[:30]
    what = "quantise_round_trip(z, lo, hi)"
    for codes, label in ((inside, "codes inside [lo, hi]"), (z, "codes, some outside [lo, hi]")):
        got = call(fn, codes.clone(), lo.clone(), hi.clone(), what=what)
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            raise Hint(f"{what} should return a pair (q, z_hat), but it returned {type(got).__name__}.")
        q, z_hat = got
        want_q = quantise(codes, lo, hi)
        if not isinstance(q, torch.Tensor):
            raise Hint(f"q should be a tensor, but it is {type(q).__name__}.")
        if q.dtype != torch.uint8:
            raise Hint(
                f"q is {str(q.dtype).removeprefix('torch.')}: store one byte per number — `.to(torch.uint8)`."
            )
        if tuple(q.shape) == tuple(want_q.shape) and not torch.equal(q, want_q):
            scaled = (codes - lo) / (hi - lo) * 255
            if torch.equal(q, scaled.clamp(0, 255).floor().to(torch.uint8)):
                raise Hint(f"q for {label}: round to the nearest level — `.round()` — instead of truncating.")
            if torch.equal(q, scaled.round().to(torch.uint8)) or torch.equal(q, scaled.to(torch.uint8)):
                raise Hint(
                    f"q for {label}: numbers outside [lo, hi] must be clamped to 0..255 before the cast "
                    "to uint8, which otherwise wraps around (256 → 0, −1 → 255)."
                )
            if torch.equal(q, ((codes - lo) / (hi - lo) * 256).round().clamp(0, 255).to(torch.uint8)):
                raise Hint(
                    f"q for {label}: 256 levels are 0..255, so the range is cut into 255 steps: multiply by 255."
                )
        expect_tensor(q, want_q, f"q for {label}")
        if isinstance(z_hat, torch.Tensor) and z_hat.shape == codes.shape:
            if torch.allclose(z_hat.float(), codes, atol=1e-6):
                raise Hint(f"z_hat for {label} equals z exactly: decode it from the bytes q, not from z.")
        expect_tensor(z_hat, dequantise(want_q, lo, hi), f"z_hat for {label}", atol=1e-5, rtol=1e-5)


# ---------------------------------------------------------------- 2. PCA by hand


def _projector(rows: torch.Tensor, k: int, smallest: bool = False) -> torch.Tensor:
    """(D, D): the projector onto the k directions of largest (or smallest) variance of ``rows``'
    right singular vectors — the eigenvectors of ``rowsᵀ rows``."""
    vh = torch.linalg.svd(rows, full_matrices=False)[2]
    chosen = vh[-k:] if smallest else vh[:k]
    return chosen.T @ chosen


def check_pca_reconstruct(fn) -> None:
    g = torch.Generator().manual_seed(0)
    spread = torch.linspace(3.0, 0.1, 12, dtype=torch.float64)  # distinct variances: a unique answer
    mixing = torch.linalg.qr(torch.randn(12, 12, generator=g, dtype=torch.float64))[0]
    train = (torch.randn(200, 12, generator=g, dtype=torch.float64) * spread) @ mixing.T + 4.0
    x = (torch.randn(7, 12, generator=g, dtype=torch.float64) * spread) @ mixing.T + 4.0
    mean, own = train.mean(0), x.mean(0)
    for k in (1, 3, 12):
        what = f"pca_reconstruct(train (200, 12), x (7, 12), k={k})"
        got = call(fn, train.clone(), x.clone(), k, what=what)
        top = _projector(train - mean, k)
        want = mean + (x - mean) @ top
        if isinstance(got, torch.Tensor) and got.shape == want.shape and k < 12:
            mistakes = [
                (x @ _projector(train, k), "subtract the training mean before finding the directions "
                 "and projecting, and add it back after decoding"),
                ((x - mean) @ top, "add the training mean back after decoding"),
                (mean + (x - mean) @ _projector(train - mean, k, smallest=True), "it keeps the k "
                 "directions of *smallest* variance: torch.linalg.eigh sorts eigenvalues in ascending "
                 "order, so take the last k eigenvectors"),
                (own + (x - own) @ top, "centre x with the *training* mean, not with x's own mean"),
            ]  # fmt: skip
            for wrong, message in mistakes:
                if torch.allclose(got.detach().to(torch.float64), wrong, atol=1e-4):
                    raise Hint(f"{what}: {message}.")
        expect_tensor(got, want, what, atol=1e-4, rtol=1e-4)


# ---------------------------------------------------------------- 3. a tiny convolutional autoencoder


def check_tiny_autoencoder(fn) -> None:
    torch.manual_seed(0)
    k = 5
    got = call(fn, k, what=f"make_autoencoder({k})")
    if not isinstance(got, (tuple, list)) or len(got) != 2 or not all(isinstance(m, nn.Module) for m in got):
        raise Hint("make_autoencoder should return a pair (encoder, decoder) of nn.Modules.")
    encoder, decoder = got
    modules = [*encoder.modules()]
    if not any(isinstance(m, nn.Conv2d) and max(m.stride) >= 2 for m in modules):
        raise Hint("the encoder needs at least one nn.Conv2d with stride 2, to shrink the image.")
    if not any(isinstance(m, nn.ConvTranspose2d) for m in decoder.modules()):
        raise Hint("the decoder needs at least one nn.ConvTranspose2d, to draw a larger image.")
    parameters = sum(p.numel() for p in [*encoder.parameters(), *decoder.parameters()])
    if parameters > 2_000_000:
        raise Hint(f"{parameters:,} parameters is far from tiny: aim for a few thousand.")
    x = torch.rand(4, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    z = call(encoder, x, what="encoder(x (4, 1, 28, 28))")
    if not isinstance(z, torch.Tensor) or tuple(z.shape) != (4, k):
        shape = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise Hint(
            f"encoder(x) has shape {shape}, expected (4, {k}): flatten the features and map them to k numbers (nn.Linear)."
        )
    out = call(decoder, z, what=f"decoder(z (4, {k}))")
    if not isinstance(out, torch.Tensor) or tuple(out.shape) != (4, 1, 28, 28):
        shape = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        hint = ""
        if isinstance(out, torch.Tensor) and out.dim() == 4 and out.shape[-1] in (13, 25, 27):
            hint = (" A ConvTranspose2d with kernel 3, stride 2 and padding 1 turns n pixels into 2n − 1:"
                    " add output_padding=1 to double the size exactly.")  # fmt: skip
        raise Hint(f"decoder(z) has shape {shape}, expected (4, 1, 28, 28).{hint}")
    far = call(
        decoder, 50 * torch.randn(4, k, generator=torch.Generator().manual_seed(1)), what="decoder(50·z)"
    )
    if not isinstance(far, torch.Tensor) or far.min() < 0 or far.max() > 1:
        raise Hint("the decoder's pixels leave [0, 1] for large codes: end it with nn.Sigmoid().")
    loss = ((out - x) ** 2).mean()
    loss.backward()
    dead = [name for name, p in [*encoder.named_parameters(), *decoder.named_parameters()] if p.grad is None]
    if dead:
        raise Hint(
            f"no gradient reaches {dead[0]}: every layer must be on the path from the image to the loss."
        )


EXERCISES = [
    Exercise(
        "quantise-round-trip",
        "quantise_round_trip",
        "store a code in 8 bits and read it back",
        check_quantise_round_trip,
    ),  # fmt: skip
    Exercise(
        "pca-reconstruct", "pca_reconstruct", "PCA's reconstruction with k directions", check_pca_reconstruct
    ),
    Exercise(
        "tiny-conv-autoencoder",
        "make_autoencoder",
        "a small convolutional encoder and decoder",
        check_tiny_autoencoder,
    ),  # fmt: skip
]
