"""Errors a user sees: what was expected, which op, which value, which plugin."""

from __future__ import annotations

import math

import numpy as np
import pytest

from picograd import Op, Value, hookimpl


@pytest.mark.parametrize("bad", ["abc", None, [1, 2], complex(1, 2), {"x": 1}])
def test_value_rejects_what_is_not_a_number(bad):
    with pytest.raises(TypeError, match="Value\\(\\) expects a real number or a numpy array"):
        Value(bad)


def test_an_operand_that_is_not_a_number_names_the_op(registry):
    expected = "op 'add' expects Values, numbers or numpy arrays, got str"
    with pytest.raises(TypeError, match=expected):
        Value(1.0) + "x"
    with pytest.raises(TypeError, match="op 'mul'.*got NoneType"):
        None * Value(1.0)


@pytest.mark.parametrize("make, exc, text", [
    (lambda: Value(-1.0).log(), ValueError, r"log\(-1.0\) forward failed: log is only defined"),
    (lambda: Value(0.0).log(), ValueError, r"log\(0.0\)"),
    (lambda: Value(0.0) ** -1, ZeroDivisionError, r"pow\(0.0, -1.0\).*negative power"),
    (lambda: Value(1.0) / 0, ZeroDivisionError, r"div\(1.0, 0.0\).*division by zero"),
    (lambda: Value(-4.0).sqrt(), ValueError, r"sqrt\(-4.0\).*only defined for x >= 0"),
    (lambda: Value(-8.0) ** (1 / 3), ValueError, r"pow\(-8.0, 0.333.*not real"),
])
def test_domain_errors_name_the_op_and_the_value(registry, make, exc, text):
    with pytest.raises(exc, match=text) as info:
        make()
    assert "[op '" in str(info.value) and "from picogradlib " in str(info.value)
    assert "math domain error" not in str(info.value)


class Broken:
    """An in-process plugin whose ops fail in the ways plugins do."""

    @hookimpl
    def picograd_register_ops(self, register):
        register(Op("explode", lambda x: 1.0 / (x - x), lambda g, y, x: (g,)))
        register(Op("bad_backward", lambda x: 2.0 * x,
                    lambda g, y, x: (_ for _ in ()).throw(RuntimeError("kaboom"))))
        register(Op("too_many", lambda x: 2.0 * x, lambda g, y, x: (g, g)))
        register(Op("not_a_tuple", lambda x: 2.0 * x, lambda g, y, x: 2.0 * g))
        register(Op("two_in", lambda a, b: a * b, lambda g, y, a, b: (g * b,), arity=2))
        register(Op("scaled", lambda x, k: k * x, lambda g, y, x, k: (g * k,), attrs={"k": 2.0}))
        register(Op("np_twice", lambda x: np.float64(2.0 * x), lambda g, y, x: (2.0 * g,)))
        register(Op("oops", lambda x: "oops", lambda g, y, x: (g,)))
        register(Op("softly", lambda x: x * x.sigmoid(), kind="activation"))  # composite


@pytest.fixture
def broken(registry):
    with registry.register_plugin(Broken(), name="broken-ops"):
        yield


def test_a_plugin_forward_exception_names_op_and_plugin(broken):
    expected = r"explode\(2.0\) forward failed.*\[op 'explode' from in-process plugin 'broken-ops"
    with pytest.raises(ZeroDivisionError, match=expected):
        Value(2.0).explode()


def test_a_plugin_backward_exception_names_op_and_plugin(broken):
    y = Value(2.0).bad_backward() * 3.0
    with pytest.raises(RuntimeError, match=r"bad_backward\(2.0\) backward failed: kaboom"):
        y.backward()


@pytest.mark.parametrize("name, got", [("too_many", "got 2 gradient"),
                                       ("not_a_tuple", "got float")])
def test_wrong_number_of_gradients_is_reported(broken, name, got):
    x = Value(2.0)
    y = getattr(x, name)()
    with pytest.raises(Exception, match=rf"{name}.*must return a tuple of 1 gradient\(s\), {got}"):
        y.backward()


def test_binary_op_returning_one_gradient_is_reported(broken):
    from picograd import ops

    y = ops.two_in(Value(2.0), Value(3.0))
    with pytest.raises(Exception, match=r"two_in.*tuple of 2 gradient\(s\), got 1"):
        y.backward()


def test_the_error_carries_op_and_provider_attributes(broken):
    with pytest.raises(ZeroDivisionError) as info:
        Value(1.0).explode()
    assert info.value.op == "explode"
    assert info.value.provider == "in-process plugin 'broken-ops'"


def test_wrong_arity_and_unknown_attribute_are_clear(registry):
    from picograd import ops

    with pytest.raises(TypeError, match="tanh"):
        ops.tanh(Value(1.0), Value(2.0))
    with pytest.raises(TypeError, match="tanh"):
        ops.tanh(Value(1.0), slope=2.0)


def test_attributes_are_keywords_with_defaults(broken):
    x = Value(3.0)
    assert x.scaled().data == 6.0 and x.scaled(k=-1.0).data == -3.0
    y = x.scaled(k=5.0)
    y.backward()
    assert x.grad == 5.0  # the attribute scales the gradient and gets none itself
    assert y._op.label == "scaled(k=5.0)"
    expected = r"op 'scaled' got unknown attribute\(s\) j \(its attributes: k\)"
    with pytest.raises(TypeError, match=expected):
        x.scaled(j=3.0)


def test_nan_passes_through_as_ieee(registry):
    y = Value(math.nan).tanh()
    assert math.isnan(y.data)


def test_an_int_too_large_for_a_float_is_named():
    with pytest.raises(OverflowError, match=r"Value\(\) got an int too large for a float"):
        Value(10**400)


def test_bound_op_cache_stays_bounded(broken):
    from picograd import active_registry
    from picograd.op import MAX_VARIANTS

    op = active_registry().get("scaled")
    for k in range(MAX_VARIANTS + 50):
        assert Value(1.0).scaled(k=float(k)).data == float(k)
    assert 0 < len(op._variants) <= MAX_VARIANTS


def test_attributes_passed_by_position_get_a_hint(broken):
    with pytest.raises(TypeError, match=r"takes 1 input\(s\), got 2; attributes are keywords: "
                                        r"scaled\(x, k=...\)"):
        Value(1.0).scaled(3.0)


@pytest.mark.parametrize("name, got", [("np_twice", "numpy.float64"), ("oops", "builtins.str")])
def test_the_checker_insists_forward_returns_a_float(broken, name, got):
    from picograd.testing import GradcheckError, check_op

    with pytest.raises(GradcheckError, match=rf"{name}.*forward.*returned {got}.*not a float"):
        check_op(name)


def test_composite_ops_take_plain_numbers_too(broken):
    from picograd import ops

    y = ops.softly(2.0)
    assert y.data == pytest.approx(2.0 / (1.0 + math.exp(-2.0)))
    assert not y.requires_grad


def test_a_value_keeps_its_own_copy_of_an_array():
    X = np.array([1.0, 2.0])
    w = Value(X)
    X[0] = 100.0
    assert w.data.tolist() == [1.0, 2.0]


def test_an_array_times_a_value_is_one_batch_value(registry):
    w = Value(2.0)
    y = np.array([1.0, 2.0, 3.0]) * w
    assert isinstance(y, Value) and y.data.tolist() == [2.0, 4.0, 6.0]
    y.backward()
    assert w.grad == 6.0  # summed over the batch
