"""The Value engine: micrograd's surface, backward, reuse, accumulation, no_grad."""

from __future__ import annotations

import math
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from reference_cases import readme_expression

import picograd
from picograd import Value, no_grad

ROOT = Path(__file__).resolve().parents[1]


def readme_example() -> str:
    text = (ROOT / "README.md").read_text()
    return re.findall(r"```python\n(.*?)```", text, re.S)[0]


def test_seed_readme_example_prints_its_exact_numbers():
    out = subprocess.run([sys.executable, "-c", readme_example()], capture_output=True,
                         text=True, check=True).stdout.split()
    assert out == ["24.7041", "138.8338", "645.5773"]


def test_seed_example_gradients_match_finite_differences(registry):
    def g_of(a_, b_):
        a, b = Value(a_), Value(b_)
        return a, b, readme_expression(a, b)

    a, b, g = g_of(-4.0, 2.0)
    g.backward()
    h = 1e-6
    da = (g_of(-4.0 + h, 2.0)[2].data - g_of(-4.0 - h, 2.0)[2].data) / (2 * h)
    db = (g_of(-4.0, 2.0 + h)[2].data - g_of(-4.0, 2.0 - h)[2].data) / (2 * h)
    assert a.grad == pytest.approx(da, rel=1e-6)
    assert b.grad == pytest.approx(db, rel=1e-6)


def test_micrograd_import_path_and_repr():
    from picograd.engine import Value as EngineValue

    assert EngineValue is Value
    v = Value(2.0)
    assert repr(v) == "Value(data=2.0, grad=0.0)"
    assert Value(3).data == 3.0 and isinstance(Value(3).data, float)


def test_operators_with_numbers_on_either_side(registry):
    x = Value(3.0)
    cases = {
        "x + 2": (x + 2, 5.0), "2 + x": (2 + x, 5.0),
        "x - 2": (x - 2, 1.0), "2 - x": (2 - x, -1.0),
        "x * 2": (x * 2, 6.0), "2 * x": (2 * x, 6.0),
        "x / 2": (x / 2, 1.5), "2 / x": (2 / x, 2 / 3),
        "x ** 2": (x**2, 9.0), "2 ** x": (2**x, 8.0),
        "-x": (-x, -3.0),
    }
    for text, (value, expected) in cases.items():
        assert value.data == pytest.approx(expected), text
    grads = {"2 - x": -1.0, "2 / x": -2 / 9, "2 ** x": 8.0 * math.log(2), "x ** 2": 6.0}
    for text, expected in grads.items():
        x.grad = 0.0
        cases[text][0].backward()
        assert x.grad == pytest.approx(expected), text


def test_power_with_a_value_exponent(registry):
    a, b = Value(2.0), Value(3.0)
    y = a**b
    y.backward()
    assert y.data == 8.0
    assert a.grad == pytest.approx(3 * 2.0**2)  # b a^(b-1)
    assert b.grad == pytest.approx(8.0 * math.log(2.0))  # a^b ln a


def test_reused_node_gets_its_full_gradient(registry):
    a = Value(3.0)
    (a * a).backward()
    assert a.grad == 6.0
    b = Value(-2.0)
    c = b * b * b + b  # b^3 + b: 3b^2 + 1
    c.backward()
    assert b.grad == 13.0


def test_gradients_accumulate_in_leaves_across_calls(registry):
    x = Value(2.0)
    y = (x * x).tanh() + x
    y.backward()
    first = x.grad
    y.backward()
    assert x.grad == pytest.approx(2 * first)
    mid = y._prev[0]  # an inner node holds this call's gradient, not a running sum
    assert mid.grad == 1.0


def test_a_million_node_chain_backpropagates_under_the_default_recursion_limit():
    code = textwrap.dedent("""
        import sys
        from picograd import Value
        assert sys.getrecursionlimit() == 1000
        x, one = Value(0.5), Value(1.0)
        y = x
        for _ in range(1_000_000):
            y = y * one
        y.backward()
        print(x.grad)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=300).stdout
    assert float(out) == 1.0


def test_results_are_bit_reproducible_across_processes():
    code = textwrap.dedent("""
        import random
        from picograd import Value
        rng = random.Random(0)
        xs = [Value(rng.uniform(-1, 1)) for _ in range(50)]
        total = Value(0.0)
        for i in range(400):
            a, b = rng.choice(xs), rng.choice(xs)
            total = total + (a * b).tanh() * rng.uniform(-1, 1)
        total.backward()
        print([x.grad.hex() for x in xs], total.data.hex())
    """)
    runs = {
        subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                       env={"PYTHONHASHSEED": seed, "PATH": ""}).stdout
        for seed in ("1", "2", "3")
    }
    assert len(runs) == 1


def test_no_grad_records_nothing(registry):
    w = Value(2.0)
    with no_grad():
        y = (w * 3.0).tanh()
    assert y._prev == () and y.op is None and y._op == "" and not y.requires_grad
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()
    z = w * 3.0  # recording again after the block
    assert z._prev == (w, z._prev[1]) and z.requires_grad


def test_constants_never_receive_a_gradient(registry):
    c = Value(5.0, requires_grad=False)
    x = Value(2.0)
    y = c * x + c
    y.backward()
    assert x.grad == 5.0
    assert c.grad == 0.0
    only_constants = c * c
    assert not only_constants.requires_grad and only_constants._prev == ()


def test_every_builtin_op_is_a_method_and_a_function(registry):
    import picograd.ops as ops

    names = {"add", "sub", "mul", "div", "pow", "neg", "relu", "tanh", "exp", "log", "sigmoid",
             "sqrt", "abs"}
    assert names <= set(dir(ops))
    x = Value(0.25)
    for name in ("relu", "tanh", "exp", "log", "sigmoid", "sqrt", "abs"):
        assert getattr(x, name)().data == getattr(ops, name)(x).data
    assert ops.mul(2.0, 3.0).data == 6.0


def test_unknown_op_is_a_clear_error(registry):
    import picograd.ops as ops

    with pytest.raises(AttributeError, match="no op named 'frobnicate' is registered"):
        ops.frobnicate(Value(1.0))
    with pytest.raises(AttributeError, match="has no attribute 'frobnicate'"):
        Value(1.0).frobnicate()


def test_import_picograd_loads_no_ops():
    code = ("import sys, picograd; from picograd import Value; x = Value(1.0); "
            "print('picograd_ops' in sys.modules); x.tanh(); print('picograd_ops' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.split()
    assert out == ["False", "True"]  # the op table is built on first use, not on import


def test_public_surface_is_explicit():
    assert "Value" in picograd.__all__ and "hookimpl" in picograd.__all__
    for name in picograd.__all__:
        assert hasattr(picograd, name), name


def test_registered_ops_are_methods_of_the_class_while_registered(registry):
    import picograd

    Value(1.0) * 2  # the table is built
    assert "__getattr__" not in Value.__dict__  # attribute reads stay on Python's fast path
    assert Value.weighted_sum is picograd.ops.weighted_sum  # an op Value does not write out
    cube = picograd.Op("cube", lambda x: x**3, lambda g, y, x: (3 * x * x * g,))
    with picograd.register_op(cube):
        assert Value(2.0).cube().data == 8.0 and "cube" in dir(Value(1.0))
    assert not hasattr(Value, "cube") and not hasattr(Value(2.0), "cube")
    assert Value.relu.__qualname__ == "Value.relu"  # the written-out methods stay Value's own
