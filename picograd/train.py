"""Training the demo's classifier: micrograd's loop, with a choice of loss and optimizer.

The seed configuration (micrograd's demo.ipynb): MLP(2, [16, 16, 1]), hinge loss plus
1e-4 L2, 100 steps of SGD with the learning rate decaying linearly from 1.0 to 0.1.

    from picograd.datasets import make_dataset
    from picograd.nn import MLP
    from picograd.train import accuracy, train

    X, y = make_dataset("moons")
    model = MLP(2, [16, 16, 1], seed=1337)
    history = train(model, X, y, steps=100)     # history.loss, .accuracy, .lr per step
    accuracy(model, X, y)                       # 1.0
"""

from __future__ import annotations

import gc
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, cast

from . import losses
from .engine import Value, no_grad
from .nn import MLP
from .optim import SGD, Adam, Optimizer, linear_decay

OPTIMIZERS = ("sgd", "adam")
DEFAULT_LR = {"sgd": 1.0, "adam": 0.05}  # sgd with mse: 0.1 (its gradients are larger)

__all__ = ["DEFAULT_LR", "OPTIMIZERS", "History", "accuracy", "data_loss", "default_lr",
           "loss_and_accuracy", "make_optimizer", "scores_of", "train"]


def default_lr(optimizer: str, loss: str) -> float:
    """The demo's starting learning rate for an optimizer and a loss."""
    return 0.1 if (optimizer, loss) == ("sgd", "mse") else DEFAULT_LR[optimizer]


def scores_of(model: MLP, X: Any, batch: bool) -> Value | list[Value]:
    """The model's scores for every row of X: one batch Value, or one Value per sample."""
    if batch:  # a model with one output gives one Value
        return cast(Value, model(X))
    return [cast(Value, model(row)) for row in X.tolist()]


def data_loss(name: str, scores: Value | list[Value], y: Any) -> Value:
    """The mean loss ``name`` of scores against labels y in {-1, +1}.

    bce works on probabilities, so it gets sigmoid(score) and targets in {0, 1};
    every other loss (plugins included) gets the raw scores and the +-1 labels.
    """
    if name == "bce":
        probs = scores.sigmoid() if isinstance(scores, Value) else [s.sigmoid() for s in scores]
        return losses.bce(probs, (y + 1.0) / 2.0)
    return losses.get(name)(scores, y)


def loss_and_accuracy(model: MLP, X: Any, y: Any, *, loss: str = "hinge",
                      alpha: float = 1e-4, batch: bool = False) -> tuple[Value, float]:
    """micrograd's ``loss()``: the total loss (data + alpha * L2) and the accuracy."""
    import numpy as np

    scores = scores_of(model, X, batch)
    predictions = scores.data if isinstance(scores, Value) else np.array([s.data for s in scores])
    total = data_loss(loss, scores, y) + alpha * losses.l2(model.parameters())
    return total, float(np.mean((predictions > 0) == (y > 0)))


def make_optimizer(name: str, params: list[Value], lr: float | None, steps: int,
                   loss: str = "hinge") -> Optimizer:
    """SGD with the demo's linear decay to a tenth of ``lr``, or Adam at a constant ``lr``."""
    if name not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    lr = default_lr(name, loss) if lr is None else lr
    if name == "sgd":
        return SGD(params, lr=linear_decay(lr, lr / 10, steps))
    return Adam(params, lr=lr)


@dataclass
class History:
    """Per step, before that step's update: the total loss, the accuracy and the lr."""

    loss: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    seconds: float = 0.0


def train(model: MLP, X: Any, y: Any, *, steps: int = 100, loss: str = "hinge",
          optimizer: str | Optimizer = "sgd", lr: float | None = None, alpha: float = 1e-4,
          batch: bool = False, callback: Callable[[int, History], None] | None = None,
          ) -> History:
    """Full-batch training, micrograd's loop: loss, zero_grad, backward, update.

    ``callback(k, history)`` runs after step k. A loss that becomes inf or NaN stops
    training with a FloatingPointError. Each step runs with Python's cyclic garbage
    collector held off and gives it back as it was (a step's graph has no cycles; see
    ``_collector_paused``).
    """
    opt = optimizer if isinstance(optimizer, Optimizer) else make_optimizer(
        optimizer, model.parameters(), lr, steps, loss)
    history = History()
    start = time.perf_counter()
    for k in range(steps):
        with _collector_paused():  # the step's graph has no cycles: see there
            total, acc = loss_and_accuracy(model, X, y, loss=loss, alpha=alpha, batch=batch)
            opt.zero_grad()
            total.backward()
            history.loss.append(float(total.data))
            history.accuracy.append(acc)
            history.lr.append(opt.current_lr())
            opt.step()
            del total  # free this step's graph before the next one is built (memory)
        if not math.isfinite(history.loss[-1]):
            raise FloatingPointError(f"the loss diverged at step {k} ({history.loss[-1]}); "
                                     "try a smaller learning rate")
        if callback is not None:
            callback(k, history)
    history.seconds = time.perf_counter() - start
    return history


# Python's cyclic garbage collector, held off while a training step's graph is alive.
# A graph has no reference cycles (a node refers only to its inputs), so reference
# counting frees it whole when the step drops it: the collector can find nothing in
# it. Yet its automatic collections walk every live node, and a step's nodes live long
# enough to reach the oldest generation, whose collections walk them again and again:
# 40% of a fused=False step (64,000 nodes; docs/speed.md). So a step runs with the
# collector off, and as the step ends, however it ends, it is put back as it was when
# the step began. Threads training at once share one count: the collector comes back
# when the last of them leaves its step. Cycles that other code makes meanwhile are
# collected after that, as usual. (A program that switches the collector itself while
# a step runs gets it back as it was at the step's start.)
_pause_lock = threading.Lock()
_pausing = 0  # steps running now, in all threads
_resume = False  # whether the collector was on when the first of them began


@contextmanager
def _collector_paused() -> Iterator[None]:
    global _pausing, _resume
    counted = False
    try:
        with _pause_lock:  # (no call between counting and noting it: Ctrl-C-safe)
            if _pausing == 0:
                _resume = gc.isenabled()
            _pausing += 1
            counted = True
            gc.disable()
        yield
    finally:
        if counted:
            with _pause_lock:
                _pausing -= 1
                if _pausing == 0 and _resume:
                    gc.enable()


def accuracy(model: MLP, X: Any, y: Any) -> float:
    """The fraction of samples whose score has the label's sign."""
    import numpy as np

    with no_grad():
        scores = cast(Value, model(X))  # one output: one batch Value
        return float(np.mean((scores.data > 0) == (y > 0)))
