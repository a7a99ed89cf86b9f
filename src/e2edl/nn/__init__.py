"""Models and layers, one concept per file: import them from their modules, e.g.
``from e2edl.nn.mlp import MLP``."""
