"""explore(): the recorded steps (order, the chain rule in numbers, reuse, the cap), and
the page itself, driven in headless chromium through its URL state (#step=N)."""

from __future__ import annotations

import html
import json
import math
import re
import subprocess
import sys
import tempfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

import picograd
from picograd import Op, PluginError, Value, explore
from picograd.draw import _number
from picograd.testing import run_checks

ROOT = Path(__file__).resolve().parent.parent
PLUGINS = ROOT / "plugins"


@pytest.fixture(autouse=True)
def _dot(requires_dot):
    """Every test here renders the drawing with Graphviz."""


def lecture():
    """The neuron of micrograd's lecture: o = tanh(x1 w1 + x2 w2 + b), with its names."""
    x1, x2 = Value(2.0, label="x1"), Value(0.0, label="x2")
    w1, w2 = Value(-3.0, label="w1"), Value(1.0, label="w2")
    b = Value(6.8813735870195432, label="b")
    x1w1 = x1 * w1
    x1w1.label = "x1w1"
    x2w2 = x2 * w2
    x2w2.label = "x2w2"
    s = x1w1 + x2w2
    s.label = "s"
    n = s + b
    n.label = "n"
    o = n.tanh()
    o.label = "o"
    return o, {"x1": x1, "x2": x2, "w1": w1, "w2": w2, "b": b}


def square():
    a = Value(3.0, label="a")
    y = a * a
    y.label = "y"
    return y, a


def step_named(steps, title_start):
    return next(s for s in steps if s.title.startswith(title_start))


# ---- the recorded steps -------------------------------------------------------------

def test_forward_then_backward_in_micrograds_order():
    o, _ = lecture()
    e = explore(o)
    phases = [s.phase for s in e.steps]
    assert phases == ["forward"] * 10 + ["backward"] * 7
    # forward: a depth-first topological sort, inputs before the op that uses them
    assert [s.node for s in e.steps[:10]] == ["x1", "w1", "x1w1", "x2", "w2", "x2w2", "s",
                                              "b", "n", "o"]
    # backward: the seed, then each op from the output back, then the summary
    assert [s.node for s in e.steps[10:]] == ["o", "o", "n", "s", "x2w2", "x1w1", "o"]
    assert [s.op for s in e.steps[10:]] == ["", "tanh", "add", "add", "mul", "mul", ""]
    assert e.steps[10].lines == ["o.grad = ∂o/∂o = 1"]
    assert e.steps[-1].title == "Done: every gradient is final"


def test_each_step_writes_the_chain_rule_with_its_numbers():
    o, _ = lecture()
    steps = explore(o).steps
    assert step_named(steps, "Forward through mul").lines == ["x1w1 = x1 × w1 = 2 × -3 = -6"]
    assert step_named(steps, "Forward through tanh").lines == [
        "o = tanh(n) = tanh(0.8814) = 0.7071"]
    tanh = step_named(steps, "Backward through tanh")
    assert tanh.title == "Backward through tanh: o = tanh(n)"
    assert "∂o/∂n = 1 - y**2 = 0.5" in tanh.lines  # 1 - tanh(n)^2 = 1 - 1/2
    assert "n.grad += o.grad × ∂o/∂n = 1 × 0.5 = 0.5   → n.grad = 0.5" in tanh.lines
    mul = step_named(steps, "Backward through mul: x1w1")
    assert "in mul's own names: a = x1, b = w1, y = x1w1" in mul.lines
    assert "∂x1w1/∂x1 = b = -3" in mul.lines
    assert "x1.grad += x1w1.grad × ∂x1w1/∂x1 = 0.5 × -3 = -1.5   → x1.grad = -1.5" in mul.lines
    assert "w1.grad += x1w1.grad × ∂x1w1/∂w1 = 0.5 × 2 = 1   → w1.grad = 1" in mul.lines
    assert mul.grads == pytest.approx({"x1": -1.5, "w1": 1.0})
    assert sorted(mul.final) == ["w1", "x1"]


def test_a_reused_node_shows_each_contribution():
    y, a = square()
    step = step_named(explore(y).steps, "Backward through mul")
    assert step.contributions == [("a", 3.0), ("a", 3.0)]
    assert step.lines[-4:] == [
        "∂y/∂a [as a] = b = 3", "a.grad += y.grad × ∂y/∂a = 1 × 3 = 3   → a.grad = 3",
        "∂y/∂a [as b] = a = 3", "a.grad += y.grad × ∂y/∂a = 1 × 3 = 3   → a.grad = 6"]
    assert step.grads == {"a": 6.0} and step.final == ["a"]


def test_a_gradient_is_final_after_its_last_contribution():
    x = Value(0.5, label="x")
    u = x * 2.0
    u.label = "u"
    z = u + x.exp()  # x reaches z twice, through two ops
    z.label = "z"
    steps = explore(z).steps
    touching = [s for s in steps if "x" in s.grads]
    assert [s.op for s in touching] == ["exp", "mul"]
    assert "x" not in touching[0].final and "x" in touching[1].final
    assert touching[0].grads["x"] == pytest.approx(math.exp(0.5))
    assert touching[1].grads["x"] == pytest.approx(math.exp(0.5) + 2.0)
    assert touching[1].lines[-2].endswith(f"→ x.grad = {_number(math.exp(0.5) + 2.0)}")
    assert touching[1].lines[-1] == "2 is a constant: it gets no gradient"


EXPRESSIONS = [
    lambda a, b, c: (a * b + c).tanh() * a - b / c,
    lambda a, b, c: (a ** 2 + b.relu() * c.sigmoid()).log() + a * a * a,
    lambda a, b, c: ((a - b) ** 2 / c).sqrt() - (-a).exp() + b.abs() * 3,
]


@pytest.mark.parametrize("fn", EXPRESSIONS)
def test_final_gradients_are_the_engines_and_grads_are_left_alone(fn):
    leaves = [Value(0.7, label="a"), Value(-1.3, label="b"), Value(2.1, label="c")]
    out = fn(*leaves)
    e = explore(out)
    assert all(v.grad == 0.0 for v in leaves)  # the replay kept its gradients to itself
    out.backward()
    for v in leaves:
        assert e.grads[v.label] == pytest.approx(v.grad, rel=1e-12, abs=1e-15)
    done = e.steps[-1]
    assert done.lines == [f"{v.label}.grad = {_number(v.grad)}" for v in leaves]


def test_plugin_ops_attributes_composites_and_constants(repo_plugins):
    import picograd.ops as F

    x, t = Value(-2.0, label="x"), Value(0.4, label="t")
    h = F.leaky_relu(x, slope=0.1)
    h.label = "h"
    loss = F.squared_hinge(h + 0.8, t) + t.sin()  # a composite, a constant, a plugin op
    loss.label = "L"
    e = explore(loss)
    fwd = step_named(e.steps, "Forward through leaky_relu(slope=0.1)")
    assert fwd.lines == ["h = leaky_relu(x, slope=0.1) = leaky_relu(-2, slope=0.1) = -0.2"]
    back = step_named(e.steps, "Backward through leaky_relu(slope=0.1)")
    assert "∂h/∂x = 1 if x > 0 else slope = 0.1" in back.lines
    ops = [s.op for s in e.steps if s.phase == "backward" and s.op]
    assert "squared_hinge" not in ops and {"hinge", "pow", "sin"} <= set(ops)  # its parts
    added = next(s for s in e.steps if s.title.endswith("= h + 0.8"))  # the constant
    assert added.phase == "backward" and "0.8 is a constant: it gets no gradient" in added.lines
    loss.backward()
    assert e.grads["x"] == pytest.approx(x.grad) and e.grads["t"] == pytest.approx(t.grad)


def test_an_op_without_derivative_text_shows_the_numbers_only(registry):
    picograd.register_op(Op("cube", lambda x: x ** 3, lambda g, y, x: (g * 3 * x * x,)))
    x = Value(2.0, label="x")
    y = x.cube()
    y.label = "y"
    step = step_named(explore(y).steps, "Backward through cube")
    assert "∂y/∂x = 12" in step.lines
    assert "y.grad" in step.lines[0] and not any("own names" in line for line in step.lines)


def test_unlabelled_nodes_get_names_and_the_page_shows_them():
    x = Value(1.5)
    y = (x * x).exp()
    e = explore(y)
    assert [s.node for s in e.steps if s.phase == "forward"] == ["n1", "n2", "n3"]
    drawn = re.search(r'<g id="pg1" class="node">(.*?)</g>', e.html, flags=re.S).group(1)
    assert re.search(r"<text[^>]*>n2</text>", drawn)  # the drawing shows the same name


def test_a_big_graph_is_capped_and_the_page_says_so():
    xs = [Value(0.01 * i, label=f"x{i}") for i in range(150)]
    out = sum((x * x for x in xs), Value(0.0, label="zero"))  # 451 values
    e = explore(out)
    assert e.note.startswith("Showing the 200 values nearest the output, of 451 in the graph")
    assert "max_nodes=None" in e.note and e.note in html.unescape(e.html)
    assert len(re.findall(r'<g id="pg\d+" class="node"', e.html)) == 200
    assert len([s for s in e.steps if s.phase == "forward"]) == 200
    out.backward()
    shown = {x.label for x in xs} & set(e.grads)
    assert 0 < len(shown) < 150  # the inputs nearest the output: the last ones added
    assert shown == {f"x{i}" for i in range(150 - len(shown), 150)}
    assert all(e.grads[n] == pytest.approx(xs[int(n[1:])].grad) for n in shown)
    everything = explore(out, max_nodes=None)
    assert everything.note == "" and len(everything.grads) == 451


def test_the_page_is_one_self_contained_file(tmp_path):
    o, _ = lecture()
    path = tmp_path / "backprop.html"
    e = explore(o, path)
    page = path.read_text(encoding="utf-8")
    assert page == e.html and page.startswith("<!DOCTYPE html>")
    assert "<svg" in page and "<script>" in page
    assert not re.search(r"<script[^>]+src|<link|<img|@import|url\(", page)
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", page))
    assert urls <= {"http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"}


def test_jupyter_shows_it_in_an_iframe():
    y, _ = square()
    e = explore(y)
    shown = e._repr_html_()
    assert shown.startswith("<iframe srcdoc=") and 'sandbox="allow-scripts"' in shown
    srcdoc = re.search(r'srcdoc="([^"]*)"', shown).group(1)
    assert html.unescape(srcdoc) == e.html


def test_bad_roots_are_clear_errors():
    with pytest.raises(TypeError, match="expects a Value"):
        explore(1.5)
    with pytest.raises(ValueError, match="constant"):
        explore(Value(1.0, requires_grad=False))
    with pytest.raises(ValueError, match="max_nodes"):
        explore(Value(1.0), max_nodes=0)
    import numpy as np

    with pytest.raises(TypeError, match="batch mode"):
        explore(Value(np.array([1.0, 2.0])) * 2.0)


def test_a_failing_backward_names_the_op_and_its_provider(registry):
    picograd.register_op(Op("broken", lambda x: x, lambda g, y, x: (g / 0.0,)))
    with pytest.raises(RuntimeError, match=r"op 'broken' from in-process plugin 'broken' .*"
                                           r"ZeroDivisionError"):
        explore(Value(1.0).broken())


def test_a_failed_write_leaves_the_old_page(tmp_path, monkeypatch):
    path = tmp_path / "page.html"
    path.write_text("old")
    y, _ = square()
    monkeypatch.setattr("os.replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        explore(y, path)
    assert path.read_text() == "old"


# ---- the op contract's derivative text ------------------------------------------------

def test_every_registered_op_describes_its_derivative(repo_plugins):
    missing = [name for name, op in repo_plugins.ops.items() if not op.op.derivative]
    assert missing == []


@pytest.mark.parametrize("derivative, why", [
    ("b", "tuple of 2"), (("1",), "one text per input"), (("1", 2), "str or a tuple of str"),
])
def test_the_registry_rejects_a_bad_derivative_text(registry, derivative, why):
    op = Op("twice", lambda a, b: a, lambda g, y, a, b: (g, 0.0), arity=2, derivative=derivative)
    with pytest.raises(PluginError, match=why):
        registry.register_op(op)


def test_the_checker_reports_a_bad_derivative_text():
    op = Op("unregistered", math.exp, lambda g, y, x: (g * y,), derivative=["e**x"])
    row = next(r for r in run_checks(op) if r.check == "derivative text")
    assert not row.ok and "str" in row.detail
    good = next(r for r in run_checks("exp") if r.check == "derivative text")
    assert good.ok


# ---- the page in a real browser -------------------------------------------------------

class _Tree(HTMLParser):
    """Just enough of a DOM: for every element, its tag, attributes and text."""

    VOID = {"meta", "input", "br", "img", "link", "hr"}

    def __init__(self) -> None:
        super().__init__()
        self.elements: list[dict] = []
        self.open: list[dict] = []

    def handle_starttag(self, tag, attrs):
        element = {"tag": tag, "attrs": dict(attrs), "text": [], "in": list(self.open)}
        self.elements.append(element)
        if tag not in self.VOID:
            self.open.append(element)

    def handle_startendtag(self, tag, attrs):
        self.elements.append({"tag": tag, "attrs": dict(attrs), "text": [], "in": list(self.open)})

    def handle_endtag(self, tag):
        while self.open and self.open.pop()["tag"] != tag:
            pass

    def handle_data(self, data):
        for element in self.open:
            element["text"].append(data)


class Page:
    """The DOM chromium dumped for one step: what the learner sees."""

    def __init__(self, dom: str) -> None:
        tree = _Tree()
        tree.feed(dom)
        self.elements = tree.elements
        self.by_id = {e["attrs"]["id"]: e for e in self.elements if "id" in e["attrs"]}

    def text(self, id: str) -> str:
        return "".join(self.by_id[id]["text"]).strip()

    def lines(self) -> list[str]:
        return [t.strip() for t in self.by_id["lines"]["text"] if t.strip()]

    def marked(self, cls: str) -> list[str]:
        return [e["attrs"]["id"] for e in self.elements if cls in
                e["attrs"].get("class", "").split() and "id" in e["attrs"]]

    def current(self) -> str:
        """The one Value box highlighted as the current node."""
        (node,) = [i for i in self.marked("cur") if re.fullmatch(r"pg\d+", i)]
        return node

    def _grad(self, node_id: str) -> dict:
        node = self.by_id[node_id]
        return next(e for e in self.elements if e["tag"] == "text" and node in e["in"]
                    and "".join(e["text"]).startswith("grad "))

    def grad_of(self, node_id: str) -> str:
        return "".join(self._grad(node_id)["text"])

    def grad_class(self, node_id: str) -> str:
        return self._grad(node_id)["attrs"].get("class", "")


def chromium(binary: str, url: str, *flags: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        done = subprocess.run(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", "--window-size=1600,1000",
             *flags, url], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def at_step(binary: str, path: Path, k: int) -> Page:
    return Page(chromium(binary, f"{path.as_uri()}#step={k}", "--dump-dom"))


def ids_by_name(e) -> dict[str, str]:
    return {m.group(2): m.group(1) for m in re.finditer(r'"id": "(pg\d+)", "name": "([^"]*)"',
                                                        e.html)}


def test_stepping_through_a_reused_node_in_the_browser(requires_chromium, tmp_path):
    y, a = square()
    path = tmp_path / "square.html"
    e = explore(y, path)
    ids = ids_by_name(e)
    total = len(e.steps)
    seen = []
    for k in range(1, total + 1):
        page, step = at_step(requires_chromium, path, k), e.steps[k - 1]
        assert page.text("count") == f"Step {k} of {total}"
        assert page.text("steptitle") == step.title
        assert page.lines() == step.lines
        assert page.current() == ids[step.node]
        seen.append((page.text("phase"), page.grad_of(ids["a"]), page.grad_of(ids["y"])))
    assert seen == [("FORWARD PASS", "grad ?", "grad ?"), ("FORWARD PASS", "grad ?", "grad ?"),
                    ("BACKWARD PASS", "grad ?", "grad 1"), ("BACKWARD PASS", "grad 6", "grad 1"),
                    ("BACKWARD PASS", "grad 6", "grad 1")]
    page = at_step(requires_chromium, path, 4)
    assert page.lines()[-1] == "a.grad += y.grad × ∂y/∂a = 1 × 3 = 3   → a.grad = 6"
    assert page.grad_class(ids["a"]) == "final"
    assert at_step(requires_chromium, path, 3).grad_class(ids["y"]) == "final"


def test_the_lecture_neuron_in_the_browser(requires_chromium, tmp_path):
    o, leaves = lecture()
    path = tmp_path / "lecture.html"
    e = explore(o, path)
    ids = ids_by_name(e)
    k = next(i for i, s in enumerate(e.steps, 1)
             if s.title.startswith("Backward through mul: x1w1"))
    page = at_step(requires_chromium, path, k)
    assert page.text("phase") == "BACKWARD PASS"
    assert page.current() == ids["x1w1"]
    assert set(page.marked("in")) == {ids["x1"], ids["w1"]}
    assert ids["x1w1"] + "-op" in page.marked("cur")
    assert "x1.grad += x1w1.grad × ∂x1w1/∂x1 = 0.5 × -3 = -1.5   → x1.grad = -1.5" in page.lines()
    # the gradients so far: x2 and w2 are done (their mul went first), x1 and w1 just now
    assert page.grad_of(ids["x2"]) == "grad 0.5" and page.grad_of(ids["w1"]) == "grad 1"
    # one step earlier, x1's gradient was not reached yet
    assert at_step(requires_chromium, path, k - 1).grad_of(ids["x1"]) == "grad ?"
    # the last step (and any step past it): every gradient final, the engine's own
    o.backward()
    for past in (len(e.steps), len(e.steps) + 50):
        page = at_step(requires_chromium, path, past)
        assert page.text("count") == f"Step {len(e.steps)} of {len(e.steps)}"
        for name, v in leaves.items():
            assert page.grad_of(ids[name]) == f"grad {_number(v.grad)}"
    # before any step (no URL state): step 1, the first input, data of later nodes hidden
    page = Page(chromium(requires_chromium, path.as_uri(), "--dump-dom"))
    assert page.text("count") == f"Step 1 of {len(e.steps)}" and page.current() == ids["x1"]
    assert ids["o"] in page.marked("pending")


def test_a_middle_step_screenshot(requires_chromium, tmp_path):
    o, _ = lecture()
    path = tmp_path / "lecture.html"
    explore(o, path)
    shot = tmp_path / "step.png"
    chromium(requires_chromium, f"{path.as_uri()}#step=15", f"--screenshot={shot}")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000  # a picture, not blank


def test_the_docs_page_runs(tmp_path, monkeypatch):
    """docs/explorer.md: every fenced python block runs, in a scratch directory."""
    monkeypatch.chdir(tmp_path)
    text = (ROOT / "docs" / "explorer.md").read_text(encoding="utf-8")
    blocks = re.findall(r"^```python\n(.*?)^```", text, flags=re.M | re.S)
    assert blocks
    for i, block in enumerate(blocks):
        exec(compile(block, f"docs/explorer.md block {i + 1}", "exec"), {"__name__": "docs"})
    assert sys.modules["picograd"] is picograd


class Browser:
    """A tiny DevTools client over --remote-debugging-pipe (JSON messages ending in NUL),
    enough to press keys and read the page: no WebDriver needed."""

    def __init__(self, binary: str, url: str, profile: str) -> None:
        import fcntl
        import os

        reader, self._in = os.pipe()
        self._out, writer = os.pipe()
        # above 9, so that putting them at 3 and 4 in the child cannot overwrite either
        ends = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10) for fd in (reader, writer)]

        def wire() -> None:  # the browser reads commands on fd 3 and answers on fd 4
            os.dup2(ends[0], 3)
            os.dup2(ends[1], 4)

        self.proc = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
             "--no-first-run", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", f"--user-data-dir={profile}", "--remote-debugging-pipe", url],
            preexec_fn=wire, close_fds=False, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL)
        for fd in (reader, writer, *ends):
            os.close(fd)
        self._buffer, self._id, self.session = b"", 0, None
        page = next(t for t in self.send("Target.getTargets")["targetInfos"]
                    if t["type"] == "page")
        self.session = self.send("Target.attachToTarget", targetId=page["targetId"],
                                 flatten=True)["sessionId"]

    def send(self, method: str, **params):
        import json
        import os

        self._id += 1
        message = {"id": self._id, "method": method, "params": params}
        if self.session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self._in, json.dumps(message).encode() + b"\0")
        while True:
            while b"\0" not in self._buffer:
                chunk = os.read(self._out, 1 << 16)
                assert chunk, "the browser closed the pipe"
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if reply.get("id") == self._id:
                assert "error" not in reply, reply["error"]
                return reply["result"]

    def eval(self, expression: str):
        return self.send("Runtime.evaluate", expression=expression,
                         returnByValue=True)["result"].get("value")

    def press(self, key: str) -> None:
        codes = {"ArrowRight": 39, "ArrowLeft": 37, "Home": 36, "End": 35}
        for kind in ("keyDown", "keyUp"):
            self.send("Input.dispatchKeyEvent", type=kind, key=key, code=key,
                      windowsVirtualKeyCode=codes[key])

    def close(self) -> None:
        try:
            self.send("Browser.close")
        finally:
            self.proc.wait(timeout=30)


def test_arrow_keys_and_buttons_step_back_and_forth(requires_chromium, tmp_path):
    import time

    y, _ = square()
    path = tmp_path / "square.html"
    e = explore(y, path)
    with tempfile.TemporaryDirectory() as profile:
        browser = Browser(requires_chromium, path.as_uri(), profile)
        try:
            for _ in range(100):  # until the page has run its script
                if browser.eval("document.getElementById('count').textContent"):
                    break
                time.sleep(0.1)
            count = "document.getElementById('count').textContent"
            assert browser.eval(count) == f"Step 1 of {len(e.steps)}"
            seen = []
            for key in ["ArrowRight"] * 4 + ["ArrowRight", "ArrowLeft", "Home", "End"]:
                browser.press(key)
                seen.append(browser.eval(count).split()[1])
            assert seen == ["2", "3", "4", "5", "5", "4", "1", "5"]
            assert browser.eval("location.hash") == "#step=5"
            browser.eval("document.getElementById('prev').click()")
            assert browser.eval(count) == f"Step 4 of {len(e.steps)}"
            assert browser.eval("document.getElementById('lines').textContent").endswith(
                "→ a.grad = 6")
        finally:
            browser.close()


def test_a_notebook_cell_shows_the_explorer_inline(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    cell = ("from picograd import Value, explore\n"
            "a = Value(3.0, label='a')\ny = a * a\ny.label = 'y'\nexplore(y)")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(cell)])
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    (output,) = nb.cells[0].outputs
    shown = output["data"]["text/html"]
    assert shown.startswith("<iframe srcdoc=") and 'sandbox="allow-scripts"' in shown
    page = html.unescape(re.search(r'srcdoc="([^"]*)"', shown).group(1))
    data = json.loads(re.search(r"const DATA = (.*?);\n", page).group(1))
    assert "a.grad += y.grad × ∂y/∂a = 1 × 3 = 3   → a.grad = 6" in data["steps"][3]["lines"]


# ---- the command line -----------------------------------------------------------------

def test_picograd_graph_html_writes_the_explorer(tmp_path, capsys, monkeypatch):
    from picograd.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["graph", "tanh(x*w + b)", "x=2", "w=-0.5", "b=0.8", "--html", "bp.html"]) == 0
    printed = capsys.readouterr().out
    assert "wrote bp.html" in printed and sorted(p.name for p in tmp_path.iterdir()) == ["bp.html"]
    page = (tmp_path / "bp.html").read_text(encoding="utf-8")
    data = json.loads(re.search(r"const DATA = (.*?);\n", page).group(1))
    x, w, b = Value(2.0), Value(-0.5), Value(0.8)
    (x * w + b).tanh().backward()
    assert data["steps"][-1]["lines"] == [f"x.grad = {_number(x.grad)}",
                                          f"w.grad = {_number(w.grad)}",
                                          f"b.grad = {_number(b.grad)}"]
    assert f"dout/dw = {w.grad:.10g}" in printed  # the usual printout too
    # with --out as well, the picture is written beside it
    assert main(["graph", "x*x", "x=3", "--html", "sq.html", "--out", "sq.svg"]) == 0
    assert (tmp_path / "sq.svg").read_text().startswith("<?xml")
    assert main(["graph", "2*3", "--html", "c.html"]) == 2
    assert "constant" in capsys.readouterr().err


def test_picograd_demo_graph_writes_the_explorer_for_one_neuron(registry, tmp_path, capsys):
    from picograd.cli import main

    assert main(["demo", "--steps", "1", "--samples", "8", "--graph", "--out", str(tmp_path)]) == 0
    pages = [p for p in tmp_path.iterdir() if p.name.endswith("-neuron.html")]
    assert len(pages) == 1 and f"step by step:        {pages[0]}" in capsys.readouterr().out
    data = json.loads(re.search(r"const DATA = (.*?);\n", pages[0].read_text("utf-8")).group(1))
    done = data["steps"][-1]["lines"]
    assert sorted(line.split(".grad")[0] for line in done) == ["b", "w1", "w2"]  # 2 inputs
