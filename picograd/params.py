"""A layer's parameters, two ways: scalar Values per sample, two arrays on a batch.

micrograd's code reads a model's parameters one scalar Value at a time
(``model.parameters()``, ``p.data``, ``p.grad``), and the per-sample graph is built
from them. A batch step wants the opposite: the layer's weights as one (nout, nin)
array W and its biases as one array b of nout entries, two Values that a ``dense``
node reads and an optimizer updates with a few numpy calls, instead of touching a
hundred thousand Python objects one by one.

``LayerParameters`` keeps both and keeps them equal. At any time one side is *live*
and holds the numbers (data and grad); the other is *stale*. A stale Value has the
class ``Stale``, whose ``_data`` and ``_grad`` first bring the live numbers over (one
pass over the layer) and make that side live. So whichever side a program touches,
it sees the same numbers, and switching costs only when a program moves from one
side to the other: a batch loop with picograd's optimizers and ``losses.l2`` never
touches the scalars, and a per-sample loop never touches the arrays.

    W[j, i] is neuron j's weight i (``layer.neurons[j].w[i]``), b[j] its bias.

Not thread-safe: reading a stale parameter moves numbers, so while one thread trains a
model no other thread may read its parameters either (give it a ``copy.deepcopy``).
``requires_grad`` belongs to the scalars: W's is recomputed from them (one flag for the
whole array) whenever the numbers move to the arrays.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable, Sequence
from typing import Any

from .data import more_of, set_more
from .engine import Value

_DATA, _GRAD = Value.__dict__["_data"], Value.__dict__["_grad"]  # the slots themselves
_REQUIRES_GRAD = Value.__dict__["requires_grad"]
_data_of, _grad_of = operator.attrgetter("_data"), operator.attrgetter("_grad")
_is_float = float.__instancecheck__


class Stale(Value):
    """A parameter whose numbers are on the other side of its layer right now:
    reading or writing ``_data`` or ``_grad`` brings them here first."""

    __slots__ = ()

    @property  # type: ignore[override]
    def _data(self) -> Any:
        _bring(self)
        return _DATA.__get__(self)

    @_data.setter
    def _data(self, value: Any) -> None:
        _bring(self)
        _DATA.__set__(self, value)

    @property  # type: ignore[override]
    def _grad(self) -> Any:
        _bring(self)
        return _GRAD.__get__(self)

    @_grad.setter
    def _grad(self, value: Any) -> None:
        _bring(self)
        _GRAD.__set__(self, value)

    @property  # type: ignore[override]
    def requires_grad(self) -> bool:
        return _REQUIRES_GRAD.__get__(self)

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        # Freezing or unfreezing a parameter: the side it is on decides (W has one flag,
        # recomputed from the scalars whenever the numbers move to the arrays).
        _bring(self)
        _REQUIRES_GRAD.__set__(self, value)

    def __getstate__(self) -> tuple[None, dict[str, Any]]:
        # copy.deepcopy(model): the slots as they are, without bringing anything over
        state = {}
        for name in Value.__slots__:
            try:
                state[name] = Value.__dict__[name].__get__(self)
            except AttributeError:  # a slot never set
                pass
        return None, state


def _bring(v: Value) -> None:
    owner = more_of(v, "owner")
    if owner is not None:  # (None while copy.deepcopy restores v's slots)
        owner.bring(v)


class LayerParameters:
    """The parameters of one layer: its neurons' scalar Values, and W and b as arrays."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer  # its .neurons, read each time: a program may replace them
        self.W: Value | None = None  # made at the first batch
        self.b: Value | None = None
        self.live = "scalars"
        self._held: list[Value] = []
        self._held_shape = (0, 0)
        for p in self.scalars():
            if not isinstance(p, Value):
                raise TypeError(f"a neuron's weights and bias must be Values, got "
                                f"{type(p).__name__} {p!r} in {layer!r} (to change a "
                                f"weight, set its .data)")
            set_more(p, "owner", self)

    def scalars(self) -> list[Value]:
        """Every parameter as a scalar Value, in ``Layer.parameters()`` order."""
        out: list[Value] = []
        for n in self.layer.neurons:  # (list operations in C: parameters() runs per step)
            out += n.w
            out.append(n.b)
        return out

    def arrays(self) -> tuple[Value, Value]:
        """W and b, live (brought from the scalars if they were live)."""
        if self.live != "arrays":
            self._to_arrays()
        elif _DATA.__get__(self.W).shape != self._layout():  # neurons added or removed
            self._to_scalars()
            self._to_arrays()
        return self.W, self.b  # type: ignore[return-value]

    def _layout(self) -> tuple[int, int]:
        neurons = self.layer.neurons
        return len(neurons), len(neurons[0].w)

    def count(self) -> int:
        return sum(len(n.w) + 1 for n in self.layer.neurons)

    def frozen(self) -> int:
        """How many of the parameters have ``requires_grad=False``."""
        return sum(not p.requires_grad for p in self.scalars())

    def use_scalars(self) -> None:
        """Make the scalar Values live (a per-sample forward reads them directly)."""
        if self.live != "scalars":
            self._to_scalars()

    def live_values(self) -> list[Value]:
        """The live side's Values: [W, b], or the scalars."""
        return [self.W, self.b] if self.live == "arrays" else self.scalars()  # type: ignore

    def zero_grad(self) -> None:
        """Every gradient 0, on the live side (the stale side follows when it is used)."""
        for v in self.live_values():
            _GRAD.__set__(v, 0.0)

    def bring(self, v: Value) -> None:
        """Make v's side live: the stale Value v is being read or written."""
        if v is self.W or v is self.b:
            self.arrays()
        else:
            self.use_scalars()
        if type(v) is Stale:  # no longer one of this layer's parameters
            _become(v, Value)

    # ---- moving the numbers: one pass over the layer ---------------------------------
    def _shape(self, count: int) -> tuple[int, int]:
        neurons = self.layer.neurons
        nout, nin = len(neurons), len(neurons[0].w)
        if count != nout * (nin + 1):
            raise ValueError(f"a layer's neurons must all have {nin} weights and a bias "
                             f"to be held as arrays ({count} parameters for {nout} neurons)")
        return nout, nin

    def _to_arrays(self) -> None:
        import numpy as np

        scalars = self.scalars()
        nout, nin = self._shape(len(scalars))
        grads = list(map(_grad_of, scalars))
        if not all(map(_is_float, grads)):  # (np.fromiter would call float() on a Value)
            raise TypeError("a layer's parameters must hold float gradients to run on a "
                            "batch (a gradient from backward(create_graph=True) is a Value: "
                            "zero_grad() first)")
        # rows [w_j1 ... w_jn b_j], as the scalars are ordered
        data = np.fromiter(map(_data_of, scalars), float, len(scalars))
        grad = np.array(grads, dtype=float)
        data, grad = data.reshape(nout, nin + 1), grad.reshape(nout, nin + 1)
        frozen = self.frozen()
        if 0 < frozen < len(scalars):  # an array has one requires_grad for all its numbers
            raise ValueError(f"{frozen} of this layer's {len(scalars)} parameters have "
                             "requires_grad=False: a layer runs on a batch as the arrays W "
                             "and b, frozen whole or not at all; freeze every parameter of "
                             "the layer, or use MLP(..., fused=False) for this batch")
        needs = not frozen
        if self.W is None or self.b is None:
            self.W = Value(np.zeros((nout, nin)), label="W")
            self.b = Value(np.zeros(nout), label="b")
        for v, columns in ((self.W, slice(0, nin)), (self.b, nin)):
            _become(v, Value)
            old, new = _DATA.__get__(v), data[:, columns]
            if old.shape == new.shape:  # in place: an array the program holds stays W's
                old[...] = new
            else:
                _DATA.__set__(v, np.ascontiguousarray(new))
            _GRAD.__set__(v, np.ascontiguousarray(grad[:, columns]))
            v.requires_grad = needs
        for p in scalars:
            set_more(p, "owner", self)
            _become(p, Stale)
        self._held = scalars  # the Values whose numbers the arrays now hold, and their shape
        self._held_shape = (nout, nin)
        self.live = "arrays"

    def _to_scalars(self) -> None:
        import numpy as np

        W, b = self.W, self.b
        assert W is not None and b is not None
        scalars = self._held  # (the layer's neurons may have changed since)
        nout, nin = self._held_shape
        data, grad = np.empty((nout, nin + 1)), np.empty((nout, nin + 1))
        try:
            data[:, :nin], data[:, nin] = W._data, b._data
            grad[:, :nin], grad[:, nin] = W._grad, b._grad  # (0.0 after zero_grad)
        except (TypeError, ValueError):
            raise TypeError("the layer's W and b must hold float arrays of their shapes "
                            f"(W {(nout, nin)}, b {(nout,)}) and float gradients to be read "
                            "as scalar parameters") from None
        for p, x, g in zip(scalars, data.ravel().tolist(), grad.ravel().tolist()):
            if type(p) is Stale:  # (a Value put in since is not: its numbers are its own)
                _become(p, Value)
                p._data, p._grad = x, g
        for v in (W, b):
            set_more(v, "owner", self)
            _become(v, Stale)
        self.live = "scalars"


def _become(v: Value, cls: type[Value]) -> None:
    """Make v a plain Value or a Stale one (the two have the same slots)."""
    v.__class__ = cls


class Parameters(list):
    """``model.parameters()``: the scalar Values in micrograd's order; it also knows
    their layers, so that optimizers and ``losses.l2`` can use the layers' arrays.
    Changing the list makes it a plain list of Values."""

    __slots__ = ("layers",)

    def __init__(self, layers: Sequence[LayerParameters]) -> None:
        super().__init__()
        for layer in layers:
            self += layer.scalars()
        self.layers = tuple(layers)

    def _changed(self) -> None:
        self.layers = ()


def _invalidating(name: str) -> Any:
    method = getattr(list, name)

    def changed(self: Parameters, *args: Any) -> Any:
        self._changed()
        return method(self, *args)

    changed.__name__ = name
    return changed


for _name in ("__setitem__", "__delitem__", "__iadd__", "__imul__", "append", "extend",
              "insert", "pop", "remove", "clear"):
    setattr(Parameters, _name, _invalidating(_name))


def grouped(params: Iterable[Value]) -> tuple[list[LayerParameters], list[Value]]:
    """The layers all of whose parameters are in ``params``, and the other Values.

    A ``Parameters`` list answers at once; any other list is looked through.
    """
    if isinstance(params, Parameters) and params.layers:
        return list(params.layers), []
    params = list(params)
    layers: dict[int, LayerParameters] = {}
    counts: dict[int, int] = {}
    for p in params:
        owner = more_of(p, "owner")
        if isinstance(owner, LayerParameters):
            layers[id(owner)] = owner
            counts[id(owner)] = counts.get(id(owner), 0) + 1
    whole = []
    for key, layer in layers.items():
        members = {id(p) for p in layer.scalars()}
        given = {id(p) for p in params if id(p) in members}
        if len(given) == len(members) == counts[key]:  # each one, once
            whole.append(layer)
    taken = {id(p) for layer in whole for p in layer.scalars()}
    return whole, [p for p in params if id(p) not in taken]


def live_values(params: Iterable[Value]) -> list[Value]:
    """``params`` with each whole layer's scalars replaced by its live side's Values."""
    layers, rest = grouped(params)
    return [v for layer in layers for v in layer.live_values()] + rest
