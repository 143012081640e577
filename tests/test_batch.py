"""Batch mode: a Value holding a numpy array runs one scalar graph over a whole batch."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from reference_cases import readme_expression

import picograd.ops as ops
from picograd import Op, Value, hookimpl, no_grad
from picograd.active import active_registry
from picograd.testing import check_op

XS = np.array([-4.0, 0.5, 2.5])  # three samples
YS = np.array([2.0, -1.5, 3.0])


def test_a_batch_computes_what_each_sample_computes_alone(registry):
    a, b = Value(XS), Value(YS)
    g = readme_expression(a, b)
    g.backward()
    assert g.data.shape == (3,) and a.grad.shape == (3,)
    for k in range(3):
        ak, bk = Value(XS[k]), Value(YS[k])
        gk = readme_expression(ak, bk)
        gk.backward()
        assert g.data[k] == pytest.approx(gk.data, rel=1e-13)
        assert a.grad[k] == pytest.approx(ak.grad, rel=1e-12)
        assert b.grad[k] == pytest.approx(bk.grad, rel=1e-12)


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "abs", "relu", "tanh", "sigmoid", "neg"])
def test_every_unary_builtin_works_on_a_batch(registry, name):
    x = Value(np.array([0.3, 1.7, 2.9]))
    y = getattr(x, name)()
    y.backward()
    for k, xk in enumerate(x.data):
        s = Value(float(xk))
        sy = getattr(s, name)()
        sy.backward()
        assert y.data[k] == pytest.approx(sy.data, rel=1e-14)
        assert x.grad[k] == pytest.approx(s.grad, rel=1e-14)


def test_values_from_ints_and_lists_of_arrays_are_float64(registry):
    v = Value(np.array([1, 2, 3]))
    assert v.data.dtype == np.float64
    assert (v * 0.5).data.tolist() == [0.5, 1.0, 1.5]
    with pytest.raises(TypeError, match="dtype"):
        Value(np.array(["a", "b"]))


def test_broadcasting_sums_each_gradient_back_to_its_input_shape(registry):
    col = Value(np.array([[1.0], [2.0], [3.0]]))  # (3, 1)
    row = Value(np.array([[10.0, 20.0, 30.0, 40.0]]))  # (1, 4)
    out = col * row + col  # (3, 4)
    assert out.data.shape == (3, 4)
    ops.sum(out).backward()
    # d/dcol_i sum_j (col_i row_j + col_i) = sum_j row_j + 4;  d/drow_j = sum_i col_i
    assert col.grad.shape == (3, 1) and row.grad.shape == (1, 4)
    np.testing.assert_array_equal(col.grad, np.full((3, 1), 100.0 + 4.0))
    np.testing.assert_array_equal(row.grad, np.full((1, 4), 6.0))


def test_a_scalar_parameter_gets_the_gradient_summed_over_the_batch(registry):
    w, b = Value(0.5), Value(-1.0)
    x = Value(XS, requires_grad=False)
    loss = ops.sum((w * x + b).tanh())
    loss.backward()
    t = np.tanh(0.5 * XS - 1.0)
    assert isinstance(w.grad, float) and isinstance(b.grad, float)  # the parameter's shape
    assert w.grad == pytest.approx(float(np.sum((1 - t**2) * XS)), rel=1e-13)
    assert b.grad == pytest.approx(float(np.sum(1 - t**2)), rel=1e-13)


def test_array_gradients_accumulate_across_calls_without_aliasing(registry):
    x = Value(np.array([1.0, 2.0]))
    y = x * 3.0
    ops.sum(y).backward()
    first = x.grad.copy()
    ops.sum(y).backward()
    np.testing.assert_array_equal(x.grad, 2 * first)
    np.testing.assert_array_equal(y.data, [3.0, 6.0])  # nothing written into the data
    np.testing.assert_array_equal(x.data, [1.0, 2.0])


def test_sum_and_mean_reduce_a_batch_to_a_scalar_value(registry):
    x = Value(np.array([[1.0, 2.0], [3.0, 6.0]]))
    s, m = ops.sum(x * x), (x * x).mean()
    assert isinstance(s.data, float) and isinstance(m.data, float)
    assert (s.data, m.data) == (50.0, 12.5)
    m.backward()
    np.testing.assert_allclose(x.grad, 2 * x.data / 4)  # d mean(x^2) / dx = 2x / n
    x.grad = 0.0
    s.backward()
    np.testing.assert_allclose(x.grad, 2 * x.data)
    assert Value(3.5).sum().data == 3.5 and Value(3.5).mean().data == 3.5  # a batch of one


def test_sumsq_is_the_sum_of_squares_of_every_entry_of_every_input(registry):
    x, w = Value(np.array([1.0, -2.0])), Value(3.0)
    s = ops.sumsq(x, w)
    assert s.data == 14.0
    s.backward()
    np.testing.assert_array_equal(x.grad, [2.0, -4.0])
    assert w.grad == 6.0


@pytest.mark.parametrize("name", ["sum", "mean", "sumsq"])
def test_reductions_pass_the_checker_on_scalars_and_batches(registry, name):
    results = {r.check: r for r in check_op(name)}
    assert results["gradients"].ok and results["batch"].ok
    assert "reduction" in results["batch"].detail


def test_the_checker_catches_a_reduction_with_a_wrong_batch_gradient(registry):
    wrong = Op("bad_sum", lambda x: x, lambda g, y, x: (g,),
               array_forward=lambda x: float(np.sum(x)),
               array_backward=lambda g, y, x: (np.full(np.shape(x), 2 * g),),
               samples=[(1.0,), (2.0,)])
    with pytest.raises(AssertionError, match="finite differences"):
        check_op(wrong)


class CubePlugin:
    """A plugin op written for floats only: no vectorized, array_forward or array_backward."""

    calls = 0

    @hookimpl
    def picograd_register_ops(self, register):
        def cube(x):
            CubePlugin.calls += 1
            if x > 100.0:
                raise ValueError("cube only takes x <= 100")
            return x * x * x

        register(Op("cube", cube, lambda g, y, x: (g * 3.0 * x * x,),
                    samples=[(0.5,), (-1.5,)]))


def test_a_plugin_op_without_an_array_version_still_runs_on_batches(registry):
    with registry.register_plugin(CubePlugin(), name="cube-plugin"):
        x = Value(np.array([0.5, -1.5, 2.0]))
        before = CubePlugin.calls
        y = x.cube()
        assert CubePlugin.calls - before == 3  # element by element, through the scalar op
        ops.sum(y * 2.0).backward()
        np.testing.assert_allclose(y.data, x.data**3, rtol=1e-15)
        np.testing.assert_allclose(x.grad, 6.0 * x.data**2, rtol=1e-15)
        results = {r.check: r for r in check_op("cube")}
        assert results["batch"].ok and results["batch"].detail.endswith("elementwise")
        with pytest.raises(ValueError, match=r"cube only takes x <= 100\nat entry \[1\].*101\.0"):
            Value(np.array([1.0, 101.0])).cube()


def mlp_grads(batch: bool, fused: bool) -> tuple[float, list[float]]:
    from sklearn.datasets import make_moons

    from picograd import losses
    from picograd.nn import MLP

    X, y = make_moons(n_samples=20, noise=0.1, random_state=3)
    y = y * 2.0 - 1.0
    model = MLP(2, [16, 16, 1], seed=7, fused=fused)
    scores = model(X) if batch else [model(list(row)) for row in X]
    loss = losses.hinge(scores, y) + 1e-4 * losses.l2(model.parameters())
    loss.backward()
    return loss.data, [p.grad for p in model.parameters()]


@pytest.mark.parametrize("fused", [True, False])
def test_batch_and_per_sample_mlp_give_the_same_gradients(registry, fused):
    loss_b, grads_b = mlp_grads(batch=True, fused=fused)
    loss_s, grads_s = mlp_grads(batch=False, fused=fused)
    assert loss_b == pytest.approx(loss_s, rel=1e-13)
    assert any(g != 0.0 for g in grads_s)
    assert all(isinstance(g, float) for g in grads_b)  # parameters stay scalars
    np.testing.assert_allclose(grads_b, grads_s, rtol=1e-11, atol=1e-15)


def test_a_hand_written_neuron_matches_per_sample(registry):
    X = np.array([[0.5, -1.0], [1.5, 2.0], [-0.3, 0.7]])
    w1, w2, b = Value(0.3), Value(-0.8), Value(0.1)
    out = ops.mean((w1 * Value(X[:, 0]) + w2 * Value(X[:, 1]) + b).tanh())
    out.backward()
    batch = (w1.grad, w2.grad, b.grad)
    for p in (w1, w2, b):
        p.grad = 0.0
    total = sum((w1 * x0 + w2 * x1 + b).tanh() for x0, x1 in X.tolist()) / 3.0
    total.backward()
    assert out.data == pytest.approx(total.data, rel=1e-14)
    assert batch == pytest.approx((w1.grad, w2.grad, b.grad), rel=1e-13)


def test_no_grad_works_with_arrays(registry):
    w = Value(2.0)
    x = Value(np.array([1.0, 2.0]))
    with no_grad():
        y = (w * x).exp().mean()
    assert not y.requires_grad and y._prev == ()
    assert y.data == pytest.approx(np.mean(np.exp(2.0 * x.data)))


def test_an_entry_the_scalar_op_rejects_is_a_clear_error(registry):
    x = Value(np.array([1.0, -2.0, 0.0, 3.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no numpy RuntimeWarning on the way
        with pytest.raises(ValueError) as info:
            x.log()
    assert str(info.value) == "log is only defined for x > 0"  # the scalar op's own error
    notes = "\n".join(info.value.__notes__)
    assert "entry [1]" in notes and "-2.0" in notes and "2 of 4 entries fail" in notes
    assert "log(array(4,)) forward failed [op 'log' from picogradlib" in notes
    with pytest.raises(ZeroDivisionError, match=r"(?s)division by zero.*entry \[2\].*div"):
        1.0 / x
    with pytest.raises(OverflowError, match=r"(?s)entry \[0, 1\].*exp"):
        Value(np.array([[1.0, 800.0]])).exp()


def test_where_the_scalar_op_gives_inf_or_nan_so_does_the_batch(registry):
    # The scalar path's policy decides: sqrt's slope at 0 is +inf there, so here too.
    x = Value(np.array([0.0, 4.0]))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ops.sum(x.sqrt()).backward()
    s = Value(0.0)
    s.sqrt().backward()
    assert x.grad[0] == s.grad == math.inf and x.grad[1] == 0.25


def test_mismatched_batch_shapes_name_the_op(registry):
    with pytest.raises(ValueError, match=r"add\(array\(3,\), array\(4,\)\) forward failed"):
        Value(np.ones(3)) + Value(np.ones(4))


def test_a_relu_neuron_is_one_node_with_relus_numbers(registry):
    from picograd.testing import gradcheck

    b, w, x = 0.2, [0.5, -1.0], np.array([[1.0, 3.0, -2.0], [0.5, -1.0, 0.25]])
    fused = ops.weighted_sum(b, *w, *map(Value, x), relu=True)
    plain = ops.weighted_sum(b, *w, *map(Value, x)).relu()
    np.testing.assert_array_equal(fused.data, plain.data)
    assert (fused.data == 0.0).any() and (fused.data > 0.0).any()  # both sides of the kink
    assert len(fused._prev) == 5 and fused.op.name == "weighted_sum"
    for xs in ([0.2, 0.5, -1.0, 1.0, 0.5], [0.2, 0.5, -1.0, -2.0, 0.25]):  # on and off
        gradcheck(lambda *vs: ops.weighted_sum(*vs, relu=True), xs, name="relu neuron")


# ---- a layer as one node: dense, and the MLP's batch path ------------------------------

def test_dense_and_column_pass_the_checker(registry):
    for name in ("dense", "column"):
        results = {r.check: r for r in check_op(name)}
        assert all(r.ok for r in results.values()) and "batch" in results
    from picograd.testing import gradcheck

    for xs in ([0.7, 0.1, -1.3], [-0.4, 0.3, 0.9]):  # relu(w x + b), on and off
        assert (ops.dense(*xs, relu=True).data > 0.0) == (xs[0] * xs[2] + xs[1] > 0.0)
        gradcheck(lambda *vs: ops.dense(*vs, relu=True), xs, name="dense(relu=True)")


@pytest.mark.parametrize("relu", [False, True])
@pytest.mark.parametrize("nin, nout, batch", [(3, 2, 4), (3, 1, 4), (2, 3, 1)],
                         ids=["layer", "one-neuron", "one-row"])  # (outer products)
def test_dense_is_every_neurons_weighted_sum_and_its_gradients_match_finite_differences(
        registry, relu, nin, nout, batch):
    rng = np.random.default_rng(5)
    W0, b0 = rng.uniform(-1, 1, (nout, nin)), rng.uniform(-1, 1, nout)
    X0 = rng.normal(size=(batch, nin))
    R = rng.normal(size=(batch, nout))  # the loss sum(R * Y) weighs every output

    def loss(W, b, X):
        return float(np.sum(R * ops.dense(W, b, X, relu=relu).data))

    Y = ops.dense(W0, b0, X0, relu=relu).data
    for k in range(batch):  # row k, neuron j: weighted_sum of row k with neuron j's numbers
        for j in range(nout):
            want = ops.weighted_sum(b0[j], *W0[j].tolist(), *X0[k].tolist(), relu=relu).data
            assert Y[k, j] == pytest.approx(want, rel=1e-14, abs=1e-15)
    if relu:
        assert (Y == 0.0).any() and (Y > 0.0).any()  # both sides of the kink

    W, b, X = Value(W0), Value(b0), Value(X0)
    out = ops.sum(ops.dense(W, b, X, relu=relu) * R)
    out.backward()
    assert out._prev[0].op.name == "mul" and out._prev[0]._prev[0]._prev == (W, b, X)
    eps = 1e-6
    for v, arrays in ((W, [W0, b0, X0]), (b, [W0, b0, X0]), (X, [W0, b0, X0])):
        which = [W, b, X].index(v)
        assert v.grad.shape == arrays[which].shape
        for idx in np.ndindex(arrays[which].shape):
            up, down = [a.copy() for a in arrays], [a.copy() for a in arrays]
            up[which][idx] += eps
            down[which][idx] -= eps
            numeric = (loss(*up) - loss(*down)) / (2 * eps)
            assert v.grad[idx] == pytest.approx(numeric, rel=1e-6, abs=1e-8)


def test_dense_skips_the_gradient_of_a_constant_batch_and_only_that(registry):
    rng = np.random.default_rng(2)
    W, b = Value(rng.normal(size=(3, 4))), Value(rng.normal(size=3))
    X = rng.normal(size=(5, 4))
    grads = {}
    for needed in (True, False):
        W.grad = b.grad = None
        Xv = Value(X, requires_grad=needed)
        ops.sum(ops.dense(W, b, Xv) ** 2).backward()
        grads[needed] = (W.grad.copy(), b.grad.copy(), Xv.grad)
    assert np.array_equal(grads[True][0], grads[False][0])
    assert np.array_equal(grads[True][1], grads[False][1])
    assert grads[True][2].shape == (5, 4) and grads[False][2] == 0.0
    dense = active_registry().get("dense")
    G, Y = np.ones((5, 3)), ops.dense(W, b, X).data
    every = dense.for_arrays().backward(G, Y, W.data, b.data, X)
    some = dense.for_arrays().backward(G, Y, W.data, b.data, X,
                                       needs_input_grad=(True, True, False))
    assert np.array_equal(every[2], G @ W.data) and some[2] == 0.0
    assert {r.check for r in check_op("dense")} >= {"needs_input_grad", "batch"}


def test_dense_with_mismatched_shapes_names_the_op(registry):
    X = Value(np.ones((4, 3)))
    with pytest.raises(ValueError, match=r"(?s)dense takes W \(m, n\), b \(m,\).*got W "
                                         r"\(2, 2\), b \(2,\), X \(4, 3\).*op 'dense'"):
        ops.dense(np.ones((2, 2)), np.ones(2), X)
    with pytest.raises(ValueError, match=r"got W \(2, 3\), b \(3,\)"):
        ops.dense(np.ones((2, 3)), np.ones(3), X)
    with pytest.raises(IndexError, match="column"):
        ops.column(Value(np.ones((4, 2))), index=2)


class SoftsignPlugin:
    """An activation written for floats only: batches run it element by element."""

    @hookimpl
    def picograd_register_ops(self, register):
        register(Op("softsign", lambda x: x / (1.0 + abs(x)),
                    lambda g, y, x: (g / (1.0 + abs(x)) ** 2,), kind="activation"))


def outputs_and_grads(model, X, batch: bool):
    """The model's outputs for every row, and each parameter's gradient of a loss that
    uses every output (the outputs' squares weighted by fixed numbers, averaged)."""
    from picograd.nn import MLP

    assert isinstance(model, MLP)
    nout = model.nouts[-1]
    weights = [1.0, -0.5, 2.0][:nout]
    if batch:
        out = model(X)
        cols = [out] if nout == 1 else out
        loss = sum((c * c * wj).mean() for c, wj in zip(cols, weights))
        data = np.stack([c.data for c in cols], axis=1)
    else:
        rows = [model(row) for row in X.tolist()]
        rows = [[r] if nout == 1 else r for r in rows]
        loss = sum(sum(c * c * wj for c, wj in zip(r, weights)) for r in rows) / len(rows)
        data = np.array([[c.data for c in r] for r in rows])
    loss.backward()
    return data, [p.grad for p in model.parameters()]


@pytest.mark.parametrize("activation", ["relu", "tanh", "softsign"])
@pytest.mark.parametrize("nouts", [[5, 4, 1], [6, 3]])
def test_the_batch_path_gives_the_per_sample_outputs_and_gradients(registry, activation, nouts):
    from picograd.nn import MLP

    X = np.random.default_rng(2).normal(size=(9, 3))
    with registry.register_plugin(SoftsignPlugin(), name="softsign-plugin"):
        data_b, grads_b = outputs_and_grads(MLP(3, nouts, activation=activation, seed=4), X,
                                            batch=True)
        data_s, grads_s = outputs_and_grads(MLP(3, nouts, activation=activation, seed=4), X,
                                            batch=False)
    assert data_b.shape == (9, nouts[-1])
    np.testing.assert_allclose(data_b, data_s, rtol=1e-13, atol=1e-15)
    assert all(isinstance(g, float) for g in grads_b) and any(g != 0.0 for g in grads_s)
    np.testing.assert_allclose(grads_b, grads_s, rtol=1e-11, atol=1e-15)


def test_a_batch_mlp_is_one_node_per_layer(registry):
    from picograd.nn import MLP

    model = MLP(2, [16, 16, 1], seed=0)
    score = model(np.random.default_rng(0).normal(size=(50, 2)))
    assert score.data.shape == (50,) and score.op.name == "column"
    nodes, todo = [], [score]
    while todo:
        v = todo.pop()
        if v.op is not None:
            nodes.append(v.op.name)
            todo.extend(v._prev)
    assert nodes == ["column", "dense", "dense", "dense"]
    layer = score._prev[0]
    assert layer.data.shape == (50, 1) and len(layer._prev) == 3  # W, b, X
    last = model.layers[-1]
    assert layer._prev[:2] == (last.W, last.b) and last.W.data.shape == (1, 16)
    hidden = MLP(2, [4, 1], activation="tanh", seed=0).layers[0]
    Y = hidden.batch(Value(np.ones((3, 2)), requires_grad=False))
    assert Y.op.name == "tanh" and Y._prev[0].op.name == "dense"  # one elementwise node
    assert len(hidden(np.ones((3, 2)))) == 4  # a Layer called on a batch: a Value per neuron
    with pytest.raises(ValueError, match=r"takes a batch of shape \(batch, 2\)"):
        hidden.batch(Value(np.ones((3, 5))))


def test_a_batch_mlp_graph_draws_with_its_dense_nodes(registry):
    from picograd import losses
    from picograd.draw import draw_dot
    from picograd.nn import MLP

    X = np.random.default_rng(1).normal(size=(30, 2))
    loss = losses.hinge(MLP(2, [3, 1], seed=0)(X), np.sign(X[:, 0]))
    loss.backward()
    source = draw_dot(loss).source
    assert "dense(relu=True)" in source and "dense(relu=False)" in source
    assert "data array 3x2" in source and ">W<" in source  # the first layer's W, labelled
    assert "column(index=0)" in source and "array 30x3" in source


def test_batch_mode_keeps_freed_memory_for_reuse_unless_told_not_to(monkeypatch):
    import platform

    from picograd.batch import KEEP_MEMORY_VAR, keep_freed_memory

    monkeypatch.setenv(KEEP_MEMORY_VAR, "0")
    assert keep_freed_memory() is False
    monkeypatch.setenv(KEEP_MEMORY_VAR, "1")
    glibc = platform.system() == "Linux" and platform.libc_ver()[0] == "glibc"
    assert keep_freed_memory() is glibc  # mallopt accepted both settings


SPECIAL_FLOATS = [0.0, -0.0, 1.5, -2.0, 1e308, -1e308, math.inf, -math.inf, math.nan]


@pytest.mark.parametrize("name", sorted(__import__("picograd.batch").batch.NEVER_REJECTS))
def test_an_op_whose_numpy_forward_is_not_judged_takes_every_float(registry, name):
    """picograd.batch.NEVER_REJECTS skips the finiteness check for these built-ins: their
    scalar forward must take every float, and the numpy forward give the same numbers."""
    from itertools import product

    from picograd.kernel import is_builtin

    op = registry.get(name)
    assert is_builtin(op.op, op.provider)
    arrays = op.for_arrays()
    n = 2 if op.arity is None else op.arity  # sumsq: two inputs
    for xs in product(SPECIAL_FLOATS, repeat=n):
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # no numpy warning either
            scalar = op.forward(*xs)
            shaped = [np.array([[x]]) if name == "column" else np.array([x]) for x in xs]
            batch = arrays.forward(*shaped)
        got = float(np.ravel(batch)[0])
        # (the same number: numpy's tanh may differ from math's in the last bit)
        assert math.isclose(got, scalar, rel_tol=1e-15) or math.isnan(got) and math.isnan(
            scalar), (name, xs, got, scalar)


def test_a_column_of_a_batch_with_a_nan_in_another_column(registry):
    M = Value(np.array([[1.0, math.nan, -2.0], [2.0, 3.0, math.inf]]))
    assert ops.column(M, index=2).data.tolist() == [-2.0, math.inf]
    c = ops.column(M, index=0)
    assert c.data.tolist() == [1.0, 2.0]
    ops.sum(c).backward()
    assert M.grad.tolist() == [[1.0, 0.0, 0.0], [1.0, 0.0, 0.0]]
