"""Shared fixtures: every test that touches the registry gets its own, isolated one.

Tests that need a system program ask for it with a fixture (``def test_x(requires_dot):``)
or a mark (``@pytest.mark.requires_dot``, or ``pytestmark = pytest.mark.requires_dot`` for
a whole module). Without the program the test is skipped with a one-line reason naming
the install command; with ``PICOGRAD_REQUIRE_TOOLS=1`` (set by CI) it fails instead, so
nothing is hidden there.
"""

from __future__ import annotations

import os
import shutil

import pytest
from hypothesis import HealthCheck, settings

from picograd import Registry, use_registry

# Hypothesis budgets, chosen with HYPOTHESIS_PROFILE: "default" (what a plain pytest
# run uses: seconds), "long" (ten times the examples, for a search before a release:
# HYPOTHESIS_PROFILE=long python -m pytest tests/test_properties.py tests/test_fuzz.py
# tests/test_expr.py) and "ci" (the default budget, derandomized: a failure in CI
# reproduces on any machine). No deadline anywhere: the machine may be shared, and a
# slow example is not a failure. Test modules set no example counts of their own
# (test_fuzz.py takes half of the profile's, its examples being slower).
_QUIET = [HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
          HealthCheck.filter_too_much]
settings.register_profile("default", max_examples=300, deadline=None,
                          suppress_health_check=_QUIET)
settings.register_profile("long", max_examples=3000, deadline=None,
                          suppress_health_check=_QUIET)
settings.register_profile("ci", max_examples=300, deadline=None, derandomize=True,
                          suppress_health_check=_QUIET)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

# program -> how to install it (Debian first, as CI does)
TOOLS = {
    "dot": "Graphviz's dot: apt-get install graphviz (macOS: brew install graphviz)",
    "chromium": "a headless browser: apt-get install chromium chromium-driver",
}


def require_tool(program: str) -> str:
    """The path of ``program``; skip (or fail, under PICOGRAD_REQUIRE_TOOLS=1) without it."""
    path = shutil.which(program)
    if path:
        return path
    reason = f"needs {TOOLS[program]}"
    if os.environ.get("PICOGRAD_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{reason} (PICOGRAD_REQUIRE_TOOLS=1: a missing tool is a failure)",
                    pytrace=False)
    pytest.skip(reason)


def pytest_configure(config: pytest.Config) -> None:
    for program in TOOLS:
        config.addinivalue_line("markers", f"requires_{program}: the test runs {program}")


def pytest_runtest_setup(item: pytest.Item) -> None:
    for program in TOOLS:
        if item.get_closest_marker(f"requires_{program}"):
            require_tool(program)


@pytest.fixture
def requires_dot() -> str:
    """The path of Graphviz's ``dot``."""
    return require_tool("dot")


@pytest.fixture
def requires_chromium() -> str:
    """The path of the ``chromium`` browser."""
    return require_tool("chromium")


@pytest.fixture
def registry():
    """A fresh registry with the built-in ops only (no installed plugins), made active."""
    with use_registry(Registry(entry_points=False, environ={})) as reg:
        yield reg


@pytest.fixture
def failing_dot(tmp_path_factory, monkeypatch):
    """A real ``dot`` program first on PATH that fails as Graphviz's does on a bad day."""
    import os
    import stat

    bin_dir = tmp_path_factory.mktemp("failing-dot")
    dot = bin_dir / "dot"
    dot.write_text("#!/bin/sh\necho 'Error: dot: out of memory' >&2\nexit 1\n")
    dot.chmod(dot.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    return dot


@pytest.fixture
def site(tmp_path, monkeypatch):
    """A site-packages of the test's own, for real plugin distributions (tests/sites.py)."""
    import sys

    from sites import Site

    s = Site(tmp_path, monkeypatch)
    yield s
    for module in s.modules:
        sys.modules.pop(module, None)


@pytest.fixture
def repo_plugins(registry, monkeypatch):
    """The three plugins under plugins/, registered in-process (not installed)."""
    import importlib
    from pathlib import Path

    import picograd

    plugins = Path(__file__).resolve().parent.parent / "plugins"
    handles = []
    for name in ("activations", "losses", "trig"):
        monkeypatch.syspath_prepend(str(plugins / f"picograd-{name}"))
        module = importlib.import_module(f"picograd_{name}")
        handles.append(picograd.register_plugin(module, name=f"picograd-{name}"))
    yield registry
    for handle in handles:
        handle.unregister()
