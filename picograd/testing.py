"""The checking kit: one gradient checker for every op, built-in or plugin.

    from picograd.testing import gradcheck, gradgradcheck, check_op

    gradcheck(lambda x, y: (x * y).tanh(), [0.5, -1.5])   # any function of Values
    gradgradcheck(lambda x, y: (x * y).tanh(), [0.5, -1.5])  # its second derivatives
    check_op("gelu")                                      # the whole contract of one op

They compare the engine's gradients with float64 central finite differences (second
derivatives: of the first derivatives) and raise ``GradcheckError`` naming the op,
the input and both numbers when they disagree.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from .active import active_registry
from .apply import op_function
from .engine import Value
from .grad import NoGradBackward, grad
from .kernel import BoundOp
from .op import Op
from .plugins import derivative_problem

DEFAULT_SAMPLES = (0.7, -0.4, 1.3, -1.1)  # where an op without samples is checked


class GradcheckError(AssertionError):
    """The analytic gradient disagrees with finite differences, or the contract is broken."""


def numeric_gradient(f: Callable[[Sequence[float]], float], xs: Sequence[float],
                     eps: float = 1e-6) -> list[float]:
    """d f / d x_i by central differences, a step of ``eps`` scaled to each x_i."""
    grads = []
    for i, x in enumerate(xs):
        h = eps * max(1.0, abs(x))
        up, down = list(xs), list(xs)
        up[i], down[i] = x + h, x - h
        grads.append((f(up) - f(down)) / (2 * h))
    return grads


def _close(a: float, b: float, atol: float, rtol: float) -> bool:
    return abs(a - b) <= atol + rtol * abs(b)


def gradcheck(fn: Callable[..., Value], inputs: Sequence[float], *, eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-4, name: str | None = None) -> list[float]:
    """Check ``fn``'s gradients at ``inputs`` against finite differences; return them.

    ``fn`` takes one Value per input and returns a Value (a scalar).
    """
    label = name or getattr(fn, "__name__", "function")
    xs = [float(x) for x in inputs]
    values = [Value(x) for x in xs]
    out = fn(*values)
    out.backward()
    analytic = [v.grad for v in values]

    def f(point: Sequence[float]) -> float:
        return float(fn(*[Value(p) for p in point]).data)

    numeric = numeric_gradient(f, xs, eps)
    for i, (a, n) in enumerate(zip(analytic, numeric)):
        if not (math.isfinite(a) and _close(a, n, atol, rtol)):
            raise GradcheckError(
                f"{label} at {tuple(xs)}: d/dx{i} is {a!r} by backward but {n!r} by "
                f"finite differences"
            )
    return analytic


@dataclass
class CheckResult:
    """One contract check of one op: what ``picograd check`` prints a row for."""

    op: str
    provider: str
    check: str
    ok: bool
    detail: str = ""


def check_op(op: Op | BoundOp | str, *, batch: bool = True) -> list[CheckResult]:
    """Run every contract check on one op; raise GradcheckError if any fails.

    Checks: forward returns a number and is deterministic; backward returns one
    gradient per input; gradients match finite differences at each sample (and
    through the engine); attributes are keywords, never differentiated; and, with
    ``batch``, the op gives the same values and gradients on numpy arrays.
    """
    results = run_checks(op, batch=batch)
    failed = [r for r in results if not r.ok]
    if failed:
        lines = "; ".join(f"{r.check}: {r.detail}" for r in failed)
        raise GradcheckError(f"op '{failed[0].op}' ({failed[0].provider}) failed {lines}")
    return results


def run_checks(op: Op | BoundOp | str, *, batch: bool = True) -> list[CheckResult]:
    """Like ``check_op`` but returns every result, passed or not, without raising."""
    if isinstance(op, str):
        op = active_registry().get(op)
    elif isinstance(op, Op):  # not registered (yet): checked as it is
        op = BoundOp.of(op, "an unregistered op")
    results: list[CheckResult] = []

    def record(check: str, fn: Callable[[], str | None]) -> None:
        try:
            detail = fn() or ""
            results.append(CheckResult(op.name, op.provider, check, True, detail))
        except Exception as e:  # a failed check is a row, not a crash
            results.append(CheckResult(op.name, op.provider, check, False, _describe(e)))

    samples = _samples(op)
    record("derivative text", lambda: _check_derivative(op))
    if op.composite:
        record("gradients", lambda: _check_engine_gradients(op, samples))
        _record_second_derivatives(op, samples, False, results)
        return results
    bound = op
    record("forward", lambda: _check_forward(bound, samples))
    record("gradient count", lambda: _check_gradient_count(bound, samples))
    record("gradients", lambda: _check_engine_gradients(op, samples))
    if op.attrs:
        record("attributes", lambda: _check_attributes(op, samples))
    if op.needs_input_grad:
        record("needs_input_grad", lambda: _check_needs_input_grad(bound, samples))
    if batch:
        record("batch", lambda: _check_batch(bound, samples))
    _record_second_derivatives(op, samples, batch, results)
    return results


def _describe(e: Exception) -> str:
    return str(e) if isinstance(e, GradcheckError) else f"{type(e).__name__}: {e}"


def _samples(op: BoundOp) -> list[tuple]:
    if op.samples:
        return [tuple(float(x) for x in s) for s in op.samples]
    n = op.arity or 3
    return [tuple(DEFAULT_SAMPLES[(i + j) % len(DEFAULT_SAMPLES)] for j in range(n))
            for i in range(2)]


def _check_derivative(op: BoundOp) -> str:
    problem = derivative_problem(op.op)
    if problem:
        raise GradcheckError(problem)
    return "" if op.op.derivative else "none: explore shows the numbers only"


def _backward(op: BoundOp) -> Callable[..., Any]:
    if op.backward is None:  # (composite ops are checked through the engine only)
        raise GradcheckError(f"op '{op.name}' is composite: it has no backward to call")
    return op.backward


def _check_forward(op: BoundOp, samples: list[tuple]) -> str:
    for xs in samples:
        y1, y2 = op.forward(*xs), op.forward(*xs)
        if not isinstance(y1, float):  # a Python float (numpy's float64 is one too)
            raise GradcheckError(
                f"forward{xs} returned {type(y1).__module__}.{type(y1).__name__} {y1!r}, "
                "not a float (convert it with float(...))")
        if not (y1 == y2 or (math.isnan(y1) and math.isnan(y2))):
            raise GradcheckError(f"forward{xs} is not deterministic: {y1!r} then {y2!r}")
    return f"{len(samples)} sample(s)"


def _check_needs_input_grad(op: BoundOp, samples: list[tuple]) -> str:
    # Leaving one input out may change only that input's gradient.
    backward = _backward(op)
    for xs in samples:
        y = op.forward(*xs)
        every = backward(1.0, y, *xs)
        for i in range(len(xs)):
            needs = tuple(j != i for j in range(len(xs)))
            some = backward(1.0, y, *xs, needs_input_grad=needs)
            for j, (a, b) in enumerate(zip(every, some)):
                if j != i and not (a == b or (math.isnan(a) and math.isnan(b))):
                    raise GradcheckError(
                        f"backward{xs} with needs_input_grad={needs} changed the gradient "
                        f"of input {j}: {a!r} without it, {b!r} with it")
    return "each input left out in turn"


def _check_gradient_count(op: BoundOp, samples: list[tuple]) -> None:
    for xs in samples:
        grads = _backward(op)(1.0, op.forward(*xs), *xs)
        if not isinstance(grads, tuple) or len(grads) != len(xs):
            got = f"{len(grads)}" if isinstance(grads, tuple) else f"a {type(grads).__name__}"
            raise GradcheckError(
                f"backward{xs} must return a tuple of {len(xs)} gradient(s), got {got}"
            )


def _check_engine_gradients(op: BoundOp, samples: list[tuple], **attrs: Any) -> str:
    fn = op_function(op)
    for xs in samples:
        gradcheck(lambda *vs: fn(*vs, **attrs), xs, name=op.bind(attrs).label)
    return f"{len(samples)} sample(s)"


def _check_attributes(op: BoundOp, samples: list[tuple]) -> str:
    # Attributes are passed by keyword and never get a gradient: the gradient count
    # stays one per input, and explicit defaults give the same numbers as none. The
    # gradients must also be right at other attribute values (floats moved, bools
    # flipped; ints are left alone, as they usually describe a layout).
    fn = op_function(op)
    for xs in samples:
        plain, explicit = fn(*xs), fn(*xs, **dict(op.attrs))
        if plain.data != explicit.data:
            raise GradcheckError(f"explicit default attributes change forward{xs}")
    _check_engine_gradients(op, samples, **dict(op.attrs))
    changed = {k: _another(v) for k, v in op.attrs.items()}
    if changed != dict(op.attrs):
        _check_engine_gradients(op, samples, **changed)
        return ", ".join(f"{k}={v!r}" for k, v in changed.items()) + " too"
    return ", ".join(op.attrs)


def _another(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    return value * 1.5 + 0.25 if isinstance(value, float) else value


def _check_batch(op: BoundOp, samples: list[tuple]) -> str:
    # Samples of one length are stacked into columns: one batch per length (a
    # variadic op's samples may differ in length).
    groups: dict[int, list[tuple]] = {}
    for xs in samples:
        groups.setdefault(len(xs), []).append(xs)
    return "; ".join(_check_batch_of(op, group) for group in groups.values())


def _check_batch_of(op: BoundOp, samples: list[tuple]) -> str:
    import numpy as np

    columns = [np.array(c, dtype=float) for c in zip(*samples)]
    arrays = op.for_arrays()
    ys = arrays.forward(*columns)
    if np.ndim(ys) == 0 and len(samples) > 1:  # one number for the batch: a reduction
        return _check_reduction(op, samples, columns)
    grads = _backward(arrays)(np.ones(len(samples)), ys, *columns)
    for k, xs in enumerate(samples):
        y = op.forward(*xs)
        if not _close(float(np.asarray(ys)[k]), y, 1e-12, 1e-9):
            raise GradcheckError(f"array forward{xs} gives {np.asarray(ys)[k]!r}, scalar {y!r}")
        scalar = _backward(op)(1.0, y, *xs)
        for i, (ga, gs) in enumerate(zip(grads, scalar)):
            if not _close(float(np.asarray(ga)[k]), float(gs), 1e-12, 1e-9):
                raise GradcheckError(
                    f"array backward{xs}: d/dx{i} is {np.asarray(ga)[k]!r}, scalar {gs!r}"
                )
    how = ("vectorized" if op.op.vectorized else "array_forward" if op.op.array_forward
           else "elementwise")
    return f"{len(samples)} sample(s), {how}"


def _check_reduction(op: BoundOp, samples: list[tuple], columns: list) -> str:
    # An op that reduces a batch to one number (sum, mean): on a batch of one it is
    # the scalar op, and its array gradients match finite differences entry by entry.
    import numpy as np

    arrays = op.for_arrays()
    for xs in samples:
        y1, y = arrays.forward(*[np.array([x]) for x in xs]), op.forward(*xs)
        if not _close(float(y1), y, 1e-12, 1e-9):
            raise GradcheckError(f"array forward of the batch {xs} gives {y1!r}, scalar {y!r}")
    y = arrays.forward(*columns)
    grads = _backward(arrays)(1.0, y, *columns)
    for i, column in enumerate(columns):
        for k in range(len(column)):
            def f(point: Sequence[float], i: int = i, k: int = k) -> float:
                moved = [c.copy() for c in columns]
                moved[i][k] = point[0]
                return float(arrays.forward(*moved))

            (n,) = numeric_gradient(f, [float(column[k])])
            a = float(np.asarray(grads[i])[k])
            if not _close(a, n, 1e-5, 1e-4):
                raise GradcheckError(
                    f"array backward: d/dx{i}[{k}] is {a!r} by backward but {n!r} by "
                    "finite differences"
                )
    return f"{len(samples)} sample(s), reduction"


# ---- second derivatives -------------------------------------------------------------

def gradgradcheck(fn: Callable[..., Value], inputs: Sequence[float], *, eps: float = 1e-6,
                  atol: float = 1e-5, rtol: float = 1e-4,
                  name: str | None = None) -> list[list[float]]:
    """Check ``fn``'s second derivatives at ``inputs``; return them (the Hessian).

    Row i is d/dx_j of the first derivative d fn/d x_i that ``picograd.grad(...,
    create_graph=True)`` builds, compared with central finite differences of the
    engine's plain first derivative. The first derivative built as a graph must also
    have the plain one's value.
    """
    label = name or getattr(fn, "__name__", "function")
    xs = [float(x) for x in inputs]

    def first(point: Sequence[float]) -> tuple[Any, ...]:
        values = [Value(p) for p in point]
        return grad(fn(*values), values)

    values = [Value(x) for x in xs]
    graphs = grad(fn(*values), values, create_graph=True)
    hessian = []
    for i, (gi, plain) in enumerate(zip(graphs, first(xs))):
        if not _close(gi.data, plain, 1e-12, 1e-9):
            raise GradcheckError(f"{label} at {tuple(xs)}: d/dx{i} is {gi.data!r} with "
                                 f"create_graph=True but {plain!r} without")
        row = list(grad(gi, values))

        def first_i(point: Sequence[float], i: int = i) -> float:
            return float(first(point)[i])

        numeric = numeric_gradient(first_i, xs, eps)
        for j, (a, n) in enumerate(zip(row, numeric)):
            if not (math.isfinite(a) and _close(a, n, atol, rtol)):
                raise GradcheckError(
                    f"{label} at {tuple(xs)}: d2/dx{i}dx{j} is {a!r} by create_graph but "
                    f"{n!r} by finite differences of d/dx{i}")
        hessian.append(row)
    return hessian


def _record_second_derivatives(op: BoundOp, samples: list[tuple], batch: bool,
                               results: list[CheckResult]) -> None:
    # One row: the op's Hessian at each sample (at other attribute values too) and,
    # with ``batch``, on arrays; or, for an op without grad_backward, "not supported".
    check = "second derivatives"
    try:
        detail = _check_second_derivatives(op, samples, batch)
        results.append(CheckResult(op.name, op.provider, check, True, detail))
    except NoGradBackward as e:
        results.append(CheckResult(op.name, op.provider, check, True,
                                   f"not supported: {e.op} has no grad_backward"))
    except Exception as e:
        results.append(CheckResult(op.name, op.provider, check, False, _describe(e)))


def _check_second_derivatives(op: BoundOp, samples: list[tuple], batch: bool) -> str:
    if not op.composite and op.grad_backward is None:
        raise NoGradBackward("no grad_backward", op.name, op.provider)
    fn = op_function(op)
    variants = [dict(op.attrs)]
    changed = {k: _another(v) for k, v in op.attrs.items()}
    if changed != variants[0]:
        variants.append(changed)
    for attrs in variants:
        for xs in samples:
            gradgradcheck(functools.partial(fn, **attrs), xs, name=op.bind(attrs).label)
    done = f"{len(samples)} sample(s)"
    if batch:
        done += "; " + _check_second_batch(fn, samples)
    return done


def _check_second_batch(fn: Callable[..., Value], samples: list[tuple]) -> str:
    # The samples stacked into columns: the second derivatives of the batch's sum are
    # each sample's own, entry by entry (a reduction is left to the scalar check).
    import numpy as np

    groups: dict[int, list[tuple]] = {}
    for xs in samples:
        groups.setdefault(len(xs), []).append(xs)
    for group in groups.values():
        columns = [Value(np.array(c, dtype=float)) for c in zip(*group)]
        out = fn(*columns)
        if not out.shape:
            return "batch: a reduction, checked on floats"
        firsts = grad(out, columns, create_graph=True)
        for i, gi in enumerate(firsts):
            rows = grad(gi, columns)
            for k, xs in enumerate(group):
                values = [Value(x) for x in xs]
                (scalar_gi,) = [grad(fn(*values), values, create_graph=True)[i]]
                for j, expected in enumerate(grad(scalar_gi, values)):
                    got = float(np.ravel(rows[j])[k])  # column j's entry k
                    if not _close(got, float(expected), 1e-9, 1e-7):
                        raise GradcheckError(f"batch: d2/dx{i}dx{j} at sample {xs} is {got!r} "
                                             f"on arrays but {expected!r} on floats")
    return "batch too"
