"""Plugins in, an op table out.

pluggy finds and registers plugins; it is called once per plugin, when the table is
first needed, never per op. Each plugin loads on its own: it is imported, its hook
is called with a ``register`` callback that validates every op, and only if all of
that succeeds are its ops kept. A plugin that fails is rolled back and reported; the
others load regardless. The usable ops then go into ``picograd.ops`` as functions.

What loads is chosen with PICOGRAD_* environment variables (see ``plugins.py``).

Name conflicts never depend on load order: a name two plugins claim is unusable (its
use raises an error naming both) until the user prefers one. A built-in op keeps its
name against a plugin unless the user prefers the plugin.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import pluggy

from . import hookspecs, ops
from ._version import __version__
from .apply import op_function
from .errors import OpConflictError, PluginError, PluginWarning, UnknownOpError
from .kernel import BoundOp
from .op import Op
from .plugins import (
    BUILTIN_MODULE,
    DISTRIBUTION,
    OneOp,
    PluginHandle,
    PluginInfo,
    conflict_function,
    conflict_message,
    discover,
    norm,
    parse_env,
    shadow_message,
    validate,
)


class Registry:
    """Loads plugins one at a time and keeps the resolved op table."""

    def __init__(self, *, builtins: bool = True, entry_points: bool = True,
                 environ: Mapping[str, str] | None = None) -> None:
        import os

        self._environ = os.environ if environ is None else environ
        self._builtins, self._entry_points = builtins, entry_points
        self._lock = threading.RLock()
        self.active = False  # set by picograd.active: its table is picograd.ops
        self._reset()

    def _reset(self) -> None:
        self._pm = pluggy.PluginManager("picograd")
        self._pm.add_hookspecs(hookspecs)
        self._plugins: dict[str, PluginInfo] = {}
        self._provided: dict[str, dict[str, BoundOp]] = {}  # op name -> plugin -> op
        self._overrides: dict[str, str] = {}  # op name -> in-process plugin overriding it
        self._preferred: dict[str, str] = {}
        self._table: dict[str, BoundOp] = {}
        self._conflicts: dict[str, list[BoundOp]] = {}
        self._shadowed: dict[str, list[BoundOp]] = {}
        self._loaded = self._loading = False
        self._error: str | None = None  # strict mode: why loading failed

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
        return parse_env(self._environ).strict

    # -- loading -------------------------------------------------------------------------

    def load(self) -> bool:
        """Load every plugin once and build the table; True if this call did it.

        In strict mode a failure raises here, and again (the same message) on every use.
        """
        if self._loaded:
            if self._error is not None:
                raise PluginError(self._error)
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
                self._error, self._loaded = str(e), True
                raise
            except BaseException:  # Ctrl-C or SystemExit in a plugin: load again next time
                self._reset()
                raise
            finally:
                self._loading = False
            self._loaded = True  # only now may other threads use the table
            return True

    def _load_all(self) -> None:
        env = parse_env(self._environ)
        for notice in env.notices:
            warnings.warn(notice, PluginWarning, stacklevel=4)
        for problem in env.problems:
            self._warn(PluginError(problem))
        self._preferred.update(env.prefer)
        if self._builtins:
            info = PluginInfo(BUILTIN_MODULE, DISTRIBUTION, __version__, BUILTIN_MODULE,
                              source="builtin")
            self._load_plugin(info, lambda: __import__(BUILTIN_MODULE))
        if self._entry_points:
            found, problems = discover(env)
            for problem in problems:
                self._warn(PluginError(problem))
            for load, info in found:
                if info.status == "blocked":
                    self._plugins[info.name] = info
                else:
                    self._load_plugin(info, load)
        for op_name, provider in env.prefer.items():
            if not self._matches(op_name, provider):
                self._warn(PluginError(self._no_provider(op_name, provider, "PICOGRAD_PREFER")))
        self._rebuild()

    def _load_plugin(self, info: PluginInfo, load: Callable[[], Any],
                     raise_errors: bool = False) -> None:
        """Import one plugin and run its hook; all or nothing."""
        self._plugins[info.name] = info
        staged: dict[str, BoundOp] = {}
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
                self._check_in_process_names(staged, overrides)
        except BaseException as e:
            if obj is not None and self._pm.is_registered(obj):
                self._pm.unregister(obj)
            del self._plugins[info.name]
            if not isinstance(e, Exception):
                raise  # Ctrl-C: nothing of this plugin is kept
            info.status, info.error, info.ops = "failed", f"{type(e).__name__}: {e}", []
            message = f"picograd plugin '{info.name}' ({info.provider}) failed and was skipped: {e}"
            if raise_errors:  # in-process: the caller sees the error, nothing is kept
                raise (type(e) if isinstance(e, PluginError) else PluginError)(message) from e
            self._plugins[info.name] = info
            if self.strict:
                raise PluginError(message) from e
            warnings.warn(message, PluginWarning, stacklevel=4)
            return
        for name, op in staged.items():
            self._provided.setdefault(name, {})[info.name] = op
        for name in overrides:
            self._overrides[name] = info.name
        info.status, info.ops = "loaded", list(staged)

    def _register_callback(self, info: PluginInfo, staged: dict[str, BoundOp],
                           overrides: list[str]) -> Callable[..., None]:
        def register(op: Op | str, forward: Callable | None = None,
                     backward: Callable | None = None, *, override: bool = False,
                     **fields: Any) -> None:
            if not isinstance(op, Op):
                op = Op(op, forward, backward, **fields)  # type: ignore[arg-type]
            elif forward is not None or backward is not None or fields:
                raise TypeError("register(Op(...)) takes no other fields")
            validate(op)
            if op.name in staged:
                raise PluginError(f"op '{op.name}' registered twice")
            if override:
                if info.source != "in-process":
                    raise PluginError(f"op '{op.name}': installed plugins cannot override; "
                                      "the user chooses a provider with PICOGRAD_PREFER")
                overrides.append(op.name)
            staged[op.name] = BoundOp.of(op, info.provider)

        return register

    def _check_in_process_names(self, staged: dict[str, BoundOp], overrides: list[str]) -> None:
        for name in staged:
            providers = self._provided.get(name)
            if name in overrides or not providers:
                continue
            chosen = self._choose(name, providers)
            if chosen is None:
                raise OpConflictError(conflict_message(name, list(providers.values())))
            raise OpConflictError(f"op '{name}' is already provided by {chosen.provider}; "
                                  "pass override=True to replace it")

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
            self._load_plugin(PluginInfo(name, "", "", source="in-process"), lambda: plugin,
                              raise_errors=True)
            self._rebuild()
        return PluginHandle(self, name)

    def register_op(self, op: Op, *, override: bool = False) -> PluginHandle:
        """Register one op as an in-process plugin named after it (notebooks).

        The same validation and conflict rules as for any plugin. Registering an op
        of the same name this way again (re-running a notebook cell) replaces it in
        one step: a thread using the op meanwhile sees the old one or the new one.
        """
        self.load()
        with self._lock:
            previous = self._pm.get_plugin(op.name)
            if isinstance(previous, OneOp):
                self._remove(op.name)
            try:
                self._load_plugin(PluginInfo(op.name, "", "", source="in-process"),
                                  lambda: OneOp(op, override), raise_errors=True)
            except BaseException:
                if isinstance(previous, OneOp):  # keep the old one if the new one fails
                    self._load_plugin(PluginInfo(op.name, "", "", source="in-process"),
                                      lambda: previous, raise_errors=True)
                raise
            finally:
                self._rebuild()
        return PluginHandle(self, op.name)

    def unregister(self, name: str) -> None:
        """Remove a plugin's ops from the table."""
        with self._lock:
            self._remove(name)
            self._rebuild()

    def _remove(self, name: str) -> None:
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

    def prefer(self, op_name: str, provider: str) -> None:
        """Resolve a name conflict: ``op_name`` comes from ``provider`` (plugin or distribution)."""
        with self._lock:
            if self._loaded and not self._matches(op_name, provider):
                raise ValueError(self._no_provider(op_name, provider, "prefer()"))
            self._preferred[op_name] = provider
            if self._loaded:
                self._rebuild()

    def _named(self, wanted: str, plugin: str) -> bool:
        """Whether ``wanted`` names the plugin ``plugin`` or its distribution."""
        return norm(wanted) in (norm(plugin), norm(self._plugins[plugin].distribution))

    def _matches(self, op_name: str, provider: str) -> bool:
        return any(self._named(provider, p) for p in self._provided.get(op_name, {}))

    def _no_provider(self, op_name: str, provider: str, where: str) -> str:
        providers = self._provided.get(op_name)
        if not providers:
            return f"{where}: no plugin provides an op named '{op_name}'"
        known = ", ".join(sorted(self._plugins[p].distribution or p for p in providers))
        return f"{where}: op '{op_name}' is not provided by '{provider}' (its providers: {known})"

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
        for name, rivals in conflicts.items():
            if name not in self._conflicts:
                self._warn(OpConflictError(conflict_message(name, rivals)))
        for name, rivals in shadowed.items():
            if name not in self._shadowed:
                self._warn(OpConflictError(shadow_message(name, table[name], rivals)))
        self._table, self._conflicts, self._shadowed = table, conflicts, shadowed
        if self.active:
            self._install()

    def _warn(self, error: PluginError) -> None:
        if self.strict:
            raise error
        warnings.warn(str(error), PluginWarning, stacklevel=5)

    def _choose(self, name: str, providers: dict[str, BoundOp]) -> BoundOp | None:
        if name in self._overrides:
            return providers[self._overrides[name]]
        if len(providers) == 1:
            return next(iter(providers.values()))
        wanted = self._preferred.get(name)
        chosen = [op for p, op in providers.items() if wanted and self._named(wanted, p)]
        return chosen[0] if chosen else providers.get(BUILTIN_MODULE)  # built-ins keep theirs

    def _install(self) -> None:
        functions = {name: op_function(op) for name, op in self._table.items()}
        for name, rivals in self._conflicts.items():
            functions[name] = conflict_function(name, rivals)
        ops._install(functions)

    @property
    def ops(self) -> dict[str, BoundOp]:
        """Every usable op, by name (conflicted names are left out)."""
        self.load()
        return dict(self._table)

    @property
    def conflicts(self) -> dict[str, list[BoundOp]]:
        """Op names more than one plugin provides, with no choice made."""
        self.load()
        return dict(self._conflicts)

    @property
    def shadowed(self) -> dict[str, list[BoundOp]]:
        """Plugin ops that lost their name to a built-in (no choice made)."""
        self.load()
        return dict(self._shadowed)

    def get(self, name: str) -> BoundOp:
        """The op registered under ``name``."""
        self.load()
        if name in self._conflicts:
            raise OpConflictError(conflict_message(name, self._conflicts[name]))
        try:
            return self._table[name]
        except KeyError:
            raise self.unknown_op_error(name) from None

    def unknown_op_error(self, name: str) -> UnknownOpError:
        import difflib

        near = difflib.get_close_matches(name, list(self._table), n=3)
        hint = f"; did you mean {' or '.join(repr(n) for n in near)}?" if near else \
            " (see `picograd ops`)"
        return UnknownOpError(f"no op named '{name}' is registered{hint}")
