"""Neurons, layers and MLPs, as in micrograd's nn.py: only the import line changes.

    from picograd.nn import MLP
    model = MLP(2, [16, 16, 1])                 # relu hidden layers, a linear output
    score = model([0.5, -1.0])                  # one sample: a Value
    scores = model(X)                           # X: numpy (batch, nin) -> Value (batch,)
    scores = model(Value(X))                    # the same, with gradients for X too

Beyond micrograd: ``activation=`` takes any registered activation by name (plugins
included), ``seed=`` or ``rng=`` makes the initial weights reproducible, and
``fused=False`` builds every multiply and add as its own node (to see them in a drawn
graph) instead of one ``weighted_sum`` node per neuron, or, on a batch, one ``dense``
node per layer (a matrix product). Fused nodes apply relu themselves only while the
registered ``relu`` is the built-in one; an overriding plugin's relu gets its own node.
``save``/``load`` keep a model in a JSON file (picograd/model_files.py).

A layer's parameters are also two arrays, ``layer.W`` (nout, nin) and ``layer.b``
(nout,), which a batch step reads and updates as a whole (see picograd/params.py);
``model.parameters()`` stays micrograd's list of scalar Values, showing the same numbers.
"""

from __future__ import annotations

import functools
import os
import random
import sys
from collections.abc import Sequence
from typing import Any

from . import ops
from .active import active_registry
from .apply import apply, apply_each
from .engine import Value
from .errors import OpConflictError, UnknownOpError
from .kernel import BoundOp
from .model_files import ModelFileError, load, save  # noqa: F401  (picograd.nn.load, ...)
from .params import LayerParameters, Parameters, grouped
from .plugins import conflict_message


class Module:
    """Anything with parameters: ``zero_grad()`` clears their gradients."""

    def zero_grad(self) -> None:
        layers, rest = grouped(self.parameters())
        for layer in layers:  # its arrays, or its scalars: whichever side is live
            layer.zero_grad()
        for p in rest:
            p.grad = 0.0

    def parameters(self) -> list[Value]:
        return []


def activations() -> list[str]:
    """The names usable as ``activation=``: registered ops of kind "activation"."""
    return sorted(n for n, op in active_registry().ops.items() if op.kind == "activation")


def check_activation(name: str) -> str:
    """``name`` if it is a registered activation, else a ValueError listing them."""
    registry = active_registry()
    if isinstance(name, str) and name in registry.conflicts:
        raise OpConflictError(conflict_message(name, registry.conflicts[name]))
    op = registry.ops.get(name) if isinstance(name, str) else None
    if op is None or op.kind != "activation":
        raise ValueError(
            f"unknown activation {name!r}; available activations: {', '.join(activations())}"
        )
    return name


def _relu_foldable() -> BoundOp | None:
    """Whether fused nodes may apply relu themselves: ``weighted_sum(relu=True)`` if so.

    ``weighted_sum(relu=True)`` and ``dense(relu=True)`` do relu's math inside the
    node; that is only the registered ``relu`` when one plugin provides all three (an
    overriding or preferred ``relu`` gets its own node instead). Decided once per call
    of a model, a layer or a neuron, never per op; the neurons then apply the returned
    variant directly (no attribute lookup per neuron).
    """
    registry = active_registry()
    try:
        providers = {registry.get(name).provider for name in ("relu", "weighted_sum", "dense")}
    except (OpConflictError, UnknownOpError):  # let ops.relu say why, if it is used
        return None
    return registry.get("weighted_sum").bind({"relu": True}) if len(providers) == 1 else None


def _rng(seed: int | None, rng: random.Random | None) -> Any:
    if seed is not None and rng is not None:
        raise TypeError("pass seed= or rng=, not both")
    if rng is not None:
        return rng
    # No seed: the global `random` module, as micrograd does (random.seed() works alike).
    return random if seed is None else random.Random(seed)


class Neuron(Module):
    """``act(b + sum(w_i * x_i))``, with weights drawn uniformly from [-1, 1]."""

    def __init__(self, nin: int, nonlin: bool = True, *, activation: str = "relu",
                 fused: bool = True, seed: int | None = None,
                 rng: random.Random | None = None) -> None:
        rng = _rng(seed, rng)
        self.w = [Value(rng.uniform(-1, 1)) for _ in range(nin)]
        self.b = Value(0.0)
        self.nonlin = nonlin
        self.activation = check_activation(activation)
        self.fused = fused

    def __call__(self, x: Sequence[Any]) -> Value:
        return self._forward(x, _relu_foldable() if self.fused else None)

    def _forward(self, x: Sequence[Any], fold_relu: BoundOp | None) -> Value:
        if len(x) != len(self.w):
            raise ValueError(f"{self!r} takes {len(self.w)} inputs, got {len(x)}")
        if fold_relu and self.fused and self.nonlin and self.activation == "relu":  # one node
            return apply(fold_relu, (self.b, *self.w, *x), {})  # weighted_sum(..., relu=True)
        if self.fused:  # one node: b + w1 x1 + ... + wn xn
            act = ops.weighted_sum(self.b, *self.w, *x)
        else:  # micrograd's way: a node for every multiply and every add, b + w1*x1 + ...
            # (micrograd's sum(), calling the op table without the operators' own frames)
            act = functools.reduce(ops.add, map(ops.mul, self.w, x), self.b)
        return getattr(ops, self.activation)(act) if self.nonlin else act

    def parameters(self) -> list[Value]:
        return self.w + [self.b]

    def __repr__(self) -> str:
        if not self.nonlin:
            kind = "Linear"
        else:
            kind = "ReLU" if self.activation == "relu" else self.activation.capitalize()
        return f"{kind}Neuron({len(self.w)})"


class Layer(Module):
    """``nout`` neurons reading the same inputs; one output is returned bare."""

    def __init__(self, nin: int, nout: int, *, seed: int | None = None,
                 rng: random.Random | None = None, **kwargs: Any) -> None:
        rng = _rng(seed, rng)  # one generator for all neurons, so they differ
        self.neurons = [Neuron(nin, rng=rng, **kwargs) for _ in range(nout)]

    @property
    def _params(self) -> LayerParameters:
        """The parameters as scalars and as arrays (made at first use: a subclass may
        set ``self.neurons`` in its own ``__init__``)."""
        params = self.__dict__.get("_layer_params")
        if params is None:
            params = self.__dict__["_layer_params"] = LayerParameters(self)
        return params

    @property
    def W(self) -> Value:
        """The weights as one (nout, nin) array Value: row j is neuron j's ``w``."""
        return self._params.arrays()[0]

    @property
    def b(self) -> Value:
        """The biases as one (nout,) array Value: entry j is neuron j's ``b``."""
        return self._params.arrays()[1]

    def __call__(self, x: Any) -> Value | list[Value]:
        """One sample (``nin`` numbers or Values), or a 2-D batch: one Value per output."""
        return self._forward(x, _relu_foldable() if self.neurons[0].fused else None)

    def _forward(self, x: Any, fold_relu: BoundOp | None) -> Value | list[Value]:
        if _is_batch(x) or _is_batch_value(x):
            if self.neurons[0].fused:
                return _columns(self._batch(x, fold_relu))
            x = _input_columns(x)
        self._params.use_scalars()  # the neurons read their scalar Values
        op, act = self._fused_op(len(x), fold_relu)
        if op is None:  # neurons of different kinds, or unfused: each on its own
            out = [n._forward(x, fold_relu) for n in self.neurons]
        else:  # one weighted_sum node per neuron, the input read once (apply_each)
            then = None if act is None else getattr(ops, act)  # each node's activation
            out = apply_each(op, [(n.b, *n.w) for n in self.neurons], x, then)
        return out[0] if len(out) == 1 else out

    def _fused_op(self, nin: int, fold_relu: BoundOp | None) -> tuple[BoundOp | None, str | None]:
        """The op every neuron is, on an input of ``nin`` numbers, and the activation
        applied after it: what ``Neuron._forward`` would do, when it is the same for
        all neurons (else ``(None, None)``, and each neuron runs itself)."""
        first = self.neurons[0]
        fused, nonlin, activation = first.fused, first.nonlin, first.activation
        if not fused:
            return None, None
        for n in self.neurons:  # (a subclass of Neuron may compute its own way)
            if n.__class__ is not Neuron or n.fused is not fused or n.nonlin is not nonlin \
                    or n.activation != activation or len(n.w) != nin:
                return None, None
        if first.nonlin and first.activation == "relu" and fold_relu is not None:
            return fold_relu, None
        op = active_registry().get("weighted_sum")
        if op.composite:
            return None, None
        return op, first.activation if first.nonlin else None

    def batch(self, X: Any) -> Value:
        """The whole layer on a batch of rows X (batch, nin), as one ``dense`` node.

        Returns the (batch, nout) Value of every neuron's output for every row. The
        node's inputs are this layer's ``W`` and ``b`` and X, so each parameter gets
        its gradient summed over the batch, as the per-sample graphs would give it.
        """
        return self._batch(X, _relu_foldable())

    def _batch(self, X: Any, fold_relu: BoundOp | None) -> Value:
        first = self.neurons[0]
        nin = len(first.w)
        if _is_batch(X):
            X = Value(X, requires_grad=False)
        if not isinstance(X, Value) or not _is_batch(X.data) or X.data.shape[1] != nin:
            shape = getattr(getattr(X, "data", X), "shape", None)
            raise ValueError(f"{self!r} takes a batch of shape (batch, {nin}), "
                             f"got {shape or type(X).__name__}")
        relu = fold_relu is not None and first.nonlin and first.activation == "relu"
        W, b = self._params.arrays()
        Y = ops.dense(W, b, X, relu=relu)
        if first.nonlin and not relu:  # any other activation: one node, elementwise
            Y = getattr(ops, first.activation)(Y)
        return Y

    def parameters(self) -> list[Value]:
        return Parameters([self._params])

    def __repr__(self) -> str:
        return f"Layer of [{', '.join(str(n) for n in self.neurons)}]"


class MLP(Module):
    """A multi-layer perceptron: hidden layers use ``activation``, the last is linear."""

    def __init__(self, nin: int, nouts: Sequence[int], *, activation: str = "relu",
                 fused: bool = True, seed: int | None = None,
                 rng: random.Random | None = None) -> None:
        sizes = [nin, *nouts]
        if not all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in sizes):
            raise ValueError(f"MLP sizes must be positive ints, got nin={nin!r}, nouts={nouts!r}")
        rng = _rng(seed, rng)
        self.nin, self.nouts, self.activation = nin, list(nouts), check_activation(activation)
        self.layers = [
            Layer(sizes[i], sizes[i + 1], nonlin=i != len(nouts) - 1, activation=activation,
                  fused=fused, rng=rng)
            for i in range(len(nouts))
        ]

    def __call__(self, x: Any) -> Value | list[Value]:
        """One sample (a sequence of ``nin`` numbers or Values), or a 2-D batch: a numpy
        array, or a Value holding one (so gradients flow back to the inputs)."""
        fused = self.layers[0].neurons[0].fused
        fold_relu = _relu_foldable() if fused else None
        if _is_batch(x) or _is_batch_value(x):
            shape = getattr(x, "data", x).shape
            if shape[1] != self.nin:
                raise ValueError(f"MLP takes {self.nin} inputs, got a batch of shape {shape}")
            if fused:  # a node per layer, matrices in between
                return _columns(self._batch(x, fold_relu))
            x = _input_columns(x)
        else:  # plain numbers become constants once here, not once per neuron
            x = [xi if isinstance(xi, Value) else Value(xi, requires_grad=False) for xi in x]
        for layer in self.layers:
            x = layer._forward(x, fold_relu)
        return x

    def batch(self, X: Any) -> Value:
        """The model on a batch of rows X (batch, nin) as one (batch, nout) Value: a
        ``dense`` node per layer, without ``model(X)``'s split into one Value per output
        (for a loss that takes the matrix, such as a cross-entropy over classes)."""
        if _is_batch(X) and X.shape[1] != self.nin:
            raise ValueError(f"MLP takes {self.nin} inputs, got a batch of shape {X.shape}")
        return self._batch(X, _relu_foldable())

    def _batch(self, x: Any, fold_relu: BoundOp | None) -> Value:
        X = x if isinstance(x, Value) else Value(x, requires_grad=False)
        for layer in self.layers:
            X = layer._batch(X, fold_relu)
        return X

    def parameters(self) -> list[Value]:
        return Parameters([layer._params for layer in self.layers])

    def __repr__(self) -> str:
        return f"MLP of [{', '.join(str(layer) for layer in self.layers)}]"

    def save(self, path: str | os.PathLike) -> None:
        save(self, path)

    @classmethod
    def load(cls, path: str | os.PathLike, *, max_bytes: int | None = None) -> MLP:
        return load(path, max_bytes=max_bytes)


def _is_batch(x: Any) -> bool:
    np = sys.modules.get("numpy")
    return np is not None and isinstance(x, np.ndarray) and x.ndim == 2


def _is_batch_value(x: Any) -> bool:
    return isinstance(x, Value) and _is_batch(x.data)


def _input_columns(x: Any) -> list[Value]:
    """A batch (batch, nin) as one batch Value per input, for the per-op graph."""
    if isinstance(x, Value):  # keep the gradient path back to x
        return [ops.column(x, index=i) for i in range(x.data.shape[1])]
    return [Value(column, requires_grad=False) for column in x.T]


def _columns(Y: Value) -> Value | list[Value]:
    """A (batch, nout) Value as nout batch Values, one per output; one output is bare."""
    out = [ops.column(Y, index=j) for j in range(Y.data.shape[1])]
    return out[0] if len(out) == 1 else out
