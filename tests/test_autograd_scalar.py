"""The scalar engine ``Value`` against ``torch.autograd`` (float64) on random expression graphs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from e2edl.autograd import MLP, Value, sgd_step

TOL = 1e-6  # |ours - torch| <= TOL * (1 + |torch|)

# Each recipe works on a Value and on a 0-d torch tensor alike. Domains are kept safe by construction:
# log only sees expressions >= 0.1, division only by expressions >= 0.5.
UNARY = {
    "neg": lambda a: -a,
    "exp": lambda a: a.tanh().exp(),  # tanh first, so that chains of exp cannot overflow
    "log": lambda a: (a * a + 0.1).log(),
    "tanh": lambda a: a.tanh(),
    "relu": lambda a: a.relu(),
    "sigmoid": lambda a: a.sigmoid(),
    "square": lambda a: a**2,
    "cube": lambda a: a**3,
    "rsqrt": lambda a: (a * a + 0.5) ** -0.5,
    "add_const": lambda a: a + 1.5,
    "rsub_const": lambda a: 2.0 - a,
    "rmul_const": lambda a: 3.0 * a,
    "rdiv_const": lambda a: 1.0 / (a * a + 1.0),
}
BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / (b * b + 0.5),
}
OPS = sorted(UNARY) + sorted(BINARY)


def close(ours: float, theirs: float) -> bool:
    return abs(ours - theirs) <= TOL * (1.0 + abs(theirs))


def evaluate(program, leaves):
    """Apply ``program`` — a list of (op, i, j) — to ``leaves``; ``i``, ``j`` pick any earlier node."""
    nodes = list(leaves)
    for op, i, j in program:
        a, b = nodes[i % len(nodes)], nodes[j % len(nodes)]
        nodes.append(UNARY[op](a) if op in UNARY else BINARY[op](a, b))
    return nodes


programs = st.lists(
    st.tuples(st.sampled_from(OPS), st.integers(0, 99), st.integers(0, 99)), min_size=1, max_size=10
)
leaf_values = st.lists(st.floats(-2.0, 2.0, allow_nan=False), min_size=1, max_size=4)


@settings(max_examples=150, deadline=None)
@given(leaf_values, programs)
def test_random_expression_graphs_match_torch(values, program):
    ours = [Value(v) for v in values]
    theirs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]
    our_nodes, their_nodes = evaluate(program, ours), evaluate(program, theirs)
    # The output depends on every node built, so nodes are reused and every backward closure runs.
    our_out = sum(our_nodes[len(values) :], Value(0.0))
    their_out = sum(their_nodes[len(values) :], torch.tensor(0.0, dtype=torch.float64))
    assume(math.isfinite(their_out.item()))
    their_out.backward()
    grads = [0.0 if t.grad is None else t.grad.item() for t in theirs]
    assume(all(math.isfinite(g) for g in grads))
    our_out.backward()

    for o, t in zip(our_nodes, their_nodes):
        assert close(o.data, t.item()), (o.data, t.item())
    for leaf, g in zip(ours, grads):
        assert close(leaf.grad, g), (leaf.grad, g)


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
