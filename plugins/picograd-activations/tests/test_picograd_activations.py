"""The plugin is found through its entry point, and every op passes picograd's checker."""

import math

import numpy as np
import picograd_activations
import pytest

import picograd
from picograd import Value
from picograd.testing import check_op, gradcheck

NAMES = [op.name for op in picograd_activations.OPS]


def test_plugin_is_discovered():
    plugins = picograd.active_registry().plugins
    mine = [p for p in plugins.values() if p.distribution == "picograd-activations"]
    assert len(mine) == 1, f"picograd-activations not discovered among {list(plugins)}"
    assert mine[0].status == "loaded", mine[0].error
    assert sorted(mine[0].ops) == sorted(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_op_passes_the_checker(name):
    results = check_op(name)
    second = [r for r in results if r.check == "second derivatives"]
    assert second and not second[0].detail.startswith("not supported")
    expected = "op" if name == "erf" else "activation"  # erf is gelu's helper
    assert picograd.active_registry().get(name).kind == expected


def test_second_derivatives_at_known_points():
    # gelu'' = phi(x) (2 - x^2); softplus'' = s (1 - s); elu'' = alpha e^x below 0
    phi = math.exp(-0.5) / math.sqrt(2.0 * math.pi)
    for name, x, expected, attrs in [
        ("gelu", 1.0, phi * (2.0 - 1.0), {}),
        ("softplus", 0.0, 0.25, {}),
        ("elu", -1.0, 2.0 * math.exp(-1.0), {"alpha": 2.0}),
        ("leaky_relu", -1.0, 0.0, {"slope": 0.1}),
        ("erf", 0.5, -4.0 * 0.5 * math.exp(-0.25) / math.sqrt(math.pi), {}),
    ]:
        v = Value(x)
        (d1,) = picograd.grad(getattr(v, name)(**attrs), v, create_graph=True)
        assert picograd.grad(d1, v)[0] == pytest.approx(expected, rel=1e-12), name


def test_values_at_known_points():
    # gelu(1) = Phi(1) = 0.8413447460685429; softplus(0) = log 2; softsign(1) = 1/2
    assert math.isclose(Value(1.0).gelu().data, 0.8413447460685429, rel_tol=1e-12)
    assert math.isclose(Value(0.0).softplus().data, math.log(2.0), rel_tol=1e-15)
    assert Value(1.0).softsign().data == 0.5
    assert Value(-2.0).leaky_relu(slope=0.1).data == pytest.approx(-0.2)
    assert Value(-1.0).elu(alpha=2.0).data == pytest.approx(2.0 * (math.exp(-1.0) - 1.0))
    assert Value(1.5).swish(beta=1.0).data == Value(1.5).silu().data


@pytest.mark.parametrize("name", ["softplus", "mish", "silu", "swish", "elu", "gelu"])
def test_large_inputs_do_not_overflow(name):
    for x in (-1000.0, 1000.0):
        v = Value(x)
        y = getattr(v, name)()
        y.backward()
        assert math.isfinite(y.data) and math.isfinite(v.grad), (name, x, y, v.grad)
    assert Value(1000.0).softplus().data == 1000.0
    assert Value(-1000.0).mish().data == 0.0


@pytest.mark.parametrize("name, attrs", [("elu", {"alpha": 0.5}), ("leaky_relu", {"slope": 0.2}),
                                         ("swish", {"beta": 2.0})])
def test_attributes_are_used_by_the_gradient(name, attrs):
    op = getattr(picograd.ops, name)
    for x in (-1.2, 0.8):
        gradcheck(lambda v: op(v, **attrs), [x], name=name)


def test_gelu_runs_on_arrays_through_the_elementwise_fallback():
    assert picograd.active_registry().get("gelu").op.array_forward is None
    xs = np.array([-2.0, -0.3, 0.4, 1.7])
    batch = Value(xs)
    batch.gelu().backward()
    for k, x in enumerate(xs):
        v = Value(float(x))
        y = v.gelu()
        y.backward()
        assert y.data == pytest.approx(Value(xs).gelu().data[k], rel=1e-12)
        assert v.grad == pytest.approx(batch.grad[k], rel=1e-12)
