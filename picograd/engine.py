"""The Value graph and the backward engine.

A Value holds a number (a float, or a numpy array in batch mode) and its gradient;
when an op made it, also that op (``v.op``) and the Values it was made from
(``v._prev``). The engine holds no math of its own: every operator below calls the
op of that name in ``picograd.ops``, the table the registry fills from plugins
(``picograd_ops`` first):

    x * 3          ->  ops.mul(x, 3)  ->  a new Value, made by the registered 'mul'
    y.backward()   ->  each node, outputs first: its inputs' .grad += its op's backward

micrograd's way of making a node works too: ``Value(t, (x,), 'tanh')`` with an
``out._backward`` closure (see ``backward``).
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from . import ops
from .data import as_data, more_of, ones_like, set_more
from .errors import OpError, add_note, op_note

if TYPE_CHECKING:
    from typing import TypeAlias

    import numpy as np

    from .kernel import BoundOp

    Operand: TypeAlias = "Value | float | int | np.ndarray"  # what an operator takes

_next_id = itertools.count().__next__  # every Value gets a number larger than its inputs'
_recording = ContextVar("picograd_recording", default=True)  # per thread and task
_is_recording = _recording.get
# The op whose backward is running on Values (picograd.grad): float() of a Value then
# would drop the graph and make a second derivative silently wrong, so it raises.
_differentiating: ContextVar[BoundOp | None] = ContextVar("picograd_differentiating",
                                                          default=None)


@contextmanager
def no_grad() -> Iterator[None]:
    """Compute values without recording the graph (evaluation, plots)."""
    token = _recording.set(False)
    try:
        yield
    finally:
        _recording.reset(token)


class Value:
    """A node in the computation graph: a number, its gradient and how it was made."""

    # op: the op that made this node (None for a leaf). _a, _b: its inputs, read as
    # ``_prev`` (see there). _more: what few nodes have, set only when used (a dict:
    # picograd/data.py). Eight slots make a Value 96 bytes (bench_memory.py); each more, 8.
    __slots__ = ("_data", "_grad", "requires_grad", "op", "_a", "_b", "_id", "_more")
    _more: dict[str, Any]  # (declared for type checkers)

    def __init__(self, data: Any, _children: Iterable[Value] = (), _op: str = "",
                 label: str = "", *, requires_grad: bool = True) -> None:
        self._data = data if data.__class__ is float else as_data(data)
        self._grad: Any = 0.0
        self.requires_grad = bool(requires_grad)
        self.op: BoundOp | None = None  # the op that made this node (None for a leaf)
        self._a, self._b = _slots_for(_children_of(_children))
        self._id = _next_id()
        if _op:
            set_more(self, "op_text", str(_op))
        if label:
            set_more(self, "label", str(label))

    # ---- the operators: each is the registered op of that name ------------------------
    def __add__(self, other: Operand) -> Value:      return ops.add(self, other)
    def __radd__(self, other: Operand) -> Value:     return ops.add(other, self)   # other + self
    def __sub__(self, other: Operand) -> Value:      return ops.sub(self, other)
    def __rsub__(self, other: Operand) -> Value:     return ops.sub(other, self)   # other - self
    def __mul__(self, other: Operand) -> Value:      return ops.mul(self, other)
    def __rmul__(self, other: Operand) -> Value:     return ops.mul(other, self)   # other * self
    def __truediv__(self, other: Operand) -> Value:  return ops.div(self, other)
    def __rtruediv__(self, other: Operand) -> Value: return ops.div(other, self)   # other / self
    def __pow__(self, other: Operand) -> Value:      return ops.pow(self, other)
    def __rpow__(self, other: Operand) -> Value:     return ops.pow(other, self)   # other ** self
    def __neg__(self) -> Value:                      return ops.neg(self)          # -self
    def __abs__(self) -> Value:                      return ops.abs(self)          # abs(self)

    # ---- the built-in named ops (picograd_ops); plugin ops join them, see __getattr__ --
    def relu(self) -> Value:    return ops.relu(self)     # max(x, 0)
    def tanh(self) -> Value:    return ops.tanh(self)
    def sigmoid(self) -> Value: return ops.sigmoid(self)  # 1 / (1 + e^-x)
    def exp(self) -> Value:     return ops.exp(self)
    def log(self) -> Value:     return ops.log(self)      # natural logarithm
    def sqrt(self) -> Value:    return ops.sqrt(self)
    def abs(self) -> Value:     return ops.abs(self)
    def sum(self) -> Value:     return ops.sum(self)      # of a batch's entries
    def mean(self) -> Value:    return ops.mean(self)     # of a batch's entries

    # Every other registered op (plugin ops, weighted_sum, the losses, ...) is a method
    # too: building the op table sets ``Value.gelu`` to ``ops.gelu``, so x.gelu(...) is
    # ops.gelu(x, ...). See install_methods in picograd/apply.py.

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *ops.__dir__()})

    __array_priority__ = 1000  # ndarray * Value: numpy defers to Value.__rmul__

    # ---- the number and its gradient ----------------------------------------------------
    @property
    def data(self) -> Any:
        """The number: a float, or a numpy array of floats in batch mode."""
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        self._data = value if value.__class__ is float else as_data(value, "data")

    @property
    def grad(self) -> Any:
        """d(output)/d(self) after ``backward()``; ``None`` may be assigned, meaning 0."""
        return self._grad

    @grad.setter
    def grad(self, value: Any) -> None:
        if value is None:
            value = 0.0
        elif value.__class__ is not float and not isinstance(value, Value):
            value = as_data(value, "grad")
        self._grad = value

    @property
    def label(self) -> str:
        """An optional name, shown by ``draw_dot``."""
        return more_of(self, "label", "")

    @label.setter
    def label(self, text: str) -> None:
        set_more(self, "label", str(text))

    @property
    def shape(self) -> tuple[int, ...]:
        """The batch's shape, ``()`` for a single number."""
        data: Any = self._data
        return () if data.__class__ is float else tuple(data.shape)

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a scalar Value: only a batch (an array) has a length")
        return self.shape[0]

    def __bool__(self) -> bool:  # the number's truth, as in PyTorch (not len(), above)
        return bool(self._data)  # a batch: numpy's rule (ambiguous unless it holds one)

    def item(self) -> float:
        """The number as a Python float (a scalar Value only), as in PyTorch."""
        if self.shape:
            raise TypeError(f"item() and float() need a scalar Value; this one holds a batch "
                            f"of shape {self.shape} (use .data for the array)")
        if _differentiating.get() is not None:
            from .grad import float_error
            raise float_error(self)
        return float(self._data)

    def __float__(self) -> float:
        return self.item()

    def __format__(self, spec: str) -> str:  # f"{loss:.4f}" formats the number
        return format(self.item(), spec) if spec else str(self)

    def detach(self) -> Value:
        """A constant with the same data: no graph, no gradient."""
        return Value(self._data, requires_grad=False)

    # Comparisons compare the numbers (so max(), sorted() and `if loss > 0` work); on a
    # batch they are numpy's, entry by entry. == stays identity: Values key dicts and sets.
    def __lt__(self, other: Operand) -> Any: return self._data < _number(other)
    def __le__(self, other: Operand) -> Any: return self._data <= _number(other)
    def __gt__(self, other: Operand) -> Any: return self._data > _number(other)
    def __ge__(self, other: Operand) -> Any: return self._data >= _number(other)
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        if self.shape:
            grad = f"array of shape {self.shape}" if getattr(self._grad, "shape", ()) else \
                self._grad
            return f"Value(data=array of shape {self.shape}, grad={grad})"
        return f"Value(data={self._data}, grad={self._grad})"

    # ---- micrograd's view of a node -------------------------------------------------------
    @property
    def _prev(self) -> tuple[Value, ...]:
        """The Values this node was made from, in order; () for a leaf (micrograd's name).

        Most ops take one or two inputs, so they sit in two slots rather than in a
        tuple per node, which would double the work of Python's garbage collector
        (bench_engine.py): _a is the first input (None for a leaf) and _b the second,
        or a tuple of the rest when there are more, or None when there is one.
        """
        a, b = self._a, self._b
        if a is None:
            return ()
        if b is None:
            return (a,)
        return (a, *b) if b.__class__ is tuple else (a, b)

    @property
    def _op(self) -> str:
        """micrograd's name for the op that made this node: '+', '*', '**2', 'ReLU', the
        op's name for the others, '' for a leaf. (The op itself is ``self.op``.)"""
        if self.op is None:
            return more_of(self, "op_text", "")
        name = self.op.name
        if name == "pow" and not self._prev[1].requires_grad:
            return f"**{self._prev[1]._data:g}"  # micrograd: x**2 is the node '**2'
        return _MICROGRAD_SYMBOLS.get(name, name)

    @property
    def _backward(self) -> Callable[[], None]:
        """micrograd's step at this node: add its share of the gradient into its inputs'
        ``.grad`` (the chain rule, once). A leaf's does nothing."""
        fn = more_of(self, "backward")
        if fn is not None:
            return fn
        return _nothing if self.op is None else functools.partial(_chain_rule, self)

    @_backward.setter
    def _backward(self, fn: Callable[[], None]) -> None:
        if self.op is not None:  # backward() runs the op's rule: never ignore fn silently
            raise AttributeError(
                f"this node was made by the registered op '{self.op.name}', and backward() "
                f"runs that op's backward; give a _backward closure to a node you make with "
                f"Value(data, (inputs...), 'name'), or register an op (picograd.register_op)")
        set_more(self, "backward", fn)

    # ---- backpropagation ------------------------------------------------------------------
    def backward(self, grad: Any = None, create_graph: bool = False) -> None:
        """Backpropagate from this Value: add d(self)/d(leaf) into every leaf's .grad.

        Each node's step runs once, after every node that uses it: a registered op's
        backward, or a micrograd-style node's own ``_backward`` closure. All or
        nothing: if any step raises (or Ctrl-C stops it), every .grad is left as it was.
        ``create_graph=True`` makes each .grad a Value with a graph of its own, to be
        differentiated again (see ``picograd.grad``).
        """
        if not self.requires_grad:
            raise RuntimeError("backward() on a constant: it does not require grad")
        if create_graph:
            from .grad import backward_with_graph
            return backward_with_graph(self, grad)
        seed = ones_like(self._data) if grad is None else grad
        if self._a is None:  # a leaf: d(self)/d(self) = 1, and nothing else to do
            self.grad = seed
            return
        topo, leaves = _topological_order(self)
        reached = topo + leaves  # (topo newest first: passes in that order are faster)
        before = [v._grad for v in reached]  # restored if anything fails
        finite = None  # whether every number in the graph is a finite float (once needed)
        v = self
        try:
            for v in topo:
                v._grad = 0.0  # an inner node's gradient is this call's alone
            self.grad = seed
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


_MICROGRAD_SYMBOLS = {"add": "+", "mul": "*", "relu": "ReLU"}


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


# ---------------------------------------------------------------------------------------
# Nodes in, clear errors out.
# ---------------------------------------------------------------------------------------

def _slots_for(inputs: tuple[Value, ...]) -> tuple[Value | None, Any]:
    """(_a, _b) for a node made from ``inputs`` (see ``Value._prev``)."""
    n = len(inputs)
    return (None, None) if n == 0 else (inputs[0], None) if n == 1 else \
        (inputs[0], inputs[1]) if n == 2 else (inputs[0], inputs[1:])


def _children_of(children: Iterable[Value]) -> tuple[Value, ...]:
    if isinstance(children, bool):
        raise TypeError("requires_grad is keyword-only: Value(x, requires_grad=False)")
    prev = tuple(children)
    for c in prev:
        if not isinstance(c, Value):
            raise TypeError(f"Value(data, _children): the children must be Values, got "
                            f"{type(c).__name__} {c!r}")
    return prev


def _number(x: Any) -> Any:
    return x._data if isinstance(x, Value) else x


def _short(v: Value) -> str:
    return ", ".join(f"array{p.shape}" if p.shape else repr(p._data) for p in v._prev)
