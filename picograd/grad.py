"""Gradients of gradients: ``picograd.grad`` and ``backward(create_graph=True)``.

``Value.backward()`` runs each op's backward on numbers. With ``create_graph`` the
same walk runs each op's backward on Values, so the gradients come out as Values
made of ordinary op nodes, which can be differentiated again, to any order:

    (dy_dx,) = grad(y, x, create_graph=True)    # a Value: dy/dx as a function of x
    (d2y,) = grad(dy_dx, x)                      # a number: d2y/dx2

At each node the op's ``grad_backward`` (``Op.grad_backward``) gets g = d(output)/d(node),
y = the node itself and xs = its inputs, all Values. Passing the node itself as y
means a backward that reuses its output (exp's g * y) is differentiated through it.
While it runs, ``float()`` of a Value raises: a float would drop the graph and make
the next derivative silently wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import ops
from .apply import constant
from .backward import _count_error, _short, _topological_order
from .data import as_data, more_of, ones_like
from .engine import Value, _differentiating
from .errors import OpError, add_note, op_note
from .kernel import BoundOp
from .params import LayerParameters

HOW = "see docs/higher-order.md"


class NoGradBackward(OpError):
    """A second derivative needs an op that has no differentiable backward."""


def grad(output: Value, inputs: Value | Sequence[Value],
         create_graph: bool = False) -> tuple[Any, ...]:
    """d(output)/d(input) for each of ``inputs``, returned (no ``.grad`` changes).

    Numbers (arrays in batch mode) by default; with ``create_graph=True``, Values
    with a graph of their own, to differentiate again. As in ``backward()``, a batch
    output counts as the sum of its entries. An input the output does not depend on
    gets 0.
    """
    if not isinstance(output, Value):
        raise TypeError(f"grad() differentiates a Value, got {type(output).__name__}")
    xs = (inputs,) if isinstance(inputs, Value) else tuple(inputs)
    for x in xs:
        if not isinstance(x, Value):
            raise TypeError(f"grad() differentiates with respect to Values, got "
                            f"{type(x).__name__} {x!r}")
    if create_graph:
        grads = gradients(output)
        for x in xs:
            if _in_arrays(x, grads):
                raise ValueError(
                    f"grad(..., create_graph=True) with respect to {x!r}: the graph reaches "
                    f"this layer's parameters (also) through its other side, the scalars or "
                    f"the arrays layer.W and layer.b; differentiate with respect to the side "
                    f"the graph uses, and build it from one side only ({HOW})")
        return tuple(grads[x] if x in grads else constant(_zeros(x)) for x in xs)
    return _number_gradients(output, xs)


def backward_with_graph(root: Value, seed: Any = None) -> None:
    """``root.backward(create_graph=True)``: every .grad a Value with a graph.

    Leaves add their gradient to what their .grad held (PyTorch's semantics); inner
    nodes get this call's. All or nothing: nothing changes until every step succeeded.
    """
    grads = gradients(root, seed)
    updates = []
    for v, g in grads.items():
        old = v._grad
        keep = v._a is None and not (old.__class__ is float and old == 0.0)
        updates.append((v, old + g if keep else g))  # a leaf accumulates
    for v, g in updates:
        v._grad = g


def gradients(root: Value, seed: Any = None) -> dict[Value, Value]:
    """d(root)/d(node), as a Value, for root and every node that needs a gradient on
    the way to it (the inputs of op nodes, in the graph below root)."""
    g0 = seed if isinstance(seed, Value) else constant(
        as_data(ones_like(root._data) if seed is None else seed, "the seed gradient"))
    grads = {root: g0}
    if root._a is None:
        return grads
    topo, _ = _topological_order(root)
    for v in topo:  # outputs first, as in backward(): a node's g is complete here
        g = grads.get(v)
        if g is None:
            continue
        if v.op is None:  # micrograd-style: its _backward closure works on floats only
            if more_of(v, "backward") is not None:
                raise TypeError(f"create_graph: the node {v!r} was made micrograd-style, "
                                f"with a _backward closure on floats, which cannot be "
                                f"differentiated again; build it from picograd ops ({HOW})")
            continue
        for p, gp in zip(v._prev, _step(v, g)):
            if gp is not None:
                old = grads.get(p)
                grads[p] = gp if old is None else old + gp
    return grads


def _step(v: Value, g: Value) -> list[Value | None]:
    """One node's chain rule on Values: each input's gradient (None for a constant)."""
    op: BoundOp = v.op  # type: ignore[assignment]
    backward = op.grad_backward
    if backward is None:
        raise NoGradBackward(f"op '{op.name}' from {op.provider} has no differentiable "
                             f"backward, so no second derivative (create_graph=True): its "
                             f"Op row needs grad_backward ({HOW})", op.name, op.provider)
    inputs = v._prev
    token = _differentiating.set(op)
    try:
        grads = backward(g, v, *inputs)
    except Exception as e:
        add_note(e, op_note(op.name, op.provider,
                            f"{op.label}({_short(v)}) differentiable backward failed"))
        raise
    finally:
        _differentiating.reset(token)
    if grads.__class__ is not tuple or len(grads) != len(inputs):
        raise _count_error(op, len(inputs), grads)
    return [_as_gradient(gp, p, op) if p.requires_grad else None
            for gp, p in zip(grads, inputs)]


def _as_gradient(gp: Any, p: Value, op: BoundOp) -> Value:
    """A gradient from a differentiable backward as a Value of its input's shape."""
    if not isinstance(gp, Value):  # a number: a gradient that does not depend on anything
        try:
            gp = constant(as_data(gp))
        except (TypeError, OverflowError):
            raise OpError(
                f"the differentiable backward of op '{op.name}' ({op.provider}) returned "
                f"{type(gp).__name__} {gp!r:.80}, not a Value or a number; a numpy function "
                f"given Values makes an array of objects: use picograd.ops ({HOW})",
                op.name, op.provider) from None
    have, want = gp.shape, p.shape
    if have == want:
        return gp
    if not want:  # a number the whole batch used: the sum of the batch's gradients
        return ops.sum(gp)
    if not have:  # one gradient for every entry
        import numpy as np

        return gp + np.zeros(want)
    raise OpError(f"create_graph: op '{op.name}' ({op.provider}) gave a gradient of shape "
                  f"{have} for an input of shape {want}; summing a broadcast batch back "
                  f"is only done onto a number", op.name, op.provider)


def float_error(v: Value) -> OpError:
    """What ``float(v)`` raises while an op's backward runs on Values."""
    op = _differentiating.get()
    name, provider = (op.name, op.provider) if op is not None else ("?", "?")
    return OpError(f"float() of a Value in the backward of op '{name}' ({provider}), run on "
                   f"Values for a second derivative: a float drops the graph, so the result "
                   f"would be wrong. math.* functions do this; write that backward with "
                   f"picograd.ops (ops.cos(x), not math.cos(x)) and name it in the op's "
                   f"grad_backward ({HOW})", name, provider)


def _number_gradients(output: Value, xs: tuple[Value, ...]) -> tuple[Any, ...]:
    # The engine's own backward, with every .grad it touches put back afterwards.
    if not output.requires_grad:
        return tuple(_zeros(x) for x in xs)
    topo, leaves = _topological_order(output)
    reached = [*topo, *leaves]
    before = [v._grad for v in reached]
    try:
        for v in leaves:
            v._grad = 0.0
        output.backward()
        seen = set(reached)
        return tuple(x._grad if x in seen or _in_arrays(x, seen) else _zeros(x) for x in xs)
    finally:
        for v, g in zip(reached, before):
            v._grad = g


def _in_arrays(x: Value, graph: Any) -> bool:
    """Whether x is a layer's parameter whose other side is in ``graph``: a scalar whose
    layer ran on a batch as W and b, or W or b of a layer whose scalars the graph used.
    Its gradient then comes (partly) from the other side (picograd/params.py)."""
    owner = more_of(x, "owner")
    if not isinstance(owner, LayerParameters) or owner.W is None:
        return False
    if x is owner.W or x is owner.b:
        return any(p in graph for p in owner.scalars())
    return owner.W in graph or owner.b in graph


def _zeros(x: Value) -> Any:
    if not x.shape:
        return 0.0
    import numpy as np

    return np.zeros(x.shape)
