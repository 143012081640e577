"""The ``picograd`` command: one module per subcommand, each imported only to build its parser.

Every module in COMMANDS defines ``add_commands(subparsers)``; its parsers set ``func``,
which returns the exit status or raises CommandError. The conventions live here, once:

- errors are one line on stderr, ``picograd: error: ...`` (``error()``);
- exit status 0 on success, 1 when the command fails on valid input, 2 for bad usage,
  130 after Ctrl-C;
- output cut short by a closed pipe (``picograd ops | head``) ends quietly.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NoReturn

COMMANDS = ("demo", "graph", "plugins", "check", "new_plugin")  # modules of this package
PROG = "picograd"
FAILED, USAGE, INTERRUPTED = 1, 2, 130
NAME_MAX = 255  # bytes in one file name, on Linux, macOS and Windows file systems alike

__all__ = ["CommandError", "Parser", "build_parser", "error", "main"]


class CommandError(Exception):
    """A command cannot do what was asked: its message is printed, its code is the exit."""

    def __init__(self, message: str, code: int = FAILED) -> None:
        super().__init__(message)
        self.message, self.code = message, code


class Parser(argparse.ArgumentParser):
    """argparse, with usage errors in the one error format (exit status 2)."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        error(message)
        raise SystemExit(USAGE)


def error(message: str) -> None:
    """Print ``picograd: error: message`` on stderr: the one error format."""
    print(f"{PROG}: error: {message}", file=sys.stderr)


def warn(message: str) -> None:
    """Print ``warning: message`` on stderr."""
    print(f"warning: {message}", file=sys.stderr)


def build_parser() -> Parser:
    """The ``picograd`` parser with every subcommand."""
    from .._version import __version__

    parser = Parser(prog=PROG, description="A tiny autograd engine whose ops are plugins.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"{__name__}.{name}").add_commands(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``picograd`` with ``argv`` (default: the command line); return the exit status."""
    _printable_paths()
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
        if getattr(args, "func", None) is None:
            parser.print_help()
            return 0
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return code
    except CommandError as e:
        error(e.message)
        return e.code
    except KeyboardInterrupt:
        error("interrupted")
        return INTERRUPTED
    except BrokenPipeError:
        _drop_stdout()  # the reader went away (picograd ops | head): stop quietly
        return FAILED


def _printable_paths() -> None:
    """Let stdout and stderr show any path: a file name that is not valid in the locale's
    encoding (``\\xff.json``) is printed with a backslash escape, not a traceback."""
    import io

    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper) and stream.errors == "strict":
            stream.reconfigure(errors="backslashreplace")


def _drop_stdout() -> None:
    """Point stdout at /dev/null, so the exit's flush of the rest does not fail again."""
    try:
        fd = sys.stdout.fileno()
    except (AttributeError, OSError, ValueError):
        return  # not a real file (captured in a test): nothing will flush to the pipe
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, fd)
    os.close(devnull)


# ---- shared by the commands ------------------------------------------------------------

def load_registry() -> Any:
    """The active registry, loaded; its plugin warnings go to stderr as plain lines."""
    import warnings

    from ..active import active_registry
    from ..errors import PluginError, PluginWarning

    reg = active_registry()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", PluginWarning)
        try:
            reg.load()
        except PluginError as e:  # strict mode (PICOGRAD_STRICT=1)
            raise CommandError(str(e)) from None
    for w in caught:
        warn(str(w.message))
    return reg


def table(rows: Sequence[Sequence[Any]], header: Sequence[str]) -> str:
    """Rows as left-aligned columns under ``header``."""
    cells = [list(header)] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells)


def output_problem(target: str | os.PathLike, make_dirs: bool = False) -> str | None:
    """Why the file ``target`` cannot be written, or None: checked before any work.

    Names that are too long, a directory in the way, a missing directory (unless
    ``make_dirs``: the command makes it) and a directory where no file can be made.
    """
    import tempfile
    from pathlib import Path

    path = Path(target)
    long = next((p for p in path.parts if len(os.fsencode(p)) > NAME_MAX), None)
    if long is not None:
        return (f"the name {long[:24]}... is {len(os.fsencode(long))} bytes long; "
                f"file systems allow at most {NAME_MAX}")
    base = path.absolute().parent
    try:
        if path.is_dir():
            return f"{path} is a directory, expected a file name"
        while not base.exists() and base != base.parent:
            base = base.parent
        if not base.is_dir():
            return f"{base} exists and is not a directory"
        if base != path.absolute().parent and not make_dirs:
            return f"the directory {path.parent} does not exist"
        with tempfile.TemporaryFile(dir=base):  # unnamed on Linux: nothing to clean up
            pass
    except OSError as e:  # unwritable, read-only, a symlink loop, ...
        return f"cannot write into {base} ({e.strerror or e})"
    return None


@contextmanager
def writing(path: str | os.PathLike) -> Iterator[None]:
    """Turn an OSError while writing ``path`` into a one-line CommandError."""
    try:
        yield
    except OSError as e:
        raise CommandError(f"cannot write {os.fspath(path)}: {e.strerror or e}") from None


def write_file(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``path`` atomically; an OSError is a one-line CommandError."""
    from .._files import write_atomically

    with writing(path):
        write_atomically(path, data)


def render(graph: Any, fmt: str) -> bytes:
    """The picture of a ``draw_dot`` graph; DotNotFoundError if ``dot`` is missing.

    ``dot`` failing (it crashed, or ran out of memory on a huge graph) is a
    CommandError with its own message, not a traceback.
    """
    import subprocess

    try:
        return graph.pipe(format=fmt, quiet=True)  # dot's stderr is in the error
    except subprocess.CalledProcessError as e:
        stderr = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else e.stderr
        why = (stderr or "").strip().splitlines()
        detail = why[-1] if why else f"exit status {e.returncode}"
        raise CommandError(f"Graphviz's dot failed to draw the {fmt.upper()}: {detail}") from None
