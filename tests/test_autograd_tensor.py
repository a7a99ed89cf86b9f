"""The tensor engine ``Tensor`` against ``torch.autograd`` (float64): broadcasting, reductions, matmul."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from e2edl.autograd import Tensor, TensorMLP, binary_cross_entropy_with_logits, cross_entropy, unbroadcast

TOL = 1e-6  # |ours - torch| <= TOL * (1 + |torch|), elementwise


def assert_close(ours: np.ndarray, theirs: torch.Tensor) -> None:
    theirs = theirs.detach().numpy()
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    np.testing.assert_allclose(ours, theirs, rtol=TOL, atol=TOL)


def softplus(a):
    return F.softplus(a) if isinstance(a, torch.Tensor) else a.softplus()


def swap_last_two(a):
    return a.transpose(-1, -2) if isinstance(a, torch.Tensor) else a.T


# Recipes that work on our Tensor and on a torch tensor alike. Every result broadcasts against every
# other node (reductions keep dims or drop the leading one), so any two nodes can meet in a binary op.
# Domains are safe by construction: log sees values >= 0.1, division values >= 0.5.
UNARY = {
    "neg": lambda a: -a,
    "exp": lambda a: a.tanh().exp(),
    "log": lambda a: (a * a + 0.1).log(),
    "tanh": lambda a: a.tanh(),
    "relu": lambda a: a.relu(),
    "sigmoid": lambda a: a.sigmoid(),
    "softplus": softplus,
    "square": lambda a: a**2,
    "cube": lambda a: a**3,
    "rsqrt": lambda a: (a * a + 0.5) ** -0.5,
    "rdiv_const": lambda a: 1.0 / (a * a + 1.0),
    "rsub_const": lambda a: 2.0 - a,
    "sum_all": lambda a: a.sum(),
    "mean_all": lambda a: a.mean(),
    "sum_first": lambda a: a.sum(axis=0) if a.ndim else a,
    "sum_last_keep": lambda a: a.sum(axis=-1, keepdims=True) if a.ndim else a,
    "mean_first_keep": lambda a: a.mean(axis=0, keepdims=True) if a.ndim else a,
    "mean_two_keep": lambda a: a.mean(axis=(0, -1), keepdims=True) if a.ndim >= 2 else a,
    "logsumexp_last_keep": lambda a: a.logsumexp(axis=-1, keepdims=True) if a.ndim else a,
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 0.5),
}
OPS = sorted(UNARY) + sorted(BINARY)


def evaluate(program, leaves):
    """Apply ``program`` — a list of (op, i, j) — to ``leaves``; ``i``, ``j`` pick any earlier node."""
    nodes = list(leaves)
    for op, i, j in program:
        a, b = nodes[i % len(nodes)], nodes[j % len(nodes)]
        nodes.append(UNARY[op](a) if op in UNARY else BINARY[op](a, b))
    return nodes


def weighted_total(nodes, weights):
    """A scalar that depends on every node, each through a different random weight per entry."""
    total = nodes[0].sum() * 0.0
    for node, w in zip(nodes, weights):
        total = total + (node * w).sum()
    return total


@st.composite
def broadcastable_leaves(draw):
    """1-4 arrays whose shapes all broadcast to one base shape: some leading axes dropped, some sizes 1."""
    base = draw(st.lists(st.integers(1, 4), min_size=0, max_size=3))
    leaves = []
    for _ in range(draw(st.integers(1, 4))):
        drop = draw(st.integers(0, len(base)))
        shape = tuple(1 if draw(st.booleans()) else n for n in base[drop:])
        leaves.append(draw(hnp.arrays(np.float64, shape, elements=st.floats(-2.0, 2.0))))
    return leaves


programs = st.lists(
    st.tuples(st.sampled_from(OPS), st.integers(0, 99), st.integers(0, 99)), min_size=1, max_size=8
)


def check_against_torch(leaves, build, seed):
    """Run ``build`` (leaves -> list of nodes) on both engines; compare every node and every leaf grad."""
    ours = [Tensor(x) for x in leaves]
    theirs = [torch.tensor(x, requires_grad=True) for x in leaves]
    our_nodes, their_nodes = build(ours), build(theirs)
    rng = np.random.default_rng(seed)
    weights = [rng.normal(size=t.shape) for t in their_nodes]
    their_total = weighted_total(their_nodes, [torch.tensor(w) for w in weights])
    assume(torch.isfinite(their_total).item())
    their_total.backward()
    their_grads = [torch.zeros_like(t) if t.grad is None else t.grad for t in theirs]
    assume(all(torch.isfinite(g).all() for g in their_grads))
    our_total = weighted_total(our_nodes, weights)
    our_total.backward()

    for o, t in zip(our_nodes, their_nodes):
        assert_close(o.data, t)
    assert_close(our_total.data, their_total)
    for leaf, g in zip(ours, their_grads):
        assert_close(leaf.grad, g)


@settings(max_examples=150, deadline=None)
@given(broadcastable_leaves(), programs, st.integers(0, 2**16))
def test_random_broadcasting_graphs_match_torch(leaves, program, seed):
    check_against_torch(leaves, lambda xs: evaluate(program, xs), seed)


@st.composite
def matmul_chains(draw):
    """A chain A1 @ A2 @ ... with random sizes, broadcastable batch axes, and some factors stored transposed."""
    batch = draw(st.lists(st.integers(1, 3), min_size=0, max_size=2))
    sizes = draw(st.lists(st.integers(1, 4), min_size=2, max_size=5))
    leaves, transposed = [], []
    for n, m in zip(sizes, sizes[1:]):
        drop = draw(st.integers(0, len(batch)))
        b = tuple(1 if draw(st.booleans()) else k for k in batch[drop:])
        flip = draw(st.booleans())
        shape = (*b, m, n) if flip else (*b, n, m)
        leaves.append(draw(hnp.arrays(np.float64, shape, elements=st.floats(-2.0, 2.0))))
        transposed.append(flip)
    activations = draw(st.lists(st.sampled_from(["none", "tanh", "relu", "sigmoid"]), min_size=len(leaves)))
    return leaves, transposed, activations


@settings(max_examples=100, deadline=None)
@given(matmul_chains(), st.integers(0, 2**16))
def test_random_matmul_chains_match_torch(chain, seed):
    leaves, transposed, activations = chain

    def build(xs):
        nodes = list(xs)
        out = swap_last_two(xs[0]) if transposed[0] else xs[0]
        for x, flip, act in zip(xs[1:], transposed[1:], activations):
            out = out @ (swap_last_two(x) if flip else x)
            out = out if act == "none" else getattr(out, act)()
            nodes.append(out)
        nodes.append(out.reshape(-1))
        return nodes

    check_against_torch(leaves, build, seed)


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(np.float64, hnp.array_shapes(min_dims=2, max_dims=4, max_side=3), elements=st.floats(-2, 2)),
    st.data(),
)
def test_transpose_and_reshape_match_torch(x, data):
    axes = tuple(data.draw(st.permutations(range(x.ndim))))

    def build(xs):
        permuted = xs[0].permute(axes) if isinstance(xs[0], torch.Tensor) else xs[0].transpose(axes)
        flat = permuted.reshape(-1, x.shape[-1]).tanh()
        return [permuted, flat, flat.reshape(x.shape) * xs[0]]

    check_against_torch([x], build, seed=0)


def test_unbroadcast_sums_over_broadcast_axes():
    grad = np.ones((5, 3, 4))
    assert unbroadcast(grad, (4,)).tolist() == [15.0] * 4
    assert unbroadcast(grad, (3, 1)).shape == (3, 1) and unbroadcast(grad, (3, 1))[0, 0] == 20.0
    assert unbroadcast(grad, ()).shape == () and unbroadcast(grad, ()) == 60.0


def test_node_used_twice_accumulates_its_gradient():
    x = Tensor([1.0, -2.0, 3.0])
    y = (x * x + x).sum()  # dy/dx = 2x + 1
    y.backward()
    assert x.grad.tolist() == [3.0, -3.0, 7.0]


def test_backward_twice_accumulates_in_leaves_like_torch():
    x = np.array([[0.3, -1.2], [2.0, 0.5]])
    ours, theirs = Tensor(x), torch.tensor(x, requires_grad=True)
    y, ty = (ours @ ours).tanh().sum(), (theirs @ theirs).tanh().sum()
    y.backward()
    y.backward()
    ty.backward(retain_graph=True)
    ty.backward()
    assert_close(ours.grad, theirs.grad)


def test_losses_match_torch_and_stay_finite_for_huge_logits():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(6, 3)) * np.array([1.0, 1e3, -1e3])[:, None].repeat(2, axis=0).reshape(6, 1)
    targets = rng.integers(0, 3, size=6)
    ours, theirs = Tensor(logits), torch.tensor(logits, requires_grad=True)
    loss, their_loss = cross_entropy(ours, targets), F.cross_entropy(theirs, torch.tensor(targets))
    loss.backward()
    their_loss.backward()
    assert np.isfinite(loss.data)
    assert_close(loss.data, their_loss)
    assert_close(ours.grad, theirs.grad)

    z, y = logits[:, 0], (targets > 0).astype(np.float64)
    ours, theirs = Tensor(z), torch.tensor(z, requires_grad=True)
    loss = binary_cross_entropy_with_logits(ours, y)
    their_loss = F.binary_cross_entropy_with_logits(theirs, torch.tensor(y))
    loss.backward()
    their_loss.backward()
    assert np.isfinite(loss.data)
    assert_close(loss.data, their_loss)
    assert_close(ours.grad, theirs.grad)


def test_tensor_mlp_parameter_gradients_match_torch():
    mlp = TensorMLP(2, [16, 8, 3], activation="tanh", seed=0)
    nn = torch.nn
    torch_mlp = nn.Sequential(
        nn.Linear(2, 16), nn.Tanh(), nn.Linear(16, 8), nn.Tanh(), nn.Linear(8, 3)
    ).double()
    linears = [m for m in torch_mlp if isinstance(m, torch.nn.Linear)]
    with torch.no_grad():  # the same weights: our layout is torch's, (out, in)
        for ours, theirs in zip(mlp.layers, linears):
            theirs.weight.copy_(torch.tensor(ours.weight.data))
            theirs.bias.copy_(torch.tensor(ours.bias.data))

    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(10, 2)), rng.integers(0, 3, size=10)
    loss = cross_entropy(mlp(x), y)
    loss.backward()
    their_loss = F.cross_entropy(torch_mlp(torch.tensor(x)), torch.tensor(y))
    their_loss.backward()

    assert_close(loss.data, their_loss)
    for ours, theirs in zip(mlp.layers, linears):
        assert_close(ours.weight.grad, theirs.weight.grad)
        assert_close(ours.bias.grad, theirs.bias.grad)
