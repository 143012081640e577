"""picograd-losses: huber, softmax cross-entropy (one sample or a batch) and squared_hinge.

Like picograd's built-in losses, each op is a per-sample ``loss(score, target)``
except the cross-entropies: ``softmax_cross_entropy`` takes any number of logits and
the target class as an attribute, ``soft_cross_entropy`` k logits then k target
probabilities, as inputs. ``cross_entropy(logits, targets)`` is the mean over a batch
with integer classes, PyTorch's habit. squared_hinge is written only with other ops, so
it needs no backward. Each ``*_grad_bwd`` is its backward written with ops, for second
derivatives.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any, NoReturn

import numpy as np

import picograd
import picograd.ops as ops
from picograd import Op, Value, hookimpl
from picograd.errors import add_note, op_note

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


# ---- soft_cross_entropy: -sum_j p_j log softmax(z)_j, the targets p as inputs ---------
#
# The inputs are k logits z then k target probabilities p (a one-hot p is the class
# target): per-class floats or batch Values of one shape, or, in batch mode, two
# (batch, k) matrices. p is an input, not an attribute, so a batch can mix classes in
# one node, and its gradient is real: d/dp_j = -log softmax(z)_j.

def _halves(xs: tuple) -> tuple[tuple, tuple]:
    if len(xs) % 2:
        raise ValueError(f"soft_cross_entropy takes k logits then k target probabilities "
                         f"(an even number of inputs), got {len(xs)}")
    k = len(xs) // 2
    return xs[:k], xs[k:]


def soft_xent_fwd(*xs: float) -> float:
    z, p = _halves(xs)
    m = max(z)
    log_s = math.log(math.fsum(math.exp(zj - m) for zj in z))
    return math.fsum(pj * (log_s - (zj - m)) for zj, pj in zip(z, p))  # -log softmax_j = lse - z_j


def soft_xent_bwd(g, y, *xs):
    # d/dz_i = (sum_j p_j) softmax(z)_i - p_i;  d/dp_j = lse - z_j
    z, p = _halves(xs)
    m = max(z)
    lse = m + math.log(math.fsum(math.exp(zj - m) for zj in z))
    total = math.fsum(p)
    return (*(g * (total * math.exp(zi - lse) - pi) for zi, pi in zip(z, p)),
            *(g * (lse - zj) for zj in z))


def _classes(xs: tuple) -> tuple[np.ndarray, np.ndarray, bool]:
    """The logits (a copy of them, ours to change) and the targets as arrays of one row
    per class, (k, ...), and whether they came as two (batch, k) matrices (else as 2k
    batch Values)."""
    # NOTE: rows, not columns: numpy reduces over the first axis of a C array ~10x
    # faster than over a short last one (max and sum over 10 classes of 10,000 rows).
    if len(xs) == 2 and np.ndim(xs[0]) == np.ndim(xs[1]) == 2:
        return np.array(xs[0].T, order="C"), np.ascontiguousarray(xs[1].T), True
    if len(xs) == 2 and 2 in (np.ndim(xs[0]), np.ndim(xs[1])):
        raise ValueError(f"soft_cross_entropy takes two (batch, k) matrices or 2k batch "
                         f"Values, got shapes {np.shape(xs[0])} and {np.shape(xs[1])}")
    z, p = _halves(xs)
    zp = np.stack(np.broadcast_arrays(*xs))  # one row per input
    return zp[:len(z)], zp[len(z):], False


# The array twins work in place where they can: on this machine a fresh array the size
# of the batch costs more than the arithmetic on it (bench_cross_entropy.py).

def np_soft_xent_fwd(*xs):
    z, p, _ = _classes(xs)
    z -= z.max(axis=0)  # shifted: no exp overflows
    picked = np.einsum("ij,ij->j", p, z)  # sum_j p_j shifted_j
    log_s = np.log(np.exp(z, out=z).sum(axis=0))
    return p.sum(axis=0) * log_s - picked  # sum_j p_j (log s - shifted_j)


def np_soft_xent_bwd(g, y, *xs):
    z, p, matrices = _classes(xs)
    z -= z.max(axis=0)
    gz = np.exp(z)
    s = gz.sum(axis=0)
    gz *= p.sum(axis=0) / s  # (sum p) softmax
    gz -= p
    gz *= g
    gp = np.subtract(np.log(s), z, out=z)  # -log softmax
    gp *= g
    return (gz.T, gp.T) if matrices else (*gz, *gp)


def soft_xent_grad_bwd(g, y, *xs):
    if len(xs) == 2 and np.ndim(xs[0].data) == np.ndim(xs[1].data) == 2:  # matrices
        k = xs[0].shape[1]
        grads = soft_xent_grad_bwd(g, y, *(ops.column(M, index=j) for M in xs for j in range(k)))
        return _stacked(grads[:k]), _stacked(grads[k:])
    z, p = _halves(xs)
    m = functools.reduce(np.maximum, [v.data for v in z])  # a constant: lse is the same
    lse = sum(ops.exp(zj - m) for zj in z).log() + m
    total = sum(p[1:], p[0])
    return (*(g * (total * ops.exp(zi - lse) - pi) for zi, pi in zip(z, p)),
            *(g * (lse - zj) for zj in z))


def _stacked(columns):
    if len(columns) > 1:
        return ops.columns(*columns)
    zeros = np.zeros(columns[0].shape)  # (batch, 1): the column beside zeros, times (1, 0)
    return ops.dense(1.0, 0.0, 0.0, ops.columns(columns[0], zeros), nout=1)


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
    Op("soft_cross_entropy", soft_xent_fwd, soft_xent_bwd, kind="loss", arity=None,
       array_forward=np_soft_xent_fwd, array_backward=np_soft_xent_bwd,
       grad_backward=soft_xent_grad_bwd,
       samples=[(0.5, -1.0, 2.0, 0.0, 1.0, 0.0), (1.5, 0.3, -0.7, 0.2, 0.6, 0.5),
                (-0.4, 0.9, 1.0, 0.0)],
       derivative="(sum p) softmax(z)_i - p_i for a logit z_i; -log softmax(z)_j for p_j",
       doc="-sum_j p_j log softmax(z)_j; inputs: k logits z, then k target probabilities p"),
    Op("squared_hinge", squared_hinge, None, kind="loss", arity=2,
       samples=[(0.3, 1.0), (0.5, -1.0), (2.0, 1.0)],
       derivative=("-2 * t * hinge(s, t)", "-2 * s * hinge(s, t)"),
       doc="max(0, 1 - t*s)^2, t in {-1, +1}; composite of hinge and pow"),
]


# ---- cross_entropy(logits, targets): the batch mean, with integer classes -------------

def cross_entropy(logits: Any, targets: Any) -> Value:
    """The mean softmax cross-entropy over a batch, as PyTorch's ``cross_entropy``.

    ``logits`` is a list of k batch Values of shape (batch,) (what ``MLP(nin, [...,
    k])(X)`` returns), or one (batch, k) Value or array; ``targets`` the classes, ints
    of shape (batch,) (-k <= t < k, as ``target=`` takes them), or class
    probabilities of shape (batch, k). One node, ``soft_cross_entropy``, computes
    every sample, then ``mean``. On one sample (k floats or scalar Values and an int
    class) it is ``softmax_cross_entropy(*logits, target=t)``, and on a list of such
    samples (one graph each, micrograd's way) their mean.
    """
    if isinstance(logits, (Value, np.ndarray)):  # one (batch, k) matrix
        shape = np.shape(getattr(logits, "data", logits))
        if len(shape) != 2:
            _fail(ValueError(f"cross_entropy takes logits of shape (batch, k) or a list of "
                             f"k logits, got one of shape {shape}"), logits, targets)
        P = _probabilities(targets, shape[:1], shape[1], logits)
        return ops.mean(ops.soft_cross_entropy(logits, P))
    columns = list(logits)
    if columns and isinstance(columns[0], (list, tuple)):  # a list of logits per sample
        return _per_sample(columns, targets)
    shapes = [np.shape(getattr(z, "data", z)) for z in columns]
    if not columns or any(len(s) > 1 for s in shapes):
        _fail(ValueError(f"cross_entropy takes a list of k logits, each a number or a batch "
                         f"of shape (batch,), got shapes {shapes}"), columns, targets)
    batch = max(shapes, key=len)
    if not batch:  # one sample: the per-sample op, its target class an int
        return ops.softmax_cross_entropy(*columns, target=_int(targets))
    P = _probabilities(targets, batch, len(columns), columns)
    return ops.mean(ops.soft_cross_entropy(*columns, *P.T))


def _per_sample(samples: list, targets: Any) -> Value:
    """micrograd's way: one graph per sample, the mean of softmax_cross_entropy."""
    targets = list(targets)
    if len(targets) != len(samples):
        _fail(ValueError(f"cross_entropy got {len(samples)} samples of logits and "
                         f"{len(targets)} targets"), samples, targets)
    total = sum(ops.softmax_cross_entropy(*z, target=_int(t)) for z, t in zip(samples, targets))
    return total * (1.0 / len(samples))


def _int(target: Any) -> Any:
    return int(target) if isinstance(target, np.integer) else target  # numpy's ints too


def _probabilities(targets: Any, batch: tuple, k: int, logits: Any) -> np.ndarray:
    """The targets as (batch, k) class probabilities: integer classes one-hot."""
    t = np.asarray(targets)
    if t.shape == (*batch, k) and t.dtype.kind == "f":
        return t
    if t.shape != batch or t.dtype.kind not in "iu":
        _fail(TypeError(f"targets must be integer classes of shape {batch} or class "
                        f"probabilities of shape {(*batch, k)}, got {t.dtype} of shape "
                        f"{t.shape}"), logits, targets)
    onehot = np.zeros((k, len(t)))  # rows (k, batch), returned as (batch, k): see _classes
    try:  # (a class -k <= t < 0 counts from the end, as a Python index does)
        onehot[t, np.arange(len(t))] = 1.0
    except IndexError:
        bad = (t < -k) | (t >= k)
        where = np.flatnonzero(bad)
        others = f"; {len(where)} of {t.size} entries fail" if len(where) > 1 else ""
        _fail(IndexError(f"target class {t[where[0]]} at entry [{where[0]}] is not one of "
                         f"the {k} logits{others}"), logits, targets)
    return onehot.T


def _fail(e: Exception, logits: Any, targets: Any) -> NoReturn:
    """Raise ``e`` with the note every op error has: which op, from which plugin."""
    try:
        provider = picograd.active_registry().get("soft_cross_entropy").provider
    except Exception:  # not registered where the error happens: say whose op it is
        provider = "picograd-losses"
    shape = getattr(getattr(logits, "data", logits), "shape", None)
    if shape is not None:
        given = f"array{shape}"
    else:  # a list: of logits, or of samples of logits
        per_sample = logits and isinstance(logits[0], (list, tuple))
        given = f"{len(logits)} {'samples of logits' if per_sample else 'logits'}"
    what = f"cross_entropy({given}, targets of shape {np.shape(targets)}) failed"
    add_note(e, op_note("soft_cross_entropy", provider, what))
    raise e


@hookimpl
def picograd_register_ops(register: Callable[..., None]) -> None:
    for op in OPS:
        register(op)
