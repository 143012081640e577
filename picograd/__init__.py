"""picograd: a tiny scalar autograd engine whose ops are plugins."""

from ._version import __version__
from .active import (
    active_registry,
    prefer,
    register_op,
    register_plugin,
    use_registry,
)
from .draw import draw_dot
from .engine import Value, no_grad
from .errors import OpConflictError, OpError, PluginError, PluginWarning, UnknownOpError
from .explore import explore
from .grad import grad
from .hookspecs import hookimpl
from .kernel import BoundOp
from .nn import MLP, Layer, Module, Neuron
from .op import Op
from .plugins import PluginHandle
from .registry import Registry

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
