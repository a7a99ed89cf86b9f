"""The tensor engine ``Tensor`` against ``torch.autograd`` (float64): broadcasting, reductions, matmul."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from e2edl.autograd import (
    Tensor,
    TensorMLP,
    binary_cross_entropy_with_logits,
    cross_entropy,
    gradcheck,
    unbroadcast,
)

TOL = 1e-6  # |ours - torch| <= TOL * (1 + |torch|), elementwise


def assert_close(ours: np.ndarray, theirs: np.ndarray | torch.Tensor) -> None:
    theirs = theirs.detach().numpy() if isinstance(theirs, torch.Tensor) else theirs
    assert ours.shape == theirs.shape, (ours.shape, theirs.shape)
    np.testing.assert_allclose(ours, theirs, rtol=TOL, atol=TOL)


# Leaves and programs are drawn by hypothesis (which shrinks a failure to a small case) and run by the
# library's harness, the same code the tensors-autograd experiment runs on NumPy-drawn cases.
def check_against_torch(leaves, build, seed):
    """Run ``build`` (leaves -> list of nodes) on both engines; compare every node and every leaf grad."""
    their_nodes, their_grads = gradcheck.tensor_graph(leaves, build, seed, gradcheck.torch_leaf)
    assume(all(np.isfinite(a).all() for a in their_nodes + their_grads))
    our_nodes, our_grads = gradcheck.tensor_graph(leaves, build, seed, Tensor)
    for ours, theirs in zip(our_nodes, their_nodes, strict=True):
        assert_close(ours, theirs)
    for ours, theirs in zip(our_grads, their_grads, strict=True):
        assert_close(ours, theirs)


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
    st.tuples(st.sampled_from(gradcheck.TENSOR_OPS), st.integers(0, 99), st.integers(0, 99)),
    min_size=1,
    max_size=8,
)


@settings(max_examples=150, deadline=None)
@given(broadcastable_leaves(), programs, st.integers(0, 2**16))
def test_random_broadcasting_graphs_match_torch(leaves, program, seed):
    check_against_torch(leaves, gradcheck.program_builder(program), seed)


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
    chain_nodes = gradcheck.matmul_chain_builder(transposed, activations)

    def build(xs):
        nodes = chain_nodes(xs)
        return [*nodes, nodes[-1].reshape(-1)]

    check_against_torch(leaves, build, seed)


def test_the_random_cases_of_the_experiment_match_torch():
    rng = np.random.default_rng(0)
    for _ in range(50):
        errors = gradcheck.compare_tensor(*gradcheck.random_tensor_case(rng), seed=int(rng.integers(2**16)))
        assert errors is None or max(errors) <= TOL, errors


def test_the_harness_catches_a_forgotten_unbroadcast(monkeypatch):
    """A bias gradient not summed over the batch has the wrong shape: the harness must say so."""

    def add_without_unbroadcast(self, other):
        other = other if isinstance(other, Tensor) else Tensor(other)
        out = Tensor(self.data + other.data, (self, other), "+")

        def _backward():
            self.grad = self.grad + out.grad
            other.grad = other.grad + out.grad  # (B, H) where the leaf is (H,)

        out._backward = _backward
        return out

    monkeypatch.setattr(Tensor, "__add__", add_without_unbroadcast)
    x, bias = np.ones((4, 3)), np.ones(3)
    errors = gradcheck.compare_tensor([x, bias], lambda xs: [xs[0] + xs[1]])
    assert errors.grad == float("inf")


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
