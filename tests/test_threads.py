"""Threads: separate graphs in separate threads, no_grad per thread, plugins registered
while another thread computes.

What makes this safe (read from picograd/engine.py and picograd/registry.py):
  * a graph is plain objects owned by the thread that built it; node numbers come
    from one ``itertools.count``, whose ``next`` is atomic, so each thread's nodes
    are still numbered after their inputs;
  * ``no_grad`` is a ContextVar: per thread, and per asyncio task;
  * the registry changes the op table only under its lock, and ``engine.install``
    puts new entries in before stale ones leave, so a thread computing meanwhile sees
    the old or the new function for an op, both correct; a node keeps its Op, so a
    graph built with a plugin op still backpropagates after the plugin is gone.
``use_registry`` swaps the process-wide registry: it is for tests, not for threads.
"""

from __future__ import annotations

import asyncio
import math
import subprocess
import sys
import threading

import pytest

import picograd
from picograd import Op, UnknownOpError, Value, hookimpl
from picograd import ops as F


@pytest.fixture(autouse=True)
def _switch_often():
    # Make the interpreter switch threads every microsecond, so that the threads
    # below really interleave inside forward and backward.
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    yield
    sys.setswitchinterval(old)


def run_threads(*targets) -> list:
    """Start all targets together; return their results, re-raising any error."""
    results, errors = [None] * len(targets), []
    start = threading.Barrier(len(targets))

    def wrap(i, fn):
        try:
            start.wait()
            results[i] = fn()
        except BaseException as e:  # noqa: BLE001 - handed to the main thread
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(i, fn)) for i, fn in enumerate(targets)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    if errors:
        raise errors[0]
    assert not any(t.is_alive() for t in threads)
    return results


def network(seed: float, steps: int = 300):
    """A small tanh network, deep and with reuse: its value and the gradients of its leaves."""
    w = [Value(math.sin(seed + i)) for i in range(6)]
    x = Value(seed)
    h = x
    for k in range(steps):
        a, b = w[k % 6], w[(k + 3) % 6]
        h = (a * h + b).tanh() + 0.5 * (h * h).sigmoid() - b.relu() * 0.01
    loss = h * h + sum(p * p for p in w) * 1e-3
    loss.backward()
    return loss.data, x.grad, [p.grad for p in w]


def test_two_threads_backpropagate_separate_graphs_independently(registry):
    expected = [network(0.3), network(-1.1)]  # one thread first, for reference
    for _ in range(5):
        got = run_threads(lambda: network(0.3), lambda: network(-1.1))
        assert got == expected  # bit for bit, in spite of the interleaving


def test_many_threads_gradcheck_at_once(registry):
    from picograd.testing import gradcheck

    def job(k: float):
        def fn():
            for _ in range(20):
                gradcheck(lambda x, y: (x * y + x.exp()).tanh() / (y * y + 1.0) + x.relu(),
                          [0.3 + k, -1.2 + k])
            return True
        return fn

    assert run_threads(*[job(0.1 * k) for k in range(4)]) == [True] * 4


def test_no_grad_is_per_thread(registry):
    entered, checked = threading.Event(), threading.Event()

    def quiet():
        with picograd.no_grad():
            entered.set()
            assert checked.wait(30)
            y = Value(2.0) * 3.0
            assert not y.requires_grad and y._prev == ()
        return y.data

    def recording():
        assert entered.wait(30)  # the other thread is inside no_grad right now
        x = Value(2.0)
        y = x * 3.0 + x
        assert y.requires_grad and y._prev
        y.backward()
        checked.set()
        return x.grad

    assert run_threads(quiet, recording) == [6.0, 4.0]


def test_no_grad_is_per_asyncio_task(registry):
    async def quiet(gate: asyncio.Event):
        with picograd.no_grad():
            gate.set()
            await asyncio.sleep(0.01)  # the other task runs while we are in no_grad
            return (Value(1.0) + 1.0).requires_grad

    async def recording(gate: asyncio.Event):
        await gate.wait()
        return (Value(1.0) + 1.0).requires_grad

    async def main():
        gate = asyncio.Event()
        return await asyncio.gather(quiet(gate), recording(gate))

    assert asyncio.run(main()) == [False, True]


class Cube:
    @hookimpl
    def picograd_register_ops(self, register):
        register(Op("cube", lambda x: x * x * x, lambda g, y, x: (3.0 * g * x * x,)))


def test_registering_plugins_while_another_thread_computes(registry):
    stop = threading.Event()

    def compute():
        rounds = 0
        while not stop.is_set() or rounds < 50:
            x = Value(0.5)
            y = (x * x + 1.0).log() - x.tanh() / 2.0 + x ** 3
            y.backward()
            assert y.data == math.log(1.25) - math.tanh(0.5) / 2.0 + 0.125
            assert x.grad == 1.0 / 1.25 - (1.0 - math.tanh(0.5) ** 2) / 2.0 + 0.75
            rounds += 1
        return rounds

    def churn():
        try:
            for i in range(100):
                with picograd.register_plugin(Cube(), name=f"cube-{i}"):
                    assert Value(2.0).cube().data == 8.0
        finally:
            stop.set()
        return "cube" in registry.ops

    rounds, still_there = run_threads(compute, churn)
    assert rounds >= 50 and still_there is False


def test_a_plugin_op_used_while_it_is_unregistered_is_clear_or_correct(registry):
    # One thread keeps using a plugin op; another registers and unregisters it. Each
    # call either works, with the right numbers, or raises the unknown-op error:
    # never a crash, a wrong value or a half-installed op.
    stop = threading.Event()

    def use():
        outcomes = {"ok": 0, "unknown": 0}
        while not stop.is_set():
            x = Value(1.5)
            try:
                y = F.cube(x)
            except (UnknownOpError, AttributeError) as e:
                assert "cube" in str(e)
                outcomes["unknown"] += 1
                continue
            y.backward()  # the node keeps its op: backward works even if it is gone now
            assert (y.data, x.grad) == (3.375, 6.75)
            outcomes["ok"] += 1
        return outcomes

    def churn():
        try:
            for i in range(200):
                picograd.register_plugin(Cube(), name=f"cube-{i}").unregister()
        finally:
            stop.set()

    outcomes, _ = run_threads(use, churn)
    assert outcomes["ok"] + outcomes["unknown"] > 0


def test_two_threads_register_plugins_at_once(registry):
    def make(name: str):
        class Plugin:
            @hookimpl
            def picograd_register_ops(self, register):
                register(Op(name, lambda x: 2.0 * x, lambda g, y, x: (2.0 * g,)))

        return lambda: picograd.register_plugin(Plugin(), name=f"{name}-plugin")

    handles = run_threads(make("double_a"), make("double_b"))
    try:
        assert {"double_a", "double_b"} <= set(registry.ops)
        assert Value(1.0).double_a().data == Value(1.0).double_b().data == 2.0
    finally:
        for h in handles:
            h.unregister()


def test_first_use_from_many_threads_at_once_loads_the_table_once():
    # In a fresh interpreter the op table is built on first use; eight threads all
    # making it happen at once each get a working table.
    code = """
import threading
from picograd import Value, active_registry
start, out = threading.Barrier(8), []
def job():
    start.wait()
    x = Value(0.5)
    y = x.tanh() * 2.0 + x.relu()  # a method first: Value.__getattr__ builds the table
    y.backward()
    out.append((y.data, x.grad))
threads = [threading.Thread(target=job) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
assert len(out) == 8 and len(set(out)) == 1, out
assert active_registry().plugins["picograd_ops"].status == "loaded"
print("ok")
"""
    import os

    env = {**os.environ, "PICOGRAD_PLUGINS": ""}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
