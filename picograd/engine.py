"""The Value graph; ``backward()`` runs the backward engine (picograd/backward.py).

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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from . import ops
from .backward import _chain_rule, _nothing, run
from .data import as_data, more_of, ones_like, set_more

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
        run(self, seed)  # picograd/backward.py


_MICROGRAD_SYMBOLS = {"add": "+", "mul": "*", "relu": "ReLU"}


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

