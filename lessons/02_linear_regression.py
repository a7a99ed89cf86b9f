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
# # Linear regression via SGD — then logistic and softmax regression
#
# Every model in this course, from this straight line to the vision transformer of the vit lesson,
# is trained by the same three things: a **model** with parameters, a **loss** that says how wrong
# it is, and an **optimizer** that nudges the parameters downhill. Linear regression is the smallest
# problem where all three are visible at once, and where we can check the answer exactly, because
# it also has a closed-form solution.
#
# The plan:
# 1. make data from a line we know, `y = 2 + 3x + noise`;
# 2. solve it in closed form (least squares);
# 3. solve it with gradient descent written by hand, and see what the learning rate does;
# 4. solve it with `nn.Linear` + `torch.optim.SGD`, first with a loop we write, then with the
#    course's `fit()`;
# 5. classify two clouds of points with **logistic regression** and its loss, the binary
#    cross-entropy;
# 6. go from two classes to many: **softmax** and the **cross-entropy** loss that every classifier
#    in the later lessons is trained with, written by hand and checked against PyTorch.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first (this release)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "e2edl @ git+https://github.com/e2edl/e2edl@v0.1.0"], check=True)  # fmt: skip

from e2edl.course.notebook import setup_lesson, show_source

QUICK, OUT = setup_lesson("linear-regression")  # prints the mode, the run folder and the reference timings

# %%
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from torch import nn

from e2edl.exercises import check  # for the exercises at the end

print("torch", torch.__version__)

# %% [markdown]
# ## 1. Data from a line we know
#
# We draw `x` uniformly from [0, 2] and set `y = 2 + 3x + ε` with Gaussian noise `ε` of standard
# deviation 0.5. The noise matters: without it every method would find `b = 2, w = 3` exactly and
# we could not tell a good estimator from a lucky one. Shapes are `(n, 1)`: one row per example,
# one column per feature — the layout `nn.Linear` expects. The lesson's run draws the same points
# with the same function:

# %%
from e2edl.recipes.linear_regression import make_line

show_source(make_line)
x, y = make_line(n=1000, seed=0)
n = len(x)
noise = y - (2 + 3 * x)
print("x:", tuple(x.shape), " y:", tuple(y.shape), " noise std:", round(noise.std().item(), 3))

plt.figure(figsize=(5, 3.5))
plt.scatter(x, y, s=5, alpha=0.4)
plt.plot([0, 2], [2, 8], "k--", label="the true line y = 2 + 3x")
plt.xlabel("x")
plt.ylabel("y")
plt.legend()
plt.show()

# %% [markdown]
# ## 2. The closed form: least squares
#
# Stack a column of ones beside `x` to get the design matrix `X` (the ones multiply the intercept).
# The mean squared error `L(θ) = mean((Xθ − y)²)` is a bowl; its bottom solves the *normal
# equations* `XᵀX θ = Xᵀy`. `torch.linalg.lstsq` solves them stably (via a QR decomposition, never
# by inverting `XᵀX`). We work in `float64` here, so that the methods we compare can agree to many
# digits.

# %%
X = torch.cat([torch.ones_like(x), x], dim=1).double()  # (n, 2)
theta = torch.linalg.lstsq(X, y.double()).solution  # (2, 1)
b_ls, w_ls = theta[0, 0].item(), theta[1, 0].item()
print(f"least squares: b = {b_ls:.4f}, w = {w_ls:.4f}")

# How far off can an estimate from 1,000 noisy points be? Its standard error:
residual_std = (X @ theta - y.double()).std().item()
standard_errors = residual_std * torch.linalg.inv(X.T @ X).diagonal().sqrt()
print(f"standard errors: b ± {standard_errors[0]:.3f}, w ± {standard_errors[1]:.3f}")

# %% [markdown]
# Neither number is exactly 2 or 3, and that is right: the estimates are themselves random, with
# the standard errors printed above. That is why the claims of this lesson allow 0.1 — about three
# standard errors — between the estimates and the truth. The library's `least_squares` is this
# cell's two lines:

# %%
from e2edl.recipes.linear_regression import least_squares

print("library:", least_squares(x, y), " ours:", (b_ls, w_ls))
assert least_squares(x, y) == (b_ls, w_ls)

# %% [markdown]
# ## 3. Gradient descent, by hand
#
# Now forget the formula and walk downhill. With predictions `ŷ = b + w·x`, the gradients of the
# MSE are
#
# $$\frac{\partial L}{\partial b} = 2\,\overline{(\hat y - y)}, \qquad
#   \frac{\partial L}{\partial w} = 2\,\overline{(\hat y - y)\,x}.$$
#
# First, let autograd (the tensors-autograd lesson) confirm the hand-derived gradients at one point:

# %%
b, w = torch.tensor(0.5, requires_grad=True), torch.tensor(-1.0, requires_grad=True)
loss = ((b + w * x - y) ** 2).mean()
loss.backward()
error = (b + w * x - y).detach()
print("autograd:", round(b.grad.item(), 5), round(w.grad.item(), 5))
print("by hand: ", round(2 * error.mean().item(), 5), round(2 * (error * x).mean().item(), 5))

# %% [markdown]
# They agree, so here is gradient descent: start at zero, step against the gradient.


# %%
def gradient_descent(x, y, lr, steps):
    x, y = x.double(), y.double()
    b, w, losses = 0.0, 0.0, []
    for _ in range(steps):
        error = b + w * x - y  # (n, 1): ŷ − y
        losses.append((error**2).mean().item())
        b, w = b - lr * 2 * error.mean().item(), w - lr * 2 * (error * x).mean().item()
    return b, w, losses


b_gd, w_gd, losses = gradient_descent(x, y, lr=0.3, steps=1000)
print(f"gradient descent: b = {b_gd:.4f}, w = {w_gd:.4f}, final MSE = {losses[-1]:.4f}")
print(f"distance to least squares: {max(abs(b_gd - b_ls), abs(w_gd - w_ls)):.2e}")

# %% [markdown]
# Gradient descent lands on the least-squares answer (to the many decimals printed): for a convex
# bowl, walking downhill long enough *is* solving the normal equations. The library's
# `gradient_descent`, which the lesson's run uses, takes the very same steps:

# %%
from e2edl.recipes import linear_regression as recipes

assert recipes.gradient_descent(x, y, lr=0.3, steps=1000) == (b_gd, w_gd, losses)
print("library's gradient_descent: the same b, w and losses, step for step")

# %% [markdown]
# ### How big a step? The learning rate, and when it explodes
#
# Near the bottom, the loss is a quadratic with curvature given by its Hessian
# `H = (2/n)·XᵀX`. Along the Hessian's steepest direction (largest eigenvalue `λ_max`) one step
# multiplies the remaining error by `(1 − lr·λ_max)`. If that factor's size is above 1 — that is,
# if `lr > 2/λ_max` — every step overshoots further than the last and the loss grows
# geometrically. So there is a **critical learning rate** we can compute from the data:

# %%
hessian = 2 * X.T @ X / n
eigenvalues = torch.linalg.eigvalsh(hessian)
lr_critical = 2 / eigenvalues.max().item()
print(f"Hessian eigenvalues: {eigenvalues.tolist()}; critical learning rate 2/λ_max = {lr_critical:.4f}")
assert lr_critical == recipes.critical_learning_rate(x)  # the library's, used by the lesson's run

best_mse = ((X @ theta - y.double()) ** 2).mean().item()  # the bottom of the bowl
curves = {}
for factor in (0.1, 0.5, 0.9, 1.1):
    *_, curve = gradient_descent(x, y, lr=factor * lr_critical, steps=100)
    curves[factor] = curve
    print(f"lr = {factor} × critical: MSE after 100 steps = {curve[-1]:.6g}  (minimum {best_mse:.6g})")
print(f"1.1 × critical multiplied the loss by {curves[1.1][-1] / curves[1.1][0]:.2g} in 100 steps")

# Plot how far above the minimum each run is: on a log scale, steady convergence is a straight line.
plt.figure(figsize=(5, 3.5))
for factor, curve in curves.items():
    plt.semilogy([max(loss - best_mse, 1e-16) for loss in curve], label=f"lr = {factor} × critical")
plt.xlabel("step")
plt.ylabel("MSE − minimum (log scale)")
plt.legend()
plt.show()

# %% [markdown]
# Just over the limit (1.1×) the loss climbs without bound. Below it, every run converges, and
# the plot shows *how fast* is decided by two numbers: the steepest direction (`λ_max`) caps the
# learning rate, while progress along the flattest direction (`λ_min`) shrinks the error only by
# `(1 − lr·λ_min)` per step. So after a quick first drop each curve becomes a straight line whose
# slope is set by `lr·λ_min` — and the biggest stable learning rate (0.9×) wins. The ratio
# `λ_max/λ_min` (the *condition number*) is why badly scaled inputs train slowly, and why we
# normalise inputs in later lessons. Real networks have no closed-form `λ_max`, but the same
# picture holds locally, which is why a learning rate that is "a bit too high" does not train a
# bit worse — it diverges.
#
# ## 4. The PyTorch way: `nn.Linear` + `torch.optim.SGD`
#
# `nn.Linear(1, 1)` holds `w` (its `weight`) and `b` (its `bias`); `torch.optim.SGD` does the
# update; autograd computes the gradients. We also switch to **minibatches**: each step uses 32
# random examples instead of all 1,000 — noisier steps, but many more per pass over the data
# (an *epoch*), which is what makes training on large data sets possible. The loop, once, by hand:

# %%
torch.manual_seed(0)
model = nn.Linear(1, 1)
optimizer = torch.optim.SGD(model.parameters(), lr=0.05)
loss_fn = nn.MSELoss()
for epoch in range(5):
    order = torch.randperm(n)  # a new shuffle every epoch
    for start in range(0, n, 32):
        idx = order[start : start + 32]
        loss = loss_fn(model(x[idx]), y[idx])
        optimizer.zero_grad()  # gradients accumulate unless cleared (the tensors-autograd lesson)
        loss.backward()
        optimizer.step()
    print(f"epoch {epoch + 1}: full-data MSE {loss_fn(model(x), y).item():.4f}")
print(f"nn.Linear: b = {model.bias.item():.4f}, w = {model.weight.item():.4f}")

# %% [markdown]
# That loop — shuffle, batch, forward, loss, `zero_grad`, `backward`, `step` — is the heart of every
# training run. The course's `e2edl.train.fit` is this same loop with what a real run needs added:
# progress bars, evaluation with `torchmetrics`, a `metrics.jsonl` log, a checkpoint every epoch
# (so `--resume` can continue a killed run to the very same weights), gradient clipping, mixed
# precision on GPUs — and a clear stop when the loss stops being a number:

# %%
from e2edl.data import TensorLoader
from e2edl.train import TrainingDiverged, fit

model = nn.Linear(1, 1)
try:
    fit(
        model,
        TensorLoader(x, y, batch_size=32, shuffle=True),
        epochs=3,
        loss_fn=nn.MSELoss(),
        optimizer=torch.optim.SGD(model.parameters(), lr=5.0),
        progress=False,
    )
except TrainingDiverged as error:
    print("fit stopped:", error)

# %% [markdown]
# With a sane learning rate, the lesson's recipe trains the line with `fit`. A recipe is a frozen
# dataclass of settings plus a function that builds the model and calls `fit`; the lesson's run
# calls the same function with the same settings, and finds this training in `OUT / "sgd"` instead
# of repeating it. Here it is:

# %%
show_source(recipes.train_linear_regression)
show_source(recipes.fit_linear_model)
print(recipes.LINE_RECIPE)

# %%
line, history = recipes.train_linear_regression((x, y), recipes.LINE_RECIPE, run_dir=OUT / "sgd")
print(f"fit: b = {line.bias.item():.4f}, w = {line.weight.item():.4f}")
print("last epoch:", history.last)

# %% [markdown]
# To try other settings, change the recipe and give the run its own folder, e.g.
# `recipes.train_linear_regression((x, y), dataclasses.replace(recipes.LINE_RECIPE, lr=0.2),
# run_dir=OUT / "sgd-lr0.2")`: a run folder remembers the settings that trained it, and refuses
# to continue a training of different ones.
#
# ## 5. Logistic regression: from predicting numbers to predicting classes
#
# Two clouds of points, class 0 around (−1.5, −1.5) and class 1 around (1.5, 1.5), each point's
# label the cloud it was drawn from. We draw 400 points to learn from, keep a fifth of them aside
# as a **validation** split to watch training on, and draw 2,000 fresh **test** points that are
# scored once, at the very end:

# %%
show_source(recipes.make_blobs)
two = recipes.make_blobs(recipes.TWO_BLOBS, seed=0)
print(
    "train", tuple(two.x_train.shape), "validation", tuple(two.x_val.shape), "test", tuple(two.x_test.shape)
)
print("labels:", two.y_train[:10].tolist(), "...")

# %% [markdown]
# The model is still linear, `z = w·x + b`, but `z` is now a **logit**: `σ(z) = 1 / (1 + e⁻ᶻ)`, the
# sigmoid, is the model's probability of class 1. The loss is the **binary cross-entropy**: minus
# the log of the probability the model gave to the right class, averaged over the points,
#
# $$L = -\frac1n \sum_i \Big[\, y_i \log \sigma(z_i) + (1 - y_i) \log\big(1 - \sigma(z_i)\big) \Big],
#   \qquad y_i \in \{0, 1\}.$$
#
# A confident right answer costs almost nothing, a confident wrong one a lot (`−log` of a small
# probability). Written literally, the formula breaks for large logits: in `float32`, `σ(20)` is
# exactly 1, so `log(1 − σ(20)) = −∞`, and `σ(−120)` is exactly 0, so `log σ(−120) = −∞`. Since `log σ(z) = −softplus(−z)` and `log(1 − σ(z)) =
# −softplus(z)`, with `softplus(z) = log(1 + eᶻ)` computed without overflow, the same loss is
# `softplus(z) − y·z` — which is what `F.binary_cross_entropy_with_logits` computes:

# %%
z = torch.tensor([-3.0, 0.5, 2.0, 20.0, -120.0])  # logits
labels = torch.tensor([0.0, 1.0, 1.0, 0.0, 1.0])
literal = -(labels * torch.log(torch.sigmoid(z)) + (1 - labels) * torch.log(1 - torch.sigmoid(z)))
stable = F.softplus(z) - labels * z
print("literal formula:", literal)
print("softplus form:  ", stable)
print("PyTorch:        ", F.binary_cross_entropy_with_logits(z, labels, reduction="none"))

# %% [markdown]
# The literal formula gives `inf` for the two confident mistakes (the last two points); the
# softplus form gives their real cost, exactly as PyTorch does. `nn.BCEWithLogitsLoss` is this loss, averaged; it takes the logit,
# not the probability, for exactly this reason.
#
# One shape detail: `nn.Linear(2, 1)` outputs one logit per point as a `(B, 1)` matrix, while the
# labels are a `(B,)` vector, and the loss wants the two shapes equal (the tensors-autograd lesson
# showed what broadcasting `(B, 1)` against `(B,)` does). `nn.Flatten(0)` flattens every dimension
# from the first on into one, `(B, 1) → (B,)` — the same as `.squeeze(1)`, but as a layer, so it can
# sit in an `nn.Sequential` after the linear layer:

# %%
print(
    tuple(nn.Linear(2, 1)(two.x_train[:5]).shape),
    "→",
    tuple(nn.Sequential(nn.Linear(2, 1), nn.Flatten(0))(two.x_train[:5]).shape),
)

# %% [markdown]
# The recipe, and the training:

# %%
show_source(recipes.train_logistic_regression)
logistic, history = recipes.train_logistic_regression(two, recipes.LOGISTIC_RECIPE, run_dir=OUT / "logistic")
print(f"validation accuracy after {len(history.records)} epochs: {history.last['val_accuracy']:.4f}")

# %% [markdown]
# scikit-learn solves the same problem with an exact optimiser — but its `LogisticRegression`
# **adds an L2 penalty by default** (`C=1.0`, a weight-decay term), so out of the box it minimises a
# different loss. `C=np.inf` removes the penalty, and then it minimises exactly our loss. Both,
# trained on our training points, and ours, scored once on the test points:

# %%
import numpy as np
from sklearn.linear_model import LogisticRegression

ours = recipes.accuracy(logistic, two.x_test, two.y_test)
for name, options in (("default (L2 penalty, C=1)", {}), ("unpenalised (C=inf)", {"C": np.inf})):
    fitted = LogisticRegression(**options).fit(two.x_train.numpy(), two.y_train.numpy())
    print(
        f"scikit-learn, {name:26}: test accuracy {fitted.score(two.x_test.numpy(), two.y_test.numpy()):.4f}"
    )
print(f"ours, SGD on the same points       : test accuracy {ours:.4f}")

# %% [markdown]
# On this data the penalty hardly matters, and our SGD-trained model lands within a fraction of a
# percent of the unpenalised solver (the lesson claims at most one point). The two clouds overlap a
# little, so even the best possible line misclassifies a few points: accuracy near but below 100%
# is the truth of this data, not a training failure. How near? For two equally likely Gaussian
# clouds with the same spread, the best boundary is the perpendicular bisector of the centres, and
# a point lands on the wrong side when its noise along the line joining the centres exceeds half
# their distance:

# %%
half_distance = torch.tensor([1.5, 1.5]).norm()  # centre to midpoint, in units of σ = 1
best_possible = torch.distributions.Normal(0.0, 1.0).cdf(half_distance).item()
print(f"best possible accuracy on this data: {best_possible:.4f}")

# %% [markdown]
# ## 6. Many classes: softmax and cross-entropy
#
# With K classes the model gives K logits per point, `z = (z₁, …, z_K)`, one score per class, and
# **softmax** turns them into K probabilities:
#
# $$p_k = \frac{e^{z_k}}{\sum_j e^{z_j}}.$$
#
# Exponentials make every score positive; dividing by their sum makes them add up to 1; the largest
# logit gets the largest probability. Adding the same number to every logit changes nothing, since
# it multiplies the top and the bottom by the same `eᶜ`. With two classes and logits `(0, z)`,
# `p₂ = eᶻ / (1 + eᶻ) = σ(z)`: logistic regression *is* the two-class softmax, with one logit
# pinned to 0.


# %%
def softmax(logits):  # (B, K) -> (B, K), each row summing to 1
    e = torch.exp(logits)
    return e / e.sum(dim=1, keepdim=True)


z = torch.tensor([-2.0, 0.0, 3.0])
print("softmax of (0, z), second column:", softmax(torch.stack([torch.zeros(3), z], dim=1))[:, 1])
print("sigmoid(z):                      ", torch.sigmoid(z))

# %% [markdown]
# This literal softmax has the same weakness as the literal binary loss. `e^z` is `inf` in `float32`
# once `z` passes about 88 (and `inf / inf` is `nan`), and real networks produce logits that large. Since shifting all logits
# changes nothing, subtract the largest one first: then the largest exponential is `e⁰ = 1` and
# nothing overflows. The log of the probabilities, which the loss needs, follows the same way —
# `log p_k = z_k − logsumexp(z)`, with `logsumexp(z) = m + log Σ_j e^{z_j − m}` and `m` the largest
# logit (the **log-sum-exp trick**):

# %%
big = torch.tensor([[1000.0, 1001.0, 1002.0]])
print("literal softmax:", softmax(big))


def log_softmax(logits):  # (B, K) -> (B, K), stable for any logits
    m = logits.max(dim=1, keepdim=True).values  # (B, 1), the largest logit of each row
    return logits - m - torch.log(torch.exp(logits - m).sum(dim=1, keepdim=True))


print("shifted:        ", log_softmax(big).exp())
print("PyTorch:        ", F.softmax(big, dim=1))

# %% [markdown]
# The **cross-entropy** loss is the binary one generalised: minus the log of the probability the
# model gives to the right class `y`, averaged over the batch, `L = mean(−log p_y)`. In terms of the
# logits, `−log p_y = logsumexp(z) − z_y`. `F.cross_entropy` (and `nn.CrossEntropyLoss`) take the
# logits and the class indices and compute exactly that; ours, on ordinary and on huge logits:


# %%
def cross_entropy_by_hand(logits, targets):  # (B, K) logits, (B,) class indices -> a number
    log_p = log_softmax(logits)  # (B, K)
    return -log_p[torch.arange(len(targets)), targets].mean()  # pick log p_y in each row


g = torch.Generator().manual_seed(0)
targets = torch.randint(0, 10, (64,), generator=g)
for scale in (1.0, 1e4):
    logits = torch.randn(64, 10, generator=g) * scale
    ours, theirs = cross_entropy_by_hand(logits, targets), F.cross_entropy(logits, targets)
    print(
        f"logits × {scale:g}: ours {ours.item():.6f}  PyTorch {theirs.item():.6f}  |diff| {abs(ours - theirs).item():.1e}"
    )
    assert abs(ours - theirs) <= 1e-6 * (1 + abs(theirs))

# %% [markdown]
# Its gradient is remarkably simple: `∂L/∂z_k = (p_k − [k = y]) / B`. Each logit is pushed down by
# the probability it got, and the right class's is pushed up by 1 on top: the gradient vanishes
# only when the model puts probability 1 on the right class. Autograd agrees:

# %%
logits = torch.randn(4, 3, generator=g, requires_grad=True)
targets = torch.tensor([0, 2, 1, 1])
cross_entropy_by_hand(logits, targets).backward()
by_formula = (softmax(logits.detach()) - F.one_hot(targets, 3)) / len(targets)
print("largest |autograd − (p − onehot)/B|:", (logits.grad - by_formula).abs().max().item())

# %% [markdown]
# ### Label smoothing
#
# That gradient never reaches zero while the model is anything short of certain, so on examples it
# already gets right a network keeps growing its logits. **Label smoothing** softens the target: with
# a smoothing `ε`, the target distribution `q` mixes the one-hot answer with the uniform
# distribution over all K classes, `q = (1 − ε)·onehot + ε/K`, and the loss is the cross-entropy
# against `q`, `−Σ_k q_k log p_k`. With `ε = 0.1` and ten classes the right class gets
# `0.9 + 0.01 = 0.91` and every other class `0.01` — the cell prints it — and the loss is smallest
# when the model's probabilities equal those, not at infinitely large logits. `F.cross_entropy(...,
# label_smoothing=0.1)` is the same thing:

# %%
epsilon, classes = 0.1, 10
targets = torch.randint(0, classes, (64,), generator=g)
q = (1 - epsilon) * F.one_hot(targets, classes) + epsilon / classes  # (B, K) target distributions
print(f"target of an example of class {targets[0].item()}:", [round(v, 2) for v in q[0].tolist()])
logits = torch.randn(64, classes, generator=g) * 3
ours = -(q * log_softmax(logits)).sum(dim=1).mean()
theirs = F.cross_entropy(logits, targets, label_smoothing=epsilon)
print(
    f"smoothed cross-entropy: ours {ours.item():.6f}  PyTorch {theirs.item():.6f}  |diff| {abs(ours - theirs).item():.1e}"
)
assert abs(ours - theirs) <= 1e-6 * (1 + abs(theirs))

# %% [markdown]
# The library holds these functions in `e2edl.nn.softmax` — `log_softmax`, `cross_entropy` with
# `label_smoothing`, the binary loss in its softplus form — tested against PyTorch's in
# `tests/test_softmax.py`; the lesson's run checks its `cross_entropy` against `F.cross_entropy`
# too. Ours against the library's:

# %%
from e2edl.nn import softmax as library

show_source(library.cross_entropy)
print(
    "log_softmax, largest |ours − library|:",
    (log_softmax(logits) - library.log_softmax(logits)).abs().max().item(),
)
print(
    "cross-entropy, smoothed: ours",
    ours.item(),
    " library",
    library.cross_entropy(logits, targets, 0.1).item(),
)
assert torch.allclose(log_softmax(logits), library.log_softmax(logits), atol=1e-6)
assert torch.allclose(ours, library.cross_entropy(logits, targets, label_smoothing=0.1), atol=1e-6)

# %% [markdown]
# From here on the course uses PyTorch's `F.cross_entropy` / `nn.CrossEntropyLoss`, knowing what
# it computes.
#
# ### Softmax regression on three classes
#
# A linear layer with K outputs, trained on the cross-entropy, is **softmax regression** (or
# multinomial logistic regression): the multi-class version of section 5. Three clouds of points
# this time, on a circle, overlapping more than the two above:

# %%
three = recipes.make_blobs(recipes.THREE_BLOBS, seed=0)
show_source(recipes.train_softmax_regression)
softmax_model, history = recipes.train_softmax_regression(
    three, recipes.SOFTMAX_RECIPE, run_dir=OUT / "softmax"
)
print(f"validation accuracy after {len(history.records)} epochs: {history.last['val_accuracy']:.4f}")
unpenalised = LogisticRegression(C=np.inf).fit(three.x_train.numpy(), three.y_train.numpy())
print(f"test accuracy: ours {recipes.accuracy(softmax_model, three.x_test, three.y_test):.4f}, "
      f"scikit-learn unpenalised {unpenalised.score(three.x_test.numpy(), three.y_test.numpy()):.4f}")  # fmt: skip

# %% [markdown]
# Each class claims the region of the plane where its logit is the largest. Because every logit is
# linear in `x`, the borders between regions are straight lines — the run below draws them.
#
# ## 7. The lesson's run
#
# Everything above, run once more by the library — the same functions, recipes and run folders —
# with the lesson's claims checked: the three methods recover `b = 2`, `w = 3` within 0.1; gradient
# descent reaches the least-squares answer; a learning rate 10% over the critical one multiplies the
# loss by at least 10¹² in 100 steps; the hand-written cross-entropy equals PyTorch's; the two
# classifiers reach their accuracies and stay within one point of scikit-learn's unpenalised solver.
# The three SGD trainings were done above, so the run reuses them:

# %%
from e2edl.course import run_lesson

result = run_lesson("linear-regression", quick=QUICK, out=OUT, resume=True)

# %%
result.tables["estimates"]

# %%
result.tables["classifiers"]

# %% [markdown]
# The three fits of the line over the data (left), the logistic regression's probability of class 1
# with its 0.5 boundary over 500 test points (middle), and the softmax regression's three regions
# with 500 test points (right):

# %%
result.show("fits", "logistic_boundary", "softmax_regions")

# %%
assert result.passed(), "a claim of this lesson failed; see the table above"

# %% [markdown]
# ## Exercises
#
# Write each function in the cell tagged `exercise`, then run the cell after it: it prints ✓, or ✗
# with a hint saying what is wrong. `e2edl check linear-regression --notebook <your copy>` checks
# them all from the command line. Try them without scrolling up.
#
# ### 1. Softmax cross-entropy
#
# Write the mean cross-entropy of `(B, C)` logits against `(B,)` class indices, with label
# smoothing `ε` (the target `(1 − ε)·onehot + ε/C`), equal to `F.cross_entropy(logits, targets,
# label_smoothing=ε)` — also for logits in the thousands.

# %% tags=["exercise"]
import torch


def softmax_cross_entropy(
    logits: torch.Tensor, targets: torch.Tensor, label_smoothing: float = 0.0
) -> torch.Tensor:
    """(B, C) logits and (B,) class indices → the mean cross-entropy (a 0-d tensor)."""
    raise NotImplementedError  # your code here


# %%
check("softmax-cross-entropy", softmax_cross_entropy)

# %% [markdown]
# ### 2. One step of gradient descent, in matrix form
#
# With a design matrix `X` (n, d) (a column of ones for the intercept, then the features), targets
# `y` (n,) and parameters `θ` (d,), the loss is `L(θ) = mean((Xθ − y)²)`. Return the parameters after
# one gradient-descent step with learning rate `lr`, as a new tensor.


# %% tags=["exercise"]
def gradient_descent_step(theta, X, y, lr):
    """θ (d,), X (n, d), y (n,) → θ after one step of gradient descent on mean((Xθ − y)²)."""
    raise NotImplementedError  # your code here


# %%
check("gradient-descent-step", gradient_descent_step)

# %% [markdown]
# ### 3. The critical learning rate
#
# For the same loss and any design matrix `X` (n, d), return the learning rate above which gradient
# descent diverges (a float). `torch.linalg.eigvalsh` gives the eigenvalues of a symmetric matrix.

# %% tags=["exercise"]
import torch


def critical_learning_rate(X: torch.Tensor) -> float:
    """X (n, d) → the largest learning rate at which gradient descent on mean((Xθ − y)²) converges."""
    raise NotImplementedError  # your code here


# %%
check("critical-learning-rate", critical_learning_rate)
