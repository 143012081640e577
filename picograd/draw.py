"""Drawing the computation graph with Graphviz: ``draw_dot(root)``.

Every Value is a box (its label, data and grad) and every op that made one is an oval
named by its registered op name, attributes included (``leaky_relu(slope=0.1)``).
Edges follow the data: inputs -> op -> output. Where input order matters (``sub``,
``div``, ``pow``, any op but ``add`` and ``mul``) the edges are labelled in argument
order: a and b for two inputs, as in ``a - b``, else 1, 2, 3, ... Constants (plain
numbers lifted into the graph) are grey boxes without a gradient.

The ``graphviz`` package is imported only when a graph is drawn (``import picograd``
stays light), and rendering runs Graphviz's own ``dot`` program.
"""

from __future__ import annotations

import html
import math
import warnings
from collections import deque
from collections.abc import Mapping
from typing import Any

from .engine import Value

MAX_NODES = 200  # Values drawn by default; past this a graph is unreadable anyway
COMMUTATIVE = frozenset({"add", "mul"})  # input order does not matter: no edge labels
INSTALL_HINT = (
    "install Graphviz: `apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz`"
    " (macOS), or see https://graphviz.org/download/"
)
MISSING_DOT = (
    f"cannot render the graph: Graphviz's `dot` program is not on PATH; {INSTALL_HINT}."
    " The DOT source is still available as `.source` (or save it with `.save('graph.gv')`)."
)


class DotNotFoundError(RuntimeError):
    """Graphviz's ``dot`` program is not on PATH, so the graph cannot be rendered.

    What rendering a ``draw_dot`` graph raises is also a ``graphviz.ExecutableNotFound``
    (see ``picograd._digraph``), so code written for either catches it.
    """

    def __init__(self, message: str = "") -> None:
        RuntimeError.__init__(self, message or MISSING_DOT)


class GraphTruncatedWarning(UserWarning):
    """``draw_dot`` drew only the ``max_nodes`` Values nearest the root."""


def draw_dot(root: Value, format: str = "svg", rankdir: str = "LR",
             max_nodes: int | None = MAX_NODES, *, ids: Mapping[Value, str] | None = None,
             labels: Mapping[Value, str] | None = None,
             grads: Mapping[Value, Any] | None = None) -> Any:
    """The computation graph that produced ``root``, as a ``graphviz.Digraph``.

    Render it with ``.render()`` or ``.pipe()`` (or display it in Jupyter); its DOT
    text is ``.source``. At most ``max_nodes`` Values are drawn, the ones nearest the
    root: a bigger graph is cut, with a note on the picture and a
    ``GraphTruncatedWarning``. ``max_nodes=None`` draws everything.
    For tools such as ``explore``: ``ids`` gives Values an SVG id (the op that made
    one gets id-op, the edges into it id-in1, id-in2, ...; out of it id-out), and
    ``labels`` and ``grads`` what to show instead of ``.label`` and ``.grad``.
    """
    if not isinstance(root, Value):
        raise TypeError(f"draw_dot() expects a Value, got {type(root).__name__}")
    if rankdir not in ("LR", "RL", "TB", "BT"):
        raise ValueError(f"rankdir must be LR, RL, TB or BT, not {rankdir!r}")
    if max_nodes is not None and (type(max_nodes) is not int or max_nodes < 1):
        raise ValueError(f"max_nodes must be a positive int or None, not {max_nodes!r}")

    from ._digraph import Digraph  # imports graphviz

    kept, total = _gather(root, max_nodes)
    graph = Digraph(format=format, graph_attr={
        "rankdir": rankdir, "fontname": "Helvetica", "fontsize": "11", "nodesep": "0.25",
        "ranksep": "0.35",
    })
    graph.attr("node", fontname="Helvetica", fontsize="11")
    graph.attr("edge", fontname="Helvetica", fontsize="9", fontcolor="#555555",
               color="#555555", arrowsize="0.6")
    if len(kept) < total:
        note = (f"Showing the {len(kept)} values nearest the output, of {total} in the graph"
                f" (max_nodes={max_nodes}). draw_dot(root, max_nodes=None) draws them all.")
        graph.attr(label=note, labelloc="t", fontcolor="#b00000", fontsize="14")
        warnings.warn(note, GraphTruncatedWarning, stacklevel=2)

    # Names follow creation order (inputs before outputs), never object ids: the same
    # graph built twice gives the same DOT source.
    ordered = sorted(kept, key=lambda v: v._id)
    names = {v: f"v{i}" for i, v in enumerate(ordered)}
    for v in ordered:
        name = names[v]
        vid = ids.get(v) if ids is not None else None
        text = labels.get(v, v.label) if labels is not None else v.label
        grad = grads.get(v, v.grad) if grads is not None else v.grad
        graph.node(name, label=_value_label(v, text, grad), shape="plain", id=vid)
        if v.op is None:
            continue
        op = v.op
        graph.node(name + "op", label=_html(op.label), shape="ellipse", style="filled",
                   fillcolor="#fff4d6", color="#b08a30", height="0.3", margin="0.05,0.02",
                   tooltip=f"{op.label} from {op.provider}", id=vid and vid + "-op")
        graph.edge(name + "op", name, id=vid and vid + "-out")
        inputs, cut = v._prev, []
        ordered_inputs = len(inputs) > 1 and op.name not in COMMUTATIVE
        for i, p in enumerate(inputs):
            label = _position(i, len(inputs)) if ordered_inputs else None
            if p in names:
                graph.edge(names[p], name + "op", label=label, id=vid and f"{vid}-in{i + 1}")
            else:
                cut.append(label or "")
        if cut:  # inputs left out by max_nodes: one stub shows they exist
            graph.node(name + "cut", label="...", shape="plaintext", fontcolor="#b00000")
            graph.edge(name + "cut", name + "op", label=",".join(cut) or None, style="dashed",
                       color="#b00000")
    return graph


def _gather(root: Value, max_nodes: int | None) -> tuple[set[Value], int]:
    """The Values nearest ``root`` (breadth first, at most ``max_nodes``) and the total."""
    seen, queue, kept = {root}, deque([root]), set[Value]()
    while queue:
        v = queue.popleft()
        if max_nodes is None or len(kept) < max_nodes:
            kept.add(v)
        for p in v._prev:
            if p not in seen:
                seen.add(p)
                queue.append(p)
    return kept, len(seen)


def _position(i: int, n: int) -> str:
    return "ab"[i] if n == 2 else str(i + 1)  # a - b, a ** b; else 1, 2, 3, ...


def _html(text: str) -> str:
    return f"<{html.escape(text)}>"


def _value_label(v: Value, label: str, grad: Any) -> str:
    """An HTML-like table: [label] | data | grad; constants are grey, without grad."""
    cells = []
    if label:
        cells.append(f"<td><b>{html.escape(str(label))}</b></td>")
    if v.requires_grad:
        cells.append(f"<td>data {_number(v.data)}</td>")
        cells.append(f'<td bgcolor="#e3eefc">grad {_number(grad)}</td>')
        color = "#333333"
    else:
        cells.append(f'<td bgcolor="#f0f0f0"><font color="#555555">{_number(v.data)}</font></td>')
        color = "#999999"
    return (f'<<table border="1" cellborder="0" cellspacing="0" cellpadding="4" '
            f'color="{color}"><tr>{"".join(cells)}</tr></table>>')


def _number(x: Any) -> str:
    """A number as a person reads it: 4 decimals in the common range, else scientific."""
    if not isinstance(x, (int, float)):
        shape = getattr(x, "shape", None)
        if shape is not None and getattr(x, "size", 0) <= 3:
            return "[" + ", ".join(_number(float(e)) for e in x.ravel()) + "]"
        if shape is not None:
            return "array " + "x".join(str(n) for n in shape)
        return html.escape(repr(x))
    x = float(x)
    if math.isnan(x) or math.isinf(x):
        return str(x)
    if x == 0.0:
        return "0"
    if 1e-3 <= abs(x) < 1e5:
        text = f"{x:.4f}".rstrip("0").rstrip(".")
        return "0" if text in ("0", "-0") else text
    return f"{x:.4g}"
