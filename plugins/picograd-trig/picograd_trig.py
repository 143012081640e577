"""picograd-trig: sin, cos, tan, atan, sinh and cosh.

Each row: forward on a float, backward(g, y, x) -> (g * dy/dx,), and numpy twins for
batch mode. Where the derivative is a function of the output, backward reuses it.
``grad_backward`` is backward written with ops (cos as ``ops.cos``), for second
derivatives; tan and atan's backward is plain arithmetic already (True).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

import picograd.ops as ops
from picograd import Op, hookimpl


def _no_overflow(fn: Callable[[float], float]) -> Callable[[float], float]:
    """sinh and cosh overflow a float for |x| > ~710: say so instead of 'math range error'."""
    def forward(x: float) -> float:
        try:
            return fn(x)
        except OverflowError:
            raise OverflowError(f"{fn.__name__}({x!r}) is too large for a float") from None

    forward.__name__ = fn.__name__
    return forward


OPS = [
    Op("sin", math.sin, lambda g, y, x: (g * math.cos(x),),
       array_forward=np.sin, array_backward=lambda g, y, x: (g * np.cos(x),),
       grad_backward=lambda g, y, x: (g * ops.cos(x),),
       samples=[(0.5,), (-2.0,)], derivative="cos(x)",
                                  doc="sine"),
    Op("cos", math.cos, lambda g, y, x: (-g * math.sin(x),),
       array_forward=np.cos, array_backward=lambda g, y, x: (-g * np.sin(x),),
       grad_backward=lambda g, y, x: (-g * ops.sin(x),),
       samples=[(0.5,), (-2.0,)], derivative="-sin(x)",
                                  doc="cosine"),
    Op("tan", math.tan, lambda g, y, x: (g * (1.0 + y * y),),  # d/dx tan = 1 + tan^2
       array_forward=np.tan, array_backward=lambda g, y, x: (g * (1.0 + y * y),),
       grad_backward=True,
       samples=[(0.5,), (-1.2,)], derivative="1 + y**2",
                                  doc="tangent"),
    Op("atan", math.atan, lambda g, y, x: (g / (1.0 + x * x),),  # d/dx atan = 1/(1+x^2)
       array_forward=np.arctan, array_backward=lambda g, y, x: (g / (1.0 + x * x),),
       grad_backward=True,
       samples=[(0.5,), (-3.0,)], derivative="1 / (1 + x**2)",
                                  doc="arctangent"),
    Op("sinh", _no_overflow(math.sinh), lambda g, y, x: (g * math.cosh(x),),
       array_forward=np.sinh, array_backward=lambda g, y, x: (g * np.cosh(x),),
       grad_backward=lambda g, y, x: (g * ops.cosh(x),),
       samples=[(0.5,), (-2.0,)], derivative="cosh(x)",
                                  doc="hyperbolic sine"),
    Op("cosh", _no_overflow(math.cosh), lambda g, y, x: (g * math.sinh(x),),
       array_forward=np.cosh, array_backward=lambda g, y, x: (g * np.sinh(x),),
       grad_backward=lambda g, y, x: (g * ops.sinh(x),),
       samples=[(0.5,), (-2.0,)], derivative="sinh(x)",
                                  doc="hyperbolic cosine"),
]


@hookimpl
def picograd_register_ops(register: Callable[..., None]) -> None:
    for op in OPS:
        register(op)
