"""The engine's fast paths give exactly the numbers of the plain paths.

Zero skipping (``kernel.ZERO_SKIPPING``): backward skips a node whose upstream gradient
is exactly 0 when its op is a listed built-in and its inputs and output are finite
floats. Each test runs the same graph with skipping and with it switched off, and
compares every gradient bit for bit (``repr`` tells -0.0 from 0.0, and NaN from inf).
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from picograd import Op, Value, ops
from picograd.active import active_registry
from picograd.kernel import ZERO_SKIPPING
from picograd.nn import MLP, Layer, Neuron

SPECIAL = [0.0, -0.0, 1.5, -2.0, 1e-310, 1e308, math.inf, -math.inf, math.nan]


@contextmanager
def no_skipping() -> Iterator[None]:
    """Switch zero skipping off for every op (and variant) of the active registry."""
    bound = [op for op in active_registry().ops.values()]
    bound += [v for op in bound for v in op._variants.values()]
    saved = [op.skips_zero for op in bound]
    try:
        for op in bound:
            object.__setattr__(op, "skips_zero", False)
        yield
    finally:
        for op, flag in zip(bound, saved):
            object.__setattr__(op, "skips_zero", flag)


def bits(xs: list[float]) -> list[str]:
    return [repr(float(x)) for x in xs]


def both_ways(build: Callable[[], tuple[Value, list[Value]]]) -> tuple[list[str], list[str]]:
    """The leaves' gradients after backward, with zero skipping and without."""
    out = []
    for context in (no_skipping, _nothing):
        with context():
            root, leaves = build()
            root.backward()
            out.append(bits([p.grad for p in leaves]))
    return out[0], out[1]


@contextmanager
def _nothing() -> Iterator[None]:
    yield


def test_the_builtins_skip_and_nothing_else(registry):
    flagged = {name for name, op in registry.ops.items() if op.skips_zero}
    assert flagged == ZERO_SKIPPING
    assert not registry.get("sqrt").skips_zero and not registry.get("pow").skips_zero
    assert registry.get("weighted_sum").bind({"relu": True}).skips_zero
    assert not registry.get("mul").for_arrays().skips_zero  # arrays: never skipped


@pytest.mark.parametrize("name", sorted(ZERO_SKIPPING))
def test_a_zero_gradient_gives_the_same_bits_at_special_values(registry, name):
    """Each listed op, fed 0, -0, tiny, huge, inf and NaN, then multiplied by 0."""
    op = registry.get(name)
    arity = len(op.samples[0])
    tried = 0
    for xs in itertools.product(SPECIAL, repeat=min(arity, 2)):
        xs = (*xs, *op.samples[0][len(xs):])  # a longer op keeps its sample's tail

        def build(xs=xs):
            leaves = [Value(x) for x in xs]
            y = getattr(ops, name)(*leaves)
            for upstream in (0.0, -0.0):
                y = y * upstream  # the op's node receives exactly +-0
            return y, leaves

        try:
            skipped, plain = both_ways(build)
        except (ValueError, ZeroDivisionError, OverflowError):
            continue  # the op rejects these inputs (log(-2), 0 ** -1, ...)
        tried += 1
        assert skipped == plain, (name, xs)
    assert tried


def test_inf_inputs_still_give_nan_not_zero(registry):
    """0 * inf is NaN: a node with an infinite input is never skipped."""
    w, x, b = Value(math.inf), Value(-1.0), Value(0.0)
    y = ops.weighted_sum(b, w, x, relu=True)  # relu(-inf) = 0: finite, but its inputs are not
    (y * 0.0).backward()
    assert math.isnan(x.grad) and repr(w.grad) in ("0.0", "-0.0")
    s = Value(0.0)
    (s.sqrt() * 0.0).backward()  # sqrt's slope at 0 is inf: not listed, so 0 * inf = NaN
    assert math.isnan(s.grad)


def test_nan_output_is_never_skipped(registry):
    x = Value(math.nan)
    (x.relu() * 0.0).backward()
    assert math.isnan(x.grad)  # relu's gradient at NaN is NaN, whatever the upstream


def test_a_plugin_op_always_runs_its_backward(registry):
    calls = []

    def bwd(g, y, x):
        calls.append(g)
        return (g * 2.0,)

    registry.register_op(Op("twice", lambda x: 2.0 * x, bwd, samples=[(1.0,)]))
    x = Value(1.0)
    (ops.twice(x) * 0.0).backward()
    assert calls == [0.0]


def test_a_trained_mlp_with_dead_relus_gets_the_same_bits(registry):
    """The demo's case: most samples' hinge is 0, most nodes get exactly 0."""
    rng = random.Random(3)
    rows = [[rng.uniform(-2, 2), rng.uniform(-2, 2)] for _ in range(40)]
    targets = [1.0 if r[0] * r[1] > 0 else -1.0 for r in rows]
    for fused in (True, False):
        def build(fused=fused):
            model = MLP(2, [8, 8, 1], seed=5, fused=fused)
            for p in model.parameters()[::3]:
                p.data *= 4.0  # large weights: many dead relus and satisfied margins
            scores = [model(r) for r in rows]
            losses = [(1 + -t * s).relu() for s, t in zip(scores, targets)]
            total = sum(losses) * (1.0 / len(losses))
            return total + 1e-4 * sum(p * p for p in model.parameters()), model.parameters()

        skipped, plain = both_ways(build)
        assert skipped == plain


@pytest.mark.parametrize("fused", [True, False], ids=["weighted_sum(relu=True)", "relu"])
def test_a_dead_relu_gives_the_same_bits_whatever_its_upstream(registry, fused):
    """A relu whose output is 0 passes g * 0 on: skipped too, unless g or an input is
    not finite (inf * 0 is NaN)."""
    upstreams = [1.5, -2.0, 1e308, math.inf, -math.inf, math.nan]
    for w, x, upstream in itertools.product(SPECIAL, SPECIAL, upstreams):
        def build(w=w, x=x, upstream=upstream):
            b, w, x = Value(-1.0), Value(w), Value(x)
            y = ops.weighted_sum(b, w, x, relu=True) if fused else (b + w * x).relu()
            return y * upstream, [b, w, x]

        skipped, plain = both_ways(build)
        assert skipped == plain, (w, x, upstream)


@contextmanager
def counting(op: Any) -> Iterator[list]:
    """Record each call of a bound op's backward."""
    calls: list = []
    backward = op.backward

    def counted(*args: float) -> tuple:
        calls.append(args)
        return backward(*args)

    object.__setattr__(op, "backward", counted)
    try:
        yield calls
    finally:
        object.__setattr__(op, "backward", backward)


def test_a_dead_relu_node_runs_no_backward(registry):
    with counting(registry.get("weighted_sum").bind({"relu": True})) as calls:
        for weight, runs in ((-1.0, 0), (1.0, 1)):  # relu(w * 2): dead, then alive
            w, x = Value(weight), Value(2.0)
            (ops.weighted_sum(Value(0.0), w, x, relu=True) * 3.0).backward()
            assert len(calls) == runs and w.grad == (6.0 if runs else 0.0)


def test_an_inf_elsewhere_in_the_graph_checks_each_node_on_its_own(registry):
    """Skipping checks the whole graph's numbers at once; with an inf among them, each
    node's own: a * b (finite, gradient 0) is still skipped, and the bits are the same."""
    def build():
        a, b, c = Value(1.5), Value(-2.0), Value(math.inf)
        return (a * b) * 0.0 + c * 0.0, [a, b, c]

    with counting(registry.get("mul")) as calls:
        root, leaves = build()
        root.backward()
    assert len(calls) == 2  # (a * b) * 0 and c * 0 ran; a * b did not
    skipped, plain = both_ways(build)
    assert skipped == plain == ["0.0", "0.0", "0.0"]


def test_a_leaf_gradient_keeps_accumulating_bit_for_bit(registry):
    """Skipped or not, a leaf's earlier gradient is added to exactly as before."""
    def build():
        a, b = Value(1.5), Value(-2.0)
        a.grad, b.grad = 0.25, math.inf
        return (a * b).relu() * 0.0 + a * 3.0, [a, b]

    skipped, plain = both_ways(build)
    assert skipped == plain == [repr(0.25 + 3.0), "inf"]


def test_attribute_variants_are_cached_by_type_and_value(registry):
    op = registry.get("weighted_sum")
    name = next(iter(op.attrs))
    one, true, again = op.bind({name: 1}), op.bind({name: True}), op.bind({name: 1})
    assert one is again and one is not true
    assert one.attrs[name] == 1 and type(true.attrs[name]) is bool
    with pytest.raises(TypeError, match="unknown attribute"):
        op.bind({"nope": 1})


def test_fused_neurons_use_the_relu_variant_directly(registry):
    model = MLP(2, [3, 1], seed=0)
    out = model([0.5, -0.25])
    assert out.op.label == "weighted_sum(relu=False)"  # the linear output neuron
    hidden = out._prev[4:]  # b, w1..w3, then the hidden layer's three outputs
    assert [v.op.label for v in hidden] == ["weighted_sum(relu=True)"] * 3


def _same_node(a: Value, b: Value) -> bool:
    """Two nodes made the same way: the same op, the same input Values, the same number."""
    return a.op is b.op and a._prev == b._prev and repr(a.data) == repr(b.data)


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_a_layer_reads_its_input_once_and_makes_each_neurons_own_node(registry, activation):
    """A fused layer runs its neurons through apply_each: the nodes, numbers and
    gradients are those of each neuron called on its own."""
    model = MLP(3, [5, 4, 1], seed=7, activation=activation)
    x = [Value(0.5), Value(-1.25), Value(2.0)]
    for layer in model.layers:
        together = layer(x)
        alone = [n(x) for n in layer.neurons]
        together = together if isinstance(together, list) else [together]
        assert len(together) == len(alone)
        for t, a in zip(together, alone):
            if activation == "relu" or not layer.neurons[0].nonlin:
                assert _same_node(t, a)  # one weighted_sum node, relu folded in
            else:  # weighted_sum, then tanh's node on it, before the next neuron's
                assert t.op is a.op and _same_node(t._prev[0], a._prev[0])
                assert t._id == t._prev[0]._id + 1
        x = alone
    out = model([Value(0.5), Value(-1.25), Value(2.0)])
    out.backward()
    grads = [p.grad for p in model.parameters()]
    model.zero_grad()
    h = [Value(0.5), Value(-1.25), Value(2.0)]
    for layer in model.layers:  # every neuron on its own
        h = [n(h) for n in layer.neurons]
    h[0].backward()
    assert bits(grads) == bits([p.grad for p in model.parameters()])


def test_a_layer_of_mixed_neurons_or_odd_inputs_runs_each_neuron(registry):
    layer = Layer(2, 3, seed=1)
    layer.neurons[1].activation = "tanh"  # one neuron of another kind
    x = [Value(0.5), Value(1.5)]
    out = layer(x)
    assert [v.op.name for v in out] == ["weighted_sum", "tanh", "weighted_sum"]
    alone = [n(x) for n in layer.neurons]
    assert _same_node(out[0], alone[0]) and _same_node(out[2], alone[2])
    assert _same_node(out[1]._prev[0], alone[1]._prev[0]) and out[1].data == alone[1].data
    # plain numbers and a plain-number weight are lifted to constants, as apply does
    layer = Layer(2, 2, seed=1)
    plain = layer([0.5, 1.5])
    assert [v.data for v in plain] == [n([0.5, 1.5]).data for n in layer.neurons]
    with pytest.raises(ValueError, match=r"takes 2 inputs, got 3"):
        layer([Value(1.0)] * 3)

    class Doubled(Neuron):  # a learner's own neuron computes its own way
        def _forward(self, x, fold_relu):  # type: ignore[no-untyped-def]
            return super()._forward(x, fold_relu) * 2.0

    layer = Layer(2, 2, seed=1)
    plain = [v.data for v in layer(x)]
    layer.neurons[1].__class__ = Doubled
    assert [v.data for v in layer(x)] == [plain[0], 2.0 * plain[1]]


def test_a_plugin_weighted_sum_runs_per_neuron_and_its_failure_names_it(registry):
    """An overriding weighted_sum (no relu folding then) gets every neuron's numbers;
    an exception in it names the op and the plugin, as for any op."""
    seen: list[int] = []

    def fwd(b: float, *wx: float) -> float:
        seen.append(len(wx))
        if b > 100.0:
            raise ValueError("bias too large")
        n = len(wx) // 2
        return b + sum(w * x for w, x in zip(wx[:n], wx[n:]))

    def bwd(g: float, y: float, b: float, *wx: float) -> tuple:
        n = len(wx) // 2
        return (g, *[g * x for x in wx[n:]], *[g * w for w in wx[:n]])

    registry.register_op(Op("weighted_sum", fwd, bwd, arity=None, samples=[(0.5, 1.0, 2.0)]),
                         override=True)
    layer = Layer(2, 3, seed=1)
    out = layer([Value(0.5), Value(1.5)])
    assert seen == [4, 4, 4] and [v.op.name for v in out] == ["relu"] * 3
    # neuron by neuron, as each Neuron alone: its sum, then its relu, then the next one
    assert [v._id - v._prev[0]._id for v in out] == [1, 1, 1]
    layer.neurons[2].b.data = 1e3
    with pytest.raises(ValueError, match="bias too large") as info:
        layer([Value(0.5), Value(1.5)])
    assert "weighted_sum" in str(info.value.__notes__) and "in-process" in \
        str(info.value.__notes__)


def test_an_unfused_neuron_uses_overriding_mul_and_add(registry):
    """fused=False builds micrograd's graph from the op table's mul and add: a plugin
    that overrides them makes every one of its nodes, in micrograd's order."""
    made: list[str] = []

    def op(name: str, fn: Any, d: Any) -> Op:
        def fwd(a: float, b: float) -> float:
            made.append(name)
            return fn(a, b)
        return Op(name, fwd, d, arity=2, samples=[(0.5, 1.5)])

    registry.register_op(op("mul", lambda a, b: a * b, lambda g, y, a, b: (g * b, g * a)),
                         override=True)
    registry.register_op(op("add", lambda a, b: a + b, lambda g, y, a, b: (g, g)),
                         override=True)
    n = Neuron(3, nonlin=False, fused=False, seed=2)
    out = n([0.5, -1.0, 2.0])
    assert made == ["mul", "add"] * 3  # b + w1 x1, + w2 x2, + w3 x3, as sum() adds them
    assert out.op.provider == registry.get("add").provider != "picograd_ops"
    expected = n.b.data
    for w, x in zip(n.w, [0.5, -1.0, 2.0]):
        expected = expected + w.data * x
    assert out.data == expected
    out.backward()
    assert [w.grad for w in n.w] == [0.5, -1.0, 2.0] and n.b.grad == 1.0
