"""picograd.losses: registered loss ops, averaged over samples or a batch, by name."""

from __future__ import annotations

import math

import numpy as np
import pytest

from picograd import Op, Value, hookimpl, losses
from picograd.testing import check_op, gradcheck

BUILTIN_LOSSES = ["bce", "hinge", "logistic", "mse"]


def test_the_builtin_losses_are_registered_as_kind_loss(registry):
    assert set(BUILTIN_LOSSES) <= set(losses.names())
    assert all(registry.ops[name].kind == "loss" for name in BUILTIN_LOSSES)


@pytest.mark.parametrize("name", BUILTIN_LOSSES)
def test_each_loss_passes_the_shared_checker(registry, name):
    assert all(r.ok for r in check_op(name))


def test_hinge_by_hand(registry):
    scores = [Value(0.5), Value(-2.0), Value(3.0), Value(1.5)]
    targets = [1.0, 1.0, -1.0, 1.0]
    loss = losses.hinge(scores, targets)
    # max(0, 1 - 0.5) + max(0, 1 + 2) + max(0, 1 + 3) + max(0, 1 - 1.5) = 0.5 + 3 + 4 + 0
    assert loss.data == pytest.approx(7.5 / 4)
    loss.backward()
    assert [s.grad for s in scores] == pytest.approx([-0.25, -0.25, 0.25, 0.0])


def test_logistic_by_hand_and_without_overflow(registry):
    s = Value(0.7)
    loss = losses.logistic([s], [-1.0])
    assert loss.data == pytest.approx(math.log(1.0 + math.exp(0.7)))
    loss.backward()
    assert s.grad == pytest.approx(1.0 / (1.0 + math.exp(-0.7)))  # sigmoid(-t s) * -t
    far = losses.logistic([Value(-1000.0), Value(1000.0)], [1.0, 1.0])
    assert far.data == pytest.approx(500.0)  # (1000 + 0) / 2, where exp(1000) overflows


def test_bce_by_hand_and_its_domain(registry):
    p = Value(0.8)
    loss = losses.bce([p], [0.0])
    assert loss.data == pytest.approx(-math.log(0.2))
    loss.backward()
    assert p.grad == pytest.approx(1.0 / 0.2)
    with pytest.raises(ValueError, match=r"(?s)bce.*probability 0 < p < 1.*\[op 'bce'"):
        losses.bce([Value(1.0)], [1.0])


def test_mse_by_hand(registry):
    s = [Value(1.0), Value(-2.0)]
    loss = losses.mse(s, [0.5, 1.0])
    assert loss.data == pytest.approx((0.25 + 9.0) / 2)
    loss.backward()
    assert [v.grad for v in s] == pytest.approx([0.5, -3.0])  # 2 (s - t) / n


@pytest.mark.parametrize("name", BUILTIN_LOSSES)
def test_a_batch_gives_the_per_sample_loss_and_gradients(registry, name):
    rng = np.random.default_rng(1)
    raw = rng.normal(size=9)
    scores_np = 1.0 / (1.0 + np.exp(-raw)) if name == "bce" else raw
    targets = rng.integers(0, 2, 9).astype(float) if name == "bce" else np.sign(rng.normal(size=9))
    per_sample = [Value(float(s)) for s in scores_np]
    batch = Value(scores_np.copy())
    a = losses.get(name)(per_sample, targets)
    b = losses.get(name)(batch, targets)
    assert isinstance(b.data, float) and b.data == pytest.approx(a.data, rel=1e-12)
    a.backward()
    b.backward()
    np.testing.assert_allclose(batch.grad, [s.grad for s in per_sample], rtol=1e-12)


def test_get_by_name_and_unknown_names(registry):
    assert losses.get("hinge")([Value(0.0)], [1.0]).data == 1.0
    with pytest.raises(ValueError, match=r"unknown loss 'nope'; available losses: bce, hinge"):
        losses.get("nope")
    with pytest.raises(ValueError, match="unknown loss 'tanh'"):  # an activation, not a loss
        losses.get("tanh")


def test_a_plugin_loss_is_usable_by_name_and_odd_shapes_are_refused(registry):
    class Plugin:
        @hookimpl
        def picograd_register_ops(self, register):
            register(Op("absolute", lambda s, t: abs(s - t),
                        lambda g, y, s, t: (g * math.copysign(1.0, s - t),
                                            -g * math.copysign(1.0, s - t)),
                        kind="loss", arity=2))
            register(Op("pick", lambda *z: z[0], lambda g, y, *z: (g,) + (0.0,) * (len(z) - 1),
                        kind="loss", arity=None))

    with registry.register_plugin(Plugin(), name="loss-plugin"):
        assert {"absolute", "pick"} <= set(losses.names())
        assert losses.get("absolute")([Value(1.0), Value(-1.0)], [0.0, 1.0]).data == 1.5
        with pytest.raises(ValueError, match="does not take \\(score, target\\)"):
            losses.get("pick")
        # and as an attribute of the module, like the built-in ones
        assert losses.absolute([Value(1.0), Value(-1.0)], [0.0, 1.0]).data == 1.5
        assert losses.absolute.__name__ == "absolute"
        with pytest.raises(AttributeError, match="does not take"):
            losses.pick  # noqa: B018
    with pytest.raises(AttributeError, match="'absolute'.*unknown loss 'absolute'"):
        losses.absolute  # noqa: B018  (its plugin is gone)
    assert not hasattr(losses, "tanh") and not hasattr(losses, "__wrapped__")
    assert losses.hinge([Value(0.0)], [1.0]).data == 1.0


def test_mismatched_scores_and_targets_are_errors(registry):
    with pytest.raises(ValueError, match="hinge: got 2 scores and 3 targets"):
        losses.hinge([Value(1.0), Value(2.0)], [1.0, 1.0, -1.0])
    with pytest.raises(ValueError, match=r"hinge: scores have shape \(3,\) but targets \(3, 1\)"):
        losses.hinge(Value(np.zeros(3)), np.ones((3, 1)))


def test_l2_is_the_sum_of_squares_with_gradient_2p(registry):
    params = [Value(0.5), Value(-2.0), Value(3.0)]
    reg = losses.l2(params)
    assert reg.data == 0.25 + 4.0 + 9.0
    reg.backward()
    assert [p.grad for p in params] == [1.0, -4.0, 6.0]
    gradcheck(lambda a, b: losses.l2([a, b, a]), [0.3, -1.1], name="l2")
