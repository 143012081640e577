"""Fused ops for neural nets: a neuron, or a whole layer on a batch, as one node.

    weighted_sum(b, w1, ..., wn, x1, ..., xn) = b + w1 x1 + ... + wn xn

micrograd builds this from n multiplies and n adds, one graph node each. As one
node it does the same float arithmetic in the same order (so the same numbers),
and its backward hands out one gradient per input:

    dy/db = 1,   dy/dw_i = x_i,   dy/dx_i = w_i

The arithmetic is plain, so the same row works on numpy arrays (batch mode).

In batch mode ``MLP`` goes further: ``dense`` is a whole layer on a batch matrix
(one matrix product forward, two backward) and ``column`` takes one output column
of it, so a batch step builds a handful of nodes however large the batch is.
"""

from __future__ import annotations

from operator import mul

import numpy as np

from picograd import Op
from picograd import ops as F


def _split(wx: tuple) -> int:
    n = len(wx) // 2
    if len(wx) != 2 * n:
        raise ValueError(
            f"weighted_sum takes b, then n weights, then n inputs (an odd number of "
            f"inputs), got {len(wx) + 1}"
        )
    return n


def _through_relu(g, y):
    """g times relu's slope at its output y.

    NOTE: as the relu op: 1 where y > 0, 0 at the kink, and NaN stays NaN.
    """
    if y.__class__ is float:
        return g * (y > 0.0) if y == y else y
    return g * np.sign(y)  # y >= 0 after relu, so sign(y) is the slope


def relu_slope(y):
    """relu's slope at its output y, a float or an array: 1 where y > 0, 0 at the kink
    and below, NaN at NaN. A backward on Values multiplies by it as a constant: the
    slope of a step is 0."""
    if y.__class__ is float:
        return 1.0 if y > 0.0 else (0.0 if y == y else y)
    return np.where(y > 0.0, 1.0, 0.0 * y)


def where(condition, a, b):
    """numpy's where, but a float for floats: a constant for a backward on Values."""
    r = np.where(condition, a, b)
    return float(r) if r.ndim == 0 else r


def weighted_sum_fwd(b, *wx, relu=False):
    n = len(wx) >> 1
    if n + n != len(wx):
        _split(wx)  # raises the error
    y = sum(map(mul, wx[:n], wx[n:]), b)  # b + w1 x1 + ... + wn xn, left to right
    return (0.0 if y <= 0.0 else y) if relu else y  # relu=True: the relu op's numbers


def weighted_sum_bwd(g, y, b, *wx, relu=False):
    n = len(wx) >> 1
    if n + n != len(wx):
        _split(wx)  # raises the error
    if relu:
        g = (g * (y > 0.0) if y == y else y) if y.__class__ is float else _through_relu(g, y)
    return (g, *[g * x for x in wx[n:]], *[g * w for w in wx[:n]])  # 1, x_i, w_i


def weighted_sum_grad_bwd(g, y, b, *wx, relu=False):
    n = _split(wx)
    if relu:
        g = g * relu_slope(y.data)
    return (g, *[g * x for x in wx[n:]], *[g * w for w in wx[:n]])  # on Values


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
        g = _through_relu(g, y)
    wX = _stacked(wx, n)
    if wX is None or np.shape(g) != wX[1].shape[1:]:
        return weighted_sum_bwd(g, y, b, *wx)
    w, X = wX
    g_w = X.reshape(n, -1) @ np.ravel(g)  # each weight's gradient, summed over the batch
    return (g, *g_w.tolist(), *np.multiply.outer(w, g))  # 1, then x_i, then w_i


# ---- a whole layer as one node (batch mode) -------------------------------------------
#
#     dense(W, b, X, relu=False) = Y = X @ W.T + b
#
# W is a layer's weights as one (m, n) array (row j: neuron j's n weights), b its m
# biases, X a batch of rows (batch, n). Row k of Y (batch, m) is every neuron's
# weighted sum of row k of X. By the chain rule, with G = dL/dY (batch, m):
#
#     dL/dW = G.T @ X   (each weight's gradient, summed over the batch)
#     dL/db = G summed over the batch,     dL/dX = G @ W
#
# On floats (or 1-D batches of them) it is one neuron with one input, relu?(w x + b):
# the form the gradient checker tests. Only sums and products: the per-sample graph's
# numbers, up to the order numpy adds them in.

def _shapes(W, b, X) -> bool:
    """Whether this is a layer on a batch of rows (else: w x + b on numbers)."""
    w, x = np.shape(W), np.shape(X)
    if len(w) < 2 and len(x) < 2:
        return False
    if len(w) == len(x) == 2 and np.shape(b) in ((), w[:1]) and x[1] == w[1]:
        return True  # (a float b is every neuron's bias)
    raise ValueError(f"dense takes W (m, n), b (m,) and a batch of rows X (batch, n); got "
                     f"W {w}, b {np.shape(b)}, X {x}")


def dense_fwd(W, b, X, relu=False):
    if not _shapes(W, b, X):  # one neuron, one input: w x + b
        y = W * X + b
        if not relu:
            return y
        return (0.0 if y <= 0.0 else y) if y.__class__ is float else np.maximum(y, 0.0)
    # Row k, column j: b_j + w_j . x_k. In place (+=, out=): every temporary the size of
    # Y costs as much as the product itself, as fresh memory (bench_batch.py --sweep).
    Y = X @ W.T
    Y += b
    return np.maximum(Y, 0.0, out=Y) if relu else Y


def dense_bwd(g, y, W, b, X, relu=False, needs_input_grad=None):
    if relu and y.__class__ is not float:  # g * relu's slope (see _through_relu), in place
        slope = np.sign(y)
        slope *= g
        g = slope
    elif relu:
        g = _through_relu(g, y)
    if not _shapes(W, b, X):
        return g * X, g, g * W  # d/dw = x, d/db = 1, d/dx = w
    # A product whose inner size is 1 is an outer product: broadcast, it is 2-4x faster
    # than OpenBLAS's matmul (one row of X; one neuron, as a net's output layer).
    # dL/dX is a matrix product as large as the forward's: skipped when X is data.
    if needs_input_grad is not None and not needs_input_grad[2]:
        gX = 0.0
    else:
        gX = g * W if len(W) == 1 else g @ W
    gb = np.ones(len(g)) @ g  # the sum over the batch, as a product: 10x g.sum(axis=0)
    gW = g.T * X if len(X) == 1 else g.T @ X
    return gW, gb, gX


def dense_grad_bwd(g, y, W, b, X, relu=False):
    # dense_bwd on Values, with ops. Each product is a dense layer again:
    #     G @ W = dense(W.T, 0, G),   G.T @ X = dense(X.T, 0, G.T),
    # and the bias's sum over the batch is ones @ G = dense(G.T, 0, ones), a row.
    if relu:
        g = g * relu_slope(y.data)
    if not _shapes(W.data, b.data, X.data):
        return g * X, g, g * W  # one neuron, one input
    gX = F.dense(F.transpose(W), 0.0, g)
    gW = F.dense(F.transpose(X), 0.0, F.transpose(g))
    gb = F.column(F.transpose(F.dense(F.transpose(g), 0.0, np.ones((1, g.shape[0])))))
    return gW, gb, gX


# transpose(M) = M.T, a batch of rows turned into columns (a float is itself).

def transpose_fwd(M):
    return M if M.__class__ is float else np.ascontiguousarray(np.transpose(M))


def transpose_bwd(g, y, M):
    return (transpose_fwd(g),)


# column(M, index=j) = M[:, j]: output j of a layer for every row, as the batch Value
# (batch,) that losses take. dL/dM is g in column j and 0 elsewhere. A float, or a 1-D
# batch of them, is a row of one: column 0 is itself.

def _column(index):
    # NOTE: an int only: numpy reads M[:, True] as a new axis and M[:, 1.0] as an error
    if isinstance(index, bool) or not isinstance(index, int):
        raise TypeError(f"column: index must be an int (a column number), got {index!r}")
    return index


def column_fwd(M, index=0):
    if _column(index) != 0:
        raise IndexError(f"column {index} of a row of one (a float) does not exist")
    return M


def column_array_fwd(M, index=0):
    return M[:, _column(index)] if np.ndim(M) == 2 else column_fwd(M, index)  # 1-D: rows of one


def column_grad_bwd(g, y, M, index=0):
    if np.ndim(M.data) != 2:
        return (g,)
    index %= M.shape[1]  # column -1 is the last
    zeros = np.zeros(M.shape[0])
    if M.shape[1] == 1:  # (batch, 1): g beside zeros, times the weights (1, 0): exactly g
        return (F.dense(np.array([[1.0, 0.0]]), np.zeros(1), F.columns(g, zeros)),)
    return (F.columns(*[g if j == index else zeros for j in range(M.shape[1])]),)


# columns(c_1, ..., c_m) = the batch of rows (batch, m) whose column j is c_j: the
# inverse of column, and each other's backward. One input is a row of one: itself.

def columns_fwd(*cs):
    if len(cs) == 1:
        return cs[0]
    if any(np.ndim(c) != 1 for c in cs):
        raise ValueError("columns stacks batch Values of shape (batch,) side by side")
    return np.stack(np.broadcast_arrays(*cs), axis=1)


def columns_bwd(g, y, *cs):
    return tuple(g[:, j] if np.ndim(g) == 2 else g for j in range(len(cs)))


def columns_grad_bwd(g, y, *cs):
    return tuple(F.column(g, index=j) for j in range(len(cs)))


def column_array_bwd(g, y, M, index=0):
    if np.ndim(M) != 2:
        return (g,)
    # Only that column reached the output. (A net's one output: that is every column.)
    G = np.empty_like(M) if M.shape[1] == 1 else np.zeros_like(M)
    G[:, index] = g
    return (G,)


# The samples share one length: the checker's batch test stacks them into columns.
NN_OPS = [
    Op("weighted_sum", weighted_sum_fwd, weighted_sum_bwd, arity=None,
       array_forward=weighted_sum_array_fwd, array_backward=weighted_sum_array_bwd,
       grad_backward=weighted_sum_grad_bwd,
       attrs={"relu": False}, samples=[(0.1, 0.5, -1.2, 0.3, 2.0), (-0.4, 1.5, 0.7, -2.0, 0.6)],
       derivative="1 for b, x_i for w_i, w_i for x_i",
       doc="b + w1*x1 + ... + wn*xn: a neuron's sum as one node (inputs b, w..., x...);"
           " relu=True applies relu in the same node"),
    Op("dense", dense_fwd, dense_bwd, arity=3, vectorized=True, grad_backward=dense_grad_bwd,
       attrs={"relu": False}, needs_input_grad=True, samples=[(0.7, 0.1, -1.3), (-0.4, 0.3, 0.9)],
       derivative=("x", "1", "w"),
       doc="a layer on a batch of rows: X @ W.T + b as one node (inputs W (m, n), b (m,),"
           " X (batch, n))"),
    Op("transpose", transpose_fwd, transpose_bwd, vectorized=True,
       grad_backward=lambda g, y, M: (F.transpose(g),), samples=[(1.5,), (-0.5,)],
       derivative="1", doc="M.T: a batch of rows (batch, m) as (m, batch); a float is itself"),
    Op("column", column_fwd, lambda g, y, M, index=0: (g,), array_forward=column_array_fwd,
       array_backward=column_array_bwd, grad_backward=column_grad_bwd, attrs={"index": 0},
       samples=[(1.5,), (-0.5,)],
       derivative="1 in column index, 0 elsewhere",
       doc="column `index` of a batch of rows (batch, m) -> (batch,); a float is itself"),
    Op("columns", columns_fwd, columns_bwd, arity=None, vectorized=True,
       grad_backward=columns_grad_bwd, samples=[(1.5,), (-0.5,)], derivative="1",
       doc="batch Values (batch,) side by side as a batch of rows (batch, m); column's inverse"),
]
