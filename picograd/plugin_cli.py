"""``picograd plugins``, ``picograd ops``, ``picograd check`` and ``picograd new-plugin``."""

from __future__ import annotations

import argparse
import json
import re
import string
import sys
import warnings
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

from .op import KINDS


def add_commands(subparsers: Any) -> None:
    """Add the plugin commands to the ``picograd`` command line."""
    p = subparsers.add_parser("plugins", help="list every discovered plugin and its status")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=plugins_command)

    p = subparsers.add_parser("ops", help="list every registered op")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--kind", choices=KINDS, help="only ops of this kind")
    p.set_defaults(func=ops_command)

    p = subparsers.add_parser("check", help="run the gradient and contract checks on ops")
    p.add_argument("names", nargs="*", metavar="NAME", help="ops to check (default: all)")
    p.set_defaults(func=check_command)

    p = subparsers.add_parser("new-plugin", help="scaffold a plugin package")
    p.add_argument("name", metavar="NAME", help="distribution name, e.g. picograd-swish")
    p.add_argument("--dir", default=".", help="where to create it (default: here)")
    p.set_defaults(func=new_plugin_command)


# ---- reading the registry ------------------------------------------------------------

def _registry() -> Any:
    """The active registry, loaded; its plugin warnings go to stderr as plain lines."""
    from .errors import PluginError, PluginWarning
    from .registry import active_registry

    reg = active_registry()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PluginWarning)
        try:
            reg.load()
        except PluginError as e:  # strict mode (PICOGRAD_STRICT=1)
            print(f"picograd: error: {e}", file=sys.stderr)
            raise SystemExit(1) from None
    for w in caught:
        print(f"warning: {w.message}", file=sys.stderr)
    return reg


def _arity(arity: int | None) -> str:
    return "variadic" if arity is None else str(arity)


def _table(rows: Sequence[Sequence[str]], header: Sequence[str]) -> str:
    rows = [list(header)] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    return "\n".join(lines)


def plugins_command(args: argparse.Namespace) -> int:
    infos = [info.as_dict() for info in _registry().plugins.values()]
    if args.json:
        print(json.dumps(infos, indent=2))
        return 0
    rows = [(i["name"], i["distribution"], i["version"], i["entry_point"], i["status"],
             ", ".join(i["ops"]) if i["status"] == "loaded" else i["error"]) for i in infos]
    print(_table(rows, ["PLUGIN", "DISTRIBUTION", "VERSION", "ENTRY POINT", "STATUS",
                        "OPS / ERROR"]))
    return 0


def op_info(reg: Any) -> list[dict[str, Any]]:
    """One dict per op name, conflicted names included (with both providers)."""
    out = []
    for name, op in reg.ops.items():
        row = op.op
        batch = ("vectorized" if row.vectorized else "numpy" if row.array_forward
                 else "composite" if row.composite else "elementwise")
        out.append({"name": name, "kind": op.kind, "arity": op.arity, "attrs": dict(row.attrs),
                    "provider": op.provider, "composite": op.composite, "batch": batch,
                    "doc": op.doc, "conflict": []})
    for name, rivals in reg.conflicts.items():
        out.append({"name": name, "kind": rivals[0].kind, "arity": rivals[0].arity,
                    "attrs": dict(rivals[0].attrs), "provider": None, "composite": False,
                    "batch": "", "doc": "", "conflict": [op.provider for op in rivals]})
    return sorted(out, key=lambda d: d["name"])


def ops_command(args: argparse.Namespace) -> int:
    infos = [i for i in op_info(_registry()) if args.kind in (None, i["kind"])]
    if args.json:
        print(json.dumps(infos, indent=2, default=repr))
        return 0
    rows = [(i["name"], i["kind"], _arity(i["arity"]),
             ", ".join(f"{k}={v!r}" for k, v in i["attrs"].items()) or "-",
             i["provider"] or "CONFLICT: " + " and ".join(i["conflict"]), i["doc"])
            for i in infos]
    print(_table(rows, ["OP", "KIND", "ARITY", "ATTRIBUTES", "PROVIDER", "DOC"]))
    return 0


# ---- picograd check --------------------------------------------------------------------

def check_command(args: argparse.Namespace) -> int:
    from .errors import OpConflictError
    from .testing import run_checks

    reg = _registry()
    unknown = [n for n in args.names if n not in reg.ops and n not in reg.conflicts]
    if unknown:
        print(f"picograd check: no op named {', '.join(unknown)} "
              f"(see `picograd ops`)", file=sys.stderr)
        return 2
    names = args.names or sorted({*reg.ops, *reg.conflicts})
    rows, failures = [], []
    for name in names:
        try:
            results = run_checks(reg.get(name))
        except OpConflictError as e:
            rows.append((name, "CONFLICT", "provider", "FAIL", str(e)))
            failures.append(f"op '{name}': {e}")
            continue
        for r in results:
            rows.append((r.op, r.provider, r.check, "ok" if r.ok else "FAIL", r.detail))
            if not r.ok:
                failures.append(f"op '{r.op}' from {r.provider} failed '{r.check}': {r.detail}")
    print(_table(rows, ["OP", "PROVIDER", "CHECK", "RESULT", "DETAIL"]))
    if failures:
        print(f"\n{len(failures)} check(s) failed:", file=sys.stderr)
        for line in failures:
            print(f"  {line}", file=sys.stderr)
        return 1
    print(f"\n{len(names)} op(s), {len(rows)} checks passed")
    return 0


# ---- picograd new-plugin -----------------------------------------------------------------

TEMPLATES = {  # file in the new package -> template in picograd/templates
    "pyproject.toml": "pyproject.toml.tmpl",
    "README.md": "README.md.tmpl",
    "{module}.py": "module.py.tmpl",
    "tests/test_{module}.py": "test_module.py.tmpl",
}


def new_plugin(name: str, directory: str | Path = ".") -> Path:
    """Write a plugin package ``directory/name`` that installs and passes its tests."""
    from ._version import __version__

    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9]*([-_][A-Za-z0-9]+)*", name):
        raise ValueError(f"{name!r} is not a valid distribution name (e.g. picograd-swish)")
    module = re.sub(r"[-]+", "_", name).lower()
    short = module.removeprefix("picograd_") or module
    fields = {"dist": name, "module": module, "ep": short, "op": f"{short}_cube",
              "picograd_version": __version__}
    root = Path(directory) / name
    if root.exists() and any(root.iterdir()):
        raise FileExistsError(f"{root} already exists and is not empty")
    _check_names(name, module, fields["op"])
    templates = resources.files("picograd") / "templates"
    for target, source in TEMPLATES.items():
        path = root / target.format(**fields)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = string.Template((templates / source).read_text(encoding="utf-8"))
        path.write_text(text.substitute(fields), encoding="utf-8")
    return root


RESERVED_MODULES = {"picograd", "picograd_ops"}  # a plugin module of this name hides ours


def _check_names(name: str, module: str, op: str) -> None:
    """A ValueError unless the package's module and example op get usable names."""
    import importlib.util
    import keyword

    if not module.isidentifier() or keyword.iskeyword(module):
        raise ValueError(f"{name!r} gives the module name {module!r}, which Python cannot "
                         "import (a keyword, or not an identifier); choose another name "
                         "(e.g. picograd-swish)")
    if not op.isidentifier():
        raise ValueError(f"{name!r} gives the example op name {op!r}, which is not a valid "
                         "op name; the part after 'picograd-' must start with a letter")
    if module in RESERVED_MODULES or module in sys.stdlib_module_names:
        raise ValueError(f"{name!r} would write {module}.py, which shadows the module "
                         f"{module!r}; choose another name (e.g. picograd-swish)")
    try:
        taken = importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        taken = True
    if taken:
        raise ValueError(f"{name!r} would write {module}.py, but a module {module!r} is "
                         "already importable here and one would shadow the other; choose "
                         "another name")


def new_plugin_command(args: argparse.Namespace) -> int:
    try:
        root = new_plugin(args.name, args.dir)
    except (ValueError, FileExistsError) as e:
        print(f"picograd new-plugin: {e}", file=sys.stderr)
        return 2
    print(f"created {root}\n\n  pip install -e {root}\n  python -m pytest {root / 'tests'}")
    return 0

