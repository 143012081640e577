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


def weighted_sum_fwd(b, *wx):
    n = _split(wx)
    return sum(map(mul, wx[:n], wx[n:]), b)  # b + w1 x1 + ... + wn xn, left to right


def weighted_sum_bwd(g, y, b, *wx):
    n = _split(wx)
    return (g, *[g * x for x in wx[n:]], *[g * w for w in wx[:n]])  # 1, then x_i, then w_i


# Batch mode: the weights are floats shared by the batch and the inputs are arrays
# of one shape, so the sum is a matrix product of the stacked inputs, and so is
# each weight's gradient summed over the batch: dL/dw_i = sum_k g_k x_ik. Other
# mixes of floats and arrays take the plain formula above.

def _batch(wx: tuple, n: int):
    """The inputs stacked as rows, if every weight is a float and every input an array."""
    ws, xs = wx[:n], wx[n:]
    if n and all(w.__class__ is float for w in ws) and all(
            x.__class__ is np.ndarray and x.shape == xs[0].shape for x in xs):
        return np.array(xs)
    return None


def weighted_sum_array_fwd(b, *wx):
    n = _split(wx)
    X = _batch(wx, n)
    if X is None:
        return weighted_sum_fwd(b, *wx)
    y = np.array(wx[:n]) @ X.reshape(n, -1)  # w1 x1 + ... + wn xn, entry by entry
    return y.reshape(X.shape[1:]) + b


def weighted_sum_array_bwd(g, y, b, *wx):
    n = _split(wx)
    X = _batch(wx, n)
    if X is None or np.shape(g) != X.shape[1:]:
        return weighted_sum_bwd(g, y, b, *wx)
    g_w = X.reshape(n, -1) @ np.ravel(g)  # each weight's gradient, summed over the batch
    return (g, *g_w.tolist(), *np.multiply.outer(wx[:n], g))  # 1, then x_i, then w_i


# The samples share one length: the checker's batch test stacks them into columns.
NN_OPS = [
    Op("weighted_sum", weighted_sum_fwd, weighted_sum_bwd, arity=None,
       array_forward=weighted_sum_array_fwd, array_backward=weighted_sum_array_bwd,
       samples=[(0.1, 0.5, -1.2, 0.3, 2.0), (-0.4, 1.5, 0.7, -2.0, 0.6)],
       doc="b + w1*x1 + ... + wn*xn: a neuron's sum as one node (inputs b, w..., x...)"),
]
