"""What a Value stores: a float, or a float64 numpy array; and the checks on the way in.
Also what few Values have beside it (``more_of``).

numpy is never imported here: a program that uses no array never pays for it.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import Value


def is_array(x: Any) -> bool:
    np = sys.modules.get("numpy")
    return np is not None and isinstance(x, np.ndarray)


def as_data(x: Any, what: str = "Value()") -> Any:
    """What a Value stores: a float, or a float64 numpy array (a copy: the caller's
    array may change under us). Anything else is a TypeError naming ``what``."""
    if x.__class__ is float:
        return x
    if is_array(x):
        if x.dtype.kind not in "biuf":
            raise TypeError(f"{what} expects real numbers, got an array of dtype {x.dtype}")
        return x.astype(float)
    np = sys.modules.get("numpy")
    if isinstance(x, (int, float)) or np is not None and isinstance(
            x, (np.integer, np.floating, np.bool_)):
        try:
            return float(x)
        except OverflowError:
            bits = int(x).bit_length()
            raise OverflowError(f"{what} got an int too large for a float ({bits} bits)") \
                from None
    raise TypeError(f"{what} expects a real number or a numpy array, got "
                    f"{type(x).__name__} {x!r}")


def ones_like(data: Any) -> Any:
    """d(self)/d(self) = 1: ones in a batch's shape, even where the data is inf or NaN."""
    if data.__class__ is float or not is_array(data):
        return 1.0
    return sys.modules["numpy"].ones_like(data, dtype=float)


def more_of(v: Value, key: str, default: Any = None) -> Any:
    """What few Values have, in their one slot ``_more`` (a dict, set only when used):
    a "label", micrograd's "op_text" and "backward" closure, a layer parameter's
    "owner" (picograd/params.py). ``default`` when it is not set."""
    more = getattr(v, "_more", None)  # (a slot never set: None)
    return default if more is None else more.get(key, default)


def set_more(v: Value, key: str, value: Any) -> None:
    """Set one of ``more_of``'s entries: in a new dict, as ``copy.copy(v)`` shares it."""
    more = getattr(v, "_more", None)
    v._more = {key: value} if more is None else {**more, key: value}
