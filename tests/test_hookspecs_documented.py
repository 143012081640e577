"""Meta-tests, after datasette's: every hookspec is documented in docs/ops.md (the plugin
author's guide) with its exact signature and has its own test, and the guide's example
plugin really works."""

from __future__ import annotations

import inspect
import re
import sys
import types
from pathlib import Path

import pytest

import picograd
from picograd import hookspecs
from picograd.testing import check_op

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent
GUIDE = ROOT / "docs" / "ops.md"
SECTION = GUIDE.read_text()

HOOKS = {name: fn for name, fn in vars(hookspecs).items()
         if callable(fn) and hasattr(fn, "picograd_spec")}


def test_there_are_hooks():
    assert "picograd_register_ops" in HOOKS


def documented() -> dict[str, list[str]]:
    headings = re.findall(r"^#### `(\w+)\(([^)]*)\)`$", SECTION, flags=re.M)
    return {name: [a.strip() for a in args.split(",") if a.strip()] for name, args in headings}


def test_every_hookspec_has_a_guide_heading_with_its_signature():
    docs = documented()
    assert set(docs) == set(HOOKS), "docs/ops.md headings and hookspecs disagree"
    for name, fn in HOOKS.items():
        assert docs[name] == list(inspect.signature(fn).parameters), name
        assert inspect.getdoc(fn), f"hookspec {name} has no docstring"


def test_every_hookspec_has_a_test():
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    for name in HOOKS:
        assert re.search(rf"^def test_hook_{name}\(", tests, flags=re.M), \
            f"no test named test_hook_{name}"


def block(after: str, lang: str) -> str:
    """The first ```lang code block after the line ``after`` in the plugin guide."""
    rest = SECTION.split(after, 1)[1]
    return re.search(rf"```{lang}\n(.*?)```", rest, flags=re.S).group(1)


@pytest.fixture
def bent(registry):
    """The guide's example plugin module, built from the guide's own code."""
    module = types.ModuleType("picograd_bent")
    exec(compile(block("`picograd_bent.py`:", "python"), "docs/ops.md:picograd_bent.py", "exec"),
         module.__dict__)
    sys.modules["picograd_bent"] = module
    try:
        yield module
    finally:
        del sys.modules["picograd_bent"]


def test_guide_pyproject_declares_the_example_module_and_depends_on_picogradlib():
    meta = tomllib.loads(block("`pyproject.toml`:", "toml"))
    assert meta["project"]["entry-points"]["picograd"] == {"bent": "picograd_bent"}
    assert meta["tool"]["setuptools"]["py-modules"] == ["picograd_bent"]
    assert meta["project"]["dependencies"] == ["picogradlib"]


def test_guide_example_plugin_registers_and_passes_its_own_tests(bent, registry):
    with picograd.register_plugin(bent, name="bent"):
        check_op("bent_identity")
        x = picograd.Value(0.5)
        x.bent_identity(scale=1.0).backward()
        assert x.grad == pytest.approx(0.5 / 1.25**0.5 + 1.0)
        tests: dict = {}
        exec(block("`tests/test_picograd_bent.py`", "python"), tests)
        tests["test_plugin_is_discovered"]()
        tests["test_ops_pass_the_checker"]()


def test_guide_notebook_example_runs(registry):
    exec(block("### Without packaging (notebooks)", "python"), {})
    assert "my_swish" not in registry.ops  # the example unregisters it at the end


def test_guide_notebook_example_runs_beside_the_repo_plugins(registry, monkeypatch):
    # its op name must be one no plugin ships, or the example fails once one is installed
    import importlib

    for name in ("activations", "losses", "trig"):
        monkeypatch.syspath_prepend(str(ROOT / "plugins" / f"picograd-{name}"))
        module = importlib.import_module(f"picograd_{name}")
        registry.register_plugin(module, name=f"picograd-{name}")
    exec(block("### Without packaging (notebooks)", "python"), {})
    assert "swish" in registry.ops and not registry.conflicts
