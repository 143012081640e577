"""Watch backpropagation happen: ``explore(root, "backprop.html")``.

The page steps through the computation that made ``root``: first the forward pass,
node by node, then the backward pass, one op at a time, with the chain rule written
out in numbers at each step (``a.grad += e.grad × ∂e/∂a = 0.5 × -3 = -1.5``).

Every number on the page comes from Python: the backward pass is replayed here in
micrograd's order (a topological sort, then each node from the output back), calling
each op's own ``backward``, and the page only shows the recorded steps. The replay
keeps its gradients to itself: the graph's ``.grad`` fields are left as they were.

The picture is ``draw_dot``'s; the page is one file with no network access (the SVG
and a small script inlined), and in Jupyter the returned ``Explorer`` shows inline.
"""

from __future__ import annotations

import html
import inspect
import json
import os
import re
import warnings
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from ._files import write_atomically
from .draw import MAX_NODES, GraphTruncatedWarning, _gather, _number, draw_dot
from .engine import Value
from .kernel import BoundOp

FEW = 4  # inputs an op step writes out in full; past this, one line per input
INFIX = {"add": "+", "sub": "-", "mul": "×", "div": "/", "pow": "**"}  # a OP b


def _op_of(v: Value) -> BoundOp | None:
    """The op that made ``v`` (None for a leaf or a micrograd-style closure node)."""
    return v.op


@dataclass
class Step:
    """One step of the page: what it says and the gradients it changes.

    ``grads`` maps a node's name to its gradient after this step (only the nodes this
    step changes); ``final`` names the nodes whose gradient is complete after it.
    """

    phase: str  # "forward" or "backward"
    node: str  # the node this step computes (forward) or backpropagates from
    title: str
    lines: list[str] = field(default_factory=list)
    grads: dict[str, float] = field(default_factory=dict)
    final: list[str] = field(default_factory=list)
    contributions: list[tuple[str, float]] = field(default_factory=list)  # (input, g * dy/dx)
    op: str = ""  # the op this step goes through, with its attributes ("" for none)


@dataclass
class Explorer:
    """The explorer page for one graph: ``.html`` is the page, ``.steps`` what it shows.

    In Jupyter it displays inline (in an iframe, so no frontend strips its script).
    """

    html: str
    steps: list[Step]
    grads: dict[str, float]  # every drawn node's final gradient, by name
    note: str = ""  # set when the graph was cut to max_nodes

    def save(self, path: str | os.PathLike) -> str:
        """Write the page to ``path`` (atomically); return the path."""
        write_atomically(path, self.html.encode("utf-8"))
        return os.fspath(path)

    def _repr_html_(self) -> str:
        page = html.escape(self.html, quote=True)
        return (f'<iframe srcdoc="{page}" sandbox="allow-scripts" title="picograd explorer" '
                'style="width: 100%; height: 760px; border: 1px solid #ccc;"></iframe>')


def explore(root: Value, path: str | os.PathLike | None = None, *,
            max_nodes: int | None = MAX_NODES, title: str | None = None) -> Explorer:
    """Build the step-through page for the graph that made ``root``; write it to ``path``.

    At most ``max_nodes`` Values are drawn and stepped through, the ones nearest the
    root (as ``draw_dot``); the page says when the graph was cut. Returns the
    ``Explorer`` (which Jupyter displays inline).
    """
    if not isinstance(root, Value):
        raise TypeError(f"explore() expects a Value, got {type(root).__name__}")
    if not root.requires_grad:
        raise ValueError("explore() needs a root that requires grad: a constant has no backward")
    if max_nodes is not None and (type(max_nodes) is not int or max_nodes < 1):
        raise ValueError(f"max_nodes must be a positive int or None, not {max_nodes!r}")
    order = _topological(root)
    for v in order:
        if v.data.__class__ is not float:
            raise TypeError("explore() steps through scalar graphs; this one holds "
                            f"{type(v.data).__name__} data (batch mode): explore one sample")
        if v._prev and _op_of(v) is None:
            raise TypeError(f"explore() replays registered ops; the node {v!r} was made "
                            "some other way (a _backward closure)")
    kept, total = _gather(root, max_nodes)
    shown = [v for v in order if v in kept]
    names = _names(shown)
    ids = {v: f"pg{i}" for i, v in enumerate(shown)}  # the SVG ids of the drawn Values

    grads, steps = _record(root, order, shown, names)
    note = ""
    if len(kept) < total:
        note = (f"Showing the {len(kept)} values nearest the output, of {total} in the graph "
                f"(max_nodes={max_nodes}); explore(root, max_nodes=None) shows them all.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GraphTruncatedWarning)  # the page says so
        named = {v: names[v] for v in shown if v.requires_grad}  # unlabelled ones too
        svg = draw_dot(root, format="svg", max_nodes=max_nodes, ids=ids, labels=named,
                       grads=grads).pipe(format="svg", encoding="utf-8")
    svg = svg[svg.index("<svg"):]  # drop the XML prologue: the SVG goes inline

    nodes = [{"id": ids[v], "name": names[v], "kind": _kind(v), "data": _number(v.data)}
             for v in shown]
    title = title or f"{names[root]} = {_number(root.data)}"
    data = {"title": title, "note": note,
            "nodes": nodes, "steps": [_page_step(s, shown, names, ids) for s in steps],
            "inputs": [ids[v] for v in shown if not v._prev and v.requires_grad]}
    parts = {"/*DATA*/null": json.dumps(data).replace("<", "\\u003c"), "<!--SVG-->": svg,
             "<!--TITLE-->": html.escape(title)}  # filled in one pass: no text is read twice
    page = re.sub("|".join(map(re.escape, parts)), lambda m: parts[m.group(0)], _template())
    explorer = Explorer(page, steps, {names[v]: grads[v] for v in shown if v in grads}, note)
    if path is not None:
        explorer.save(path)
    return explorer


def _topological(root: Value) -> list[Value]:
    """Inputs before outputs, as micrograd's build_topo (without recursion)."""
    order, seen, stack = [], {root}, [(root, iter(root._prev))]
    while stack:
        v, parents = stack[-1]
        for p in parents:
            if p not in seen:
                seen.add(p)
                stack.append((p, iter(p._prev)))
                break
        else:
            stack.pop()
            order.append(v)
    return order


def _names(shown: list[Value]) -> dict[Value, str]:
    """Each drawn node's name on the page: its label, else n1, n2, ... (made unique);
    an unlabelled constant is its number."""
    names: dict[Value, str] = {}
    taken = {v.label for v in shown if v.label}
    count = 0
    for v in shown:
        if not v.requires_grad and not v.label:
            names[v] = _number(v.data)
            continue
        name = str(v.label)
        if not name or name in names.values():
            while True:
                count += 1
                name = f"n{count}" if not v.label else f"{v.label}_{count}"
                if name not in taken:
                    break
        names[v] = name
        taken.add(name)
    return names


def _kind(v: Value) -> str:
    if v._prev:
        return "op"
    return "input" if v.requires_grad else "constant"


def _record(root: Value, order: list[Value], shown: list[Value],
            names: dict[Value, str]) -> tuple[dict[Value, float], list[Step]]:
    """Replay forward and backward; return the final gradients and the steps."""
    kept = set(shown)
    steps = [_forward_step(v, names) for v in shown if v._prev or v.requires_grad]
    grads: dict[Value, float] = {v: 0.0 for v in order if v.requires_grad}
    grads[root] = 1.0  # d root / d root
    final: dict[Value, int] = {root: len(steps)}
    r = _ref(names[root])
    step = Step("backward", names[root], f"Backward pass: start at the output {names[root]}",
                [f"{r}.grad = ∂{r}/∂{r} = 1"], grads={names[root]: 1.0})
    steps.append(step)
    hidden = 0
    for v in reversed(order):  # each node after every node that uses it
        op = _op_of(v)
        if op is None:
            continue
        if v in kept:
            step = Step("backward", names[v], "", op=op.label)
            steps.append(step)
        else:
            hidden += 1  # not drawn: its contributions are added, not shown
        received = _backward(v, op, grads, step if v in kept else None, names)
        for p in received:
            if p in kept:
                step.grads[names[p]] = grads[p]
                final[p] = len(steps) - 1
    if hidden:
        steps[-1].lines.append(f"({hidden} ops not drawn, past max_nodes, added their part too)")
    for v, i in final.items():
        if v in kept:
            steps[i].final.append(names[v])
    steps.append(Step("backward", names[root], "Done: every gradient is final", [
        f"{_ref(names[v])}.grad = {_number(grads[v])}" for v in shown
        if not v._prev and v.requires_grad] or ["(no input of the graph needs a gradient)"]))
    return grads, steps


def _forward_step(v: Value, names: dict[Value, str]) -> Step:
    name, data = names[v], _number(v.data)
    if not v._prev:
        what = "an input" if v.requires_grad else "a constant"
        return Step("forward", name, f"Forward: {name} is {what}", [f"{name} = {data}"])
    op = _op_of(v)
    assert op is not None
    ins = [names.get(p, "…") for p in v._prev]
    nums = [_number(p.data) for p in v._prev]
    return Step("forward", name, f"Forward through {op.label}",
                [f"{name} = {_call(op, ins)} = {_call(op, nums)} = {data}"], op=op.label)


def _call(op: BoundOp, args: list[str]) -> str:
    """How the page writes op applied to args: a × b, -a, tanh(n), leaky_relu(x, slope=0.1);
    with many inputs, the first and last few: weighted_sum(b, w1, w2, …, x8)."""
    if len(args) > FEW:
        args = args[:FEW - 1] + [f"… {len(args) - FEW} more …", args[-1]]
    if op.name in INFIX and len(args) == 2:
        return f"{args[0]} {INFIX[op.name]} {args[1]}"
    if op.name == "neg" and len(args) == 1:
        return f"-{args[0]}"
    attrs = [op.label[len(op.name) + 1:-1]] if op.label != op.name else []  # slope=0.1
    return f"{op.name}({', '.join(args + attrs)})"


def _ref(name: str) -> str:
    """A name as formulas write it: x1, or (x1w1+x2w2) when it is not a plain name."""
    return name if name.isidentifier() else f"({name})"


def _backward(v: Value, op: BoundOp, grads: dict[Value, float], step: Step | None,
              names: dict[Value, str]) -> list[Value]:
    """Apply the chain rule through the op that made ``v``, as the engine does: each
    input that needs a gradient gets ``g * dy/dx``. Returns the inputs that got one.

    With a ``step``, write it out: the numbers are the op's own, ``backward(1, y, *xs)``
    for the local derivatives and ``backward(g, y, *xs)`` for what each input receives.
    """
    g, xs, backward = grads[v], [p.data for p in v._prev], op.backward
    assert backward is not None  # a composite op never makes a node: its parts do
    try:
        given = backward(g, v.data, *xs)
    except Exception as e:
        raise RuntimeError(f"explore(): backward of op '{op.label}' from {op.provider} failed "
                           f"at inputs {xs}: {type(e).__name__}: {e}") from e
    if len(given) != len(xs):
        raise ValueError(f"backward of op '{op.name}' ({op.provider}) returned "
                         f"{len(given)} gradient(s) for {len(xs)} input(s)")
    received, start = [], {p: grads[p] for p in v._prev if p.requires_grad}
    for p, c in zip(v._prev, given):
        if p.requires_grad:
            grads[p] = grads[p] + c
            received.append(p)
    if step is None:
        return received
    local = backward(1.0, v.data, *xs)
    y, ins = names[v], [names.get(p, "…") for p in v._prev]
    params, texts = _parameters(op, len(xs)), _derivatives(op, len(xs))
    step.title = f"Backward through {op.label}: {y} = {_call(op, ins)}"
    step.lines.append(f"{y} = {_call(op, ins)} = {_number(v.data)},   "
                      f"{_ref(y)}.grad = {_number(g)}")
    compact = len(xs) > FEW  # many inputs (a neuron as one node): one line each
    if compact and any(texts):
        step.lines.append(f"∂{_ref(y)}/∂(each input) = {texts[0]}" if len(set(texts)) == 1 else
                          "∂y/∂(input) = " + "; ".join(f"{a}: {t}" for a, t in zip(params, texts)))
    elif any(texts) and any(a != n for a, n in zip(params + ["y"], ins + [y])):
        where = ", ".join(f"{a} = {n}" for a, n in zip(params, ins))
        step.lines.append(f"in {op.name}'s own names: {where}, y = {y}")
    running = dict(start)  # each input's gradient so far, as the contributions add up
    reused = len(set(v._prev)) < len(v._prev)
    for i, p in enumerate(v._prev):
        x = _ref(ins[i])
        d = f"∂{_ref(y)}/∂{x}" + (f" [as {params[i]}]" if reused else "")
        if not p.requires_grad:
            step.lines.append(f"{ins[i]} is a constant: it gets no gradient")
            continue
        number = _number(local[i])
        rule = f" = {texts[i]}" if texts[i] and texts[i] != number else ""
        if not compact:
            step.lines.append(f"{d}{rule} = {number}")
        running[p] = running[p] + given[i]
        step.lines.append(f"{x}.grad += {_ref(y)}.grad × {d.split(' [')[0]} = {_number(g)} × "
                          f"{number} = {_number(given[i])}   → {x}.grad = {_number(running[p])}")
        step.contributions.append((ins[i], given[i]))
    return received


def _parameters(op: BoundOp, n: int) -> list[str]:
    """The names op's backward gives its inputs (after g and y), e.g. a, b or x."""
    try:
        ps = list(inspect.signature(op.backward).parameters.values())[2:]  # type: ignore[arg-type]
    except (TypeError, ValueError):
        ps = []
    fixed = [p.name for p in ps if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    many = next((p.name for p in ps if p.kind is p.VAR_POSITIONAL), None)
    if len(fixed) >= n:
        return fixed[:n]
    if many is not None:
        return fixed + [f"{many}{i + 1}" for i in range(n - len(fixed))]
    return ["x"] if n == 1 else [f"x{i + 1}" for i in range(n)]


def _derivatives(op: BoundOp, n: int) -> list[str]:
    d = op.op.derivative
    if isinstance(d, tuple) and len(d) == n:
        return [str(t) for t in d]
    return [d if isinstance(d, str) else ""] * n  # one text for every input


def _page_step(s: Step, shown: list[Value], names: dict[Value, str],
               ids: dict[Value, str]) -> dict[str, Any]:
    """A step as the page's script reads it: node ids, and numbers as text."""
    by_name = {names[v]: v for v in shown if v.requires_grad}
    v = by_name[s.node]
    return {"phase": s.phase, "title": s.title, "lines": s.lines, "node": ids[v],
            "op": bool(s.op),
            "inputs": [ids[p] for p in v._prev if p in ids], "nin": len(v._prev),
            "grads": {ids[by_name[k]]: _number(g) for k, g in s.grads.items()},
            "final": [ids[by_name[k]] for k in s.final]}


def _template() -> str:
    return (resources.files("picograd") / "templates" / "explore.html.tmpl").read_text("utf-8")
