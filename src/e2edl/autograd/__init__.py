"""The from-scratch autograd engines used to teach autograd (lesson 01).

``Value`` is a scalar engine, ``Tensor`` a small numpy one with broadcasting and matmul; both are
tested against ``torch.autograd`` in float64. Ground floor: imports nothing else from ``e2edl``.
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
