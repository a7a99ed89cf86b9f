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
# # 02 · Linear regression via SGD — and logistic regression
#
# Every model in this course, up to GPT, is trained by the same three things: a **model** with
# parameters, a **loss** that says how wrong it is, and an **optimizer** that nudges the parameters
# downhill. Linear regression is the smallest problem where all three are visible at once, and
# where we can check the answer exactly, because it also has a closed-form solution.
#
# The plan:
# 1. make data from a line we know, `y = 2 + 3x + noise`;
# 2. solve it in closed form (least squares);
# 3. solve it with gradient descent written by hand, and see what the learning rate does;
# 4. solve it with `nn.Linear` + `torch.optim.SGD`, first with a loop we write, then with the
#    course's `fit()`;
# 5. classify two clouds of points with **logistic regression**.

# %%
import os
import subprocess
import sys
from pathlib import Path

if "google.colab" in sys.modules:  # on Colab, install the course library first
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "e2edl @ git+https://github.com/e2edl/e2edl"],
        check=True,
    )

import matplotlib.pyplot as plt
import torch
from torch import nn

QUICK = os.environ.get("E2EDL_QUICK") == "1"  # CI runs every notebook in quick mode
RUNS = Path(os.environ.get("E2EDL_RUNS", "runs"))
torch.manual_seed(0)

# %% [markdown]
# ## 1. Data from a line we know
#
# We draw `x` uniformly from [0, 2] and set `y = 2 + 3x + ε` with Gaussian noise `ε` of standard
# deviation 0.5. The noise matters: without it every method would find `b = 2, w = 3` exactly and
# we could not tell a good estimator from a lucky one. Shapes are `(n, 1)`: one row per example,
# one column per feature — the layout `nn.Linear` expects.

# %%
n = 1000
x = 2 * torch.rand(n, 1)
noise = 0.5 * torch.randn(n, 1)
y = 2 + 3 * x + noise
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
# by inverting `XᵀX`).

# %%
X = torch.cat([torch.ones_like(x), x], dim=1)  # (n, 2)
theta = torch.linalg.lstsq(X.double(), y.double()).solution  # (2, 1)
b_ls, w_ls = theta[0, 0].item(), theta[1, 0].item()
print(f"least squares: b = {b_ls:.4f}, w = {w_ls:.4f}")

# How far off can an estimate from 1,000 noisy points be? Its standard error:
residual_std = (X.double() @ theta - y.double()).std().item()
standard_errors = residual_std * torch.linalg.inv(X.T.double() @ X.double()).diagonal().sqrt()
print(f"standard errors: b ± {standard_errors[0]:.3f}, w ± {standard_errors[1]:.3f}")

# %% [markdown]
# Neither number is exactly 2 or 3, and that is right: the estimates are themselves random, with
# the standard errors printed above. That is why the claims of this lesson allow 0.1 — about three
# standard errors — between the estimates and the truth.
#
# ## 3. Gradient descent, by hand
#
# Now forget the formula and walk downhill. With predictions `ŷ = b + w·x`, the gradients of the
# MSE are
#
# $$\frac{\partial L}{\partial b} = 2\,\overline{(\hat y - y)}, \qquad
#   \frac{\partial L}{\partial w} = 2\,\overline{(\hat y - y)\,x}.$$
#
# First, let autograd (lesson 01) confirm the hand-derived gradients at one point:

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
        error = b + w * x - y
        losses.append((error**2).mean().item())
        b, w = b - lr * 2 * error.mean().item(), w - lr * 2 * (error * x).mean().item()
    return b, w, losses


b_gd, w_gd, losses = gradient_descent(x, y, lr=0.3, steps=1000)
print(f"gradient descent: b = {b_gd:.4f}, w = {w_gd:.4f}, final MSE = {losses[-1]:.4f}")
print(f"distance to least squares: {max(abs(b_gd - b_ls), abs(w_gd - w_ls)):.2e}")

# %% [markdown]
# Gradient descent lands on the least-squares answer (to many decimals): for a convex bowl, walking
# downhill long enough *is* solving the normal equations.
#
# ### How big a step? The learning rate, and when it explodes
#
# Near the bottom, the loss is a quadratic with curvature given by its Hessian
# `H = (2/n)·XᵀX`. Along the Hessian's steepest direction (largest eigenvalue `λ_max`) one step
# multiplies the remaining error by `(1 − lr·λ_max)`. If that factor's size is above 1 — that is,
# if `lr > 2/λ_max` — every step overshoots further than the last and the loss grows
# geometrically. So there is a **critical learning rate** we can compute from the data:

# %%
hessian = 2 * X.T.double() @ X.double() / n
eigenvalues = torch.linalg.eigvalsh(hessian)
lr_critical = 2 / eigenvalues.max().item()
print(f"Hessian eigenvalues: {eigenvalues.tolist()}; critical learning rate 2/λ_max = {lr_critical:.4f}")

best_mse = ((X.double() @ theta - y.double()) ** 2).mean().item()  # the bottom of the bowl
curves = {}
for factor in (0.1, 0.5, 0.9, 1.1):
    *_, curve = gradient_descent(x, y, lr=factor * lr_critical, steps=100)
    curves[factor] = curve
    print(f"lr = {factor} × critical: MSE after 100 steps = {curve[-1]:.6g}  (minimum {best_mse:.6g})")

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
        optimizer.zero_grad()  # gradients accumulate unless cleared (lesson 01)
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
# With a sane learning rate, `fit` recovers the line like our loop did:

# %%
torch.manual_seed(0)
model = nn.Linear(1, 1)
history = fit(
    model,
    TensorLoader(x, y, batch_size=32, shuffle=True, seed=0),
    epochs=10,
    loss_fn=nn.MSELoss(),
    optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
    run_dir=RUNS / "02_sgd_demo",
)
print(f"fit: b = {model.bias.item():.4f}, w = {model.weight.item():.4f}")
print("last epoch:", history.last)

# %% [markdown]
# ## 5. Logistic regression: from predicting numbers to predicting classes
#
# Two clouds of points, class 0 around (−1.5, −1.5) and class 1 around (1.5, 1.5). The labels are
# *which cloud a point came from* — the seed of this course trained its classifier on the wrong
# targets, so we build them right next to the points they describe.
#
# The model is still linear, `z = w·x + b`, but `z` is now a **logit**: `sigmoid(z)` is the
# probability of class 1, and the loss is the binary cross-entropy. `BCEWithLogitsLoss` takes the
# logit directly (it fuses sigmoid and log for numerical stability). The decision boundary,
# `z = 0`, is a straight line.


# %%
def two_blobs(n, seed):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, 2, (n,), generator=g)  # which cloud each point comes from
    centres = torch.tensor([[-1.5, -1.5], [1.5, 1.5]])
    points = centres[labels] + torch.randn(n, 2, generator=g)
    return points, labels.float()


x_train, y_train = two_blobs(400, seed=0)
x_test, y_test = two_blobs(2000, seed=1)  # fresh points: accuracy is measured on data not trained on

from torchmetrics.classification import BinaryAccuracy

torch.manual_seed(0)
logistic = nn.Linear(2, 1)
history = fit(
    nn.Sequential(logistic, nn.Flatten(0)),
    TensorLoader(x_train, y_train, batch_size=32, shuffle=True),
    epochs=20,
    loss_fn=nn.BCEWithLogitsLoss(),
    optimizer=torch.optim.SGD(logistic.parameters(), lr=0.1),
    val_loader=TensorLoader(x_test, y_test, batch_size=512),
    metrics={"accuracy": BinaryAccuracy()},
    progress=False,
)
print(f"test accuracy: {history.last['val_accuracy']:.4f}")

# %%
from sklearn.linear_model import LogisticRegression

reference = LogisticRegression().fit(x_train.numpy(), y_train.numpy()).score(x_test.numpy(), y_test.numpy())
print(f"scikit-learn's solver on the same data: {reference:.4f}")

# %% [markdown]
# Our SGD-trained model and scikit-learn's exact solver agree to within a fraction of a percent.
# The two clouds overlap a little, so even the best possible line misclassifies a few points:
# accuracy near but below 100% is the truth of this data, not a training failure. How near? For
# two equally likely Gaussian clouds with the same spread, the best boundary is the perpendicular
# bisector of the centres, and a point lands on the wrong side when its noise along the line
# joining the centres exceeds half their distance:

# %%
half_distance = torch.tensor([1.5, 1.5]).norm()  # centre to midpoint, in units of σ = 1
best_possible = torch.distributions.Normal(0.0, 1.0).cdf(half_distance).item()
print(f"best possible accuracy on this data: {best_possible:.4f}")

# %% [markdown]
# Here is our boundary and the predicted probability:

# %%
grid = torch.stack(torch.meshgrid(torch.linspace(-5, 5, 200), torch.linspace(-5, 5, 200), indexing="xy"), -1)
with torch.no_grad():
    prob = torch.sigmoid(logistic(grid.reshape(-1, 2))).reshape(200, 200)
plt.figure(figsize=(4.5, 4))
plt.contourf(grid[..., 0], grid[..., 1], prob, levels=20, cmap="RdBu_r", alpha=0.4)
plt.contour(grid[..., 0], grid[..., 1], prob, levels=[0.5], colors="k")
plt.scatter(x_test[:500, 0], x_test[:500, 1], c=y_test[:500], cmap="RdBu_r", s=8)
plt.title("P(class 1) and the decision boundary")
plt.show()

# %% [markdown]
# ## 6. The lesson's claims, checked
#
# Everything above, run once more by the library (`e2edl.experiments.linear_regression`, the code
# `e2edl run linear-regression` runs) with its claims checked: the three methods recover `b = 2`,
# `w = 3` within 0.1; gradient descent reaches the least-squares answer; a learning rate 10% over
# the critical one multiplies the loss by at least a million in 100 steps; logistic regression
# reaches at least 97% test accuracy and is within one point of scikit-learn.

# %%
from e2edl.course import passed, run_lesson

result = run_lesson("linear-regression", quick=QUICK, out=RUNS / "02_linear_regression")
assert passed(result), "a claim of this lesson failed; see the table above"
