"""The op contract: what a plugin hands to ``register``.

An op is a row: a name, a ``forward`` and a ``backward``.

    forward(*xs, **attrs) -> y
        Plain numbers in, a plain number out: Python floats (``np.float64`` is fine,
        it is a float), or numpy arrays in batch mode (see ``vectorized`` and
        ``array_forward``). It never sees a Value.

    backward(g, y, *xs, **attrs) -> (g_x1, g_x2, ...)
        ``g`` is the upstream gradient dL/dy, ``y`` the output forward returned and
        ``xs`` the inputs it was given: that is all forward "saves". It returns
        exactly one gradient per input, in order, as a tuple: g * dy/dx_i.
        It never touches ``.grad``; only the engine accumulates gradients.

Everything else is optional:

    kind        "op", "activation" (usable as ``MLP(activation=name)``) or "loss".
    arity       how many inputs: an int, or None for variadic (any number >= 1).
                A variadic op is called with its inputs spread out, as a method
                too: ``ops.sumsq(a, b, c)`` or ``a.sumsq(b, c)``.
    attrs       non-differentiable keyword attributes with their defaults, e.g.
                {"slope": 0.01}. They reach forward and backward as keywords.
    backward    None makes a *composite* op: forward then receives Values and builds
                its result from other ops, so the engine differentiates it for free.
    samples     input tuples at which the gradient checker tests the op, e.g.
                [(0.5,), (2.0,)]; pick points inside the op's domain, away from kinks.
                Every input is checked, a loss's target included.
    vectorized  True when forward and backward are plain arithmetic that works on
                numpy arrays as well as on floats (add, mul, ...): batch mode then
                calls them on arrays as they are.
    array_forward(*xs, **attrs) -> y, array_backward(g, y, *xs, **attrs) -> tuple
                numpy versions for batch mode, with the same signatures as forward
                and backward (g, y and xs are arrays or floats). An op with neither
                these nor ``vectorized`` still works on arrays, entry by entry
                (slower). Each gradient may have its input's shape or the
                broadcast shape: the engine sums it down to the input's shape.
    grad_backward
                how to differentiate the backward itself, for second derivatives
                (``create_graph=True``, ``picograd.grad``; see docs/higher-order.md).
                The engine then calls it with g, y and xs as Values, and it must
                build its gradients from Value arithmetic and ``picograd.ops``.
                True says ``backward`` already does (plain + - * / on its arguments,
                branches on ``x > 0``, no ``math.*``, no ``==``); otherwise give a
                function with backward's signature, e.g. for sin
                ``lambda g, y, x: (g * ops.cos(x),)``. None (the default): the op has
                no second derivative, and asking for one is an error naming the op.
                A composite op needs nothing: its parts are differentiated.
    needs_input_grad
                True when backward takes a keyword ``needs_input_grad``: one bool per
                input, False for an input that needs no gradient (a constant, such as
                a batch of data). Backward may return 0.0 there and skip that work:
                ``dense`` skips dL/dX, a product as large as its forward. Without the
                keyword it must return every gradient.
    doc         one line for ``picograd ops``.
    derivative  dy/dx as text for ``explore``: "1 - y**2"; one per input: ("b", "a").

Example, one row:

    register(Op("exp", math.exp, lambda g, y, x: (g * y,), grad_backward=True))  # (e^x)' = e^x
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

KINDS = ("op", "activation", "loss")


@dataclass(frozen=True, eq=False)
class Op:
    """One operation: a forward/backward pair and what describes it."""

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
    grad_backward: Callable[..., tuple] | bool | None = None  # (new fields last: positions)
    needs_input_grad: bool = False

    @property
    def composite(self) -> bool:
        """A composite op has no backward: it is built from other ops."""
        return self.backward is None

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
