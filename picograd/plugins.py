"""What the registry knows about plugins: how they are found, named, configured and
checked, and how their conflicts are told. (The registry itself: ``registry.py``.)

Choosing what loads (read when the table is first built):

    PICOGRAD_PLUGINS          allowlist of distribution or entry-point names
                              (comma-separated; set but empty = no third-party plugin)
    PICOGRAD_DISABLE_PLUGINS  blocklist, same names; a blocked plugin is never imported
    PICOGRAD_PREFER           "op=provider,...": who provides an op name two plugins claim
    PICOGRAD_STRICT           "1" (or true/yes/on): a failing or conflicting plugin, or an
                              unknown name in the variables above, is an error, not a warning
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import OpConflictError, PluginError
from .hookspecs import hookimpl
from .op import KINDS, Op

DISTRIBUTION = "picogradlib"  # this package's name on the package index
BUILTIN_MODULE = "picograd_ops"
ENTRY_POINT_GROUP = "picograd"
RESERVED = frozenset({"data", "grad", "requires_grad", "backward", "label", "op", "item",
                      "detach", "shape"})  # Value's own attributes, which no op may take
MAX_NAME = 64


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
        return {"name": self.name, "distribution": self.distribution, "version": self.version,
                "entry_point": self.entry_point, "source": self.source, "status": self.status,
                "error": self.error, "ops": list(self.ops)}


def norm(name: str) -> str:
    """A distribution or plugin name as pip compares them: case and -_. don't matter."""
    return re.sub(r"[-_.]+", "-", name).lower().strip()


# ---- the environment ---------------------------------------------------------------------

TRUE, FALSE = ("1", "true", "yes", "on"), ("", "0", "false", "no", "off")


@dataclass
class Env:
    """The PICOGRAD_* variables, parsed; ``problems`` lists what could not be understood
    (errors in strict mode), ``notices`` what is only ever a warning."""

    strict: bool = False
    allow: set[str] | None = None  # None: every plugin
    block: set[str] = field(default_factory=set)
    prefer: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


def parse_env(environ: Mapping[str, str]) -> Env:
    env = Env()
    strict = environ.get("PICOGRAD_STRICT", "").strip().lower()
    if strict not in TRUE + FALSE:  # a warning: strict mode should not fail on itself
        env.notices.append(f"PICOGRAD_STRICT={strict!r} is not one of 1/true/yes/on or "
                            "0/false/no/off; strict mode is on")
    env.strict = strict not in FALSE
    allow = environ.get("PICOGRAD_PLUGINS")
    env.allow = None if allow is None else {norm(n) for n in allow.split(",") if n.strip()}
    env.block = {norm(n) for n in environ.get("PICOGRAD_DISABLE_PLUGINS", "").split(",")
                 if n.strip()}
    for entry in environ.get("PICOGRAD_PREFER", "").split(","):
        op_name, _, provider = (s.strip() for s in entry.partition("="))
        if op_name and provider:
            env.prefer[op_name] = provider
        elif entry.strip():
            env.problems.append(f"PICOGRAD_PREFER entry {entry.strip()!r} is not op=provider")
    return env


def discover(env: Env) -> tuple[list[tuple[Callable[[], Any], PluginInfo]], list[str]]:
    """The installed plugins (entry points of group ``picograd``), in a fixed order, each
    marked blocked if the environment says so; and the names it gives that match none."""
    import importlib.metadata as metadata  # here, not at import: it costs ~13 ms

    found: dict[tuple[str, str], tuple[Any, str, str]] = {}
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = ep.dist.name if ep.dist is not None else "(unknown)"
        version = ep.dist.version if ep.dist is not None else ""
        found.setdefault((norm(dist), ep.name), (ep, dist, version))
    ep_names = [ep_name for _, ep_name in found]
    plugins, known = [], set()
    for key in sorted(found):  # a fixed order, whatever the install order
        ep, dist, version = found[key]
        # a plugin is named by its entry point, or "distribution:entry point" when two
        # distributions chose the same entry-point name
        name = ep.name if ep_names.count(ep.name) == 1 else f"{dist}:{ep.name}"
        info = PluginInfo(name, dist, version, ep.value)
        names = {norm(dist), norm(ep.name)}
        known |= names
        if env.allow is not None and not names & env.allow:
            info.status, info.error = "blocked", "not in PICOGRAD_PLUGINS"
        elif names & env.block:
            info.status, info.error = "blocked", "in PICOGRAD_DISABLE_PLUGINS"
        plugins.append((ep.load, info))
    problems = [f"{var} names {n!r}, which no installed plugin has (installed: "
                f"{', '.join(sorted(known)) or 'none'})"
                for var, names in (("PICOGRAD_PLUGINS", env.allow or set()),
                                   ("PICOGRAD_DISABLE_PLUGINS", env.block))
                for n in sorted(names - known)]
    return plugins, problems


# ---- checking an op before it reaches the table ------------------------------------------

def validate(op: Op) -> None:
    """Reject an op that breaks the contract (a PluginError saying why)."""
    def bad(why: str) -> None:
        raise PluginError(f"invalid op {str(op.name)[:80]!r}: {why}")

    if not isinstance(op.name, str) or not op.name.isidentifier() or op.name.startswith("_"):
        bad("the name must be a Python identifier not starting with '_'")
    if len(op.name) > MAX_NAME:
        bad(f"the name must be at most {MAX_NAME} characters")
    # x.name(...) must reach it: not a keyword (x.if), and as Python reads names (NFKC:
    # a fullwidth name in source is the plain one)
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
    if not (op.grad_backward is None or isinstance(op.grad_backward, bool)
            or callable(op.grad_backward)):
        bad("grad_backward must be True (backward works on Values), a function, or None")
    if op.grad_backward is not None and op.backward is None:
        bad("grad_backward needs a backward: a composite op is differentiated through its parts")
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


# ---- conflicts -------------------------------------------------------------------------------

def conflict_message(name: str, rivals: Sequence[Any]) -> str:
    who = " and ".join(op.provider for op in rivals)
    return (f"op '{name}' is provided by both {who}; choose one with "
            f"PICOGRAD_PREFER={name}=<distribution> or picograd.prefer('{name}', '<distribution>')")


def conflict_function(name: str, rivals: Sequence[Any]) -> Callable[..., Any]:
    def conflicted(*args: Any, **kwargs: Any) -> Any:
        raise OpConflictError(conflict_message(name, rivals))

    conflicted.__name__ = name
    return conflicted


def shadow_message(name: str, builtin: Any, rivals: Sequence[Any]) -> str:
    who = " and ".join(op.provider for op in rivals)
    return (f"op '{name}' from {who} is not used: the built-in '{name}' ({builtin.provider}) "
            f"keeps the name; to use the plugin's, set PICOGRAD_PREFER={name}=<distribution> "
            f"or call picograd.prefer('{name}', '<distribution>')")


# ---- in-process plugins ---------------------------------------------------------------------

class OneOp:
    """The in-process plugin ``register_op`` makes for one op."""

    def __init__(self, op: Op, override: bool) -> None:
        self.op, self.override = op, override

    @hookimpl
    def picograd_register_ops(self, register: Callable[..., None]) -> None:
        register(self.op, override=self.override)


class PluginHandle:
    """Returned by ``register_plugin``; unregisters on ``unregister()`` or on leaving a ``with``."""

    def __init__(self, registry: Any, name: str) -> None:
        self.registry, self.name = registry, name

    def unregister(self) -> None:
        """Remove the plugin; a second call does nothing."""
        if self.name in self.registry._plugins:
            self.registry.unregister(self.name)

    def __enter__(self) -> PluginHandle:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.unregister()
