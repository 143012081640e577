"""Nothing lost, nothing silent (issue 12): a failed backward, the attribute cache,
batch mode's numeric policy, forward results, plugin loading, the environment and the
checker, each probed as a hostile user or a plugin author would.

The atomic file writer and ``MLP.load``'s size cap are in tests/test_files.py and
tests/test_model_files.py.
"""

from __future__ import annotations

import math
import sys
import threading
import traceback
import warnings
from pathlib import Path

import numpy as np
import pytest

import picograd
import picograd.ops as ops
from picograd import (
    MLP,
    Op,
    OpConflictError,
    OpError,
    PluginError,
    PluginWarning,
    Registry,
    Value,
    hookimpl,
    losses,
    use_registry,
)
from picograd.errors import op_failure
from picograd.testing import check_op

PLUGINS = Path(picograd.__file__).resolve().parents[1] / "plugins"  # beside this picograd


class Plugin:
    """An in-process plugin registering the given ops."""

    def __init__(self, *rows: Op) -> None:
        self.rows = rows

    @hookimpl
    def picograd_register_ops(self, register):
        for op in self.rows:
            register(op)


@pytest.fixture
def losses_plugin(registry, monkeypatch):
    """picograd-losses (huber, softmax_cross_entropy) from plugins/, registered in-process."""
    monkeypatch.syspath_prepend(str(PLUGINS / "picograd-losses"))
    import picograd_losses

    with registry.register_plugin(picograd_losses, name="picograd-losses"):
        yield picograd_losses
    sys.modules.pop("picograd_losses", None)


# ---- backward is all or nothing ------------------------------------------------------

def _failing_once(exc: BaseException) -> Op:
    """times10(x) = 10 x, whose backward raises ``exc`` the first time only."""
    calls = []

    def backward(g, y, x):
        calls.append(x)
        if len(calls) == 1:
            raise exc
        return (10.0 * g,)

    return Op("times10", lambda x: 10.0 * x, backward)


@pytest.mark.parametrize("exc", [ValueError("plugin bug"), KeyboardInterrupt()],
                         ids=["exception", "ctrl-c"])
def test_a_backward_that_fails_part_way_leaves_every_grad_as_it_was(registry, exc):
    with registry.register_plugin(Plugin(_failing_once(exc)), name="flaky"):
        x, w = Value(2.0), Value(3.0)
        out = ops.times10(x) + x * w  # three nodes; the mul runs before times10 fails
        x.grad, w.grad = 0.5, -1.0  # leaves accumulate across calls: this must survive
        with pytest.raises(type(exc)):
            out.backward()
        assert (x.grad, w.grad) == (0.5, -1.0)
        assert out.grad == 0.0  # the inner nodes too
        x.grad = w.grad = 0.0
        out.backward()  # the retry gives the true gradient, not that plus a partial one
        assert (x.grad, w.grad) == (13.0, 2.0)  # d/dx = 10 + w, d/dw = x


def test_a_failed_backward_on_a_batch_restores_array_gradients(registry):
    with registry.register_plugin(Plugin(_failing_once(ValueError("once"))), name="flaky"):
        x = Value(np.array([1.0, 2.0]))
        w = Value(3.0)
        out = (ops.times10(x) + x * w).sum()
        with pytest.raises(ValueError, match="(?s)once.*times10.*backward failed"):
            out.backward()
        assert x.grad == 0.0 and w.grad == 0.0
        out.backward()
        assert x.grad.tolist() == [13.0, 13.0] and w.grad == 3.0


# ---- the attribute cache: 1, 1.0 and True are different attributes ----------------------

def test_column_index_true_is_refused_and_does_not_poison_index_1(registry):
    M = Value(np.arange(6.0).reshape(3, 2))
    with pytest.raises(TypeError, match="(?s)index must be an int.*True.*column"):
        ops.column(M, index=True)
    assert ops.column(M, index=1).data.tolist() == [1.0, 3.0, 5.0]


def test_dense_with_a_misshapen_weight_is_a_clear_error_and_mlp_still_works(registry):
    X = np.array([[0.5, -1.0], [2.0, 0.25]])
    with pytest.raises(ValueError, match="(?s)dense takes W.*got W \\(3,\\).*op 'dense'"):
        ops.dense(Value(np.ones(3)), Value(np.ones(3)), Value(X))
    model = MLP(2, [3, 1], seed=0)
    assert model(X).data.tolist() == [model(list(row)).data for row in X]


def test_cross_entropy_target_as_a_float_then_an_int(losses_plugin):
    z = [Value(0.5), Value(-1.0), Value(2.0)]
    with pytest.raises(TypeError, match="(?s)target class 2.0.*int.*softmax_cross_entropy"):
        ops.softmax_cross_entropy(*z, target=2.0)
    y = ops.softmax_cross_entropy(*z, target=2)
    lse = math.log(sum(math.exp(v.data) for v in z))
    assert y.data == pytest.approx(lse - 2.0)


# ---- batch mode follows the scalar op's error rows ---------------------------------------

def _batch(*xs: float) -> Value:
    return Value(np.array(xs))


@pytest.mark.parametrize("make, exc", [
    (lambda: _batch(math.nan, 1.0) / 0.0, ZeroDivisionError),
    (lambda: _batch(math.inf, 1.0) / _batch(0.0, 1.0), ZeroDivisionError),
    (lambda: _batch(-0.5, 0.5) ** math.inf, ValueError),
    (lambda: _batch(-0.5, 0.5) ** _batch(math.inf, 2.0), ValueError),
    (lambda: _batch(-2.0, 2.0) ** math.nan, ValueError),
], ids=["nan/0", "inf/0", "(-0.5)**inf", "(-0.5)**inf arrays", "(-2)**nan"])
def test_nan_and_inf_operands_raise_in_a_batch_as_on_a_float(registry, make, exc):
    with pytest.raises(exc) as batch_error:
        make()
    failure = op_failure(batch_error.value)
    assert failure is not None and failure.op in ("div", "pow")
    assert "at entry [0]" in " ".join(batch_error.value.__notes__)


def test_finite_entries_whose_sum_overflows_are_not_mistaken_for_infinities(registry):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        y = _batch(1e308, 1e308, -1e308).tanh()  # (the entries' sum overflows)
        z = _batch(-1e308, -1e308, 0.0).exp()
    assert y.data.tolist() == [1.0, 1.0, -1.0]
    assert z.data.tolist() == [0.0, 0.0, 1.0]


@pytest.mark.parametrize("make, expected", [
    (lambda: _batch(1e308, 1.0) + _batch(1e308, 1.0), [math.inf, 2.0]),
    (lambda: _batch(-1e308, 1.0) - _batch(1e308, 1.0), [-math.inf, 0.0]),
    (lambda: _batch(1e308, 1.0) * _batch(1e308, 1.0), [math.inf, 1.0]),
    (lambda: _batch(math.inf, 1.0) - _batch(math.inf, 1.0), [math.nan, 0.0]),
    (lambda: _batch(math.inf, 1.0) * _batch(0.0, 1.0), [math.nan, 1.0]),
], ids=["add overflow", "sub overflow", "mul overflow", "inf - inf", "inf * 0"])
def test_vectorized_arithmetic_gives_the_ieee_result_without_a_warning(registry, make, expected):
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # as under python -W error
        y = make()
        y.sum().backward()
    np.testing.assert_array_equal(y.data, expected)


def test_the_slope_of_sqrt_at_minus_zero_is_plus_inf_in_a_batch_as_on_a_float(registry):
    x = Value(-0.0)
    x.sqrt().backward()
    xs = _batch(-0.0, 0.0, 4.0)
    xs.sqrt().sum().backward()
    assert x.grad == math.inf
    assert xs.grad.tolist() == [math.inf, math.inf, 0.25]


def test_the_mean_of_an_empty_batch_is_a_clear_error(registry):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="(?s)mean of an empty batch.*op 'mean'"):
            _batch().mean()
        empty = _batch()
        total = empty.sum()  # the sum of nothing is 0, and so is its gradient
        total.backward()
        assert total.data == 0.0 and empty.grad.shape == (0,)


def test_the_backward_of_mean_on_an_empty_batch_is_no_zero_division(registry):
    bound = picograd.active_registry().get("mean").for_arrays()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        (g,) = bound.backward(1.0, math.nan, np.array([]))
    assert g.shape == (0,)


# ---- what forward returns is checked on every path ---------------------------------------

@pytest.mark.parametrize("bad", ["oops", None, 1j], ids=["str", "None", "complex"])
@pytest.mark.parametrize("batch", [False, True], ids=["float", "batch"])
def test_a_forward_returning_a_non_number_fails_at_that_op(registry, bad, batch):
    op = Op("bad", lambda x: bad, lambda g, y, x: (g,))
    with registry.register_plugin(Plugin(op), name="bad-ops"):
        x = _batch(1.0, 2.0) if batch else Value(1.0)
        with pytest.raises(TypeError) as caught:
            x.bad()
    failure = op_failure(caught.value)
    assert failure is not None
    assert (failure.op, failure.provider) == ("bad", "in-process plugin 'bad-ops'")
    assert isinstance(caught.value, OpError)
    assert f"forward of op 'bad' (in-process plugin 'bad-ops') returned {type(bad).__name__}" \
        in str(caught.value)


# ---- the checker --------------------------------------------------------------------------

def test_check_op_passes_a_variadic_op_whose_samples_differ_in_length(registry):
    logsumexp = Op("logsumexp", lambda *xs: math.log(math.fsum(math.exp(x) for x in xs)),
                   lambda g, y, *xs: tuple(g * math.exp(x - y) for x in xs),
                   arity=None, samples=[(0.5,), (1.0, -2.0)])
    results = check_op(logsumexp)
    assert all(r.ok for r in results)
    assert {r.check for r in results} >= {"forward", "gradients", "batch"}


def test_the_checker_accepts_numpy_float64_and_the_engine_converts_ints(registry):
    rows = [Op("np_double", lambda x: np.float64(2.0 * x), lambda g, y, x: (2.0 * g,)),
            Op("as_int", lambda x: int(x > 0), lambda g, y, x: (0.0 * g,))]
    with registry.register_plugin(Plugin(*rows), name="number-ops"):
        assert all(r.ok for r in check_op("np_double"))
        y = Value(3.0).as_int()
        assert y.data.__class__ is float and y.data == 1.0


# ---- losses.<name>(scores, targets, **attrs) -----------------------------------------------

def test_a_loss_takes_its_attributes_as_keywords(losses_plugin):
    scores, targets = [Value(3.0), Value(0.0)], [1.0, 0.0]
    loss = losses.huber(scores, targets, delta=0.5)  # r = 2 and 0
    assert loss.data == pytest.approx((0.5 * (2.0 - 0.25) + 0.0) / 2)
    batch = losses.huber(Value(np.array([3.0, 0.0])), np.array(targets), delta=0.5)
    assert batch.data == pytest.approx(loss.data)


def test_huber_gradient_at_a_nan_residual_is_nan(losses_plugin):
    for s in (Value(math.nan), _batch(math.nan, 0.5)):
        ops.huber(s, 0.0).sum().backward()
        assert math.isnan(np.ravel(s.grad)[0])


# ---- plugins: loading, threads, strict mode, conflicts, the environment ---------------------

GELU = """
import math
@hookimpl
def picograd_register_ops(register):
    register(Op("gelu", lambda x: {k} * x, lambda g, y, x: ({k} * g,), kind="activation"))
"""

INTERRUPTED = """
import pathlib
flag = pathlib.Path({flag!r})
if flag.exists():  # the first import only
    flag.unlink()
    raise {exc}
@hookimpl
def picograd_register_ops(register):
    register(Op("bump", lambda x: x + 1.0, lambda g, y, x: (g,)))
"""


@pytest.mark.parametrize("exc", ["KeyboardInterrupt", "SystemExit(3)"])
def test_a_plugin_interrupted_while_imported_leaves_the_registry_unloaded(site, tmp_path, exc):
    flag = tmp_path / "interrupt-once"
    flag.touch()
    site.add("interrupted-ops", INTERRUPTED.format(flag=str(flag), exc=exc))
    reg = Registry(environ={"PICOGRAD_PLUGINS": "interrupted-ops"})
    with pytest.raises(BaseException) as caught:
        reg.load()
    assert not isinstance(caught.value, Exception)  # Ctrl-C and exit are not swallowed
    with use_registry(reg):  # the next use loads again, and everything works
        assert (Value(1.0) + 2.0).data == 3.0
        assert Value(1.0).bump().data == 2.0
    assert reg.plugins["interrupted-ops"].status == "loaded"


def test_rerunning_register_op_while_another_thread_uses_the_op(registry):
    def cube(k: float) -> Op:
        return Op("cube", lambda x: k * x**3, lambda g, y, x: (3.0 * k * x * x * g,))

    picograd.register_op(cube(1.0))
    errors: list[BaseException] = []
    results: set[float] = set()
    stop = threading.Event()

    def use() -> None:
        while not stop.is_set():
            try:
                x = Value(2.0)
                results.add(x.cube().data)
                x.grad = 0.0
            except BaseException as e:  # noqa: BLE001 (any error is a failure)
                errors.append(e)
                return

    worker = threading.Thread(target=use)
    worker.start()
    try:
        for i in range(200):  # a notebook cell re-run again and again
            picograd.register_op(cube(1.0 + (i % 2)))
    finally:
        stop.set()
        worker.join()
    assert errors == []
    assert results <= {8.0, 16.0} and results  # the old op or the new one, never neither


def test_strict_mode_reraises_the_same_message_without_a_growing_traceback(site):
    site.add("broken-ops", "@hookimpl\ndef picograd_register_ops(register):\n"
                           "    raise RuntimeError('boom in hook')\n")
    reg = Registry(environ={"PICOGRAD_PLUGINS": "broken-ops", "PICOGRAD_STRICT": "1"})
    seen = []
    for _ in range(3):
        with pytest.raises(PluginError, match="boom in hook") as caught:
            reg.get("add")
        seen.append((str(caught.value), len(traceback.format_exception(caught.value))))
    assert seen[0][0] == seen[1][0] == seen[2][0]
    assert seen[2][1] == seen[1][1] <= seen[0][1]  # (the first also shows the cause)


def test_an_activation_two_plugins_claim_names_the_conflict_and_the_remedy(site):
    site.add("gelu-one", GELU.format(k=1.0))
    site.add("gelu-two", GELU.format(k=2.0))
    with pytest.warns(PluginWarning, match="gelu"):
        reg = Registry(environ={"PICOGRAD_PLUGINS": "gelu-one,gelu-two"})
        reg.load()
    with use_registry(reg):
        with pytest.raises(OpConflictError) as caught:
            MLP(2, [3, 1], activation="gelu")
        message = str(caught.value)
        assert "gelu-one 1.0" in message and "gelu-two 1.0" in message
        assert "PICOGRAD_PREFER=gelu=" in message and "picograd.prefer('gelu'" in message
        picograd.prefer("gelu", "gelu-two")  # the remedy works
        assert MLP(2, [3, 1], activation="gelu", seed=0).layers[0].neurons[0].activation == \
            "gelu"


@pytest.mark.parametrize("value, strict", [("false", False), ("0", False), ("off", False),
                                           ("no", False), ("", False), ("1", True),
                                           ("true", True), ("ON", True), ("yes", True)])
def test_picograd_strict_reads_the_usual_spellings(value, strict):
    assert Registry(entry_points=False, environ={"PICOGRAD_STRICT": value}).strict is strict


def test_an_unknown_picograd_strict_value_warns_naming_it():
    reg = Registry(entry_points=False, environ={"PICOGRAD_STRICT": "flase"})
    with pytest.warns(PluginWarning, match="PICOGRAD_STRICT='flase'"):
        reg.load()
    with use_registry(reg):
        assert (Value(1.0) * 2.0).data == 2.0


UNKNOWN = [("PICOGRAD_PLUGINS", "gelu-one,gelu-onne", "'gelu-onne'"),
           ("PICOGRAD_DISABLE_PLUGINS", "no-such-plugin", "'no-such-plugin'"),
           ("PICOGRAD_PREFER", "gelu=no-such-dist", "'no-such-dist'"),
           ("PICOGRAD_PREFER", "no_such_op=gelu-one", "'no_such_op'"),
           ("PICOGRAD_PREFER", "gelu", "'gelu'")]


@pytest.mark.parametrize("var, value, named", UNKNOWN)
def test_an_unknown_name_in_the_environment_warns_naming_it(site, var, value, named):
    site.add("gelu-one", GELU.format(k=1.0))
    env = {"PICOGRAD_PLUGINS": "gelu-one", var: value}
    with pytest.warns(PluginWarning, match=f"{var}.*{named}"):
        Registry(environ=env).load()


@pytest.mark.parametrize("var, value, named", UNKNOWN)
def test_an_unknown_name_in_the_environment_is_an_error_in_strict_mode(site, var, value, named):
    site.add("gelu-one", GELU.format(k=1.0))
    env = {"PICOGRAD_PLUGINS": "gelu-one", var: value, "PICOGRAD_STRICT": "1"}
    with pytest.raises(PluginError, match=f"{var}.*{named}"):
        Registry(environ=env).load()


def test_prefer_a_provider_that_does_not_provide_the_op_raises_at_once(registry):
    with pytest.raises(ValueError, match="'add' is not provided by 'no-such-dist'"):
        picograd.prefer("add", "no-such-dist")
    assert (Value(1.0) + 2.0).data == 3.0  # and the op still works


# ---- Hypothesis budgets come from profiles (tests/conftest.py) ---------------------------------

def test_hypothesis_profiles_set_the_budgets_and_no_module_hard_codes_one():
    import os
    import re

    from hypothesis import settings

    default, long = settings.get_profile("default"), settings.get_profile("long")
    assert long.max_examples == 10 * default.max_examples
    assert settings.get_profile("ci").derandomize
    wanted = os.environ.get("HYPOTHESIS_PROFILE", "default")
    assert settings.default.max_examples == settings.get_profile(wanted).max_examples
    for module in Path(__file__).parent.glob("test_*.py"):  # a fixed count blocks "long"
        assert not re.search(r"max_examples\s*=\s*\d", module.read_text()), module.name
