"""Every op in the live registry passes the one shared checker; kinks get point tests."""

from __future__ import annotations

import pytest

from picograd import Registry, Value
from picograd.testing import GradcheckError, check_op, gradcheck

# The live registry, as a user has it: built-ins plus every installed plugin.
LIVE = Registry()
LIVE_OPS = sorted(LIVE.ops)


@pytest.mark.parametrize("name", LIVE_OPS)
def test_every_registered_op_passes_the_checker(name):
    results = check_op(LIVE.ops[name])
    assert results and all(r.ok for r in results)


def test_the_live_registry_has_the_builtins():
    assert {"add", "mul", "pow", "relu", "tanh", "exp", "log", "sigmoid", "sqrt", "abs"} <= set(
        LIVE_OPS
    )


@pytest.mark.parametrize("name", ["relu", "abs"])
def test_kinks_use_the_zero_subgradient(registry, name):
    # NOTE: relu and abs have no derivative at 0; like micrograd and PyTorch we use 0.
    x = Value(0.0)
    getattr(x, name)().backward()
    assert x.grad == 0.0


@pytest.mark.parametrize("x, relu_grad, abs_grad", [(1e-9, 1.0, 1.0), (-1e-9, 0.0, -1.0)])
def test_gradients_right_beside_the_kinks(registry, x, relu_grad, abs_grad):
    a, b = Value(x), Value(x)
    a.relu().backward()
    b.abs().backward()
    assert (a.grad, b.grad) == (relu_grad, abs_grad)


def test_gradcheck_works_on_any_function_of_values(registry):
    grads = gradcheck(lambda x, y: (x * y + x.exp()).tanh() / (y * y + 1.0), [0.3, -1.2])
    assert len(grads) == 2 and all(g != 0.0 for g in grads)


def test_gradcheck_catches_a_wrong_backward(registry):
    from picograd import Op, hookimpl

    class Wrong:
        @hookimpl
        def picograd_register_ops(self, register):
            register(Op("square_wrong", lambda x: x * x, lambda g, y, x: (g * x,)))  # not 2x

    with registry.register_plugin(Wrong(), name="wrong"):
        with pytest.raises(GradcheckError, match=r"square_wrong.*by backward.*finite differences"):
            check_op("square_wrong")


def test_the_checker_tries_other_attribute_values(registry):
    from picograd import Op, hookimpl

    class Forgetful:  # backward ignores k: right at the default k=1.0 only
        @hookimpl
        def picograd_register_ops(self, register):
            register(Op("scale", lambda x, k: k * x, lambda g, y, x, k: (g,), attrs={"k": 1.0}))

    with registry.register_plugin(Forgetful(), name="forgetful"):
        with pytest.raises(GradcheckError, match=r"attributes: scale\(k=1.75\)"):
            check_op("scale")
