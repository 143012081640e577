"""The Value graph and the backward engine.

A Value holds a number (a float, or a numpy array in batch mode), its gradient, and,
when an op made it, that op, its input Values and the input numbers the op saw.
The engine holds no math of its own: every operator below looks its op up in the
dispatch table ``OPS``, which the registry fills from plugins (``picograd_ops`` first).
"""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from .op import Op

_next_id = itertools.count().__next__  # every Value gets a number larger than its parents'
_new = object.__new__


_recording = ContextVar("picograd_recording", default=True)  # per thread and task
_is_recording = _recording.get


@contextmanager
def no_grad() -> Iterator[None]:
    """Compute values without recording the graph (evaluation, plots)."""
    token = _recording.set(False)
    try:
        yield
    finally:
        _recording.reset(token)


MANY = object()  # in a node's _b slot: the op took more than two inputs, all in _a


class Value:
    """A node in the computation graph: a number, its gradient and how it was made."""

    # _a, _b: the inputs of the op that made this node. Most ops take one or two, so
    # they sit in two slots rather than a tuple: one object fewer per node for Python's
    # garbage collector to scan. A node with more inputs keeps them as a tuple in _a.
    __slots__ = ("data", "grad", "requires_grad", "_op", "_a", "_b", "_id", "_label")

    def __init__(self, data: Any, requires_grad: bool = True, label: str = "") -> None:
        self.data = data if data.__class__ is float else _as_data(data)
        self.grad = 0.0
        self.requires_grad = bool(requires_grad)
        self._op: Op | None = None  # the op that made this node (None for a leaf)
        self._a = self._b = None
        self._id = _next_id()
        if label:
            self._label = label

    # Every operator is one row: look the op up in the table and apply it. Building
    # the table (on first use) then puts the op's own function in place of the
    # forward rows, so that x * y costs one call; see install() below.
    def __add__(self, other):      return OPS.add(self, other)
    def __radd__(self, other):     return OPS.add(other, self)   # other + self
    def __sub__(self, other):      return OPS.sub(self, other)
    def __rsub__(self, other):     return OPS.sub(other, self)   # other - self
    def __mul__(self, other):      return OPS.mul(self, other)
    def __rmul__(self, other):     return OPS.mul(other, self)   # other * self
    def __truediv__(self, other):  return OPS.div(self, other)
    def __rtruediv__(self, other): return OPS.div(other, self)   # other / self
    def __pow__(self, other):      return OPS.pow(self, other)
    def __rpow__(self, other):     return OPS.pow(other, self)   # other ** self
    def __neg__(self):             return OPS.neg(self)          # -self
    # Named ops (relu, tanh, exp, log, ..., and every plugin op) become methods
    # when the table is built: ``x.relu()`` is ``picograd.ops.relu(x)``.

    __array_priority__ = 1000  # ndarray * Value: numpy defers to Value.__rmul__

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the class lacks: build the op table (once, perhaps in
        # another thread just now), which makes every op a method, then look again.
        if name.startswith("_"):
            raise AttributeError(f"'Value' object has no attribute '{name}'")
        _ensure_table()
        try:
            return object.__getattribute__(self, name)
        except AttributeError:
            raise AttributeError(f"'Value' object has no attribute '{name}', and no op named "
                                 f"'{name}' is registered (see `picograd ops`)") from None

    @property
    def _prev(self) -> tuple[Value, ...]:
        """The inputs of the op that made this node, in order (micrograd's name)."""
        a, b = self._a, self._b
        if b is None:
            return () if a is None else (a,)
        return a if b is MANY else (a, b)

    @property
    def label(self) -> str:
        """An optional name, shown by ``draw_dot``."""
        return getattr(self, "_label", "")

    @label.setter
    def label(self, text: str) -> None:
        self._label = text

    def __repr__(self) -> str:
        return f"Value(data={self.data}, grad={self.grad})"

    def backward(self, grad: Any = None) -> None:
        """Backpropagate from this Value: add d(self)/d(leaf) into every leaf's .grad."""
        if not self.requires_grad:
            raise RuntimeError("backward() on a constant: it does not require grad")
        if self._op is None:  # a leaf: d(self)/d(self) = 1, and nothing else to do
            self.grad = _seed_gradient(self.data) if grad is None else grad
            return
        # Every node is numbered after its inputs, so sorting the nodes that lead here
        # by number, largest first, visits each node before all of its inputs.
        topo, seen = [self], {self}
        for v in topo:  # the list grows as we walk it: a breadth-first gather
            a, b = v._a, v._b
            for p in (a,) if b is None else (a, b) if b is not MANY else a:  # v._prev
                if p._op is not None and p not in seen:
                    seen.add(p)
                    topo.append(p)
                    p.grad = 0.0  # an inner node's gradient is this call's alone
        topo.sort(key=_by_id, reverse=True)
        self.grad = _seed_gradient(self.data) if grad is None else grad
        # Go one node at a time and apply the chain rule: each input gets g * dy/dx.
        # Unpacking the returned tuple checks the one-gradient-per-input rule for free.
        try:
            for v in topo:
                op, a, b = v._op, v._a, v._b
                if b is None:  # one input (which needs grad, or this node would not exist)
                    (ga,) = op.backward(v.grad, v.data, a.data)
                    a.grad += ga
                elif b is not MANY:  # two inputs
                    ga, gb = op.backward(v.grad, v.data, a.data, b.data)
                    if a.requires_grad:
                        a.grad += ga
                    if b.requires_grad:
                        b.grad += gb
                else:  # any number of inputs, all in a
                    grads = op.backward(v.grad, v.data, *[p.data for p in a])
                    for p, g in zip(a, grads, strict=True):
                        if p.requires_grad:
                            p.grad += g
        except Exception as e:
            raise _backward_error(v, e) from e


def _by_id(v: Value) -> int:
    return v._id


def _seed_gradient(data: Any) -> Any:
    """d(self)/d(self) = 1: ones in a batch's shape, even where the data is inf or NaN."""
    if data.__class__ is float or not _is_array(data):
        return 1.0
    return sys.modules["numpy"].ones_like(data, dtype=float)


# ---------------------------------------------------------------------------------------
# Applying an op: the functions the dispatch table holds.
# ---------------------------------------------------------------------------------------

def op_function(op: Op) -> Callable[..., Any]:
    """Build the function that applies ``op`` to Values (or plain numbers)."""
    if op.composite:
        fn = _composite_function(op)
    elif op.attrs or op.arity not in (1, 2):
        def fn(*args, **attrs):
            return _apply(op, args, attrs)
    elif op.arity == 1:
        fn = _unary_function(op)
    else:
        fn = _binary_function(op)
    fn.__name__ = fn.__qualname__ = op.name
    fn.__doc__ = op.doc or f"The '{op.name}' op ({op.kind}) from {op.provider}."
    return fn


# The two hot paths, for the one- and two-input ops on floats. Anything else (arrays,
# attributes, more inputs) takes the general path, _apply, which they are a copy of.

def _unary_function(op: Op) -> Callable[[Any], Value]:
    forward = op.forward

    def fn(a):
        if a.__class__ is not Value or a.data.__class__ is not float:
            return _apply(op, (a,), None)
        try:
            y = forward(a.data)
        except Exception as e:
            raise _op_error(op, "forward", (a.data,), e) from e
        if not (a.requires_grad and _is_recording()):
            return _constant(y)
        out = _new(Value)  # (assignments in threes: more would build a tuple per node)
        out.data, out.grad, out._id = y, 0.0, _next_id()
        out.requires_grad, out._op = True, op
        out._a, out._b = a, None
        return out

    return fn


def _binary_function(op: Op) -> Callable[[Any, Any], Value]:
    forward = op.forward

    def fn(a, b):
        if a.__class__ is not Value:
            a = _lift(a, op)
        if b.__class__ is not Value:
            b = _lift(b, op)
        x, z = a.data, b.data
        if x.__class__ is not float or z.__class__ is not float:
            return _apply(op, (a, b), None)
        try:
            y = forward(x, z)
        except Exception as e:
            raise _op_error(op, "forward", (x, z), e) from e
        if not ((a.requires_grad or b.requires_grad) and _is_recording()):
            return _constant(y)
        out = _new(Value)
        out.data, out.grad, out._id = y, 0.0, _next_id()
        out.requires_grad, out._op = True, op
        out._a, out._b = a, b
        return out

    return fn


def _apply(op: Op, args: tuple, attrs: dict | None) -> Value:
    """The general path: any arity, attributes, numpy arrays."""
    if op.arity is not None and len(args) != op.arity or not args:
        raise _arity_error(op, len(args))
    node_op = op.bind(**attrs) if attrs or op.attrs else op
    parents = tuple([a if a.__class__ is Value else _lift(a, op) for a in args])
    xs = tuple([p.data for p in parents])
    if any(_is_array(x) for x in xs if x.__class__ is not float):
        node_op = node_op.for_arrays()  # batch mode: some input holds a numpy array
    try:
        y = node_op.forward(*xs)
    except Exception as e:
        raise _op_error(node_op, "forward", xs, e) from e
    out = _constant(_as_output(y, node_op))
    if _is_recording() and any(p.requires_grad for p in parents):
        out.requires_grad, out._op = True, node_op
        if len(parents) > 2:
            out._a, out._b = parents, MANY
        else:
            out._a, out._b = parents if len(parents) == 2 else (parents[0], None)
    return out


def _constant(data: Any) -> Value:
    """A Value outside the graph: no op, no inputs, never a gradient."""
    out = _new(Value)
    out.data, out.grad, out._id = data, 0.0, _next_id()
    out.requires_grad, out._op = False, None
    out._a = out._b = None
    return out


def _arity_error(op: Op, got: int) -> TypeError:
    wanted = f"{op.arity} input(s)" if op.arity is not None else "at least one input"
    hint = f"; attributes are keywords: {op.name}(x, {next(iter(op.attrs))}=...)" if (
        op.attrs and op.arity is not None and got > op.arity) else ""
    return TypeError(f"op '{op.name}' takes {wanted}, got {got}{hint}")


def _composite_function(op: Op) -> Callable[..., Any]:
    def fn(*args, **attrs):
        if op.arity is not None and len(args) != op.arity or not args:
            raise _arity_error(op, len(args))
        args = [a if isinstance(a, Value) else _lift(a, op) for a in args]  # numbers too
        values = op.attribute_values(attrs)
        try:
            return op.forward(*args, **values)
        except Exception as e:
            if getattr(e, "op", None) is not None:
                raise  # already names the inner op that failed
            raise _op_error(op, "forward", args, e) from e

    return fn


# ---------------------------------------------------------------------------------------
# Numbers in, clear errors out.
# ---------------------------------------------------------------------------------------

def _is_array(x: Any) -> bool:
    np = sys.modules.get("numpy")
    return np is not None and isinstance(x, np.ndarray)


def _as_data(x: Any) -> Any:
    """What a Value stores: a float, or a float64 numpy array."""
    if x.__class__ is float:
        return x
    if _is_array(x):
        if x.dtype.kind not in "biuf":
            raise TypeError(f"Value() expects real numbers, got an array of dtype {x.dtype}")
        return x.astype(float)  # a copy: the caller's array may change under us
    if isinstance(x, (int, float)) or _is_numpy_real(x):
        try:
            return float(x)
        except OverflowError:
            bits = x.bit_length()
            raise OverflowError(f"Value() got an int too large for a float ({bits} bits)") from None
    raise TypeError(
        f"Value() expects a real number or a numpy array, got {type(x).__name__} {x!r}"
    )


def _is_numpy_real(x: Any) -> bool:
    np = sys.modules.get("numpy")
    return np is not None and isinstance(x, (np.integer, np.floating, np.bool_))


def _as_output(y: Any, op: Op) -> Any:
    try:
        return _as_data(y)
    except TypeError:
        raise TypeError(
            f"forward of op '{op.name}' ({op.provider}) returned {type(y).__name__} {y!r},"
            " not a number"
        ) from None


def _lift(x: Any, op: Op) -> Value:
    """Wrap a plain number as a constant operand of ``op``."""
    if x.__class__ is float:
        return _constant(x)
    if isinstance(x, Value):
        return x
    try:
        return Value(x, requires_grad=False)
    except TypeError:
        raise TypeError(
            f"op '{op.name}' expects Values, numbers or numpy arrays, "
            f"got {type(x).__name__} {x!r}"
        ) from None


def _short(xs: Any) -> str:
    return ", ".join(repr(x) if not _is_array(x) else f"array{x.shape}" for x in xs)


def _op_error(op: Op, phase: str, xs: Any, e: Exception, detail: str = "") -> Exception:
    """The exception a user sees when an op fails: names the op, inputs and provider."""
    detail = detail or str(e) or type(e).__name__
    where = f"[op '{op.name}' from {op.provider}]"
    message = f"{op.label}({_short(xs)}) {phase} failed: {detail} {where}"
    try:
        err = type(e)(message)
    except Exception:
        err = OpError(message)
    err.op, err.provider = op.name, op.provider
    return err


def _backward_error(v: Value, e: Exception) -> Exception:
    """Name the op whose backward failed; say so when it broke the one-per-input rule."""
    detail, xs = "", [p.data for p in v._prev]
    try:
        grads = v._op.backward(v.grad, v.data, *xs)  # pure: safe to ask again
        if not isinstance(grads, tuple) or len(grads) != len(xs):
            got = f"{len(grads)} gradient(s)" if isinstance(grads, tuple) else type(grads).__name__
            detail = f"backward must return a tuple of {len(xs)} gradient(s), got {got}"
    except Exception:
        pass
    return _op_error(v._op, "backward", xs, e, detail)


class OpError(Exception):
    """An op failed and its own exception type could not carry the message."""


# ---------------------------------------------------------------------------------------
# The dispatch table: filled once, lazily, by the registry.
# ---------------------------------------------------------------------------------------

class _Table:
    """Op name -> function. Plain attributes once built; the first miss builds it."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        _ensure_table()
        try:
            return self.__dict__[name]
        except KeyError:
            from .registry import active_registry

            raise active_registry().unknown_op_error(name) from None


OPS = _Table()
_installed: set[str] = set()  # op names currently set on OPS and Value


def _ensure_table() -> bool:
    """Load plugins and fill the table if that has not happened yet; True if it changed."""
    from .registry import active_registry

    return active_registry().load()


_FORWARD_OPERATORS = {"__add__": "add", "__sub__": "sub", "__mul__": "mul",
                      "__truediv__": "div", "__pow__": "pow", "__neg__": "neg"}
_ROWS = {dunder: Value.__dict__[dunder] for dunder in _FORWARD_OPERATORS}


def install(functions: dict[str, Callable[..., Any]]) -> None:
    """Make ``functions`` the table's contents (the registry calls this after a change).

    New entries go in before stale ones leave, so a thread computing meanwhile never
    finds a still-registered op missing.
    """
    stale = _installed - functions.keys()
    for name, fn in functions.items():
        OPS.__dict__[name] = fn
        own = Value.__dict__.get(name)
        if own is None or getattr(own, "_picograd_op", False):  # never shadow Value's own
            fn._picograd_op = True
            setattr(Value, name, fn)  # x.name(...) is fn(x, ...)
    for name in stale:
        OPS.__dict__.pop(name, None)
        if getattr(Value.__dict__.get(name), "_picograd_op", False):
            delattr(Value, name)
    for dunder, name in _FORWARD_OPERATORS.items():
        setattr(Value, dunder, functions.get(name, _ROWS[dunder]))
    _installed.clear()
    _installed.update(functions)
