"""``picograd graph "EXPR" x=... y=...``: evaluate, backpropagate, print, draw."""

from __future__ import annotations

import argparse
import os
import warnings
from typing import Any

from . import USAGE, CommandError, output_problem, render, write_file

FORMATS = ("png", "svg", "pdf")

DESCRIPTION = """\
Evaluate EXPR on the given inputs, backpropagate, print the result and the gradient of
each input, and draw the computation graph.

EXPR may use numbers, input names, + - * / ** and unary -, and calls of registered ops
(built-in or plugin), with attributes as keywords: tanh(x), leaky_relu(x, slope=0.1),
column(x, index=1). Nothing else is allowed and nothing is ever eval'ed. Give each
input as NAME=VALUE.

examples:
  picograd graph "tanh(x*w + b)" x=2 w=-0.5 b=0.8
  picograd graph "(a - b) ** 2 / b" a=3 b=1.5 --out sq.svg
  picograd graph "tanh(x*w + b)" x=2 w=-0.5 b=0.8 --html backprop.html   (step by step)
  picograd graph -- "-x * y" x=1 y=2        (-- before an EXPR starting with -)

exit status: 0 ok; 1 an op failed on these numbers, or the picture could not be drawn
or written (without `dot`, the DOT source is written next to --out instead); 2 a bad
expression, input or option."""


def add_commands(subparsers: Any) -> None:
    """Add ``picograd graph``."""
    from ..draw import MAX_NODES

    p = subparsers.add_parser(
        "graph", help="draw the computation graph of an expression",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("expression", metavar="EXPR", help="the expression, e.g. 'x*y + tanh(x)'")
    p.add_argument("inputs", nargs="*", metavar="NAME=VALUE", help="an input and its value")
    p.add_argument("-o", "--out", metavar="PATH",
                   help="where to write the picture (default: graph.FORMAT)")
    p.add_argument("-f", "--format", choices=FORMATS,
                   help="picture format (default: from --out's suffix, else png)")
    p.add_argument("--rankdir", choices=("LR", "TB"), default="LR",
                   help="layout direction: left to right (default) or top to bottom")
    p.add_argument("--max-nodes", type=int, default=MAX_NODES, metavar="N",
                   help=f"draw at most N values (default {MAX_NODES}; 0 draws all)")
    p.add_argument("--html", metavar="PATH",
                   help="write the step-by-step backprop explorer page (picograd.explore) to "
                        "PATH, instead of a picture unless --out is given too")
    p.set_defaults(func=run)


def _format_and_path(fmt: str | None, path: str | None) -> tuple[str, str]:
    if path is not None:
        suffix = os.path.splitext(path)[1].lstrip(".").lower()
        if fmt is None and suffix not in FORMATS:
            raise CommandError(f"cannot tell the format from --out {path!r}: pass --format "
                               f"({', '.join(FORMATS)})", USAGE)
        if fmt is not None and suffix in FORMATS and suffix != fmt:
            raise CommandError(f"--out {path!r} does not match --format {fmt}", USAGE)
        fmt = fmt or suffix
    fmt = fmt or "png"
    return fmt, path or f"graph.{fmt}"


def run(args: argparse.Namespace) -> int:
    """``picograd graph``: parse, forward, backward, print, draw."""
    from .. import expr
    from ..draw import INSTALL_HINT, DotNotFoundError, GraphTruncatedWarning, draw_dot

    fmt, path = _format_and_path(args.format, args.out)
    problem = output_problem(path)
    if problem:
        raise CommandError(f"argument --out: {problem}", USAGE)
    if args.html is not None and output_problem(args.html):
        raise CommandError(f"argument --html: {output_problem(args.html)}", USAGE)
    if args.max_nodes < 0:
        raise CommandError("--max-nodes must be >= 0 (0 draws every value)", USAGE)
    try:
        inputs = expr.parse_assignments(args.inputs)
        parsed = expr.parse(args.expression)
    except expr.ExprError as e:
        raise CommandError(str(e), USAGE) from None
    try:
        out, leaves = expr.evaluate(parsed, inputs)
        if out.requires_grad:
            out.backward()
    except expr.ExprError as e:  # a name without a value
        raise CommandError(str(e), USAGE) from None
    except Exception as e:  # an op failed on these numbers: the engine's message says how
        from ..errors import describe

        raise CommandError(describe(e)) from None

    print(f"{expr.OUTPUT_LABEL} = {out.data:.10g}")
    for name, leaf in leaves.items():
        print(f"d{expr.OUTPUT_LABEL}/d{name} = {leaf.grad:.10g}")

    if args.html is not None:
        from ..explore import explore

        if not out.requires_grad:
            raise CommandError("the expression is a constant: there is no backward pass to "
                               "show", USAGE)
        try:
            page = explore(out, max_nodes=args.max_nodes or None)
        except DotNotFoundError:
            raise CommandError(f"cannot draw the explorer: Graphviz's `dot` program is not on "
                               f"PATH ({INSTALL_HINT})") from None
        write_file(args.html, page.html)
        print(f"wrote {args.html}")
        if args.out is None:
            return 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GraphTruncatedWarning)  # the picture says so
        graph = draw_dot(out, format=fmt, rankdir=args.rankdir,
                         max_nodes=args.max_nodes or None)
    try:
        picture = render(graph, fmt)
    except DotNotFoundError:
        source = os.path.splitext(path)[0] + ".gv"
        write_file(source, graph.source)
        raise CommandError(f"cannot draw the {fmt.upper()}: Graphviz's `dot` program is not "
                           f"on PATH ({INSTALL_HINT}); wrote the DOT source to {source}"
                           ) from None
    write_file(path, picture)
    print(f"wrote {path}")
    return 0
