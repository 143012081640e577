"""picograd.optim: SGD (momentum, weight decay, schedules) and Adam, step by step by hand."""

from __future__ import annotations

import math

import pytest

from picograd import Value, losses
from picograd.nn import MLP
from picograd.optim import SGD, Adam, linear_decay


def with_grads(*pairs):
    params = [Value(data) for data, _ in pairs]
    for p, (_, g) in zip(params, pairs):
        p.grad = g
    return params


def test_sgd_single_step_by_hand():
    a, b = with_grads((1.0, 0.5), (-2.0, -4.0))
    SGD([a, b], lr=0.1).step()
    assert (a.data, b.data) == (1.0 - 0.1 * 0.5, -2.0 + 0.1 * 4.0)


def test_sgd_momentum_and_weight_decay_by_hand():
    (p,) = with_grads((1.0, 0.5))
    opt = SGD([p], lr=0.1, momentum=0.9, weight_decay=0.01)
    opt.step()  # g = 0.5 + 0.01 * 1.0 = 0.51; v = 0.51; p = 1 - 0.051
    assert p.data == pytest.approx(0.949)
    p.grad = 0.2
    opt.step()  # g = 0.2 + 0.01 * 0.949; v = 0.9 * 0.51 + g; p -= 0.1 v
    g = 0.2 + 0.01 * 0.949
    assert p.data == pytest.approx(0.949 - 0.1 * (0.9 * 0.51 + g))


def test_the_demo_schedule_decays_from_1_to_0_1():
    schedule = linear_decay(1.0, 0.1, 100)
    assert [schedule(k) for k in (0, 50, 99)] == pytest.approx([1.0, 0.55, 0.109])
    for k in range(100):
        assert schedule(k) == pytest.approx(1.0 - 0.9 * k / 100, rel=1e-15)  # micrograd's
    (p,) = with_grads((0.0, 1.0))
    opt = SGD([p], lr=schedule)
    seen = []
    for _ in range(3):
        seen.append(opt.current_lr())
        opt.step()
    assert seen == pytest.approx([1.0, 0.991, 0.982])
    assert p.data == pytest.approx(-(1.0 + 0.991 + 0.982))
    with pytest.raises(ValueError):
        linear_decay(1.0, 0.1, 0)


def test_linear_decay_stays_at_its_end_after_the_last_step():
    schedule = linear_decay(1.0, 0.1, 100)
    assert [schedule(k) for k in (100, 101, 150, 10**6)] == [0.1] * 4
    rising = linear_decay(0.01, 0.5, 10)  # a warm-up goes up and stays up
    assert rising(5) == pytest.approx(0.255) and rising(11) == rising(1000) == 0.5


def test_adam_steps_by_hand():
    (p,) = with_grads((1.0, 0.5))
    opt = Adam([p], lr=0.1)
    opt.step()  # bias-corrected m = g and v = g^2 on the first step: a step of lr * sign(g)
    assert p.data == pytest.approx(1.0 - 0.1 * 0.5 / (0.5 + 1e-8), rel=1e-15)
    p1, p.grad = p.data, -1.0
    opt.step()
    m = 0.9 * (0.1 * 0.5) + 0.1 * -1.0
    v = 0.999 * (0.001 * 0.25) + 0.001 * 1.0
    step = 0.1 * (m / (1 - 0.9**2)) / (math.sqrt(v / (1 - 0.999**2)) + 1e-8)
    assert p.data == pytest.approx(p1 - step, rel=1e-12)


@pytest.mark.parametrize("make", [
    lambda ps: SGD(ps, lr=0.2),
    lambda ps: SGD(ps, lr=0.05, momentum=0.9),
    lambda ps: Adam(ps, lr=0.05),
])
def test_optimizers_lower_the_loss_on_a_small_problem(registry, make):
    xs = [[x / 4.0] for x in range(-6, 7)]
    ys = [x[0] ** 2 - 0.5 for x in xs]  # a parabola, fitted by a tiny MLP with mse
    model = MLP(1, [8, 1], activation="tanh", seed=0)
    opt = make(model.parameters())
    history = []
    for _ in range(60):
        loss = losses.mse([model(x) for x in xs], ys)
        opt.zero_grad()
        loss.backward()
        opt.step()
        history.append(loss.data)
    assert history[-1] < 0.5 * history[0]


def test_zero_grad_and_bad_arguments():
    a, b = with_grads((1.0, 0.5), (2.0, 3.0))
    opt = Adam([a, b])
    opt.zero_grad()
    assert (a.grad, b.grad) == (0.0, 0.0)
    with pytest.raises(TypeError, match="non-empty list of Values"):
        SGD([], lr=0.1)
    with pytest.raises(TypeError, match="non-empty list of Values"):
        SGD([1.0], lr=0.1)
    for bad in (0.0, -1.0, math.nan, "fast"):
        with pytest.raises(ValueError, match="lr must be a positive number or a schedule"):
            SGD([a], lr=bad)
    with pytest.raises(ValueError, match="momentum"):
        SGD([a], lr=0.1, momentum=1.0)
    with pytest.raises(ValueError, match="betas"):
        Adam([a], betas=(0.9, 1.0))
