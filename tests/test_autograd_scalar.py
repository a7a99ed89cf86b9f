"""The scalar engine ``Value`` against ``torch.autograd`` (float64) on random expression graphs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from e2edl.autograd import MLP, Value, gradcheck, sgd_step

TOL = 1e-6  # |ours - torch| <= TOL * (1 + |torch|)


def close(ours: float, theirs: float) -> bool:
    return abs(ours - theirs) <= TOL * (1.0 + abs(theirs))


# The programs are drawn by hypothesis (which shrinks a failure to a small program) and run by the
# library's harness, the same code the tensors-autograd experiment runs on NumPy-drawn programs.
programs = st.lists(
    st.tuples(st.sampled_from(gradcheck.SCALAR_OPS), st.integers(0, 99), st.integers(0, 99)),
    min_size=1,
    max_size=10,
)
leaf_values = st.lists(st.floats(-2.0, 2.0, allow_nan=False), min_size=1, max_size=4)


@settings(max_examples=150, deadline=None)
@given(leaf_values, programs)
def test_random_expression_graphs_match_torch(values, program):
    their_nodes, their_grads = gradcheck.scalar_graph(values, program, gradcheck.torch_leaf)
    assume(all(math.isfinite(v) for v in their_nodes + their_grads))
    our_nodes, our_grads = gradcheck.scalar_graph(values, program, Value)
    for ours, theirs in zip(our_nodes, their_nodes, strict=True):
        assert close(ours, theirs), (ours, theirs)
    for ours, theirs in zip(our_grads, their_grads, strict=True):
        assert close(ours, theirs), (ours, theirs)


def test_the_harness_catches_a_wrong_backward(monkeypatch):
    """A check that cannot fail is no check: break tanh's local derivative and watch it fail."""

    def wrong_tanh(self):
        out = Value(math.tanh(self.data), (self,), "tanh")

        def _backward():  # forgets the square: 1 - tanh(a) instead of 1 - tanh(a)^2
            self.grad += (1.0 - out.data) * out.grad

        out._backward = _backward
        return out

    monkeypatch.setattr(Value, "tanh", wrong_tanh)
    errors = gradcheck.compare_scalar([0.7, -0.3], [("tanh", 0, 0), ("mul", 2, 1)])
    assert errors.value <= TOL and errors.grad > 0.1


def test_the_random_cases_of_the_experiment_match_torch():
    rng = np.random.default_rng(0)
    for _ in range(50):
        errors = gradcheck.compare_scalar(*gradcheck.random_scalar_case(rng))
        assert errors is None or max(errors) <= TOL, errors


def test_node_used_twice_accumulates_its_gradient():
    x = Value(3.0)
    y = x * x + x  # x is used three times: dy/dx = 2x + 1
    y.backward()
    assert x.grad == 7.0


def test_backward_twice_accumulates_in_leaves_like_torch():
    x, tx = Value(0.7), torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    y, ty = (x * x).tanh() * x, (tx * tx).tanh() * tx
    y.backward()
    y.backward()
    ty.backward(retain_graph=True)
    ty.backward()
    assert close(x.grad, tx.grad.item())


def test_sigmoid_is_stable_for_large_inputs():
    assert Value(-1000.0).sigmoid().data == 0.0
    assert Value(1000.0).sigmoid().data == 1.0


def test_mlp_parameter_gradients_match_torch():
    mlp = MLP(3, [4, 4, 1], seed=0)
    layers = [torch.nn.Linear(3, 4), torch.nn.Linear(4, 4), torch.nn.Linear(4, 1)]
    with torch.no_grad():  # copy our weights into torch's layers
        for ours, theirs in zip(mlp.layers, layers):
            theirs.weight.copy_(torch.tensor([[w.data for w in n.w] for n in ours.neurons]))
            theirs.bias.copy_(torch.tensor([n.b.data for n in ours.neurons]))
    layers = [layer.double() for layer in layers]

    rng = np.random.default_rng(0)
    xs, ys = rng.normal(size=(5, 3)), rng.normal(size=5)
    loss = sum(((mlp(list(x))[0] - y) ** 2 for x, y in zip(xs, ys)), Value(0.0))
    loss.backward()

    h = torch.tensor(xs)
    h = torch.tanh(layers[0](h))
    h = torch.tanh(layers[1](h))
    their_loss = ((layers[2](h).squeeze(1) - torch.tensor(ys)) ** 2).sum()
    their_loss.backward()

    assert close(loss.data, their_loss.item())
    for ours, theirs in zip(mlp.layers, layers):
        for n, w_grad, b_grad in zip(ours.neurons, theirs.weight.grad, theirs.bias.grad):
            assert all(close(w.grad, g.item()) for w, g in zip(n.w, w_grad))
            assert close(n.b.grad, b_grad.item())


def test_sgd_step_lowers_the_loss():
    mlp = MLP(2, [8, 1], seed=1)
    data = [([0.0, 1.0], 1.0), ([1.0, 0.0], -1.0), ([1.0, 1.0], 0.5)]

    def loss_value():
        return sum(((mlp(x)[0] - y) ** 2 for x, y in data), Value(0.0))

    before = loss_value()
    for _ in range(20):
        mlp.zero_grad()
        loss = loss_value()
        loss.backward()
        sgd_step(mlp.parameters(), lr=0.05)
    assert loss_value().data < before.data


@pytest.mark.parametrize("op", ["exp", "log", "tanh", "relu", "sigmoid"])
def test_each_unary_op_alone(op):
    for v in (-1.3, 0.4, 2.2):
        x = Value(v if op != "log" else abs(v))
        tx = torch.tensor(x.data, dtype=torch.float64, requires_grad=True)
        y, ty = getattr(x, op)(), getattr(tx, op)()
        y.backward()
        ty.backward()
        assert close(y.data, ty.item()) and close(x.grad, tx.grad.item())
