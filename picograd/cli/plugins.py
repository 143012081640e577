"""``picograd plugins`` and ``picograd ops``: what is installed, and what it provides."""

from __future__ import annotations

import argparse
import json
from typing import Any

from . import load_registry, table

__all__ = ["add_commands", "op_info"]


def add_commands(subparsers: Any) -> None:
    """Add ``picograd plugins`` and ``picograd ops``."""
    from ..op import KINDS

    p = subparsers.add_parser(
        "plugins", help="list every discovered plugin and its status",
        description="List every picograd plugin found through the `picograd` entry-point "
                    "group (and the built-ins): its distribution, version, entry point, "
                    "status (loaded, failed, blocked) and its ops, or why it failed.")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=plugins_command)

    p = subparsers.add_parser(
        "ops", help="list every registered op",
        description="List every registered op, built-in or plugin: its kind, arity, "
                    "attributes with their defaults, provider and one-line doc. A name two "
                    "plugins claim shows both providers.")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.add_argument("--kind", choices=KINDS, help="only ops of this kind")
    p.set_defaults(func=ops_command)


def plugins_command(args: argparse.Namespace) -> int:
    infos = [info.as_dict() for info in load_registry().plugins.values()]
    if args.json:
        print(json.dumps(infos, indent=2))
        return 0
    rows = [(i["name"], i["distribution"], i["version"], i["entry_point"], i["status"],
             ", ".join(i["ops"]) if i["status"] == "loaded" else i["error"]) for i in infos]
    print(table(rows, ["PLUGIN", "DISTRIBUTION", "VERSION", "ENTRY POINT", "STATUS",
                       "OPS / ERROR"]))
    return 0


def op_info(reg: Any) -> list[dict[str, Any]]:
    """One dict per op name, conflicted names included (with both providers)."""
    out = []
    for name, op in reg.ops.items():
        row = op.op  # the Op as its plugin wrote it
        batch = ("vectorized" if row.vectorized else "numpy" if row.array_forward
                 else "composite" if op.composite else "elementwise")
        out.append({"name": name, "kind": op.kind, "arity": op.arity, "attrs": dict(op.attrs),
                    "provider": op.provider, "composite": op.composite, "batch": batch,
                    "doc": op.doc, "conflict": []})
    for name, rivals in reg.conflicts.items():
        out.append({"name": name, "kind": rivals[0].kind, "arity": rivals[0].arity,
                    "attrs": dict(rivals[0].attrs), "provider": None, "composite": False,
                    "batch": "", "doc": "", "conflict": [op.provider for op in rivals]})
    return sorted(out, key=lambda d: d["name"])


def ops_command(args: argparse.Namespace) -> int:
    infos = [i for i in op_info(load_registry()) if args.kind in (None, i["kind"])]
    if args.json:
        print(json.dumps(infos, indent=2, default=repr))
        return 0
    rows = [(i["name"], i["kind"], "variadic" if i["arity"] is None else i["arity"],
             ", ".join(f"{k}={v!r}" for k, v in i["attrs"].items()) or "-",
             i["provider"] or "CONFLICT: " + " and ".join(i["conflict"]), i["doc"])
            for i in infos]
    print(table(rows, ["OP", "KIND", "ARITY", "ATTRIBUTES", "PROVIDER", "DOC"]))
    return 0
