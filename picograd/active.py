"""The active registry: the one whose ops fill ``picograd.ops`` (and so Value's operators).

It is made on first use, with the built-ins and every installed plugin; plugins load
the first time an op is looked up. ``register_op`` and ``register_plugin`` add to it in
this process (notebooks); ``use_registry`` swaps in another one (tests, sandboxes).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from . import ops
from .op import Op
from .plugins import PluginHandle
from .registry import Registry

_active: Registry | None = None
_active_lock = threading.Lock()


def active_registry() -> Registry:
    """The registry in use (created on first call, with builtins and entry points)."""
    global _active
    if _active is None:
        with _active_lock:
            if _active is None:
                registry = Registry()
                registry.active = True
                _active = registry
    return _active


def _loaded_active() -> Registry:
    registry = active_registry()
    registry.load()
    return registry


ops._active = _loaded_active  # picograd.ops loads the plugins on its first lookup


def register_plugin(plugin: object, name: str | None = None) -> PluginHandle:
    """Register a plugin object or module in-process; returns a handle (a context manager)."""
    return active_registry().register_plugin(plugin, name)


def prefer(op_name: str, provider: str) -> None:
    """Choose which plugin (or distribution) provides an op name two plugins claim."""
    active_registry().prefer(op_name, provider)


def register_op(op: Op | None = None, /, *, override: bool = False, **fields: Any) -> Any:
    """Register one op in the active registry at once: a one-op in-process plugin.

        picograd.register_op(Op("cube", lambda x: x**3, lambda g, y, x: (3 * x * x * g,)))

    returns a handle (``handle.unregister()``, or use it as a context manager). As a
    decorator it takes the Op's other fields and makes the function the forward;
    without ``backward`` the op is composite (the function receives Values):

        @picograd.register_op(kind="activation")
        def swish(x):
            return x * x.sigmoid()

    The function comes back unchanged, with ``swish.unregister()`` attached.
    """
    if op is not None:
        if fields:
            raise TypeError("register_op(Op(...)) takes no other fields; put them in the Op")
        return active_registry().register_op(op, override=override)

    def decorate(forward: Callable[..., Any]) -> Callable[..., Any]:
        one = Op(**{"name": forward.__name__, **fields, "forward": forward})
        handle = active_registry().register_op(one, override=override)
        forward.unregister = handle.unregister  # type: ignore[attr-defined]
        return forward

    return decorate


@contextmanager
def use_registry(registry: Registry) -> Iterator[Registry]:
    """Make ``registry`` the active one inside the block (tests, sandboxes)."""
    global _active
    previous = _active
    if previous is not None:
        previous.active = False
    _active, registry.active = registry, True
    try:
        if not registry.load():
            registry._install()
        yield registry
    finally:
        registry.active = False
        _active = previous
        if previous is not None:
            previous.active = True
        if previous is not None and previous._loaded:
            previous._install()
        else:
            ops._install({})
