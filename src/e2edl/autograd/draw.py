"""Draw a scalar computation graph: one box per ``Value`` (its label or op, data and grad), in
columns by depth with the leaves on the left, an arrow from each input to the value computed from it.

Works on any node with ``data``, ``grad``, ``_prev``, ``_op`` and ``label`` (the library's ``Value``
and the one the tensors-autograd lesson builds).
"""

from __future__ import annotations

import matplotlib.pyplot as plt


def _order(root) -> list:
    order, seen = [], set()

    def visit(v) -> None:
        if id(v) not in seen:
            seen.add(id(v))
            for child in v._prev:
                visit(child)
            order.append(v)

    visit(root)
    return order


def draw_graph(root) -> plt.Figure:
    """The graph ``root`` was computed from, as a figure."""
    order = _order(root)
    column: dict[int, int] = {}
    position: dict[int, tuple[int, int]] = {}
    rows_in: dict[int, int] = {}
    for v in order:  # a node sits one column right of its deepest input
        column[id(v)] = 1 + max((column[id(c)] for c in v._prev), default=-1)
        rows_in[column[id(v)]] = rows_in.get(column[id(v)], 0) + 1
        position[id(v)] = (column[id(v)], -rows_in[column[id(v)]])
    width, height = max(rows_in) + 1, max(rows_in.values())
    fig, ax = plt.subplots(figsize=(2.3 * width, 0.9 * height + 1))
    for v in order:
        x_to, y_to = position[id(v)]
        for child in v._prev:
            x_from, y_from = position[id(child)]
            ax.annotate(
                "",
                xy=(x_to - 0.25, y_to),
                xytext=(x_from + 0.25, y_from),
                arrowprops={"arrowstyle": "->", "color": "gray"},
            )
        text = f"{v.label or v._op}\ndata {v.data:.3g}\ngrad {v.grad:.3g}"
        bbox = {"boxstyle": "round", "fc": "lightyellow"}
        ax.text(x_to, y_to, text, ha="center", va="center", fontsize=8, bbox=bbox)
    ax.set(xlim=(-0.6, width - 0.4), ylim=(-height - 0.7, -0.3))
    ax.axis("off")
    return fig
