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
# # MNIST with a fully connected network: the training toolbox
#
# MNIST is 70,000 scans of handwritten digits, 28×28 grey pixels each, with the digit they
# show. It is small enough to train on a laptop in seconds and hard enough that the choices we make
# show up in the numbers. This lesson uses it to build the toolbox every later lesson relies on:
#
# 1. **three splits with three jobs** — training, validation, test — and the rule for using them;
# 2. **the training loop** written out once, then handed to the course's `fit()`;
# 3. **optimisers** from SGD to momentum, Nesterov, Adam and AdamW, each written by hand and
#    checked against `torch.optim`, then compared on MNIST;
# 4. **learning-rate schedules**: warm-up, cosine, one-cycle;
# 5. **generalisation**: overfitting made visible, and what weight decay, dropout, augmentation and
#    early stopping each buy, measured.
#
# The loss is the softmax cross-entropy built in the linear-regression lesson (`F.cross_entropy`:
# logits in, the mean over the batch of −log softmax(logits)[true class] out), here over ten
# classes, one per digit.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first (this release)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "e2edl @ git+https://github.com/e2edl/e2edl@v0.1.0"], check=True)  # fmt: skip

from e2edl.course.notebook import setup_lesson, show_source

QUICK, OUT = setup_lesson("mnist-mlp")  # prints the mode, the run folder and the reference timings

# %%
import copy
import time
from dataclasses import replace

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from e2edl.data.mnist import MNIST
from e2edl.figures import image_grid

# %% [markdown]
# ## 1. The data, and three splits with three jobs
#
# `MNIST.load()` reads the four original IDX files (from the cache, a local mirror or the internet,
# checking their SHA-256) into plain tensors. The 60,000 training images are split in two: the
# last 5,000 become the **validation** split. Each split has one job:
#
# - the **training** split is what the gradients are computed on;
# - the **validation** split decides everything we choose: the learning rate, the optimiser, the
#   number of epochs, when to stop, "how long until 98%";
# - the **test** split is scored **once**, at the very end, for the one network we finally keep.
#
# Why not decide on the test set? Every choice made by looking at a set fits the choice to that set
# a little. Pick the best of twenty learning rates by test accuracy and the winner's test accuracy
# is partly luck that will not come back on new digits — the test score stops measuring what we
# want it to measure. The validation split absorbs that optimism, and the test split stays honest.

# %%
data = MNIST.load()
print(f"loaded in {data.load_seconds:.2f} s")
for split, images in [("train", data.x_train), ("validation", data.x_val), ("test", data.x_test)]:
    print(f"{split:<11} {tuple(images.shape)} {images.dtype}")
print("digits per class in the training split:", torch.bincount(data.y_train).tolist())
image_grid(data.x_train[:30], data.y_train[:30].tolist(), ncols=15)
plt.show()

# %% [markdown]
# ## 2. The training loop, written out once
#
# One **step**: take a batch of images, let the model turn each into ten **logits** (one score per
# digit), measure the loss against the true labels, let autograd compute the gradient of the loss
# with respect to every weight, and let the **optimiser** move the weights a little against it.
# One **epoch** is one pass over the training images in a fresh random order. Here is that loop,
# with the simplest optimiser, plain stochastic gradient descent (`torch.optim.SGD`; section 5
# opens it up), and a small network: `Flatten → Linear(784, 128) → ReLU → Linear(128, 10)`.


# %%
def train_one_epoch(model, optimizer, images, labels, prepare, batch_size=64):
    """One pass over (images, labels) in a random order, one optimiser step per batch."""
    model.train()
    order = torch.randperm(len(images))
    for start in range(0, len(images), batch_size):
        batch = order[start : start + batch_size]
        logits = model(prepare(images[batch]))  # (B, 10)
        loss = F.cross_entropy(logits, labels[batch])  # softmax cross-entropy, a 0-d tensor
        optimizer.zero_grad()  # gradients accumulate in .grad unless cleared
        loss.backward()  # .grad of every weight = ∂loss/∂weight
        optimizer.step()  # move every weight against its gradient


@torch.no_grad()
def accuracy(model, images, labels, prepare):
    """Share of images whose largest logit is the true digit."""
    model.eval()  # evaluation mode: switches dropout (section 7) off
    return (model(prepare(images)).argmax(1) == labels).float().mean().item()


def small_network():
    return nn.Sequential(nn.Flatten(), nn.Linear(784, 128), nn.ReLU(), nn.Linear(128, 10))


# %% [markdown]
# ## 3. Normalisation, measured with that loop
#
# Pixels are bytes, 0 to 255. Fed raw, the first layer's pre-activations are hundreds of times
# larger than its weights, and so are the gradients of those weights: one learning rate cannot suit
# them and the rest of the network. The linear-regression lesson showed the reason: the loss surface
# becomes badly conditioned, and gradient descent crawls along the flat directions while bouncing
# across the steep ones. The usual fix is to subtract the training pixels' mean and divide by their
# standard deviation:

# %%
from e2edl.data.batch_transforms import MNIST_MEAN, MNIST_STD

pixels = data.x_train.float() / 255
print(
    f"mean {pixels.mean():.4f}, std {pixels.std():.4f}   (the library's constants: {MNIST_MEAN}, {MNIST_STD})"
)

# %% [markdown]
# Let us *measure* what it buys: the same network, the same seed, one epoch of plain SGD, three
# input scalings, each scored on the validation split.

# %%
n_train = 15_000 if QUICK else len(data.x_train)
scalings = {
    "raw bytes 0..255": lambda x: x.float(),
    "scaled to [0, 1]": lambda x: x.float() / 255,
    "standardised (x/255 − mean)/std": lambda x: (x.float() / 255 - MNIST_MEAN) / MNIST_STD,
}
for name, prepare in scalings.items():
    torch.manual_seed(0)
    model = small_network()
    train_one_epoch(
        model,
        torch.optim.SGD(model.parameters(), lr=0.05),
        data.x_train[:n_train],
        data.y_train[:n_train],
        prepare,
    )
    print(
        f"{name:<32} validation accuracy after one epoch: {accuracy(model, data.x_val, data.y_val, prepare):.4f}"
    )

# %% [markdown]
# At a learning rate that suits the other two, raw bytes are far behind (or do not learn at all);
# dividing by 255 fixes most of it, and standardising centres the inputs on zero with unit spread.
# From here on every batch is standardised.
#
# ## 4. Feeding batches fast
#
# PyTorch's standard pieces are a `Dataset` ("give me example *i*") and a `DataLoader` (shuffle the
# indices each epoch, fetch the examples of a batch one at a time, stack them). When the whole data
# set is already one tensor, slicing a shuffled batch out of it in one indexing operation — what our
# loop above does — is much cheaper. `e2edl.data.TensorLoader` is that loop's batching as an
# object, with a transform applied to a whole batch at once (normalisation, augmentation);
# `data.train_loader()` builds one. The cell times one epoch of batches each way. (The much bigger
# cost in the classic tutorial pipeline is turning every image into a PIL image and back with
# `ToTensor`; `benchmarks/mnist_data_path.py` measures it.)

# %%
from torch.utils.data import DataLoader, TensorDataset

loaders = {
    "DataLoader(TensorDataset)": DataLoader(
        TensorDataset(data.x_train[:n_train], data.y_train[:n_train]), batch_size=256, shuffle=True
    ),
    "TensorLoader, normalising": replace(
        data, x_train=data.x_train[:n_train], y_train=data.y_train[:n_train]
    ).train_loader(256, seed=0),
}
for name, batches in loaders.items():
    start = time.perf_counter()
    for _batch in batches:
        pass
    print(f"{name:<27} one epoch of batches in {time.perf_counter() - start:.3f} s")

# %% [markdown]
# ## 5. Optimisers, written by hand
#
# An optimiser turns gradients into weight updates. We write four, each a few lines, and check each
# against `torch.optim`'s version: the same starting weights, the same gradients for five steps, and
# the largest difference in the weights afterwards. `parity` does the comparison: at every step it
# computes the gradient once, on the hand-optimised copy, and gives both copies that same gradient.

# %%
from e2edl.nn.mlp import MLP

batch_x = (data.x_train[:64].float() / 255 - MNIST_MEAN) / MNIST_STD  # (64, 28, 28)
batch_y = data.y_train[:64]


def parity(hand_optimizer, torch_optimizer, steps=5):
    """Largest |weight difference| after ``steps`` steps of a hand-written and a torch.optim optimiser."""
    torch.manual_seed(0)
    mine = MLP(784, [32], 10)
    theirs = copy.deepcopy(mine)
    hand, reference = hand_optimizer(mine.parameters()), torch_optimizer(theirs.parameters())
    for _ in range(steps):
        hand.zero_grad()
        F.cross_entropy(mine(batch_x), batch_y).backward()
        for p, q in zip(mine.parameters(), theirs.parameters()):
            q.grad = p.grad.clone()  # the same gradient for both
        hand.step()
        reference.step()
    return max((p - q).abs().max().item() for p, q in zip(mine.parameters(), theirs.parameters()))


def same_as_torch(name, difference, tolerance=1e-6):
    print(f"{name:<44} largest difference after 5 steps: {difference:.2e}")
    assert difference < tolerance, f"{name} differs from torch.optim"


# %% [markdown]
# ### SGD
#
# The gradient points uphill; step the other way, by the learning rate `lr` times the gradient:
# **w ← w − lr·g**. *Weight decay* as `torch.optim.SGD` does it adds `weight_decay·w` to the
# gradient — the gradient of the penalty ½·weight_decay·‖w‖² (called L2) — so every step also
# shrinks each weight a little towards zero (section 7 says why one would want that).


# %%
class SGD:
    """w ← w − lr·(g + weight_decay·w)."""

    def __init__(self, params, lr, weight_decay=0.0):
        self.params, self.lr, self.weight_decay = list(params), lr, weight_decay

    def zero_grad(self):
        for p in self.params:
            p.grad = None

    def gradient(self, p):
        return p.grad + self.weight_decay * p  # L2: the penalty's gradient joins the loss's

    @torch.no_grad()
    def step(self):
        for p in self.params:
            p -= self.lr * self.gradient(p)


same_as_torch(
    "SGD == torch.optim.SGD",
    parity(
        lambda ps: SGD(ps, lr=0.1, weight_decay=1e-2),
        lambda ps: torch.optim.SGD(ps, lr=0.1, weight_decay=1e-2),
    ),
)

# %% [markdown]
# ### Momentum and Nesterov
#
# In a long narrow valley (the badly conditioned loss of section 3) the gradient points mostly
# *across* the valley, so SGD zig-zags from wall to wall and creeps along the floor. **Momentum**
# keeps a velocity, a running sum of past gradients that decays by μ (typically 0.9) each step:
# **v ← μ·v + g, w ← w − lr·v**. The zig-zag components cancel in the sum, the steady downhill
# component adds up — up to 1/(1 − μ) = 10 times the plain step. **Nesterov** momentum steps with
# the gradient plus the velocity it is about to apply, **w ← w − lr·(g + μ·v)**: a look ahead that
# damps the overshoot. (This is `torch.optim.SGD`'s form of both; textbooks also write them with
# the learning rate inside the velocity, which is the same for a constant rate.)


# %%
class Momentum(SGD):
    """v ← μ·v + g;  w ← w − lr·v  (Nesterov: w ← w − lr·(g + μ·v))."""

    def __init__(self, params, lr, momentum=0.9, nesterov=False, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.momentum, self.nesterov = momentum, nesterov
        self.velocity = [torch.zeros_like(p) for p in self.params]  # kept from step to step

    @torch.no_grad()
    def step(self):
        for p, v in zip(self.params, self.velocity):
            g = self.gradient(p)
            v.mul_(self.momentum).add_(g)
            p -= self.lr * (g + self.momentum * v if self.nesterov else v)


same_as_torch(
    "momentum == torch.optim.SGD(momentum=0.9)",
    parity(lambda ps: Momentum(ps, lr=0.1), lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9)),
)
same_as_torch(
    "Nesterov == torch.optim.SGD(nesterov=True)",
    parity(
        lambda ps: Momentum(ps, lr=0.1, nesterov=True, weight_decay=1e-2),
        lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True, weight_decay=1e-2),
    ),
)

# %% [markdown]
# ### Adam
#
# Momentum still uses one learning rate for every weight, although some weights see gradients a
# thousand times larger than others. **Adam** keeps, per weight, a running mean of the gradient
# (m, like momentum) and of its square (v), and divides one by the square root of the other:
# **w ← w − lr·m̂/(√v̂ + ε)**. The step no longer depends on the gradient's scale — a weight with tiny
# gradients moves as far as one with huge gradients — only on how *consistent* its sign is.
#
# Both averages start at zero, so for the first steps they are too small: after one step
# m = (1 − β₁)·g = 0.1·g. The **bias correction** divides by the share of the average that has been
# filled, m̂ = m/(1 − β₁ᵗ) and v̂ = v/(1 − β₂ᵗ) at step t. Its effect is easy to see: the very first
# corrected step is g/(|g| + ε), so *every* weight moves by (almost exactly) the learning rate.


# %%
class Adam(SGD):
    """m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  w ← w − lr·m̂/(√v̂ + ε), m̂ = m/(1−β₁ᵗ), v̂ = v/(1−β₂ᵗ).
    ``weight_decay`` adds weight_decay·w to g (L2, SGD's ``gradient``), as ``torch.optim.Adam`` does."""

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(params, lr, weight_decay)
        self.betas, self.eps = betas, eps
        self.m = [torch.zeros_like(p) for p in self.params]  # running mean of g
        self.v = [torch.zeros_like(p) for p in self.params]  # running mean of g²
        self.t = 0  # steps taken

    @torch.no_grad()
    def step(self):
        self.t += 1
        beta1, beta2 = self.betas
        for p, m, v in zip(self.params, self.m, self.v):
            g = self.gradient(p)
            m.mul_(beta1).add_((1 - beta1) * g)
            v.mul_(beta2).add_((1 - beta2) * g * g)
            m_hat, v_hat = m / (1 - beta1**self.t), v / (1 - beta2**self.t)
            p -= self.lr * m_hat / (v_hat.sqrt() + self.eps)


same_as_torch(
    "Adam == torch.optim.Adam", parity(lambda ps: Adam(ps, lr=1e-3), lambda ps: torch.optim.Adam(ps, lr=1e-3))
)

w = torch.zeros(3, requires_grad=True)
first = Adam([w], lr=0.01)
w.grad = torch.tensor([1e-4, -1.0, 1e4])  # gradients eight orders of magnitude apart
before = w.detach().clone()
first.step()
print("first Adam step of three weights:", (w.detach() - before).tolist())

# %% [markdown]
# ### AdamW: weight decay, decoupled
#
# Adam's `weight_decay` adds weight_decay·w to the gradient, like SGD's — but then Adam divides the
# sum by √v̂. A weight with large gradients gets its decay divided by a large number, and is hardly
# decayed at all; the decay stops doing what it says. **AdamW** (Loshchilov & Hutter, *Decoupled
# Weight Decay Regularization*) takes the decay out of the gradient and applies it to the weight
# directly, **w ← w·(1 − lr·weight_decay)**, then takes Adam's step on the gradient alone. For plain
# SGD the two forms are the same update; for Adam they are different algorithms, as the last line shows.


# %%
class AdamW(Adam):
    """Adam's step on the gradient alone, after shrinking each weight: w ← w·(1 − lr·weight_decay)."""

    def gradient(self, p):
        return p.grad  # the decay stays out of the gradient...

    @torch.no_grad()
    def step(self):
        for p in self.params:
            p.mul_(1 - self.lr * self.weight_decay)  # ...and shrinks the weight itself
        super().step()


same_as_torch(
    "AdamW == torch.optim.AdamW",
    parity(
        lambda ps: AdamW(ps, lr=1e-3, weight_decay=0.1),
        lambda ps: torch.optim.AdamW(ps, lr=1e-3, weight_decay=0.1),
    ),
)
coupled = parity(
    lambda ps: AdamW(ps, lr=1e-3, weight_decay=0.1),
    lambda ps: torch.optim.Adam(ps, lr=1e-3, weight_decay=0.1),
)
print(
    f"{'AdamW vs Adam(weight_decay=0.1), for contrast':<44} largest difference after 5 steps: {coupled:.2e}"
)

# %% [markdown]
# All four equal PyTorch's to float rounding, so from here on we use `torch.optim`'s (the same
# arithmetic, written for speed). A picture of what they do: 40 steps of each on the narrow valley
# loss(w) = ½·(w₁² + 100·w₂²), from the same point — our classes work on any tensors, not only on
# networks. Plain SGD gets the largest rate that does not diverge, just under 2/100 (the critical
# rate 2/λ_max of the linear-regression lesson); the momentum methods a rate four times lower.

# %%
valley = {
    "SGD, lr 0.019": lambda ps: SGD(ps, lr=0.019),
    "momentum 0.9, lr 0.005": lambda ps: Momentum(ps, lr=0.005),
    "Nesterov 0.9, lr 0.005": lambda ps: Momentum(ps, lr=0.005, nesterov=True),
    "Adam, lr 0.2": lambda ps: Adam(ps, lr=0.2),
}


def valley_loss(w):
    return 0.5 * (w[..., 0] ** 2 + 100 * w[..., 1] ** 2)


fig, ax = plt.subplots(figsize=(7, 3.2))
grid = torch.stack(
    torch.meshgrid(torch.linspace(-5.5, 1.5, 200), torch.linspace(-2, 2, 200), indexing="xy"), -1
)
ax.contour(
    grid[..., 0], grid[..., 1], valley_loss(grid), levels=[0.1, 1, 3, 10, 30, 100, 300], colors="lightgrey"
)
for name, make in valley.items():
    w = torch.tensor([-5.0, 1.5], requires_grad=True)
    optimizer, path = make([w]), [w.detach().clone()]
    for _ in range(40):
        optimizer.zero_grad()
        valley_loss(w).backward()
        optimizer.step()
        path.append(w.detach().clone())
    path = torch.stack(path)  # (41, 2)
    ax.plot(path[:, 0], path[:, 1], marker=".", ms=3, lw=1, label=f"{name}: loss {valley_loss(path[-1]):.2g}")
ax.plot(0, 0, "k*")
ax.set(xlabel="w₁", ylabel="w₂", title="40 steps in a narrow valley (minimum at ★); final loss in the legend")
ax.legend(fontsize=7, loc="lower right")
plt.show()

# %% [markdown]
# SGD zig-zags across the valley and has covered only part of its floor; momentum swings across
# it a few times while its velocity carries it along the floor, and Nesterov's look-ahead damps
# the swings; Adam, whose step ignores the gradient's scale, heads almost straight for the minimum,
# overshoots and curls back — at a constant rate it keeps moving around the bottom, the motivation
# for the schedules of section 6.
#
# On MNIST the lesson's run compares them properly: the same network, the same budget (one epoch,
# a constant learning rate), each optimiser at four learning rates — SGD with and without momentum
# at the same four, Adam and AdamW at four of their own — each keeping its best, chosen, like
# every decision, on the validation split. The table comes after the training (section 9).
#
# ## 6. Learning-rate schedules
#
# A constant rate is a compromise: large enough to make progress early, small enough to settle
# late. A **schedule** changes the rate as training goes:
#
# - **warm-up** starts small and ramps up over the first steps: the random initial weights and
#   Adam's early estimates of v are poor, and full-size steps from there can wreck the network;
# - **annealing** (a cosine is the usual shape) lowers the rate towards zero at the end, so the
#   weights stop bouncing around the bottom of the valley and settle into it;
# - **one-cycle** does both: PyTorch's `OneCycleLR` rises from lr/25 to lr over the first
#   `pct_start` share of the steps (0.3 by default, and in our recipe) along a half cosine, then
#   follows a cosine down to lr/25/10⁴. It also cycles the momentum the other way (Adam's β₁ from 0.95 down to 0.85 and
#   back): high momentum while the rate is small, less while it is large.
#
# The figure draws each for the recipe's training: its peak rate, six epochs of its batches. The
# one-cycle curve is the recipe's own (`e2edl.recipes.mnist_mlp.one_cycle`); `warmup_cosine` is the
# library's, which the vit lesson uses.

# %%
from e2edl.recipes.mnist_mlp import QUICK_RECIPE, RECIPE, one_cycle, train_mlp
from e2edl.train.schedules import warmup_cosine

steps = RECIPE.epochs * len(data.train_loader(RECIPE.batch_size, seed=0))
schedules = {
    "constant": lambda opt: None,
    "cosine": lambda opt: torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps),
    "warm-up (10%) + cosine": lambda opt: warmup_cosine(opt, warmup_steps=steps // 10, total_steps=steps),
    f"one-cycle (pct_start={RECIPE.pct_start})": lambda opt: one_cycle(opt, RECIPE, total_steps=steps),
}
fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.2), gridspec_kw={"width_ratios": [2, 1]})
for name, make in schedules.items():
    optimizer = torch.optim.AdamW([torch.zeros(1, requires_grad=True)], lr=RECIPE.lr)
    scheduler, rates, betas = make(optimizer), [], []
    for _ in range(steps):
        rates.append(optimizer.param_groups[0]["lr"])
        betas.append(optimizer.param_groups[0]["betas"][0])
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
    left.plot(rates, label=name)
    if name.startswith("one-cycle"):
        right.plot(betas, color="C3")
left.axvline(RECIPE.pct_start * steps, color="grey", lw=0.8, ls=":")
left.set(
    xlabel=f"step ({steps} = {RECIPE.epochs} epochs)", ylabel="learning rate", title="Learning rate per step"
)
left.legend(fontsize=7)
right.set(xlabel="step", ylabel="AdamW's β₁", title="One-cycle also cycles the momentum")
fig.tight_layout()
plt.show()

# %% [markdown]
# The dotted line marks the end of one-cycle's warm-up, 30% of the way in.
#
# ## 7. Generalisation: overfitting, and what fights it
#
# The training loss measures how well the network fits the images it trains on; what we want is
# accuracy on digits it has never seen. The two part ways when the network starts to **memorise**
# the particulars of its training images — a stray stroke, one writer's slant — instead of what
# makes a 4 a 4. That is **overfitting**: the training loss keeps falling while the validation loss
# turns and rises. The difference between training and validation accuracy is the **generalisation
# gap**. With 55,000 images and a few epochs our network has little room to memorise (section 9
# checks it); with 1,000 images and many epochs it has plenty, and the lesson's run does exactly
# that to make overfitting visible.
# Four remedies, each measured there:
#
# - **weight decay** (section 5) pulls every weight towards zero: a network with smaller weights
#   computes a smoother function, which has less room to fit one image's quirks (the study uses a
#   strong decay, 1.0: AdamW shrinks each weight by lr·1.0 = 0.1% per step, and a run on 1,000
#   images has few steps);
# - **dropout** zeroes a random share of the hidden activations at every training step (and scales
#   the rest up, so their sum keeps its expected value), so no unit can rely on any other; it is
#   switched off in evaluation mode;
# - **augmentation** shows the network slightly changed copies of its images — here shifted by up
#   to two pixels — so it must learn what survives the change;
# - **early stopping** keeps the weights of the epoch with the lowest validation loss, whatever
#   happens after it.
#
# Dropout in training and in evaluation mode:

# %%
dropout = nn.Dropout(p=0.2)
ones = torch.ones(2, 10)
print("train mode:", dropout.train()(ones))  # a fifth zeroed, the rest × 1/0.8 = 1.25
print("eval mode: ", dropout.eval()(ones))  # unchanged

# %% [markdown]
# And augmentation: `RandomShift` (the library's batch transform, what `data.train_loader(shift=2)`
# adds) moves each image of a batch by its own random offset of up to two pixels. Each row below is
# one digit and seven random shifts of it; the network sees a different copy at every epoch.

# %%
from e2edl.data.batch_transforms import BatchNormalize, RandomShift

digits = data.x_train[:3].repeat_interleave(8, dim=0)  # (24, 28, 28): each digit 8 times
normalised, _ = BatchNormalize()((digits, None))  # (24, 1, 28, 28)
shifted, _ = RandomShift(2, generator=torch.Generator().manual_seed(0))((normalised, None))
shifted[::8] = normalised[::8]  # the first of each row unshifted
image_grid(shifted, ncols=8)
plt.show()

# %% [markdown]
# ## 8. The recipe, in sight
#
# Everything above comes together in the lesson's recipe: the `MLP` of `e2edl.nn.mlp` (`Flatten →
# [Linear → ReLU → Dropout] × 2 → Linear`), AdamW with decoupled weight decay on the weight matrices
# (biases are left alone: shrinking an offset towards zero makes nothing simpler), the one-cycle
# schedule, and `fit()` — the loop of section 2 plus a validation check twice per epoch, a
# `metrics.jsonl` log, a checkpoint and progress bars. The settings are a frozen dataclass:

# %%
print(RECIPE)
show_source(train_mlp)

# %% [markdown]
# The cell below trains it, into `OUT / "mlp"` (quick mode: two epochs; full mode: six). Run it
# again and it finds the finished checkpoint and loads it instead of training (`resume=True`).
# To try other settings, make a new recipe — `dataclasses.replace(RECIPE, lr=5e-3)` — and train it
# into *another* folder: a checkpoint of one recipe refuses to continue another.

# %%
recipe = QUICK_RECIPE if QUICK else RECIPE
model, history = train_mlp(data, recipe, run_dir=OUT / "mlp", resume=True)
print(f"validation accuracy after {recipe.epochs} epochs: {history.last['val_accuracy']:.4f}")

# %% [markdown]
# ## 9. The lesson's run, and the test set — once
#
# `run_lesson` is what `e2edl run mnist-mlp` calls. It finds the network the cell above trained
# (same recipe, same folder) and reuses it, then runs the two studies — the optimiser comparison
# and the generalisation study — and only then, with every decision made, scores the recipe's
# network on the test set. `seconds_to_98` is the first validation check at ≥ 98%, on a clock that
# also counts reading the data files; it is a fact about the reference machine, reported but never
# failing a run elsewhere.

# %%
from e2edl.course import full_run, run_lesson

result = run_lesson("mnist-mlp", quick=QUICK, out=OUT, resume=True)

# %% [markdown]
# The recipe's training, checked twice per epoch: the training loss (a running mean over the
# steps, with dropout on) and the validation loss (dropout off), and the validation accuracy with
# the 98% line dotted. With 55,000 images, dropout and a few epochs there is no overfitting yet: the
# validation loss ends at (or within 2% of) its lowest — `recipe_val_loss_rise` in the claims table.
# The small training set of the next study is where overfitting shows.

# %%
result.show("curves", "accuracy")

# %% [markdown]
# ### The optimisers compared
#
# Each optimiser after the same single epoch: its validation error at each of its four learning
# rates (the figure; both axes logarithmic, lower is better, a diverged run has no point) and its
# validation accuracy at each rate and at its best (the table). Three things to read in them:
#
# - **At the same learning rate, momentum goes further — and tips over sooner.** Its velocity sums
#   about 1/(1 − μ) = 10 past gradients, so its steps are up to ten times longer than SGD's at the
#   same rate: at 0.03 momentum is far ahead, at 0.3 its steps are too long and plain SGD is ahead.
# - **So the learning rate matters as much as the optimiser.** A comparison at one shared rate
#   would mostly compare rates, and could crown either one; that is why each optimiser gets its own
#   small search, decided on the validation split.
# - **AdamW and Adam sit close together** after one short epoch: the decay has had few steps to act.
#   Decoupled decay matters in long runs.
#
# One seed ranks two rows reliably only when they are several standard errors apart (the table's
# title gives one): compare the gap between the top rows with it before calling a winner.

# %%
result.show("optimisers")
result.tables["optimisers"]

# %% [markdown]
# ### Generalisation, measured
#
# Left: 1,000 training images, no regulariser. The training loss falls towards zero (note the log
# scale) while the validation loss bottoms out early — the dotted line, where early stopping would
# keep the weights — and then climbs: overfitting. The dashed curves are the same network with
# augmentation: its training loss stays far higher, because the shifted copies are rarely the
# exact images it saw before, and its validation loss goes lower, for longer. Right: the validation
# accuracy of every variant, epoch by epoch.

# %%
result.show("overfitting")
result.tables["generalisation"]

# %% [markdown]
# Read the table for what each remedy bought, in validation accuracy and loss, against the first
# row. A few things to notice:
#
# - Without a regulariser the network fits all 1,000 training images (train accuracy 1.0) and the
#   validation accuracy is far lower: that difference is the generalisation gap.
# - Early stopping keeps the epoch of the lowest validation *loss*: it buys a better loss (the later
#   epochs grow more confident on the images they get wrong, which the loss punishes) but not
#   necessarily better accuracy — here compare its row with the first. Stopping on validation
#   accuracy instead is an equally valid choice; either way, it is the validation split that decides.
# - Of the three regularisers on its own, augmentation buys the most (`augmentation_gain` and
#   `augmentation_lead` in the claims table): shifted copies are new information about what a digit
#   looks like, where weight decay and dropout only restrain the network.
#
# ### The test set
#
# Every decision is made, so the recipe's network meets the test set, once. Its accuracy need not
# equal the validation accuracy: they are different digits, and MNIST's test digits come from other
# writers than its training digits. What the test score gives is an estimate that no choice of ours
# has tuned.

# %%
print(
    f"validation accuracy {result.metrics['val_accuracy']:.4f}, test accuracy {result.metrics['test_accuracy']:.4f}"
)

# %% [markdown]
# Which digits get confused with which? Rows are the true digit, columns the prediction; the
# off-diagonal counts are the mistakes.

# %%
result.show("confusion")

# %% [markdown]
# And the mistakes the network was *most sure* about. Many are digits a person would hesitate on
# too; some are plain errors that a network which sees shapes rather than isolated pixels avoids —
# the convolutional network of the mnist-cnn lesson.

# %%
result.show("mistakes")

# %% [markdown]
# What the full run on the reference machine measured (six epochs of the recipe; the studies on
# more data and epochs):

# %%
full_run("mnist-mlp")

# %%
assert result.passed(), "a claim of this lesson failed; see the table above"

# %% [markdown]
# ## Exercises
#
# Each exercise asks you to write one piece of this lesson yourself. Replace the
# `raise NotImplementedError` line, run the cell, then run the check below it: it prints ✓, or ✗
# with a hint saying what is wrong. (`e2edl check mnist-mlp --notebook YOUR_COPY.ipynb` runs all of
# them from the command line.)
#
# **1. One AdamW step.** Write `adamw_step(params, grads, state, ...)`: one step of AdamW on a list
# of tensors, updating them in place, equal to `torch.optim.AdamW`'s. `state` is a dict that is
# empty at the first call and comes back at the next: keep your moments and the step count in it.
# The check runs four steps on fixed tensors and gradients.

# %% tags=["exercise"]
import torch


def adamw_step(params, grads, state, *, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01):
    """One AdamW step, in place, as torch.optim.AdamW takes it.

    params, grads: lists of tensors of the same shapes. state: a dict, empty at the first call,
    that you fill; the next call gets it back. Update each params[i] in place; return nothing.
    """
    raise NotImplementedError  # your code here


# %%
from e2edl.exercises import check

check("adamw-step", adamw_step)

# %% [markdown]
# **2. Warm-up, then cosine.** Write `warmup_cosine_lr(step, ...)`: the learning rate at optimiser
# step `step` (0, 1, 2, ...) of a linear warm-up from `peak_lr/warmup_steps` to `peak_lr` (reached
# at step `warmup_steps − 1`), then a cosine from `peak_lr` down to 0 at `total_steps`, and 0 after
# that — the library's `warmup_cosine` of section 6, as a formula.

# %% tags=["exercise"]
import math  # noqa: F401  (math.cos, math.pi)


def warmup_cosine_lr(step, *, peak_lr, warmup_steps, total_steps):
    """The learning rate (a float) at optimiser step ``step`` (counted from 0)."""
    raise NotImplementedError  # your code here


# %%
check("warmup-cosine-lr", warmup_cosine_lr)

# %% [markdown]
# **3. The epoch early stopping keeps.** Given the validation loss after each epoch and a
# `patience`, training stops once `patience` epochs in a row bring no new lowest loss (an equal
# loss is no improvement). Return the epoch, counted from 1, whose weights early stopping keeps:
# the one with the lowest loss seen before it stopped.


# %% tags=["exercise"]
def early_stopping_epoch(val_losses, patience):
    """val_losses[i] is the validation loss after epoch i + 1; return the epoch kept (an int)."""
    raise NotImplementedError  # your code here


# %%
check("early-stopping-epoch", early_stopping_epoch)
