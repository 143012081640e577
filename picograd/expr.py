"""A small, safe expression language for ``picograd graph``.

    tanh(x * w + b)        (a - b) ** 2 / b        leaky_relu(-x, slope=0.1)

Python's ``ast`` module only *parses* the text; nothing is ever eval'ed, exec'ed or
compiled to code. The tree is then checked against an allowlist: numbers, input
names, ``+ - * / **``, unary ``-`` and ``+``, and calls of registered op names (built
in or plugin) whose keywords are the op's attributes with literal values. Anything
else (attribute access, subscripts, lambdas, comprehensions, strings, ...) is an
ExprError naming the construct, raised before a single op runs. Every operand is a
float, so ``9 ** 9 ** 9`` overflows at once instead of building a huge integer; an
attribute keeps the type written (``column(x, index=1)``, ``target=2``), except that an
integer for an attribute whose default is a float becomes a float (``slope=1``).
"""

from __future__ import annotations

import ast
import math
import unicodedata
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from . import ops
from .engine import Value

MAX_LENGTH = 1000  # characters in an expression
MAX_DEPTH = 100  # nesting of operators and calls
MAX_INT_ATTRIBUTE = 2**63 - 1  # an integer attribute fits an int64 (numpy indexes with it)
OUTPUT_LABEL = "out"

BINARY: dict[type[ast.operator], str] = {
    ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "div", ast.Pow: "pow",
}
UNARY: dict[type[ast.unaryop], str] = {ast.USub: "neg"}

# The names of constructs people try, for the error message.
FORBIDDEN = {
    ast.Attribute: "attribute access", ast.Subscript: "subscripts", ast.Lambda: "lambdas",
    ast.ListComp: "comprehensions", ast.SetComp: "comprehensions",
    ast.DictComp: "comprehensions", ast.GeneratorExp: "generator expressions",
    ast.Compare: "comparisons", ast.BoolOp: "and/or", ast.IfExp: "if-else expressions",
    ast.NamedExpr: "assignment (:=)", ast.JoinedStr: "f-strings", ast.Starred: "* unpacking",
    ast.List: "lists", ast.Tuple: "tuples", ast.Dict: "dicts", ast.Set: "sets",
    ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "slices",
}
OPERATOR_NAMES = {
    ast.FloorDiv: "//", ast.Mod: "%", ast.MatMult: "@", ast.LShift: "<<", ast.RShift: ">>",
    ast.BitOr: "|", ast.BitXor: "^", ast.BitAnd: "&", ast.Invert: "~", ast.Not: "not",
}


class ExprError(ValueError):
    """The expression or its inputs are not allowed; nothing was computed."""


@dataclass(frozen=True)
class Num:
    value: float


@dataclass(frozen=True)
class Name:
    id: str


@dataclass(frozen=True)
class Apply:
    op: str  # a registered op name
    args: tuple
    attrs: tuple  # (name, value) pairs, in the order written


@dataclass(frozen=True)
class Expr:
    """A checked expression: its tree and the input names it uses, in first-use order."""

    text: str
    tree: Num | Name | Apply
    names: tuple[str, ...]


def parse(text: str) -> Expr:
    """Parse and check ``text``; raise ExprError if anything in it is not allowed."""
    if not isinstance(text, str):
        raise ExprError(f"an expression must be a string, not {type(text).__name__}")
    text = text.strip()
    if not text:
        raise ExprError("the expression is empty")
    if len(text) > MAX_LENGTH:
        raise ExprError(f"the expression is too long ({len(text)} characters; "
                        f"at most {MAX_LENGTH})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings about code we never run
            module = ast.parse(text, mode="eval")
    except SyntaxError as e:
        where = f" (at column {e.offset})" if e.offset else ""
        raise ExprError(f"{e.msg}{where}") from None
    except (ValueError, RecursionError, MemoryError) as e:
        raise ExprError(f"cannot parse the expression: {e or type(e).__name__}") from None
    names: dict[str, None] = {}
    tree = _check(module.body, 0, names)
    return Expr(text, tree, tuple(names))


def _check(node: ast.AST, depth: int, names: dict[str, None]) -> Num | Name | Apply:
    """Turn one allowed ast node into our tree, or raise ExprError."""
    if depth > MAX_DEPTH:
        raise ExprError(f"the expression is nested too deeply (more than {MAX_DEPTH} levels)")
    if isinstance(node, ast.Constant):
        return Num(_number(node.value))
    if isinstance(node, ast.Name):
        if node.id.startswith("_"):
            raise ExprError(f"names starting with '_' are not allowed: {node.id!r}")
        names.setdefault(node.id, None)
        return Name(node.id)
    if isinstance(node, ast.BinOp):
        op = BINARY.get(type(node.op))
        if op is None:
            raise ExprError(f"operator {_operator(node.op)} is not supported "
                            "(use + - * / ** and op calls)")
        args = (_check(node.left, depth + 1, names), _check(node.right, depth + 1, names))
        return Apply(op, args, ())
    if isinstance(node, ast.UnaryOp):
        if isinstance(node.op, ast.UAdd):
            return _check(node.operand, depth + 1, names)
        op = UNARY.get(type(node.op))
        if op is None:
            raise ExprError(f"operator {_operator(node.op)} is not supported")
        return Apply(op, (_check(node.operand, depth + 1, names),), ())
    if isinstance(node, ast.Call):
        return _check_call(node, depth, names)
    what = FORBIDDEN.get(type(node), type(node).__name__)
    raise ExprError(f"{what} not allowed{_column(node)}: only numbers, names, "
                    "+ - * / **, and op calls such as tanh(x)")


def _check_call(node: ast.Call, depth: int, names: dict[str, None]) -> Apply:
    if not isinstance(node.func, ast.Name):
        if isinstance(node.func, ast.Attribute):
            hint = ""
            if node.func.attr in _op_names():
                hint = f"; call ops by name: {node.func.attr}(...)"
            raise ExprError(f"attribute access not allowed{_column(node)}{hint}")
        raise ExprError(f"only registered ops can be called, by name{_column(node)}")
    name = node.func.id
    op = _lookup(name)
    args = []
    for a in node.args:
        if isinstance(a, ast.Starred):
            raise ExprError(f"* unpacking not allowed in {name}(...)")
        args.append(_check(a, depth + 1, names))
    attrs = []
    for kw in node.keywords:
        if kw.arg is None:
            raise ExprError(f"** unpacking not allowed in {name}(...)")
        value = _literal(kw.value, name, kw.arg)
        if type(value) is int and type(op.attrs.get(kw.arg)) is float:
            value = _number(value)  # slope=1 means slope=1.0
        attrs.append((kw.arg, value))
    if op.arity is not None and len(args) != op.arity:
        raise ExprError(f"op '{name}' takes {op.arity} input(s), got {len(args)}")
    if not args:
        raise ExprError(f"op '{name}' needs at least one input")
    try:
        op.op.attribute_values(dict(attrs))
    except TypeError as e:
        raise ExprError(str(e)) from None
    return Apply(name, tuple(args), tuple(attrs))


def _lookup(name: str) -> Any:
    from .active import active_registry
    from .errors import PluginError

    if name.startswith("_"):
        raise ExprError(f"names starting with '_' are not allowed: {name!r}")
    try:
        return active_registry().get(name)
    except (AttributeError, PluginError) as e:  # unknown, or claimed by two plugins
        raise ExprError(str(e)) from None


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ExprError(f"{value!r} is not a number; only numbers are allowed as operands")
    try:
        x = float(value)
    except OverflowError:
        raise ExprError("a number in the expression is too large") from None
    if not math.isfinite(x):
        raise ExprError("a number in the expression is too large")
    return x


def _literal(node: ast.AST, op: str, attr: str) -> Any:
    """An attribute value as written: an int or a float (maybe negative), True/False or
    a short string."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        sign = -1 if isinstance(node.op, ast.USub) else 1
        node = node.operand
        if isinstance(node, ast.Constant) and not isinstance(node.value, bool):
            return sign * _attribute_number(node.value)
    elif isinstance(node, ast.Constant):
        v = node.value
        if isinstance(v, bool) or (isinstance(v, str) and len(v) <= 100):
            return v
        return _attribute_number(v)
    raise ExprError(f"attribute {attr}= of op '{op}' must be a literal number, "
                    "True/False or a short string")


def _attribute_number(value: Any) -> int | float:
    """An int stays an int (an index, a class, a count); anything else is a float."""
    if type(value) is int:
        if abs(value) > MAX_INT_ATTRIBUTE:
            raise ExprError("an integer attribute must be between -(2**63 - 1) and 2**63 - 1")
        return value
    return _number(value)


def _operator(op: ast.AST) -> str:
    return OPERATOR_NAMES.get(type(op), type(op).__name__)


def _column(node: ast.AST) -> str:
    offset = getattr(node, "col_offset", None)
    return "" if offset is None else f" (at column {offset + 1})"


def parse_assignments(items: Iterable[str]) -> dict[str, float]:
    """``["x=2", "y=-1.5"]`` -> ``{"x": 2.0, "y": -1.5}``, checked."""
    inputs: dict[str, float] = {}
    for item in items:
        name, eq, text = item.partition("=")
        name = unicodedata.normalize("NFKC", name.strip())  # as Python reads names
        if not eq:
            raise ExprError(f"an input is NAME=VALUE, e.g. x=2.0; got {item!r}")
        if not name.isidentifier() or name.startswith("_"):
            raise ExprError(f"{name!r} is not a valid input name (letters, digits, _; "
                            "not starting with _ or a digit)")
        if name in inputs:
            raise ExprError(f"input {name!r} is given twice")
        try:
            value = float(text)
        except ValueError:
            raise ExprError(f"the value of {name} must be a number, got {text!r}") from None
        if not math.isfinite(value):
            raise ExprError(f"the value of {name} must be finite, got {text!r}")
        inputs[name] = value
    return inputs


def evaluate(expression: str | Expr, inputs: Mapping[str, float]) -> tuple[Value, dict]:
    """Compute the expression on ``inputs``; return the output Value and the input Values.

    Inputs are leaf Values labelled with their names (in the order given); every
    number written in the expression is a constant. Raises ExprError, before any op
    runs, if the expression is not allowed or uses a name without a value.
    """
    expr = expression if isinstance(expression, Expr) else parse(expression)
    missing = [n for n in expr.names if n not in inputs]
    if missing:
        given = ", ".join(inputs) or "none"
        first = missing[0]
        if first in _op_names():
            raise ExprError(f"'{first}' is an op: call it, e.g. {first}(x)")
        raise ExprError(f"unknown name {_shown(first)}: give it a value, e.g. "
                        f"{_shown(first, quote=False)}=1.0 (inputs given: {given})")
    for name, x in inputs.items():
        if isinstance(x, bool) or not isinstance(x, (int, float)):
            raise ExprError(f"the value of {_shown(name)} must be a number, got {x!r}"[:200])
    leaves = {name: Value(float(x), label=name) for name, x in inputs.items()}
    out = _run(expr.tree, leaves)
    if out.label == "" and out.op is not None:
        out.label = OUTPUT_LABEL
    return out, leaves


def _run(node: Num | Name | Apply, leaves: Mapping[str, Value]) -> Value:
    if isinstance(node, Num):
        return Value(node.value, requires_grad=False)
    if isinstance(node, Name):
        return leaves[node.id]
    args = [_run(a, leaves) for a in node.args]
    return getattr(ops, node.op)(*args, **dict(node.attrs))


def _shown(name: str, quote: bool = True) -> str:
    """A name for a message, cut short if someone wrote a very long one."""
    name = name if len(name) <= 40 else name[:37] + "..."
    return repr(name) if quote else name


def _op_names() -> set[str]:
    from .active import active_registry

    return set(active_registry().ops)
