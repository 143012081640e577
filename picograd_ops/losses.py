"""Built-in losses (kind "loss"), registered with the other built-in ops.

Each loss is a per-sample op ``loss(score, target)``; ``picograd.losses`` maps it
over a batch and averages. The target is an input like the score (a constant in
practice, so the engine never adds its gradient anywhere), which lets one row work
for scalars and, by broadcasting, for numpy arrays of scores and targets.
"""

from __future__ import annotations

import math

import numpy as np

from picograd import Op
from picograd import ops as F

from .nn_ops import relu_slope

# ---- hinge: the SVM max-margin loss of micrograd's demo, targets in {-1, +1} ----------

def hinge_fwd(s: float, t: float) -> float:
    y = 1.0 - t * s
    return 0.0 if y <= 0.0 else y  # max(0, y), but NaN stays NaN


def hinge_bwd(g, y, s, t):
    # NOTE: the kink at t*s = 1 gets the gradient 0, like relu at 0 (and micrograd).
    if y > 0.0:
        return -g * t, -g * s
    return (0.0, 0.0) if y == y else (y, y)  # at NaN, NaN


def hinge_grad_bwd(g, y, s, t):
    on = relu_slope(y.data)  # 1 on the sloped side, 0 on the flat side (NaN at NaN)
    return -g * t * on, -g * s * on


def hinge_array_bwd(g, y, s, t):
    on, off = y > 0.0, 0.0 * y  # off: 0, or NaN where y is NaN (as the scalar row)
    return np.where(on, -g * t, off), np.where(on, -g * s, off)


# ---- logistic: log(1 + e^(-t s)), the cross-entropy of sigmoid(t s), targets in {-1, +1}

def logistic_fwd(s: float, t: float) -> float:
    z = -t * s
    return max(z, 0.0) + math.log1p(math.exp(-abs(z)))  # softplus(z), never overflows


def logistic_bwd(g, y, s, t):
    # d/dz softplus(z) = sigmoid(z), written as 1 - e^(-y) so no exp can overflow
    sig = -math.expm1(-y)
    return (-g * t * sig, -g * s * sig)


def logistic_grad_bwd(g, y, s, t):
    sig = F.sigmoid(-t * s)  # 1 - e^(-y), written with ops
    return -g * t * sig, -g * s * sig


def logistic_array_fwd(s, t):
    z = -t * s
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z)))


def logistic_array_bwd(g, y, s, t):
    sig = -np.expm1(-y)
    return -g * t * sig, -g * s * sig


# ---- bce: binary cross-entropy of a probability p in (0, 1) and a target in [0, 1] ------

def bce_fwd(p: float, t: float) -> float:
    if not 0.0 < p < 1.0:
        raise ValueError("bce needs a probability 0 < p < 1 (use 'logistic' on raw scores)")
    return -(t * math.log(p) + (1.0 - t) * math.log1p(-p))


def bce_bwd(g, y, p, t):
    # d/dp = (p - t) / (p (1 - p));  d/dt = log(1 - p) - log(p)
    return (g * (p - t) / (p * (1.0 - p)), g * (math.log1p(-p) - math.log(p)))


def bce_grad_bwd(g, y, p, t):
    return g * (p - t) / (p * (1.0 - p)), g * (F.log(1.0 - p) - F.log(p))  # on Values


def bce_array_fwd(p, t):
    if not np.all((p > 0.0) & (p < 1.0)):  # NaN too, as the scalar row
        raise ValueError("bce needs probabilities 0 < p < 1 (use 'logistic' on raw scores)")
    return -(t * np.log(p) + (1.0 - t) * np.log1p(-p))


def bce_array_bwd(g, y, p, t):
    return g * (p - t) / (p * (1.0 - p)), g * (np.log1p(-p) - np.log(p))


# ---- mse: the squared error (s - t)^2 (averaged by picograd.losses.mse) ---------------

def mse_bwd(g, y, s, t):
    d = 2.0 * g * (s - t)  # d/ds (s - t)^2 = 2 (s - t) = -d/dt
    return d, -d


def mse_fwd(s, t):
    return (s - t) * (s - t)


LOSSES: list[Op] = [
    Op("hinge", hinge_fwd, hinge_bwd, kind="loss", arity=2,
       array_forward=lambda s, t: np.maximum(0.0, 1.0 - t * s), array_backward=hinge_array_bwd,
       grad_backward=hinge_grad_bwd,
       samples=[(0.3, 1.0), (0.5, -1.0), (2.0, 1.0)],
       derivative=("-t if t*s < 1 else 0", "-s if t*s < 1 else 0"),
                                                      doc="max(0, 1 - t*s), t in {-1, +1}"),
    Op("logistic", logistic_fwd, logistic_bwd, kind="loss", arity=2,
       array_forward=logistic_array_fwd, array_backward=logistic_array_bwd,
       grad_backward=logistic_grad_bwd,
       samples=[(0.3, 1.0), (-2.0, 1.0), (1.5, -1.0)],
       derivative=("-t * sigmoid(-t*s)", "-s * sigmoid(-t*s)"),
                                                       doc="log(1 + e^(-t*s)), t in {-1, +1}"),
    Op("bce", bce_fwd, bce_bwd, kind="loss", arity=2,
       array_forward=bce_array_fwd, array_backward=bce_array_bwd, grad_backward=bce_grad_bwd,
       samples=[(0.3, 1.0), (0.8, 0.0), (0.6, 0.25)],
       derivative=("(p - t) / (p * (1 - p))", "log(1 - p) - log(p)"),
       doc="-(t log p + (1-t) log(1-p)), p in (0, 1), t in [0, 1]"),
    Op("mse", mse_fwd, mse_bwd, kind="loss", arity=2, vectorized=True, grad_backward=True,
       samples=[(0.3, 1.0), (-1.5, 0.5)], derivative=("2 * (s - t)", "-2 * (s - t)"),
                                          doc="(s - t)^2"),
]
