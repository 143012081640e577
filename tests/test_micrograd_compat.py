"""micrograd's lecture idioms on picograd Values: one test per idiom, with real numbers.

The lecture ("building micrograd") and micrograd's trace_graph.ipynb reach into the
engine: they build nodes with ``Value(data, children, op)`` and a ``_backward`` closure,
step backpropagation by hand, sort the graph themselves and draw it from ``_prev``,
``_op``, ``label``, ``data`` and ``grad``. Learners with PyTorch habits bring
``item()``, ``float()``, comparisons and ``x.grad = None``. Every number below is
checked against finite differences or derived by hand in a comment.
"""

from __future__ import annotations

import html
import math
import random
import re
import subprocess
import sys

import graphviz
import micrograd.engine  # a test extra: the reference for _op strings and pictures
import micrograd.nn
import numpy as np
import pytest

from picograd import MLP, Neuron, Value, no_grad

H = 1e-6  # finite-difference step


def slope(f, x: float) -> float:
    """d f / d x at x, by central differences."""
    return (f(x + H) - f(x - H)) / (2 * H)


def tanh_the_lecture_way(v: Value) -> Value:
    """tanh as the lecture adds it: a node made by hand, with its own backward closure."""
    e2x = math.exp(2 * v.data)
    t = (e2x - 1) / (e2x + 1)
    out = Value(t, (v,), "tanh")

    def _backward():
        v.grad += (1 - t**2) * out.grad  # d tanh(x) / dx = 1 - tanh(x)^2

    out._backward = _backward
    return out


def lecture_neuron():
    """The lecture's neuron, o = tanh(x1*w1 + x2*w2 + b), with the lecture's labels.

    b is chosen so that n = 0.8813735870195432 = atanh(1/sqrt(2)): o = 1/sqrt(2) and
    do/dn = 1 - o^2 = 0.5, so every gradient below is a multiple of one half.
    """
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    x1w1 = x1 * w1
    x1w1.label = "x1*w1"
    x2w2 = x2 * w2
    x2w2.label = "x2*w2"
    x1w1x2w2 = x1w1 + x2w2
    x1w1x2w2.label = "x1*w1 + x2*w2"
    n = x1w1x2w2 + b
    n.label = "n"
    o = tanh_the_lecture_way(n)
    o.label = "o"
    return {v.label: v for v in (x1, x2, w1, w2, b, x1w1, x2w2, x1w1x2w2, n, o)}


# what the chain rule gives by hand for the lecture's neuron (do/dn = 0.5)
NEURON_GRADS = {"o": 1.0, "n": 0.5, "b": 0.5, "x1*w1 + x2*w2": 0.5, "x1*w1": 0.5,
                "x2*w2": 0.5, "x1": -3.0 * 0.5, "w1": 2.0 * 0.5, "x2": 1.0 * 0.5,
                "w2": 0.0 * 0.5}


# ---- building and stepping a graph by hand ------------------------------------------------

def test_the_lectures_manual_stepping_gives_the_lectures_numbers(registry):
    v = lecture_neuron()
    assert v["o"].data == pytest.approx(1 / math.sqrt(2))
    v["o"].grad = 1.0
    v["o"]._backward()  # the closure: only n gets its gradient
    assert v["n"].grad == pytest.approx(0.5) and v["x1*w1 + x2*w2"].grad == 0.0
    for name in ("n", "b", "x1*w1 + x2*w2", "x2*w2", "x1*w1"):  # b is a leaf: nothing
        v[name]._backward()  # registered 'add' and 'mul' nodes: their chain rule, once
    for name, expected in NEURON_GRADS.items():
        assert v[name].grad == pytest.approx(expected, abs=1e-15), name


def test_a_hand_written_topological_sort_gives_the_same_numbers_as_backward(registry):
    by_hand, by_engine = lecture_neuron(), lecture_neuron()
    topo, visited = [], set()

    def build_topo(v):
        if v not in visited:
            visited.add(v)
            for child in v._prev:
                build_topo(child)
            topo.append(v)

    build_topo(by_hand["o"])
    assert len(topo) == 10 and topo[-1] is by_hand["o"]
    by_hand["o"].grad = 1.0
    for node in reversed(topo):
        node._backward()
    by_engine["o"].backward()
    for name, expected in NEURON_GRADS.items():
        assert by_hand[name].grad == by_engine[name].grad == pytest.approx(expected), name


def test_backward_of_the_neuron_matches_finite_differences(registry):
    leaves = {"x1": 2.0, "x2": 0.0, "w1": -3.0, "w2": 1.0, "b": 6.8813735870195432}

    def o_of(**moved):
        p = {**leaves, **moved}
        return math.tanh(p["x1"] * p["w1"] + p["x2"] * p["w2"] + p["b"])

    v = lecture_neuron()
    v["o"].backward()
    for name, x in leaves.items():
        expected = slope(lambda t, name=name: o_of(**{name: t}), x)
        assert v[name].grad == pytest.approx(expected, abs=1e-8), name


def test_the_lectures_tanh_written_with_exp_gives_the_same_gradients(registry):
    # the lecture's second half breaks tanh into registered ops: (e^2n - 1) / (e^2n + 1)
    closure, split = lecture_neuron(), lecture_neuron()
    closure["o"].backward()
    e = (2 * split["n"]).exp()
    o = (e - 1) / (e + 1)
    o.backward()
    assert o.data == pytest.approx(closure["o"].data, rel=1e-15)
    for name in ("x1", "x2", "w1", "w2", "b"):
        assert split[name].grad == pytest.approx(closure[name].grad, abs=1e-15), name


def test_a_node_made_with_value_data_children_op(registry):
    a, b = Value(2.0), Value(-5.0)
    s = Value(a.data + b.data, (a, b), "+")  # micrograd's add, by hand

    def _backward():
        a.grad += s.grad
        b.grad += s.grad

    s._backward = _backward
    assert s._prev == (a, b) and s._op == "+" and s.label == "" and s.requires_grad
    y = s * a  # (a + b) * a: dy/da = 2a + b = -1, dy/db = a = 2
    y.backward()
    assert (y.data, a.grad, b.grad) == (-6.0, -1.0, 2.0)


def test_a_copied_node_has_its_own_label_and_closure(registry):
    import copy

    a = Value(2.0, label="a")
    s = Value(a.data * 3.0, (a,), "times3")
    s._backward = first = lambda: None
    b, t = copy.copy(a), copy.copy(s)
    b.label, t.label = "b", "t"
    t._backward = second = lambda: None
    assert (a.label, s.label, b.label, t.label) == ("a", "", "b", "t")
    assert s._backward is first and t._backward is second and t._op == s._op == "times3"


def test_a_node_without_a_closure_passes_nothing_on_as_in_micrograd(registry):
    a = Value(2.0)
    silent = Value(a.data * 10, (a,), "times10")  # no _backward given
    y = silent * a  # dy/da through the mul only: silent = 20
    y.backward()
    assert (silent.grad, a.grad) == (2.0, 20.0)
    with no_grad():  # no_grad stops registered ops; a node made by hand is still made
        made, product = Value(1.0, (a,), "mine"), a * 2
    assert made._prev == (a,) and made.requires_grad
    assert product._prev == () and not product.requires_grad


def test_the_constructor_takes_micrograds_positional_arguments(registry):
    a = Value(1.0)
    v = Value(3, (a,), "double", "twice a")  # data, _children, _op, label
    assert (v.data, v._prev, v._op, v.label) == (3.0, (a,), "double", "twice a")
    assert Value(1.0, label="x").label == "x" and Value(1.0)._prev == ()
    with pytest.raises(TypeError, match="requires_grad is keyword-only"):
        Value(1.0, False)  # picograd's old positional requires_grad
    assert not Value(1.0, requires_grad=False).requires_grad
    with pytest.raises(TypeError, match="children must be Values, got float 2.0"):
        Value(1.0, (2.0,))


# ---- closure nodes and registered-op nodes in one graph --------------------------------

def test_a_closure_op_inside_registered_ops_and_a_registered_op_on_top(registry):
    def f_floats(a, b, c):
        t = math.tanh(a * b + c)
        return math.exp(t * a) + 3 * math.tanh(t) ** 2

    args = {"a": 0.7, "b": -1.3, "c": 0.4}
    v = {k: Value(x) for k, x in args.items()}
    t = tanh_the_lecture_way(v["a"] * v["b"] + v["c"])  # registered ops below the closure
    y = (t * v["a"]).exp() + 3 * t.tanh() ** 2  # and above it, the registered tanh too
    y.backward()
    assert y.data == pytest.approx(f_floats(**args), rel=1e-15)
    for k, x in args.items():
        expected = slope(lambda u, k=k: f_floats(**{**args, k: u}), x)
        assert v[k].grad == pytest.approx(expected, rel=1e-7), k


def test_a_closure_activation_inside_an_mlp(registry):
    def softplus(v: Value) -> Value:  # a learner's activation: log(1 + e^x)
        out = Value(math.log1p(math.exp(v.data)), (v,), "softplus")

        def _backward():
            v.grad += out.grad / (1 + math.exp(-v.data))  # d softplus / dx = sigmoid(x)

        out._backward = _backward
        return out

    hidden = [Neuron(2, nonlin=False, seed=s) for s in (1, 2, 3)]
    head = Neuron(3, nonlin=False, seed=4)
    params = [p for n in [*hidden, head] for p in n.parameters()]
    rows, targets = [[0.5, -1.0], [1.5, 0.25]], [1.0, -1.0]

    def loss_of() -> Value:
        scores = [head([softplus(n(row)) for n in hidden]) for row in rows]
        return sum((s - t) ** 2 for s, t in zip(scores, targets))

    loss = loss_of()
    loss.backward()
    for i, p in enumerate(params):
        kept = p.data

        def moved(x, p=p):
            p.data = x
            return loss_of().data

        expected = slope(moved, kept)
        p.data = kept
        assert p.grad == pytest.approx(expected, rel=1e-6, abs=1e-9), f"parameter {i}"
    assert any(abs(p.grad) > 1e-3 for p in hidden[0].parameters())  # the closure passed it on


def test_a_closure_runs_once_after_its_outputs_gradient_is_complete(registry):
    seen = []

    def cube(v: Value) -> Value:
        out = Value(v.data**3, (v,), "cube")

        def _backward():
            seen.append(out.grad)
            v.grad += 3 * v.data**2 * out.grad

        out._backward = _backward
        return out

    x = Value(0.6)
    c = cube(x)
    y = c * c + c.tanh() + 2 * c  # c is used three times
    y.backward()
    u = 0.6**3  # dy/dc = 2c + (1 - tanh(c)^2) + 2, all of it before c's closure runs
    assert seen == [pytest.approx(2 * u + 1 - math.tanh(u) ** 2 + 2, rel=1e-15)]
    f = lambda s: (s**3) ** 2 + math.tanh(s**3) + 2 * s**3  # noqa: E731
    assert x.grad == pytest.approx(slope(f, 0.6), rel=1e-7)


def test_leaves_accumulate_across_backward_calls_inner_nodes_do_not(registry):
    # picograd's and PyTorch's rule: leaves add up until zeroed; an inner node holds the
    # gradient of the last call (micrograd re-adds stale inner gradients: not copied)
    x = Value(1.2)
    t = tanh_the_lecture_way(x * x)
    y = t * x  # dy/dx = tanh(x^2) + 2x^2 (1 - tanh(x^2)^2)
    once = math.tanh(1.44) + 2 * 1.44 * (1 - math.tanh(1.44) ** 2)
    y.backward()
    assert x.grad == pytest.approx(once, rel=1e-15)
    y.backward()
    assert x.grad == pytest.approx(2 * once, rel=1e-15)
    assert t.grad == pytest.approx(1.2, rel=1e-15)  # dy/dt = x, this call's alone
    x.grad = 0.0  # zero_grad, as micrograd's and the lecture's loops do
    y.backward()
    assert x.grad == pytest.approx(once, rel=1e-15)


def test_a_failing_closure_leaves_every_gradient_as_it_was(registry):
    a = Value(2.0)
    a.grad = 7.0

    def broken(v: Value) -> Value:
        out = Value(v.data, (v,), "broken")

        def _backward():
            v.grad += out.grad  # half done ...
            raise ZeroDivisionError("the learner's bug")

        out._backward = _backward
        return out

    inner = a * 3
    y = broken(inner) * 2
    with pytest.raises(ZeroDivisionError, match="the learner's bug"):
        y.backward()
    assert (a.grad, inner.grad, y.grad) == (7.0, 0.0, 0.0)


def test_backward_on_a_registered_node_and_on_a_leaf(registry):
    a, b = Value(3.0), Value(4.0)
    y = a * b
    y.grad = 1.0
    y._backward()  # the op's chain rule once, added into the inputs
    assert (a.grad, b.grad) == (4.0, 3.0)
    y._backward()  # and again: micrograd's meaning of _backward is "add your share"
    assert (a.grad, b.grad) == (8.0, 6.0)
    a._backward()  # a leaf's step does nothing
    assert (a.grad, b.grad) == (8.0, 6.0)
    with pytest.raises(AttributeError, match="made by the registered op 'mul'"):
        y._backward = lambda: None  # backward() would not run it: refused, not ignored
    y._backward()
    assert (a.grad, b.grad) == (12.0, 9.0)  # still the op's rule


def test_op_strings_are_micrograds(registry):
    mx, px = micrograd.engine.Value(1.5), Value(1.5)
    for build in (lambda x: x + 1, lambda x: x * 2, lambda x: x**2, lambda x: x**-1,
                  lambda x: x.relu()):
        assert build(px)._op == build(mx)._op
    assert px._op == "" and (px - 1)._op == "sub" and px.tanh()._op == "tanh"
    assert (px ** Value(2.0))._op == "pow" and (px ** 0.5)._op == "**0.5"
    assert px.tanh().op.name == "tanh"  # the op itself keeps a name of picograd's own


# ---- micrograd's trace_graph.ipynb, written the notebook's way -----------------------------

def trace(root):
    """Every node and edge behind root, by following _prev (as trace_graph.ipynb does)."""
    nodes, edges = set(), set()

    def build(v):
        if v not in nodes:
            nodes.add(v)
            for child in v._prev:
                edges.add((child, v))
                build(child)

    build(root)
    return nodes, edges


def draw_dot(root) -> graphviz.Digraph:
    """A record per Value, an oval per op, named str(id(n)) + n._op as the notebook does."""
    dot = graphviz.Digraph(format="png", graph_attr={"rankdir": "LR"})
    nodes, edges = trace(root)
    for n in nodes:
        dot.node(name=str(id(n)), label=f"{{ {n.label} | data {n.data:.4f} | grad {n.grad:.4f} }}",
                 shape="record")
        if n._op:
            dot.node(name=str(id(n)) + n._op, label=n._op)
            dot.edge(str(id(n)) + n._op, str(id(n)))
    for n1, n2 in edges:
        dot.edge(str(id(n1)), str(id(n2)) + n2._op)
    return dot


def picture(root, constant=lambda n: False) -> tuple[list[str], list[tuple[str, str]]]:
    """What draw_dot shows, without the ids: the boxes and ovals, and the arrows (the
    grad of a ``constant`` leaf left out)."""
    nodes, edges = trace(root)
    box = {n: f"data {n.data:.4f}" + ("" if constant(n) else f" grad {n.grad:.4f}")
           for n in nodes}
    shown = sorted([*box.values(), *(f"{n._op} -> {box[n]}" for n in nodes if n._op)])
    arrows = sorted((box[a], f"{b._op} -> {box[b]}") for a, b in edges)
    return shown, arrows


@pytest.mark.requires_dot
def test_draw_dot_written_the_micrograd_way_renders_the_lectures_neuron(registry, tmp_path):
    o = lecture_neuron()["o"]
    o.backward()
    path = draw_dot(o).render(tmp_path / "neuron")  # Graphviz's dot, for real
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    svg = draw_dot(o).pipe(format="svg", encoding="utf-8")
    shown = [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]
    for box in (["o", "data 0.7071", "grad 1.0000"], ["n", "data 0.8814", "grad 0.5000"],
                ["x1", "data 2.0000", "grad -1.5000"], ["w1", "data -3.0000", "grad 1.0000"]):
        i = shown.index(box[0])
        assert shown[i:i + 3] == box
    assert sorted(t for t in shown if t in {"tanh", "*", "+"}) == ["*", "*", "+", "+", "tanh"]


def test_trace_graphs_examples_give_micrograds_picture(registry):
    # the notebook's first example: the same boxes, ops and arrows as micrograd's, but
    # for the grad of the constants 2 and 1 (micrograd gives them one, picograd never)
    x, mx = Value(1.0), micrograd.engine.Value(1.0)
    mine, theirs = (x * 2 + 1).relu(), (mx * 2 + 1).relu()
    mine.backward()
    theirs.backward()
    assert picture(mine, lambda n: not n.requires_grad) == picture(
        theirs, lambda n: not n._prev and n is not mx)
    assert [n.grad for n in trace(mine)[0] if not n.requires_grad] == [0.0, 0.0]
    # its second example, a seeded 2-input neuron: unfused, the very same picture
    random.seed(1337)
    theirs = micrograd.nn.Neuron(2)([micrograd.engine.Value(1.0), micrograd.engine.Value(-2.0)])
    random.seed(1337)
    mine = Neuron(2, fused=False)([Value(1.0), Value(-2.0)])
    mine.backward()
    theirs.backward()
    assert picture(mine) == picture(theirs)


# ---- habits learners bring from PyTorch ---------------------------------------------------

def test_item_and_float_give_the_number_of_a_scalar_value(registry):
    v = Value(2.5) * 2
    assert v.item() == 5.0 and type(v.item()) is float
    assert float(v) == 5.0 and math.sqrt(Value(16.0)) == 4.0  # float() is what math uses
    batch = Value(np.array([1.0, 2.0]))
    for convert in (batch.item, lambda: float(batch)):
        with pytest.raises(TypeError, match=r"need a scalar Value; .* batch of shape \(2,\)"):
            convert()


def test_format_specs_format_the_number(registry):
    loss = Value(2.0) / 3
    assert f"{loss:.4f}" == "0.6667" and f"{loss}" == repr(loss)
    with pytest.raises(TypeError, match="need a scalar Value"):
        f"{Value(np.ones(3)):.2f}"


def test_builtin_abs_is_the_abs_op_with_its_gradient(registry):
    x = Value(-2.5)
    y = abs(x)
    y.backward()
    assert (y.data, y._op, x.grad) == (2.5, "abs", -1.0)  # d|x|/dx = sign(x)


def test_comparisons_give_plain_bools_so_max_sorted_and_if_work(registry):
    scores = [Value(0.5), Value(-2.0) * 1, Value(3.0).tanh()]
    for result in (scores[0] > 0, scores[1] < 0, scores[0] >= Value(0.5), 1 <= scores[0],
                   scores[2] > scores[0]):
        assert result is True or result is False  # a bool, not a Value or an array
    assert (scores[0] > 0, scores[0] < 0, scores[0] <= -1, 0.5 >= scores[0]) == (
        True, False, False, True)
    assert max(scores) is scores[2] and min(scores) is scores[1]
    assert sorted(scores) == [scores[1], scores[0], scores[2]]
    assert [s.data for s in sorted(scores, reverse=True)] == sorted(
        [s.data for s in scores], reverse=True)
    accuracy = sum(1 for s, y in zip(scores, [1, -1, 1]) if (s > 0) == (y > 0))
    assert accuracy == 3
    assert Value(1.0) != Value(1.0)  # == stays identity: Values key dicts and sets
    assert bool(Value(0.0)) is False and bool(Value(-0.1)) is True  # the number's truth


def test_comparisons_on_a_batch_are_numpys_elementwise_answer(registry):
    batch = Value(np.array([-1.0, 0.0, 2.0]))
    assert (batch > 0).tolist() == [False, False, True]
    assert (batch <= Value(np.array([0.0, 0.0, 0.0]))).tolist() == [True, True, False]
    assert (batch >= 0).dtype == bool
    with pytest.raises(ValueError, match="ambiguous"):  # numpy's rule for `if batch > 0:`
        bool(batch > 0)
    with pytest.raises(ValueError, match="ambiguous"):
        bool(batch)


def test_a_batch_value_has_a_shape_a_length_and_a_short_repr(registry):
    x = Value(np.arange(12.0).reshape(4, 3))
    assert x.shape == (4, 3) and len(x) == 4
    y = (x * 2).sum()
    y.backward()
    assert repr(x) == "Value(data=array of shape (4, 3), grad=array of shape (4, 3))"
    assert "11." not in repr(x)  # the entries are not dumped
    assert y.shape == () and repr(y) == "Value(data=132.0, grad=1.0)"
    with pytest.raises(TypeError, match="len\\(\\) of a scalar Value"):
        len(y)


def test_detach_is_a_constant_with_the_same_data(registry):
    x = Value(3.0)
    y = x * x
    d = y.detach()
    assert (d.data, d.requires_grad, d._prev, d._op) == (9.0, False, (), "")
    z = d * x  # d is a number to the graph: dz/dx = d = 9, not 3x^2 = 27
    z.backward()
    assert (x.grad, d.grad) == (9.0, 0.0)
    batch = Value(np.array([1.0, 2.0]))
    copy = batch.detach()
    copy.data[0] = 5.0
    assert batch.data[0] == 1.0  # its own array


@pytest.mark.parametrize("bad", ["abc", [1.0, 2.0], None, object(), np.array(["a"])])
def test_assigning_data_a_non_number_is_a_type_error_at_the_assignment(registry, bad):
    x = Value(2.0)
    with pytest.raises(TypeError, match="data expects a real number or a numpy array|"
                                        "data expects real numbers"):
        x.data = bad
    assert x.data == 2.0  # unchanged, and the next op still works
    assert (x * 2).data == 4.0


@pytest.mark.parametrize("bad", ["abc", [1.0], {"g": 1}])
def test_assigning_grad_a_non_number_is_a_type_error_at_the_assignment(registry, bad):
    x = Value(2.0)
    with pytest.raises(TypeError, match="grad expects a real number or a numpy array"):
        x.grad = bad
    assert x.grad == 0.0


def test_grad_none_means_zero_and_backward_works_after_it(registry):
    x = Value(2.0)
    y = x * x * x  # dy/dx = 3x^2 = 12
    y.backward()
    x.grad = None  # PyTorch's way of zeroing
    assert x.grad == 0.0
    y.backward()
    assert x.grad == 12.0
    for p in (x, y):  # micrograd's zero_grad assigns an int 0: a float afterwards
        p.grad = 0
        assert p.grad == 0.0 and type(p.grad) is float


@pytest.mark.parametrize("typo, nearest", [("ite", "item"), ("dat", "data"), ("grads", "grad"),
                                           ("sigmod", "sigmoid"), ("backwrd", "backward"),
                                           ("_backwards", "_backward"), ("_prv", "_prev")])
def test_a_missing_attribute_suggests_the_nearest_one(typo, nearest):
    # Python's own suggestion, which reads dir(): ops are methods once the table is built
    script = f"from picograd import Value\nValue(1.0) * 2\nValue(1.0).{typo}\n"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert out.returncode == 1
    assert out.stderr.splitlines()[-1] == (f"AttributeError: 'Value' object has no attribute "
                                           f"'{typo}'. Did you mean: '{nearest}'?")
    assert not hasattr(Value(1.0), typo)  # an AttributeError: hasattr works


# ---- micrograd's training loop, with only the import changed -------------------------------

def test_the_lectures_training_loop_drives_the_loss_down(registry):
    # the lecture's four samples, MLP(3, [4, 4, 1]), zero_grad by hand, a fixed step
    xs = [[2.0, 3.0, -1.0], [3.0, -1.0, 0.5], [0.5, 1.0, 1.0], [1.0, 1.0, -1.0]]
    ys = [1.0, -1.0, -1.0, 1.0]
    random.seed(42)
    n = MLP(3, [4, 4, 1], activation="tanh")
    losses = []
    for _ in range(30):
        ypred = [n(x) for x in xs]
        loss = sum((yout - ygt) ** 2 for ygt, yout in zip(ys, ypred))
        for p in n.parameters():
            p.grad = 0.0
        loss.backward()
        for p in n.parameters():
            p.data += -0.05 * p.grad
        losses.append(loss.item())
    assert losses[-1] < 0.1 * losses[0]
    assert [y > 0 for y in (n(x) for x in xs)] == [y > 0 for y in ys]


def test_a_failing_closure_is_named_and_leaves_every_grad_as_it_was():
    x = Value(2.0)
    out = Value(x.data * 3, (x,), "triple")

    def _backward():
        raise ZeroDivisionError("the closure's own bug")

    out._backward = _backward
    y = out * 2.0
    with pytest.raises(ZeroDivisionError, match=r"(?s)own bug.*_backward closure of the node "
                                                r"Value\(data=6.0.*_op 'triple'"):
        y.backward()
    assert x.grad == 0.0 and out.grad == 0.0
