"""The op contract: what a plugin hands to ``register``.

An op is a row: a name, a ``forward`` and a ``backward``.

    forward(*xs, **attrs) -> y
        Plain numbers in, a plain number out (floats; numpy arrays in batch mode,
        see ``vectorized`` and ``array_forward``). It never sees a Value.

    backward(g, y, *xs, **attrs) -> (g_x1, g_x2, ...)
        ``g`` is the upstream gradient dL/dy, ``y`` the output forward returned and
        ``xs`` the inputs it was given: that is all forward "saves". It returns
        exactly one gradient per input, in order, as a tuple: g * dy/dx_i.
        It never touches ``.grad``; only the engine accumulates gradients.

Everything else is optional:

    kind        "op", "activation" (usable as ``MLP(activation=name)``) or "loss".
    arity       how many inputs: an int, or None for variadic (any number >= 1).
    attrs       non-differentiable keyword attributes with their defaults, e.g.
                {"slope": 0.01}. They reach forward and backward as keywords.
    backward    None makes a *composite* op: forward then receives Values and builds
                its result from other ops, so the engine differentiates it for free.
    samples     input tuples at which the gradient checker tests the op, e.g.
                [(0.5,), (2.0,)]; pick points inside the op's domain, away from kinks.
    vectorized  True when forward and backward are written with plain arithmetic
                that works on numpy arrays as well as on floats (add, mul, ...).
    array_forward, array_backward
                numpy versions for batch mode. An op with neither these nor
                ``vectorized`` still works on arrays, element by element (slower).
                On arrays the engine sums each gradient down to its input's
                shape (a float parameter gets the sum over the batch); a backward
                may also return it already summed, when that is cheaper.
    doc         one line for ``picograd ops``.
    derivative  dy/dx as text for ``explore``: "1 - y**2"; one per input: ("b", "a").

Example, one row:

    register(Op("exp", math.exp, lambda g, y, x: (g * y,)))   # d/dx e^x = e^x
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

KINDS = ("op", "activation", "loss")
MAX_VARIANTS = 256  # bound ops cached per op (one per distinct attribute values)


@dataclass(frozen=True, eq=False)
class Op:
    """One registered operation: a forward/backward pair and what describes it."""

    name: str
    forward: Callable[..., Any]
    backward: Callable[..., tuple] | None = None
    kind: str = "op"
    arity: int | None = 1
    attrs: Mapping[str, Any] = field(default_factory=dict)
    samples: Sequence[tuple] = ()
    vectorized: bool = False
    array_forward: Callable[..., Any] | None = None
    array_backward: Callable[..., tuple] | None = None
    doc: str = ""
    derivative: str | tuple[str, ...] = ""  # how the explorer writes dy/dx; "": numbers only
    provider: str = ""  # filled in by the registry: "distribution version"
    on_arrays: bool = False  # set on the variant the engine uses for numpy inputs
    _variants: dict = field(default_factory=dict, repr=False, compare=False)

    @property
    def composite(self) -> bool:
        """A composite op has no backward: it is built from other ops."""
        return self.backward is None

    @property
    def label(self) -> str:
        """How graphs and errors name this op: ``leaky_relu(slope=0.1)``."""
        if not self.attrs:
            return self.name
        inner = ", ".join(f"{k}={v!r}" for k, v in self.attrs.items())
        return f"{self.name}({inner})"

    def attribute_values(self, given: Mapping[str, Any]) -> dict[str, Any]:
        """The defaults updated with ``given``; an unknown name is a TypeError."""
        unknown = set(given) - set(self.attrs)
        if unknown:
            known = ", ".join(self.attrs) or "none"
            raise TypeError(
                f"op '{self.name}' got unknown attribute(s) {', '.join(sorted(unknown))}"
                f" (its attributes: {known})"
            )
        return {**self.attrs, **given}

    def bind(self, **attrs: Any) -> Op:
        """This op with its attributes fixed: forward/backward take inputs only."""
        values = self.attribute_values(attrs)
        try:
            key = ("bind", tuple(values.items()))
            hash(key)
        except TypeError:
            key = None  # unhashable attribute values: bind afresh, no cache
        if key is not None and key in self._variants:
            return self._variants[key]

        def fix(fn: Callable | None) -> Callable | None:
            return None if fn is None else functools.partial(fn, **values)

        bound = replace(
            self, forward=fix(self.forward), backward=fix(self.backward),
            array_forward=fix(self.array_forward), array_backward=fix(self.array_backward),
            attrs=values, _variants={},
        )
        if key is not None and len(self._variants) < MAX_VARIANTS:
            self._variants[key] = bound
        return bound

    def for_arrays(self) -> Op:
        """The variant the engine runs when an input is a numpy array.

        Its backward sums each gradient back to its input's shape (undoing numpy
        broadcasting), so that no op has to. An entry that the scalar op rejects
        (log of -1.0) raises the scalar op's error, naming the entry: batch mode
        follows the scalar policy, never numpy's silent nan.
        """
        if self.on_arrays:
            return self
        cached = self._variants.get("arrays")
        if cached is None:
            if self.vectorized:  # plain arithmetic: floats and arrays give the same IEEE results
                fwd, bwd = self.forward, self.backward
            elif self.array_forward is not None:
                fwd = _checked(self.array_forward, self.forward)
                bwd = None if self.array_backward is None else _checked(
                    self.array_backward, self.backward, many=True)
            else:
                fwd, bwd = _elementwise(self.forward), None
            if bwd is None and self.backward is not None:
                bwd = _elementwise(self.backward, many=True)
            if bwd is not None:
                bwd = _reduced(bwd)
            cached = replace(self, forward=fwd, backward=bwd, on_arrays=True, _variants={})
            self._variants["arrays"] = cached
        return cached


def _reduced(backward: Callable) -> Callable:
    """Wrap an array backward so each gradient comes back in its input's shape."""
    def reduced(g: Any, y: Any, *xs: Any) -> tuple:
        grads = backward(g, y, *xs)
        if grads.__class__ is not tuple or len(grads) != len(xs):
            return grads  # the engine reports the broken count
        # Most gradients already have their input's shape (a float for a float, an
        # array of the same shape for an array); the others are summed down to it.
        return tuple([gx if gx.__class__ is x.__class__ and (
            gx.__class__ is float or gx.shape == x.shape) else _unbroadcast(gx, x)
            for gx, x in zip(grads, xs)])

    return reduced


def _unbroadcast(g: Any, x: Any) -> Any:
    """Sum ``g`` over the axes numpy broadcast ``x`` along, so it has x's shape."""
    import numpy as np

    if x.__class__ is float:  # a number every sample used: the sum of their gradients
        return float(g.sum()) if isinstance(g, np.ndarray) else float(g)
    shape = np.shape(x)
    if np.shape(g) == shape:
        return g if isinstance(x, np.ndarray) else float(g)
    g = np.broadcast_to(g, np.broadcast_shapes(np.shape(g), shape))
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))  # leading axes x never had
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    g = g.sum(axis=axes, keepdims=True) if axes else g
    return np.array(g, dtype=float) if isinstance(x, np.ndarray) else float(g)


def _checked(array_fn: Callable, scalar_fn: Callable | None, many: bool = False) -> Callable:
    """Run a numpy implementation; where it computes nan or inf from an invalid
    operation (log(-1.0), 1/0, exp overflow), let the scalar op judge those entries."""
    import numpy as np

    def checked(*args: Any) -> Any:
        try:
            with np.errstate(divide="raise", invalid="raise", over="raise"):
                return array_fn(*args)
        except FloatingPointError:
            pass
        if scalar_fn is not None:  # raises the scalar op's own error for the first bad entry
            _elementwise(scalar_fn, many)(*args)
        with np.errstate(all="ignore"):
            return array_fn(*args)  # the scalar op accepts every entry: same IEEE result

    return checked


def _elementwise(fn: Callable, many: bool = False) -> Callable:
    """Lift a scalar function to numpy arrays, one element at a time (broadcasting).

    An entry the scalar function rejects raises its exception (same type) with the
    entry's position and inputs, and how many entries fail.
    """
    import numpy as np

    def lifted(*args: Any) -> Any:
        arrays = np.broadcast_arrays(*[np.asarray(a, dtype=float) for a in args])
        shape = arrays[0].shape
        rows = list(zip(*[a.ravel().tolist() for a in arrays]))
        results, failed = [], []
        for i, row in enumerate(rows):
            try:
                results.append(fn(*row))
            except Exception as e:
                failed.append((i, e))
        if failed:
            raise _entry_error(failed, rows, shape, skip=2 if many else 0)
        if not many:
            return np.array(results, dtype=float).reshape(shape)
        columns = zip(*results) if results else [()] * (len(args) - 2)
        return tuple(np.array(c, dtype=float).reshape(shape) for c in columns)

    return lifted


def _entry_error(failed: list, rows: list, shape: tuple, skip: int) -> Exception:
    """The first failing entry's exception, retold with where it happened."""
    import numpy as np

    i, e = failed[0]
    where = [int(k) for k in np.unravel_index(i, shape)] if shape else []
    inputs = ", ".join(repr(x) for x in rows[i][skip:])  # backward: leave out g and y
    others = f"; {len(failed)} of {len(rows)} entries fail" if len(failed) > 1 else ""
    message = f"{e or type(e).__name__} (entry {where} of an array of shape {shape}: " \
              f"inputs {inputs}{others})"
    try:
        return type(e)(message)
    except Exception:
        return ValueError(message)
