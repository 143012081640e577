"""Property tests: random expression DAGs over every registered op, checked against
float64 finite differences.

hypothesis draws a small program: leaves, then nodes, each an op of the live registry
applied to earlier nodes (any of them, so subexpressions are shared and a node can be
both inputs of one op, ``a * a``) or to plain-number constants on either side. Long
chains make deep graphs, many leaves and sinks make wide ones. Each op's inputs are
kept inside its domain by a smooth map made of other ops (so the map is differentiated
too): ``sqrt(z*z + c)`` for positive inputs, ``a + b*sigmoid(z)`` for intervals. An op
this file does not know (a new built-in or a plugin) is fed inputs near its own
``samples``, which the op contract says lie inside its domain.

Then for the program's output:
  * the engine's forward equals a plain-float evaluation of the same program with each
    op's own forward, bit for bit, with and without ``no_grad``;
  * every leaf gradient matches float64 central differences, where the function is
    smooth at the step's scale (at a kink of relu/abs/hinge within the step the
    one-sided slopes jump, and hypothesis discards the example);
  * a second ``backward()`` adds the same gradients again, and from zeroed leaves
    reproduces them bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import picograd
from picograd import Value
from picograd import ops as F
from picograd.testing import numeric_gradient

# What each input of a built-in op may be. "real": anything; "positive": > 0;
# "nonzero": away from 0, either sign; "unit": inside (0, 1).
DOMAINS: dict[str, tuple[str, ...]] = {
    "add": ("real", "real"), "sub": ("real", "real"), "mul": ("real", "real"),
    "div": ("real", "nonzero"), "pow": ("positive", "real"), "neg": ("real",),
    "exp": ("real",), "log": ("positive",), "sqrt": ("positive",), "abs": ("real",),
    "relu": ("real",), "tanh": ("real",), "sigmoid": ("real",),
    "hinge": ("real", "real"), "logistic": ("real", "real"), "bce": ("unit", "unit"),
    "mse": ("real", "real"), "sum": ("real",), "mean": ("real",),
}
# Variadic ops on real inputs, and the input counts to draw.
VARIADIC = {"weighted_sum": [1, 3, 5, 7], "sumsq": [1, 2, 5]}  # weighted_sum: b, w..., x...
OPERATORS = {"add": "+", "sub": "-", "mul": "*", "div": "/", "pow": "**"}  # x + y, 2.0 + y
LIMIT = 1e6  # larger intermediate values make finite differences meaningless: discard


class Discard(Exception):
    """The drawn program left an op's domain or grew too large: not a test case."""


def _arities(op: picograd.Op) -> list[int]:
    if op.arity is not None:
        return [op.arity]
    return VARIADIC.get(op.name) or sorted({len(s) for s in op.samples}) or [1, 2, 3]


def _attribute(draw, default):
    """A value for a non-differentiable attribute: its default or a variation of it."""
    if isinstance(default, bool):
        return draw(st.booleans())
    if isinstance(default, float):  # a slope, a scale: vary it
        return draw(st.sampled_from([default, default * 0.5, default * 2 + 0.1]))
    return default  # ints are indices and sizes: only the default is sure to fit


def _domains(op: picograd.Op, n: int) -> tuple:
    """The domain of each of n inputs: a name above, or ("near", sample value)."""
    known = DOMAINS.get(op.name)
    if known is not None and len(known) == n:
        return known
    if op.arity is None and op.name in VARIADIC:
        return ("real",) * n
    samples = [s for s in op.samples if len(s) == n] or [(0.7,) * n]
    return tuple(("near", float(x)) for x in samples[0])


# ---- a program and its two evaluations ---------------------------------------------------
#
# A program is (leaves, nodes, output): each node is (op name, args, attrs), each arg is
# ("node", index, domain, shift, sign) or ("const", number). The output sums the last node
# and every node nothing else used.

def _constant(draw, domain) -> float:
    if domain == "real":
        return draw(st.sampled_from([2.0, -1.5, 0.5, 3.0, -0.25]))
    if domain == "positive":
        return draw(st.sampled_from([0.5, 1.5, 2.0]))
    if domain == "nonzero":
        return draw(st.sampled_from([0.5, -1.5, 2.0]))
    if domain == "unit":
        return draw(st.sampled_from([0.2, 0.5, 0.9]))
    return domain[1]  # ("near", s): the sample itself


@st.composite
def programs(draw, names: list[str], ops: dict[str, picograd.Op]):
    leaves = draw(st.lists(st.floats(-2.0, 2.0, allow_nan=False), min_size=1, max_size=4))
    shape = draw(st.sampled_from(["deep", "wide", "mixed"]))
    count = draw(st.integers(1, 30 if shape == "deep" else 15))
    nodes: list[tuple] = []
    for _ in range(count):
        name = draw(st.sampled_from(names))
        op = ops[name]
        n = draw(st.sampled_from(_arities(op)))
        domains = _domains(op, n)
        integer_power = name == "pow" and draw(st.booleans())
        if integer_power:  # x ** k for a negative base too: k a constant integer
            domains = ("real", "const-int")
        total = len(leaves) + len(nodes)
        args = []
        for i, domain in enumerate(domains):
            if domain == "const-int":
                args.append(("const", float(draw(st.sampled_from([-2, -1, 0, 1, 2, 3])))))
                continue
            if i > 0 and args[0][0] == "node" and draw(st.integers(0, 9)) == 0:
                args.append(("node", args[0][1], domain, args[0][3], 1.0))  # a * a
                continue
            if n > 1 and draw(st.integers(0, 4)) == 0:
                args.append(("const", _constant(draw, domain)))  # a constant, either side
                continue
            if shape == "deep" or (shape == "mixed" and draw(st.booleans())):
                index = total - 1  # the newest node: long chains
            else:
                index = draw(st.integers(0, total - 1))  # any earlier node: sharing, width
            shift = draw(st.sampled_from([0.1, 0.3, 1.0]))
            sign = draw(st.sampled_from([1.0, -1.0])) if domain == "nonzero" else 1.0
            args.append(("node", index, domain, shift, sign))
        if all(a[0] == "const" for a in args):
            args[0] = ("node", total - 1, "real" if integer_power else domains[0], 0.3, 1.0)
        attrs = {k: _attribute(draw, v) for k, v in op.attrs.items()}
        nodes.append((name, tuple(args), attrs))
    used = {a[1] for _, args, _ in nodes for a in args if a[0] == "node"}
    sinks = [len(leaves) + i for i in range(len(nodes)) if len(leaves) + i not in used]
    return leaves, nodes, sorted(set(sinks) | {len(leaves) + len(nodes) - 1})


def _evaluate(program, xs, apply: Callable, leaf: Callable):
    """Run the program: ``leaf`` makes the inputs, ``apply(name, *args)`` applies an op."""
    _, nodes, output = program
    values = [leaf(x) for x in xs]

    def into(domain, z, shift, sign):
        # Smooth maps into each domain, built from ops (differentiated like the rest).
        if domain == "real":
            return z
        if domain in ("positive", "nonzero"):
            r = apply("pow", apply("add", apply("mul", z, z), shift), 0.5)  # sqrt(z^2 + c)
            return r if sign > 0 else apply("neg", r)
        if domain == "unit":
            return apply("add", 0.05, apply("mul", 0.9, apply("sigmoid", z)))
        return apply("add", domain[1], apply("mul", 0.1 * max(abs(domain[1]), 1.0),
                                             apply("tanh", z)))  # near a sample

    for name, args, attrs in nodes:
        ins = [a[1] if a[0] == "const" else into(a[2], values[a[1]], a[3], a[4]) for a in args]
        y = apply(name, *ins, **attrs)
        if not abs(_data(y)) <= LIMIT:
            raise Discard(f"{name} gave {_data(y)}")
        values.append(y)
    out = values[output[0]]
    for i in output[1:]:
        out = apply("add", out, values[i])
    return out


def _data(v) -> float:
    return v.data if isinstance(v, Value) else v


def _engine_apply(name: str, *args, **attrs):
    if attrs:
        return getattr(F, name)(*args, **attrs)
    if name == "neg":
        return -args[0]
    symbol = OPERATORS.get(name)
    if symbol is not None:  # Python's operators: a constant on the left uses __radd__ etc.
        a, b = args
        return {"+": a.__add__ if isinstance(a, Value) else b.__radd__,
                "-": a.__sub__ if isinstance(a, Value) else b.__rsub__,
                "*": a.__mul__ if isinstance(a, Value) else b.__rmul__,
                "/": a.__truediv__ if isinstance(a, Value) else b.__rtruediv__,
                "**": a.__pow__ if isinstance(a, Value) else b.__rpow__,
                }[symbol](b if isinstance(a, Value) else a)
    return getattr(F, name)(*args)


def _guarded(fn: Callable) -> Callable:
    def run(*args, **attrs):
        try:
            return fn(*args, **attrs)
        except (ValueError, ZeroDivisionError, OverflowError) as e:
            raise Discard(str(e)) from e

    return run


# ---- the properties ------------------------------------------------------------------------

@pytest.fixture
def live(registry):
    return sorted(registry.ops), registry.ops


def _check(program, ops) -> None:
    leaves = program[0]
    engine = _guarded(_engine_apply)

    def plain(name, *args, **attrs):
        op = ops[name]
        if op.composite:  # built from other ops: run it through the engine
            with picograd.no_grad():
                return getattr(F, name)(*args, **attrs).data
        return op.bind(attrs).forward(*[float(a) for a in args])

    def f(point) -> float:
        return _evaluate(program, point, _guarded(plain), float)

    try:
        out = _evaluate(program, leaves, engine, Value)
    except Discard:
        assume(False)
    # forward: the engine and a plain-float run of the same ops agree bit for bit
    try:
        expected = f(leaves)
    except Discard:
        assume(False)
    assert out.data == expected or (math.isnan(out.data) and math.isnan(expected))
    with picograd.no_grad():
        quiet = _evaluate(program, leaves, engine, Value)
    assert quiet.data == out.data and not quiet.requires_grad

    # gradients: rebuild with leaves we keep, backpropagate, compare with float64 finite
    # differences at two step sizes (their disagreement means a kink nearby: discard)
    inputs, made = [Value(x) for x in leaves], []
    it = iter(inputs)
    out = _evaluate(program, leaves, lambda *a, **k: made.append(engine(*a, **k)) or made[-1],
                    lambda x: next(it))
    assume(math.isfinite(out.data))
    out.backward()
    analytic = [v.grad for v in inputs]
    # Huge partial gradients that cancel (x / x at x = 1e-300) lose the small terms in
    # float64 whoever computes them: not a property of the engine, discard.
    assume(all(abs(v.grad) <= LIMIT for v in made))
    try:
        numeric = numeric_gradient(f, leaves, eps=1e-6)
        coarse = numeric_gradient(f, leaves, eps=1e-5)
        kinks = [_kinked(f, leaves, i) for i in range(len(leaves))]
    except Discard:
        assume(False)
    assume(not any(kinks))
    scale = max(1.0, abs(out.data))
    for i, (a, n, m) in enumerate(zip(analytic, numeric, coarse)):
        # |n - m| bounds the error of the finer difference itself, which is O(h), not
        # O(h^2), where a second derivative jumps (relu(x)^2 at 0); tiny elsewhere.
        tol = 2e-6 * scale + 1e-4 * abs(n) + abs(n - m)
        assert abs(a - n) <= tol, f"d out / d leaf {i}: backward {a!r}, finite differences {n!r}"

    # a second backward adds the same gradients again (leaves accumulate, inner nodes
    # start afresh); from zeroed leaves it gives the same gradients bit for bit
    out.backward()
    assert [v.grad for v in inputs] == pytest.approx([2.0 * g for g in analytic], rel=1e-12)
    for v in inputs:
        v.grad = 0.0
    out.backward()
    assert [v.grad for v in inputs] == analytic


def _kinked(f: Callable, xs: list[float], i: int) -> bool:
    """Is f not smooth in x_i right here? A kink within the step (relu or abs at 0)
    makes the one-sided slopes differ by a jump that does not shrink with the step;
    on a smooth function their difference is about h f'' and shrinks tenfold."""
    def gap(h: float) -> float:
        up, down = list(xs), list(xs)
        up[i] += h
        down[i] -= h
        here = f(xs)
        return abs((f(up) - here) / h - (here - f(down)) / h)

    h = 1e-6 * max(1.0, abs(xs[i]))
    fine, coarse = gap(h), gap(10 * h)
    noise = 1e-8 * max(1.0, abs(f(xs)))
    return fine > noise and fine > 0.3 * coarse


# Example counts come from the Hypothesis profile (tests/conftest.py: seconds by default,
# HYPOTHESIS_PROFILE=long for ten times more); no deadline, because the machine is shared
# and a slow example is not a failure.
SETTINGS = settings(deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


def test_random_dags_over_every_op_match_finite_differences(live):
    names, ops = live

    @SETTINGS
    @given(programs(names, ops))
    def check(program):
        _check(program, ops)

    check()


def test_every_registered_op_is_drawn(live):
    # The generator covers the whole live registry, not a hand-picked list: each op has
    # an arity and a domain for each input.
    names, ops = live
    for name in names:
        for n in _arities(ops[name]):
            assert len(_domains(ops[name], n)) == n


@pytest.mark.parametrize("name", ["relu", "abs", "hinge"])
def test_shared_subexpressions_through_kinked_ops(registry, name):
    # A fixed DAG where one node feeds three consumers, one of them twice.
    def fn(x, y):
        s = x * y + x
        k = getattr(F, name)(s, 1.0) if name == "hinge" else getattr(F, name)(s)
        return k * s + s.tanh() * k + (s * s).exp()

    x, y = Value(0.7), Value(-0.4)
    out = fn(x, y)
    out.backward()

    def f(p):
        return fn(Value(p[0]), Value(p[1])).data

    for got, want in zip((x.grad, y.grad), numeric_gradient(f, [0.7, -0.4])):
        assert got == pytest.approx(want, rel=1e-6, abs=1e-8)
