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


# The samples share one length: the checker's batch test stacks them into columns.
NN_OPS = [
    Op("weighted_sum", weighted_sum_fwd, weighted_sum_bwd, arity=None, vectorized=True,
       samples=[(0.1, 0.5, -1.2, 0.3, 2.0), (-0.4, 1.5, 0.7, -2.0, 0.6)],
       doc="b + w1*x1 + ... + wn*xn: a neuron's sum as one node (inputs b, w..., x...)"),
]
