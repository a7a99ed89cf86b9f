# ---
# jupyter:
#   jupytext:
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 09 · Vision Transformers from scratch
#
# A convolutional network (lesson 04) is built on two assumptions about images: what matters is
# *local*, and the same pattern means the same thing *anywhere*. A **Vision Transformer** (ViT)
# drops both. It cuts the image into patches, treats them as a sequence of "words", and lets every
# patch look at every other patch through **attention** — a layer whose connections are computed
# from the data instead of being fixed by a kernel's size.
#
# We build every piece in the open, check each against a reference implementation, and then train:
#
# 1. patches: an image becomes a sequence;
# 2. the CLS token and position embeddings;
# 3. one attention head;
# 4. many heads — first a loop, then one fused, fast layer;
# 5. the full ViT, checked weight for weight against `timm`'s;
# 6. LayerNorm versus BatchNorm;
# 7. the library's run: MNIST, Dogs vs Cats from scratch, and two measured comparisons —
#    normalisation layers, and attention versus convolution on small data;
# 8. where a trained ViT looks: attention maps and attention rollout.

# %%
import math
import os
import subprocess
import sys
from pathlib import Path

if "google.colab" in sys.modules:  # on Colab, install the course library first
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "e2edl[pretrained] @ git+https://github.com/e2edl/e2edl",
        ],
        check=True,
    )

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from e2edl.data import load_mnist, load_pets_tensors

QUICK = os.environ.get("E2EDL_QUICK") == "1"  # CI runs every notebook in quick mode
RUNS = Path(os.environ.get("E2EDL_RUNS", "runs"))
torch.manual_seed(0)

x_test, y_test = load_mnist("test")
digit = ((x_test[0].float() / 255 - 0.1307) / 0.3081).reshape(1, 1, 28, 28)  # (B=1, C=1, H, W), normalised
pets = load_pets_tensors(64)  # Dogs vs Cats, every photo decoded once to 64×64 uint8 and cached
photo = pets.images[1]  # (3, 64, 64) uint8
print("a test digit:", y_test[0].item(), tuple(digit.shape))
print(
    "a photo:", pets.class_names[pets.labels[1]], tuple(photo.shape), f"({len(pets.images):,} photos in all)"
)

# %% [markdown]
# ## 1. Patches: an image becomes a sequence
#
# A Transformer reads a sequence of vectors. To feed it an image, cut the image into
# non-overlapping P×P **patches**, flatten each patch, and map it with one shared linear layer to
# a vector of width D (the model width). A 64×64 photo with 8×8 patches becomes a sequence of
# 8·8 = 64 patches, each 3·8·8 = 192 numbers long:

# %%
P = 8
image = photo.float().unsqueeze(0) / 255  # (1, 3, 64, 64)
patches = F.unfold(image, kernel_size=P, stride=P).transpose(1, 2)  # (B, N, C·P·P)
print("image", tuple(image.shape), "→ patches", tuple(patches.shape))

fig, axes = plt.subplots(1, 2, figsize=(9, 3.2), gridspec_kw={"width_ratios": [1, 2.4]})
axes[0].imshow(photo.permute(1, 2, 0))
for k in range(0, 65, P):
    axes[0].axhline(k - 0.5, color="white", lw=0.8)
    axes[0].axvline(k - 0.5, color="white", lw=0.8)
axes[0].set_title("64×64 photo, 8×8 patches", fontsize=9)
sequence = patches[0, :16].reshape(16, 3, P, P).permute(0, 2, 3, 1)  # the first two rows of patches
axes[1].imshow(torch.cat([torch.nn.functional.pad(p, (0, 0, 0, 2), value=1) for p in sequence], dim=1))
axes[1].set_title("the sequence: patches 0-15, read row by row", fontsize=9)
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# "Flatten each patch, then one `Linear`" is exactly a convolution with a P×P kernel and stride P:
# the kernel never overlaps itself, so each output position sees one patch, and the kernel's
# weights, flattened, are the linear layer's weight matrix. ViTs are written with the convolution
# (it is faster); the two are the same map, to float32 rounding:

# %%
D = 96
conv = nn.Conv2d(3, D, kernel_size=P, stride=P)
linear = nn.Linear(3 * P * P, D)
with torch.no_grad():
    linear.weight.copy_(conv.weight.flatten(1))  # (D, C, P, P) → (D, C·P·P)
    linear.bias.copy_(conv.bias)
    by_conv = conv(image).flatten(2).transpose(1, 2)  # (B, D, 8, 8) → (B, N, D)
    by_linear = linear(patches)  # (B, N, D)
print("conv", tuple(by_conv.shape), " unfold+linear", tuple(by_linear.shape))
print(f"largest difference: {(by_conv - by_linear).abs().max():.2e}")

# %% [markdown]
# `e2edl.nn.vit.PatchEmbedding` is this convolution (timm names it `patch_embed.proj`, and so do
# we); `e2edl.nn.vit.patchify` is the unfold. `tests/test_vit.py` checks they agree for several
# image and patch sizes.
#
# ## 2. The CLS token and position embeddings
#
# Two things are added to the sequence before any attention happens.
#
# **Positions.** Attention, as we will see, compares every token with every other token and
# takes weighted averages. Nothing in that depends on the *order* of the tokens: shuffle the
# patches and the outputs are shuffled the same way, with the same values. A ViT without
# positions sees a bag of patches — it could not tell a face from a scrambled face. So each
# position gets a vector that is *added* to the patch vector in that slot. Two common choices:
#
# - **learned**: one free parameter vector per position, trained with the rest (the original
#   ViT, and `timm`'s default);
# - **fixed 2-D sin-cos**: half of the channels encode the row and half the column, as sines and
#   cosines at geometrically spaced frequencies. Nothing to learn, and nearby positions get similar
#   vectors by construction.
#
# A position vector's *similarity* to the others shows what it encodes. For the fixed sin-cos
# vectors of an 8×8 grid (each small square: one patch's cosine similarity to all 64 positions):

# %%
from e2edl.nn.vit import position_similarity, sincos_positions

fixed = sincos_positions(grid=8, dim=D)  # (64, D)
similarity = position_similarity(fixed, grid=8)  # (8, 8, 8, 8)
fig, axes = plt.subplots(8, 8, figsize=(4.5, 4.5))
for i in range(8):
    for j in range(8):
        axes[i, j].imshow(similarity[i, j], cmap="viridis")  # each map on its own colour scale
        axes[i, j].axis("off")
fig.suptitle("Fixed 2-D sin-cos positions: similarity of each patch's vector to all others", fontsize=9)
plt.show()

# %% [markdown]
# Each square lights up around its own location: the vectors encode "where", and nearness in the
# grid is nearness of the vectors. Learned positions start as random noise and must *discover*
# this from the data; section 8 shows what they look like after training.
#
# **The CLS token.** A classifier needs one vector per image, but the encoder outputs one per
# patch. We could average them; the ViT instead puts an extra learned vector, the *class token*,
# in front of the sequence (a trick from BERT). It has no patch of its own, so it has nothing to
# say except what it gathers by attending to the patches — and after the last block its vector is
# what the classification head reads. (Averaging the patch outputs works about as well; CLS is
# what timm's ViT and the original paper use, and it gives us a natural place to ask "where did
# the model look?" in section 8.)

# %%
cls_token = torch.zeros(1, 1, D)  # a parameter in the real model
pos_embed = torch.zeros(1, 1 + 64, D)  # learned: a parameter too, one row per token
tokens = torch.cat([cls_token.expand(len(by_conv), -1, -1), by_conv], dim=1) + pos_embed
print("patches", tuple(by_conv.shape), "→ with CLS and positions", tuple(tokens.shape))

# %% [markdown]
# ## 3. One attention head
#
# Each token's vector is projected three ways by three linear layers:
#
# - a **query** `q`: what this token is looking for;
# - a **key** `k`: what this token offers to others looking;
# - a **value** `v`: what it hands over when chosen.
#
# Token *i*'s output is a weighted average of all the values, with weights
# `softmax_j(q_i · k_j / √hs)`: the more a key matches the query, the more of its value flows in.
# Every token can draw on every other in one step — the "receptive field" is the whole image.
#
# The division by `√hs` matters. With `hs` numbers per query and key, their dot product is a sum
# of `hs` terms, so at initialisation its variance grows like `hs`; large scores push the softmax
# towards a one-hot vector whose gradients vanish. Dividing by `√hs` — where `hs` is the width of
# **one head**, the width that the dot product actually sums over, *not* the model width — brings
# the variance back to about 1:

# %%
for hs in (8, 64, 512):
    q, k = torch.randn(10_000, hs), torch.randn(10_000, hs)
    raw = (q * k).sum(-1)
    print(f"hs={hs:>3}: variance of q·k = {raw.var():6.1f}, of q·k/√hs = {(raw / math.sqrt(hs)).var():.2f}")


# %% [markdown]
# Here is a head, written out:


# %%
class Head(nn.Module):
    """One attention head: (B, T, D) → (B, T, hs), plus its weights (B, T, T)."""

    def __init__(self, dim, head_size):
        super().__init__()
        self.query = nn.Linear(dim, head_size)
        self.key = nn.Linear(dim, head_size)
        self.value = nn.Linear(dim, head_size)

    def forward(self, x):
        q, k, v = self.query(x), self.key(x), self.value(x)  # (B, T, hs) each
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, T, T)
        weights = scores.softmax(dim=-1)  # each row sums to 1
        return weights @ v, weights  # (B, T, hs), (B, T, T)


torch.manual_seed(0)
head = Head(D, 24)
out, weights = head(tokens)
print("tokens", tuple(tokens.shape), "→ head output", tuple(out.shape), " weights", tuple(weights.shape))

# %% [markdown]
# The weights form a T×T matrix: row *i* says where token *i* takes its information from. Even
# with random projections the matrix has structure on a real input — the patches of the photo
# are compared by content. Drawing row 0 (the CLS token) and a patch's row back onto the 8×8 grid:

# %%
with torch.no_grad():
    _, weights = head(tokens)  # (1, 65, 65)
fig, axes = plt.subplots(1, 3, figsize=(9, 3))
axes[0].imshow(weights[0], cmap="viridis")
axes[0].set_title("attention matrix (65×65)", fontsize=9)
axes[1].imshow(weights[0, 1 + 27, 1:].reshape(8, 8), cmap="viridis")
axes[1].set_title("where patch (3, 3) looks", fontsize=9)
axes[2].imshow(photo.permute(1, 2, 0))
axes[2].set_title("the photo", fontsize=9)
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# A **mask** says which keys a query may look at: a causal mask (a token sees only the past, as
# in GPT) or a padding mask (ignore the filler at the end of short sequences). It is
# applied by setting the forbidden scores to −∞ before the softmax, so they get exactly zero
# weight. `e2edl.nn.attention.attention(q, k, v, mask)` is the head's formula with a mask; the
# tests check it against PyTorch's `F.scaled_dot_product_attention` for random shapes and masks.
#
# ## 4. Many heads: a loop, then all at once
#
# One head computes one kind of "who should I listen to". **Multi-head** attention runs several
# heads side by side, each in a narrower subspace (`hs = D / n_heads`), concatenates their
# outputs, and mixes them with a final linear projection. The obvious way to write it is a loop:


# %%
class LoopMultiHead(nn.Module):
    """n_heads heads, one after another: (B, T, D) → (B, T, D)."""

    def __init__(self, dim, n_heads):
        super().__init__()
        self.heads = nn.ModuleList(Head(dim, dim // n_heads) for _ in range(n_heads))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        return self.proj(torch.cat([head(x)[0] for head in self.heads], dim=-1))  # (B, T, D)


# %% [markdown]
# That runs `3·n_heads` small matrix products one at a time. The fast way notices that all the
# queries, keys and values of all heads are *one* linear map of `x` to `3·D` numbers, and that
# the heads' attention products are independent, so a batched matmul over a `(B, nh, T, hs)`
# tensor does them together:


# %%
class FusedMultiHead(nn.Module):
    """Same map, one qkv projection and all heads in one batched matmul."""

    def __init__(self, dim, n_heads):
        super().__init__()
        self.n_heads = n_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        B, T, C = x.shape
        qkv = self.qkv(x).reshape(B, T, 3, self.n_heads, C // self.n_heads)  # (B, T, 3, nh, hs)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # (B, nh, T, hs) each
        weights = (q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))).softmax(-1)  # (B, nh, T, T)
        y = (weights @ v).transpose(1, 2).reshape(B, T, C)  # heads side by side: (B, T, nh·hs)
        return self.proj(y)


# %% [markdown]
# To check that they are the same map, copy the loop's weights into the fused layer: the fused
# `qkv` weight is all heads' query weights stacked, then all keys, then all values. And PyTorch's
# `F.scaled_dot_product_attention` computes the middle step with a fused kernel:

# %%
torch.manual_seed(0)
loop = LoopMultiHead(D, n_heads=4)
fused = FusedMultiHead(D, n_heads=4)
with torch.no_grad():
    for i, name in enumerate(("query", "key", "value")):
        fused.qkv.weight[i * D : (i + 1) * D] = torch.cat([getattr(h, name).weight for h in loop.heads])
        fused.qkv.bias[i * D : (i + 1) * D] = torch.cat([getattr(h, name).bias for h in loop.heads])
    fused.proj.load_state_dict(loop.proj.state_dict())
    q, k, v = fused.qkv(tokens).reshape(1, 65, 3, 4, D // 4).permute(2, 0, 3, 1, 4)
    by_sdpa = fused.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(1, 65, D))
    print(f"loop vs fused: {(loop(tokens) - fused(tokens)).abs().max():.1e}")
    print(f"fused vs F.scaled_dot_product_attention: {(fused(tokens) - by_sdpa).abs().max():.1e}")

# %% [markdown]
# This is what `e2edl.nn.attention.Attention` does — with masks, and calling
# `F.scaled_dot_product_attention` unless asked to keep the attention weights for a picture.
# `e2edl.nn.attention.LoopMultiHeadAttention` is the loop, kept for the tests (loop = fused = SDPA
# within float32 tolerance, with and without masks, for random shapes, gradients included) and
# for `benchmarks/vit_attention.py`, which times the three. From here on we use the library's.
#
# ## 5. The full ViT
#
# A Transformer **block** is attention ("tokens talk to each other") followed by an **MLP**
# (Linear → GELU → Linear, applied to each token on its own: "each token thinks"), each wrapped in
# a residual connection and preceded by a LayerNorm — the *pre-norm* layout:
#
# ```
# x = x + attn(norm1(x))
# x = x + mlp(norm2(x))
# ```
#
# With the norms inside the branches, the residual path carries `x` unchanged from the first block
# to the last, which keeps deep stacks easy to train. The whole model, in
# `e2edl.nn.vit`:

# %%
from e2edl.nn.vit import ViT, ViTConfig

cfg = ViTConfig(image_size=64, patch_size=8, in_channels=3, num_classes=2, dim=128, depth=6, n_heads=4)
vit = ViT(cfg).eval()
print(vit.blocks[0])
x = (photo.float().unsqueeze(0) / 255 - 0.45) / 0.25
steps = {
    "image": x,
    "patch_embed": vit.patch_embed(x),
    "+ CLS, + positions": torch.cat([vit.cls_token, vit.patch_embed(x)], 1) + vit.pos_embed,
    "after the blocks + norm": vit.forward_features(x),
    "head(CLS)": vit(x),
}
for name, value in steps.items():
    print(f"{name:<24} {tuple(value.shape)}")
print(f"parameters: {sum(p.numel() for p in vit.parameters()):,}")

# %% [markdown]
# Every parameter name (`patch_embed.proj`, `cls_token`, `pos_embed`, `blocks.0.attn.qkv`,
# `blocks.0.mlp.fc1`, `norm`, `head`) is `timm`'s. So a `timm` ViT of the same configuration —
# `ViTConfig.timm_kwargs()` gives its arguments — can hand us its weights, and both must then
# compute the same function:

# %%
from timm.models.vision_transformer import VisionTransformer

reference = VisionTransformer(**cfg.timm_kwargs()).eval()
vit.load_state_dict(reference.state_dict())  # strict: every name present, every shape equal
with torch.no_grad():
    print(f"ours vs timm, largest logit difference: {(vit(x) - reference(x)).abs().max():.1e}")

# %% [markdown]
# ## 6. LayerNorm, not BatchNorm
#
# Lesson 04's CNN used BatchNorm: normalise each channel with the mean and variance over the
# *batch*. Transformers use **LayerNorm**: normalise each token's vector over its own D channels.
# The difference is what the output depends on. With BatchNorm a token's output depends on the
# other examples in the batch — and in a sequence model also on the other tokens, padding
# included; in eval mode it depends instead on running averages collected in training, which can
# disagree with what the batch looked like. LayerNorm looks at nothing but the token itself:

# %%
from e2edl.nn.vit import TokenBatchNorm

torch.manual_seed(0)
batch = torch.randn(8, 10, 16) * 2 + 1  # (B, T, D)
padded = torch.cat([batch, torch.zeros(8, 6, 16)], dim=1)  # six padding tokens per sequence
other_batch = torch.cat([batch[:1], torch.randn(7, 10, 16) * 4 - 2])  # same first example
for norm in (nn.LayerNorm(16), TokenBatchNorm(16)):
    with torch.no_grad():
        reference_out = norm(batch)[0]
        changes = {
            "other examples in the batch": norm(other_batch)[0],
            "batch of one": norm(batch[:1])[0],
            "six padding tokens appended": norm(padded)[0, :10],
            "eval mode": norm.eval()(batch)[0],
        }
        norm.train()
    print(type(norm).__name__)
    for what, value in changes.items():
        print(f"  {what:<30} changes example 0's output by {(value - reference_out).abs().max():.3f}")

# %% [markdown]
# For LayerNorm every change is zero (to rounding); for BatchNorm none is. The library's run below
# trains a small MNIST ViT both ways on the same data (20,000 digits, 3 epochs; quick mode: 10,000
# digits, one epoch) and tests each the ways a model gets used: eval mode, batch statistics (a
# model left in train mode), and one image at a time.
#
# ## 7. Training: the library's run
#
# `run_lesson("vit")` trains, with `fit`, AdamW, a linear warm-up then cosine decay of the
# learning rate, and label smoothing 0.1:
#
# - **MNIST**: 7×7 patches (16 tokens + CLS), D = 64, 6 blocks of 4 heads, random shifts of up
#   to one pixel, 16 epochs; the claim is ≥ 98.5% test accuracy. ViTs are slow learners here:
#   4×4 patches (49 tokens) with 4 blocks for 5 epochs — the same compute — stopped at 96.5%.
# - **Dogs vs Cats from scratch**: the 10,000 photos of the course mirror at 64×64, split 80/20
#   per class; a 64-token ViT (an 8×8 grid), D = 96, 6 blocks, random resized crops and flips,
#   16 epochs. A public example training a ViT on this data from scratch reports 68.6%; our target
#   is 75%, the claim's floor 70%.
# - **LayerNorm vs BatchNorm**, and **attention vs convolution**, on MNIST with a smaller ViT
#   (4 blocks instead of 6) — tables below.
#
# Quick mode (CI) trains less of each: the small MNIST ViT for one epoch, and pets at 32×32
# (16 tokens) for three.
#
# One change for Dogs vs Cats. 8,000 training photos are very few for a model that must learn
# from data everything a CNN is told — that nearby pixels belong together — and a plain ViT
# learns slowly on them: trying it while preparing this lesson, it was still at 55-59% validation
# accuracy after five epochs. The pets model therefore builds its tokens with a **convolutional
# stem** instead of one 8×8 linear map per patch: three 3×3 convolutions of stride 2 (64 → 32 →
# 16 → 8 pixels), then a 1×1 projection to D — the same 8×8 grid of tokens, each made of
# overlapping local features (Xiao et al., *Early Convolutions Help Transformers See Better*,
# 2021; the ViT paper's "hybrid" is the same idea). Everything after the tokens is the ViT above,
# unchanged:

# %%
from e2edl.experiments.vit import MNIST_VIT, MNIST_VIT_QUICK, PETS_VIT, PETS_VIT_QUICK

pets_cfg = PETS_VIT_QUICK if QUICK else PETS_VIT
pets_vit = ViT(pets_cfg)
print(pets_vit.patch_embed)
print(
    "photo",
    tuple(image.shape),
    "→ tokens",
    tuple(pets_vit.patch_embed(F.interpolate(image, pets_cfg.image_size)).shape),
)

# %%
from e2edl.figures import show_saved
from e2edl.course import passed, run_lesson

out = RUNS / "09_vit"
result = run_lesson("vit", quick=QUICK, out=out)
metrics = result["metrics"]
print(f"MNIST: {metrics['mnist_test_accuracy']:.4f} test accuracy, {metrics['mnist_train_seconds']:.0f} s")
print(f"Dogs vs Cats at {metrics['pets_resolution']} px: {metrics['pets_val_accuracy']:.4f} validation "
      f"accuracy, {metrics['pets_train_seconds']:.0f} s")  # fmt: skip
show_saved(out / "mnist_curves.png", out / "pets_curves.png", width=5)

# %% [markdown]
# What the full run (`e2edl run vit`) measured on a two-core CPU machine, each training on one
# thread while another job used the second core:
#
# | part | result | training time |
# |---|---|---|
# | MNIST ViT, 28 px, 7×7 patches, 16 epochs | **98.81%** test accuracy (claim ≥ 98.5%) | 606 s (about 37 s an epoch) |
# | Dogs vs Cats ViT, 64 px, conv stem, 16 epochs | **77.85%** validation accuracy (target 75%, floor 70%) | 788 s (about 49 s an epoch) |
#
# Validation accuracy on Dogs vs Cats jumps by several points from epoch to epoch (the curve
# above): 2,000 validation photos and a model still far from converged. More epochs, larger
# images (96-128 px) and stronger augmentation (mixup, RandAugment) are what would take it
# further.
#
# ### LayerNorm vs BatchNorm, measured
#
# Accuracy of each trained ViT on the MNIST test set, tested four ways (the batch-of-one columns
# use the first 500 test digits):

# %%
print(
    f"{'norm':<6} {'eval mode':>10} {'batch stats, 256':>17} {'one image, eval':>16} {'one image, batch stats':>23}"
)
for row in result["details"]["norms"]:
    print(f"{row['norm']:<6} {row['test_accuracy']:>10.4f} {row['batch_statistics_256']:>17.4f} "
          f"{row['batch_of_one_eval_mode']:>16.4f} {row['batch_of_one_batch_statistics']:>23.4f}")  # fmt: skip

# %% [markdown]
# Read the LayerNorm row in pairs: the first two columns (all 10,000 test digits) agree, and so
# do the last two (the first 500) — whether statistics could come from the batch or not, its
# output depends on the image alone. BatchNorm is no worse at *training*: in the full run it even
# learned faster in this short budget (0.85 against LayerNorm's 0.77 test accuracy after three
# epochs of 20,000 digits). What goes wrong is how its answers depend on the way it is called:
# left in train mode and fed one image at a time, its statistics come from the 17 tokens of that
# one image, and the full run's accuracy fell from 0.83 to 0.50. In language models, where
# batches mix sequences of different lengths padded to one size, that dependence is a bug
# factory — one reason Transformers use LayerNorm.
#
# ### Attention vs convolution, measured
#
# Attention can connect any two patches in one layer; a 5×5 convolution connects only neighbours,
# and needs depth to see far. That freedom is a weaker *inductive bias*: the CNN is told "nearby
# pixels matter together, and patterns are the same everywhere"; the ViT must learn it — including
# what positions mean — from data. Lesson 04's CNN and the small MNIST ViT, same optimizer, same
# number of steps, on 1,000 and 10,000 training digits (quick mode: 1,000 only, fewer steps):

# %%
print(
    f"{'model':<6} {'train digits':>12} {'epochs':>7} {'parameters':>11} {'test accuracy':>14} {'seconds':>8}"
)
for row in result["details"]["cnn_vs_vit"]:
    print(f"{row['model']:<6} {row['train_size']:>12,} {row['epochs']:>7} {row['parameters']:>11,} "
          f"{row['test_accuracy']:>14.4f} {row['train_seconds']:>8.1f}")  # fmt: skip

# %% [markdown]
# With little data the convolution's built-in assumptions are worth a lot. In the full run the
# CNN led by 9 points on 1,000 digits (0.977 against 0.886) and by 6 on 10,000 (0.991 against
# 0.932): the gap narrows as the data grows, and on all 60,000 digits the larger ViT above gets
# close to the CNNs of lesson 04. This is the original ViT paper's finding at scale: ViTs lose to
# ResNets when trained on ImageNet's 1.3 M images and win when pre-trained on 300 M. Lesson 07
# took the other road — start from a network already trained on ImageNet.
#
# The receptive field, measured rather than asserted: how much one output position of the first
# layer changes when each input pixel changes (the gradient's magnitude), for a 5×5 convolution
# and for one ViT block on 7×7 patches:

# %%
probe = digit.clone().requires_grad_(True)
conv5 = nn.Conv2d(1, 8, 5, padding=2)
conv5(probe)[0, :, 14, 14].sum().backward()
conv_field = probe.grad[0, 0].abs()
probe.grad = None
mnist_vit = ViT(ViTConfig(depth=1))
mnist_vit.forward_features(probe)[0, 1 + 9].sum().backward()  # the token of patch (2, 1)
vit_field = probe.grad[0, 0].abs()
fig, axes = plt.subplots(1, 2, figsize=(5, 2.6))
for ax, field, title in zip(
    axes, (conv_field, vit_field), ("5×5 conv: one output", "one ViT block: one token")
):
    ax.imshow(field > 0, cmap="gray")
    ax.set_title(f"{title}\n{int((field > 0).sum())} of 784 pixels", fontsize=8)
    ax.axis("off")
plt.show()

# %% [markdown]
# ## 8. Inside the trained ViTs
#
# **Learned positions.** The similarity map of section 2, now for the *learned* position vectors
# after training (for the quick run, after very little training). They started as random noise;
# no one told the model that the patches form a grid:

# %%
show_saved(out / "mnist_positions.png", out / "pets_positions.png", width=4.5)

# %% [markdown]
# In the full run the learned positions are no longer noise. Both models learned first what
# matters most for their data: patches at the border — blank in every MNIST digit, mostly
# background in the photos — got similar vectors, and the interior ones are told apart from
# them and from each other. Nobody told the model that the patches form a grid. (The quick run's
# maps, after one short epoch, are still mostly noise.)
#
# **Attention maps.** Load the trained MNIST ViT from its checkpoint and look at what the CLS
# token attends to in the last block, averaged over heads, for a few test digits:

# %%
from e2edl.nn.vit import attention_maps, cls_rollout

trained = ViT(MNIST_VIT_QUICK if QUICK else MNIST_VIT)
trained.load_state_dict(torch.load(out / "mnist" / "checkpoint.pt", weights_only=True)["model"])
trained.eval()
g = trained.cfg.grid  # patches per side
digits = ((x_test[:8].float() / 255 - 0.1307) / 0.3081).unsqueeze(1)  # (8, 1, 28, 28)
last = attention_maps(trained, digits)[-1]  # (8, nh, 1 + g·g, 1 + g·g)
from_cls = last.mean(1)[:, 0, 1:].reshape(-1, g, g)  # (8, g, g)
rollout = cls_rollout(trained, digits)  # (8, g, g)
fig, axes = plt.subplots(3, 8, figsize=(10, 4))
for i in range(8):
    axes[0, i].imshow(x_test[i], cmap="gray")
    axes[1, i].imshow(from_cls[i], cmap="inferno")
    axes[2, i].imshow(rollout[i], cmap="inferno")
    for ax in axes[:, i]:
        ax.axis("off")
axes[0, 0].set_title("digit", fontsize=8, loc="left")
axes[1, 0].set_title("last block: CLS → patches", fontsize=8, loc="left")
axes[2, 0].set_title("rollout over all blocks", fontsize=8, loc="left")
plt.show()

# %% [markdown]
# One block's attention shows where the CLS token reads *in that block*, but the tokens it reads
# from have already mixed with others in earlier blocks. **Attention rollout** (Abnar & Zuidema,
# 2020) follows the information through all the blocks: average each block's heads, add the
# identity for the residual connection, renormalise, and multiply the blocks' matrices;
# `e2edl.nn.vit.attention_rollout` does this. The CLS row of the product says how much of the
# final CLS vector comes from each patch. Over Dogs vs Cats validation photos (titles: true →
# predicted):

# %%
show_saved(out / "pets_rollout.png", width=10)

# %% [markdown]
# Rollout is a heuristic — it ignores the values and the MLPs — but it is cheap. In the full run
# it often lands on the animal's body or head, and sometimes on the background: 8,000 photos
# teach a ViT less than we would like. The claims:

# %%
assert passed(result), "a claim of this lesson failed; see the table above"
