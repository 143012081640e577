"""Shared fixtures: every test that touches the registry gets its own, isolated one."""

from __future__ import annotations

import pytest

from picograd import Registry, use_registry


@pytest.fixture
def registry():
    """A fresh registry with the built-in ops only (no installed plugins), made active."""
    with use_registry(Registry(entry_points=False, environ={})) as reg:
        yield reg
