"""The numeric policy (docs/numeric-policy.md): every built-in op at its edges.

Each row of the table there has one test here, marked ``@row("slug")``; a meta-test
checks that the table and the tests name the same rows. Every row is either a clear
error (the op, the inputs and the provider in the message) or an IEEE result, and no
row lets a NaN or an infinity turn into a finite, wrong gradient.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from picograd import Value
from picograd import ops as F
from picograd.errors import op_failure

INF, NAN = math.inf, math.nan
ROWS: set[str] = set()


def row(slug: str):
    """Mark a test as the one for policy row ``slug`` of docs/numeric-policy.md."""
    ROWS.add(slug)
    return lambda fn: fn


def grads(fn, *xs: float, requires_grad: tuple[bool, ...] | None = None):
    """Forward and backward ``fn`` at ``xs``: (output value, gradient of each input)."""
    flags = requires_grad or (True,) * len(xs)
    vs = [Value(x, requires_grad=r) for x, r in zip(xs, flags)]
    y = fn(*vs)
    y.backward()
    return y.data, [v.grad for v in vs]


def same(a: float, b: float) -> bool:
    """Equal, with NaN equal to NaN and the sign of zeros and infinities respected."""
    if math.isnan(b):
        return math.isnan(a)
    return a == b and math.copysign(1.0, a) == math.copysign(1.0, b)


def clear_error(exc: type[Exception], make, *, text: str, op: str, where: str = "") -> None:
    """``make()`` raises the op's own ``exc`` saying ``text``, with a note naming the op,
    its inputs (``where``) and the provider."""
    with pytest.raises(exc) as info:
        make()
    assert re.search(text, str(info.value)), str(info.value)
    failure = op_failure(info.value)
    assert failure is not None and failure.op == op, info.value.__notes__
    assert failure.provider.startswith("picogradlib "), failure
    assert re.search(where, failure.what), failure


# ---- clear errors ---------------------------------------------------------------------

@row("exp-overflow")
def test_exp_overflow_is_a_clear_error(registry):
    clear_error(OverflowError, lambda: Value(710.0).exp(),
                text=r"e \*\* x is too large for a float", op="exp",
                where=r"exp\(710.0\) forward failed")
    assert Value(709.0).exp().data == math.exp(709.0)  # the largest x that fits still works


@row("pow-overflow")
def test_pow_overflow_is_a_clear_error(registry):
    clear_error(OverflowError, lambda: Value(10.0) ** 400,
                text=r"the result is too large", op="pow", where=r"pow\(10.0, 400.0\) forward")
    clear_error(OverflowError, lambda: Value(1e-5) ** -70.0, text="too large", op="pow")


@row("log-zero-negative")
@pytest.mark.parametrize("x", [0.0, -0.0, -1.0, -INF])
def test_log_outside_its_domain_is_a_clear_error(registry, x):
    clear_error(ValueError, lambda: Value(x).log(), text="log is only defined for x > 0",
                op="log")


@row("sqrt-negative")
@pytest.mark.parametrize("x", [-1e-300, -4.0, -INF])
def test_sqrt_of_a_negative_number_is_a_clear_error(registry, x):
    clear_error(ValueError, lambda: Value(x).sqrt(), text="sqrt is only defined for x >= 0",
                op="sqrt")


@row("pow-zero-negative")
@pytest.mark.parametrize("b", [-1.0, -0.5, -INF])
def test_zero_to_a_negative_power_is_a_clear_error(registry, b):
    clear_error(ZeroDivisionError, lambda: Value(0.0) ** b,
                text="0 cannot be raised to a negative power", op="pow")


@row("pow-negative-base-fraction")
@pytest.mark.parametrize("b", [0.5, 1 / 3, -2.5, INF, NAN])
def test_negative_base_with_a_non_integer_exponent_is_a_clear_error(registry, b):
    clear_error(ValueError, lambda: Value(-8.0) ** b,
                text="a negative base needs an integer exponent", op="pow")


@row("div-zero")
@pytest.mark.parametrize("a", [1.0, 0.0, -3.0, NAN, INF])
@pytest.mark.parametrize("b", [0.0, -0.0])
def test_division_by_zero_is_a_clear_error_whatever_the_numerator(registry, a, b):
    clear_error(ZeroDivisionError, lambda: Value(a) / b, text="division by zero", op="div")


@row("bce-outside")
@pytest.mark.parametrize("p", [0.0, 1.0, -0.5, 1.5, NAN])
def test_bce_outside_the_open_unit_interval_is_a_clear_error(registry, p):
    clear_error(ValueError, lambda: F.bce(Value(p), 1.0), text="0 < p < 1", op="bce")


@row("huge-int")
def test_an_int_too_large_for_a_float_is_a_clear_error(registry):
    with pytest.raises(OverflowError, match=r"Value\(\) got an int too large for a float"):
        Value(10**400)
    with pytest.raises(OverflowError, match=r"Value\(\) got an int too large for a float"):
        Value(1.0) + 10**400


# ---- IEEE results -----------------------------------------------------------------------

@row("arith-overflow")
def test_arithmetic_overflow_gives_inf_and_exact_gradients(registry):
    y, (ga, gb) = grads(lambda a, b: a * b, 1e308, 10.0)
    assert y == INF and (ga, gb) == (10.0, 1e308)  # the slopes are finite, and exact
    y, (ga, gb) = grads(lambda a, b: a + b, 1e308, 1e308)
    assert y == INF and (ga, gb) == (1.0, 1.0)
    y, (ga, gb) = grads(lambda a, b: a / b, -1e308, 1e-10)
    assert y == -INF and ga == 1e10 and gb == INF  # -g * y / b: the slope overflows too
    assert (Value(-1e308) - 1e308).data == -INF


@row("sqrt-zero")
def test_sqrt_at_zero_has_an_infinite_slope(registry):
    y, (g,) = grads(lambda x: x.sqrt(), 0.0)
    assert y == 0.0 and g == INF
    y, (g,) = grads(lambda x: -x.sqrt(), 0.0)
    assert g == -INF  # the upstream sign carries through: -1 * inf
    y, (g,) = grads(lambda x: x.sqrt() * 0.0, 0.0)
    assert math.isnan(g)  # 0 * inf, as IEEE and PyTorch; never a made-up 0
    y, (g,) = grads(lambda x: x.sqrt(), -0.0)
    assert same(y, -0.0) and g == INF  # sqrt(-0.0) = -0.0, and its slope is +inf too


@row("pow-zero-fraction")
def test_zero_to_a_fractional_power(registry):
    y, (ga, gb) = grads(lambda a, b: a**b, 0.0, 0.5)
    assert y == 0.0 and ga == INF and gb == 0.0  # x ** 0.5 is sqrt; 0 ** b is flat in b
    # a constant base 0 with a learnable exponent: backward must not fail on the
    # base's infinite slope, which nobody asked for
    y, (ga, gb) = grads(lambda a, b: a**b, 0.0, 0.5, requires_grad=(False, True))
    assert (ga, gb) == (0.0, 0.0)


@row("pow-zero-zero")
def test_zero_to_the_zero(registry):
    y, (ga, gb) = grads(lambda a, b: a**b, 0.0, 0.0)
    assert y == 1.0 and (ga, gb) == (0.0, 0.0)  # as PyTorch
    assert grads(lambda a: a**1.0, 0.0)[1] == [1.0]
    assert grads(lambda a: a**2.0, 0.0)[1] == [0.0]


@row("pow-negative-base-integer")
def test_negative_base_with_an_integer_exponent(registry):
    y, (ga, gb) = grads(lambda a, b: a**b, -2.0, 3.0)
    assert y == -8.0 and ga == 12.0  # 3 (-2)^2
    assert math.isnan(gb)  # d/db a^b = a^b ln a does not exist for a < 0
    y, (ga,) = grads(lambda a: a**3, -2.0)  # the usual case: a constant exponent
    assert (y, ga) == (-8.0, 12.0)
    assert grads(lambda a: a**-1, -4.0)[1] == [-0.0625]


@row("pow-slope-overflow")
def test_pow_slope_too_large_for_a_float_is_inf_not_an_error(registry):
    y, (ga, gb) = grads(lambda a, b: a**b, 1e-5, -61.0)
    assert y == pytest.approx(1e305) and ga == -INF  # -61 * 1e-5 ** -62 overflows
    assert gb == pytest.approx(1e305 * math.log(1e-5))
    y, (ga, _) = grads(lambda a, b: a**b, -1e-5, -61.0)
    assert ga == -INF  # (-1e-5) ** -62 > 0, times -61


@row("nan-in")
def test_nan_in_gives_nan_out_for_every_builtin_op(registry):
    # Rows that are domain errors stay errors for NaN (bce's p, pow with a negative
    # base, division by 0); IEEE itself has nan ** 0 = 1 and 1 ** nan = 1.
    errors = {("bce", 0)}
    checked = []
    for name, op in sorted(registry.ops.items()):
        sample = op.samples[0] if op.samples else (0.7,) * (op.arity or 3)
        for i in range(len(sample)):
            xs = [Value(x) for x in sample]
            xs[i] = Value(NAN)
            if (name, i) in errors:
                with pytest.raises(ValueError, match=name):
                    getattr(F, name)(*xs)
                continue
            y = getattr(F, name)(*xs)
            assert math.isnan(y.data), f"{name} with NaN input {i} gave {y.data}"
            y.backward()  # and backward never fails on it
            checked.append(name)
    assert {"add", "mul", "div", "pow", "exp", "log", "relu", "abs"} <= set(checked)
    assert (Value(NAN) ** 0.0).data == 1.0 and (Value(1.0) ** NAN).data == 1.0


@row("nan-gradient")
@pytest.mark.parametrize("name", ["relu", "abs", "tanh", "sigmoid", "exp", "log", "sqrt"])
def test_a_nan_input_never_gets_a_finite_gradient(registry, name):
    y, (g,) = grads(lambda x: getattr(x, name)(), NAN)
    assert math.isnan(y) and math.isnan(g)  # relu and abs too: never the step's 0


@row("loss-nan")
@pytest.mark.parametrize("name", ["hinge", "logistic", "mse"])
@pytest.mark.parametrize("xs", [(NAN, 1.0), (NAN, -1.0), (1.0, NAN)])
def test_a_loss_at_nan_is_nan_with_nan_gradients(registry, name, xs):
    y, gs = grads(lambda s, t: getattr(F, name)(s, t), *xs)
    assert math.isnan(y) and all(math.isnan(g) for g in gs)  # never the flat side's 0


@row("inf-in")
@pytest.mark.parametrize("name, x, y, g", [
    ("exp", -INF, 0.0, 0.0), ("exp", INF, INF, INF),
    ("tanh", INF, 1.0, 0.0), ("tanh", -INF, -1.0, 0.0),
    ("sigmoid", INF, 1.0, 0.0), ("sigmoid", -INF, 0.0, 0.0),
    ("relu", INF, INF, 1.0), ("relu", -INF, 0.0, 0.0),
    ("abs", -INF, INF, -1.0), ("neg", INF, -INF, -1.0),
    ("log", INF, INF, 0.0), ("sqrt", INF, INF, 0.0),
])
def test_infinite_inputs_give_the_ieee_limits(registry, name, x, y, g):
    out, (grad,) = grads(lambda v: getattr(F, name)(v), x)
    assert same(out, y) and same(grad, g)


@row("inf-arith")
def test_undefined_arithmetic_on_infinities_is_nan(registry):
    y, (ga, gb) = grads(lambda a, b: a - b, INF, INF)
    assert math.isnan(y) and (ga, gb) == (1.0, -1.0)
    y, (ga, gb) = grads(lambda a, b: a * b, 0.0, INF)
    assert math.isnan(y) and ga == INF and gb == 0.0
    y, (ga, gb) = grads(lambda a, b: a / b, 1.0, INF)
    assert y == 0.0 and ga == 0.0 and gb == 0.0
    assert math.isnan((Value(INF) / INF).data)


@row("relu-zero")
@pytest.mark.parametrize("x", [0.0, -0.0])
def test_relu_at_zero(registry, x):
    y, (g,) = grads(lambda v: v.relu(), x)
    assert same(y, 0.0) and g == 0.0  # NOTE: the kink gets the subgradient 0 (micrograd)


@row("abs-zero")
@pytest.mark.parametrize("x", [0.0, -0.0])
def test_abs_at_zero(registry, x):
    y, (g,) = grads(lambda v: v.abs(), x)
    assert same(y, 0.0) and g == 0.0  # NOTE: the subgradient 0, as PyTorch


@row("sigmoid-extreme")
@pytest.mark.parametrize("x, y", [(1000.0, 1.0), (-1000.0, 0.0)])
def test_sigmoid_never_overflows(registry, x, y):
    out, (g,) = grads(lambda v: v.sigmoid(), x)
    assert out == y and g == 0.0


# ---- batch mode: numpy arrays follow the same rows ------------------------------------

EDGES = [
    ("exp", (710.0,)), ("exp", (-INF,)), ("exp", (INF,)), ("exp", (NAN,)),
    ("pow", (10.0, 400.0)), ("pow", (0.0, -1.0)), ("pow", (0.0, 0.5)), ("pow", (0.0, 0.0)),
    ("pow", (-2.0, 3.0)), ("pow", (-8.0, 1 / 3)), ("pow", (1e-5, -61.0)),
    ("pow", (NAN, 0.0)), ("pow", (1.0, NAN)), ("log", (0.0,)), ("log", (-1.0,)),
    ("log", (INF,)), ("log", (NAN,)), ("sqrt", (0.0,)), ("sqrt", (-1.0,)), ("sqrt", (INF,)),
    ("div", (1.0, 0.0)), ("div", (NAN, 0.0)), ("div", (1.0, INF)), ("div", (-1e308, 1e-10)),
    ("mul", (1e308, 10.0)), ("mul", (0.0, INF)), ("sub", (INF, INF)), ("neg", (INF,)),
    ("relu", (0.0,)), ("relu", (-0.0,)), ("relu", (NAN,)), ("relu", (INF,)),
    ("abs", (0.0,)), ("abs", (NAN,)), ("abs", (-INF,)), ("tanh", (INF,)), ("tanh", (NAN,)),
    ("sigmoid", (1000.0,)), ("sigmoid", (-1000.0,)), ("sigmoid", (-INF,)),
    ("bce", (0.0, 1.0)), ("bce", (NAN, 1.0)), ("bce", (0.5, NAN)),
    ("hinge", (NAN, 1.0)), ("hinge", (1.0, NAN)), ("hinge", (NAN, -1.0)), ("hinge", (2.0, 1.0)),
    ("logistic", (NAN, 1.0)), ("logistic", (1.0, NAN)), ("mse", (NAN, 1.0)), ("mse", (1.0, NAN)),
    # an infinite or NaN operand where the result is finite, or NaN: the scalar op judges
    ("pow", (-0.5, INF)), ("pow", (-0.5, -INF)), ("pow", (-2.0, NAN)), ("pow", (0.5, INF)),
    ("div", (INF, 0.0)), ("div", (INF, 2.0)), ("sqrt", (-0.0,)), ("add", (1e308, 1e308)),
    ("sub", (-1e308, 1e308)), ("mul", (INF, 0.0)),
]


def outcome(name: str, xs: tuple, wrap) -> tuple:
    """(value, gradients) of op ``name`` at ``xs``, or the type of its error."""
    vs = [Value(wrap(x)) for x in xs]
    try:
        y = getattr(F, name)(*vs)
        y.backward(wrap(1.0))
    except Exception as e:
        return (type(e),)
    return (float(y.data if not hasattr(y.data, "shape") else y.data[0]),
            [float(v.grad if not hasattr(v.grad, "shape") else v.grad[0]) for v in vs])


@pytest.mark.filterwarnings("error")  # and numpy's RuntimeWarnings never leak out
@pytest.mark.parametrize("name, xs", EDGES, ids=[f"{n}{x}" for n, x in EDGES])
def test_batch_follows_the_same_policy(registry, name, xs):
    import numpy as np

    scalar = outcome(name, xs, float)
    batch = outcome(name, xs, lambda x: np.array([x]))
    if len(scalar) == 1:
        assert batch == scalar  # the same clear error
    else:
        assert same(batch[0], scalar[0])
        assert all(same(b, s) for b, s in zip(batch[1], scalar[1])), (batch, scalar)


@pytest.mark.filterwarnings("error")
def test_batch_backward_seeds_ones_even_where_the_output_is_infinite(registry):
    import numpy as np

    x = Value(np.array([1e308, 1.0]))
    y = x * 10.0  # [inf, 10]: the slope is 10 everywhere
    y.backward()
    assert list(x.grad) == [10.0, 10.0]


@row("mean-empty")
@pytest.mark.filterwarnings("error")
def test_the_mean_of_an_empty_batch_is_a_clear_error(registry):
    import numpy as np

    clear_error(ValueError, lambda: Value(np.array([])).mean(), op="mean",
                text="the mean of an empty batch is undefined", where=r"mean\(array\(0,\)\)")
    empty = Value(np.array([]))
    total = empty.sum()
    total.backward()
    assert total.data == 0.0 and empty.grad.shape == (0,)  # the sum of nothing is 0


# ---- the table and the tests agree ---------------------------------------------------

def test_every_documented_policy_row_has_a_test():
    section = (Path(__file__).parent.parent / "docs" / "numeric-policy.md").read_text()
    slugs = set(re.findall(r"^\| `([a-z0-9-]+)` \|", section, flags=re.M))
    assert slugs == ROWS
