"""The fused neuron op: a neuron's weighted sum as one node instead of 2n.

    weighted_sum(b, w1, ..., wn, x1, ..., xn) = b + w1 x1 + ... + wn xn

micrograd builds this from n multiplies and n adds, one graph node each. As one
node it does the same float arithmetic in the same order (so the same numbers),
and its backward hands out one gradient per input:

    dy/db = 1,   dy/dw_i = x_i,   dy/dx_i = w_i

The arithmetic is plain, so the same row works on numpy arrays (batch mode).
"""

from __future__ import annotations

from operator import mul

import numpy as np

from picograd import Op


def _split(wx: tuple) -> int:
    n = len(wx) // 2
    if len(wx) != 2 * n:
        raise ValueError(
            f"weighted_sum takes b, then n weights, then n inputs (an odd number of "
            f"inputs), got {len(wx) + 1}"
        )
    return n


def weighted_sum_fwd(b, *wx, relu=False):
    n = _split(wx)
    y = sum(map(mul, wx[:n], wx[n:]), b)  # b + w1 x1 + ... + wn xn, left to right
    return (0.0 if y <= 0.0 else y) if relu else y  # relu=True: the relu op's numbers


def weighted_sum_bwd(g, y, b, *wx, relu=False):
    n = _split(wx)
    if relu:  # NOTE: as the relu op: slope 0 at the kink, NaN stays NaN
        g = g * (y > 0.0) if y == y else y
    return (g, *[g * x for x in wx[n:]], *[g * w for w in wx[:n]])  # 1, then x_i, then w_i


# Batch mode: the weights are floats shared by the batch and the inputs are arrays
# of one shape, so the sum is a matrix product of the stacked inputs, and so is
# each weight's gradient summed over the batch: dL/dw_i = sum_k g_k x_ik. Other
# mixes of floats and arrays take the plain formula above.

def _stacked(wx: tuple, n: int):
    """(w, X): the weights as a vector and the inputs as rows, or None for other mixes."""
    try:
        w, X = np.array(wx[:n]), np.array(wx[n:])
    except ValueError:  # arrays of different shapes, or arrays mixed with floats
        return None
    return (w, X) if w.ndim == 1 and X.ndim > 1 else None


def weighted_sum_array_fwd(b, *wx, relu=False):
    n = _split(wx)
    wX = _stacked(wx, n)
    if wX is None:
        y = weighted_sum_fwd(b, *wx)
    else:
        w, X = wX
        y = (w @ X.reshape(n, -1)).reshape(X.shape[1:]) + b  # w1 x1 + ... + wn xn, per entry
    return np.maximum(y, 0.0) if relu else y


def weighted_sum_array_bwd(g, y, b, *wx, relu=False):
    n = _split(wx)
    if relu:
        g = g * np.sign(y)  # y >= 0 here: 1 where y > 0, 0 at the kink, NaN where y is NaN
    wX = _stacked(wx, n)
    if wX is None or np.shape(g) != wX[1].shape[1:]:
        return weighted_sum_bwd(g, y, b, *wx)
    w, X = wX
    g_w = X.reshape(n, -1) @ np.ravel(g)  # each weight's gradient, summed over the batch
    return (g, *g_w.tolist(), *np.multiply.outer(w, g))  # 1, then x_i, then w_i


# The samples share one length: the checker's batch test stacks them into columns.
NN_OPS = [
    Op("weighted_sum", weighted_sum_fwd, weighted_sum_bwd, arity=None,
       array_forward=weighted_sum_array_fwd, array_backward=weighted_sum_array_bwd,
       attrs={"relu": False}, samples=[(0.1, 0.5, -1.2, 0.3, 2.0), (-0.4, 1.5, 0.7, -2.0, 0.6)],
       doc="b + w1*x1 + ... + wn*xn: a neuron's sum as one node (inputs b, w..., x...);"
           " relu=True applies relu in the same node"),
]
