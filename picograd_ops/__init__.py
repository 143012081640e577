"""picograd's built-in ops, registered through the same hook as any third-party plugin.

Each row is ``Op(name, forward, backward, ...)``. The calling convention (see
``picograd.op``): ``forward(*xs) -> y`` on plain floats, and
``backward(g, y, *xs) -> (g * dy/dx1, ...)``, one gradient per input.
``vectorized=True`` marks rows whose plain arithmetic also works on numpy arrays;
the others name their numpy forward (``array_forward``) for batch mode.
``grad_backward=True`` marks rows whose backward also works on Values (second
derivatives); the others name a backward written with ops (``*_grad_bwd``).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable

import numpy as np

from picograd import Op, hookimpl
from picograd import ops as F

from .losses import LOSSES
from .nn_ops import NN_OPS, relu_slope, where
from .reductions import REDUCTIONS

# ---- arithmetic ----------------------------------------------------------------------

def pow_fwd(a: float, b: float) -> float:
    if a == 0.0 and b < 0.0:
        raise ZeroDivisionError("0 cannot be raised to a negative power")
    if a < 0.0 and not float(b).is_integer():
        raise ValueError("a negative base needs an integer exponent (the result is not real)")
    try:
        return a**b
    except OverflowError:
        raise OverflowError("the result is too large for a float") from None


def pow_bwd(g, y, a, b):
    # d/da a^b = b a^(b-1);  d/db a^b = a^b ln a, which only exists for a > 0.
    # NOTE: at a = 0 the exponent's gradient is 0 (0^b is flat in b for b > 0); for
    # a < 0 it does not exist: NaN (see "Numeric policy" in the README).
    da = 0.0 if b == 0.0 else g * b * _ieee_pow(a, b - 1.0)
    db = g * y * math.log(a) if a > 0.0 else (0.0 if a == 0.0 else math.nan)
    return da, db


def _ieee_pow(a, b):
    # a^b, but +-inf where Python raises: 0^(b<0) is infinite (the slope of sqrt at 0),
    # and a huge a^b overflows. Backward never fails where forward succeeded.
    try:
        return a**b
    except (OverflowError, ZeroDivisionError):
        with np.errstate(all="ignore"):
            return float(np.power(a, b))


def pow_grad_bwd(g, y, a, b):
    # pow_bwd with ops, so its slopes are differentiated too. ln a only where a > 0:
    # elsewhere it is taken of 1 (a constant mask keeps a's slope there 0), and the
    # exponent's gradient is 0 at a = 0 and NaN for a < 0 (and so are its slopes).
    pos = where(a.data > 0.0, 1.0, 0.0)
    nan = where(a.data < 0.0, math.nan, 0.0)
    da = g * b * a ** (b - 1.0) if a.requires_grad else 0.0  # (a constant base may be 0)
    db = g * y * (F.log(a * pos + (1.0 - pos)) + nan) if b.requires_grad else 0.0
    return da, db


def pow_array_fwd(a, b):
    return np.power(a, b)


def pow_array_bwd(g, y, a, b):
    with np.errstate(divide="ignore", invalid="ignore"):
        da = np.where(b == 0.0, 0.0, g * b * np.power(a, b - 1.0))
        db = np.where(a > 0.0, g * y * np.log(np.where(a > 0.0, a, 1.0)),
                      np.where(a == 0.0, 0.0, np.nan))
    return da, db


def div_fwd(a: float, b: float) -> float:
    if b == 0.0:
        raise ZeroDivisionError("division by zero")
    return a / b


ARITHMETIC = [
    Op("add", operator.add, lambda g, y, a, b: (g, g), arity=2, vectorized=True,
       grad_backward=True, samples=[(1.5, -2.0)], derivative=("1", "1"),
                                                  doc="a + b"),
    Op("sub", operator.sub, lambda g, y, a, b: (g, -g), arity=2, vectorized=True,
       grad_backward=True, samples=[(1.5, -2.0)], derivative=("1", "-1"),
                                                  doc="a - b"),
    Op("mul", operator.mul, lambda g, y, a, b: (g * b, g * a), arity=2, vectorized=True,
       grad_backward=True, samples=[(1.5, -2.0)], derivative=("b", "a"),
                                                  doc="a * b"),
    Op("div", div_fwd, lambda g, y, a, b: (g / b, -g * y / b),  # d(a/b)/db = -a/b^2
       arity=2, array_forward=operator.truediv,
       array_backward=lambda g, y, a, b: (g / b, -g * y / b), grad_backward=True,
       samples=[(1.5, -2.0), (-3.0, 0.5)], derivative=("1 / b", "-a / b**2"),
                                           doc="a / b"),
    Op("pow", pow_fwd, pow_bwd, arity=2, array_forward=pow_array_fwd,
       array_backward=pow_array_bwd, grad_backward=pow_grad_bwd,
       samples=[(1.5, 2.0), (2.0, -1.5), (0.7, 0.5)], derivative=("b * a**(b-1)", "a**b * log(a)"),
                                                      doc="a ** b"),
    Op("neg", operator.neg, lambda g, y, x: (-g,), vectorized=True, grad_backward=True,
       samples=[(1.5,)], derivative="-1",
                         doc="-x"),
]


# ---- elementwise math ------------------------------------------------------------------

def log_fwd(x: float) -> float:
    if x <= 0.0:
        raise ValueError("log is only defined for x > 0")
    return math.log(x)


def sqrt_fwd(x: float) -> float:
    if x < 0.0:
        raise ValueError("sqrt is only defined for x >= 0")
    return math.sqrt(x)


def sqrt_bwd(g, y, x):
    # d/dx sqrt(x) = 1 / (2 sqrt(x)), which is +inf at 0 (IEEE: g / 0 = +-inf, 0 / 0 = NaN)
    return (g * 0.5 / y if y != 0.0 else g * math.inf,)


def sqrt_array_bwd(g, y, x):
    # NOTE: |y|, as sqrt(-0.0) is -0.0: the slope there is +inf, as on a float
    return (g * 0.5 / np.abs(y),)


def abs_bwd(g, y, x):
    return (g * _sign(x),)


def _sign(x):
    # NOTE: abs has a kink at 0; like PyTorch we use the subgradient 0 there.
    # The sign of NaN is NaN (as numpy's), so a NaN never turns into a gradient of 0.
    return (x > 0) - (x < 0) if x == x else x


def exp_fwd(x: float) -> float:
    try:
        return math.exp(x)
    except OverflowError:  # x > 709.78, the log of the largest float
        raise OverflowError("e ** x is too large for a float (x > 709.78)") from None


def exp_bwd(g, y, x):
    return (g * y,)  # d/dx e^x = e^x, which forward already computed


def abs_grad_bwd(g, y, x):
    sign = _sign(x.data) if x.data.__class__ is float else np.sign(x.data)
    return (g * sign,)  # the sign is a step: its own slope is 0


MATH = [
    Op("exp", exp_fwd, exp_bwd, array_forward=np.exp, array_backward=exp_bwd,
       grad_backward=True, samples=[(0.5,), (-2.0,)], derivative="e**x",
                                                      doc="e ** x"),
    Op("log", log_fwd, lambda g, y, x: (g / x,), array_forward=np.log,
       array_backward=lambda g, y, x: (g / x,), grad_backward=True,
       samples=[(0.5,), (3.0,)], derivative="1 / x",
                                 doc="natural logarithm, x > 0"),
    # NOTE: with Values, the slope at 0 is 0.5 / 0: an error (create_graph), not inf.
    Op("sqrt", sqrt_fwd, sqrt_bwd, array_forward=np.sqrt,
       array_backward=sqrt_array_bwd,
       grad_backward=lambda g, y, x: (g * 0.5 / y,), samples=[(0.5,), (4.0,)],
       derivative="1 / (2 * sqrt(x))",
       doc="square root, x >= 0"),
    Op("abs", abs, abs_bwd, array_forward=np.abs,
       array_backward=lambda g, y, x: (g * np.sign(x),), grad_backward=abs_grad_bwd,
       samples=[(1.5,), (-0.5,)], derivative="sign(x)",
                                  doc="|x|"),
]


# ---- activations -------------------------------------------------------------------

def relu_fwd(x: float) -> float:
    return 0.0 if x <= 0.0 else x  # NaN stays NaN, as in numpy


def relu_bwd(g, y, x):
    # NOTE: relu has a kink at 0; its gradient there is 0, as in micrograd. At NaN: NaN.
    return (g * (y > 0.0) if y == y else y,)


def relu_array_bwd(g, y, x):
    return (np.where(y > 0.0, g, 0.0 * y),)  # 0 * y: 0, or NaN where y is NaN


def tanh_bwd(g, y, x):
    return (g * (1.0 - y * y),)  # d/dx tanh(x) = 1 - tanh(x)^2


def sigmoid_fwd(x: float) -> float:
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)  # the same value, written so exp never overflows
    return e / (1.0 + e)


def sigmoid_array_fwd(x):
    e = np.exp(-np.abs(x))
    return np.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))


def sigmoid_bwd(g, y, x):
    return (g * y * (1.0 - y),)  # d/dx s(x) = s(x) (1 - s(x))


ACTIVATIONS = [
    Op("relu", relu_fwd, relu_bwd, kind="activation",
       array_forward=lambda x: np.maximum(x, 0.0), array_backward=relu_array_bwd,
       grad_backward=lambda g, y, x: (g * relu_slope(y.data),),  # a step: slope 0
       samples=[(1.5,), (-0.5,)], derivative="1 if x > 0 else 0",
                                  doc="max(x, 0)"),
    Op("tanh", math.tanh, tanh_bwd, kind="activation", array_forward=np.tanh,
       array_backward=tanh_bwd, grad_backward=True, samples=[(0.5,), (-1.2,)],
       derivative="1 - y**2",
       doc="hyperbolic tangent"),
    Op("sigmoid", sigmoid_fwd, sigmoid_bwd, kind="activation",
       array_forward=sigmoid_array_fwd, array_backward=sigmoid_bwd, grad_backward=True,
       samples=[(0.5,), (-3.0,)], derivative="y * (1 - y)",
                                  doc="1 / (1 + e ** -x)"),
]


@hookimpl
def picograd_register_ops(register: Callable[..., None]) -> None:
    for op in ARITHMETIC + MATH + ACTIVATIONS + LOSSES + NN_OPS + REDUCTIONS:
        register(op)
