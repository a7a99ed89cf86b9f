"""The from-scratch autograd engines of the tensors-autograd lesson.

``Value`` is a scalar engine, ``Tensor`` a small numpy one with broadcasting and matmul; both are
checked against ``torch.autograd`` in float64 by one random-graph harness, ``e2edl.autograd.gradcheck``
(used by the tests, the lesson and its experiment; it imports torch, so it is not imported here).
``e2edl.autograd.draw.draw_graph`` draws a scalar graph. Ground floor: imports nothing above it.
"""

from e2edl.autograd.mlp import MLP, Layer, Linear, Module, Neuron, TensorMLP, sgd_step
from e2edl.autograd.scalar import Value
from e2edl.autograd.tensor import Tensor, binary_cross_entropy_with_logits, cross_entropy, unbroadcast

__all__ = [
    "MLP",
    "Layer",
    "Linear",
    "Module",
    "Neuron",
    "Tensor",
    "TensorMLP",
    "Value",
    "binary_cross_entropy_with_logits",
    "cross_entropy",
    "sgd_step",
    "unbroadcast",
]
