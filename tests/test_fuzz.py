"""Fuzzing the inputs people hand us: model files, expressions, plugin ops.

Every bad input gets one clear error of the documented type, and nothing else
happens: the model file on disk is unchanged, no code in an expression runs, a
rejected plugin leaves the op table as it was.
"""

from __future__ import annotations

import builtins
import json
import math
import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import picograd
from picograd import Op, PluginError, Value, hookimpl
from picograd import expr as E
from picograd.errors import op_failure
from picograd.nn import MLP, ModelFileError, load, save

# half of the Hypothesis profile's budget (tests/conftest.py): these examples are slower
FUZZ = settings(max_examples=max(1, settings.default.max_examples // 2), deadline=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture,
                                       HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**30, 10**30)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner,
                                                               max_size=4),
    max_leaves=12,
)


# ---- the model loader -----------------------------------------------------------------

@pytest.fixture
def model_file(registry, tmp_path):
    path = tmp_path / "model.json"
    save(MLP(2, [3, 1], seed=1), path)
    return path


def loads_or_clear_error(path: Path) -> MLP | None:
    """Load ``path``: a model, or a ModelFileError naming the file; the file unchanged."""
    before = path.read_bytes()
    try:
        model = load(path)
    except ModelFileError as e:
        assert str(path) in str(e) and e.problem
        model = None
    assert path.read_bytes() == before
    return model


def test_every_truncation_of_a_model_file_is_a_clear_error(model_file, tmp_path):
    text = model_file.read_bytes()
    cut = tmp_path / "cut.json"
    for n in range(len(text.rstrip())):  # every proper prefix, down to the empty file
        cut.write_bytes(text[:n])
        assert loads_or_clear_error(cut) is None, n


@pytest.mark.parametrize("problem, edit", [
    ("version 2", lambda d: d.update(version=2)),
    ("version 0", lambda d: d.update(version=0)),
    ("version as a string", lambda d: d.update(version="1")),
    ("version as a float", lambda d: d.update(version=1.0)),
    ("version true", lambda d: d.update(version=True)),
    ("no version", lambda d: d.pop("version")),
    ("another format", lambda d: d.update(format="picograd-mlp-x")),
    ("nin a string", lambda d: d.update(nin="2")),
    ("nin negative", lambda d: d.update(nin=-2)),
    ("nin huge", lambda d: d.update(nin=10**12)),
    ("nouts empty", lambda d: d.update(nouts=[])),
    ("nouts huge", lambda d: d.update(nouts=[10**12, 1])),
    ("nouts nested", lambda d: d.update(nouts=[[3], 1])),
    ("unknown activation", lambda d: d.update(activation="os.system")),
    ("activation not a string", lambda d: d.update(activation=["relu"])),
    ("layers missing", lambda d: d.pop("layers")),
    ("a layer too short", lambda d: d["layers"][0].pop()),
    ("a weight a string", lambda d: d["layers"][0][0]["w"].__setitem__(0, "0.5")),
    ("a weight null", lambda d: d["layers"][0][0]["w"].__setitem__(0, None)),
    ("a weight true", lambda d: d["layers"][0][0]["w"].__setitem__(0, True)),
    ("a weight 10**400", lambda d: d["layers"][0][0]["w"].__setitem__(0, 10**400)),
    ("a bias a list", lambda d: d["layers"][1][0].update(b=[0.0])),
    ("an extra key in a neuron", lambda d: d["layers"][1][0].update(c=1.0)),
    ("the document a list", lambda d: d.clear()),
])
def test_wrong_types_and_values_are_clear_errors(model_file, problem, edit):
    doc = json.loads(model_file.read_text())
    edit(doc)
    model_file.write_text(json.dumps(doc if doc else [1, 2]))
    assert loads_or_clear_error(model_file) is None, problem


@pytest.mark.parametrize("text", [
    '{"format": "picograd-mlp", "version": 1, "nin": 1e400}',  # json reads this as inf
    '{"w": NaN}', '{"w": Infinity}', '{"w": -Infinity}',
    "[" * 100_000 + "]" * 100_000,  # deep nesting: a RecursionError inside json
    '{"a": ' * 50_000 + "1" + "}" * 50_000,
    "9" * 5000,  # longer than Python's int-string limit
    "\ufeff{}",  # a byte-order mark
    "",
])
def test_odd_json_is_a_clear_error(model_file, text):
    model_file.write_text(text)
    assert loads_or_clear_error(model_file) is None


def test_bytes_that_are_not_utf8_and_paths_that_are_not_files(model_file, tmp_path):
    model_file.write_bytes(b'{"format": "\xff\xfe"}')
    assert loads_or_clear_error(model_file) is None
    for path in (tmp_path / "missing.json", tmp_path):
        with pytest.raises(ModelFileError, match="cannot read"):
            load(path)


@FUZZ
@given(doc=json_values)
def test_any_json_document_loads_or_is_a_clear_error(model_file, doc):
    model_file.write_text(json.dumps(doc))
    assert loads_or_clear_error(model_file) is None  # random JSON is never a model


@pytest.fixture
def model_text(model_file):
    return model_file.read_text()


@FUZZ
@given(data=st.data())
def test_any_value_anywhere_in_a_model_loads_or_is_a_clear_error(model_file, model_text,
                                                                 data):
    # Replace one value somewhere in a real model document by random JSON.
    doc = json.loads(model_text)
    parent, key = _random_slot(doc, data)
    parent[key] = data.draw(json_values, label="replacement")
    model_file.write_text(json.dumps(doc))
    model = loads_or_clear_error(model_file)
    if model is not None:  # the replacement happened to be valid: then it is a real model
        assert len(model.parameters()) == 13
        assert all(math.isfinite(p.data) for p in model.parameters())


def _random_slot(doc, data):
    node, slot = {"root": doc}, "root"
    while True:
        value = node[slot]
        keys = list(value) if isinstance(value, dict) else list(range(len(value))) \
            if isinstance(value, list) else []
        if not keys or data.draw(st.integers(0, 3), label="stop here") == 0:
            return node, slot
        node, slot = value, data.draw(st.sampled_from(keys), label="key")


def test_a_failed_save_leaves_the_existing_file_untouched(model_file):
    before = model_file.read_bytes()
    bad = MLP(2, [3, 1], seed=2)
    bad.parameters()[0].data = math.nan
    with pytest.raises(ModelFileError, match="finite"):
        save(bad, model_file)
    assert model_file.read_bytes() == before
    assert [p.name for p in model_file.parent.iterdir()] == ["model.json"]  # no temp file


# ---- the expression parser of `picograd graph` ------------------------------------------

@contextmanager
def no_code_runs():
    """Make eval, exec and any compile() to code fail loudly inside the block.

    ast.parse is compile(..., PyCF_ONLY_AST): that one is allowed, it only parses.
    """
    import ast

    real_compile = builtins.compile

    def only_ast(source, filename, mode, flags=0, *args, **kwargs):
        assert flags & ast.PyCF_ONLY_AST, f"compiled to code: {source!r}"
        return real_compile(source, filename, mode, flags, *args, **kwargs)

    def refuse(*args, **kwargs):
        raise AssertionError(f"code was evaluated: {args!r}")

    with mock.patch.object(builtins, "compile", only_ast), \
            mock.patch.object(builtins, "eval", refuse), \
            mock.patch.object(builtins, "exec", refuse):
        yield


SENTINEL = "picograd_fuzz_sentinel"

ATTACKS = [
    f"__import__('os').system('touch {SENTINEL}')",
    f"open('{SENTINEL}', 'w')",
    "exec('import os')", "eval('1')", "compile('1', 'f', 'eval')",
    "globals()", "locals()", "vars()", "breakpoint()", "print(x)", "input()",
    "getattr(x, 'data')", "max(x, y)", "type(x)", "Value(1)",
    "x.__class__", "x.__class__.__bases__", "().__class__.__base__.__subclasses__()",
    "tanh.__globals__", "x.data", "x.grad", "x._prev", "x.backward()", "tanh(x).exp()",
    "__builtins__", "_", "_x + 1", "__import__", "x[0]", "x[0:1]", "(lambda: 1)()",
    "[c for c in x]", "{x: y}", "{x}", "(x, y)", "[x]", "x if y else 1", "x and y",
    "x < y", "not x", "~x", "x @ y", "x // y", "x % y", "x << 1", "(y := 2)",
    "f'{x}'", "'abc'", "b'abc'", "None", "True", "...", "1j", "x.tanh", "*x", "tanh(*x)",
    "tanh(**x)", "tanh(x, slope=__import__('os'))", "weighted_sum(x, relu=x)",
    "tanh(x, y=1)", "tanh()", "tanh(x, x)", "x(1)", "(x)(1)", "tanh(x)(1)",
    "1e400", "1" + "0" * 400, "-1e400", "x ** 1e309", "x\x00", "x; y", "import os",
    "x = 1", "lambda x: x", "await x", "yield x",
    "-" * 900 + "x",  # deeper than the parser allows
    "(" * 300 + "x" + ")" * 300,  # more parentheses than Python's parser allows
    "x" * 2000,  # too long
    "tanh(" * 150 + "x" + ")" * 150,
]


@pytest.mark.parametrize("text", ATTACKS)
def test_the_parser_refuses_anything_but_numbers_names_operators_and_ops(
        registry, tmp_path, monkeypatch, text):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(E.ExprError) as info, no_code_runs():
        E.evaluate(text, {"x": 0.5, "y": 2.0})
    assert 0 < len(str(info.value)) <= 400
    assert not (tmp_path / SENTINEL).exists()


@pytest.mark.parametrize("text, value", [
    ("9 ** 9 ** 9", None),  # floats: overflows at once, no huge integer
    ("10 ** 10 ** 10", None),
    ("1e308 * 10 * x", math.inf),
    ("(((((x)))))", 0.5),
    ("+-+-x", 0.5),
    ("-" * 90 + "x", 0.5),
    ("tanh(" * 40 + "x" + ")" * 40, None),
])
def test_big_numbers_and_deep_but_allowed_nesting(registry, text, value):
    try:
        with no_code_runs():
            out, _ = E.evaluate(text, {"x": 0.5})
    except OverflowError as e:  # an op's clear error, naming it
        assert "[op 'pow'" in e.__notes__[-1] and value is None
        return
    if value is not None:
        assert out.data == value
    out.backward()


tokens = st.sampled_from([
    "x", "y", "tanh", "exp", "relu", "leaky_relu", "log", "abs", "sum", "(", ")", "+", "-",
    "*", "/", "**", ".", ",", "=", "slope", "__class__", "__import__", "os", "[", "]", "0",
    "1", "2.5", "1e308", "'s'", "lambda", ":", "if", "else", "for", "in", "not", "and", "~",
    "@", "%", "//", "{", "}", " ", "open", "print", "_", "x.data", "j", "\\", "#", "\n",
])


@FUZZ
@given(text=st.lists(tokens, max_size=25).map("".join) | st.text(max_size=40))
def test_random_text_is_an_expression_or_a_clear_error(registry, text):
    with no_code_runs():
        check_text(text, set(registry.ops))


def check_text(text: str, ops: set[str]) -> None:
    try:
        parsed = E.parse(text)
    except E.ExprError as e:
        assert str(e)
        return

    def walk(node):  # only numbers, names and registered ops made it through
        if isinstance(node, E.Apply):
            assert node.op in ops
            for a in node.args:
                walk(a)
        else:
            assert isinstance(node, (E.Num, E.Name))
            assert not isinstance(node, E.Name) or not node.id.startswith("_")

    walk(parsed.tree)
    try:
        E.evaluate(parsed, {name: 0.5 for name in parsed.names})
    except E.ExprError:
        pass
    except (ArithmeticError, ValueError) as e:  # an op refused these numbers: says which
        assert op_failure(e) is not None, e


def test_the_graph_command_never_runs_code(tmp_path):
    attack = f"__import__('os').system('touch {SENTINEL}')"
    (tmp_path / "g.svg").write_text("an older picture")
    done = subprocess.run(
        [sys.executable, "-m", "picograd", "graph", attack, "--out", "g.svg"],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={**os.environ, "PICOGRAD_PLUGINS": ""},
    )
    assert done.returncode == 2
    assert done.stderr.startswith("picograd: error: ") and "not allowed" in done.stderr
    assert not (tmp_path / SENTINEL).exists()
    assert (tmp_path / "g.svg").read_text() == "an older picture"  # untouched


# ---- plugin metadata: ops registered in-process ------------------------------------------

def _fwd(x, **attrs):
    return 2.0 * x


def _bwd(g, y, x, **attrs):
    return (2.0 * g,)


def plugin(**fields):
    class Plugin:
        @hookimpl
        def picograd_register_ops(self, register):
            register(Op(**{"name": "fuzzed", "forward": _fwd, "backward": _bwd, **fields}))

    return Plugin()


@pytest.mark.parametrize("fields, why", [
    ({"name": ""}, "identifier"), ({"name": "two words"}, "identifier"),
    ({"name": "_private"}, "identifier"), ({"name": "__add__"}, "identifier"),
    ({"name": 3}, "identifier"), ({"name": None}, "identifier"),
    ({"name": "x\u200b"}, "identifier"), ({"name": "1st"}, "identifier"),
    ({"name": "if"}, "keyword"), ({"name": "None"}, "keyword"), ({"name": "lambda"}, "keyword"),
    ({"name": "\uff54\uff41\uff4e\uff48"}, "NFKC"),  # fullwidth "tanh"
    ({"name": "data"}, "reserved"), ({"name": "grad"}, "reserved"),
    ({"name": "backward"}, "reserved"),
    ({"forward": None}, "forward must be callable"), ({"forward": 1.0}, "forward"),
    ({"backward": "g"}, "backward must be callable"),
    ({"kind": "layer"}, "kind must be one of"), ({"kind": None}, "kind"),
    ({"arity": 0}, "arity"), ({"arity": -1}, "arity"), ({"arity": 1.5}, "arity"),
    ({"arity": "1"}, "arity"), ({"arity": True}, "arity"),
    ({"name": "x" * 65}, "at most 64"), ({"doc": 3}, "doc must be a str"),
    ({"vectorized": "yes"}, "vectorized a bool"), ({"samples": None}, "samples must be"),
    ({"samples": "12"}, "samples must be"),
    ({"attrs": [("k", 1)]}, "attrs"), ({"attrs": {1: 2}}, "attrs"),
    ({"samples": [(1.0, 2.0)]}, "sample"), ({"samples": [1.0]}, "sample"),
    ({"array_forward": "np.exp"}, "callable"),
    ({"name": "mul"}, "already provided"),
])
def test_an_invalid_op_is_a_clear_plugin_error_and_changes_nothing(registry, fields, why):
    ops_before = dict(registry.ops)
    with pytest.raises(PluginError, match=why) as info:
        picograd.register_plugin(plugin(**fields), name="fuzzy")
    assert "fuzzy" in str(info.value)
    assert registry.ops == ops_before
    assert "fuzzed" not in registry.ops and not hasattr(Value, "fuzzed")
    with picograd.register_plugin(plugin(), name="fuzzy"):  # the name is free again
        assert Value(1.5).fuzzed().data == 3.0


names = st.text(st.characters(codec="utf-8"), max_size=12)


@FUZZ
@given(name=names, kind=st.sampled_from(["op", "activation", "loss", "", "Op", None]),
       arity=st.sampled_from([None, 1, 2, 0, -1, 1.0, "1"]),
       attrs=st.sampled_from([{}, {"k": 1.0}, {1: 1.0}, [], None]),
       samples=st.sampled_from([(), [(0.5,)], [(0.5, 0.5)], [0.5], None]))
def test_any_op_metadata_registers_or_is_a_plugin_error(registry, name, kind, arity, attrs,
                                                       samples):
    ops_before = dict(registry.ops)
    fields = {"name": name, "kind": kind, "arity": arity, "attrs": attrs, "samples": samples}
    try:
        handle = picograd.register_plugin(plugin(**fields), name="fuzzy")
    except PluginError as e:
        assert "fuzzy" in str(e)
        assert registry.ops == ops_before
        return
    try:  # accepted: then it follows the contract, and x.name(...) reaches it
        op = registry.ops[name]
        assert name.isidentifier() and not name.startswith("_")
        assert kind in ("op", "activation", "loss")
        assert arity is None or (isinstance(arity, int) and arity >= 1)
        if arity in (None, 1):
            code = compile(f"x.{name}()", "<fuzz>", "eval", dont_inherit=True)
            assert code.co_names[-1] == name  # as written in source, it names this op
            assert getattr(Value(0.5), name)().data == 1.0 and op.name == name
    finally:
        handle.unregister()
    assert registry.ops == ops_before
