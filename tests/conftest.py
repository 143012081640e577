"""Shared fixtures: every test that touches the registry gets its own, isolated one."""

from __future__ import annotations

import os
import shutil

import pytest

from picograd import Registry, use_registry


@pytest.fixture
def registry():
    """A fresh registry with the built-in ops only (no installed plugins), made active."""
    with use_registry(Registry(entry_points=False, environ={})) as reg:
        yield reg


# System programs some tests need. Missing, they skip with the install command; CI sets
# PICOGRAD_REQUIRE_TOOLS=1, which turns the skip into a failure.

def _require_tool(program: str, install: str) -> str:
    path = shutil.which(program)
    if path:
        return path
    message = f"`{program}` is not installed ({install})"
    if os.environ.get("PICOGRAD_REQUIRE_TOOLS") == "1":
        pytest.fail(f"{message}; PICOGRAD_REQUIRE_TOOLS=1 requires it")
    pytest.skip(message)


@pytest.fixture
def requires_dot() -> str:
    """The path of Graphviz's ``dot``."""
    return _require_tool("dot", "apt-get install graphviz")


@pytest.fixture
def requires_chromium() -> str:
    """The path of a headless-capable ``chromium``."""
    return _require_tool("chromium", "apt-get install chromium")
