"""Batch mode: running an op's forward and backward on numpy arrays.

A Value may hold a numpy array; every op then runs once for the whole batch. This
module turns an op's functions into array functions (``array_functions``):

    vectorized=True          forward and backward as they are (plain arithmetic), with
                             numpy's overflow and inf - inf warnings silenced: the IEEE
                             results are the policy, as on floats
    array_forward/_backward  the numpy twins, checked against the scalar op's policy
    neither                  the scalar functions, entry by entry

and makes every backward hand each input a gradient of that input's own shape
(undoing numpy's broadcasting: a float parameter used by a whole batch gets the sum
of the batch's gradients).

The policy: an entry that the scalar op rejects (log of -1, 1 / 0) raises the scalar
op's error, naming the entry; never numpy's silent NaN.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import OpError, add_note
from .op import Op

# Memory for arrays. A batch step makes and drops arrays of a layer's size (a 10,000 x 16
# activation is 1.3 MB). glibc's malloc hands each such array fresh pages from the
# kernel and gives them back when it is freed, so every step pays a page fault per 4 KB
# touched: more than the arithmetic (demo net, batch 10,000: 4.7 ms a step instead of
# 1.8; `bench_batch.py --sweep`). PyTorch keeps freed memory for reuse in its own
# allocator; the same effect here is two malloc settings, made once, when the first
# batch is seen: arrays up to 32 MB come from the heap, and up to 256 MB of freed heap is
# kept instead of being returned. PICOGRAD_KEEP_MEMORY=0 leaves malloc as it was.
KEEP_MEMORY_VAR = "PICOGRAD_KEEP_MEMORY"
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's <malloc.h>


def keep_freed_memory() -> bool:
    """Make glibc's malloc reuse freed arrays' memory; False if it is not glibc, or
    $PICOGRAD_KEEP_MEMORY is 0/false/no/off."""
    import os
    import platform

    if os.environ.get(KEEP_MEMORY_VAR, "").strip().lower() in ("0", "false", "no", "off"):
        return False
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    import ctypes

    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    return bool(mallopt(_M_MMAP_THRESHOLD, 32 * 2**20) and
                mallopt(_M_TRIM_THRESHOLD, 256 * 2**20))


keep_freed_memory()


def array_functions(op: Op, attrs: dict[str, Any],
                    provider: str = "") -> tuple[Callable, Callable | None]:
    """The (forward, backward) that run ``op`` (from ``provider``) with ``attrs`` on
    numpy arrays."""
    def fix(fn: Callable) -> Callable:
        return (lambda *xs, **kw: fn(*xs, **attrs, **kw)) if attrs else fn

    forward = fix(op.forward)
    backward = None if op.backward is None else fix(op.backward)
    bwd: Callable | None
    if op.vectorized:
        fwd, bwd = quiet(forward), None if backward is None else quiet(backward)
    elif op.array_forward is not None and _never_rejects(op, provider):
        fwd = quiet(fix(op.array_forward))
        bwd = None if op.array_backward is None else quiet(fix(op.array_backward))
    elif op.array_forward is not None:
        fwd = checked(fix(op.array_forward), forward)
        bwd = None if op.array_backward is None else quiet(fix(op.array_backward))
    else:
        fwd, bwd = elementwise(forward, of=(op.name, provider)), None
    if bwd is None and backward is not None:
        by_entry = elementwise(backward, many=True)

        def bwd(*xs: Any, **needs: Any) -> Any:  # every gradient, whatever is needed
            return by_entry(*xs)
    return fwd, (None if bwd is None else reduced(bwd))


# Built-in ops whose scalar forward takes every float and never raises: its IEEE result
# is the policy, so an inf or NaN entry has nothing to judge, and their numpy forward
# skips ``checked``'s finiteness sums (a sum of every input and of the output; five of
# them a step in the demo's batch mode). Judging them was worse than slow for column,
# whose scalar form rejects any index but 0: one NaN in a batch made column(M, index=1)
# fail with "column 1 of a row of one does not exist".
NEVER_REJECTS = frozenset({"relu", "abs", "tanh", "hinge", "sum", "mean", "sumsq", "column"})


def _never_rejects(op: Op, provider: str) -> bool:
    from .kernel import is_builtin

    return op.name in NEVER_REJECTS and is_builtin(op, provider)


def quiet(fn: Callable) -> Callable:
    """``fn`` without numpy's warnings (or errors, whatever the program's np.seterr) on
    overflow (inf), invalid results (NaN), division by zero and underflow."""
    def quieted(*args: Any, **kw: Any) -> Any:
        with np.errstate(all="ignore"):
            return fn(*args, **kw)

    return quieted


def checked(array_fn: Callable, scalar_fn: Callable) -> Callable:
    """A numpy forward that follows the scalar op's policy.

    Where its inputs and its result are finite everywhere, nothing can have gone
    wrong. Elsewhere (inf or NaN: an overflow, log(-1), 1/0, NaN / 0, or an inf or
    NaN operand, as in (-0.5) ** inf = 0) the scalar op judges those entries, and
    raises its own error for the first it rejects.
    """
    def judged(*args: Any) -> Any:
        with np.errstate(all="ignore"):
            y = array_fn(*args)
            finite = _all_finite(y, args)
        if finite:
            return y
        try:
            shape = np.broadcast_shapes(*[np.shape(a) for a in args])
        except ValueError:
            return y
        if np.shape(y) != shape:  # a reduction (sum, mean): judge every entry
            elementwise(scalar_fn)(*args)
            return y
        bad = ~np.isfinite(y)
        for a in args:
            bad = bad | ~np.isfinite(a)
        picked = [np.broadcast_to(a, shape)[bad] for a in args]
        elementwise(scalar_fn, where=np.argwhere(bad), shape=shape)(*picked)
        return y

    return judged


def _all_finite(y: Any, args: tuple) -> bool:
    """Whether every entry of ``y`` and ``args`` is finite, by one sum of them all (an
    inf or NaN anywhere makes it inf or NaN; a sum that overflows only costs a search)."""
    try:
        return math.isfinite(sum([_sum(a) for a in args], _sum(y)))
    except TypeError:  # not numbers: apply.output names the op that returned them
        return True


def _sum(x: Any) -> Any:
    return np.add.reduce(x, None) if isinstance(x, np.ndarray) else x  # x.sum(), in C


def reduced(backward: Callable) -> Callable:
    """Wrap an array backward so each gradient comes back in its input's shape."""
    def in_shape(g: Any, y: Any, *xs: Any, **needs: Any) -> tuple:
        grads = backward(g, y, *xs, **needs)
        if grads.__class__ is not tuple or len(grads) != len(xs):
            return grads  # the engine reports the broken count
        # (a gradient nobody needs stays as the op gave it: 0.0, never summed)
        needed = needs.get("needs_input_grad") or [True] * len(xs)
        return tuple([unbroadcast(gx, x) if need else gx
                      for gx, x, need in zip(grads, xs, needed)])

    return in_shape


def add_gradients(inputs: tuple, grads: tuple, g: Any) -> None:
    """The engine's last step for a node on arrays: each input's gradient into its .grad.

    Never in place: backward() keeps the old .grad arrays to put back if a later step
    fails. A first gradient is kept as it is, not copied (0.0 + gp): a fresh array as
    large as a layer's weights costs about as much as the matrix product that made it.
    Only one the op made itself, though: not the g it was given, nor one it gave twice.
    """
    for i, (p, gp) in enumerate(zip(inputs, grads)):
        if p.requires_grad:
            old = p._grad
            if old.__class__ is float and old == 0.0 and gp.__class__ is not float and \
                    gp is not g and all(gp is not other for other in grads[:i]):
                p._grad = gp
            else:
                p._grad = old + gp


def unbroadcast(g: Any, x: Any) -> Any:
    """Sum ``g`` over the axes numpy broadcast ``x`` along, so it has x's shape."""
    if x.__class__ is float:  # a number every sample used: the sum of their gradients
        return g if g.__class__ is float else float(np.sum(g))  # (dense sums them already)
    shape = np.shape(x)
    if np.shape(g) == shape:  # (most gradients: an array of x's shape, returned as it is)
        return g if g.__class__ is np.ndarray and g.dtype == float else \
            np.asarray(g, dtype=float)
    g = np.broadcast_to(g, np.broadcast_shapes(np.shape(g), shape))
    g = g.sum(axis=tuple(range(g.ndim - len(shape))))  # leading axes x never had
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    return np.array(g.sum(axis=axes, keepdims=True) if axes else g, dtype=float)


def elementwise(fn: Callable, many: bool = False, where: Any = None,
                shape: tuple | None = None, of: tuple[str, str] | None = None) -> Callable:
    """Lift a scalar function to numpy arrays, one entry at a time (broadcasting).

    An entry the scalar function rejects raises its exception, told where it was
    (``where``/``shape`` name the entries' positions when they were picked out of a
    larger array) and how many entries fail. With ``of`` (the op's name and provider),
    ``fn`` is that op's forward, and a result that is not a number is an OpError.
    """
    def lifted(*args: Any) -> Any:
        arrays = np.broadcast_arrays(*[np.asarray(a, dtype=float) for a in args])
        rows = list(zip(*[a.ravel().tolist() for a in arrays]))
        results, failed = [], []
        for i, row in enumerate(rows):
            try:
                results.append(fn(*row) if of is None else _number(fn(*row), *of))
            except Exception as e:
                failed.append((i, e))
        if failed:
            raise _entry_error(failed, rows, arrays[0].shape, 2 if many else 0, where, shape)
        if not many:
            return np.array(results, dtype=float).reshape(arrays[0].shape)
        columns = zip(*results) if results else [()] * (len(args) - 2)
        return tuple(np.array(c, dtype=float).reshape(arrays[0].shape) for c in columns)

    return lifted


def _number(y: Any, op: str, provider: str) -> Any:
    """A forward's result for one entry, if it is a real number (as ``apply.output``)."""
    if y.__class__ is float or isinstance(y, (int, float, np.integer, np.floating)):
        return y
    raise OpError(f"forward of op '{op}' ({provider}) returned {type(y).__name__} {y!r}, "
                  "not a number", op, provider)


def _entry_error(failed: list, rows: list, shape: tuple, skip: int, where: Any,
                 whole: tuple | None) -> Exception:
    """The first failing entry's exception, with a note on where it happened."""
    i, e = failed[0]
    if where is not None:
        position, shape = [int(k) for k in where[i]], whole or shape
    else:
        position = [int(k) for k in np.unravel_index(i, shape)] if shape else []
    inputs = ", ".join(repr(x) for x in rows[i][skip:])  # backward: leave out g and y
    total = len(rows) if where is None else int(np.prod(shape))
    others = f"; {len(failed)} of {total} entries fail" if len(failed) > 1 else ""
    add_note(e, f"at entry {position} of an array of shape {tuple(shape)}: "
                 f"inputs {inputs}{others}")
    return e


