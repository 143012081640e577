"""``picograd check [NAME ...]``: the shared gradient and contract checks, on every op."""

from __future__ import annotations

import argparse
import json
from typing import Any

from . import USAGE, CommandError, load_registry, table

DESCRIPTION = """\
Run picograd's checker (picograd.testing.run_checks) on the named ops, or on every
registered op: forward returns a float and is deterministic, backward returns one
gradient per input, the gradients match float64 finite differences at each sample,
attributes are keywords and never differentiated, and arrays give the same numbers.

By default it prints the failures and a summary; -v prints every check, --json every
check as JSON. exit status: 0 all passed, 1 a check failed, 2 an unknown op name."""


def add_commands(subparsers: Any) -> None:
    """Add ``picograd check``."""
    p = subparsers.add_parser("check", help="run the gradient and contract checks on ops",
                              description=DESCRIPTION,
                              formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("names", nargs="*", metavar="NAME", help="ops to check (default: all)")
    how = p.add_mutually_exclusive_group()
    how.add_argument("-v", "--verbose", action="store_true", help="print every check")
    how.add_argument("--json", action="store_true", help="print every check as JSON")
    p.set_defaults(func=check_command)


def results(reg: Any, names: list[str]) -> list[dict[str, Any]]:
    """One dict per check (op, provider, check, ok, detail); a conflicted name is one row."""
    from ..errors import OpConflictError
    from ..testing import run_checks

    rows = []
    for name in names:
        try:
            checks = run_checks(reg.get(name))
        except OpConflictError as e:
            rows.append({"op": name, "provider": None, "check": "provider", "ok": False,
                         "detail": str(e)})
            continue
        rows += [{"op": r.op, "provider": r.provider, "check": r.check, "ok": r.ok,
                  "detail": r.detail} for r in checks]
    return rows


def check_command(args: argparse.Namespace) -> int:
    reg = load_registry()
    known = {*reg.ops, *reg.conflicts}
    unknown = [n for n in args.names if n not in known]
    if unknown:
        raise CommandError(f"no op named {', '.join(unknown)} (see `picograd ops`)", USAGE)
    names = args.names or sorted(known)
    rows = results(reg, names)
    failed = [r for r in rows if not r["ok"]]
    if args.json:
        print(json.dumps(rows, indent=2))
    elif args.verbose:
        print(table([(r["op"], r["provider"] or "CONFLICT", r["check"],
                       "ok" if r["ok"] else "FAIL", r["detail"]) for r in rows],
                    ["OP", "PROVIDER", "CHECK", "RESULT", "DETAIL"]))
    else:
        for r in failed:
            source = f" from {r['provider']}" if r["provider"] else ""
            print(f"FAIL op '{r['op']}'{source} failed '{r['check']}': {r['detail']}")
    if failed:
        raise CommandError(f"{len(failed)} of {len(rows)} checks failed "
                           f"({len({r['op'] for r in failed})} of {len(names)} op(s))")
    if not args.json:
        print(f"{len(names)} op(s), {len(rows)} checks passed")
    return 0
