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


# ---- a batch of targets in one call: cross_entropy(logits, targets) -------------------

def log_softmax(Z):
    """numpy's own: log softmax over each row, by logaddexp (no max trick to share)."""
    return Z - np.logaddexp.reduce(Z, axis=1, keepdims=True)


def batch(n=40, k=7, seed=0, scale=3.0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, k)) * scale, rng.integers(0, k, n)


def test_cross_entropy_of_a_batch_is_the_mean_of_minus_log_softmax():
    Z, t = batch()
    n, k = Z.shape
    expected = -log_softmax(Z)[np.arange(n), t].mean()
    softmax = np.exp(log_softmax(Z))
    expected_grad = (softmax - np.eye(k)[t]) / n
    columns = [Value(Z[:, j]) for j in range(k)]   # what MLP(...)(X) returns: k batch Values
    matrix = Value(Z)                              # or one (batch, k) Value
    for logits in (columns, matrix):
        loss = picograd_losses.cross_entropy(logits, t)
        assert loss.shape == ()
        assert loss.data == pytest.approx(expected, rel=1e-13)
        loss.backward()
    assert np.allclose(np.stack([c.grad for c in columns], axis=1), expected_grad,
                       rtol=1e-12, atol=1e-16)
    assert np.allclose(matrix.grad, expected_grad, rtol=1e-12, atol=1e-16)
    # a plain array of logits is data, not a parameter: the loss is a number, no gradient
    assert picograd_losses.cross_entropy(Z, t).data == pytest.approx(expected, rel=1e-13)


def test_cross_entropy_of_a_batch_is_the_per_sample_op_averaged():
    Z, t = batch(n=12, k=4, seed=1)
    n, k = Z.shape
    columns = [Value(Z[:, j]) for j in range(k)]
    loss = picograd_losses.cross_entropy(columns, t)
    loss.backward()
    per_sample = []
    for i in range(n):
        vs = [Value(float(x)) for x in Z[i]]
        one = ops.softmax_cross_entropy(*vs, target=int(t[i]))
        one.backward()
        per_sample.append(one.data)
        assert [c.grad[i] * n for c in columns] == pytest.approx([v.grad for v in vs], rel=1e-12)
    assert loss.data == pytest.approx(sum(per_sample) / n, rel=1e-13)
    # micrograd's way, a list of logits per sample (one graph each), gives the same
    samples = [[Value(float(x)) for x in row] for row in Z]
    mean = picograd_losses.cross_entropy(samples, t)
    mean.backward()
    assert mean.data == pytest.approx(loss.data, rel=1e-13)
    assert [v.grad for v in samples[3]] == pytest.approx([c.grad[3] for c in columns], rel=1e-12)
    with pytest.raises(ValueError, match=r"(?s)12 samples of logits and 11 targets.*"
                       r"op 'soft_cross_entropy' from picograd-losses"):
        picograd_losses.cross_entropy(samples, t[1:])
    # the same call on one sample is the per-sample op itself
    one = picograd_losses.cross_entropy([Value(float(x)) for x in Z[0]], t[0])
    assert one.data == per_sample[0]


def numeric_grad(f, X, eps=1e-6):
    """d f / d X by central differences, entry by entry (float64)."""
    G = np.zeros_like(X)
    for i in np.ndindex(X.shape):
        up, down = X.copy(), X.copy()
        h = eps * max(1.0, abs(X[i]))
        up[i] += h
        down[i] -= h
        G[i] = (f(up) - f(down)) / (2 * h)
    return G


def test_cross_entropy_of_a_batch_passes_gradcheck():
    Z, t = batch(n=6, k=5, seed=2, scale=2.0)
    rng = np.random.default_rng(3)
    P = rng.dirichlet(np.ones(5), size=6)          # soft targets: their gradient too
    for targets in (t, P):
        logits = Value(Z)
        picograd_losses.cross_entropy(logits, targets).backward()
        expected = numeric_grad(lambda z, y=targets: picograd_losses.cross_entropy(z, y).data, Z)
        assert np.allclose(logits.grad, expected, rtol=1e-6, atol=1e-9)
    p = Value(P)
    ops.mean(ops.soft_cross_entropy(Value(Z), p)).backward()
    expected = numeric_grad(lambda q: ops.mean(ops.soft_cross_entropy(Z, q)).data, P)
    assert np.allclose(p.grad, expected, rtol=1e-6, atol=1e-9)
    assert np.allclose(p.grad, -log_softmax(Z) / 6, rtol=1e-12)   # d/dp = -log softmax / n


def test_soft_targets_are_minus_sum_p_log_softmax():
    Z, t = batch(n=30, k=6, seed=4)
    smooth = 0.9 * np.eye(6)[t] + 0.1 / 6         # label smoothing
    expected = -(smooth * log_softmax(Z)).sum(axis=1).mean()
    for logits in ([Value(Z[:, j]) for j in range(6)], Value(Z)):
        loss = picograd_losses.cross_entropy(logits, smooth)
        assert loss.data == pytest.approx(expected, rel=1e-13)


def test_cross_entropy_of_a_batch_does_not_overflow():
    Z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 0.0], [0.0, 0.0, 800.0]])
    t = np.array([1, 1, 0])
    logits = Value(Z)
    loss = picograd_losses.cross_entropy(logits, t)
    loss.backward()
    assert loss.data == pytest.approx((2000.0 + 0.0 + 800.0) / 3)
    assert logits.grad.tolist() == [[1 / 3, -1 / 3, 0.0], [0.0, 0.0, 0.0], [-1 / 3, 0.0, 1 / 3]]


def test_cross_entropy_second_derivatives_in_both_layouts():
    # d/dZ of sum(W * dL/dZ) = H W per sample, H = (diag(s) - s s^T) / n
    Z, t = batch(n=5, k=4, seed=5, scale=1.0)
    W = np.random.default_rng(6).normal(size=Z.shape)
    s = np.exp(log_softmax(Z))
    expected = np.einsum("ij,ijk->ik", W, np.einsum("ij,jk->ijk", s, np.eye(4)) -
                         np.einsum("ij,ik->ijk", s, s)) / 5
    matrix = Value(Z)
    (G,) = picograd.grad(picograd_losses.cross_entropy(matrix, t), [matrix], create_graph=True)
    assert np.allclose(picograd.grad(ops.sum(G * W), [matrix])[0], expected, rtol=1e-10)
    columns = [Value(Z[:, j]) for j in range(4)]
    firsts = picograd.grad(picograd_losses.cross_entropy(columns, t), columns, create_graph=True)
    total = sum(ops.sum(gj * W[:, j]) for j, gj in enumerate(firsts))
    seconds = picograd.grad(total, columns)
    assert np.allclose(np.stack(seconds, axis=1), expected, rtol=1e-10)


def test_cross_entropy_names_a_bad_target_class_in_a_batch():
    Z, _ = batch(n=5, k=3)
    t = np.array([0, 2, 3, 1, -7])
    message = (r"(?s)target class 3 at entry \[2\] is not one of the 3 logits; 2 of 5 entries "
               r"fail.*op 'soft_cross_entropy' from picograd-losses")
    with pytest.raises(IndexError, match=message):
        picograd_losses.cross_entropy(Value(Z), t)
    with pytest.raises(IndexError, match=r"(?s)target class 3 at entry \[2\].*3 logits"):
        picograd_losses.cross_entropy([Value(Z[:, j]) for j in range(3)], t)
    # in range, a negative class counts from the end, as softmax_cross_entropy's target=
    wrapped = picograd_losses.cross_entropy(Value(Z), np.array([0, 2, -1, 1, -3]))
    assert wrapped.data == picograd_losses.cross_entropy(Value(Z), np.array([0, 2, 2, 1, 0])).data


def test_cross_entropy_targets_must_be_classes_or_probabilities():
    Z, t = batch(n=5, k=3)
    # float classes, bools, too few, one-hot ints
    for targets in (t.astype(float), t > 0, t[:4], np.eye(3)[t].astype(int)):
        with pytest.raises(TypeError, match=r"(?s)targets must be integer classes of shape "
                           r"\(5,\) or class probabilities of shape \(5, 3\).*"
                           r"op 'soft_cross_entropy' from picograd-losses"):
            picograd_losses.cross_entropy(Value(Z), targets)
    with pytest.raises(ValueError, match=r"(?s)logits of shape \(batch, k\).*\(5,\)"):
        picograd_losses.cross_entropy(Value(Z[:, 0]), t)
    with pytest.raises(ValueError, match=r"(?s)an even number of inputs\), got 3.*"
                       r"op 'soft_cross_entropy' from picograd-losses"):
        ops.soft_cross_entropy(Value(Z[:, 0]), Value(Z[:, 1]), Value(Z[:, 2]))
