"""The backward engine: ``Value.backward()`` after its checks (picograd/engine.py).

It orders the nodes below the root, each before its inputs (a breadth-first gather,
then one sort by creation number), and runs each node's step once: a registered op's
backward, or a micrograd-style node's own ``_backward`` closure. All or nothing: if a
step raises (or Ctrl-C stops it), every ``.grad`` it reached is put back as it was.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .data import more_of
from .errors import OpError, add_note, op_note

if TYPE_CHECKING:
    from .engine import Value
    from .kernel import BoundOp


def run(root: Value, seed: Any) -> None:
    """Backpropagate ``seed`` from ``root`` (an op node) into every node below it."""
    topo, leaves = _topological_order(root)
    reached = topo + leaves  # (topo newest first: passes in that order are faster)
    before = [v._grad for v in reached]  # restored if anything fails
    finite = None  # whether every number in the graph is a finite float (once needed)
    v = root
    try:
        for v in topo:
            v._grad = 0.0  # an inner node's gradient is this call's alone
        root.grad = seed
        for v in topo:  # the chain rule, one node at a time, outputs first
            op = v.op
            if op is None:  # a micrograd-style node: its own closure, if it was given one
                more_of(v, "backward", _nothing)()
                continue
            g = v._grad
            if g.__class__ is float and (g == 0.0 or op.relu_output and v._data == 0.0
                                         and _isfinite(g)) and op.skips_zero:
                if finite is None:  # one sum over the graph, not one per node
                    finite = _finite_floats(list(map(_data, reached)))
                if finite or _finite_floats([v._data, *map(_data, v._prev)]):
                    continue  # zero skipping: this node would add +-0 to every input
            if op.arity != 2:
                _chain_rule(v)
                continue
            # A binary op (most nodes): _chain_rule's steps written out here, as
            # this is the engine's hottest code (bench_engine.py). Its two inputs
            # are its two slots (see _prev): read here without a call, a tenth of
            # a tree's backward.
            a: Value = v._a  # type: ignore[assignment]  # (never None: an op node)
            b: Value = v._b
            grads = op.backward(g, v._data, a._data, b._data)  # type: ignore[misc]
            if grads.__class__ is not tuple or len(grads) != 2:
                raise _count_error(op, 2, grads)
            if a.requires_grad:  # (never +=: an array .grad is kept to restore)
                a._grad = a._grad + grads[0]
            if b.requires_grad:
                b._grad = b._grad + grads[1]
    except BaseException as e:
        for node, g in zip(reached, before):
            node._grad = g
        if isinstance(e, Exception) and v.op is not None:
            add_note(e, op_note(v.op.name, v.op.provider,
                                f"{v.op.label}({_short(v)}) backward failed"))
        elif isinstance(e, Exception):  # a micrograd-style node's own closure failed
            add_note(e, f"in the _backward closure of the node {v!r} (_op {v._op!r})")
        raise


def _nothing() -> None:
    pass


def _chain_rule(v: Value) -> None:
    """One node's step: each input gets v.grad * d(v)/d(input), added to its .grad."""
    op: BoundOp = v.op  # type: ignore[assignment]  # (an op node: not None)
    inputs = v._prev
    xs = [p._data for p in inputs]
    if op.needs_input_grad:  # it may skip the gradients of constants (Op.needs_input_grad)
        needs = tuple([p.requires_grad for p in inputs])
        grads = op.backward(v._grad, v._data, *xs, needs_input_grad=needs)  # type: ignore
    else:
        grads = op.backward(v._grad, v._data, *xs)  # type: ignore[misc]
    if grads.__class__ is not tuple or len(grads) != len(inputs):
        raise _count_error(op, len(inputs), grads)
    if op.arrays:  # batch mode
        return _add_array_gradients()(inputs, grads, v._grad)
    for p, gp in zip(inputs, grads):
        if p.requires_grad:
            p._grad = p._grad + gp


_array_step: Callable[..., None] | None = None


def _add_array_gradients() -> Callable[..., None]:
    """picograd.batch.add_gradients, imported once: an import statement per array node
    cost 5% of the demo's batch step at 1,000 rows (bench_batch.py --sweep)."""
    global _array_step
    if _array_step is None:
        from .batch import add_gradients
        _array_step = add_gradients
    return _array_step


def _finite_floats(numbers: list[Any]) -> bool:
    """Whether every number is a finite float, as zero skipping needs (see
    kernel.ZERO_SKIPPING). (A sum of finite floats that overflows says no: never wrong.)"""
    return all(map(_is_float, numbers)) and _isfinite(sum(numbers, 0.0))


def _count_error(op: BoundOp, n: int, grads: Any) -> OpError:
    got = f"{len(grads)} gradient(s)" if isinstance(grads, tuple) else type(grads).__name__
    return OpError(f"backward of op '{op.name}' ({op.provider}) must return a tuple of {n} "
                   f"gradient(s), got {got}", op.name, op.provider)


def _topological_order(root: Value) -> tuple[list[Value], list[Value]]:
    """The nodes made from inputs that lead to ``root``, each before all of its inputs;
    and the leaves they reach.

    The slots ``_a`` and ``_b`` are read as ``_prev`` reads them, without its call:
    on micrograd's graph of the demo (64,000 nodes) that is a sixth of backward.
    """
    topo: list[Value] = [root]
    leaves: list[Value] = []
    if root._a is None:  # a leaf: nothing below it
        return topo, leaves
    seen = {root}
    for v in topo:  # the list grows as we walk it: a breadth-first gather
        a: Value = v._a  # type: ignore[assignment]  # (a node of topo: never None)
        b = v._b  # a Value, a tuple of the rest, or None
        if a not in seen:
            seen.add(a)
            (leaves if a._a is None else topo).append(a)
        if b is None:
            continue
        if b.__class__ is not tuple:
            if b not in seen:
                seen.add(b)
                (leaves if b._a is None else topo).append(b)
            continue
        for p in b:
            if p not in seen:
                seen.add(p)
                (leaves if p._a is None else topo).append(p)
    # Every node is numbered after its inputs, so sorting by number, largest first,
    # puts each node before all of its inputs.
    topo.sort(key=_by_id, reverse=True)
    return topo, leaves


_by_id, _data = operator.attrgetter("_id"), operator.attrgetter("_data")
_isfinite, _is_float = math.isfinite, float.__instancecheck__


def _short(v: Value) -> str:
    return ", ".join(f"array{p.shape}" if p.shape else repr(p._data) for p in v._prev)
