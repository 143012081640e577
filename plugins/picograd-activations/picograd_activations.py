"""picograd-activations: gelu, silu, swish, softplus, elu, leaky_relu, mish, softsign, erf.

Every row follows the op contract (``picograd.op``): ``forward(x, **attrs)`` on a
float, ``backward(g, y, x, **attrs)`` returning one gradient. Each has a numpy
twin for batch mode except gelu: numpy has no erf, so gelu deliberately runs on
arrays through picograd's element-by-element fallback.

Numerically careful forms: softplus is max(x, 0) + log1p(e^-|x|) and sigmoid picks
the side where e^... cannot overflow, so softplus, silu and mish are finite for any
float x.

For second derivatives each row names ``grad_backward``: its backward written with
ops (``ops.sigmoid``, ``ops.exp``, ``ops.erf``) and constant masks where it branches.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

import picograd.ops as ops
from picograd import Op, hookimpl

SQRT_2 = math.sqrt(2.0)
SQRT_2PI = math.sqrt(2.0 * math.pi)
TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)


def _mask(condition):
    """1.0 where ``condition`` holds, else 0.0: a float for a float, an array for arrays."""
    m = np.where(condition, 1.0, 0.0)
    return float(m) if m.ndim == 0 else m


def _sigmoid(x: float) -> float:
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)  # the same value, written so exp never overflows
    return e / (1.0 + e)


def _np_sigmoid(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))


def _softplus(x: float) -> float:
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))  # log(1 + e^x), never overflows


def _np_softplus(x):
    return np.maximum(x, 0.0) + np.log1p(np.exp(-np.abs(x)))


# ---- gelu: x * Phi(x), the EXACT form with the normal CDF Phi (not the tanh fit) ----

def gelu_fwd(x: float) -> float:
    return 0.5 * x * (1.0 + math.erf(x / SQRT_2))


def gelu_bwd(g, y, x):
    # d/dx x Phi(x) = Phi(x) + x phi(x), phi the standard normal density
    cdf = 0.5 * (1.0 + math.erf(x / SQRT_2))
    return (g * (cdf + x * math.exp(-0.5 * x * x) / SQRT_2PI),)


def gelu_grad_bwd(g, y, x):
    cdf = 0.5 * (1.0 + ops.erf(x / SQRT_2))
    return (g * (cdf + x * ops.exp(-0.5 * x * x) / SQRT_2PI),)


# ---- erf: the error function, gelu's normal CDF is 0.5 (1 + erf(x / sqrt 2)) ---------

def erf_bwd(g, y, x):
    return (g * TWO_OVER_SQRT_PI * math.exp(-x * x),)  # d/dx erf(x) = 2 e^(-x^2) / sqrt(pi)


def erf_grad_bwd(g, y, x):
    return (g * TWO_OVER_SQRT_PI * ops.exp(-x * x),)


# ---- silu / swish: x * sigmoid(beta x) ----------------------------------------------

def swish_fwd(x: float, beta: float = 1.0) -> float:
    return x * _sigmoid(beta * x)


def swish_bwd(g, y, x, beta=1.0):
    s = _sigmoid(beta * x)
    return (g * (s + beta * x * s * (1.0 - s)),)  # s + x s' with s' = beta s (1 - s)


def swish_grad_bwd(g, y, x, beta=1.0):
    s = ops.sigmoid(beta * x)
    return (g * (s + beta * x * s * (1.0 - s)),)


def np_swish_fwd(x, beta=1.0):
    return x * _np_sigmoid(beta * x)


def np_swish_bwd(g, y, x, beta=1.0):
    s = _np_sigmoid(beta * x)
    return (g * (s + beta * x * s * (1.0 - s)),)


# ---- softplus: log(1 + e^x) --------------------------------------------------------

def softplus_bwd(g, y, x):
    return (g * _sigmoid(x),)  # d/dx log(1 + e^x) = sigmoid(x)


# ---- elu: x for x > 0, alpha (e^x - 1) otherwise --------------------------------------

def elu_fwd(x: float, alpha: float = 1.0) -> float:
    return x if x > 0.0 else alpha * math.expm1(x)


def elu_bwd(g, y, x, alpha=1.0):
    # NOTE: at 0 (a kink unless alpha = 1) we use the left side: alpha e^0 = alpha.
    return (g if x > 0.0 else g * alpha * math.exp(x),)


def elu_grad_bwd(g, y, x, alpha=1.0):
    pos = _mask(x.data > 0.0)
    neg = 1.0 - pos  # e^x only where x <= 0 (e^0 elsewhere), so it never overflows
    return (g * pos + g * alpha * ops.exp(x * neg) * neg,)


def np_elu_fwd(x, alpha=1.0):
    return np.where(x > 0.0, x, alpha * np.expm1(np.minimum(x, 0.0)))


def np_elu_bwd(g, y, x, alpha=1.0):
    return (np.where(x > 0.0, g, g * alpha * np.exp(np.minimum(x, 0.0))),)


# ---- leaky_relu: x for x > 0, slope x otherwise ---------------------------------------

def leaky_relu_fwd(x: float, slope: float = 0.01) -> float:
    return x if x > 0.0 else slope * x


def leaky_relu_bwd(g, y, x, slope=0.01):
    # NOTE: the kink at 0 gets the slope, as in PyTorch.
    return (g if x > 0.0 else g * slope,)


def leaky_relu_grad_bwd(g, y, x, slope=0.01):
    pos = _mask(x.data > 0.0)
    return (g * (pos + slope * (1.0 - pos)),)


# ---- mish: x tanh(softplus(x)) --------------------------------------------------------

def mish_fwd(x: float) -> float:
    return x * math.tanh(_softplus(x))


def mish_bwd(g, y, x):
    # d/dx x tanh(sp(x)) = tanh(sp) + x (1 - tanh(sp)^2) sigmoid(x)
    t = math.tanh(_softplus(x))
    return (g * (t + x * (1.0 - t * t) * _sigmoid(x)),)


def mish_grad_bwd(g, y, x):
    t = ops.tanh(ops.softplus(x))
    return (g * (t + x * (1.0 - t * t) * ops.sigmoid(x)),)


def np_mish_fwd(x):
    return x * np.tanh(_np_softplus(x))


def np_mish_bwd(g, y, x):
    t = np.tanh(_np_softplus(x))
    return (g * (t + x * (1.0 - t * t) * _np_sigmoid(x)),)


# ---- softsign: x / (1 + |x|) -------------------------------------------------------

def softsign_bwd(g, y, x):
    d = 1.0 + abs(x)
    return (g / (d * d),)  # d/dx x / (1 + |x|) = 1 / (1 + |x|)^2


OPS = [
    Op("gelu", gelu_fwd, gelu_bwd, kind="activation", grad_backward=gelu_grad_bwd,
       samples=[(0.5,), (-1.3,), (2.2,)],
       derivative="Phi(x) + x * phi(x)",
       doc="x * Phi(x), exact (erf) form; arrays run element by element"),
    Op("silu", swish_fwd, swish_bwd, kind="activation", array_forward=np_swish_fwd,
       array_backward=np_swish_bwd, grad_backward=swish_grad_bwd,
       samples=[(0.5,), (-2.0,)], derivative="s + x * s * (1 - s), s = sigmoid(x)",
                                  doc="x * sigmoid(x)"),
    Op("swish", swish_fwd, swish_bwd, kind="activation", attrs={"beta": 1.0},
       array_forward=np_swish_fwd, array_backward=np_swish_bwd, grad_backward=swish_grad_bwd,
       samples=[(0.5,), (-2.0,)], derivative="s + beta * x * s * (1 - s), s = sigmoid(beta * x)",
                                  doc="x * sigmoid(beta * x); beta=1 is silu"),
    Op("softplus", _softplus, softplus_bwd, kind="activation", array_forward=_np_softplus,
       array_backward=lambda g, y, x: (g * _np_sigmoid(x),),
       grad_backward=lambda g, y, x: (g * ops.sigmoid(x),),
       samples=[(0.5,), (-3.0,), (4.0,)], derivative="sigmoid(x)",
                                          doc="log(1 + e^x), overflow-free"),
    Op("elu", elu_fwd, elu_bwd, kind="activation", attrs={"alpha": 1.0},
       array_forward=np_elu_fwd, array_backward=np_elu_bwd, grad_backward=elu_grad_bwd,
       samples=[(0.5,), (-1.5,)], derivative="1 if x > 0 else alpha * e**x",
                                  doc="x if x > 0 else alpha * (e^x - 1)"),
    Op("leaky_relu", leaky_relu_fwd, leaky_relu_bwd, kind="activation",
       attrs={"slope": 0.01}, array_forward=lambda x, slope=0.01: np.where(x > 0.0, x, slope * x),
       array_backward=lambda g, y, x, slope=0.01: (np.where(x > 0.0, g, g * slope),),
       grad_backward=leaky_relu_grad_bwd,
       samples=[(0.5,), (-1.5,)], derivative="1 if x > 0 else slope",
                                  doc="x if x > 0 else slope * x"),
    Op("mish", mish_fwd, mish_bwd, kind="activation", array_forward=np_mish_fwd,
       array_backward=np_mish_bwd, grad_backward=mish_grad_bwd,
       samples=[(0.5,), (-2.5,), (3.0,)],
       derivative="t + x * (1 - t**2) * sigmoid(x), t = tanh(softplus(x))",
                                          doc="x * tanh(softplus(x)), overflow-free"),
    Op("softsign", lambda x: x / (1.0 + abs(x)), softsign_bwd, kind="activation",
       array_forward=lambda x: x / (1.0 + np.abs(x)),
       array_backward=lambda g, y, x: (g / (1.0 + np.abs(x)) ** 2,), grad_backward=True,
       samples=[(0.5,), (-2.0,)], derivative="1 / (1 + |x|)**2",
                                  doc="x / (1 + |x|)"),
    Op("erf", math.erf, erf_bwd, grad_backward=erf_grad_bwd, samples=[(0.5,), (-1.3,)],
       derivative="2 / sqrt(pi) * e**(-x**2)",
       doc="the error function (gelu's CDF needs it for second derivatives)"),
]


@hookimpl
def picograd_register_ops(register: Callable[..., None]) -> None:
    for op in OPS:
        register(op)
