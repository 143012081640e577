"""draw_dot and ``picograd graph``: rendered for real with Graphviz's ``dot``."""

from __future__ import annotations

import html
import math
import re
import struct
import subprocess
import sys

import graphviz
import pytest

import picograd
from picograd import Op, Value, draw_dot, hookimpl
from picograd import ops as F
from picograd.cli import main
from picograd.draw import DotNotFoundError, GraphTruncatedWarning

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def svg_of(graph) -> str:
    return graph.pipe(format="svg", encoding="utf-8")


def count(svg: str, cls: str) -> int:
    return len(re.findall(f'<g id="[^"]*" class="{cls}"', svg))


def texts(svg: str) -> list[str]:
    """The text shown in the picture, one entry per <text> element."""
    return [html.unescape(t) for t in re.findall(r"<text[^>]*>([^<]*)</text>", svg)]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def node_names(source: str) -> dict[str, str]:
    """DOT node name -> the text of its label (HTML tags dropped)."""
    found = {}
    for name, label in re.findall(r"^\s*(\w+) \[label=<(.*)> ", source, flags=re.M):
        found[name] = re.sub(r"<[^>]*>", " ", label).split()
    return found


def edges(source: str) -> list[tuple[str, str, str]]:
    """(tail, head, edge label) for every edge in the DOT source."""
    found = re.findall(r"^\s*(\w+) -> (\w+)(?: \[(.*)\])?$", source, flags=re.M)
    out = []
    for tail, head, attrs in found:
        label = re.search(r'label="?([^" \]]*)', attrs or "")
        out.append((tail, head, label.group(1) if label else ""))
    return out


@pytest.fixture
def small(registry):
    """d = a * b + a, with a = 1.5, b = -2: so d = -1.5, dd/da = b + 1 = -1, dd/db = a."""
    a, b = Value(1.5, label="a"), Value(-2.0, label="b")
    c = a * b
    d = c + a
    d.label = "d"
    d.backward()
    return a, b, c, d


@pytest.mark.requires_dot
def test_draw_dot_is_a_digraph_with_a_box_per_value_and_a_node_per_op(small):
    *_, d = small
    graph = draw_dot(d)
    assert isinstance(graph, graphviz.Digraph)
    assert graph.format == "svg"
    svg = svg_of(graph)
    assert count(svg, "node") == 4 + 2  # a, b, c, d and the mul and add ops
    assert count(svg, "edge") == 6  # a->mul, b->mul, mul->c, c->add, a->add, add->d
    shown = texts(svg)
    for label in ("a", "b", "d", "mul", "add"):
        assert label in shown
    for data, grad in (("1.5", "-1"), ("-2", "1.5"), ("-3", "1"), ("-1.5", "1")):
        assert f"data {data}" in shown
        assert f"grad {grad}" in shown


@pytest.mark.requires_dot
def test_png_renders_to_a_real_picture(small, tmp_path):
    *_, d = small
    data = draw_dot(d, format="png").pipe()
    width, height = png_size(data)
    assert width > height > 40  # left to right: wider than tall
    path = draw_dot(d, format="png").render(tmp_path / "graph", cleanup=True)
    assert open(path, "rb").read(8) == PNG_MAGIC


@pytest.mark.requires_dot
def test_rankdir_top_to_bottom_makes_a_tall_picture(registry):
    out = Value(0.5).tanh().exp().relu()
    wide = png_size(draw_dot(out, format="png").pipe())
    tall = png_size(draw_dot(out, format="png", rankdir="TB").pipe())
    assert wide[0] > wide[1] and tall[1] > tall[0]


def test_edges_follow_the_data_and_label_input_order(registry):
    x, y = Value(3.0, label="x"), Value(2.0, label="y")
    z = (x - y) ** y
    z.backward()
    source = draw_dot(z).source
    nodes = node_names(source)
    name = {words[0]: n for n, words in nodes.items() if words[0] in ("x", "y")}
    ops = {n: words[0] for n, words in nodes.items() if n.endswith("op")}
    found = edges(source)
    sub = next(n for n, op in ops.items() if op == "sub")
    pw = next(n for n, op in ops.items() if op == "pow")
    assert (name["x"], sub, "a") in found and (name["y"], sub, "b") in found
    assert (name["y"], pw, "b") in found  # y is the exponent
    diff = sub[: -len("op")]  # the value x - y, fed to pow as its base
    assert (sub, diff, "") in found and (diff, pw, "a") in found
    # every op's output edge leaves the op: data flows inputs -> op -> output
    for op_node in ops:
        assert (op_node, op_node[: -len("op")], "") in found


@pytest.mark.requires_dot
def test_reused_value_gets_one_box_and_two_edges(registry):
    x = Value(3.0, label="x")
    y = x * x
    y.backward()
    source = draw_dot(y).source
    svg = svg_of(draw_dot(y))
    assert count(svg, "node") == 3
    x_name = next(n for n, w in node_names(source).items() if w[0] == "x")
    assert [e[0] for e in edges(source)].count(x_name) == 2
    assert "grad 6" in texts(svg)  # d(x^2)/dx = 2x


@pytest.mark.requires_dot
def test_constants_are_drawn_without_a_gradient(registry):
    x = Value(0.5, label="x")
    y = 2.0 * x + 0.25
    y.backward()
    shown = texts(svg_of(draw_dot(y)))
    assert "2" in shown and "0.25" in shown  # the constants, data only
    assert sum(t.startswith("grad ") for t in shown) == 3  # x, 2x and y
    assert "grad 2" in shown


class AttrOps:
    @hookimpl
    def picograd_register_ops(self, register):
        register(Op("scale", lambda x, k: k * x, lambda g, y, x, k: (g * k,),
                    attrs={"k": 2.0}, samples=[(0.5,)]))


@pytest.mark.requires_dot
def test_plugin_ops_are_drawn_by_name_with_their_attributes(registry):
    with registry.register_plugin(AttrOps(), name="attr-ops"):
        x = Value(1.5, label="x")
        y = F.scale(x, k=-3.0)
        y.backward()
        svg = svg_of(draw_dot(y))
    assert "scale(k=-3.0)" in texts(svg)
    assert "in-process plugin 'attr-ops'" in html.unescape(svg)  # the op's tooltip
    assert "data -4.5" in texts(svg) and "grad -3" in texts(svg)


def test_same_graph_gives_the_same_dot_source(registry):
    def build():
        a, b = Value(1.0, label="a"), Value(2.0, label="b")
        out = (a * b + b).tanh() / a
        out.backward()
        return out

    first, second = build(), build()  # built twice: different objects and ids
    assert draw_dot(first).source == draw_dot(second).source
    assert draw_dot(first).source == draw_dot(first).source


@pytest.mark.parametrize("x, shown", [
    (0.1 + 0.2, "0.3"), (1e-7, "1e-07"), (123456.0, "1.235e+05"), (-2.5, "-2.5"),
    (float("nan"), "nan"), (2.0 / 3.0, "0.6667"),
])
@pytest.mark.requires_dot
def test_numbers_are_readable(registry, x, shown):
    assert f"data {shown}" in texts(svg_of(draw_dot(Value(x))))


@pytest.mark.requires_dot
def test_labels_are_escaped(registry):
    v = Value(1.0, label='<b> & "q" | {r}')
    out = v.relu()
    assert '<b> & "q" | {r}' in texts(svg_of(draw_dot(out)))


@pytest.mark.requires_dot
def test_array_values_show_their_numbers_or_shape(registry):
    np = pytest.importorskip("numpy")
    small = Value(np.array([1.0, 2.0]), label="v")
    big = Value(np.ones((4, 3)), label="m")
    shown = texts(svg_of(draw_dot(small * 2.0)))
    assert "data [1, 2]" in shown and "data [2, 4]" in shown
    assert "data array 4x3" in texts(svg_of(draw_dot(big.tanh())))


@pytest.mark.requires_dot
def test_a_big_graph_is_cut_with_a_visible_note(registry):
    x = Value(0.5, label="x")
    y = x
    for _ in range(1000):
        y = y * 1.001 + 0.001
    y.backward()
    with pytest.warns(GraphTruncatedWarning, match="max_nodes=None"):
        graph = draw_dot(y, max_nodes=50)
    svg = svg_of(graph)
    shown = " ".join(texts(svg))
    assert "Showing the 50 values nearest the output, of 4001" in shown
    assert "draw_dot(root, max_nodes=None)" in shown
    assert "..." in texts(svg)  # a stub where the cut inputs were
    boxes = [n for n in node_names(graph.source) if re.fullmatch(r"v\d+", n)]
    assert len(boxes) == 50
    assert "x" not in texts(svg)  # the input is far from the output: cut


@pytest.mark.requires_dot
def test_the_default_cap_keeps_an_mlp_graph_drawable(registry):
    from picograd.nn import MLP

    model = MLP(2, [16, 16, 1], fused=False, seed=0)
    loss = sum((model([0.1 * i, -0.2 * i]) - 1.0) ** 2 for i in range(8))
    loss.backward()
    with pytest.warns(GraphTruncatedWarning):
        graph = draw_dot(loss)
    svg = svg_of(graph)
    boxes = [n for n in node_names(graph.source) if re.fullmatch(r"v\d+", n)]
    assert len(boxes) == picograd.draw.MAX_NODES
    assert count(svg, "node") < 3 * picograd.draw.MAX_NODES


def test_max_nodes_none_draws_everything(registry):
    y = Value(0.5)
    for _ in range(300):
        y = y + 1.0
    graph = draw_dot(y, max_nodes=None)
    boxes = [n for n in node_names(graph.source) if re.fullmatch(r"v\d+", n)]
    assert len(boxes) == 601  # the leaf, 300 constants, 300 sums


def test_bad_arguments_are_clear(registry):
    with pytest.raises(TypeError, match="expects a Value, got float"):
        draw_dot(3.0)
    with pytest.raises(ValueError, match="rankdir"):
        draw_dot(Value(1.0), rankdir="sideways")
    for bad in (0, -5, 2.5, True, "10"):
        with pytest.raises(ValueError, match="max_nodes must be a positive int or None"):
            draw_dot(Value(1.0), max_nodes=bad)


def test_missing_dot_says_how_to_install_it_and_keeps_the_source(small, tmp_path, monkeypatch):
    *_, d = small
    graph = draw_dot(d)
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no dot
    with pytest.raises(DotNotFoundError) as info:
        graph.pipe()
    message = str(info.value)
    assert "apt-get install graphviz" in message and "brew install graphviz" in message
    assert ".source" in message
    assert isinstance(info.value, graphviz.ExecutableNotFound)  # still catchable as graphviz's
    with pytest.raises(DotNotFoundError):
        graph.render(tmp_path / "g")
    assert graph.source.startswith("digraph")
    assert "data -1.5" in graph.source


@pytest.mark.requires_dot
def test_jupyter_display_renders_svg(small):
    *_, d = small
    bundle = draw_dot(d)._repr_mimebundle_()
    assert "<svg" in bundle["image/svg+xml"]


def test_import_picograd_does_not_import_graphviz():
    code = "import sys, picograd; picograd.draw_dot; print('graphviz' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# ---- picograd graph "EXPR" ------------------------------------------------------------


@pytest.mark.requires_dot
def test_graph_command_prints_value_and_gradients_and_writes_png(registry, tmp_path, capsys):
    out = tmp_path / "g.png"
    # f = x*y + y**2 at x=3, y=-2: f = -2, df/dx = y = -2, df/dy = x + 2y = -1
    code = main(["graph", "x*y + y**2", "x=3", "y=-2", "--out", str(out)])
    printed = capsys.readouterr().out
    assert code == 0
    assert "out = -2\n" in printed
    assert "dout/dx = -2\n" in printed and "dout/dy = -1\n" in printed
    assert f"wrote {out}" in printed
    width, height = png_size(out.read_bytes())
    assert width > 100 and height > 40


@pytest.mark.requires_dot
def test_graph_command_svg_from_the_suffix_shows_the_names(registry, tmp_path, capsys):
    out = tmp_path / "g.svg"
    assert main(["graph", "tanh(w * x)", "w=0.5", "x=2", "-o", str(out)]) == 0
    shown = texts(out.read_text())
    assert {"w", "x", "out", "tanh", "mul"} <= set(shown)
    assert count(out.read_text(), "node") == 4 + 2  # w, x, w*x, out; mul, tanh


@pytest.mark.requires_dot
def test_graph_command_defaults_to_graph_png(registry, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["graph", "--", "-x", "x=1"]) == 0  # -- before an EXPR starting with -
    assert "out = -1\n" in capsys.readouterr().out
    assert png_size((tmp_path / "graph.png").read_bytes())


@pytest.mark.parametrize("argv, text", [
    (["graph", "x.__class__", "x=1"], "attribute access not allowed"),
    (["graph", "__import__('os').system('echo hacked')"], "attribute access"),
    (["graph", "__import__('os')"], "names starting with '_' are not allowed"),
    (["graph", "z * 2", "x=1"], "unknown name 'z'"),
    (["graph", "x +", "x=1"], "invalid syntax"),
    (["graph", "x", "x=abc"], "must be a number"),
    (["graph", "x", "x=1", "-o", "g.jpg"], "cannot tell the format"),
    (["graph", "x", "x=1", "-o", "g.svg", "-f", "png"], "does not match"),
    (["graph", "x", "x=1", "--max-nodes", "-1"], "--max-nodes must be >= 0"),
])
def test_graph_command_rejects_bad_input_with_exit_code_2(registry, tmp_path, monkeypatch,
                                                          capsys, argv, text):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("picograd: error: ") and text in captured.err
    assert captured.err.count("\n") == 1  # one line
    assert "hacked" not in captured.out
    assert list(tmp_path.iterdir()) == []  # nothing written


@pytest.mark.parametrize("argv, text", [
    (["graph", "log(x)", "x=-1"], "ValueError: log is only defined for x > 0; "
                                  "log(-1.0) forward failed [op 'log' from picogradlib"),
    (["graph", "9 ** 9 ** 9"], "OverflowError: the result is too large for a float; "
                             "pow(9.0, 387420489.0) forward failed"),
    (["graph", "x / y", "x=1", "y=0"], "ZeroDivisionError"),
])
def test_graph_command_an_op_failing_on_the_numbers_exits_1(registry, tmp_path, monkeypatch,
                                                            capsys, argv, text):
    # valid input that an op cannot compute is a failure (1), not bad usage (2)
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("picograd: error: ") and text in captured.err
    assert captured.err.count("\n") == 1 and captured.out == ""
    assert list(tmp_path.iterdir()) == []


def test_graph_command_cannot_write_is_a_clear_error(registry, tmp_path, capsys):
    assert main(["graph", "x", "x=1", "-o", str(tmp_path / "missing" / "g.png")]) == 2
    assert main(["graph", "x", "x=1", "-o", str(tmp_path), "-f", "svg"]) == 2  # a directory
    assert main(["graph", "x", "x=1", "-o", str(tmp_path / ("n" * 300 + ".png"))]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert lines[0] == (f"picograd: error: argument --out: the directory {tmp_path / 'missing'}"
                        " does not exist")
    assert lines[1] == (f"picograd: error: argument --out: {tmp_path} is a directory, "
                        "expected a file name")
    assert lines[2].startswith("picograd: error: argument --out: the name nnnnn")
    assert "is 304 bytes long; file systems allow at most 255" in lines[2]
    assert captured.out == ""  # refused before computing anything
    assert list(tmp_path.iterdir()) == []  # no temporary file left behind


def test_graph_command_without_dot_writes_the_source(registry, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    out = tmp_path / "g.png"
    assert main(["graph", "x * 2", "x=1.5", "-o", str(out)]) == 1
    captured = capsys.readouterr()
    assert "out = 3\n" in captured.out  # the numbers do not need dot
    assert "apt-get install graphviz" in captured.err
    assert not out.exists()
    assert (tmp_path / "g.gv").read_text().startswith("digraph")


def test_graph_command_help_documents_inputs(capsys):
    with pytest.raises(SystemExit):
        main(["graph", "--help"])
    text = capsys.readouterr().out
    assert "NAME=VALUE" in text and "--out" in text and "--format" in text


# ---- one neuron, for picograd demo --graph ---------------------------------------------


@pytest.mark.requires_dot
def test_neuron_graph_shows_one_live_neuron_and_leaves_the_model_alone(registry):
    from picograd.nn import MLP
    from picograd.plots import neuron_graph

    model = MLP(2, [4, 1], seed=3)
    before = [(p.data, p.grad, p.label) for p in model.parameters()]
    x = [0.5, -1.25]
    svg = svg_of(neuron_graph(model, x))
    shown = texts(svg)
    assert {"w1", "w2", "b", "x1", "x2", "out", "relu", "mul", "add"} <= set(shown)
    assert count(svg, "node") == 10 + 5  # w1 w2 x1 x2 b, 2 products, 2 sums, out; 5 ops
    # a live relu neuron: d out / d w_i = x_i, d out / d b = 1
    assert "grad 0.5" in shown and "grad -1.25" in shown and "grad 1" in shown
    assert [(p.data, p.grad, p.label) for p in model.parameters()] == before
    assert all(n.fused for layer in model.layers for n in layer.neurons)
    assert png_size(neuron_graph(model.layers[0].neurons[0], x).pipe(format="png"))


@pytest.mark.requires_dot
def test_demo_graph_writes_one_neuron_next_to_the_plots(registry, tmp_path, capsys):
    assert main(["demo", "--steps", "1", "--samples", "8", "--graph", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    neuron = [p for p in tmp_path.iterdir() if p.name.endswith("-neuron.png")]
    assert len(neuron) == 1 and f"one neuron's graph:  {neuron[0]}" in printed
    assert png_size(neuron[0].read_bytes())[0] > 200
    assert len(list(tmp_path.glob("*.png"))) == 3  # next to the boundary and the curves


def test_graph_command_a_failing_dot_is_one_line_not_a_traceback(registry, tmp_path, capsys,
                                                                failing_dot):
    out = tmp_path / "g.png"
    assert main(["graph", "x * 2", "x=1.5", "-o", str(out)]) == 1
    captured = capsys.readouterr()
    assert "out = 3\n" in captured.out
    assert captured.err == ("picograd: error: Graphviz's dot failed to draw the PNG: "
                            "Error: dot: out of memory\n")
    assert list(tmp_path.iterdir()) == []  # no picture, no temporary file


def test_graph_command_keeps_integer_attributes_as_ints(registry, tmp_path, capsys,
                                                        monkeypatch, requires_dot):
    # softmax_cross_entropy(*logits, target=k) needs an int class; a float 1.0 is refused
    import importlib
    from pathlib import Path

    plugins = Path(__file__).resolve().parent.parent / "plugins"
    monkeypatch.syspath_prepend(str(plugins / "picograd-losses"))
    plugin = importlib.import_module("picograd_losses")
    a, b, c = 0.5, -1.0, 2.0
    with registry.register_plugin(plugin, name="picograd-losses"):
        code = main(["graph", "softmax_cross_entropy(a, b, c, target=1)", f"a={a}", f"b={b}",
                     f"c={c}", "-o", str(tmp_path / "xent.svg")])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    z = (a, b, c)
    total = sum(math.exp(v) for v in z)
    lines = captured.out.splitlines()
    assert lines[0] == f"out = {math.log(total) - b:.10g}"  # -log softmax(z)[1]
    for line, name, v, k in zip(lines[1:4], "abc", z, range(3)):
        assert line == f"dout/d{name} = {math.exp(v) / total - (k == 1):.10g}"
    assert "softmax_cross_entropy(target=1)" in texts((tmp_path / "xent.svg").read_text())
