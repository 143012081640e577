"""The plugin is found through its entry point, and every op passes picograd's checker."""

import math

import picograd_trig
import pytest

import picograd
from picograd import Value
from picograd.testing import check_op

NAMES = [op.name for op in picograd_trig.OPS]


def test_plugin_is_discovered():
    plugins = picograd.active_registry().plugins
    mine = [p for p in plugins.values() if p.distribution == "picograd-trig"]
    assert len(mine) == 1, f"picograd-trig not discovered among {list(plugins)}"
    assert mine[0].status == "loaded", mine[0].error
    assert sorted(mine[0].ops) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_op_passes_the_checker(name):
    results = check_op(name)
    second = [r for r in results if r.check == "second derivatives"]
    assert second and not second[0].detail.startswith("not supported")


def test_derivatives_go_round_the_circle():
    # the derivatives of sin: cos, -sin, -cos, then sin again
    x = Value(0.7)
    d = x.sin()
    got = []
    for _ in range(4):
        (d,) = picograd.grad(d, x, create_graph=True)
        got.append(d.data)
    assert got == pytest.approx([math.cos(0.7), -math.sin(0.7), -math.cos(0.7), math.sin(0.7)],
                                rel=1e-14)


def test_identities():
    x = Value(0.7)
    one = x.sin() ** 2 + x.cos() ** 2
    one.backward()
    assert one.data == pytest.approx(1.0) and x.grad == pytest.approx(0.0, abs=1e-12)
    assert (x.cosh() ** 2 - x.sinh() ** 2).data == pytest.approx(1.0)
    assert Value(1.0).atan().data == pytest.approx(math.pi / 4)


def test_overflow_is_named():
    message = r"(?s)sinh\(1000.0\) is too large.*op 'sinh' from picograd-trig 0.1.0"
    with pytest.raises(OverflowError, match=message):
        Value(1000.0).sinh()
