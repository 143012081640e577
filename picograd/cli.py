"""The ``picograd`` command: one subcommand per module, imported only when used."""

from __future__ import annotations

import argparse
import importlib
import sys

# Each module here defines ``add_commands(subparsers)``; its parsers set ``func``.
COMMAND_MODULES = ("picograd.demo", "picograd.draw", "picograd.plugin_cli")


def build_parser() -> argparse.ArgumentParser:
    from ._version import __version__

    parser = argparse.ArgumentParser(
        prog="picograd", description="A tiny autograd engine whose ops are plugins."
    )
    parser.add_argument("--version", action="version", version=f"picograd {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name != name:
                raise
            continue  # that command is not built yet
        module.add_commands(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help()
        return 0 if args.command is None else 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
