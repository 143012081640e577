"""Gradients of gradients: picograd.grad, backward(create_graph=True), Op.grad_backward."""

from __future__ import annotations

import math

import numpy as np
import pytest

import picograd
from picograd import MLP, Op, OpError, PluginError, Registry, Value, grad, hookimpl, losses
from picograd import ops as F
from picograd.errors import op_failure
from picograd.testing import GradcheckError, check_op, gradgradcheck, numeric_gradient, run_checks

LIVE = Registry()  # built-ins and every installed plugin, as a user has them


def second(f, x: float) -> float:
    v = Value(x)
    (d,) = grad(f(v), v, create_graph=True)
    return grad(d, v)[0]


# ---- the user's view ------------------------------------------------------------------

def test_second_and_third_derivative_of_a_cube(registry):
    x = Value(2.0)
    (d1,) = grad(x**3, x, create_graph=True)
    (d2,) = grad(d1, x, create_graph=True)
    (d3,) = grad(d2, x, create_graph=True)
    (d4,) = grad(d3, x)
    assert (d1.data, d2.data, d3.data, d4) == (12.0, 12.0, 6.0, 0.0)  # 3x^2, 6x, 6, 0


def test_any_order_through_tanh(registry):
    # tanh' = 1 - t^2, tanh'' = -2 t (1 - t^2), tanh''' = (6 t^2 - 2)(1 - t^2)
    x, t = Value(0.4), math.tanh(0.4)
    d = x.tanh()
    got = []
    for _ in range(3):
        (d,) = grad(d, x, create_graph=True)
        got.append(d.data)
    s = 1.0 - t * t
    assert got == pytest.approx([s, -2.0 * t * s, (6.0 * t * t - 2.0) * s], rel=1e-13)


def test_a_hessian_vector_product(registry):
    # f = x^2 y + y^3: H = [[2y, 2x], [2x, 6y]]; H v for v = (1, -2)
    x, y = Value(1.5), Value(-0.5)
    f = x * x * y + y**3
    gx, gy = grad(f, [x, y], create_graph=True)
    hv = grad(gx * 1.0 + gy * -2.0, [x, y])
    assert hv == pytest.approx((2 * -0.5 * 1.0 + 2 * 1.5 * -2.0, 2 * 1.5 * 1.0 + 6 * -0.5 * -2.0))


def test_grad_returns_numbers_and_leaves_every_grad_alone(registry):
    x, y = Value(0.5), Value(-1.5)
    x.grad, y.grad = 7.0, 8.0
    z = (x * y).exp() + y
    assert grad(z, (x, y)) == pytest.approx((y.data * math.exp(-0.75), x.data * math.exp(-0.75)
                                             + 1.0))
    grad(z, x, create_graph=True)
    assert (x.grad, y.grad, z.grad) == (7.0, 8.0, 0.0)


def test_backward_with_create_graph_gives_values_with_a_graph(registry):
    x = Value(0.3)
    y = x.tanh() * x
    y.backward(create_graph=True)
    assert isinstance(x.grad, Value) and x.grad.requires_grad
    t = math.tanh(0.3)
    assert x.grad.data == pytest.approx(t + 0.3 * (1 - t * t), rel=1e-15)
    x.grad.backward()  # d/dx of dy/dx, added to the Value already there (PyTorch's way)
    assert isinstance(x.grad, Value)


def test_backward_with_a_seed_and_create_graph(registry):
    x = Value(1.5)
    h = x * x
    y = h.exp()
    y.backward(2.0, create_graph=True)  # the seed: d(something)/dy = 2
    assert x.grad.data == pytest.approx(2.0 * math.exp(2.25) * 3.0, rel=1e-15)
    assert isinstance(h.grad, Value) and h.grad.data == pytest.approx(2.0 * math.exp(2.25))
    (d2,) = grad(x.grad, x)  # d/dx 2 e^(x^2) 2x = 4 e^(x^2) (1 + 2x^2)
    assert d2 == pytest.approx(4.0 * math.exp(2.25) * (1.0 + 2.0 * 2.25), rel=1e-14)


def test_backward_without_the_flag_is_unchanged(registry):
    x = Value(0.3)
    (x.tanh() * x).backward()
    assert x.grad.__class__ is float


def test_create_graph_accumulates_into_leaves(registry):
    x = Value(2.0)
    (x * x).backward(create_graph=True)
    (x * x * x).backward(create_graph=True)
    assert x.grad.data == 4.0 + 12.0
    (d,) = grad(x.grad, x)
    assert d == 2.0 + 12.0  # d/dx (2x + 3x^2)


def test_first_derivatives_as_values_equal_the_plain_ones(registry):
    x, y = Value(0.7), Value(-0.4)
    f = ((x * y + x.exp()).tanh() / (y * y + 1.0)) ** 2.0 + (x - y).abs().sqrt().log()
    plain = grad(f, [x, y])
    as_values = grad(f, [x, y], create_graph=True)
    assert [v.data for v in as_values] == list(plain)  # the same float operations


def test_an_input_the_output_does_not_use_gets_zero(registry):
    x, unused = Value(1.0), Value(2.0)
    assert grad(x * 3.0, [x, unused]) == (3.0, 0.0)
    (d,) = grad(x * 3.0, x, create_graph=True)  # a constant: 3 does not depend on x
    assert not d.requires_grad and grad(d, x) == (0.0,)


def test_grad_rejects_what_is_not_a_value(registry):
    with pytest.raises(TypeError, match="with respect to Values"):
        grad(Value(1.0) * 2.0, [1.0])


# ---- every op ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(LIVE.ops))
def test_every_live_op_has_checked_second_derivatives(name):
    rows = [r for r in run_checks(LIVE.ops[name]) if r.check == "second derivatives"]
    assert len(rows) == 1 and rows[0].ok, rows
    assert not rows[0].detail.startswith("not supported"), rows[0].detail


def test_the_checker_catches_a_wrong_second_derivative(registry):
    class Wrong:  # right first derivative of x^3, wrong differentiable form (3x, not 3x^2)
        @hookimpl
        def picograd_register_ops(self, register):
            register(Op("cube", lambda x: x**3, lambda g, y, x: (3.0 * g * x * x,),
                        grad_backward=lambda g, y, x: (3.0 * g * x * 1.0,)))

    with registry.register_plugin(Wrong(), name="wrong"):
        with pytest.raises(GradcheckError, match=r"(?s)second derivatives.*cube.*create_graph"):
            check_op("cube")


def test_an_op_without_a_differentiable_backward_is_a_clear_error(registry):
    class Plain:
        @hookimpl
        def picograd_register_ops(self, register):
            register(Op("cube", lambda x: x**3, lambda g, y, x: (3.0 * g * x * x,)))

    with registry.register_plugin(Plain(), name="plain"):
        x = Value(1.5)
        y = x.cube() + x
        assert grad(y, x) == (3.0 * 1.5**2 + 1.0,)  # first derivatives as always
        with pytest.raises(OpError, match=r"op 'cube' from in-process plugin 'plain'.* has no "
                                          r"differentiable backward"):
            grad(y, x, create_graph=True)
        with pytest.raises(OpError, match="no differentiable backward"):
            y.backward(create_graph=True)
        assert x.grad == 0.0  # all or nothing
        rows = {r.check: r for r in check_op("cube")}  # the checker passes it, and says so
        assert rows["second derivatives"].detail == "not supported: cube has no grad_backward"


def test_float_of_a_value_in_a_backward_run_on_values_is_caught(registry):
    class Careless:  # says its backward works on Values, but it calls math.cos
        @hookimpl
        def picograd_register_ops(self, register):
            register(Op("my_sin", math.sin, lambda g, y, x: (g * math.cos(x),),
                        grad_backward=True))

    with registry.register_plugin(Careless(), name="careless"):
        x = Value(0.5)
        assert grad(x.my_sin(), x) == (math.cos(0.5),)  # floats: fine
        with pytest.raises(OpError, match=r"float\(\) of a Value in the backward of op "
                                          r"'my_sin'.*ops.cos\(x\)"):
            grad(x.my_sin(), x, create_graph=True)
        rows = {r.check: r for r in run_checks("my_sin")}
        assert not rows["second derivatives"].ok
        assert "float() of a Value" in rows["second derivatives"].detail
    assert float(Value(0.5)) == 0.5  # and only while such a backward runs


def test_numpy_on_values_never_gives_a_silent_object_array(registry):
    # A numpy ufunc given a Value calls the Value's method of that name (np.exp(v) is
    # v.exp(), a node: differentiable), or compares it (np.sign(v): a step, slope 0),
    # or fails naming the method it lacks. Functions that build arrays (np.where) make
    # an array of objects: the engine refuses it, naming the op.
    class Numpyish:
        @hookimpl
        def picograd_register_ops(self, register):
            register(Op("xabsx", lambda x: x * abs(x), lambda g, y, x: (2.0 * g * abs(x),),
                        grad_backward=lambda g, y, x: (2.0 * g * x * np.sign(x),)))
            register(Op("softer", lambda x: math.log1p(math.exp(x)),
                        lambda g, y, x: (g / (1.0 + math.exp(-x)),),
                        grad_backward=lambda g, y, x: (g * np.exp(x) / np.log1p(np.exp(x)),)))
            register(Op("np_where", lambda x: x * x, lambda g, y, x: (2.0 * g * x,),
                        grad_backward=lambda g, y, x: (np.where(True, 2.0 * g * x, 0.0),)))

    with registry.register_plugin(Numpyish(), name="numpyish"):
        assert second(lambda v: v.xabsx(), -0.5) == -2.0  # (x |x|)'' = 2 sign(x)
        with pytest.raises(TypeError, match=r"(?s)log1p.*softer\(0.5\) differentiable backward"):
            second(lambda v: v.softer(), 0.5)
        with pytest.raises(OpError, match=r"np_where.*returned ndarray.*use picograd.ops"):
            second(lambda v: v.np_where(), 0.5)
        batch = Value(np.array([0.5, -1.0]))
        with pytest.raises(OpError, match=r"np_where.*returned ndarray"):
            grad(batch.np_where().sum(), batch, create_graph=True)


def test_composite_ops_are_twice_differentiable_for_free(registry):
    class Composite:
        @hookimpl
        def picograd_register_ops(self, register):
            register(Op("softly", lambda x: x * x.sigmoid(), kind="activation"))

    with registry.register_plugin(Composite(), name="composite"):
        s = 1.0 / (1.0 + math.exp(-0.8))
        # (x s)'' = 2 s' + x s'', with s' = s(1-s), s'' = s(1-s)(1-2s)
        expected = 2 * s * (1 - s) + 0.8 * s * (1 - s) * (1 - 2 * s)
        assert second(lambda v: v.softly(), 0.8) == pytest.approx(expected, rel=1e-13)


def test_gradgradcheck_returns_the_hessian(registry):
    h = gradgradcheck(lambda x, y: x * x * y + y.exp(), [1.5, -0.5])
    assert h[0] == pytest.approx([2 * -0.5, 2 * 1.5])
    assert h[1] == pytest.approx([2 * 1.5, math.exp(-0.5)])


def test_grad_backward_is_validated(registry):
    class Bad:
        @hookimpl
        def picograd_register_ops(self, register):
            register(Op("bad", abs, lambda g, y, x: (g,), grad_backward="yes"))

    class Composite:
        @hookimpl
        def picograd_register_ops(self, register):
            register(Op("twice", lambda x: x * 2.0, grad_backward=True))

    with pytest.raises(PluginError, match="invalid op 'bad': grad_backward must be True"):
        registry.register_plugin(Bad(), "bad")
    with pytest.raises(PluginError, match="invalid op 'twice': grad_backward needs a backward"):
        registry.register_plugin(Composite(), "composite")
    assert "bad" not in registry.ops and "twice" not in registry.ops


def test_a_micrograd_style_node_is_a_clear_error(registry):
    x = Value(0.5)
    out = Value(math.tanh(0.5), (x,), "tanh")

    def _backward():
        x.grad += (1 - out.data**2) * out.grad

    out._backward = _backward
    assert grad(out, x) == (pytest.approx(1 - math.tanh(0.5) ** 2),)
    with pytest.raises(TypeError, match="micrograd-style"):
        grad(out, x, create_graph=True)


def test_a_failing_step_leaves_every_grad_as_it_was(registry):
    x, y = Value(0.0), Value(2.0)
    x.grad, y.grad = 1.0, 2.0
    z = x.sqrt() * y  # with Values sqrt's slope is 0.5 / sqrt(0): a division by zero
    with pytest.raises(ZeroDivisionError):
        z.backward(create_graph=True)
    assert (x.grad, y.grad, z.grad) == (1.0, 2.0, 0.0)


# ---- the numeric policy ----------------------------------------------------------------

def test_a_first_derivative_whose_forward_raises_is_a_clear_error(registry):
    # sqrt'(0) = inf as a number, but as a Value it is 0.5 / sqrt(0): div raises, naming
    # both the op that failed and the backward it was part of
    x = Value(0.0)
    assert grad(x.sqrt(), x) == (math.inf,)
    with pytest.raises(ZeroDivisionError) as info:
        grad(x.sqrt(), x, create_graph=True)
    notes = "\n".join(info.value.__notes__)
    assert "[op 'div' from picogradlib" in notes
    assert "sqrt(0.0) differentiable backward failed [op 'sqrt' from picogradlib" in notes
    assert op_failure(info.value).op == "div"
    # the same for a fractional power of 0 (0 ** -0.5 in its slope)
    with pytest.raises(ZeroDivisionError, match=r"(?s)0 cannot be raised.*pow\(0.0, 0.5\) "
                                                r"differentiable backward failed"):
        grad(x**0.5, x, create_graph=True)


def test_a_forward_outside_the_domain_stays_the_forwards_error(registry):
    with pytest.raises(ValueError, match="log is only defined for x > 0"):
        second(lambda v: v.log(), -1.0)


@pytest.mark.parametrize("fn", [
    lambda v: v.tanh(), lambda v: v.exp(), lambda v: v.sigmoid(), lambda v: v.log(),
    lambda v: v ** 3.0, lambda v: v.sqrt(), lambda v: F.logistic(v, 1.0),
], ids=["tanh", "exp", "sigmoid", "log", "cube", "sqrt", "logistic"])
def test_a_nan_input_gives_nan_second_derivatives(registry, fn):
    assert math.isnan(second(fn, math.nan))


def test_a_second_derivative_that_does_not_depend_on_x_stays_exact_at_nan(registry):
    # NOTE: (x^2)'' = 2 and relu'' = abs'' = 0 everywhere: no x in them, so no NaN either
    # (PyTorch gives the same); their first derivatives at NaN are NaN, as the policy says.
    assert second(lambda v: v * v, math.nan) == 2.0
    for name in ("relu", "abs"):
        x = Value(math.nan)
        (d,) = grad(getattr(x, name)(), x, create_graph=True)
        assert math.isnan(d.data) and grad(d, x) == (0.0,)


def test_ieee_limits_at_infinity(registry):
    assert second(lambda v: v.tanh(), math.inf) == 0.0  # flat
    assert second(lambda v: v.exp(), -math.inf) == 0.0
    assert second(lambda v: v.sigmoid(), -1000.0) == 0.0
    assert second(lambda v: v * v * v * v, 1e200) == math.inf  # 12 x^2 overflows: no error


def test_steps_have_no_curvature(registry):
    # relu, abs and hinge are piecewise linear: second derivative 0 on either side
    for fn in (lambda v: v.relu(), lambda v: v.abs(), lambda v: F.hinge(v, 1.0)):
        assert second(fn, 0.5) == 0.0 and second(fn, -0.5) == 0.0


def test_pow_follows_its_policy_rows(registry):
    # 0 ** 2 (a constant exponent): 2; (-2) ** 3: 6 * -2 = -12; a constant base 0 works
    assert second(lambda v: v**2.0, 0.0) == 2.0
    assert second(lambda v: v**3.0, -2.0) == -12.0
    b = Value(2.0)
    (d,) = grad(Value(0.0, requires_grad=False) ** b, b, create_graph=True)
    assert d.data == 0.0 and grad(d, b) == (0.0,)
    # the exponent's gradient for a negative base is NaN, and so is its derivative
    a, e = Value(-2.0), Value(3.0)
    _, de = grad(a**e, [a, e], create_graph=True)
    assert math.isnan(de.data) and all(math.isnan(h) for h in grad(de, [a, e]))


# ---- batch mode ------------------------------------------------------------------------

def _h(x, w):
    return (x * w).tanh() * x.exp() + (x * x).sqrt()


def test_batch_second_derivatives_are_each_samples_own(registry):
    xs = np.array([-1.2, 0.3, 0.9, 2.0])
    x, w = Value(xs), Value(0.7)  # w: one number the whole batch uses
    gx, gw = grad(_h(x, w).mean(), [x, w], create_graph=True)
    assert gx.shape == (4,) and gw.shape == ()
    hxx, hxw = grad(gx.sum(), [x, w])  # entries do not mix: d/dx_j of gx_k is 0 for j != k
    (hww,) = grad(gw, w)
    for k, xk in enumerate(xs):  # each sample's own second derivatives, as floats
        a, b = Value(xk), Value(0.7)
        ga, gb = grad(_h(a, b), [a, b], create_graph=True)
        assert hxx[k] == pytest.approx(grad(ga, a)[0] / 4, rel=1e-12)
    scalar_ww = []
    for xk in xs:
        a, b = Value(xk), Value(0.7)
        (gb,) = grad(_h(a, b), b, create_graph=True)
        scalar_ww.append(grad(gb, b)[0])
    assert hww == pytest.approx(sum(scalar_ww) / 4, rel=1e-12)
    # and the scalar ones are right: finite differences of the first derivative
    numeric = numeric_gradient(lambda p: _dw(xs[1], p[0]), [0.7])
    assert scalar_ww[1] == pytest.approx(numeric[0], rel=1e-6)


def _dw(xk, wk):
    b = Value(wk)
    return grad(_h(Value(xk), b), b)[0]


def test_batch_losses_twice_differentiable(registry):
    s = Value(np.array([0.3, -1.2, 2.0]))
    t = np.array([1.0, -1.0, 1.0])
    for name in ("logistic", "mse"):
        (g,) = grad(getattr(losses, name)(s, t), s, create_graph=True)
        (h,) = grad(g.sum(), s)
        for k in range(3):
            op = getattr(F, name)
            expected = second(lambda v, k=k, op=op: op(v, t[k]), s.data[k]) / 3
            assert h[k] == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("fused", [True, False], ids=["dense", "unfused"])
def test_a_batch_mlp_has_each_samples_second_derivatives(registry, fused):
    # On a (batch, nin) matrix: one dense node per layer (fused), or micrograd's graph on
    # column Values; the Hessian of the loss in the inputs, and the gradient penalty's
    # gradient in the weights, are those of the per-sample graph
    rows = [[0.5, -1.0], [0.2, 0.3], [-0.7, 0.9]]
    targets = [1.0, 0.0, -0.5]
    model = MLP(2, [3, 3, 1], activation="tanh", fused=fused, seed=0)
    X = Value(np.array(rows))
    loss = losses.mse(model(X), np.array(targets))
    (gX,) = grad(loss, X, create_graph=True)
    assert gX.shape == (3, 2)
    hessian_rows = [grad(F.column(gX, index=i).sum(), X)[0] for i in range(2)]
    penalty = (gX * gX).sum()
    batch = grad(penalty, model.parameters())

    xs = [[Value(v) for v in row] for row in rows]
    per_sample = losses.mse([model(row) for row in xs], targets)
    flat = [v for row in xs for v in row]
    firsts = grad(per_sample, flat, create_graph=True)
    assert [g.data for g in firsts] == pytest.approx(gX.data.ravel().tolist(), rel=1e-12)
    for i in range(2):  # d/dX of sum_k dL/dX_ki: the per-sample graph's
        expected = grad(sum(firsts[k * 2 + i] for k in range(3)), flat)
        assert hessian_rows[i].ravel().tolist() == pytest.approx(list(expected), rel=1e-10)
    expected = grad(sum(g * g for g in firsts), model.parameters())
    assert list(batch) == pytest.approx(list(expected), rel=1e-10, abs=1e-14)


def test_columns_undoes_column(registry):
    M = Value(np.array([[1.0, 2.0], [3.0, 4.0]]))
    back = F.columns(F.column(M, index=0), F.column(M, index=1))
    assert np.array_equal(back.data, M.data)
    with pytest.raises(ValueError, match=r"(?s)columns stacks batch Values.*columns"):
        F.columns(1.0, 2.0)


# ---- through an MLP: a gradient penalty ----------------------------------------------

def _penalty(model, x, target, create_graph):
    xs = [Value(v) for v in x]
    loss = losses.mse([model(xs)], [target])
    gs = grad(loss, xs, create_graph=create_graph)
    return sum((g * g for g in gs), 0.0) if create_graph else sum(g * g for g in gs)


@pytest.mark.parametrize("fused", [True, False], ids=["fused", "unfused"])
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_gradient_penalty_through_an_mlp(registry, fused, activation):
    # d/dw ||d loss / d input||^2, checked against finite differences in the weights
    model = MLP(3, [4, 4, 1], activation=activation, fused=fused, seed=0)
    params = model.parameters()
    x, target = [0.5, -0.3, 0.8], 0.25
    penalty = _penalty(model, x, target, True)
    analytic = grad(penalty, params)

    def at(weights):
        for p, w in zip(params, weights):
            p.data = w
        return _penalty(model, x, target, False)

    start = [p.data for p in params]
    numeric = numeric_gradient(at, start)
    at(start)
    assert any(a != 0.0 for a in analytic)
    assert list(analytic) == pytest.approx(numeric, rel=1e-4, abs=1e-7)


def test_picograd_exports_grad():
    assert picograd.grad is grad and "grad" in picograd.__all__


def test_the_newton_example_finds_ln_2():
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parent.parent / "examples" / "newton.py"
    for start in ("0.0", "3.0"):
        run = subprocess.run([sys.executable, str(script), start], capture_output=True,
                             text=True, check=True, timeout=60)
        lines = run.stdout.strip().splitlines()
        found = float(lines[-1].split("x = ")[1].split(";")[0])
        assert found == pytest.approx(math.log(2.0), rel=1e-15, abs=0.0)
        assert len(lines) <= 10  # quadratic convergence: a handful of steps
        curvatures = [float(line.split()[-1]) for line in lines[1:-1]]
        assert curvatures[-1] == pytest.approx(2.0)  # f'' = e^x = 2 at the minimum


def test_grad_of_a_leaf_is_one_for_itself_and_zero_for_others():
    x, y = Value(3.0), Value(-2.0)
    assert grad(x, x) == (1.0,)
    assert grad(x, [x, y]) == (1.0, 0.0)
    (d,) = grad(x, x, create_graph=True)
    assert isinstance(d, Value) and d.data == 1.0
    assert x.grad == 0.0 and y.grad == 0.0  # grad() changes no .grad


@pytest.mark.parametrize("index", [0, 2, -1, -3])
def test_a_column_s_gradient_on_values_is_backward_s(index):
    M = Value(np.array([[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]))
    out = F.sum(F.column(F.tanh(M), index=index))
    (d,) = grad(out, M, create_graph=True)
    out.backward()
    assert np.allclose(d.data, M.grad) and np.count_nonzero(M.grad) == 2
