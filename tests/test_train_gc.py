"""train() holds Python's cyclic collector off while each step's graph is alive, and
gives it back as it was: after every step, after a failure, and across threads."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterator

import numpy as np
import pytest

import picograd.train as train_module
from picograd.nn import MLP
from picograd.optim import SGD
from picograd.train import train


@pytest.fixture
def collector_on() -> Iterator[None]:
    was = gc.isenabled()
    gc.enable()
    yield
    (gc.enable if was else gc.disable)()


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(12, 2))
    return X, np.where(X[:, 0] > 0, 1.0, -1.0)


class Recording(SGD):
    """SGD that notes whether the collector runs while it updates (inside a step)."""

    seen: list[bool]

    def step(self) -> None:
        self.seen.append(gc.isenabled())
        super().step()


def test_off_during_each_step_and_on_between_them(collector_on: None) -> None:
    X, y = data()
    model = MLP(2, [4, 1], seed=0, fused=False)
    opt = Recording(model.parameters(), lr=0.1)
    opt.seen = []
    between: list[bool] = []
    train(model, X, y, steps=3, optimizer=opt, callback=lambda k, h: between.append(gc.isenabled()))
    assert opt.seen == [False, False, False]
    assert between == [True, True, True]  # the callback is the program's own code
    assert gc.isenabled()


def test_a_program_that_turned_it_off_keeps_it_off(collector_on: None) -> None:
    X, y = data()
    gc.disable()
    train(MLP(2, [4, 1], seed=0), X, y, steps=2)
    assert not gc.isenabled()


def test_back_on_after_a_step_fails(collector_on: None) -> None:
    X, y = data()
    model = MLP(2, [4, 1], seed=0)

    class Failing(SGD):
        def step(self) -> None:
            raise KeyboardInterrupt  # Ctrl-C in the middle of a step

    with pytest.raises(KeyboardInterrupt):
        train(model, X, y, steps=2, optimizer=Failing(model.parameters(), lr=0.1))
    assert gc.isenabled()


def test_threads_training_at_once_give_it_back_when_the_last_one_ends(collector_on: None) -> None:
    X, y = data()
    both_inside = threading.Barrier(2)  # the two threads in a step at the same time
    first_done = threading.Event()
    seen: list[bool] = []

    class Meeting(SGD):
        def step(self) -> None:
            both_inside.wait(timeout=30)
            super().step()

    class Waiting(SGD):  # the second thread: still in its step when the first ends
        def step(self) -> None:
            both_inside.wait(timeout=30)
            first_done.wait(timeout=30)
            seen.append(gc.isenabled())
            super().step()

    def first() -> None:
        model = MLP(2, [4, 1], seed=1)
        train(model, X, y, steps=1, optimizer=Meeting(model.parameters(), lr=0.1))
        first_done.set()

    def second() -> None:
        model = MLP(2, [4, 1], seed=2)
        train(model, X, y, steps=1, optimizer=Waiting(model.parameters(), lr=0.1))

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert first_done.is_set() and seen == [False]  # the first's end did not turn it on
    assert gc.isenabled()  # the last one's did


def test_the_results_do_not_depend_on_it(
        collector_on: None, monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = data()
    runs = []
    for pause in (True, False):  # train as it is, and with the collector left running
        if not pause:
            monkeypatch.setattr(train_module, "_collector_paused", contextlib.nullcontext)
        model = MLP(2, [8, 1], seed=3, fused=False)
        gc.collect()  # (counts from zero: what train allocates between steps is little)
        collections = gc.get_stats()[0]["collections"]
        history = train(model, X, y, steps=4)
        ran = gc.get_stats()[0]["collections"] - collections
        runs.append((history.loss, [p.data for p in model.parameters()], ran > 0))
    assert runs[0][:2] == runs[1][:2]  # the same bits
    assert runs[0][2] is False and runs[1][2] is True  # and the collector did run in one
