"""An op as the engine runs it: ``BoundOp``.

The registry wraps each registered ``Op`` in a BoundOp that records who provides it.
Calling an op with attributes (``leaky_relu(x, slope=0.1)``) or on numpy arrays
uses a variant with those fixed; variants are made once and cached on the op. A
graph node keeps the BoundOp that made it, as ``node.op``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .op import Op
from .plugins import DISTRIBUTION

MAX_VARIANTS = 256  # attribute variants cached per op (one per distinct attribute values)


@dataclass(frozen=True, eq=False)
class BoundOp:
    """A registered op with its provider, attribute values and input kind fixed."""

    op: Op
    provider: str  # "distribution version", or "in-process plugin 'name'"
    attrs: Mapping[str, Any]
    forward: Callable[..., Any]
    backward: Callable[..., tuple] | None
    arrays: bool = False  # this variant runs on numpy arrays
    skips_zero: bool = False  # see ZERO_SKIPPING
    relu_output: bool = False  # a listed op ending in a relu: see _relu_output
    arity: int | None = field(init=False)  # the op's (plain attributes: backward reads them)
    needs_input_grad: bool = field(init=False)
    _variants: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "arity", self.op.arity)
        object.__setattr__(self, "needs_input_grad", self.op.needs_input_grad)

    @classmethod
    def of(cls, op: Op, provider: str) -> BoundOp:
        """The op as registered: its default attribute values fixed."""
        values = dict(op.attrs)
        skips = _skips_zero(op, provider)
        return cls(op, provider, values, _fix(op.forward, values), _fix(op.backward, values),
                   skips_zero=skips, relu_output=skips and _relu_output(op, values))

    @property
    def name(self) -> str:
        return self.op.name

    @property
    def kind(self) -> str:
        return self.op.kind

    @property
    def doc(self) -> str:
        return self.op.doc

    @property
    def samples(self) -> Sequence[tuple]:
        return self.op.samples

    @property
    def composite(self) -> bool:
        return self.op.backward is None

    @property
    def grad_backward(self) -> Callable[..., tuple] | None:
        """The backward that runs on Values (``Op.grad_backward``), this variant's
        attributes fixed; None when the op has no second derivative. The same for
        floats and arrays: the Values it gets choose their ops' variants."""
        fn = self.op.grad_backward
        if fn is None or fn is False:
            return None
        return _fix(self.op.backward if fn is True else fn, dict(self.attrs))

    @property
    def label(self) -> str:
        """How graphs and errors name this op: ``leaky_relu(slope=0.1)``."""
        if not self.attrs:
            return self.name
        return f"{self.name}({', '.join(f'{k}={v!r}' for k, v in self.attrs.items())})"

    def bind(self, given: Mapping[str, Any]) -> BoundOp:
        """This op with the attributes ``given`` (the rest at their defaults)."""
        try:  # the type is part of the key: 1, 1.0 and True are different attributes
            key = (tuple(given.items()), tuple(map(type, given.values())))
            cached = self._variants.get(key)
        except TypeError:  # unhashable attribute values: bind afresh, no cache
            key, cached = None, None
        if cached is None:
            values = self.op.attribute_values(given)
            cached = BoundOp(self.op, self.provider, values, _fix(self.op.forward, values),
                             _fix(self.op.backward, values), skips_zero=self.skips_zero,
                             relu_output=self.skips_zero and _relu_output(self.op, values))
            if key is not None and len(self._variants) < MAX_VARIANTS:
                self._variants[key] = cached
        return cached

    def for_arrays(self) -> BoundOp:
        """The variant that runs on numpy arrays (see ``picograd.batch``)."""
        if self.arrays:
            return self
        cached = self._variants.get("arrays")
        if cached is None:
            from .batch import array_functions  # numpy: only once a batch is seen

            forward, backward = array_functions(self.op, dict(self.attrs), self.provider)
            cached = BoundOp(self.op, self.provider, self.attrs, forward, backward, True)
            self._variants["arrays"] = cached
        return cached


# Zero skipping: the engine skips a node whose upstream gradient is exactly 0 (a float)
# when its inputs and output are finite floats and its op is one of these built-ins.
# Each of their backwards then returns +-0 for every input: every gradient is g times
# a finite expression of the inputs and output (or g over a nonzero finite input), and
# 0 times a finite number is +-0. Adding +-0 changes no gradient (a .grad that the
# engine accumulated from 0.0 is never -0.0), so skipping gives the same bits. Not
# here: sqrt and pow, whose slopes are infinite at finite points (0 * inf is NaN);
# every plugin op (the engine cannot see its slopes); bce (kept simple).
ZERO_SKIPPING = frozenset({
    "add", "sub", "mul", "div", "neg",
    "exp", "log", "abs", "relu", "tanh", "sigmoid",
    "hinge", "logistic", "mse", "weighted_sum", "sum", "mean", "sumsq", "column",
})


# Of those, relu and the ops given relu=True (weighted_sum) end in a relu: each of their
# gradients is g times relu's slope at the output, which is 0 where the output is 0 (a
# dead relu). The engine skips such a node too when its output is 0 and g is finite.
def _relu_output(op: Op, attrs: Mapping[str, Any]) -> bool:
    return op.name == "relu" or attrs.get("relu") is True


def _skips_zero(op: Op, provider: str) -> bool:
    return op.name in ZERO_SKIPPING and is_builtin(op, provider)


def is_builtin(op: Op, provider: str) -> bool:
    """Whether ``op`` is picograd_ops' own (not a plugin's op of the same name)."""
    return provider.partition(" ")[0] == DISTRIBUTION and \
        getattr(op.backward, "__module__", "").startswith("picograd_ops")


def _fix(fn: Callable | None, attrs: dict[str, Any]) -> Any:
    return fn if fn is None or not attrs else functools.partial(fn, **attrs)
