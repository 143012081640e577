"""Losses over a batch: ``picograd.losses.<name>(scores, targets) -> Value``.

    data_loss = losses.hinge(scores, ys)            # mean of max(0, 1 - y*s)
    data_loss = losses.get("logistic")(scores, ys)  # any registered loss, by name
    data_loss = losses.huber(scores, ys, delta=0.5) # a plugin's loss and its attribute
    total = data_loss + 1e-4 * losses.l2(model.parameters())

Each loss is a registered op of kind "loss" (``picograd_ops/losses.py``, or a
plugin), taking one score and one target. Here it is applied per sample and
averaged. ``scores`` is a list of Values (one graph per sample, like micrograd) or
a single batch-valued Value (batch mode), and ``targets`` the matching numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from . import ops
from .active import active_registry
from .engine import Value
from .params import live_values

__all__ = ["bce", "get", "hinge", "l2", "logistic", "mean", "mse", "names"]


def names() -> list[str]:
    """The registered losses (ops of kind "loss"), built-in and plugin."""
    return sorted(n for n, op in active_registry().ops.items() if op.kind == "loss")


def get(name: str) -> Callable[..., Value]:
    """The loss registered as ``name``, as a function ``(scores, targets, **attrs) ->
    Value``; ``attrs`` are the loss's attributes (huber's ``delta``)."""
    op = active_registry().ops.get(name) if isinstance(name, str) else None
    if op is None or op.kind != "loss":
        raise ValueError(f"unknown loss {name!r}; available losses: {', '.join(names())}")
    if op.arity != 2:
        raise ValueError(f"loss {name!r} does not take (score, target) (it takes "
                         f"{op.arity or 'any number of'} inputs): call picograd.ops.{name}")

    def loss(scores: Any, targets: Any, **attrs: Any) -> Value:
        return average(name, scores, targets, **attrs)

    loss.__name__ = name
    loss.__doc__ = f"The mean of the '{name}' loss over a batch: {op.doc}"
    return loss


def __getattr__(name: str) -> Callable[..., Value]:
    """``losses.<name>`` for any registered loss, plugin ones included (as ``get(name)``)."""
    if name.startswith("_"):  # dunders and private names are never losses
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    try:
        return get(name)
    except ValueError as e:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}: {e}") from None


def average(name: str, scores: Any, targets: Any, **attrs: Any) -> Value:
    """The mean of the registered loss ``name`` over scores and their targets; ``attrs``
    are the loss's attributes (e.g. huber's ``delta``)."""
    fn = getattr(ops, name)
    if attrs:
        def fn(s: Any, t: Any, _loss: Any = fn) -> Value:  # type: ignore[misc]
            return _loss(s, t, **attrs)
    if isinstance(scores, Value):
        shape, target_shape = _shape(scores.data), _shape(targets)
        if shape != target_shape:
            raise ValueError(f"{name}: scores have shape {shape} but targets {target_shape}")
        return mean(fn(scores, targets)) if shape else fn(scores, targets)
    scores, targets = list(scores), list(targets)
    if len(scores) != len(targets) or not scores:
        raise ValueError(f"{name}: got {len(scores)} scores and {len(targets)} targets")
    return sum(fn(s, t) for s, t in zip(scores, targets)) * (1.0 / len(scores))


def hinge(scores: Any, targets: Any) -> Value:
    """The SVM max-margin loss, mean of max(0, 1 - t*s); targets in {-1, +1}."""
    return average("hinge", scores, targets)


def logistic(scores: Any, targets: Any) -> Value:
    """Logistic loss on raw scores, mean of log(1 + e^(-t*s)); targets in {-1, +1}."""
    return average("logistic", scores, targets)


def bce(probabilities: Any, targets: Any) -> Value:
    """Binary cross-entropy of probabilities in (0, 1) against targets in [0, 1]."""
    return average("bce", probabilities, targets)


def mse(scores: Any, targets: Any) -> Value:
    """Mean squared error, mean of (s - t)^2."""
    return average("mse", scores, targets)


def l2(params: Iterable[Value]) -> Value:
    """The sum of squares of ``params`` (weight decay as a loss term), as one node.

    A whole layer's parameters count as its arrays W and b when those are live (after
    a batch forward): the same sum, with two inputs instead of one per parameter.
    """
    return ops.sumsq(*live_values(params))  # 0 + p1 p1 + ... + pn pn


def mean(v: Value) -> Value:
    """The mean of a batch-valued Value, as a scalar Value (a float stays itself)."""
    return ops.mean(v)  # the registered reduction (picograd_ops/reductions.py)


def _shape(x: Any) -> tuple:
    import numpy as np

    return np.shape(x)
