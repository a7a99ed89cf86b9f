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
# # 01 · Tensors and autograd, with an autograd engine from scratch
#
# Everything in deep learning is built from two things: **tensors** (arrays of numbers that know
# their shape, type and device) and **automatic differentiation** (a way to get the derivative of
# a loss with respect to millions of parameters for a small multiple of the cost of the loss itself).
# This lesson takes both apart.
#
# The plan:
# 1. tensors: creating them, dtypes, devices, broadcasting, views vs copies, in-place pitfalls;
# 2. PyTorch's autograd: the graph it records, `.grad`, `no_grad`, accumulation, `retain_graph`;
# 3. an autograd engine **written from scratch**, first for single numbers, then for arrays, and
#    checked against PyTorch at every step;
# 4. hand over to the library's tested version of the same engine, `e2edl.autograd`, which trains a
#    small neural network on two interleaved half-moons.

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

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

QUICK = os.environ.get("E2EDL_QUICK") == "1"  # CI runs every notebook in quick mode
RUNS = Path(os.environ.get("E2EDL_RUNS", "runs"))
torch.manual_seed(0)
print("torch", torch.__version__, "| quick mode:", QUICK)

# %% [markdown]
# ## 1. Tensors
#
# A tensor is an n-dimensional array: a number (0-d), a vector (1-d), a matrix (2-d), a batch of
# colour images (4-d: batch, channel, height, width). Every tensor carries a **shape**, a **dtype**
# (the number type of its entries) and a **device** (where its memory lives).

# %%
a = torch.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])  # from Python lists
b = torch.zeros(2, 3)  # also: torch.ones, torch.full, torch.empty
c = torch.arange(6).reshape(2, 3)  # 0, 1, ..., 5 as a 2x3 matrix
d = torch.randn(2, 3, generator=torch.Generator().manual_seed(0))  # standard normal, reproducible
e = torch.from_numpy(np.linspace(0, 1, 3))  # shares memory with the numpy array
for name, t in [("a", a), ("b", b), ("c", c), ("d", d), ("e", e)]:
    print(f"{name}: shape={tuple(t.shape)}, dtype={t.dtype}, device={t.device}")

# %% [markdown]
# ### dtypes
#
# The cell above shows that PyTorch picks `float32` for Python floats but `int64` for Python ints, and
# that a tensor made from a numpy array keeps numpy's `float64`. Deep learning mostly runs in
# `float32` (or narrower: `bfloat16`, `float16`) because narrower numbers take less memory (the
# cell below prints the bytes per entry) and run much faster on GPUs; the price is precision.
# `torch.finfo` tells how fine each type's grid of numbers is: `eps` is the gap between 1 and the
# next representable number.

# %%
for dtype in (torch.float16, torch.bfloat16, torch.float32, torch.float64):
    bytes_per_entry = torch.empty(0, dtype=dtype).element_size()
    print(f"{str(dtype):15} {bytes_per_entry} bytes per entry, eps = {torch.finfo(dtype).eps:.3g}")

big = torch.tensor(1e8, dtype=torch.float32)
print("float32: 1e8 + 1 == 1e8 ?", (big + 1 == big).item())
print("float64: 1e8 + 1 == 1e8 ?", (big.double() + 1 == big.double()).item())
print("int tensor / 2 ->", torch.tensor([3, 4]) / 2, "  int tensor // 2 ->", torch.tensor([3, 4]) // 2)

# %% [markdown]
# When we later compare our own autograd engine with PyTorch's we use `float64`, so that the two
# can agree to many digits and any real mistake stands out.
#
# ### Devices
#
# A tensor lives on one device: the CPU, an NVIDIA GPU (`cuda`), an Apple GPU (`mps`). Operations
# need all their inputs on the same device. Never write `cuda:1` into code you share; pick the best
# device that exists and move tensors with `.to(device)`:

# %%
if torch.cuda.is_available():
    device = torch.device("cuda")
elif torch.backends.mps.is_available():
    device = torch.device("mps")
else:
    device = torch.device("cpu")

x = torch.randn(3, 3).to(device)  # a copy on `device` (no copy at all if it is already there)
print("computing on", device, "->", (x @ x).device)
print("back to numpy needs the CPU:", type(x.cpu().numpy()))

# %% [markdown]
# ### Broadcasting
#
# Elementwise operations between tensors of different shapes follow numpy's **broadcasting** rule:
# line the shapes up from the right; two sizes are compatible if they are equal or one of them is 1;
# missing leading axes count as 1. A size-1 axis is (virtually) repeated to match the other tensor,
# without copying memory. That is how a bias vector of shape `(3,)` is added to every row of a
# batch of shape `(4, 3)`:

# %%
batch = torch.arange(12.0).reshape(4, 3)  # (4, 3): 4 examples, 3 features
bias = torch.tensor([100.0, 200.0, 300.0])  # (3,)
print("(4, 3) + (3,) ->", tuple((batch + bias).shape))
print(batch + bias)

column = torch.tensor([[1.0], [2.0], [3.0], [4.0]])  # (4, 1)
print("(4, 1) * (3,) ->", tuple((column * bias).shape))

# %% [markdown]
# Broadcasting is also a classic source of silent bugs. A model's predictions often come out with
# shape `(n, 1)` while the targets have shape `(n,)`. Subtracting them does not fail: it broadcasts
# to `(n, n)`, every prediction minus every target, and the "loss" is a meaningless number.

# %%
predictions = torch.tensor([[1.0], [2.0], [3.0]])  # (3, 1)
targets = torch.tensor([1.0, 2.0, 3.0])  # (3,)
wrong = ((predictions - targets) ** 2).mean()  # (3, 1) - (3,) -> (3, 3)
right = ((predictions.squeeze(1) - targets) ** 2).mean()  # (3,) - (3,) -> (3,)
print("shape of the difference:", tuple((predictions - targets).shape))
print("wrong loss:", wrong.item(), "  right loss:", right.item())

# %% [markdown]
# The cure is a habit: know the shape of every tensor (we write it in comments, like `# (B, T, C)`),
# and assert it where it matters.
#
# ### Views vs copies
#
# Many operations do not copy data: they return a **view**, a new tensor object that looks at the
# same memory with a different shape or stride. Indexing with slices, `.view`, `.transpose`/`.T`,
# `.reshape` (when it can), `.squeeze`/`.unsqueeze` and `.expand` all return views. Writing through a
# view changes the original:

# %%
base = torch.zeros(2, 3)
row = base[0]  # a view of the first row
row[1] = 7.0
print(base)
print("same memory?", row.untyped_storage().data_ptr() == base.untyped_storage().data_ptr())

safe = base[1].clone()  # an independent copy
safe[0] = -1.0
print("after writing into the clone:\n", base)

# %% [markdown]
# A transpose is a view with swapped strides, so its elements are no longer laid out row by row in
# memory ("not contiguous"). `.view` needs contiguous memory and refuses; `.reshape` copies when it
# must; `.contiguous()` makes the copy explicitly.

# %%
m = torch.arange(6.0).reshape(2, 3)
mt = m.T  # (3, 2), a view
print("contiguous?", m.is_contiguous(), mt.is_contiguous())
try:
    mt.view(6)
except RuntimeError as error:
    print("view failed:", str(error).split(".")[0])
print("reshape works:", mt.reshape(6), "| so does .contiguous().view:", mt.contiguous().view(6))

# %% [markdown]
# ### In-place operations and their pitfalls
#
# Methods that end in an underscore (`add_`, `mul_`, `zero_`, `clamp_`) and indexed assignment change
# a tensor in place. They save memory, but they have two traps:
#
# 1. in place on a **view** changes the tensor it views (as above);
# 2. autograd (next section) saves some tensors to compute gradients later. Changing one of them in
#    place makes the saved value wrong, and PyTorch refuses when you call `backward()`:

# %%
w = torch.tensor([1.0, 2.0], requires_grad=True)
s = w.sigmoid()  # sigmoid's backward needs its own output s
s.mul_(2)  # ... which we now overwrite
try:
    s.sum().backward()
except RuntimeError as error:
    print("RuntimeError:", str(error)[:110], "...")

s = w.sigmoid() * 2  # the out-of-place version is fine
s.sum().backward()
print("gradient:", w.grad)

# %% [markdown]
# Prefer out-of-place operations in model code; keep the in-place ones for places where autograd is
# switched off, such as the optimizer's parameter update.
#
# ## 2. Autograd in PyTorch
#
# Mark a tensor with `requires_grad=True` and PyTorch records every operation done with it: each
# result carries a `grad_fn`, the node in a **computation graph** that knows how to send gradients
# back to its inputs. `loss.backward()` walks that graph from the loss back to the leaves and stores
# `d loss / d leaf` in each leaf's `.grad`.
#
# Take a single neuron: `o = tanh(x1*w1 + x2*w2 + b)`.

# %%
x1 = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
x2 = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
w1 = torch.tensor(-3.0, dtype=torch.float64, requires_grad=True)
w2 = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
b = torch.tensor(6.8813735870195432, dtype=torch.float64, requires_grad=True)
n = x1 * w1 + x2 * w2 + b
o = torch.tanh(n)


def print_torch_graph(fn, depth=0):
    """Walk PyTorch's recorded graph from a grad_fn back to the leaves."""
    print("  " * depth + type(fn).__name__)
    for child, _ in fn.next_functions:
        if child is not None:
            print_torch_graph(child, depth + 1)


print("o =", o.item())
print_torch_graph(o.grad_fn)

# %% [markdown]
# Each `MulBackward0`/`AddBackward0`/`TanhBackward0` is an operation; `AccumulateGrad` is where a
# gradient lands in a leaf's `.grad`. Now run the graph backwards:

# %%
o.backward()
for name, leaf in [("x1", x1), ("x2", x2), ("w1", w1), ("w2", w2), ("b", b)]:
    print(f"do/d{name} = {leaf.grad.item():+.6f}")
print("by hand, do/db = 1 - tanh(n)^2 =", 1 - o.item() ** 2)

# %% [markdown]
# Only leaves keep their `.grad`. Intermediate results like `n` get one only if you ask with
# `n.retain_grad()` before `backward()`; otherwise `n.grad` is `None` (and PyTorch warns if you read it).
#
# ### Gradients accumulate
#
# `backward()` **adds** to `.grad`; it never overwrites. That is deliberate (it lets a gradient be
# summed over several backward passes, e.g. over micro-batches), and it is why every training loop
# zeroes the gradients before each step. Also, to save memory, `backward()` frees the graph's saved
# tensors as it goes, so a second `backward()` through the same graph fails unless the first one was
# told `retain_graph=True`.

# %%
x = torch.tensor(3.0, requires_grad=True)
y = x**2  # dy/dx = 2x
y.backward(retain_graph=True)
print("after one backward:  x.grad =", x.grad.item())
y.backward()  # the graph was retained, so this works, and adds
print("after two backwards: x.grad =", x.grad.item())
try:
    y.backward()  # the second call did not retain the graph
except RuntimeError as error:
    print("third backward:", str(error).split(".")[0])
x.grad = None  # what optimizer.zero_grad() does
(x**2).backward()  # a fresh graph
print("after zeroing and a fresh graph: x.grad =", x.grad.item())

# %% [markdown]
# ### Switching autograd off
#
# Recording the graph costs memory and time. When we only want numbers — evaluating a model,
# updating parameters — we switch it off with `torch.no_grad()` (or `torch.inference_mode()`), or cut
# one tensor out of the graph with `.detach()`:

# %%
w = torch.tensor([1.0, -2.0], requires_grad=True)
print("recorded:", (w * 2).requires_grad)
with torch.no_grad():
    z = w * 2
    print("inside no_grad:", z.requires_grad, z.grad_fn)
    w -= 0.1 * torch.ones(2)  # an in-place update of a leaf: allowed only without grad recording
print("detached:", (w * 2).detach().requires_grad, "| w after the update:", w)

# %% [markdown]
# ## 3. An autograd engine from scratch
#
# How does `backward()` work? Every operation knows its **local derivative**: for `c = a * b`,
# `dc/da = b` and `dc/db = a`. The **chain rule** says that if a loss `L` depends on `a` only through
# `c`, then `dL/da = dL/dc · dc/da`. So if we visit the graph from the output back to the inputs, and
# each node passes `its own gradient × local derivative` to its inputs, every node ends up with
# `dL/dnode`. That is reverse-mode automatic differentiation, and it is all PyTorch does — on tensors,
# on GPUs, with a lot of engineering.
#
# We build it for single numbers first, in the style of Andrej Karpathy's *micrograd*. A `Value`
# holds a number, its gradient, the values it was computed from (`_prev`), and a small function,
# `_backward`, that applies the chain rule for the one operation that made it.


# %%
class Value:
    """A number that remembers how it was computed, so that it can compute gradients."""

    def __init__(self, data, _children=(), _op="", label=""):
        self.data = float(data)
        self.grad = 0.0  # d(output)/d(self), filled in by backward
        self._backward = lambda: None  # a leaf has no inputs to pass gradient to
        self._prev = tuple(_children)
        self._op = _op
        self.label = label

    def __repr__(self):
        return f"Value({self.label or self._op}: data={self.data:.4g}, grad={self.grad:.4g})"

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():  # d(a+b)/da = 1 and d(a+b)/db = 1: pass the gradient through
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():  # d(ab)/da = b and d(ab)/db = a
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def tanh(self):
        t = math.tanh(self.data)
        out = Value(t, (self,), "tanh")

        def _backward():  # d(tanh a)/da = 1 - tanh(a)^2
            self.grad += (1 - t**2) * out.grad

        out._backward = _backward
        return out


# %% [markdown]
# Note the `+=` in every `_backward`: a value used twice (say `a * a`, or a weight shared by two
# paths) receives gradient from both uses, and the contributions must add up (the multivariable
# chain rule). Writing `=` there is the classic bug of hand-written autograd.
#
# The same neuron as before, built from `Value`s. First we call the closures ourselves, from the
# output back, in an order we work out by eye:

# %%
x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
b = Value(6.8813735870195432, label="b")
x1w1, x2w2 = x1 * w1, x2 * w2
x1w1.label, x2w2.label = "x1*w1", "x2*w2"
s = x1w1 + x2w2
s.label = "x1w1+x2w2"
n = s + b
n.label = "n"
o = n.tanh()
o.label = "o"

o.grad = 1.0  # do/do
for node in (o, n, s, x1w1, x2w2):  # each node after every node that uses it
    node._backward()
for leaf in (x1, x2, w1, w2, b):
    print(leaf)

# %% [markdown]
# These are the gradients PyTorch printed in section 2. The order mattered: a node may call its
# `_backward` only once its own `.grad` is complete, i.e. after every node that uses it has passed
# its share back. A **topological order** of the graph (every node after its inputs), reversed, is
# exactly such an order; a depth-first search produces one.


# %%
def topological_order(root):
    """All nodes that ``root`` depends on, each one after the nodes it was computed from."""
    order, visited = [], set()

    def visit(v):
        if v not in visited:
            visited.add(v)
            for child in v._prev:
                visit(child)
            order.append(v)

    visit(root)
    return order


def backward(self):
    order = topological_order(self)
    for v in order:  # start from zero (PyTorch, and our library, keep adding to the leaves' grads)
        v.grad = 0.0
    self.grad = 1.0
    for v in reversed(order):  # output first, leaves last
        v._backward()


Value.backward = backward  # Python lets us add a method to a class after the fact
print([v.label for v in topological_order(o)])

# %% [markdown]
# The computation graph, drawn: each box is a `Value` with its data and, after `backward()`, its
# gradient; arrows run from inputs to outputs, and gradients flow against them.


# %%
def draw_graph(root):
    """Boxes in columns by depth (leaves on the left), arrows from each input to its output."""
    order = topological_order(root)
    depth, rows, position = {}, {}, {}
    for v in order:  # a node sits one column right of its deepest input
        depth[v] = 1 + max((depth[c] for c in v._prev), default=-1)
    for v in order:
        rows[depth[v]] = rows.get(depth[v], 0) + 1
        position[v] = (depth[v], -rows[depth[v]])
    fig, ax = plt.subplots(figsize=(2.3 * (max(depth.values()) + 1), 0.9 * max(rows.values()) + 1))
    arrow, box = {"arrowstyle": "->", "color": "gray"}, {"boxstyle": "round", "fc": "lightyellow"}
    for v in order:
        for child in v._prev:
            (x_from, y_from), (x_to, y_to) = position[child], position[v]
            ax.annotate("", xy=(x_to - 0.25, y_to), xytext=(x_from + 0.25, y_from), arrowprops=arrow)
    for v, (px, py) in position.items():
        text = f"{v.label or v._op}\ndata {v.data:.3g}\ngrad {v.grad:.3g}"
        ax.text(px, py, text, ha="center", va="center", fontsize=8, bbox=box)
    ax.set_xlim(-0.6, max(depth.values()) + 0.6)
    ax.set_ylim(-max(rows.values()) - 0.7, -0.3)
    ax.axis("off")
    return fig


o.backward()
draw_graph(o)
plt.show()

# %% [markdown]
# A few more operations and our engine can express any expression we need. Each is a forward
# formula plus its local derivative; subtraction and division are built from the others, so they need
# no backward of their own.


# %%
def _pow(self, k):  # a constant exponent
    out = Value(self.data**k, (self,), f"**{k}")

    def _backward():  # d(a^k)/da = k a^(k-1)
        self.grad += k * self.data ** (k - 1) * out.grad

    out._backward = _backward
    return out


def _exp(self):
    out = Value(math.exp(self.data), (self,), "exp")

    def _backward():  # d(e^a)/da = e^a, which is out.data
        self.grad += out.data * out.grad

    out._backward = _backward
    return out


def _log(self):
    out = Value(math.log(self.data), (self,), "log")

    def _backward():  # d(log a)/da = 1/a
        self.grad += out.grad / self.data

    out._backward = _backward
    return out


def _relu(self):
    out = Value(max(self.data, 0.0), (self,), "relu")

    def _backward():  # slope 1 where a > 0, else 0
        self.grad += (self.data > 0) * out.grad

    out._backward = _backward
    return out


Value.__pow__, Value.exp, Value.log, Value.relu = _pow, _exp, _log, _relu
Value.__neg__ = lambda self: self * -1
Value.__sub__ = lambda self, other: self + (-other)
Value.__truediv__ = lambda self, other: self * other**-1
Value.__radd__ = lambda self, other: self + other  # so that 2 + Value works
Value.__rmul__ = lambda self, other: self * other

# %% [markdown]
# ### Checking against PyTorch
#
# A hand-written gradient is only as good as its test. We compute the same expression — with a value
# used several times, and every new operation — in our engine and in PyTorch (`float64`), and compare
# each input's gradient.


# %%
def expression(a, b, c):
    """Works for our Value and for torch tensors alike."""
    h = (a * b + c.exp()) / (b * b + 1.0)  # b and h are used more than once
    return (h.tanh() * a - (c**2 + 1.0).log() + (h - 0.5).relu()) ** 2


inputs = [1.2, -0.4, 0.8]
ours = [Value(v) for v in inputs]
theirs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in inputs]
out_ours, out_theirs = expression(*ours), expression(*theirs)
out_ours.backward()
out_theirs.backward()
print(f"output   ours {out_ours.data:+.12f}   torch {out_theirs.item():+.12f}")
for name, v, t in zip("abc", ours, theirs):
    diff = abs(v.grad - t.grad.item())
    print(f"d/d{name}    ours {v.grad:+.12f}   torch {t.grad.item():+.12f}   |diff| {diff:.1e}")

# %% [markdown]
# The two columns agree to the precision of `float64`. One expression is weak evidence, though:
# the library's version of this engine is tested in `tests/test_autograd_scalar.py` on many
# **random** expression graphs generated by `hypothesis` (random operations over random inputs,
# nodes reused), each compared with `torch.autograd` — and the lesson's experiment at the end does the
# same again.
#
# ### From numbers to tensors
#
# One `Value` per number is far too slow for real networks: a layer with a 1000×1000 weight matrix
# would be a million Python objects. The same idea works with whole arrays as the nodes: each
# operation's backward now moves arrays of gradients. Two things are new.
#
# **Matrix products.** For `C = A @ B` with `A` of shape (n, k) and `B` (k, m), the chain rule gives
# `dL/dA = dL/dC @ Bᵀ`, shapes (n, m) @ (m, k) = (n, k), and `dL/dB = Aᵀ @ dL/dC`, shapes
# (k, n) @ (n, m) = (k, m). Checking that the shapes work out is the quickest way to remember them.
#
# **Broadcasting.** In `x + bias`, with `x` of shape (B, H) and `bias` of shape (H,), every entry of
# `bias` is used B times, once per row. A value used several times gets the **sum** of the gradients
# of its uses (the `+=` rule again), so `dL/dbias` is `dL/d(x+bias)` summed over the batch axis. In
# general: **sum the gradient over every axis that broadcasting added or stretched from size 1**, which
# brings it back to the input's shape.


# %%
def unbroadcast(grad, shape):
    """Sum ``grad`` down to ``shape``: the gradient of broadcasting ``shape`` up to ``grad.shape``."""
    while grad.ndim > len(shape):  # axes that broadcasting added in front
        grad = grad.sum(axis=0)
    for axis, size in enumerate(shape):  # axes stretched from 1
        if size == 1 and grad.shape[axis] != 1:
            grad = grad.sum(axis=axis, keepdims=True)
    return grad


print(unbroadcast(np.ones((4, 3)), (3,)))  # each bias entry was used by 4 rows
print(unbroadcast(np.ones((4, 3)), (4, 1)))  # each row entry was used by 3 columns


# %%
class Tensor:
    """A numpy array (float64) that remembers how it was computed. Just enough for a linear layer."""

    def __init__(self, data, _children=()):
        self.data = np.asarray(data, dtype=np.float64)
        self.grad = np.zeros_like(self.data)
        self._backward = lambda: None
        self._prev = tuple(_children)

    def __add__(self, other):  # with broadcasting
        out = Tensor(self.data + other.data, (self, other))

        def _backward():
            self.grad += unbroadcast(out.grad, self.data.shape)
            other.grad += unbroadcast(out.grad, other.data.shape)

        out._backward = _backward
        return out

    def __mul__(self, other):  # elementwise, with broadcasting
        out = Tensor(self.data * other.data, (self, other))

        def _backward():
            self.grad += unbroadcast(other.data * out.grad, self.data.shape)
            other.grad += unbroadcast(self.data * out.grad, other.data.shape)

        out._backward = _backward
        return out

    def __matmul__(self, other):  # (n, k) @ (k, m) -> (n, m)
        out = Tensor(self.data @ other.data, (self, other))

        def _backward():
            self.grad += out.grad @ other.data.T  # (n, m) @ (m, k) -> (n, k)
            other.grad += self.data.T @ out.grad  # (k, n) @ (n, m) -> (k, m)

        out._backward = _backward
        return out

    def tanh(self):
        out = Tensor(np.tanh(self.data), (self,))

        def _backward():
            self.grad += (1 - out.data**2) * out.grad

        out._backward = _backward
        return out

    def sum(self):
        out = Tensor(self.data.sum(), (self,))

        def _backward():  # every entry contributes with slope 1
            self.grad += np.ones_like(self.data) * out.grad

        out._backward = _backward
        return out

    def backward(self):  # the same algorithm as for Value
        order = topological_order(self)
        for t in order:
            t.grad = np.zeros_like(t.data)
        self.grad = np.ones_like(self.data)
        for t in reversed(order):
            t._backward()


# %% [markdown]
# A linear layer with a tanh, `tanh(x @ W + bias) * scale`, summed into a scalar — broadcasting in
# both the bias (H,) and the per-column `scale` (1, H) — against PyTorch:

# %%
rng = np.random.default_rng(0)
arrays = {
    "x": rng.normal(size=(5, 3)),
    "W": rng.normal(size=(3, 4)),
    "bias": rng.normal(size=4),
    "scale": rng.normal(size=(1, 4)),
}


def layer(x, W, bias, scale):
    return ((x @ W + bias).tanh() * scale).sum()


ours = {k: Tensor(v) for k, v in arrays.items()}
theirs = {k: torch.tensor(v, requires_grad=True) for k, v in arrays.items()}
layer(**ours).backward()
layer(**theirs).backward()
for k in arrays:
    diff = np.abs(ours[k].grad - theirs[k].grad.numpy()).max()
    print(f"d/d{k:5} shape {str(ours[k].grad.shape):7} max |ours - torch| = {diff:.1e}")

# %% [markdown]
# Every gradient has the shape of its tensor (that is what `unbroadcast` is for) and matches PyTorch.
#
# ## 4. Hand-over: `e2edl.autograd`
#
# `e2edl.autograd.Value` and `e2edl.autograd.Tensor` are these two classes, completed: more operations
# (`exp`, `log`, `sigmoid`, `softplus`, `pow`, `mean`/`sum` over chosen axes, a stable `logsumexp`,
# `reshape`, `transpose`, batched matmul), numerically stable losses (`cross_entropy`,
# `binary_cross_entropy_with_logits`), and gradients that accumulate in leaves across `backward()`
# calls as in PyTorch (with no `retain_graph` needed: these engines never free their graph).
# `tests/test_autograd_scalar.py` and `tests/test_autograd_tensor.py` check them against
# `torch.autograd` on random graphs, random broadcastable shapes and random matmul chains.
# From here on we use them.

# %%
import e2edl.autograd as ag

print("Tensor operations:", sorted(n for n in dir(ag.Tensor) if not n.startswith("_")))
x = ag.Tensor(arrays["x"])
W, bias, scale = ag.Tensor(arrays["W"]), ag.Tensor(arrays["bias"]), ag.Tensor(arrays["scale"])
layer(x, W, bias, scale).backward()
print("library's dL/dW equals ours:", np.allclose(W.grad, ours["W"].grad, rtol=0, atol=1e-12))

# %% [markdown]
# With gradients in hand, training is a loop: compute the loss, zero the old gradients, `backward()`,
# move every parameter a little against its gradient (`sgd_step`), repeat. Here the scalar engine's
# `MLP` (layers of `Neuron`s, each `tanh(w·x + b)`, and a linear output) learns XOR — four points no
# straight line can separate. Slow, since every weight is a Python object, but every step is visible.

# %%
xor_inputs = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
xor_targets = [-1.0, 1.0, 1.0, -1.0]
mlp = ag.MLP(2, [8, 8, 1], seed=0)
print("parameters:", len(mlp.parameters()))
for step in range(101):
    loss = sum(((mlp(x)[0] - y) ** 2 for x, y in zip(xor_inputs, xor_targets)), ag.Value(0.0))
    mlp.zero_grad()
    loss.backward()
    ag.sgd_step(mlp.parameters(), lr=0.03)
    if step % 25 == 0:
        print(f"step {step:3d}  loss {loss.data:.4f}")
print("predictions:", [round(mlp(x)[0].data, 2) for x in xor_inputs], "targets:", xor_targets)

# %% [markdown]
# ## 5. The experiment
#
# The lesson's experiment, which `e2edl run tensors-autograd` runs too, does two things:
#
# 1. runs both library engines and PyTorch on many random expression graphs (random operations,
#    random broadcastable shapes, random matmul chains) and records the largest disagreement in
#    values and gradients, each measured as `|ours − torch| / (1 + |torch|)`;
# 2. trains a small MLP (2 → 32 → 32 → 2, tanh) written with `ag.Tensor` and `ag.cross_entropy` —
#    no PyTorch at all — on scikit-learn's two moons, and scores it on a held-out test split it never
#    trained on.
#
# The table it prints shows what it measured next to what this lesson claims.

# %%
from e2edl.course import passed, run_lesson

result = run_lesson("tensors-autograd", quick=QUICK, out=RUNS / "01_tensors_autograd")

# %% [markdown]
# The figures it saved: the decision boundary over the held-out test points, and the training and
# test loss per epoch.

# %%
out = RUNS / "01_tensors_autograd"
fig, axes = plt.subplots(1, len(result["figures"]), figsize=(12, 4.5))
for ax, name in zip(axes, result["figures"]):
    ax.imshow(plt.imread(out / name))
    ax.axis("off")
plt.show()

# %%
assert passed(result), "a claim of this lesson failed; see the table above"
