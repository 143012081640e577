"""Reductions: a batch-valued Value in, one number out (batch mode).

    sum(x)  = x_1 + ... + x_n       d sum / d x_i  = 1
    mean(x) = (x_1 + ... + x_n) / n d mean / d x_i = 1 / n

They are unary ops whose output is a scalar Value: ``loss = losses.mean()`` turns a
batch of per-sample losses into the one number ``backward()`` starts from. Every
axis is reduced. On a float (a batch of one) both are the number itself, so code
written for batches also runs per sample.
"""

from __future__ import annotations

import numpy as np

from picograd import Op


def sum_array_bwd(g, y, x):
    return (np.full(np.shape(x), g),)  # every entry counts once


def mean_array_bwd(g, y, x):
    return (np.full(np.shape(x), g / np.size(x)),)  # every entry counts 1/n


REDUCTIONS = [
    Op("sum", lambda x: x, lambda g, y, x: (g,), array_forward=lambda x: float(np.sum(x)),
       array_backward=sum_array_bwd, samples=[(1.5,), (-0.5,)],
       doc="sum of every entry of a batch (a float: itself)"),
    Op("mean", lambda x: x, lambda g, y, x: (g,), array_forward=lambda x: float(np.mean(x)),
       array_backward=mean_array_bwd, samples=[(1.5,), (-0.5,)],
       doc="mean of every entry of a batch (a float: itself)"),
]
