"""The registry: discovery by entry point, lazy one-time loading, isolation, conflicts,
the environment switches, in-process plugins and the errors a plugin's ops raise.

Installed plugins are real distributions: a module plus a ``*.dist-info`` folder with
an ``entry_points.txt`` in a temporary directory put on ``sys.path``, which is where
``importlib.metadata`` finds anything pip installs. Each registry is told to load only
the test's own distributions (``PICOGRAD_PLUGINS``), so whatever else happens to be
installed cannot change the outcome.
"""

from __future__ import annotations

import math
import subprocess
import sys
import textwrap
import warnings

import pytest
from sites import BROKEN, twin

import picograd
import picograd.ops as ops
from picograd import (
    Op,
    OpConflictError,
    OpError,
    PluginError,
    PluginWarning,
    Registry,
    Value,
    use_registry,
)
from picograd.testing import check_op

# ---- the hook, and discovery -------------------------------------------------------

def test_hook_picograd_register_ops(site):
    site.add("extra-ops", """
@hookimpl
def picograd_register_ops(register):
    register(Op("twice", lambda x: 2.0 * x, lambda g, y, x: (2.0 * g,), kind="activation"))
    register("halve", lambda x: x / 2.0, lambda g, y, x: (g / 2.0,), samples=[(1.0,)])
""", version="0.3.1", ep="extra")
    with use_registry(site.registry("extra-ops")) as reg:
        x = Value(1.5)
        y = x.twice() + ops.halve(x)
        y.backward()
        assert (y.data, x.grad) == (3.75, 2.5)
        assert reg.get("twice").provider == "extra-ops 0.3.1"
        assert reg.get("twice").kind == "activation"
        info = reg.plugins["extra"]
        assert (info.distribution, info.version, info.status) == ("extra-ops", "0.3.1", "loaded")
        assert info.entry_point.startswith("pgtest_extra_ops") and info.ops == ["twice", "halve"]
        assert reg.plugins["picograd_ops"].source == "builtin"


def test_plugins_load_lazily_and_once(site):
    marker = site.add("lazy-ops", twin())
    reg = site.registry("lazy-ops")
    calls = []
    reg.plugin_manager.add_hookcall_monitoring(
        lambda name, impls, kwargs: calls.append(name), lambda *a: None)
    assert not marker.exists()  # creating a registry imports nothing
    with use_registry(reg):
        assert marker.exists()
        for _ in range(3):
            Value(1.0).twin().backward()
            assert "twin" in reg.ops
        assert calls == ["picograd_register_ops"] * 2  # built-ins, then lazy-ops; once each


def test_import_picograd_does_not_import_plugins(site):
    marker = site.add("slow-ops", twin())
    script = textwrap.dedent(f"""
        import pathlib, sys
        import picograd
        from picograd import Value
        x = Value(1.0)
        assert not pathlib.Path({str(marker)!r}).exists(), "plugin imported by import picograd"
        print((x.twin() + 1).data)
        assert pathlib.Path({str(marker)!r}).exists()
    """)
    env = {"PYTHONPATH": str(site.root / "site"), "PICOGRAD_PLUGINS": "slow-ops",
           "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "3.0"


# ---- isolation: a broken plugin is rolled back, the others load -----------------------

@pytest.mark.parametrize("how", BROKEN)
def test_a_failing_plugin_is_rolled_back_and_reported(site, how):
    body, why = BROKEN[how]
    site.add("broken-ops", body, version="0.0.1")
    site.add("good-ops", twin())
    with pytest.warns(PluginWarning) as caught:
        with use_registry(site.registry("broken-ops,good-ops")) as reg:
            assert Value(1.0).twin().data == 2.0  # the other plugin still works
            assert "half_done" not in reg.ops  # nothing of the broken one survives
            info = reg.plugins["broken-ops"]
            assert info.status == "failed" and why in info.error and info.ops == []
            assert reg.plugin_manager.get_plugin("broken-ops") is None
    message = str(caught[0].message)
    assert "'broken-ops' (broken-ops 0.0.1) failed and was skipped" in message
    assert why in message


def test_strict_mode_turns_a_failure_into_an_error(site):
    site.add("broken-ops", BROKEN["hook"][0], version="0.0.1")
    site.add("good-ops", twin())
    reg = site.registry("broken-ops,good-ops", PICOGRAD_STRICT="1")
    for _ in range(2):  # and keeps saying so
        with pytest.raises(PluginError, match=r"'broken-ops' \(broken-ops 0.0.1\).*boom in hook"):
            reg.load()


# ---- conflicts: both named, whatever the order, until the user chooses -----------------

@pytest.mark.parametrize("order", [("a", "b"), ("b", "a")])
def test_two_plugins_with_one_name_is_an_error_naming_both(site, order):
    folders = {"a": "site_1", "b": "site_2"} if order == ("a", "b") else \
              {"a": "site_2", "b": "site_1"}  # which one sys.path finds first
    site.add("alpha-ops", twin(2.0, "alpha_own"), folder=folders["a"])
    site.add("beta-ops", twin(3.0, "beta_own"), version="2.5", folder=folders["b"])
    expected = ("op 'twin' is provided by both alpha-ops 1.0 and beta-ops 2.5; choose one "
                "with PICOGRAD_PREFER=twin=<distribution> or picograd.prefer('twin', "
                "'<distribution>')")
    with pytest.warns(PluginWarning, match=r"op 'twin' is provided by both"):
        with use_registry(site.registry("alpha-ops,beta-ops")) as reg:
            for use in (lambda: Value(1.0).twin(), lambda: ops.twin(1.0),
                        lambda: reg.get("twin")):
                with pytest.raises(OpConflictError) as err:
                    use()
                assert str(err.value) == expected
            assert "twin" not in reg.ops and "twin" in reg.conflicts
            assert Value(1.0).alpha_own().data == Value(1.0).beta_own().data == 2.0
            picograd.prefer("twin", "beta-ops")
            assert Value(1.0).twin().data == 3.0


def test_the_environment_chooses_between_conflicting_plugins(site):
    site.add("alpha-ops", twin(2.0, "alpha_own"))
    site.add("beta-ops", twin(3.0, "beta_own"))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a resolved conflict is not warned about
        with use_registry(site.registry("alpha-ops,beta-ops", PICOGRAD_PREFER="twin=alpha_ops")):
            assert Value(1.0).twin().data == 2.0
    with pytest.raises(OpConflictError, match="alpha-ops 1.0 and beta-ops 1.0"):
        site.registry("alpha-ops,beta-ops", PICOGRAD_STRICT="1").load()


def test_builtins_keep_their_names_unless_the_user_prefers_a_plugin(site):
    site.add("fake-tanh", """
@hookimpl
def picograd_register_ops(register):
    register(Op("tanh", lambda x: 42.0, lambda g, y, x: (0.0,)))
""")
    with pytest.warns(PluginWarning, match=r"op 'tanh' from fake-tanh 1.0 is not used: the "
                                           r"built-in 'tanh' \(picogradlib .*\) keeps the name"):
        with use_registry(site.registry("fake-tanh")) as reg:
            assert Value(0.5).tanh().data == math.tanh(0.5)
            assert [op.provider for op in reg.shadowed["tanh"]] == ["fake-tanh 1.0"]
    with pytest.raises(OpConflictError, match="fake-tanh 1.0 is not used"):  # strict: an error
        site.registry("fake-tanh", PICOGRAD_STRICT="1").load()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the user chose: no warning
        with use_registry(site.registry("fake-tanh", PICOGRAD_PREFER="tanh=fake-tanh")) as reg:
            assert Value(0.5).tanh().data == 42.0
            assert reg.get("tanh").provider == "fake-tanh 1.0"
            assert reg.shadowed == {}


def test_a_plugin_handle_may_be_unregistered_twice(registry):
    handle = registry.register_op(Op("cube", lambda x: x**3, lambda g, y, x: (3 * x * x * g,)))
    with handle:
        assert Value(2.0).cube().data == 8.0
        handle.unregister()
    handle.unregister()
    assert "cube" not in registry.ops


def test_two_distributions_may_use_the_same_entry_point_name(site):
    site.add("one-ops", twin(2.0, "one_own"), ep="ops")
    site.add("two-ops", "\n@hookimpl\ndef picograd_register_ops(register):\n"
             "    register(Op('two_own', abs, lambda g, y, x: (g,)))\n", ep="ops")
    with use_registry(site.registry("one-ops,two-ops")) as reg:
        assert {"one-ops:ops", "two-ops:ops"} <= reg.plugins.keys()
        assert Value(1.0).one_own().data == Value(-2.0).two_own().data == 2.0


# ---- choosing what loads: a blocked plugin is never imported ---------------------------

@pytest.mark.parametrize("env, loaded", [
    ({"PICOGRAD_PLUGINS": ""}, set()),
    ({"PICOGRAD_PLUGINS": "Beta_Ops"}, {"beta"}),  # names are normalized, as pip does
    ({"PICOGRAD_PLUGINS": " alpha , beta-ops "}, {"alpha", "beta"}),  # entry-point name
    ({"PICOGRAD_DISABLE_PLUGINS": "alpha-ops"}, {"beta"}),
    ({"PICOGRAD_DISABLE_PLUGINS": "beta,alpha"}, set()),
    ({"PICOGRAD_PLUGINS": "alpha-ops,beta-ops", "PICOGRAD_DISABLE_PLUGINS": "beta"}, {"alpha"}),
])
def test_allow_and_block_lists(site, env, loaded):
    markers = {"alpha": site.add("alpha-ops", twin(2.0, "alpha_own"), ep="alpha"),
               "beta": site.add("beta-ops", twin(3.0, "beta_own"), ep="beta")}
    env.setdefault("PICOGRAD_PLUGINS", "alpha-ops,beta-ops")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PluginWarning)  # both loaded: 'twin' conflicts
        with use_registry(Registry(environ=env)) as reg:
            for name, marker in markers.items():
                info = reg.plugins[name]
                assert marker.exists() == (name in loaded)  # imported only if it loads
                assert info.status == ("loaded" if name in loaded else "blocked")
                assert (f"{name}_own" in reg.ops) == (name in loaded)
            assert "tanh" in reg.ops  # built-ins always load


# ---- in-process plugins ------------------------------------------------------------

class Cube:
    @picograd.hookimpl
    def picograd_register_ops(self, register):
        register(Op("cube", lambda x: x**3, lambda g, y, x: (3.0 * x * x * g,)))


def test_an_in_process_plugin_comes_and_goes(registry):
    with picograd.register_plugin(Cube(), name="cubes") as handle:
        assert Value(2.0).cube().data == 8.0
        assert registry.plugins["cubes"].source == "in-process"
        with pytest.raises(PluginError, match="a plugin named 'cubes' is already registered"):
            picograd.register_plugin(Cube(), name="cubes")
    assert handle.name == "cubes" and "cube" not in registry.ops
    assert "cubes" not in registry.plugins
    with pytest.raises(AttributeError, match="no op named 'cube'"):
        ops.cube(2.0)
    with pytest.raises(AttributeError):
        Value(2.0).cube()


def test_an_invalid_in_process_plugin_raises_at_once_and_leaves_nothing(registry):
    class Bad:
        @picograd.hookimpl
        def picograd_register_ops(self, register):
            register(Op("fine", abs, lambda g, y, x: (g,)))
            register(Op("grad", abs, lambda g, y, x: (g,)))  # a Value attribute

    with pytest.raises(PluginError, match="invalid op 'grad': 'grad' is reserved by Value"):
        picograd.register_plugin(Bad(), name="bad")
    assert "fine" not in registry.ops and "bad" not in registry.plugins


def test_overriding_is_in_process_only_and_explicit(registry, site):
    class MyTanh:
        def __init__(self, override):
            self.override = override

        @picograd.hookimpl
        def picograd_register_ops(self, register):
            register(Op("tanh", lambda x: 7.0, lambda g, y, x: (g,)), override=self.override)

    with pytest.raises(OpConflictError, match="'tanh' is already provided by picogradlib "):
        picograd.register_plugin(MyTanh(False), name="mine")
    with picograd.register_plugin(MyTanh(True), name="mine"):
        assert Value(0.5).tanh().data == 7.0
    assert Value(0.5).tanh().data == math.tanh(0.5)  # the built-in is back

    site.add("pushy-ops", """
@hookimpl
def picograd_register_ops(register):
    register(Op("tanh", lambda x: 7.0, lambda g, y, x: (g,)), override=True)
""")
    with pytest.warns(PluginWarning, match="installed plugins cannot override"):
        with use_registry(site.registry("pushy-ops")):
            assert Value(0.5).tanh().data == math.tanh(0.5)


# ---- register_op: one op, for notebooks ----------------------------------------------

def test_register_op_as_a_call_and_as_a_decorator(registry):
    with picograd.register_op(Op("cube", lambda x: x**3, lambda g, y, x: (3 * x * x * g,))):
        x = Value(2.0)
        x.cube().backward()
        assert x.grad == 12.0
    assert "cube" not in registry.ops

    @picograd.register_op(kind="activation", samples=[(0.5,), (-1.0,)])
    def swish(x):  # composite: built from other ops, no backward needed
        return x * x.sigmoid()

    assert registry.get("swish").composite and registry.get("swish").kind == "activation"
    check_op("swish")

    @picograd.register_op(kind="activation")  # re-running the cell replaces it
    def swish(x):  # noqa: F811
        return 2.0 * x * x.sigmoid()

    assert Value(1.0).swish().data == pytest.approx(2.0 / (1.0 + math.exp(-1.0)))
    with pytest.raises(PluginError, match="invalid op 'swish': kind must be one of"):
        picograd.register_op(kind="bogus")(swish)  # a failed re-run keeps the old one
    assert Value(1.0).swish().data == pytest.approx(2.0 / (1.0 + math.exp(-1.0)))
    swish.unregister()
    assert "swish" not in registry.ops


def test_register_op_follows_the_same_rules(registry):
    with pytest.raises(OpConflictError, match="'relu' is already provided by picogradlib "):
        picograd.register_op(Op("relu", abs, lambda g, y, x: (g,)))
    with pytest.raises(PluginError, match="invalid op 'bad name'"):
        picograd.register_op(Op("bad name", abs, lambda g, y, x: (g,)))
    assert registry.get("relu").provider.startswith("picogradlib ")
    with picograd.register_op(Op("relu", abs, lambda g, y, x: (g,)), override=True):
        assert Value(-3.0).relu().data == 3.0
    assert Value(-3.0).relu().data == 0.0


def test_a_registered_activation_works_at_once_in_an_mlp(registry):
    from picograd.nn import MLP

    @picograd.register_op(kind="activation", backward=lambda g, y, x: (g * (1.0 - y * y),))
    def my_tanh(x):
        return math.tanh(x)

    model = MLP(2, [4, 1], activation="my_tanh")
    out = model([0.5, -1.0])
    out.backward()
    hidden = model.layers[0].neurons[0]
    assert hidden.activation == "my_tanh"
    assert any(p.grad != 0.0 for p in model.parameters())
    reference = MLP(2, [4, 1], activation="tanh")  # same math, the built-in op
    for p, q in zip(reference.parameters(), model.parameters()):
        p.data = q.data
    assert reference([0.5, -1.0]).data == pytest.approx(out.data, rel=1e-15)


# ---- the hot path: pluggy is never called per op -------------------------------------

def test_no_hook_is_called_during_forward_or_backward(site):
    site.add("extra-ops", twin())
    reg = site.registry("extra-ops")
    calls = []
    undo = reg.plugin_manager.add_hookcall_monitoring(
        lambda name, impls, kwargs: calls.append(name), lambda *a: None)
    with use_registry(reg):
        assert calls == ["picograd_register_ops"] * 2  # loading calls the hook
        calls.clear()
        x, w = Value(0.3), Value(-1.2)
        y = ((x * w).tanh() + x.twin() ** 2 - ops.bump(w) / 3.0).relu()
        y.backward()
        assert x.grad != 0.0
        assert calls == []  # nothing during forward or backward
        picograd.register_plugin(Cube(), name="cubes")  # the monitor does see new calls
        assert calls == ["picograd_register_ops"]
    undo()


# ---- errors inside a plugin's op name the op and the plugin ---------------------------

FAULTY = """
def bad_forward(x):
    raise ValueError("forward is broken")

def bad_backward(g, y, x):
    raise ArithmeticError("backward is broken")

@hookimpl
def picograd_register_ops(register):
    register(Op("fwd_fails", bad_forward, lambda g, y, x: (g,)))
    register(Op("bwd_fails", lambda x: x, bad_backward))
    register(Op("two_grads", lambda x: x, lambda g, y, x: (g, g)))
    register(Op("no_tuple", lambda x, z: x * z, lambda g, y, x, z: g * z, arity=2))
"""


def test_errors_in_a_plugins_op_name_the_op_and_the_plugin(site):
    site.add("faulty-ops", FAULTY, version="3.1.4")
    with use_registry(site.registry("faulty-ops")):
        with pytest.raises(ValueError) as err:
            Value(1.5).fwd_fails()
        assert str(err.value) == "forward is broken"  # the plugin's own exception, kept
        assert err.value.__notes__ == [
            "fwd_fails(1.5) forward failed [op 'fwd_fails' from faulty-ops 3.1.4]"]
        with pytest.raises(ArithmeticError, match=r"backward is broken\nbwd_fails\(1.5\) "
                           r"backward failed \[op 'bwd_fails' from faulty-ops 3.1.4\]"):
            (Value(1.5).bwd_fails() * 2.0).backward()
        with pytest.raises(OpError, match=r"backward of op 'two_grads' \(faulty-ops 3.1.4\) must "
                           r"return a tuple of 1 gradient\(s\), got 2 gradient\(s\)"):
            Value(1.5).two_grads().backward()
        with pytest.raises(OpError, match=r"'no_tuple' \(faulty-ops 3.1.4\) must return a tuple "
                           r"of 2 gradient\(s\), got float"):
            ops.no_tuple(Value(1.5), Value(2.0)).backward()
