"""picograd-losses: huber, softmax_cross_entropy and squared_hinge (a composite).

Like picograd's built-in losses, each is a per-sample ``loss(score, target)``
except the cross-entropy, which takes any number of logits and the target class as
an attribute. squared_hinge is written only with other ops, so it needs no backward.
Each ``*_grad_bwd`` is its backward written with ops, for second derivatives.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

import picograd.ops as ops
from picograd import Op, hookimpl

# ---- huber: 0.5 r^2 near 0, linear beyond delta (r = score - target) ----------------

def huber_fwd(s: float, t: float, delta: float = 1.0) -> float:
    r = s - t
    return 0.5 * r * r if abs(r) <= delta else delta * (abs(r) - 0.5 * delta)


def huber_bwd(g, y, s, t, delta=1.0):
    r = s - t
    # the clipped residual; a NaN residual stays NaN (as np.clip keeps it in batch mode)
    d = g * r if abs(r) <= delta or r != r else g * delta * math.copysign(1.0, r)
    return d, -d


def huber_grad_bwd(g, y, s, t, delta=1.0):
    r = s - t
    near = np.where(np.abs(r.data) <= delta, 1.0, 0.0)  # constants: steps have slope 0
    far = (1.0 - near) * np.copysign(1.0, r.data)
    d = g * r * _number(near) + g * delta * _number(far)
    return d, -d


def _number(x):
    return float(x) if np.ndim(x) == 0 else x  # a float stays a float


def np_huber_fwd(s, t, delta=1.0):
    r = np.abs(s - t)
    return np.where(r <= delta, 0.5 * r * r, delta * (r - 0.5 * delta))


def np_huber_bwd(g, y, s, t, delta=1.0):
    d = g * np.clip(s - t, -delta, delta)
    return d, -d


# ---- softmax_cross_entropy: -log softmax(z)[target] over the logits z ----------------

def _target(n: int, target: int) -> int:
    if isinstance(target, bool) or not isinstance(target, int):
        raise TypeError(f"target class {target!r} must be an int (the index of a logit)")
    if not -n <= target < n:
        raise IndexError(f"target class {target!r} is not one of the {n} logits")
    return target % n


def xent_fwd(*z: float, target: int = 0) -> float:
    # log sum_j e^z_j - z_target, with the max taken out so no exp overflows
    k, m = _target(len(z), target), max(z)
    return m + math.log(math.fsum(math.exp(zj - m) for zj in z)) - z[k]


def xent_bwd(g, y, *z, target=0):
    # d/dz_i = softmax(z)_i - [i == target], and softmax(z)_i = e^(z_i - lse)
    k = _target(len(z), target)
    lse = y + z[k]
    return tuple(g * (math.exp(zi - lse) - (i == k)) for i, zi in enumerate(z))


def xent_grad_bwd(g, y, *z, target=0):
    k = _target(len(z), target)
    lse = y + z[k]
    return tuple(g * (ops.exp(zi - lse) - (i == k)) for i, zi in enumerate(z))


def np_xent_fwd(*z, target=0):
    k = _target(len(z), target)
    z = np.stack(np.broadcast_arrays(*z))  # one row per logit
    m = z.max(axis=0)
    return m + np.log(np.exp(z - m).sum(axis=0)) - z[k]


def np_xent_bwd(g, y, *z, target=0):
    k = _target(len(z), target)
    lse = y + z[k]
    return tuple(g * (np.exp(zi - lse) - (i == k)) for i, zi in enumerate(z))


# ---- squared_hinge: hinge(s, t)^2, built from the built-in hinge op ------------------

def squared_hinge(s, t):
    return ops.hinge(s, t) ** 2  # composite: the engine differentiates it for free


OPS = [
    Op("huber", huber_fwd, huber_bwd, kind="loss", arity=2, attrs={"delta": 1.0},
       array_forward=np_huber_fwd, array_backward=np_huber_bwd, grad_backward=huber_grad_bwd,
       samples=[(0.3, 1.0), (2.5, -0.5), (-1.0, 0.2)],
       derivative=("clip(s - t, -delta, delta)", "-clip(s - t, -delta, delta)"),
       doc="0.5 r^2 if |r| <= delta else delta (|r| - delta/2), r = s - t"),
    Op("softmax_cross_entropy", xent_fwd, xent_bwd, kind="loss", arity=None,
       attrs={"target": 0}, array_forward=np_xent_fwd, array_backward=np_xent_bwd,
       grad_backward=xent_grad_bwd,
       samples=[(0.5, -1.0, 2.0), (1.5, 0.3, -0.7)],
       derivative="softmax(z)_i - (1 if i == target else 0)",
       doc="-log softmax(logits)[target]; any number of logits, target class attribute"),
    Op("squared_hinge", squared_hinge, None, kind="loss", arity=2,
       samples=[(0.3, 1.0), (0.5, -1.0), (2.0, 1.0)],
       derivative=("-2 * t * hinge(s, t)", "-2 * s * hinge(s, t)"),
       doc="max(0, 1 - t*s)^2, t in {-1, +1}; composite of hinge and pow"),
]


@hookimpl
def picograd_register_ops(register: Callable[..., None]) -> None:
    for op in OPS:
        register(op)
