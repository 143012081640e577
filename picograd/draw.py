"""Drawing the computation graph with Graphviz: ``draw_dot(root)``, ``picograd graph``.

Every Value is a box (its label, data and grad) and every op that made one is an oval
named by its registered op name, attributes included (``leaky_relu(slope=0.1)``).
Edges follow the data: inputs -> op -> output. Where input order matters (``sub``,
``div``, ``pow``, any op but ``add`` and ``mul``) the edges are labelled in argument
order: a and b for two inputs, as in ``a - b``, else 1, 2, 3, ... Constants (plain
numbers lifted into the graph) are grey boxes without a gradient.

The ``graphviz`` package is imported only when a graph is drawn, and rendering runs
Graphviz's own ``dot`` program.
"""

from __future__ import annotations

import html
import math
import os
import sys
import warnings
from collections import deque
from collections.abc import Mapping
from typing import Any

from ._files import write_atomically
from .engine import Value

MAX_NODES = 200  # Values drawn by default; past this a graph is unreadable anyway
COMMUTATIVE = frozenset({"add", "mul"})  # input order does not matter: no edge labels
INSTALL_HINT = (
    "install Graphviz: `apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz`"
    " (macOS), or see https://graphviz.org/download/"
)


class DotNotFoundError(RuntimeError):
    """Graphviz's ``dot`` program is not on PATH, so the graph cannot be rendered."""

    def __init__(self, message: str) -> None:
        RuntimeError.__init__(self, message)


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

    kept, total = _gather(root, max_nodes)
    graph = _graph_class()(format=format, graph_attr={
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
        if v._op is None:
            continue
        op = v._op
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
    seen, queue, kept = {root}, deque([root]), set()
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


_GRAPH_CLASS = None


def _graph_class() -> type:
    """graphviz.Digraph, whose rendering says how to install ``dot`` when it is missing."""
    global _GRAPH_CLASS
    if _GRAPH_CLASS is not None:
        return _GRAPH_CLASS
    import graphviz

    class MissingDot(DotNotFoundError, graphviz.ExecutableNotFound):
        pass  # catchable as either

    def explained(method_name: str):
        method = getattr(graphviz.Digraph, method_name)

        def wrapper(self, *args, **kwargs):
            try:
                return method(self, *args, **kwargs)
            except graphviz.ExecutableNotFound as e:
                if isinstance(e, DotNotFoundError):
                    raise
                raise MissingDot(
                    f"cannot render the graph: Graphviz's `dot` program is not on PATH; "
                    f"{INSTALL_HINT}. The DOT source is still available as `.source` "
                    "(or save it with `.save('graph.gv')`)."
                ) from e

        wrapper.__name__ = method_name
        wrapper.__doc__ = method.__doc__
        return wrapper

    _GRAPH_CLASS = type("Digraph", (graphviz.Digraph,), {
        "__module__": __name__,
        **{m: explained(m) for m in ("pipe", "render", "view", "unflatten")},
    })
    return _GRAPH_CLASS


def write_neuron_graph(model: Any, x: Any, path: str | os.PathLike) -> str:
    """Draw one neuron on the inputs ``x`` at ``path`` (PNG, or SVG/PDF by suffix).

    ``model`` is a ``picograd.nn.Neuron``, or an MLP: then the first neuron of its first
    layer whose gradients are not all zero on ``x`` (a live relu) is drawn. The neuron
    runs unfused (a node per multiply and add) on copies of its weights labelled w1,
    w2, ..., b, with the inputs as constants x1, x2, ...; the model is untouched.
    Returns the path written: without ``dot``, the DOT source's (``.gv``), with a note
    on stderr.
    """
    neurons = model.layers[0].neurons if hasattr(model, "layers") else [model]
    first = None
    for neuron in neurons:
        out, live = _neuron_on(neuron, x)
        first = out if first is None else first
        if live:
            break
    else:
        out = first  # every neuron is flat on x: draw the first
    suffix = os.path.splitext(path)[1].lstrip(".").lower()
    graph = draw_dot(out, format=suffix if suffix in FORMATS else "png")
    try:
        write_atomically(path, graph.pipe())
        return str(path)
    except DotNotFoundError as e:
        source = os.path.splitext(path)[0] + ".gv"
        write_atomically(source, graph.source.encode())
        print(f"picograd: {e}", file=sys.stderr)
        return source


def _neuron_on(neuron: Any, x: Any) -> tuple[Value, bool]:
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


# ---------------------------------------------------------------------------------------
# picograd graph "EXPR" x=... y=...
# ---------------------------------------------------------------------------------------

FORMATS = ("png", "svg", "pdf")

GRAPH_HELP = """\
Evaluate EXPR on the given inputs, backpropagate, print the result and the gradient of
each input, and draw the computation graph.

EXPR may use numbers, input names, + - * / ** and unary -, and calls of registered ops
(built-in or plugin), with attributes as keywords: tanh(x), leaky_relu(x, slope=0.1).
Nothing else is allowed and nothing is ever eval'ed. Give each input as NAME=VALUE.

examples:
  picograd graph "tanh(x*w + b)" x=2 w=-0.5 b=0.8
  picograd graph "(a - b) ** 2 / b" a=3 b=1.5 --out sq.svg
  picograd graph "tanh(x*w + b)" x=2 w=-0.5 b=0.8 --html backprop.html   (step by step)
  picograd graph -- "-x * y" x=1 y=2        (-- before an EXPR starting with -)

exit status: 0 ok, 2 bad expression or inputs, 1 rendering failed (no `dot`: the DOT
source is written next to --out instead)."""


def add_commands(subparsers: Any) -> None:
    """Add ``picograd graph``."""
    import argparse

    p = subparsers.add_parser(
        "graph", help="draw the computation graph of an expression",
        description=GRAPH_HELP, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("expression", metavar="EXPR", help="the expression, e.g. 'x*y + tanh(x)'")
    p.add_argument("inputs", nargs="*", metavar="NAME=VALUE", help="an input and its value")
    p.add_argument("-o", "--out", metavar="PATH",
                   help="where to write the picture (default: graph.FORMAT)")
    p.add_argument("-f", "--format", choices=FORMATS,
                   help="picture format (default: from --out's suffix, else png)")
    p.add_argument("--rankdir", choices=("LR", "TB"), default="LR",
                   help="layout direction: left to right (default) or top to bottom")
    p.add_argument("--max-nodes", type=int, default=MAX_NODES, metavar="N",
                   help=f"draw at most N values (default {MAX_NODES}; 0 draws all)")
    p.add_argument("--html", metavar="PATH",
                   help="write the step-by-step backprop explorer page (picograd.explore) to "
                        "PATH, instead of a picture unless --out is given too")
    p.set_defaults(func=run_graph)


def run_graph(args: Any) -> int:
    """``picograd graph``: parse, forward, backward, print, draw."""
    from . import expr

    def fail(message: str, code: int) -> int:
        print(f"picograd graph: error: {message}", file=sys.stderr)
        return code

    fmt, path = args.format, args.out
    if path is not None:
        suffix = os.path.splitext(path)[1].lstrip(".").lower()
        if fmt is None and suffix not in FORMATS:
            return fail(f"cannot tell the format from --out {path!r}: pass --format "
                        f"({', '.join(FORMATS)})", 2)
        if fmt is not None and suffix in FORMATS and suffix != fmt:
            return fail(f"--out {path!r} does not match --format {fmt}", 2)
        fmt = fmt or suffix
    fmt = fmt or "png"
    path = path or f"graph.{fmt}"
    if args.max_nodes < 0:
        return fail("--max-nodes must be >= 0 (0 draws every value)", 2)

    try:
        inputs = expr.parse_assignments(args.inputs)
        out, leaves = expr.evaluate(args.expression, inputs)
        if out.requires_grad:
            out.backward()
    except expr.ExprError as e:
        return fail(str(e), 2)
    except Exception as e:  # an op failed on these numbers: the engine's message says how
        return fail(f"{type(e).__name__}: {e}", 2)

    print(f"{expr.OUTPUT_LABEL} = {out.data:.10g}")
    for name, leaf in leaves.items():
        print(f"d{expr.OUTPUT_LABEL}/d{name} = {leaf.grad:.10g}")

    if args.html is not None:
        from .explore import explore

        if not out.requires_grad:
            return fail("the expression is a constant: there is no backward pass to show", 2)
        try:
            explore(out, args.html, max_nodes=args.max_nodes or None)
        except DotNotFoundError as e:
            return fail(str(e), 1)
        except OSError as e:
            return fail(f"cannot write {args.html}: {e.strerror or e}", 2)
        print(f"wrote {args.html}")
        if args.out is None:
            return 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GraphTruncatedWarning)  # the picture says so
        graph = draw_dot(out, format=fmt, rankdir=args.rankdir,
                         max_nodes=args.max_nodes or None)
    try:
        try:
            picture = graph.pipe(format=fmt)
        except DotNotFoundError as e:
            source = os.path.splitext(path)[0] + ".gv"
            write_atomically(source, graph.source.encode())
            return fail(f"{e}\nwrote the DOT source to {source}", 1)
        write_atomically(path, picture)
    except OSError as e:
        return fail(f"cannot write {path}: {e.strerror or e}", 2)
    print(f"wrote {path}")
    return 0

