"""Plugins in, a dispatch table out.

pluggy finds and registers plugins; it is called once per plugin, when the table is
first needed, never per op. Each plugin loads on its own: it is imported, its hook
is called with a ``register`` callback that validates every op, and only if all of
that succeeds are its ops merged. A plugin that fails is rolled back and reported;
the others load regardless.

Choosing what loads (read when the table is first built):

    PICOGRAD_PLUGINS          allowlist of distribution or entry-point names
                              (comma-separated; set but empty = no third-party plugin)
    PICOGRAD_DISABLE_PLUGINS  blocklist, same names; a blocked plugin is never imported
    PICOGRAD_PREFER           "op=provider,...": who provides an op name two plugins claim
    PICOGRAD_STRICT           "1": a failing or conflicting plugin is an error, not a warning

Name conflicts never depend on load order: a name two plugins claim is unusable (its
use raises an error naming both) until the user prefers one. A built-in op keeps its
name against a plugin unless the user prefers the plugin.
"""

from __future__ import annotations

import os
import re
import threading
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import pluggy

from . import engine, hookspecs
from ._version import __version__
from .op import KINDS, Op

BUILTIN_MODULE = "picograd_ops"
ENTRY_POINT_GROUP = "picograd"
RESERVED = frozenset({"data", "grad", "requires_grad", "backward", "label"})
MAX_NAME = 64


class PluginError(Exception):
    """A plugin failed to load or registered an invalid op (raised in strict mode)."""


class OpConflictError(PluginError):
    """Two plugins provide the same op name and the user has not chosen one."""


class UnknownOpError(AttributeError):
    """No registered op has that name."""


class PluginWarning(UserWarning):
    """A plugin was rolled back, or lost an op name to a conflict."""


@dataclass
class PluginInfo:
    """What ``picograd plugins`` shows for one plugin."""

    name: str
    distribution: str
    version: str
    entry_point: str = ""  # "module:attr" for installed plugins
    source: str = "entry point"  # "builtin", "entry point" or "in-process"
    status: str = "pending"  # "loaded", "blocked", "failed"
    error: str = ""
    ops: list[str] = field(default_factory=list)

    @property
    def provider(self) -> str:
        if self.source == "in-process":
            return f"in-process plugin '{self.name}'"
        return f"{self.distribution} {self.version}".strip()

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name, "distribution": self.distribution, "version": self.version,
            "entry_point": self.entry_point, "source": self.source, "status": self.status,
            "error": self.error, "ops": list(self.ops),
        }


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower().strip()


def _names(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {_norm(n) for n in value.split(",") if n.strip()}


class Registry:
    """Loads plugins one at a time and keeps the resolved op table."""

    def __init__(
        self, *, builtins: bool = True, entry_points: bool = True,
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self._plugins: dict[str, PluginInfo] = {}
        self._builtins = builtins
        self._entry_points = entry_points
        self._environ = os.environ if environ is None else environ
        self._pm = pluggy.PluginManager("picograd")
        self._pm.add_hookspecs(hookspecs)
        self._provided: dict[str, dict[str, Op]] = {}  # op name -> plugin name -> Op
        self._overrides: dict[str, str] = {}  # op name -> in-process plugin that overrode it
        self._preferred: dict[str, str] = {}
        self._table: dict[str, Op] = {}
        self._conflicts: dict[str, list[Op]] = {}
        self._shadowed: dict[str, list[Op]] = {}
        self._loaded = self._loading = False
        self._error: PluginError | None = None  # strict mode: why loading failed
        self._lock = threading.RLock()

    @property
    def plugins(self) -> dict[str, PluginInfo]:
        """Every plugin found, by name: loaded, blocked or failed (loads them first)."""
        self.load()
        return dict(self._plugins)

    @property
    def plugin_manager(self) -> pluggy.PluginManager:
        return self._pm

    @property
    def strict(self) -> bool:
        return self._environ.get("PICOGRAD_STRICT", "") not in ("", "0")

    # -- loading -------------------------------------------------------------------------

    def load(self) -> bool:
        """Load every plugin once and build the table; True if this call did it.

        In strict mode a failure raises here, and again on every later use.
        """
        if self._loaded:
            if self._error is not None:
                raise self._error
            return False
        with self._lock:
            if self._loaded:
                return self.load()
            if self._loading:  # a plugin used an op while being imported
                raise PluginError("ops are not available while plugins are loading")
            self._loading = True
            try:
                self._load_all()
            except PluginError as e:
                self._error = e
                raise
            finally:
                self._loading = False
                self._loaded = True  # only now may other threads use the table
            return True

    def _load_all(self) -> None:
        for pref in self._environ.get("PICOGRAD_PREFER", "").split(","):
            if "=" in pref:
                op_name, provider = (s.strip() for s in pref.split("=", 1))
                self._preferred[op_name] = provider
        if self._builtins:
            info = PluginInfo(BUILTIN_MODULE, "picograd", __version__,
                              f"{BUILTIN_MODULE}", source="builtin")
            self._load_plugin(info, lambda: __import__(BUILTIN_MODULE))
        if self._entry_points:
            for ep, info in self._discover():
                if info.status == "blocked":
                    self._plugins[info.name] = info
                else:
                    self._load_plugin(info, ep.load)
        self._rebuild()

    def _discover(self) -> Iterator[tuple[Any, PluginInfo]]:
        import importlib.metadata as metadata  # here, not at import: it costs ~13 ms

        allow = _names(self._environ.get("PICOGRAD_PLUGINS"))
        block = _names(self._environ.get("PICOGRAD_DISABLE_PLUGINS")) or set()
        found = {}
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist is not None else "(unknown)"
            version = ep.dist.version if ep.dist is not None else ""
            found.setdefault((_norm(dist), ep.name), (ep, dist, version))
        ep_names = [ep_name for _, ep_name in found]
        for key in sorted(found):  # a fixed order, whatever the install order
            ep, dist, version = found[key]
            # a plugin is named by its entry point, or "distribution:entry point" when
            # two distributions chose the same entry-point name
            name = ep.name if ep_names.count(ep.name) == 1 else f"{dist}:{ep.name}"
            info = PluginInfo(name, dist, version, ep.value)
            names = {_norm(dist), _norm(ep.name)}
            if allow is not None and not names & allow:
                info.status, info.error = "blocked", "not in PICOGRAD_PLUGINS"
            elif names & block:
                info.status, info.error = "blocked", "in PICOGRAD_DISABLE_PLUGINS"
            yield ep, info

    def _load_plugin(self, info: PluginInfo, load: Callable[[], Any],
                     raise_errors: bool = False) -> None:
        """Import one plugin and run its hook; all or nothing."""
        self._plugins[info.name] = info
        staged: dict[str, Op] = {}
        overrides: list[str] = []
        obj = None
        try:
            obj = load()
            if self._pm.is_registered(obj) or self._pm.has_plugin(info.name):
                raise PluginError(f"plugin '{info.name}' is already registered")
            self._pm.register(obj, name=info.name)
            others = [p for p in self._pm.get_plugins() if p is not obj]
            caller = self._pm.subset_hook_caller("picograd_register_ops", remove_plugins=others)
            caller(register=self._register_callback(info, staged, overrides))
            if not staged:
                raise PluginError("its picograd_register_ops hook registered no op")
            if info.source == "in-process":
                self._check_in_process_names(info, staged, overrides)
        except Exception as e:
            if obj is not None and self._pm.is_registered(obj):
                self._pm.unregister(obj)
            info.status, info.error, info.ops = "failed", f"{type(e).__name__}: {e}", []
            message = f"picograd plugin '{info.name}' ({info.provider}) failed and was skipped: {e}"
            if raise_errors:  # in-process: the caller sees the error, nothing is kept
                del self._plugins[info.name]
                raise (type(e) if isinstance(e, PluginError) else PluginError)(message) from e
            if self.strict:
                raise PluginError(message) from e
            warnings.warn(message, PluginWarning, stacklevel=3)
            return
        for name, op in staged.items():
            self._provided.setdefault(name, {})[info.name] = op
        for name in overrides:
            self._overrides[name] = info.name
        info.status, info.ops = "loaded", list(staged)

    def _register_callback(self, info: PluginInfo, staged: dict[str, Op],
                           overrides: list[str]) -> Callable[..., None]:
        def register(op: Op | str, forward: Callable | None = None,
                     backward: Callable | None = None, *, override: bool = False,
                     **fields: Any) -> None:
            if not isinstance(op, Op):
                op = Op(op, forward, backward, **fields)
            elif forward is not None or backward is not None or fields:
                raise TypeError("register(Op(...)) takes no other fields")
            _validate(op)
            if op.name in staged:
                raise PluginError(f"op '{op.name}' registered twice")
            if override:
                if info.source != "in-process":
                    raise PluginError(
                        f"op '{op.name}': installed plugins cannot override; the user "
                        "chooses a provider with PICOGRAD_PREFER"
                    )
                overrides.append(op.name)
            staged[op.name] = replace(op, provider=info.provider, _variants={})

        return register

    def _check_in_process_names(self, info: PluginInfo, staged: dict[str, Op],
                                overrides: list[str]) -> None:
        for name in staged:
            if name in overrides:
                continue
            if name in self._conflicts:
                raise OpConflictError(_conflict_message(name, self._conflicts[name]))
            if name in self._table:
                raise OpConflictError(
                    f"op '{name}' is already provided by {self._table[name].provider}; "
                    "pass override=True to replace it"
                )

    # -- in-process plugins and choices --------------------------------------------------

    def register_plugin(self, plugin: Any, name: str | None = None) -> PluginHandle:
        """Register a plugin object or module in this process (no packaging needed).

        Errors are raised at once. Use the handle as a context manager, or call
        ``handle.unregister()``, to remove it again.
        """
        self.load()
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        with self._lock:
            if name in self._plugins:
                raise PluginError(f"a plugin named '{name}' is already registered "
                                  f"({self._plugins[name].status})")
            info = PluginInfo(name, "", "", source="in-process")
            self._load_plugin(info, lambda: plugin, raise_errors=True)
            self._rebuild()
        return PluginHandle(self, name)

    def register_op(self, op: Op, *, override: bool = False) -> PluginHandle:
        """Register one op as an in-process plugin named after it (notebooks).

        The same validation and conflict rules as for any plugin. Registering an op
        of the same name this way again (re-running a notebook cell) replaces it.
        """
        self.load()
        with self._lock:
            previous = self._pm.get_plugin(op.name)
            if isinstance(previous, _OneOp):
                self.unregister(op.name)
            try:
                return self.register_plugin(_OneOp(op, override), op.name)
            except Exception:
                if isinstance(previous, _OneOp):  # keep the old one if the new one fails
                    self.register_plugin(previous, op.name)
                raise

    def unregister(self, name: str) -> None:
        """Remove a plugin's ops from the table."""
        with self._lock:
            info = self._plugins.pop(name, None)
            if info is None:
                raise KeyError(f"no plugin named '{name}'")
            plugin = self._pm.get_plugin(name)
            if plugin is not None:
                self._pm.unregister(plugin)
            for op_name in info.ops:
                providers = self._provided.get(op_name, {})
                providers.pop(name, None)
                if not providers:
                    self._provided.pop(op_name, None)
                if self._overrides.get(op_name) == name:
                    del self._overrides[op_name]
            self._rebuild()

    def prefer(self, op_name: str, provider: str) -> None:
        """Resolve a name conflict: ``op_name`` comes from ``provider`` (plugin or distribution)."""
        with self._lock:
            self._preferred[op_name] = provider
            if self._loaded:
                self._rebuild()

    # -- the table -----------------------------------------------------------------------

    def _rebuild(self) -> None:
        table, conflicts, shadowed = {}, {}, {}
        for name, providers in sorted(self._provided.items()):
            chosen = self._choose(name, providers)
            if chosen is None:
                conflicts[name] = [providers[p] for p in sorted(providers)]
            else:
                table[name] = chosen
                if chosen is providers.get(BUILTIN_MODULE) and len(providers) > 1:
                    shadowed[name] = [op for op in providers.values() if op is not chosen]
        for name, ops in conflicts.items():
            if name not in self._conflicts:
                self._warn(OpConflictError(_conflict_message(name, ops)))
        for name, ops in shadowed.items():
            if name not in self._shadowed:
                self._warn(OpConflictError(_shadow_message(name, table[name], ops)))
        self._table, self._conflicts, self._shadowed = table, conflicts, shadowed
        if _active is self:
            self._install()

    def _warn(self, error: OpConflictError) -> None:
        if self.strict:
            raise error
        warnings.warn(str(error), PluginWarning, stacklevel=5)

    @property
    def shadowed(self) -> dict[str, list[Op]]:
        """Plugin ops that lost their name to a built-in (no choice made)."""
        self.load()
        return dict(self._shadowed)

    def _choose(self, name: str, providers: dict[str, Op]) -> Op | None:
        if name in self._overrides:
            return providers[self._overrides[name]]
        if len(providers) == 1:
            return next(iter(providers.values()))
        wanted = self._preferred.get(name)
        if wanted is not None:
            for plugin_name, op in providers.items():
                info = self._plugins[plugin_name]
                if _norm(wanted) in (_norm(plugin_name), _norm(info.distribution)):
                    return op
        if BUILTIN_MODULE in providers:
            return providers[BUILTIN_MODULE]  # built-ins keep their names by default
        return None

    def _install(self) -> None:
        functions = {name: engine.op_function(op) for name, op in self._table.items()}
        for name, ops in self._conflicts.items():
            functions[name] = _conflict_function(name, ops)
        engine.install(functions)

    @property
    def ops(self) -> dict[str, Op]:
        """Every usable op, by name (conflicted names are left out)."""
        self.load()
        return dict(self._table)

    @property
    def conflicts(self) -> dict[str, list[Op]]:
        """Op names more than one plugin provides, with no choice made."""
        self.load()
        return dict(self._conflicts)

    def get(self, name: str) -> Op:
        """The op registered under ``name``."""
        self.load()
        if name in self._conflicts:
            raise OpConflictError(_conflict_message(name, self._conflicts[name]))
        try:
            return self._table[name]
        except KeyError:
            raise self.unknown_op_error(name) from None

    def unknown_op_error(self, name: str) -> UnknownOpError:
        available = ", ".join(sorted(self._table)) or "none"
        return UnknownOpError(f"no op named '{name}' is registered (available: {available})")


class _OneOp:
    """The in-process plugin ``register_op`` makes for one op."""

    def __init__(self, op: Op, override: bool) -> None:
        self.op, self.override = op, override

    @hookspecs.hookimpl
    def picograd_register_ops(self, register: Callable[..., None]) -> None:
        register(self.op, override=self.override)


class PluginHandle:
    """Returned by ``register_plugin``; unregisters on ``unregister()`` or on leaving a ``with``."""

    def __init__(self, registry: Registry, name: str) -> None:
        self.registry, self.name = registry, name

    def unregister(self) -> None:
        """Remove the plugin; a second call does nothing."""
        if self.name in self.registry._plugins:
            self.registry.unregister(self.name)

    def __enter__(self) -> PluginHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.unregister()


def _validate(op: Op) -> None:
    """Reject an op that breaks the contract, before it can reach the table."""
    def bad(why: str) -> None:
        raise PluginError(f"invalid op {str(op.name)[:80]!r}: {why}")

    if not isinstance(op.name, str) or not op.name.isidentifier() or op.name.startswith("_"):
        bad("the name must be a Python identifier not starting with '_'")
    if len(op.name) > MAX_NAME:
        bad(f"the name must be at most {MAX_NAME} characters")
    import keyword
    import unicodedata

    # x.name(...) must reach it: not a keyword (x.if), and as Python reads names (NFKC:
    # a fullwidth "ｔａｎｈ" in source is "tanh")
    if keyword.iskeyword(op.name) or unicodedata.normalize("NFKC", op.name) != op.name:
        bad("the name must be usable as x.name(...): not a keyword, and in NFKC form")
    if op.name in RESERVED:
        bad(f"'{op.name}' is reserved by Value")
    if not callable(op.forward):
        bad("forward must be callable")
    if op.backward is not None and not callable(op.backward):
        bad("backward must be callable or None (composite)")
    if op.kind not in KINDS:
        bad(f"kind must be one of {', '.join(KINDS)}, not {op.kind!r}")
    if op.arity is not None and (type(op.arity) is not int or op.arity < 1):
        bad("arity must be a positive int or None (variadic)")
    if not isinstance(op.attrs, Mapping) or not all(isinstance(k, str) for k in op.attrs):
        bad("attrs must map attribute names to default values")
    if not isinstance(op.doc, str) or not isinstance(op.vectorized, bool):
        bad("doc must be a str and vectorized a bool")
    if isinstance(op.samples, (str, bytes)) or not isinstance(op.samples, Sequence):
        bad("samples must be a sequence of input tuples")
    for sample in op.samples:
        if not isinstance(sample, tuple) or (op.arity is not None and len(sample) != op.arity):
            bad(f"sample {sample!r} must be a tuple of {op.arity} input(s)")
    for fn in (op.array_forward, op.array_backward):
        if fn is not None and not callable(fn):
            bad("array_forward and array_backward must be callable")
    if derivative_problem(op):
        bad(derivative_problem(op))


def derivative_problem(op: Op) -> str:
    """What is wrong with ``op.derivative`` ("" if nothing): a str for one input (or
    every input of a variadic op), else a tuple of one str per input."""
    d, n = op.derivative, op.arity
    if isinstance(d, str):
        return "" if n in (1, None) or not d else f"derivative must be a tuple of {n} str"
    if not isinstance(d, tuple) or not all(isinstance(t, str) for t in d):
        return "derivative must be a str or a tuple of str"
    if n is None:
        return "derivative of a variadic op must be one str (for every input)"
    return "" if len(d) == n else f"derivative must have one text per input ({n}), got {len(d)}"


def _conflict_message(name: str, ops: list[Op]) -> str:
    who = " and ".join(op.provider for op in ops)
    return (
        f"op '{name}' is provided by both {who}; choose one with "
        f"PICOGRAD_PREFER={name}=<distribution> or picograd.prefer('{name}', '<distribution>')"
    )


def _shadow_message(name: str, builtin: Op, ops: list[Op]) -> str:
    who = " and ".join(op.provider for op in ops)
    return (
        f"op '{name}' from {who} is not used: the built-in '{name}' ({builtin.provider}) "
        f"keeps the name; to use the plugin's, set PICOGRAD_PREFER={name}=<distribution> "
        f"or call picograd.prefer('{name}', '<distribution>')"
    )


def _conflict_function(name: str, ops: list[Op]) -> Callable[..., Any]:
    def conflicted(*args: Any, **kwargs: Any) -> Any:
        raise OpConflictError(_conflict_message(name, ops))

    conflicted.__name__ = name
    return conflicted


# -- the active registry: the one Value operators and picograd.ops read -----------------

_active: Registry | None = None
_active_lock = threading.Lock()


def active_registry() -> Registry:
    """The registry in use (created on first call, with builtins and entry points)."""
    global _active
    if _active is None:
        with _active_lock:
            if _active is None:
                _active = Registry()
    return _active


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
    _active = registry
    try:
        if not registry.load():
            registry._install()
        yield registry
    finally:
        _active = previous
        if previous is not None and previous._loaded:
            previous._install()
        else:
            engine.install({})
