"""Shared fixtures: every test that touches the registry gets its own, isolated one."""

from __future__ import annotations

import pytest

from picograd import Registry, use_registry


@pytest.fixture
def registry():
    """A fresh registry with the built-in ops only (no installed plugins), made active."""
    with use_registry(Registry(entry_points=False, environ={})) as reg:
        yield reg


@pytest.fixture
def requires_dot():
    """Skip, naming the install command, when Graphviz's ``dot`` is missing.

    With PICOGRAD_REQUIRE_TOOLS=1 (CI) a missing ``dot`` fails the test instead.
    """
    import os
    import shutil

    if shutil.which("dot") is None:
        why = "Graphviz's dot is not installed (apt-get install graphviz)"
        if os.environ.get("PICOGRAD_REQUIRE_TOOLS") == "1":
            pytest.fail(why)
        pytest.skip(why)


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
