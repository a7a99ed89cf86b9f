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
# # Vision Transformers from scratch
#
# A convolutional network (the mnist-cnn lesson) is built on two assumptions about images: what
# matters is *local*, and the same pattern means the same thing *anywhere*. A **Vision
# Transformer** (ViT) drops both. It cuts the image into patches, treats them as a sequence of
# "words", and lets every patch look at every other patch through **attention** — a layer whose
# connections are computed from the data instead of being fixed by a kernel's size.
#
# We build every piece in the open, check each against the library's version (and the library's
# against `timm` and PyTorch), and then train:
#
# 1. patches: an image becomes a sequence;
# 2. the CLS token and position embeddings;
# 3. one attention head;
# 4. many heads — first a loop, then one fused, fast layer;
# 5. LayerNorm, and why not BatchNorm;
# 6. the full ViT, checked weight for weight against `timm`'s;
# 7. training it on MNIST, in the open;
# 8. the lesson's run: Dogs vs Cats from scratch, and two measured comparisons — normalisation
#    layers, and attention versus convolution on small data;
# 9. where a trained ViT looks: attention maps and attention rollout.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first (this release)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "e2edl[pretrained] @ git+https://github.com/e2edl/e2edl@v0.1.0"], check=True)  # fmt: skip

from e2edl.course.notebook import setup_lesson, show_source

QUICK, OUT = setup_lesson("vit")  # prints the mode, the run folder and the reference timings

# %%
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from e2edl.data.mnist import MNIST
from e2edl.data.pets_split import Pets
from e2edl.exercises import check  # for the exercises at the end

mnist = MNIST.load()  # 55,000 training digits, 5,000 held out for validation, 10,000 for the test
pets = Pets.load(64, progress=False)  # Dogs vs Cats, every photo decoded once to 64×64 and cached
mean, std = mnist.mean_std
digit = ((mnist.x_test[0].float() / 255 - mean) / std).reshape(1, 1, 28, 28)  # (B=1, C=1, H, W)
photo = pets.images[1]  # (3, 64, 64) uint8
print(
    f"MNIST: {len(mnist.x_train):,} training, {len(mnist.x_val):,} validation, {len(mnist.x_test):,} test digits"
)
print(f"Dogs vs Cats: {len(pets.images):,} photos, {len(pets.train_idx):,} for training, "
      f"{len(pets.val_idx):,} for validation")  # fmt: skip

# %% [markdown]
# ## 1. Patches: an image becomes a sequence
#
# A Transformer reads a sequence of vectors. To feed it an image, cut the image into
# non-overlapping P×P **patches**, flatten each patch, and map it with one shared linear layer to
# a vector of width D (the model width). A 64×64 photo with 8×8 patches becomes a sequence of
# 8·8 = 64 patches, each 3·8·8 = 192 numbers long. `F.unfold` cuts out the patches:

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
axes[1].imshow(torch.cat([F.pad(p, (0, 0, 0, 2), value=1) for p in sequence], dim=1))
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
# The library has both: `e2edl.nn.vit.patchify` is the unfold, and `e2edl.nn.vit.PatchEmbedding`
# is the convolution (timm names it `patch_embed.proj`, and so do we). Given the same image and
# the same weights, they agree with the cells above:

# %%
from e2edl.nn.vit import PatchEmbedding, patchify

embed = PatchEmbedding(P, in_channels=3, dim=D)
embed.proj.load_state_dict(conv.state_dict())
with torch.no_grad():
    assert torch.equal(patchify(image, P), patches)
    difference = (embed(image) - by_conv).abs().max()
assert difference == 0
print(f"patchify == unfold: exact; PatchEmbedding vs our conv: largest difference {difference:.1e}")

# %% [markdown]
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
# this from the data; section 9 shows what they look like after training.
#
# **The CLS token.** A classifier needs one vector per image, but the encoder outputs one per
# patch. We could average them; the ViT instead puts an extra learned vector, the *class token*,
# in front of the sequence (a trick from BERT). It has no patch of its own, so it has nothing to
# say except what it gathers by attending to the patches — and after the last block its vector is
# what the classification head reads. (Averaging the patch outputs works about as well; CLS is
# what timm's ViT and the original paper use, and it gives us a natural place to ask "where did
# the model look?" in section 9.)

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
# Here is a head, written out. It returns its output and keeps its attention weights for us to
# look at:


# %%
class AttentionHead(nn.Module):
    """One attention head: (B, T, dim) → (B, T, head_dim); its weights (B, T, T) in ``self.weights``."""

    def __init__(self, dim, head_dim):
        super().__init__()
        self.query = nn.Linear(dim, head_dim)
        self.key = nn.Linear(dim, head_dim)
        self.value = nn.Linear(dim, head_dim)

    def forward(self, x):
        q, k, v = self.query(x), self.key(x), self.value(x)  # (B, T, hs) each
        scores = q @ k.transpose(-2, -1) / math.sqrt(q.size(-1))  # (B, T, T)
        self.weights = scores.softmax(dim=-1)  # row i: where token i reads from; each row sums to 1
        return self.weights @ v  # (B, T, hs)


torch.manual_seed(0)
head = AttentionHead(D, 24)
out = head(tokens)
print("tokens", tuple(tokens.shape), "→ head output", tuple(out.shape), " weights", tuple(head.weights.shape))

# %% [markdown]
# `e2edl.nn.attention.AttentionHead` is the same head (plus masks, below). The parity check: the
# same weights in both, the same input, and the outputs and the gradients must agree — the
# gradients of the loss with respect to the input and to the query weights:

# %%
from e2edl.nn import attention as library

library_head = library.AttentionHead(D, 24)
library_head.load_state_dict(head.state_dict())  # same parameter names: query, key, value
x = tokens.clone().requires_grad_(True)
ours, theirs = head(x), library_head(x)
grads_ours = torch.autograd.grad(ours.square().sum(), [x, head.query.weight])
grads_theirs = torch.autograd.grad(theirs.square().sum(), [x, library_head.query.weight])
differences = [(ours - theirs).abs().max()] + [(a - b).abs().max() for a, b in zip(grads_ours, grads_theirs)]
assert max(differences) < 1e-5
print("largest difference — output, ∂/∂input, ∂/∂query weight:", ", ".join(f"{d:.1e}" for d in differences))

# %% [markdown]
# The weights form a T×T matrix: row *i* says where token *i* takes its information from. Even
# with random projections the matrix has structure on a real input — the patches of the photo
# are compared by content. The cell draws the whole 65×65 matrix (row and column 0 are the CLS
# token), and one row of it — where patch (3, 3) looks — laid back onto the 8×8 grid of patches,
# next to the photo:

# %%
with torch.no_grad():
    head(tokens)
weights = head.weights  # (1, 65, 65)
fig, axes = plt.subplots(1, 3, figsize=(9, 3))
axes[0].imshow(weights[0], cmap="viridis")
axes[0].set_title("attention matrix (65×65)", fontsize=9)
axes[1].imshow(weights[0, 1 + 3 * 8 + 3, 1:].reshape(8, 8), cmap="viridis")  # skip the CLS column
axes[1].set_title("row of patch (3, 3), on the grid", fontsize=9)
axes[2].imshow(photo.permute(1, 2, 0))
axes[2].set_title("the photo", fontsize=9)
for ax in axes:
    ax.axis("off")
plt.show()

# %% [markdown]
# A **mask** says which keys a query may look at: a causal mask (a token sees only the past, as
# in GPT) or a padding mask (ignore the filler at the end of short sequences). It is applied by
# setting the forbidden scores to −∞ *before* the softmax, so that they get exactly zero weight
# and the allowed ones still sum to 1. The library's `e2edl.nn.attention.attention(q, k, v, mask)`
# is the head's formula with a mask, tested against PyTorch's `F.scaled_dot_product_attention`
# for random shapes and masks. You will write it yourself in the first exercise.
#
# ## 4. Many heads: a loop, then all at once
#
# One head computes one kind of "who should I listen to". **Multi-head** attention runs several
# heads side by side, each in a narrower subspace (`hs = D / n_heads`), concatenates their
# outputs, and mixes them with a final linear projection. The obvious way to write it is a loop:


# %%
class LoopMultiHeadAttention(nn.Module):
    """n_heads heads, one after another: (B, T, dim) → (B, T, dim)."""

    def __init__(self, dim, n_heads):
        super().__init__()
        self.heads = nn.ModuleList(AttentionHead(dim, dim // n_heads) for _ in range(n_heads))
        self.proj = nn.Linear(dim, dim)

    def forward(self, x):
        return self.proj(torch.cat([head(x) for head in self.heads], dim=-1))  # (B, T, nh·hs) → (B, T, D)


torch.manual_seed(0)
loop = LoopMultiHeadAttention(D, n_heads=4)
library_loop = library.LoopMultiHeadAttention(D, n_heads=4)
library_loop.load_state_dict(loop.state_dict())
x = tokens.clone().requires_grad_(True)
ours, theirs = loop(x), library_loop(x)
grad_ours, grad_theirs = (torch.autograd.grad(y.square().sum(), x)[0] for y in (ours, theirs))
difference = max((ours - theirs).abs().max(), (grad_ours - grad_theirs).abs().max())
assert difference < 1e-5
print(f"our loop vs e2edl.nn.attention.LoopMultiHeadAttention (output and ∂/∂input): {difference:.1e}")

# %% [markdown]
# That runs `3·n_heads` small matrix products one at a time. The fast way notices that all the
# queries, keys and values of all heads are *one* linear map of `x` to `3·D` numbers, and that
# the heads' attention products are independent, so a batched matmul over a `(B, nh, T, hs)`
# tensor does them together:


# %%
class Attention(nn.Module):
    """The same map: one qkv projection, all heads in one batched matmul. (B, T, dim) → (B, T, dim)."""

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
# To check that the loop and the fused layer are the same map, copy the loop's weights into the
# fused one: the fused `qkv` weight is all heads' query weights stacked, then all their keys,
# then all their values. By hand, once:

# %%
fused = Attention(D, n_heads=4)
with torch.no_grad():
    for i, name in enumerate(("query", "key", "value")):
        rows = slice(i * D, (i + 1) * D)
        fused.qkv.weight[rows] = torch.cat([getattr(h, name).weight for h in loop.heads])
        fused.qkv.bias[rows] = torch.cat([getattr(h, name).bias for h in loop.heads])
    fused.proj.load_state_dict(loop.proj.state_dict())
    print(f"loop vs fused: {(loop(tokens) - fused(tokens)).abs().max():.1e}")

# %% [markdown]
# The library does this stacking in `Attention.from_loop`; from here on we use it. Its result
# holds exactly our hand-stacked weights, and by default it calls PyTorch's fused kernel
# `F.scaled_dot_product_attention` for the middle step (`use_sdpa=False` runs the explicit
# matmuls, as ours does). All of them compute the same outputs and gradients:

# %%
from_loop = library.Attention.from_loop(library_loop)  # the fused kernel
explicit = library.Attention.from_loop(library_loop, use_sdpa=False)
assert all(torch.equal(a, b) for a, b in zip(from_loop.state_dict().values(), fused.state_dict().values()))
x = tokens.clone().requires_grad_(True)
reference = fused(x)
reference_grad = torch.autograd.grad(reference.square().sum(), x)[0]
for name, module in (("from_loop, SDPA", from_loop), ("from_loop, explicit", explicit)):
    y = module(x)
    grad = torch.autograd.grad(y.square().sum(), x)[0]
    difference = max((y - reference).abs().max(), (grad - reference_grad).abs().max())
    assert difference < 1e-5
    print(f"our fused Attention vs e2edl's Attention.{name}: {difference:.1e}")

# %% [markdown]
# `tests/test_attention.py` checks the same for random shapes, with and without masks, and
# `benchmarks/vit_attention.py` times the three ways.
#
# ## 5. LayerNorm, not BatchNorm
#
# Every Transformer block normalises its input before attention and before the MLP. The
# mnist-cnn lesson's CNN used BatchNorm: normalise each channel with the mean and variance over
# the *batch*. Transformers use **LayerNorm**: normalise each token's vector over its own D
# channels, `(x − mean(x)) / √(var(x) + ε)`, then scale and shift by a learned gain γ and bias β
# (one number per channel, like BatchNorm's). By hand, against `nn.LayerNorm`:

# %%
norm = nn.LayerNorm(D)
with torch.no_grad():
    norm.weight.uniform_(0.5, 1.5)  # a γ and a β that are not the initial ones
    norm.bias.uniform_(-0.5, 0.5)
    x = tokens + torch.randn_like(tokens)
    mu, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)  # over D, per token
    by_hand = (x - mu) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias
    print(f"LayerNorm by hand vs nn.LayerNorm: {(by_hand - norm(x)).abs().max():.1e}")

# %% [markdown]
# The difference from BatchNorm is what the output depends on. With BatchNorm a token's output
# depends on the other examples in the batch — and in a sequence model also on the other tokens,
# padding included; in eval mode it depends instead on running averages collected in training,
# which can disagree with what the batch looked like. LayerNorm looks at nothing but the token
# itself:

# %%
from e2edl.nn.vit import TokenBatchNorm

torch.manual_seed(0)
batch = torch.randn(8, 10, 16) * 2 + 1  # (B, T, D)
padded = torch.cat([batch, torch.zeros(8, 6, 16)], dim=1)  # six padding tokens per sequence
other_batch = torch.cat([batch[:1], torch.randn(7, 10, 16) * 4 - 2])  # same first example
for layer in (nn.LayerNorm(16), TokenBatchNorm(16)):
    with torch.no_grad():
        reference_out = layer(batch)[0]
        changes = {
            "other examples in the batch": layer(other_batch)[0],
            "batch of one": layer(batch[:1])[0],
            "six padding tokens appended": layer(padded)[0, :10],
            "eval mode": layer.eval()(batch)[0],
        }
        layer.train()
    print(type(layer).__name__)
    for what, value in changes.items():
        print(f"  {what:<30} changes example 0's output by {(value - reference_out).abs().max():.3f}")

# %% [markdown]
# For LayerNorm every change is zero (to rounding); for BatchNorm none is. The lesson's run
# (section 8) trains a small MNIST ViT both ways on the same digits and scores each the ways a
# model gets used: eval mode, batch statistics (a model left in train mode), and one image at a
# time.
#
# ## 6. The full ViT
#
# A Transformer **block** is attention ("tokens talk to each other") followed by an **MLP**
# applied to each token on its own ("each token thinks"): Linear → GELU → Linear, the hidden
# layer `mlp_ratio` times wider than D. Each is wrapped in a residual connection and preceded by
# a LayerNorm — the *pre-norm* layout:
#
# ```
# x = x + attn(norm1(x))
# x = x + mlp(norm2(x))
# ```
#
# With the norms inside the branches, the residual path carries `x` unchanged from the first block
# to the last, which keeps deep stacks easy to train.
#
# **GELU** (Gaussian Error Linear Unit) is the Transformers' ReLU: `GELU(x) = x · Φ(x)`, where Φ
# is the standard normal's cumulative distribution function — each input is kept in proportion
# to how likely a standard normal variable is to be smaller than it. Large positive inputs pass
# almost unchanged (Φ ≈ 1), large negative ones are zeroed (Φ ≈ 0), like ReLU; near zero the curve
# is smooth, and slightly negative inputs give slightly negative outputs, so the gradient never
# switches off abruptly:

# %%
z = torch.linspace(-4, 4, 401)
gelu_by_hand = z * 0.5 * (1 + torch.erf(z / math.sqrt(2)))  # Φ(z) = (1 + erf(z/√2)) / 2
print(f"GELU by hand vs F.gelu: {(gelu_by_hand - F.gelu(z)).abs().max():.1e}")
fig, ax = plt.subplots(figsize=(4, 2.6))
ax.plot(z, F.relu(z), label="ReLU")
ax.plot(z, gelu_by_hand, label="GELU = x·Φ(x)")
ax.set(xlabel="x", ylim=(-0.5, 4), title="GELU is a smooth ReLU")
ax.legend(fontsize=8)
plt.show()

# %% [markdown]
# The whole model, in `e2edl.nn.vit`:

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

timm_vit = VisionTransformer(**cfg.timm_kwargs()).eval()
vit.load_state_dict(timm_vit.state_dict())  # strict: every name present, every shape equal
with torch.no_grad():
    print(f"ours vs timm, largest logit difference: {(vit(x) - timm_vit(x)).abs().max():.1e}")

# %% [markdown]
# ## 7. Training a ViT on MNIST, in the open
#
# The recipe is library code, `e2edl.recipes.vit`: a frozen dataclass of settings and the function
# that trains with them. AdamW with weight decay on the weight matrices only, a linear warm-up
# then a cosine decay of the learning rate (the module's docstring says why a Transformer needs
# each), and label smoothing 0.1:

# %%
from e2edl.recipes.vit import MNIST_QUICK_RECIPE, MNIST_RECIPE, fit_classifier, train_vit

show_source(train_vit)
show_source(fit_classifier)
print("full mode: ", MNIST_RECIPE)
print("quick mode:", MNIST_QUICK_RECIPE)
recipe = MNIST_QUICK_RECIPE if QUICK else MNIST_RECIPE

# %% [markdown]
# MNIST's 28×28 digits in 7×7 patches make 16 tokens plus CLS. The training digits are shifted
# at random by up to one pixel; the 5,000 validation digits, held out of the training set, are
# what we watch (and what any decision — how many epochs, which recipe — would look at). The test
# set is scored once, by the lesson's run, at the end. Quick mode trains the 4-block model for
# one epoch; full mode, the 6-block model for 16.
#
# To try other settings, make a new recipe — `dataclasses.replace(recipe, lr=1e-3)` — and give it
# its own `run_dir`: a run folder belongs to the recipe that wrote it, and `fit` refuses to mix
# them.

# %%
model, history = train_vit(mnist, recipe, run_dir=OUT / "mnist")
print(f"validation accuracy after {recipe.epochs} epoch(s): {history.last['val_accuracy']:.4f}")

# %% [markdown]
# ## 8. The lesson's run: Dogs vs Cats, and two comparisons
#
# `run_lesson("vit")` — what `e2edl run vit` runs — reuses the MNIST ViT just trained (same
# recipe, same seed, same folder: its checkpoint is finished, so nothing is trained again),
# scores it once on the test set, then trains:
#
# - **Dogs vs Cats from scratch**, on the photos of the shared stratified split (the one the
#   resnet-from-scratch and transfer-learning lessons use), with random resized crops and flips;
# - **LayerNorm vs BatchNorm**, and **attention vs convolution**, on MNIST with the 4-block ViT —
#   both scored on the validation digits.
#
# One change for Dogs vs Cats. Its training photos are very few for a model that must
# learn from data everything a CNN is told — that nearby pixels belong together — and a plain
# ViT learns slowly on them. The pets model therefore builds its tokens with a **convolutional
# stem** instead of one 8×8 linear map per patch: three 3×3 convolutions of stride 2 (64 → 32 →
# 16 → 8 pixels), then a 1×1 projection to D — the same 8×8 grid of tokens, each made of
# overlapping local features (Xiao et al., *Early Convolutions Help Transformers See Better*,
# 2021; the ViT paper's "hybrid" is the same idea). Everything after the tokens is the ViT above,
# unchanged. (Quick mode shrinks the photos to 32×32: a 4×4 grid.)

# %%
from e2edl.recipes.vit import PETS_QUICK_RECIPE, PETS_RECIPE

pets_recipe = PETS_QUICK_RECIPE if QUICK else PETS_RECIPE
pets_vit = ViT(pets_recipe.model)
print(pets_vit.patch_embed)
size = pets_recipe.model.image_size
print("photo", tuple(image.shape), "→ tokens", tuple(pets_vit.patch_embed(F.interpolate(image, size)).shape))

# %%
from e2edl.course import full_run, run_lesson

result = run_lesson("vit", quick=QUICK, out=OUT, resume=True)
result.show("mnist_curves", "pets_curves")

# %% [markdown]
# Validation accuracy on Dogs vs Cats jumps by several points from epoch to epoch: a model still
# far from converged. More epochs, larger images and stronger augmentation (mixup, RandAugment)
# are what would take it further.
#
# What the full run measured on the reference machine (16 epochs for each model; this
# notebook's run is above):

# %%
full_run("vit")

# %% [markdown]
# ### LayerNorm vs BatchNorm, measured
#
# Accuracy of each trained ViT on the validation digits, four ways: eval mode; batch statistics
# over batches of 256 (a model left in train mode); and one image at a time, in eval mode and
# with batch statistics (those two columns use the first 500 validation digits):

# %%
result.tables["norms"]

# %% [markdown]
# Read the LayerNorm row in pairs: the first two columns agree, and so do the last two — whether
# statistics could come from the batch or not, its output depends on the image alone. BatchNorm
# is no worse at *training* (compare the eval-mode column). What goes wrong is how its answers
# depend on the way it is called: left in train mode and fed one image at a time, its statistics
# come from the 17 tokens of that one image, and its accuracy falls (the last column; the
# `batchnorm_one_image_drop` claim measures the fall). In language models, where batches mix
# sequences of different lengths padded to one size, that dependence is a bug factory — one
# reason Transformers use LayerNorm.
#
# ### Attention vs convolution, measured
#
# Attention can connect any two patches in one layer; a 5×5 convolution connects only neighbours,
# and needs depth to see far. That freedom is a weaker *inductive bias*: the CNN is told "nearby
# pixels matter together, and patterns are the same everywhere"; the ViT must learn it — including
# what positions mean — from data. The mnist-cnn lesson's CNN and the 4-block MNIST ViT, with the
# same optimiser and the same number of steps, on 1,000 training digits (and, in the full run,
# 10,000):

# %%
result.tables["cnn_vs_vit"]

# %% [markdown]
# With little data the convolution's built-in assumptions are worth a lot. Compare the full run's
# rows for 1,000 and 10,000 digits (its tables above): the gap narrows as the data grows. This is
# the original ViT paper's finding at scale: ViTs lose to ResNets when trained on ImageNet's
# 1.3 M images and win when pre-trained on 300 M. The transfer-learning lesson took the other
# road — start from a network already trained on ImageNet.
#
# The receptive field, measured rather than asserted: which input pixels one output position of
# the first layer depends on (a non-zero gradient), for a 5×5 convolution and for one ViT block
# on 7×7 patches:

# %%
probe = digit.clone().requires_grad_(True)
conv5 = nn.Conv2d(1, 8, 5, padding=2)
conv5(probe)[0, :, 14, 14].sum().backward()
conv_field = probe.grad[0, 0].abs()
probe.grad = None
one_block = ViT(ViTConfig(depth=1))
one_block.forward_features(probe)[0, 1 + 9].sum().backward()  # the token of patch (2, 1)
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
# ## 9. Inside the trained ViTs
#
# **Learned positions.** The similarity map of section 2, now for the *learned* position vectors
# of the two trained models (in quick mode, after very little training). They started as random
# noise; no one told the models that the patches form a grid:

# %%
result.show("mnist_positions", "pets_positions")

# %% [markdown]
# After a short quick-mode run the maps are still mostly noise. After the full run's 16 epochs,
# each model has learned first what matters most for its data: the patches at the border —
# blank in every MNIST digit, mostly background in the photos — get similar vectors, and the
# interior ones are told apart from them and from each other.
#
# **Attention maps.** The MNIST ViT trained in section 7 is still in hand (`model`). What does the
# CLS token attend to in the last block, averaged over heads, for a few test digits? (Top row: the
# digits; middle: the last block's attention from CLS; bottom: the rollout over all blocks,
# explained next.)

# %%
from e2edl.nn.vit import attention_maps, cls_rollout

model = model.cpu().eval()
g = model.cfg.grid  # patches per side
digits = ((mnist.x_test[:8].float() / 255 - mean) / std).unsqueeze(1)  # (8, 1, 28, 28)
last = attention_maps(model, digits)[-1]  # (8, nh, 1 + g·g, 1 + g·g)
from_cls = last.mean(1)[:, 0, 1:].reshape(-1, g, g)  # (8, g, g): CLS's row, patches only
rollout = cls_rollout(model, digits)  # (8, g, g)
fig, axes = plt.subplots(3, 8, figsize=(10, 4))
for i in range(8):
    axes[0, i].imshow(mnist.x_test[i], cmap="gray")
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
result.show("pets_rollout")

# %% [markdown]
# Rollout is a heuristic — it ignores the values and the MLPs — but it is cheap. Look for whether
# it lands on the animal's body or head, or on the background: the Dogs vs Cats training photos
# teach a ViT from scratch less than we would like. The claims of this notebook's run are in the
# table `run_lesson` printed in section 8:

# %%
assert result.passed(), "a claim of this lesson failed; see the table above"

# %% [markdown]
# ## Exercises
#
# Each exercise cell holds a stub; write the function, run the cell, then run the check below it.
# It prints ✓, or ✗ with a hint saying what is wrong. (`e2edl check vit --notebook YOUR_COPY.ipynb`
# runs the same checks from a terminal.)
#
# ### 1. Attention with a mask
#
# Write scaled dot-product attention for one or many heads: `q`, `k`, `v` are `(..., T, hs)`, and
# `mask` is `None` or a boolean tensor that broadcasts to `(..., T, T)`, `True` where query *i*
# may look at key *j* (PyTorch's convention). Return the `(..., T, hs)` output. The check compares
# it with `F.scaled_dot_product_attention`, without a mask and with causal, padding and per-head
# masks. Mind the scale (the head's width), where the mask goes (before the softmax), and which
# axis the softmax runs over.

# %% tags=["exercise"]
import math

import torch


def scaled_dot_product_attention(q, k, v, mask=None):
    """softmax(q kᵀ / √hs, masked) v. q, k, v: (..., T, hs); mask: bool, True = may attend."""
    raise NotImplementedError  # your code here


# %%
check("attention-with-mask", scaled_dot_product_attention)

# %% [markdown]
# ### 2. Patches without `unfold`
#
# Write `patchify(images, patch_size)`: `(B, C, H, W)` → `(B, N, C·P·P)`, the non-overlapping
# P×P patches read row by row, each flattened channel first, then its rows, then its columns (the
# order of `conv.weight.flatten(1)`, so that a Linear on your patches equals the patch
# convolution). Use only `reshape` and `permute`; the check compares with
# `e2edl.nn.vit.patchify` on several image and patch sizes.

# %% tags=["exercise"]
import torch


def patchify(images, patch_size):
    """(B, C, H, W) → (B, N, C·P·P), patches row by row, each flattened (C, P, P)."""
    raise NotImplementedError  # your code here


# %%
check("patchify", patchify)
