"""The demo's pictures: the decision boundary, the training curves, one neuron's graph.

    from picograd.plots import plot_boundary, plot_curves
    plot_boundary(model, X, y, "boundary.png")   # a matplotlib Figure, also saved
    plot_curves(history)                         # shown inline in Jupyter

matplotlib is imported only when a figure is drawn (``pip install "picogradlib[demo]"``);
figures are saved atomically, so a reader never sees half a PNG.
"""

from __future__ import annotations

import io
import os
from typing import Any, cast

from ._files import write_atomically
from .engine import Value, no_grad
from .nn import MLP, Neuron
from .train import History

__all__ = ["neuron_graph", "plot_boundary", "plot_curves", "save_figure"]


def plot_boundary(model: MLP, X: Any, y: Any, path: str | os.PathLike | None = None,
                  title: str = "") -> Any:
    """The model's decision boundary over the data; saved to ``path`` if given."""
    import numpy as np
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    pad = 0.5
    (x0, y0), (x1, y1) = X.min(axis=0) - pad, X.max(axis=0) + pad
    xx, yy = np.meshgrid(np.linspace(x0, x1, 200), np.linspace(y0, y1, 200))
    with no_grad():  # one batch forward over the whole grid
        grid = cast(Value, model(np.column_stack([xx.ravel(), yy.ravel()])))
    zz = np.asarray(grid.data).reshape(xx.shape)
    fig = Figure(figsize=(6, 5), layout="constrained")
    ax = fig.subplots()
    limit = max(float(np.abs(zz).max()), 1e-9)
    ax.contourf(xx, yy, zz, levels=np.linspace(-limit, limit, 21), cmap="RdBu", alpha=0.55)
    ax.contour(xx, yy, zz, levels=[0.0], colors="k", linewidths=1.5)
    for label, shade in ((-1.0, 0.15), (1.0, 0.85)):
        mine = y == label
        ax.scatter(X[mine, 0], X[mine, 1], color=colormaps["RdBu"](shade), s=28,
                   edgecolors="k", linewidths=0.6, label=f"label {label:+.0f}")
    ax.legend(loc="upper right", framealpha=0.9)
    ax.set(xlim=(x0, x1), ylim=(y0, y1), xlabel="x1", ylabel="x2",
           title=title or "decision boundary (score = 0)")
    if path is not None:
        save_figure(fig, path)
    return fig


def plot_curves(history: History, path: str | os.PathLike | None = None,
                title: str = "") -> Any:
    """Loss and accuracy per step; saved to ``path`` if given."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 5), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    steps = range(len(history.loss))
    top.plot(steps, history.loss, color="tab:red")
    top.set(ylabel="total loss", yscale="log", title=title or "training")
    top.grid(True, alpha=0.3)
    bottom.plot(steps, [100 * a for a in history.accuracy], color="tab:blue")
    bottom.set(xlabel="step", ylabel="accuracy (%)", ylim=(0, 101))
    bottom.grid(True, alpha=0.3)
    if path is not None:
        save_figure(fig, path)
    return fig


def save_figure(fig: Any, path: str | os.PathLike) -> None:
    """Write ``fig`` as a PNG to ``path`` atomically: never a half-written file."""
    picture = io.BytesIO()
    fig.savefig(picture, format="png", dpi=110)
    write_atomically(path, picture.getvalue())


def neuron_graph(model: MLP | Neuron, x: Any, format: str = "png") -> Any:
    """The computation graph of one neuron on the inputs ``x``, as a ``graphviz.Digraph``.

    ``model`` is a Neuron, or an MLP: then the first neuron of its first layer whose
    gradients are not all zero on ``x`` (a live relu) is drawn. The neuron runs unfused
    (a node per multiply and add) on copies of its weights labelled w1, w2, ..., b,
    with the inputs as constants x1, x2, ...; the model is untouched.
    """
    from .draw import draw_dot

    return draw_dot(neuron_root(model, x), format=format)


def neuron_root(model: MLP | Neuron, x: Any) -> Value:
    """The output Value of the neuron ``neuron_graph`` draws, backpropagated (for
    ``picograd.explore`` too)."""
    neurons = model.layers[0].neurons if isinstance(model, MLP) else [model]
    outs = []
    for neuron in neurons:
        out, live = _neuron_on(neuron, x)
        if live:
            return out
        outs.append(out)
    return outs[0]  # every neuron is flat on x: the first


def _neuron_on(neuron: Neuron, x: Any) -> tuple[Value, bool]:
    """The neuron's own code, unfused, on labelled copies; and whether a gradient lives."""
    import copy

    one = copy.copy(neuron)
    one.w = [Value(float(w.data), label=f"w{i + 1}") for i, w in enumerate(neuron.w)]
    one.b = Value(float(neuron.b.data), label="b")
    one.fused = False
    xs = [Value(float(v), requires_grad=False, label=f"x{i + 1}") for i, v in enumerate(x)]
    out = one(xs)
    out.label = "out"
    out.backward()
    return out, any(p.grad != 0.0 for p in one.w + [one.b])
