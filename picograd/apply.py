"""Applying an op to Values: the functions the op table (``picograd.ops``) holds.

``op_function(op)`` builds, once per registered op, the function that ``x * y``,
``x.tanh()`` and ``picograd.ops.tanh(x)`` call. It lifts plain numbers to constants,
runs the op's forward on the inputs' numbers (its batch variant when one is an
array), checks what forward returned, and makes the output with ``node``, the one
constructor of op nodes. Nothing here runs pluggy, and nothing computes any math.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

from . import ops
from .data import as_data, is_array
from .engine import Value, _is_recording, _next_id
from .errors import OpError, UnknownOpError, add_note, op_note
from .kernel import BoundOp

_new = object.__new__
_all_values = functools.partial(map, Value.__instancecheck__)  # one C call per input
_all_floats = functools.partial(map, float.__instancecheck__)


def node(op: BoundOp, y: Any, a: Value, b: Value | None = None, *rest: Value) -> Value:
    """The Value ``y`` that ``op`` made from its inputs ``a``, ``b``, ``*rest``: a graph
    node if any input needs a gradient (and the graph is being recorded), else a constant.

    The inputs go into the slots ``_a`` and ``_b`` as ``Value._prev`` reads them: the
    second input, or a tuple of the second and the rest when there are more.
    """
    out = _new(Value)  # (assignments in threes: more would build a tuple per node)
    out._data, out._grad, out._id = y, 0.0, _next_id()
    if (a.requires_grad or b is not None and (b.requires_grad or _any_grad(rest))) \
            and _is_recording():
        out.requires_grad, out.op = True, op
        out._a, out._b = a, (b, *rest) if rest else b
        return out
    out.requires_grad, out.op = False, None
    out._a = out._b = None
    return out


def _any_grad(inputs: tuple[Value, ...]) -> bool:
    for p in inputs:
        if p.requires_grad:
            return True
    return False


def constant(data: Any) -> Value:
    """A Value outside the graph: no op, no inputs, never a gradient."""
    out = _new(Value)
    out._data, out._grad, out._id = data, 0.0, _next_id()
    out.requires_grad, out.op = False, None
    out._a = out._b = None
    return out


def op_function(op: BoundOp) -> Callable[..., Any]:
    """The function that applies ``op`` to Values (or plain numbers)."""
    if op.composite:
        fn = _composite_function(op)
    elif op.arity in (1, 2) and not op.attrs:
        fn = _unary_function(op) if op.arity == 1 else _binary_function(op)
    else:
        def fn(*args: Any, **attrs: Any) -> Value:
            return apply(op, args, attrs)
    fn.__name__ = fn.__qualname__ = op.name
    fn.__doc__ = op.doc or f"The '{op.name}' op ({op.kind}) from {op.provider}."
    return fn


def apply(op: BoundOp, args: Sequence[Any], attrs: dict[str, Any]) -> Value:
    """``op`` on ``args``: any arity, attributes, numpy arrays."""
    if op.arity is not None and len(args) != op.arity or not args:
        raise _arity_error(op, len(args))
    if attrs:
        op = op.bind(attrs)
    # The common case in one pass: every input a Value holding a float (a fused neuron
    # has 33 of them, bench_demo.py). Anything else takes the general path.
    xs = [a._data for a in args if a.__class__ is Value and a._data.__class__ is float]
    if len(xs) != len(args):  # plain numbers become constants; arrays mean batch mode
        if not all(_all_values(args)):
            args = [a if isinstance(a, Value) else lift(a, op) for a in args]
        xs = [a._data for a in args]
        if not all(_all_floats(xs)):  # (a Value's data is a float or a numpy array)
            op = op.for_arrays()
    try:
        y = op.forward(*xs)
    except Exception as e:
        add_note(e, _failed(op, "forward", xs))
        raise
    return node(op, y if y.__class__ is float else output(y, op), *args)


def apply_each(op: BoundOp, heads: Sequence[Sequence[Value]], tail: Sequence[Value],
               then: Callable[[Value], Value] | None = None) -> list[Value]:
    """``apply(op, (*head, *tail))`` for each head, reading ``tail``'s numbers once;
    ``then`` (an activation), if given, applied to each result before the next head.

    A layer's neurons all read the same input: each neuron is ``weighted_sum(b, *w,
    *x)`` with its own ``(b, *w)`` as head and the layer's ``x`` as tail. Reading and
    checking x once per layer instead of once per neuron is half of a fused neuron's
    cost (bench_demo.py). The nodes are the ones ``apply`` makes, in the same order.
    """
    tail_xs = [a._data for a in tail if a.__class__ is Value and a._data.__class__ is float]
    floats = len(tail_xs) == len(tail) and op.arity is None  # (variadic, as weighted_sum)
    forward, out = op.forward, []
    for head in heads:
        xs = [a._data for a in head if a.__class__ is Value and a._data.__class__ is float]
        if not floats or len(xs) != len(head):  # not all Values holding floats: in general
            y = apply(op, (*head, *tail), {})
        else:
            try:
                number = forward(*xs, *tail_xs)
            except Exception as e:
                add_note(e, _failed(op, "forward", [*xs, *tail_xs]))
                raise
            y = node(op, number if number.__class__ is float else output(number, op),
                     *head, *tail)
        out.append(y if then is None else then(y))
    return out


# The two fast paths, for one- and two-input ops without attributes on floats: the
# same steps as ``apply``, without its loops (bench_engine.py). Anything else goes
# to ``apply``.

def _unary_function(op: BoundOp) -> Callable[[Any], Value]:
    forward = op.forward

    def fn(a: Any) -> Value:
        if a.__class__ is not Value or a._data.__class__ is not float:
            return apply(op, (a,), {})
        try:
            y = forward(a._data)
        except Exception as e:
            add_note(e, _failed(op, "forward", [a._data]))
            raise
        return node(op, y if y.__class__ is float else output(y, op), a)

    return fn


def _binary_function(op: BoundOp) -> Callable[[Any, Any], Value]:
    forward = op.forward

    def fn(a: Any, b: Any) -> Value:
        if a.__class__ is not Value:
            a = lift(a, op)
        if b.__class__ is not Value:
            b = lift(b, op)
        x, z = a._data, b._data
        if x.__class__ is not float or z.__class__ is not float:
            return apply(op, (a, b), {})
        try:
            y = forward(x, z)
        except Exception as e:
            add_note(e, _failed(op, "forward", [x, z]))
            raise
        return node(op, y if y.__class__ is float else output(y, op), a, b)

    return fn


def _composite_function(op: BoundOp) -> Callable[..., Any]:
    """A composite op: its forward gets Values and builds the result from other ops."""
    def fn(*args: Any, **attrs: Any) -> Value:
        if op.arity is not None and len(args) != op.arity or not args:
            raise _arity_error(op, len(args))
        bound = op.bind(attrs) if attrs else op
        inputs = [a if isinstance(a, Value) else lift(a, op) for a in args]  # numbers too
        try:
            out = op.op.forward(*inputs, **bound.attrs)
        except Exception as e:
            add_note(e, op_note(op.name, op.provider,
                                f"in the composite op {bound.label}, forward failed"))
            raise
        return out if isinstance(out, Value) else constant(output(out, bound))

    return fn


def lift(x: Any, op: BoundOp) -> Value:
    """A plain number (or array) as a constant operand of ``op``."""
    if x.__class__ is float:
        return constant(x)
    if isinstance(x, Value):
        return x
    try:
        return constant(as_data(x))
    except TypeError:
        raise TypeError(f"op '{op.name}' expects Values, numbers or numpy arrays, "
                        f"got {type(x).__name__} {x!r}") from None


def output(y: Any, op: BoundOp) -> Any:
    """What forward returned, as a Value stores it. Anything but a real number (or an
    array of them) fails here, naming the op: never one op later."""
    try:
        return y if is_array(y) and y.dtype == float else as_data(y)
    except (TypeError, OverflowError):
        raise OpError(f"forward of op '{op.name}' ({op.provider}) returned "
                      f"{type(y).__name__} {y!r}, not a number", op.name, op.provider) from None


def _failed(op: BoundOp, phase: str, xs: Sequence[Any]) -> str:
    inputs = ", ".join(f"array{x.shape}" if is_array(x) else repr(x) for x in xs)
    return op_note(op.name, op.provider, f"{op.label}({inputs}) {phase} failed")


def _arity_error(op: BoundOp, got: int) -> TypeError:
    wanted = f"{op.arity} input(s)" if op.arity is not None else "at least one input"
    hint = f"; attributes are keywords: {op.name}(x, {next(iter(op.attrs))}=...)" if (
        op.attrs and op.arity is not None and got > op.arity) else ""
    return TypeError(f"op '{op.name}' takes {wanted}, got {got}{hint}")


# ---- plugin ops as methods -----------------------------------------------------------------
#
# The one mechanism that makes registered ops methods. Until the op table is built,
# Value has a __getattr__ that builds it on the first name the class lacks (x.gelu on a
# fresh process). Building or changing the table calls install_methods, which sets
# every op the class does not write out itself as a method, removes the stale ones,
# and removes that __getattr__: a class with a __getattr__ is read slower by Python
# 3.11 on every attribute (bench_engine.py: backward ~900 -> ~530 ns per node). A name
# that is no op then gets Python's own AttributeError ("Did you mean: 'relu'?").

def _load_on_first_lookup(self: Value, name: str) -> Any:
    if name.startswith("_"):  # protocols and internals are never ops
        raise AttributeError(f"'Value' object has no attribute '{name}'", name=name, obj=self)
    try:
        fn = getattr(ops, name)  # loads the plugins
    except UnknownOpError as e:  # says which op is nearest, if one is
        raise AttributeError(f"'Value' object has no attribute '{name}': {e}", name=name,
                             obj=self) from None
    return functools.partial(fn, self)


def install_methods(functions: dict[str, Callable[..., Any]]) -> None:
    for name, fn in functions.items():  # new ones in before stale ones leave (threads)
        own = Value.__dict__.get(name)
        if own is None or getattr(own, "_picograd_op", False):  # never shadow Value's own
            fn._picograd_op = True  # type: ignore[attr-defined]
            setattr(Value, name, fn)
    for name, member in list(Value.__dict__.items()):
        if getattr(member, "_picograd_op", False) and name not in functions:
            delattr(Value, name)
    if functions and "__getattr__" in Value.__dict__:
        del Value.__getattr__  # type: ignore[attr-defined]
    elif not functions:
        Value.__getattr__ = _load_on_first_lookup  # type: ignore[attr-defined]


Value.__getattr__ = _load_on_first_lookup  # type: ignore[attr-defined]
ops._on_install = install_methods
