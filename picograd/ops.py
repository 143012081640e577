"""The op table: ``picograd.ops.<name>(...)`` for every registered op.

Built-in or plugin, every usable op is a function here: ``ops.tanh(x)``,
``ops.leaky_relu(x, slope=0.1)``, ``ops.sumsq(a, b, c)``. Plain numbers are
accepted as constants. Value's operators and methods call these functions
(``x * y`` is ``ops.mul(x, y)``), so this module is the dispatch table itself.

The registry fills it (``_install``) when it is first needed: the first lookup of a
name that is not here yet loads the plugins, once. (Everything else in this module
starts with ``_``, so that no op name can collide with it.)
"""

import typing as _typing

# Set by picograd.registry: the active registry, loaded (plugins load on first use).
_active: _typing.Callable[[], _typing.Any] | None = None
_installed: set = set()
# Set by picograd.engine: makes the ops methods of Value (x.gelu()) after each change.
_on_install: _typing.Callable[[dict], None] | None = None


def __getattr__(name: str) -> _typing.Any:
    if name.startswith("__") or _active is None:
        raise AttributeError(f"module 'picograd.ops' has no attribute '{name}'")
    registry = _active()
    fn = globals().get(name)  # installed just now, by loading
    if fn is None:
        raise registry.unknown_op_error(name)
    return fn


def __dir__() -> list:
    if _active is not None:
        _active()
    return sorted(_installed)


def _install(functions: dict) -> None:
    """Make ``functions`` this table's contents (the registry calls this after a change).

    New entries go in before stale ones leave, so a thread computing meanwhile never
    finds a still-registered op missing.
    """
    table = globals()
    stale = _installed - functions.keys()
    table.update(functions)
    _installed.update(functions)
    for name in stale:
        table.pop(name, None)
        _installed.discard(name)
    if _on_install is not None:
        _on_install(functions)
