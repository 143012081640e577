"""Reductions: Values in, one number out (batch mode).

    sum(x)           = x_1 + ... + x_n               d sum / d x_i   = 1
    mean(x)          = (x_1 + ... + x_n) / n         d mean / d x_i  = 1 / n
    sumsq(x, y, ...) = x_1^2 + ... + y_1^2 + ...     d sumsq / d x_i = 2 x_i

``sum`` and ``mean`` are unary ops whose output is a scalar Value: ``losses.mean()``
turns a batch of per-sample losses into the one number ``backward()`` starts from.
Every axis is reduced. On a float (a batch of one) both are the number itself, so
code written for batches also runs per sample. ``sumsq`` takes any number of
inputs: ``sumsq(*model.parameters())`` is the L2 penalty as one node.
"""

from __future__ import annotations

import numpy as np

from picograd import Op


def sum_array_bwd(g, y, x):
    return (np.full(np.shape(x), g),)  # every entry counts once


def mean_array_fwd(x):
    if np.size(x) == 0:
        raise ValueError("the mean of an empty batch is undefined (it has no entries)")
    return float(np.add.reduce(x, None) / np.size(x))  # np.mean's sum and division, in C


def mean_array_bwd(g, y, x):
    return (np.full(np.shape(x), g / max(np.size(x), 1)),)  # every entry counts 1/n


def sum_grad_bwd(g, y, x):
    return (g if x.data.__class__ is float else g * np.ones(x.shape),)  # on Values


def mean_grad_bwd(g, y, x):
    return (g if x.data.__class__ is float else g * np.full(x.shape, 1.0 / np.size(x.data)),)


def sumsq_fwd(*xs):
    return sum(x * x for x in xs)  # left to right, as 0 + x1 x1 + x2 x2 + ...


def sumsq_bwd(g, y, *xs):
    return tuple(2.0 * g * x for x in xs)


def sumsq_array_fwd(*xs):
    return float(sum(np.vdot(x, x) for x in xs))  # every entry of every input


REDUCTIONS = [
    Op("sum", lambda x: x, lambda g, y, x: (g,), array_forward=lambda x: float(np.sum(x)),
       array_backward=sum_array_bwd, grad_backward=sum_grad_bwd, samples=[(1.5,), (-0.5,)],
       derivative="1",
       doc="sum of every entry of a batch (a float: itself)"),
    Op("mean", lambda x: x, lambda g, y, x: (g,), array_forward=mean_array_fwd,
       array_backward=mean_array_bwd, grad_backward=mean_grad_bwd, samples=[(1.5,), (-0.5,)],
       derivative="1 / n",
       doc="mean of every entry of a batch (a float: itself)"),
    Op("sumsq", sumsq_fwd, sumsq_bwd, arity=None, array_forward=sumsq_array_fwd,
       array_backward=sumsq_bwd, grad_backward=True, samples=[(1.5, -0.5, 2.0), (0.3, 0.7, -1.1)],
       derivative="2 * x_i",
       doc="sum of the squares of every entry of every input (L2 of the parameters)"),
]
