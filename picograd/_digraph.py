"""graphviz.Digraph whose rendering says how to install ``dot`` when it is missing.

Imported by ``draw_dot`` on first use, so ``import picograd`` does not import graphviz.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import graphviz  # type: ignore[import-untyped]

from .draw import DotNotFoundError


class MissingDotError(DotNotFoundError, graphviz.ExecutableNotFound):
    """``dot`` is not on PATH: catchable as picograd's error or as graphviz's own."""


@contextmanager
def _explained() -> Iterator[None]:
    try:
        yield
    except graphviz.ExecutableNotFound as e:
        if isinstance(e, DotNotFoundError):
            raise
        raise MissingDotError() from e


class Digraph(graphviz.Digraph):
    """A graphviz.Digraph; rendering without ``dot`` raises MissingDotError."""

    def pipe(self, *args: Any, **kwargs: Any) -> Any:  # Jupyter's display pipes too
        with _explained():
            return super().pipe(*args, **kwargs)

    def render(self, *args: Any, **kwargs: Any) -> Any:  # and so does view()
        with _explained():
            return super().render(*args, **kwargs)

    def unflatten(self, *args: Any, **kwargs: Any) -> Any:
        with _explained():
            return super().unflatten(*args, **kwargs)
