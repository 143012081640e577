"""``picograd new-plugin NAME``: scaffold a plugin package (see ``picograd.scaffold``)."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path
from typing import Any

from . import USAGE, CommandError


def add_commands(subparsers: Any) -> None:
    """Add ``picograd new-plugin``."""
    p = subparsers.add_parser(
        "new-plugin", help="scaffold a plugin package",
        description="Write DIR/NAME: a plugin package (pyproject with the entry point and a "
                    "test extra, a module registering an example op, a README and a test) "
                    "that installs and passes its own tests at once.")
    p.add_argument("name", metavar="NAME", help="distribution name, e.g. picograd-swish")
    p.add_argument("--dir", default=".", help="where to create it (default: here)")
    p.set_defaults(func=new_plugin_command)


def _shell(word: str) -> str:
    """``word`` quoted for a POSIX shell: in double quotes when they suffice."""
    return f'"{word}"' if not set(word) & set('"$`\\!') else shlex.quote(word)


def new_plugin_command(args: argparse.Namespace) -> int:
    from ..scaffold import new_plugin

    try:
        root = new_plugin(args.name, args.dir)
    except (ValueError, FileExistsError) as e:
        raise CommandError(str(e), USAGE) from None
    except OSError as e:
        raise CommandError(f"cannot write {e.filename or args.dir}: {e.strerror or e}") from None
    tests = Path(root, "tests")
    print(f"created {root}\n\nnext steps:\n"
          f"  pip install -e {_shell(f'{root}[test]')}\n"
          f"  python -m pytest {shlex.quote(str(tests))}")
    return 0
