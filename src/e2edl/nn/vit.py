"""A Vision Transformer (ViT), written out, with timm's parameter names.

Dosovitskiy et al., *An Image is Worth 16x16 Words* (2020). Cut the image into P×P patches, turn
each patch into a vector, and let a Transformer encoder relate the patches to each other::

    image (B, C, H, W)
    patch_embed   conv P×P, stride P = "flatten each patch, apply one Linear"   (B, N, D), N = HW/P²
    cls_token     one learned vector put in front of the patches                (B, 1 + N, D)
    pos_embed     + a position vector per token (learned, or fixed 2-D sin-cos) (B, 1 + N, D)
    blocks        depth × Block: x + attn(norm1(x)), then x + mlp(norm2(x))     (B, 1 + N, D)
    norm → x[:, 0] → head                                                       (B, num_classes)

Why each part is there: attention treats its input as a *set*, so without ``pos_embed`` the
model could not tell a patch at the top from one at the bottom. The CLS token has no patch of
its own; after the blocks it has gathered what the classifier needs from every patch, so one
vector, always at position 0, carries the image's summary.

``ViT.state_dict()`` uses timm's names (``patch_embed.proj``, ``blocks.0.attn.qkv``, ``norm``,
``head``, ...): ``ViTConfig.timm_kwargs()`` builds the matching
``timm.models.vision_transformer.VisionTransformer``, and weights load either way.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from e2edl.nn.attention import Attention


@dataclass(frozen=True)
class ViTConfig:
    """A ViT's shape. Frozen: derive variants with ``dataclasses.replace(cfg, depth=6)``."""

    image_size: int = 28
    patch_size: int = 7
    in_channels: int = 1
    num_classes: int = 10
    dim: int = 64  # D: the width of every token vector
    depth: int = 4  # number of Blocks
    n_heads: int = 4  # head width = dim // n_heads
    mlp_ratio: float = 2.0  # hidden width of each Block's MLP = mlp_ratio · dim
    qkv_bias: bool = True
    positions: str = "learned"  # "learned" or "sincos" (fixed 2-D sin-cos, not trained)
    stem: str = "patch"  # "patch" (one strided conv, the ViT's) or "conv" (small CNN, see ConvStem)
    norm: str = "layer"  # "layer" (LayerNorm, the ViT's) or "batch" (BatchNorm over tokens)
    dropout: float = 0.0

    @property
    def grid(self) -> int:
        """Patches per side: the image becomes a grid × grid sequence."""
        return self.image_size // self.patch_size

    def timm_kwargs(self) -> dict:
        """Keyword arguments for timm's ``VisionTransformer`` that build this same network."""
        if self.norm != "layer" or self.stem != "patch":
            raise ValueError("timm's plain ViT has LayerNorm and a patch stem; only those have a timm twin")
        return {
            "img_size": self.image_size, "patch_size": self.patch_size, "in_chans": self.in_channels,
            "num_classes": self.num_classes, "embed_dim": self.dim, "depth": self.depth,
            "num_heads": self.n_heads, "mlp_ratio": self.mlp_ratio, "qkv_bias": self.qkv_bias,
            "class_token": True, "global_pool": "token",
        }  # fmt: skip


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """(B, C, H, W) → (B, N, C·P·P): each non-overlapping P×P patch flattened, row by row.

    ``F.unfold`` flattens a patch channel-major (C, then P rows, then P columns) — the order of
    ``conv.weight.flatten(1)``, which is why a P×P convolution with stride P equals
    ``patchify`` followed by a Linear with that weight.
    """
    return F.unfold(images, kernel_size=patch_size, stride=patch_size).transpose(1, 2)


class PatchEmbedding(nn.Module):
    """(B, C, H, W) → (B, N, D): a P×P convolution with stride P, i.e. one Linear per patch."""

    def __init__(self, patch_size: int, in_channels: int, dim: int) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=patch_size, stride=patch_size)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.proj(images)  # (B, D, H/P, W/P)
        return x.flatten(2).transpose(1, 2)  # (B, N, D), patches in row-major order


class ConvStem(nn.Module):
    """(B, C, H, W) → (B, N, D) like ``PatchEmbedding``, but through log2(P) 3×3 convolutions of
    stride 2 (each with BatchNorm and ReLU) and a final 1×1 projection.

    Xiao et al., *Early Convolutions Help Transformers See Better* (2021); the "hybrid" of the
    ViT paper is the same idea. The tokens are the same grid as P×P patches, but each is built
    from overlapping local features instead of one linear map of raw pixels — a little of the
    CNN's inductive bias, which pays off when the data set is small.
    """

    def __init__(self, patch_size: int, in_channels: int, dim: int) -> None:
        super().__init__()
        n_layers = patch_size.bit_length() - 1
        if 2**n_layers != patch_size:
            raise ValueError(f"the conv stem needs a power-of-two patch size, got {patch_size}")
        widths = [in_channels] + [dim // 2 ** (n_layers - 1 - i) for i in range(n_layers)]
        layers = []
        for c_in, c_out in zip(widths, widths[1:]):
            layers += [
                nn.Conv2d(c_in, c_out, 3, stride=2, padding=1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
            ]
        self.convs = nn.Sequential(*layers)
        self.proj = nn.Conv2d(widths[-1], dim, kernel_size=1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = self.proj(self.convs(images))  # (B, D, H/P, W/P)
        return x.flatten(2).transpose(1, 2)  # (B, N, D)


def sincos_positions(grid: int, dim: int, temperature: float = 10_000.0) -> torch.Tensor:
    """Fixed 2-D sin-cos position vectors (grid·grid, dim): half the channels encode the row,
    half the column, each as sines and cosines at ``dim // 4`` geometrically spaced frequencies
    (as in MAE and "Better plain ViT baselines")."""
    if dim % 4:
        raise ValueError(f"sin-cos positions need dim divisible by 4, got {dim}")
    rows, cols = torch.meshgrid(torch.arange(grid), torch.arange(grid), indexing="ij")
    frequencies = temperature ** -(torch.arange(dim // 4) / (dim // 4))  # (dim/4,)
    angles_r = rows.flatten()[:, None] * frequencies  # (N, dim/4)
    angles_c = cols.flatten()[:, None] * frequencies
    return torch.cat([angles_r.sin(), angles_r.cos(), angles_c.sin(), angles_c.cos()], dim=1)


class TokenBatchNorm(nn.BatchNorm1d):
    """BatchNorm for (B, T, D) tokens: each of the D channels normalised over all B·T tokens."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(x.transpose(1, 2)).transpose(1, 2)  # BatchNorm1d wants (B, D, T)


def make_norm(kind: str, dim: int) -> nn.Module:
    if kind == "layer":
        return nn.LayerNorm(dim, eps=1e-6)  # timm's eps
    if kind == "batch":
        return TokenBatchNorm(dim)
    raise ValueError(f"norm must be 'layer' or 'batch', got {kind!r}")


class Mlp(nn.Module):
    """(B, T, D) → (B, T, D): Linear → GELU → Linear, the same for every token."""

    def __init__(self, dim: int, hidden: int, dropout: float = 0.0) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.act(self.fc1(x))))


class Block(nn.Module):
    """A pre-norm Transformer block: tokens talk (attention), then each thinks alone (MLP).

    Normalising *before* each sub-layer leaves the residual path ``x + ...`` untouched from the
    first block to the last, which is what lets deep Transformers train without warm-up tricks.
    """

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        self.norm1 = make_norm(cfg.norm, cfg.dim)
        self.attn = Attention(cfg.dim, cfg.n_heads, qkv_bias=cfg.qkv_bias)
        self.norm2 = make_norm(cfg.norm, cfg.dim)
        self.mlp = Mlp(cfg.dim, int(cfg.dim * cfg.mlp_ratio), cfg.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))  # (B, T, D)
        return x + self.mlp(self.norm2(x))  # (B, T, D)


class ViT(nn.Module):
    """Images (B, C, H, W) → logits (B, num_classes), classified from the CLS token."""

    def __init__(self, cfg: ViTConfig) -> None:
        super().__init__()
        if cfg.image_size % cfg.patch_size:
            raise ValueError(f"image_size {cfg.image_size} is not a multiple of patch_size {cfg.patch_size}")
        self.cfg = cfg
        n_tokens = cfg.grid**2 + 1
        self.cls_token = nn.Parameter(torch.zeros(1, 1, cfg.dim))
        if cfg.positions == "learned":
            self.pos_embed = nn.Parameter(torch.zeros(1, n_tokens, cfg.dim))
        elif cfg.positions == "sincos":  # a buffer: saved with the weights, never trained
            fixed = torch.cat([torch.zeros(1, cfg.dim), sincos_positions(cfg.grid, cfg.dim)])
            self.register_buffer("pos_embed", fixed.unsqueeze(0))  # CLS row: zeros
        else:
            raise ValueError(f"positions must be 'learned' or 'sincos', got {cfg.positions!r}")
        if cfg.stem not in ("patch", "conv"):
            raise ValueError(f"stem must be 'patch' or 'conv', got {cfg.stem!r}")
        stem = PatchEmbedding if cfg.stem == "patch" else ConvStem
        self.patch_embed = stem(cfg.patch_size, cfg.in_channels, cfg.dim)
        self.blocks = nn.Sequential(*(Block(cfg) for _ in range(cfg.depth)))
        self.norm = make_norm(cfg.norm, cfg.dim)
        self.head = nn.Linear(cfg.dim, cfg.num_classes)
        self.drop = nn.Dropout(cfg.dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Small truncated-normal weights (std 0.02) and zero biases, as timm and BERT do."""
        for module in self.modules():
            if isinstance(module, nn.Linear):
                nn.init.trunc_normal_(module.weight, std=0.02)
                nn.init.zeros_(module.bias) if module.bias is not None else None
        nn.init.trunc_normal_(self.cls_token, std=0.02)
        if isinstance(self.pos_embed, nn.Parameter):
            nn.init.trunc_normal_(self.pos_embed, std=0.02)

    def forward_features(self, images: torch.Tensor) -> torch.Tensor:
        """(B, C, H, W) → (B, 1 + N, D): every token after the last block and the final norm."""
        x = self.patch_embed(images)  # (B, N, D)
        cls = self.cls_token.expand(len(x), -1, -1)  # (B, 1, D)
        x = torch.cat([cls, x], dim=1) + self.pos_embed  # (B, 1 + N, D)
        x = self.blocks(self.drop(x))
        return self.norm(x)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.forward_features(images)[:, 0])  # classify from CLS: (B, num_classes)

    def no_weight_decay(self) -> set[str]:
        """Names of parameters that weight decay should skip besides biases and norm scales (timm's
        convention, read by ``e2edl.train.weight_decay_groups``): the CLS token and the positions."""
        return {"cls_token", "pos_embed"}


# ---------------------------------------------------------------------------- looking inside


@torch.no_grad()
def attention_maps(model: ViT, images: torch.Tensor) -> list[torch.Tensor]:
    """Each block's attention weights for ``images``: a list of depth tensors (B, nh, T, T)."""
    layers = [block.attn for block in model.blocks]
    for attn in layers:
        attn.keep_attention = True
    try:
        model(images)
        return [attn.attention_weights for attn in layers]
    finally:
        for attn in layers:
            attn.keep_attention, attn.attention_weights = False, None


def attention_rollout(maps: list[torch.Tensor]) -> torch.Tensor:
    """Abnar & Zuidema's rollout: how much each output token draws on each input token.

    Per block: average the heads, add the identity for the residual connection and renormalise
    (``(A + I) / 2``), then multiply the blocks' matrices. (B, T, T), rows summing to 1.
    """
    eye = torch.eye(maps[0].size(-1), device=maps[0].device)
    rollout = eye.expand_as(maps[0][:, 0])  # (B, T, T)
    for weights in maps:
        mixed = (weights.mean(dim=1) + eye) / 2  # (B, T, T)
        rollout = mixed @ rollout
    return rollout


def cls_rollout(model: ViT, images: torch.Tensor) -> torch.Tensor:
    """(B, grid, grid): how much the CLS token's final state draws on each patch (rows sum to 1)."""
    rollout = attention_rollout(attention_maps(model, images))  # (B, T, T)
    from_cls = rollout[:, 0, 1:]  # (B, N): skip CLS → CLS
    from_cls = from_cls / from_cls.sum(dim=1, keepdim=True)
    return from_cls.reshape(-1, model.cfg.grid, model.cfg.grid)


def position_similarity(pos_embed: torch.Tensor, grid: int) -> torch.Tensor:
    """Cosine similarity between the patches' position vectors: (grid, grid, grid, grid), where
    ``[i, j]`` is the map of how alike patch (i, j)'s position is to every other patch's."""
    patches = F.normalize(pos_embed.reshape(-1, pos_embed.size(-1))[-grid * grid :], dim=1)  # (N, D)
    return (patches @ patches.T).reshape(grid, grid, grid, grid)
