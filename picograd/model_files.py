"""Saving and loading an MLP: JSON with a format version, written atomically; never pickle.

    model.save("model.json")          # or save(model, path)
    model = MLP.load("model.json")    # or load(path); a bad file is a ModelFileError
"""

from __future__ import annotations

import json
import math
import os
import random
import stat
from typing import TYPE_CHECKING, Any

from ._files import write_atomically

if TYPE_CHECKING:
    from .nn import MLP

FORMAT = "picograd-mlp"
FORMAT_VERSION = 1


class ModelFileError(ValueError):
    """A model file could not be written, read or understood; names the file and why."""

    def __init__(self, path: str | os.PathLike, problem: str) -> None:
        super().__init__(f"{os.fspath(path)}: {problem}")
        self.path, self.problem = os.fspath(path), problem


def save(model: MLP, path: str | os.PathLike) -> None:
    """Write ``model``'s architecture and weights to ``path`` as JSON, atomically.

    The file is written next to its destination and renamed over it, so a crash
    mid-save leaves the old file (or none), never a truncated one.
    """
    from .nn import MLP

    if not isinstance(model, MLP):
        raise TypeError(f"save() takes an MLP, got {type(model).__name__}")
    weights = [[{"w": [w.data for w in n.w], "b": n.b.data} for n in layer.neurons]
               for layer in model.layers]
    doc = {"format": FORMAT, "version": FORMAT_VERSION, "nin": model.nin,
           "nouts": model.nouts, "activation": model.activation, "layers": weights}
    try:
        text = json.dumps(doc, allow_nan=False)  # floats as repr: they load back exactly
    except (TypeError, ValueError) as e:
        raise ModelFileError(path, f"cannot save: weights must be finite floats ({e})") from e
    try:
        write_atomically(path, text + "\n")
    except OSError as e:
        raise ModelFileError(path, f"cannot write the model file ({e.strerror or e}); "
                             "any previous file is unchanged") from e


# A model file's size limit, checked before reading it. Loading takes ~250 bytes of
# memory per weight; a saved weight takes ~20 bytes of JSON, but a hand-written "0,"
# only 2, so 16 MiB (800,000 saved weights, ~200 MB loaded) can ask for ~2 GB.
# Raise it with load(path, max_bytes=...) or the variable.
MAX_MODEL_BYTES = 16 * 2**20
MAX_MODEL_BYTES_VAR = "PICOGRAD_MAX_MODEL_BYTES"


def load(path: str | os.PathLike, *, max_bytes: int | None = None) -> MLP:
    """Read a model written by ``save``; a malformed or mismatched file is a ModelFileError.

    A file larger than ``max_bytes`` (default: $PICOGRAD_MAX_MODEL_BYTES, else
    ``MAX_MODEL_BYTES``, 16 MiB) is refused before it is read.
    """
    from .nn import MLP, check_activation

    def bad(problem: str) -> ModelFileError:
        return ModelFileError(path, problem)

    limit = _size_limit(max_bytes, bad)
    try:
        st = os.stat(path)  # before reading anything (a FIFO would block open())
        if not stat.S_ISREG(st.st_mode):
            raise bad("cannot read the model file (not a regular file)")
        if st.st_size > limit:
            raise bad(_too_large(st.st_size, limit))
        with open(path, "rb") as f:
            raw = f.read(limit + 1)  # (the file may have grown since)
        if len(raw) > limit:
            raise bad(_too_large(len(raw), limit))
        text = raw.decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise bad(f"cannot read the model file ({e})") from e
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as e:
        raise bad(f"not valid JSON ({e}); the file may be truncated or not a model") from e
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise bad(f"not a picograd model file (expected \"format\": \"{FORMAT}\")")
    version: Any = doc.get("version")
    if not _is_int(version) or version < 1:
        raise bad(f"bad format version {version!r}")
    if version > FORMAT_VERSION:
        raise bad(f"format version {version} is newer than this picograd reads "
                  f"({FORMAT_VERSION}); upgrade picograd")
    nin: Any = doc.get("nin")
    nouts: Any = doc.get("nouts")
    activation: Any = doc.get("activation")
    if not _is_int(nin) or nin < 1:
        raise bad(f"'nin' must be a positive int, got {nin!r}")
    if not isinstance(nouts, list) or not nouts or not all(_is_int(n) and n > 0 for n in nouts):
        raise bad(f"'nouts' must be a non-empty list of positive ints, got {nouts!r}")
    try:
        check_activation(activation)
    except ValueError as e:
        raise bad(str(e)) from None
    layers = doc.get("layers")
    sizes = [nin, *nouts]
    if not isinstance(layers, list) or len(layers) != len(nouts):
        raise bad(f"'layers' must list {len(nouts)} layers of weights")
    numbers = []  # every weight and bias, in the order of model.parameters()
    for i, saved in enumerate(layers):
        if not isinstance(saved, list) or len(saved) != nouts[i]:
            raise bad(f"layer {i} must have {nouts[i]} neurons")
        for j, entry in enumerate(saved):
            where = f"layer {i}, neuron {j}"
            if not isinstance(entry, dict) or set(entry) != {"w", "b"}:
                raise bad(f"{where}: expected an object with exactly 'w' and 'b'")
            w = entry["w"]
            if not isinstance(w, list) or len(w) != sizes[i]:
                raise bad(f"{where}: 'w' must be a list of {sizes[i]} numbers")
            for number in [*w, entry["b"]]:
                if not _is_number(number):
                    raise bad(f"{where}: {number!r} is not a finite number")
                numbers.append(float(number))
    model = MLP(nin, nouts, activation=activation, rng=random.Random(0))
    for p, number in zip(model.parameters(), numbers, strict=True):
        p.data = number
    return model


def _size_limit(max_bytes: int | None, bad: Any) -> int:
    if max_bytes is None:
        text = os.environ.get(MAX_MODEL_BYTES_VAR, "").strip()
        if not text:
            return MAX_MODEL_BYTES
        try:
            max_bytes = int(text)
        except ValueError:
            raise bad(f"{MAX_MODEL_BYTES_VAR}={text!r} is not a whole number of bytes") \
                from None
    if not _is_int(max_bytes) or max_bytes < 1:
        raise bad(f"max_bytes must be a positive int, got {max_bytes!r}")
    return max_bytes


def _too_large(size: int, limit: int) -> str:
    return (f"the file is {size:,} bytes, more than the {limit:,} a model may have "
            f"(loading may need up to ~100x that in memory); to load it anyway, pass "
            f"max_bytes=... to MLP.load or set {MAX_MODEL_BYTES_VAR}")


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _is_number(x: Any) -> bool:
    if not isinstance(x, (int, float)) or isinstance(x, bool):
        return False
    try:
        return math.isfinite(x)
    except OverflowError:  # an int too large for a float
        return False


def _no_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")
