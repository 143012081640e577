"""The hooks a picograd plugin can implement.

A plugin is a module (or any object) with functions marked ``@picograd.hookimpl``,
found through the ``picograd`` entry-point group or registered in-process.
pluggy calls these hooks once, when the op table is built; never per op.
"""

from __future__ import annotations

from collections.abc import Callable

import pluggy

hookspec = pluggy.HookspecMarker("picograd")
hookimpl = pluggy.HookimplMarker("picograd")


@hookspec
def picograd_register_ops(register: Callable[..., None]) -> None:
    """Register this plugin's ops, activations and losses.

    Call ``register(Op(...))`` (or ``register(name, forward, backward, **fields)``)
    once per op. The host validates every op and checks names against all other
    plugins; a plugin whose registration fails is rolled back as a whole.
    ``register(op, override=True)`` replaces an existing name; only in-process
    plugins may ask for that. Called once per plugin, when the op table is built.
    """
