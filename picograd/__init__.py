"""picograd: a tiny scalar autograd engine whose ops are plugins."""

from ._version import __version__
from .draw import draw_dot
from .engine import Value, no_grad
from .errors import OpConflictError, OpError, PluginError, PluginWarning, UnknownOpError
from .explore import explore
from .grad import grad
from .hookspecs import hookimpl
from .kernel import BoundOp
from .nn import MLP, Layer, Module, Neuron
from .op import Op
from .registry import PluginHandle, Registry, active_registry, register_op, use_registry


def register_plugin(plugin: object, name: str | None = None) -> PluginHandle:
    """Register a plugin object or module in-process; returns a handle (a context manager)."""
    return active_registry().register_plugin(plugin, name)


def prefer(op_name: str, provider: str) -> None:
    """Choose which plugin (or distribution) provides an op name two plugins claim."""
    active_registry().prefer(op_name, provider)


__all__ = [
    "BoundOp",
    "Layer",
    "MLP",
    "Module",
    "Neuron",
    "Op",
    "OpConflictError",
    "OpError",
    "PluginError",
    "PluginHandle",
    "PluginWarning",
    "Registry",
    "UnknownOpError",
    "Value",
    "__version__",
    "active_registry",
    "draw_dot",
    "explore",
    "grad",
    "hookimpl",
    "no_grad",
    "prefer",
    "register_op",
    "register_plugin",
    "use_registry",
]
