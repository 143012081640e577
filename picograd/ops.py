"""The functional namespace: ``picograd.ops.<name>(...)`` for every registered op.

Built-in or plugin, every op in the live table is here: ``ops.tanh(x)``,
``ops.leaky_relu(x, slope=0.1)``. Plain numbers are accepted as constants.
"""

from __future__ import annotations

from typing import Any

from .engine import OPS


def __getattr__(name: str) -> Any:
    return getattr(OPS, name)


def __dir__() -> list[str]:
    from .registry import active_registry

    return sorted(active_registry().ops)
