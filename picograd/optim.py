"""Optimizers: they read each parameter's ``.grad`` and update its ``.data``.

    opt = SGD(model.parameters(), lr=linear_decay(1.0, 0.1, steps=100))
    for k in range(100):
        loss = ...
        opt.zero_grad()
        loss.backward()
        opt.step()

``lr`` is a number, or a schedule: a function of the step number (0, 1, ...) that
returns the learning rate for that step.

Given a whole layer's parameters (as ``model.parameters()`` gives them), an optimizer
updates that layer's two arrays, ``layer.W`` and ``layer.b``, with numpy: the same
arithmetic entry by entry, so the same numbers as one scalar at a time, and a batch
step costs a few numpy calls per layer instead of one Python step per parameter
(picograd/params.py). Any other Value is updated on its own.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

from .engine import Value
from .params import grouped

Schedule = Callable[[int], float]


def linear_decay(start: float, end: float, steps: int) -> Schedule:
    """A learning rate going linearly from ``start`` (step 0) to ``end`` (step ``steps``),
    then staying at ``end``.

    micrograd's demo uses ``linear_decay(1.0, 0.1, 100)``: lr = 1.0 - 0.9 * k / 100.
    """
    if steps < 1:
        raise ValueError(f"linear_decay needs steps >= 1, got {steps}")

    def schedule(k: int) -> float:
        return end if k >= steps else start - (start - end) * k / steps

    return schedule


class Optimizer:
    """What every optimizer shares: the parameters, the learning rate, a step count."""

    def __init__(self, params: Iterable[Value], lr: float | Schedule) -> None:
        given = params if isinstance(params, list) else list(params)
        self.params = list(given)
        if not self.params or not all(isinstance(p, Value) for p in self.params):
            raise TypeError("an optimizer needs a non-empty list of Values (model.parameters())")
        layers, self._others = grouped(given)
        # A half-frozen layer is updated one scalar at a time (its arrays have one flag).
        self._layers = [layer for layer in layers if layer.frozen() in (0, layer.count())]
        self._others += [p for layer in layers if layer not in self._layers
                         for p in layer.scalars()]
        if not callable(lr) and not (isinstance(lr, (int, float)) and math.isfinite(lr)
                                     and lr > 0):
            raise ValueError(f"lr must be a positive number or a schedule, got {lr!r}")
        self.lr = lr
        self.steps = 0  # how many step() calls so far: the schedule's argument

    def current_lr(self) -> float:
        """The learning rate the next ``step()`` uses."""
        return float(self.lr(self.steps)) if callable(self.lr) else float(self.lr)

    def tensors(self) -> list[Value]:
        """What ``step()`` updates: each whole layer's W and b, then the other Values."""
        tensors = [v for layer in self._layers for v in layer.arrays()] + self._others
        for p in tensors:  # before anything changes
            if isinstance(p._grad, Value):
                raise TypeError(f"{type(self).__name__}.step() needs numbers in .grad, got a "
                                f"Value (from backward(create_graph=True)?): zero_grad() "
                                f"and backward() without it first")
        return tensors

    def _count(self) -> int:
        return 2 * len(self._layers) + len(self._others)

    def zero_grad(self) -> None:
        for layer in self._layers:  # its arrays, or its scalars: whichever side is live
            layer.zero_grad()
        for p in self._others:
            p.grad = 0.0

    def step(self) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum and weight decay.

    g = grad + weight_decay * w;  v = momentum * v + g;  w -= lr * v   (PyTorch's form)
    """

    def __init__(self, params: Iterable[Value], lr: float | Schedule = 0.01, *,
                 momentum: float = 0.0, weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum!r}")
        if weight_decay < 0.0:
            raise ValueError(f"weight_decay must be >= 0, got {weight_decay!r}")
        self.momentum, self.weight_decay = momentum, weight_decay
        self.velocity: list = [0.0] * self._count()

    def step(self) -> None:
        lr, mu, wd = self.current_lr(), self.momentum, self.weight_decay
        for i, p in enumerate(self.tensors()):  # a float, or a layer's array
            g = p.grad + wd * p.data if wd else p.grad
            if mu:
                g = self.velocity[i] = mu * self.velocity[i] + g
            _descend(p, lr * g)  # micrograd's update, the demo's: w -= lr * grad
        self.steps += 1


class Adam(Optimizer):
    """Adam (Kingma and Ba, 2015): steps scaled by running moments of the gradient.

    m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;  w -= lr m^ / (sqrt(v^) + eps),
    where m^ = m / (1 - b1^t) and v^ = v / (1 - b2^t) undo the moments' start at 0.
    """

    def __init__(self, params: Iterable[Value], lr: float | Schedule = 0.001, *,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0) -> None:
        super().__init__(params, lr)
        b1, b2 = betas
        if not (0.0 <= b1 < 1.0 and 0.0 <= b2 < 1.0):
            raise ValueError(f"betas must be in [0, 1), got {betas!r}")
        if eps <= 0.0 or weight_decay < 0.0:
            raise ValueError("eps must be > 0 and weight_decay >= 0")
        self.betas, self.eps, self.weight_decay = (b1, b2), eps, weight_decay
        self.m: list = [0.0] * self._count()
        self.v: list = [0.0] * self._count()

    def step(self) -> None:
        lr, (b1, b2), eps, wd = self.current_lr(), self.betas, self.eps, self.weight_decay
        t = self.steps + 1
        c1, c2 = 1.0 - b1**t, 1.0 - b2**t  # bias corrections
        for i, p in enumerate(self.tensors()):  # a float, or a layer's array
            g = p.grad + wd * p.data if wd else p.grad
            self.m[i] = b1 * self.m[i] + (1.0 - b1) * g
            self.v[i] = b2 * self.v[i] + (1.0 - b2) * g * g
            _descend(p, lr * (self.m[i] / c1) / (_sqrt(self.v[i] / c2) + eps))
        self.steps += 1


def _descend(p: Value, step: Any) -> None:
    """p.data -= step: a float, or a layer's array in place (no copy of 100,000 floats)."""
    if p._data.__class__ is float:
        p.data = p._data - step
    else:
        p._data -= step


def _sqrt(x: Any) -> Any:
    if x.__class__ is float:
        return math.sqrt(x)
    import numpy as np

    return np.sqrt(x)
