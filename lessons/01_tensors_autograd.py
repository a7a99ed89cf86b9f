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
# # Tensors and autograd, with an autograd engine from scratch
#
# Everything in deep learning is built from two things: **tensors** (arrays of numbers that know
# their shape, type and device) and **automatic differentiation** (a way to get the derivative of
# a loss with respect to millions of parameters for a small multiple of the cost of the loss itself).
# This lesson takes both apart.
#
# The plan:
# 1. tensors: creating them, dtypes, devices, broadcasting, views vs copies, in-place pitfalls;
# 2. PyTorch's autograd: the graph it records, `.grad`, `no_grad`, accumulation, `retain_graph`,
#    and `backward(gradient=...)` for outputs that are not a single number;
# 3. why we need autograd at all: derivatives by finite differences, and what they cost;
# 4. an autograd engine **written from scratch**, first for single numbers — the library's
#    `e2edl.autograd.Value`, line by line — and a neural network on it that learns XOR;
# 5. the same engine for arrays (`e2edl.autograd.Tensor`), every step checked against PyTorch;
# 6. the lesson's experiment: both engines against PyTorch on random graphs, and a network written
#    with our `Tensor` alone learning two interleaved half-moons.

# %%
import subprocess
import sys

if "google.colab" in sys.modules:  # on Colab, install the course library first (this release)
    subprocess.run([sys.executable, "-m", "pip", "install", "-q",
                    "e2edl @ git+https://github.com/e2edl/e2edl@v0.1.0"], check=True)  # fmt: skip

from e2edl.course.notebook import setup_lesson, show_source

QUICK, OUT = setup_lesson("tensors-autograd")  # prints the mode, the run folder and the reference timings

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from e2edl.exercises import check  # for the exercises at the end

print("torch", torch.__version__)

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
# ### Outputs that are not a single number: `backward(gradient=...)`
#
# A loss is one number, so "the gradient" of it has the shape of each leaf. When the output `y` is a
# vector, its derivative with respect to `x` is a whole matrix, the **Jacobian** `J[i, j] = ∂yᵢ/∂xⱼ`,
# and PyTorch does not build it. It refuses `y.backward()` and asks for a vector `v` of `y`'s shape
# instead. `y.backward(gradient=v)` then computes the **vector-Jacobian product** `vᵀJ`, which is the
# gradient of the number `(v * y).sum()`. That is all reverse mode ever computes: for a scalar loss,
# `v` is just `1`. Here `y = A @ x`, whose Jacobian is `A` itself:

# %%
A = torch.tensor([[1.0, 2.0, 3.0], [0.0, -1.0, 4.0]])  # (2, 3)
x = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)  # (3,)
y = A @ x  # (2,): a vector, not a number
try:
    y.backward()
except RuntimeError as error:
    print("y.backward():", error)
v = torch.tensor([1.0, 10.0])  # (2,), the shape of y
y.backward(gradient=v)
jacobian = torch.autograd.functional.jacobian(lambda t: A @ t, x.detach())  # (2, 3), here A
print("x.grad after y.backward(gradient=v):", x.grad)
print("v @ J, with J built explicitly:     ", v @ jacobian)

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
# ## 3. Why autograd: derivatives by finite differences
#
# The derivative of `f` at `x` is the slope of `f` over a vanishingly small step. A computer can take
# a small step for real: the **central difference** `(f(x + h) − f(x − h)) / 2h`. It needs nothing
# but the function, so it is the oldest way to get a gradient. Let us try it on a function whose
# derivative we can also write by hand (product rule, chain rule):


# %%
def f(x):
    return math.tanh(2 * x) * x**2


def f_prime(x):  # d/dx [tanh(2x) x²] = 2 (1 − tanh²(2x)) x² + tanh(2x) · 2x
    return 2 * (1 - math.tanh(2 * x) ** 2) * x**2 + math.tanh(2 * x) * 2 * x


def central_difference(f, x, h):
    return (f(x + h) - f(x - h)) / (2 * h)


x0, exact = 0.7, f_prime(0.7)
steps = np.logspace(-13, -1, 25)
errors = [abs(central_difference(f, x0, h) - exact) for h in steps]
for h in (1e-1, 1e-3, 1e-5, 1e-7, 1e-9, 1e-11):
    print(f"h = {h:.0e}:  central difference {central_difference(f, x0, h):.12f}   exact {exact:.12f}")
print(f"smallest error {min(errors):.1e}, at h = {steps[int(np.argmin(errors))]:.0e}")

plt.figure(figsize=(5, 3.2))
plt.loglog(steps, errors, "o-", ms=3)
plt.xlabel("step h")
plt.ylabel("|central difference − exact|")
plt.title("Finite differences: too big a step or too small, both are wrong")
plt.show()

# %% [markdown]
# The plot shows two errors pulling against each other. With a big step, the slope of `f` changes
# noticeably over the step and spoils the estimate (that error shrinks like `h²`); with a tiny step `f(x + h)` and `f(x − h)`
# agree in almost all their digits, and subtracting them leaves mostly rounding noise (that error
# grows like `ε/h`, with `ε ≈ 1e-16` for `float64`). The best `h` sits in between, and even there
# several of `float64`'s sixteen digits are lost: the smallest error is printed above the plot.
#
# Precision is the smaller problem. A network with a million parameters needs a million such
# derivatives, each costing two evaluations of the whole loss: two million forward passes for *one*
# gradient step. Reverse-mode automatic differentiation — what `backward()` does — gets all million
# derivatives, exact to rounding, for the cost of about one more pass. Finite differences stay
# useful as an independent **check** of a gradient, which is how we will use them below.
#
# ## 4. An autograd engine from scratch
#
# How does `backward()` work? Every operation knows its **local derivative**: for `c = a * b`,
# `dc/da = b` and `dc/db = a`. The **chain rule** says that if a loss `L` depends on `a` only through
# `c`, then `dL/da = dL/dc · dc/da`. So if we visit the graph from the output back to the inputs, and
# each node passes `its own gradient × local derivative` to its inputs, every node ends up with
# `dL/dnode`. That is reverse-mode automatic differentiation, and it is all PyTorch does — on tensors,
# on GPUs, with a lot of engineering.
#
# We build it for single numbers first, in the style of Andrej Karpathy's *micrograd*. What we write
# here is the library's `e2edl.autograd.Value` — the same operations, written the same way (only
# its printout differs) — and the section ends by checking that the two compute the same numbers. A `Value` holds a number, its gradient, the values it was
# computed from (`_prev`), and a small function, `_backward`, that applies the chain rule for the one
# operation that made it.


# %%
class Value:
    """A scalar that records the operations applied to it, so that it can compute gradients."""

    def __init__(self, data, _children=(), _op="", label=""):
        self.data = float(data)
        self.grad = 0.0  # d(output)/d(self), filled in by backward
        self._backward = lambda: None  # a leaf has nothing to pass on
        self._prev = tuple(_children)
        self._op = _op
        self.label = label

    def __add__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data + other.data, (self, other), "+")

        def _backward():  # d(a+b)/da = 1, d(a+b)/db = 1: pass the gradient through
            self.grad += out.grad
            other.grad += out.grad

        out._backward = _backward
        return out

    def __mul__(self, other):
        other = other if isinstance(other, Value) else Value(other)
        out = Value(self.data * other.data, (self, other), "*")

        def _backward():  # d(ab)/da = b, d(ab)/db = a
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = _backward
        return out

    def tanh(self):
        out = Value(math.tanh(self.data), (self,), "tanh")

        def _backward():  # d(tanh a)/da = 1 - tanh(a)^2
            self.grad += (1.0 - out.data**2) * out.grad

        out._backward = _backward
        return out

    def __repr__(self):
        return f"Value({self.label or self._op}: data={self.data:.4g}, grad={self.grad:.4g})"


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
leaves = (x1, x2, w1, w2, b)
for leaf in leaves:
    print(leaf)

# %% [markdown]
# These are the gradients PyTorch printed in section 2. The order mattered: a node may call its
# `_backward` only once its own `.grad` is complete, i.e. after every node that uses it has passed
# its share back. A **topological order** of the graph (every node after its inputs), reversed, is
# exactly such an order; a depth-first search produces one.
#
# One decision remains: what `backward()` does with gradients already there. We follow PyTorch
# (section 2): the leaves — inputs and parameters — **keep adding**, so a second `backward()` adds
# a second copy, and a training loop must zero them before each step. The inner nodes are
# intermediate results; each `backward()` recomputes theirs from zero.


# %%
def backward(self):
    """Fill ``.grad`` of every value this one depends on with d(self)/d(value)."""
    order, visited = [], set()

    def visit(v):  # depth-first: a node goes into `order` after everything it was computed from
        if v not in visited:
            visited.add(v)
            for child in v._prev:
                visit(child)
            order.append(v)

    visit(self)
    for v in order:  # leaves keep (accumulate) their .grad, like PyTorch; inner nodes start afresh
        if v._prev:
            v.grad = 0.0
    self.grad = 1.0  # d(self)/d(self)
    for v in reversed(order):  # output first, so each node's grad is complete before it is used
        v._backward()


Value.backward = backward  # Python lets us add a method to a class after the fact

for leaf in leaves:  # forget the hand-run pass above
    leaf.grad = 0.0
o.backward()
print("after one backward: ", [round(leaf.grad, 6) for leaf in leaves])
o.backward()
print("after two backwards:", [round(leaf.grad, 6) for leaf in leaves], "(they add up, as in PyTorch)")
for leaf in leaves:  # what zero_grad() does
    leaf.grad = 0.0
o.backward()

# %% [markdown]
# The computation graph, drawn by `e2edl.autograd.draw.draw_graph` (plotting plumbing, so it lives in
# the library): each box is a `Value` with its data and its gradient; arrows run from inputs to
# outputs, and gradients flow against them.

# %%
from e2edl.autograd.draw import draw_graph

draw_graph(o)
plt.show()

# %% [markdown]
# A few more operations and our engine can express any expression we need. Each is a forward
# formula plus its local derivative; subtraction and division are built from the others, so they
# need no backward of their own. `sigmoid` is computed from `e^−|a|`, which never overflows.


# %%
def _pow(self, exponent):  # a constant exponent
    out = Value(self.data**exponent, (self,), f"**{exponent}")

    def _backward():  # d(a^k)/da = k a^(k-1)
        self.grad += exponent * self.data ** (exponent - 1) * out.grad

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

    def _backward():  # slope 1 where a > 0, else 0 (PyTorch's choice at exactly 0, too)
        self.grad += (self.data > 0) * out.grad

    out._backward = _backward
    return out


def _sigmoid(self):
    e = math.exp(-abs(self.data))  # 1 / (1 + e^-a), from e^-|a| so that it never overflows
    out = Value(1.0 / (1.0 + e) if self.data >= 0 else e / (1.0 + e), (self,), "sigmoid")

    def _backward():  # d(sigmoid a)/da = s (1 - s)
        self.grad += out.data * (1.0 - out.data) * out.grad

    out._backward = _backward
    return out


Value.__pow__, Value.exp, Value.log, Value.relu, Value.sigmoid = _pow, _exp, _log, _relu, _sigmoid
Value.__neg__ = lambda self: self * -1
Value.__sub__ = lambda self, other: self + (-other)
Value.__truediv__ = lambda self, other: self * other**-1
Value.__radd__ = Value.__add__  # 2 + a calls a.__radd__(2)
Value.__rmul__ = Value.__mul__
Value.__rsub__ = lambda self, other: other + (-self)
Value.__rtruediv__ = lambda self, other: other * self**-1
print("sigmoid(0.5) =", Value(0.5).sigmoid().data, "= 1 / (1 + e^-0.5) =", 1 / (1 + math.exp(-0.5)))

# %% [markdown]
# ### Checking against PyTorch
#
# A hand-written gradient is only as good as its test. We compute the same expression — with values
# used several times, and every new operation — in our engine and in PyTorch (`float64`), compare
# each input's gradient, and ask finite differences for a third opinion.


# %%
def expression(a, b, c):
    """Works for our Value and for torch tensors alike."""
    h = (a * b + c.exp()) / (b * b + 1.0)  # b and h are used more than once
    return (h.tanh() * a - (c**2 + 1.0).log() + (h - 0.5).relu() + c.sigmoid()) ** 2


inputs = [1.2, -0.4, 0.8]
ours = [Value(v) for v in inputs]
theirs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in inputs]
out_ours, out_theirs = expression(*ours), expression(*theirs)
out_ours.backward()
out_theirs.backward()
print(f"output   ours {out_ours.data:+.12f}   torch {out_theirs.item():+.12f}")
for i, (name, v, t) in enumerate(zip("abc", ours, theirs)):

    def along(value, i=i):  # the expression as a function of input i alone
        shifted = list(inputs)
        shifted[i] = value
        return expression(*[Value(s) for s in shifted]).data

    numeric = central_difference(along, inputs[i], 1e-5)
    print(
        f"d/d{name}    ours {v.grad:+.12f}   torch {t.grad.item():+.12f}   "
        f"|diff| {abs(v.grad - t.grad.item()):.1e}   finite difference {numeric:+.9f}"
    )

# %% [markdown]
# Our engine and PyTorch agree to the last digits of `float64`, and finite differences agree with
# both to every digit they print. One expression is weak evidence, though. The library keeps
# one **random-graph harness**, `e2edl.autograd.gradcheck`: it draws random programs (random
# operations over a few random inputs, earlier results reused, so gradients must accumulate), runs
# them through an engine and through `torch.autograd`, and compares every value and every input's
# gradient as `|ours − torch| / (1 + |torch|)`. The library's tests run it on programs drawn by
# `hypothesis`; the experiment at the end of this lesson runs it too. Here it checks the `Value` we
# just wrote, against PyTorch and against the library's `Value` — the parity check that says they
# are one engine:

# %%
import e2edl.autograd as ag
from e2edl.autograd import gradcheck

rng = np.random.default_rng(0)
worst_vs_torch, worst_vs_library, compared = 0.0, 0.0, 0
for _ in range(300):
    values, program = gradcheck.random_scalar_case(rng)
    vs_torch = gradcheck.compare_scalar(values, program, engine=Value)  # None if torch overflowed
    if vs_torch is None:
        continue
    vs_library = gradcheck.compare_scalar(values, program, engine=Value, reference=ag.Value)
    worst_vs_torch = max(worst_vs_torch, *vs_torch)
    worst_vs_library = max(worst_vs_library, *vs_library)
    compared += 1
print(f"{compared} random graphs; one of them: {len(program)} steps, {program[:3]}...")
print(
    f"largest difference, values or gradients: vs torch {worst_vs_torch:.1e}, vs ag.Value {worst_vs_library}"
)
assert worst_vs_torch < 1e-6 and worst_vs_library == 0.0

# %% [markdown]
# Against the library's `Value` the difference is exactly zero: same operations, in the same order,
# so the same bits. From here on we use `ag.Value`.
#
# ### A neural network on the engine
#
# A neuron is `tanh(w · x + b)`: a weighted sum of its inputs plus a bias, through a non-linearity. A
# layer is several neurons reading the same inputs; a multilayer perceptron (MLP) is layers in a
# row, the last one without the `tanh` so that it can output any number. Each weight is a `Value`,
# so the whole network is one big expression graph and `backward()` gives the gradient of a loss
# with respect to every weight. Initial weights are drawn uniformly from `±1/√(inputs)`, as PyTorch's
# `nn.Linear` does, so that the weighted sums start at a moderate size.


# %%
class Module:
    def parameters(self):
        return []

    def zero_grad(self):
        for p in self.parameters():
            p.grad = 0.0


class Neuron(Module):
    def __init__(self, n_in, rng, nonlinear=True):
        bound = 1 / math.sqrt(n_in)
        self.w = [Value(rng.uniform(-bound, bound)) for _ in range(n_in)]
        self.b = Value(rng.uniform(-bound, bound))
        self.nonlinear = nonlinear

    def __call__(self, x):
        z = sum((wi * xi for wi, xi in zip(self.w, x)), self.b)  # w · x + b
        return z.tanh() if self.nonlinear else z

    def parameters(self):
        return [*self.w, self.b]


class Layer(Module):
    def __init__(self, n_in, n_out, rng, nonlinear=True):
        self.neurons = [Neuron(n_in, rng, nonlinear) for _ in range(n_out)]

    def __call__(self, x):
        return [neuron(x) for neuron in self.neurons]

    def parameters(self):
        return [p for neuron in self.neurons for p in neuron.parameters()]


class MLP(Module):
    def __init__(self, n_in, sizes, seed=0):
        rng = np.random.default_rng(seed)
        dims = [n_in, *sizes]
        self.layers = [
            Layer(dims[i], dims[i + 1], rng, nonlinear=i < len(sizes) - 1) for i in range(len(sizes))
        ]

    def __call__(self, x):
        for layer in self.layers:
            x = layer(x)
        return x

    def parameters(self):
        return [p for layer in self.layers for p in layer.parameters()]


# %% [markdown]
# The task is **XOR**: four points, `(0,0)` and `(1,1)` labelled −1, `(0,1)` and `(1,0)` labelled +1.
# No straight line separates the two labels, so a model without a hidden layer cannot fit them. The
# loss is the summed squared error; the library's `ag.MLP` is the same network, and the parity
# check loads our weights into it and compares outputs and gradients:

# %%
xor_inputs = [[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]]
xor_targets = [-1.0, 1.0, 1.0, -1.0]


def xor_loss(model, zero):
    return sum(((model(x)[0] - y) ** 2 for x, y in zip(xor_inputs, xor_targets)), zero)


mlp = MLP(2, [8, 8, 1], seed=0)
library_mlp = ag.MLP(2, [8, 8, 1], seed=1)  # another initialisation...
for ours, theirs in zip(mlp.parameters(), library_mlp.parameters()):
    theirs.data = ours.data  # ...replaced by our weights
loss, library_loss = xor_loss(mlp, Value(0.0)), xor_loss(library_mlp, ag.Value(0.0))
loss.backward()
library_loss.backward()
grad_difference = max(abs(p.grad - q.grad) for p, q in zip(mlp.parameters(), library_mlp.parameters()))
print(f"{len(mlp.parameters())} parameters; loss ours {loss.data:.6f}, library {library_loss.data:.6f}")
print(f"largest gradient difference: {grad_difference}")
assert loss.data == library_loss.data and grad_difference == 0.0

# %% [markdown]
# Training is a loop: compute the loss, zero the old gradients, `backward()`, and move every
# parameter a small step against its gradient (the library calls that step `ag.sgd_step`). Slow,
# since every weight is a Python object, but every step is visible:

# %%
for step in range(200):
    loss = xor_loss(mlp, Value(0.0))
    mlp.zero_grad()
    loss.backward()
    for p in mlp.parameters():
        p.data -= 0.05 * p.grad  # gradient descent, learning rate 0.05
    if step % 50 == 0 or step == 199:
        print(f"step {step:3d}  loss {loss.data:.6f}")
predictions = [mlp(x)[0].data for x in xor_inputs]
print("predictions:", [f"{p:+.3f}" for p in predictions], " targets:", xor_targets)
assert all((p > 0) == (t > 0) for p, t in zip(predictions, xor_targets)), "the MLP did not learn XOR"

# %% [markdown]
# The network learned XOR: every prediction has the sign of its target (the `assert` checks it), and
# the loss printed last is close to zero. The experiment runs the same training on `ag.MLP` and
# claims both.
#
# ## 5. From numbers to tensors
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


# %% [markdown]
# The `Tensor` below is a part of the library's `e2edl.autograd.Tensor`: just enough for a linear
# layer, with the same backward as `Value` (leaves accumulate, inner nodes start afresh).


# %%
class Tensor:
    """A float64 numpy array that records the operations applied to it. Just enough for a linear layer."""

    def __init__(self, data, _children=(), _op=""):
        self.data = np.asarray(data, dtype=np.float64)
        self.grad = np.zeros_like(self.data)
        self._backward = lambda: None
        self._prev = _children
        self._op = _op

    def __add__(self, other):  # with broadcasting
        other = other if isinstance(other, Tensor) else Tensor(other)
        out = Tensor(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad += unbroadcast(out.grad, self.data.shape)
            other.grad += unbroadcast(out.grad, other.data.shape)

        out._backward = _backward
        return out

    def __mul__(self, other):  # elementwise, with broadcasting
        other = other if isinstance(other, Tensor) else Tensor(other)
        out = Tensor(self.data * other.data, (self, other), "*")

        def _backward():
            self.grad += unbroadcast(other.data * out.grad, self.data.shape)
            other.grad += unbroadcast(self.data * out.grad, other.data.shape)

        out._backward = _backward
        return out

    def __matmul__(self, other):  # (n, k) @ (k, m) -> (n, m)
        out = Tensor(self.data @ other.data, (self, other), "@")

        def _backward():
            self.grad += out.grad @ other.data.T  # (n, m) @ (m, k) -> (n, k)
            other.grad += self.data.T @ out.grad  # (k, n) @ (n, m) -> (k, m)

        out._backward = _backward
        return out

    def tanh(self):
        out = Tensor(np.tanh(self.data), (self,), "tanh")

        def _backward():
            self.grad += (1.0 - out.data**2) * out.grad

        out._backward = _backward
        return out

    def sum(self):
        out = Tensor(self.data.sum(), (self,), "sum")

        def _backward():  # every entry contributes with slope 1
            self.grad += np.ones_like(self.data) * out.grad

        out._backward = _backward
        return out

    def backward(self):  # the same algorithm as Value's, on arrays
        assert self.data.size == 1, "backward() starts from a scalar, such as a loss"
        order, visited = [], set()

        def visit(t):
            if id(t) not in visited:  # numpy-holding objects are compared by identity
                visited.add(id(t))
                for child in t._prev:
                    visit(child)
                order.append(t)

        visit(self)
        for t in order:  # leaves accumulate, inner nodes start afresh
            if t._prev:
                t.grad = np.zeros_like(t.data)
        self.grad = np.ones_like(self.data)
        for t in reversed(order):
            t._backward()


# %% [markdown]
# A linear layer with a tanh, `tanh(x @ W + bias) * scale`, summed into a scalar — broadcasting in
# both the bias (H,) and the per-column `scale` (1, H) — against PyTorch:

# %%
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
# The same harness as for `Value` then runs random graphs made of what our `Tensor` has — `+`, `*`,
# `tanh`, `sum` over broadcastable shapes, and chains of matrix products — through our `Tensor`, the
# library's `ag.Tensor` and PyTorch:

# %%
worst_vs_torch, worst_vs_library, compared = 0.0, 0.0, 0
for _ in range(200):
    leaves, build = gradcheck.random_tensor_case(
        rng, ops=("add", "mul", "tanh", "sum_all"), activations=("tanh",), batched=False
    )
    seed = int(rng.integers(2**31))  # the random weights that turn every node into the scalar output
    vs_torch = gradcheck.compare_tensor(leaves, build, seed, engine=Tensor)  # None if torch overflowed
    if vs_torch is None:
        continue
    vs_library = gradcheck.compare_tensor(leaves, build, seed, engine=Tensor, reference=ag.Tensor)
    worst_vs_torch = max(worst_vs_torch, *vs_torch)
    worst_vs_library = max(worst_vs_library, *vs_library)
    compared += 1
print(
    f"{compared} random graphs; largest difference: vs torch {worst_vs_torch:.1e}, vs ag.Tensor {worst_vs_library}"
)
assert worst_vs_torch < 1e-6 and worst_vs_library == 0.0

# %% [markdown]
# ## 6. Hand-over: `e2edl.autograd`, and the lesson's experiment
#
# `ag.Value` and `ag.Tensor` are these two classes, completed: more operations (`exp`, `log`,
# `sigmoid`, `softplus`, `pow`, `mean`/`sum` over chosen axes, a stable `logsumexp`, `reshape`,
# `transpose`, batched matrix products), numerically stable losses (`cross_entropy`,
# `binary_cross_entropy_with_logits`), and no `retain_graph` needed (these engines never free their
# graph). `ag.TensorMLP` is the MLP above with one matrix product per layer. The operations:

# %%
print("Tensor operations:", sorted(name for name in dir(ag.Tensor) if not name.startswith("_")))
show_source(ag.Tensor.logsumexp)

# %% [markdown]
# The lesson's experiment, which `e2edl run tensors-autograd` runs too, does three things:
#
# 1. runs both library engines and PyTorch on many random graphs through `gradcheck` (every
#    operation, broadcasting, batched matrix products) and records the largest disagreement;
# 2. trains `ag.MLP` on XOR exactly as above;
# 3. trains a small MLP (2 → 32 → 32 → 2, tanh) written with `ag.Tensor` and `ag.cross_entropy` —
#    no PyTorch at all — on scikit-learn's two moons, watching the loss on a validation split carved
#    from the training points and scoring it once on a held-out test split.
#
# It prints what it measured next to what this lesson claims:

# %%
from e2edl.course import run_lesson

result = run_lesson("tensors-autograd", quick=QUICK, out=OUT, resume=True)

# %% [markdown]
# The engines against PyTorch, over every random graph the run drew:

# %%
result.tables["engines"]

# %% [markdown]
# The library's MLP after the same XOR training as ours:

# %%
result.tables["xor"]

# %% [markdown]
# The two-moons network: the probability of the red class over the plane with the held-out test
# points on it (left), and the training and validation loss per epoch (right).

# %%
result.show("moons_decision_boundary", "moons_loss_curve")

# %%
assert result.passed(), "a claim of this lesson failed; see the table above"

# %% [markdown]
# ## Exercises
#
# Each exercise asks for a piece of this lesson's engine. Write it in the cell tagged `exercise`,
# run the cell after it: it prints ✓, or ✗ with a hint saying what is wrong. `e2edl check
# tensors-autograd --notebook <your copy>` checks them all from the command line.
#
# ### 1. A new operation for `Value`: softplus
#
# `softplus(a) = log(1 + eᵃ)` is a smooth ReLU. Write it as an operation of the library's `Value`:
# compute the output, make a `Value` that lists `a` as its input, and attach a `_backward` that adds
# `a`'s share of `out.grad`. Its local derivative is the sigmoid, `1 / (1 + e⁻ᵃ)`. It must work for
# `a = 1000` too (where `e¹⁰⁰⁰` does not fit in a float).

# %% tags=["exercise"]
import math

from e2edl.autograd import Value


def softplus(a: Value) -> Value:
    """log(1 + e^a) as a new Value, with a _backward that passes the gradient on to `a`."""
    raise NotImplementedError  # your code here


# %%
check("value-softplus", softplus)

# %% [markdown]
# ### 2. The backward of a sum over an axis
#
# `x.sum(axis, keepdims)` is the mirror image of broadcasting: every entry summed gets the upstream
# gradient unchanged. Given the gradient of the sum, `grad` (the sum's shape), return the gradient of
# `x` (shape `shape`). With `keepdims=False` the summed axis is gone from `grad`, so put it back
# (`np.expand_dims`) before broadcasting (`np.broadcast_to`). `axis` is an int or `None` (everything).

# %% tags=["exercise"]
import numpy as np


def sum_backward(grad: np.ndarray, shape: tuple, axis: int | None, keepdims: bool) -> np.ndarray:
    """The gradient of x (of shape `shape`) given `grad`, the gradient of x.sum(axis, keepdims)."""
    raise NotImplementedError  # your code here


# %%
check("sum-backward", sum_backward)

# %% [markdown]
# ### 3. A numerical gradient, the independent check
#
# Write the finite-difference gradient of a function of an array: for every entry of `x` in turn,
# the central difference `(f(x + h·eᵢ) − f(x − h·eᵢ)) / 2h`, where `eᵢ` is 1 at that entry and 0
# elsewhere. `f` takes a float64 array and returns a float; return an array of `x`'s shape
# (`x.copy()` makes one to fill, `x.flat[i]` reads and writes entry `i` whatever the shape). Leave `x`
# as you found it.


# %% tags=["exercise"]
def numerical_gradient(f, x, h=1e-5):
    """The central-difference gradient of f at the array x, one entry at a time (x's shape)."""
    raise NotImplementedError  # your code here


# %%
check("numerical-gradient", numerical_gradient)
