"""The plugin is found through its entry point, and every op passes picograd's checker."""

import math

import numpy as np
import picograd_losses
import pytest

import picograd
import picograd.ops as ops
from picograd import Value
from picograd.testing import check_op, gradcheck

NAMES = [op.name for op in picograd_losses.OPS]


def test_plugin_is_discovered():
    plugins = picograd.active_registry().plugins
    mine = [p for p in plugins.values() if p.distribution == "picograd-losses"]
    assert len(mine) == 1, f"picograd-losses not discovered among {list(plugins)}"
    assert mine[0].status == "loaded", mine[0].error
    assert sorted(mine[0].ops) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_op_passes_the_checker(name):
    results = check_op(name)
    second = [r for r in results if r.check == "second derivatives"]
    assert second and not second[0].detail.startswith("not supported")
    assert picograd.active_registry().get(name).kind == "loss"


def test_huber_second_derivative_is_one_inside_and_zero_outside():
    for score, expected in [(0.3, 1.0), (2.5, 0.0), (-2.5, 0.0)]:
        s = Value(score)
        (d1,) = picograd.grad(ops.huber(s, 0.0), s, create_graph=True)
        assert picograd.grad(d1, s)[0] == expected


def test_huber_is_quadratic_then_linear():
    assert ops.huber(Value(0.5), 0.0).data == 0.125           # 0.5 r^2
    assert ops.huber(Value(3.0), 1.0, delta=0.5).data == 0.875  # 0.5 (2 - 0.25)
    for s in (-2.0, 0.1, 1.7):
        gradcheck(lambda v: ops.huber(v, 0.3, delta=0.5), [s], name="huber")


def test_cross_entropy_is_minus_log_softmax():
    z = [2.0, -1.0, 0.5]
    softmax = [math.exp(x) / sum(math.exp(y) for y in z) for x in z]
    for k in range(3):
        assert ops.softmax_cross_entropy(*z, target=k).data == pytest.approx(-math.log(softmax[k]))
        gradcheck(lambda *vs, k=k: ops.softmax_cross_entropy(*vs, target=k), z, name="xent")
    # variadic: any number of logits; one logit is certain, so the loss is 0
    assert ops.softmax_cross_entropy(Value(3.0)).data == 0.0
    assert ops.softmax_cross_entropy(*[0.0] * 10, target=9).data == pytest.approx(math.log(10))


def test_cross_entropy_does_not_overflow():
    logits = [Value(1000.0), Value(-1000.0), Value(0.0)]
    loss = ops.softmax_cross_entropy(*logits, target=1)
    loss.backward()
    assert loss.data == 2000.0
    assert [v.grad for v in logits] == [1.0, -1.0, 0.0]


def test_cross_entropy_names_a_bad_target():
    message = r"(?s)target class 3 is not one of the 2 logits.*op 'softmax_cross_entropy'"
    with pytest.raises(IndexError, match=message):
        ops.softmax_cross_entropy(1.0, 2.0, target=3)


def test_cross_entropy_target_must_be_an_int():
    with pytest.raises(TypeError, match=r"(?s)target class 1.0 must be an int"):
        ops.softmax_cross_entropy(1.0, 2.0, target=1.0)
    assert ops.softmax_cross_entropy(1.0, 2.0, target=1).data == pytest.approx(
        math.log(math.exp(1.0) + math.exp(2.0)) - 2.0)


def test_huber_at_a_nan_residual_is_nan_with_nan_gradients():
    s = Value(math.nan)
    loss = ops.huber(s, 0.0)
    loss.backward()
    assert math.isnan(loss.data) and math.isnan(s.grad)


def test_cross_entropy_in_batch_mode_matches_scalars():
    rows = np.array([[0.5, -1.0, 2.0], [1.5, 0.3, -0.7], [-2.0, 0.0, 4.0]])
    logits = [Value(rows[:, j]) for j in range(3)]
    ops.softmax_cross_entropy(*logits, target=2).backward()
    for i, row in enumerate(rows):
        vs = [Value(float(x)) for x in row]
        ops.softmax_cross_entropy(*vs, target=2).backward()
        assert [v.grad for v in vs] == pytest.approx([lg.grad[i] for lg in logits], rel=1e-12)


def test_squared_hinge_is_composite():
    op = picograd.active_registry().get("squared_hinge")
    assert op.backward is None
    s = Value(0.25)
    loss = ops.squared_hinge(s, -1.0)  # (1 + 0.25)^2
    loss.backward()
    assert loss.data == 1.5625 and s.grad == 2.5
