"""Memory stays flat across training steps: no graph, node or gradient outlives its step.

The fast version of ``benchmarks/bench_memory.py``'s 1,000-step check: tracemalloc over
200 small steps. A leak of even one Value per step would add ~20 KiB over the 150
measured steps; the bound below is 4 KiB. The second test keeps every loss alive on
purpose and shows the same measurement sees that leak.
"""

from __future__ import annotations

import gc
import random
import tracemalloc

from picograd import losses
from picograd.nn import MLP
from picograd.optim import SGD

BOUND = 4096  # bytes of growth allowed between step 50 and step 200


def growth(keep: list | None = None) -> int:
    """Traced memory at step 200 minus step 50 of a small training loop."""
    rng = random.Random(0)
    data = [([rng.uniform(-1, 1), rng.uniform(-1, 1)], rng.choice([-1.0, 1.0]))
            for _ in range(8)]
    model = MLP(2, [8, 1], seed=0)
    opt = SGD(model.parameters(), lr=0.05)
    marks = {}
    tracemalloc.start()
    try:
        for step in range(1, 201):
            loss = losses.hinge([model(x) for x, _ in data], [t for _, t in data])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if keep is not None:
                keep.append(loss)
            if step in (50, 200):
                gc.collect()
                marks[step] = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return marks[200] - marks[50]


def test_a_training_loop_does_not_grow(registry):
    assert growth() < BOUND


def test_the_check_sees_a_leak(registry):
    kept: list = []
    assert growth(keep=kept) > 100 * BOUND  # 150 whole graphs kept alive


def test_a_node_is_one_96_byte_object_whatever_it_was_given(registry):
    """Eight slots: a label, micrograd's op text and closure, a parameter's layer all
    share the one slot ``_more``, so an op node costs 96 bytes and its number."""
    import sys

    from picograd import Value

    x = Value(1.5)
    y = x * 2.0 + 1.0
    assert sys.getsizeof(x) == sys.getsizeof(y) == 96
    labelled = Value(2.0, (x,), "f", label="z")
    labelled._backward = lambda: None
    param = MLP(1, [1]).parameters()[0]  # knows its layer (picograd/params.py)
    assert sys.getsizeof(labelled) == sys.getsizeof(param) == 96
    assert (labelled.label, labelled._op) == ("z", "f")


def test_train_holds_one_step_graph_at_a_time(registry):
    """train() drops a step's graph before it builds the next: its peak memory is one
    step's graph, not two (micrograd's loop keeps the old one until the new loss)."""
    import numpy as np

    from picograd.train import loss_and_accuracy, train

    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 2))
    y = np.where(X[:, 0] > 0, 1.0, -1.0)

    def peak(fn) -> int:
        gc.collect()
        tracemalloc.start()
        try:
            fn()
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    def one_step() -> None:
        total, _ = loss_and_accuracy(MLP(2, [8, 8, 1], seed=0), X, y)
        total.backward()

    single = peak(one_step)
    trained = peak(lambda: train(MLP(2, [8, 8, 1], seed=0), X, y, steps=4))
    assert single > 50_000  # a graph worth measuring
    assert trained < 1.4 * single, (trained, single)
