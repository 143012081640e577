"""Real plugin distributions for tests: a module plus a ``*.dist-info`` with an
``entry_points.txt`` in a temporary folder on ``sys.path``, where ``importlib.metadata``
finds anything pip installs (the ``site`` fixture in conftest.py makes one per test)."""

from __future__ import annotations

from pathlib import Path

import pytest

from picograd import Registry

HEADER = """\
import pathlib
pathlib.Path({marker!r}).touch()  # the import side effect the tests look for
from picograd import Op, hookimpl
"""

TWIN = """
@hookimpl
def picograd_register_ops(register):
    register(Op("twin", lambda x: {factor} * x, lambda g, y, x: ({factor} * g,)))
    register(Op("{own}", lambda x: x + 1.0, lambda g, y, x: (g,)))
"""


class Site:
    """A site-packages of its own: real distributions the registry discovers."""

    def __init__(self, root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.root, self.monkeypatch, self.modules = root, monkeypatch, []

    def add(self, dist: str, body: str, *, version: str = "1.0", ep: str | None = None,
            folder: str = "site") -> Path:
        """Install distribution ``dist`` whose module runs ``body``; return its import marker."""
        module = f"pgtest_{dist.replace('-', '_')}_{len(self.modules)}"
        where = self.root / folder
        if not where.exists():
            where.mkdir()
            self.monkeypatch.syspath_prepend(str(where))
        marker = self.root / f"{module}.imported"
        (where / f"{module}.py").write_text(HEADER.format(marker=str(marker)) + body)
        info = where / f"{dist.replace('-', '_')}-{version}.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        (info / "entry_points.txt").write_text(f"[picograd]\n{ep or dist} = {module}\n")
        self.modules.append(module)
        return marker

    def registry(self, allow: str, **env: str) -> Registry:
        return Registry(environ={"PICOGRAD_PLUGINS": allow, **env})


def twin(factor: float = 2.0, own: str = "bump") -> str:
    return TWIN.format(factor=factor, own=own)


# Plugins that fail in the ways plugins do: (module body, what the error says).
BROKEN = {
    "import": ("raise RuntimeError('boom at import')", "boom at import"),
    "hook": ("""
@hookimpl
def picograd_register_ops(register):
    register(Op("half_done", lambda x: x, lambda g, y, x: (g,)))
    raise KeyError("boom in hook")
""", "boom in hook"),
    "invalid op": ("""
@hookimpl
def picograd_register_ops(register):
    register(Op("half_done", lambda x: x, lambda g, y, x: (g,)))
    register(Op("weird", lambda x: x, lambda g, y, x: (g,), kind="bogus"))
""", "invalid op 'weird': kind must be one of op, activation, loss"),
    "duplicate": ("""
@hookimpl
def picograd_register_ops(register):
    register(Op("half_done", lambda x: x, lambda g, y, x: (g,)))
    register(Op("half_done", lambda x: x, lambda g, y, x: (g,)))
""", "op 'half_done' registered twice"),
    "no op": ("""
@hookimpl
def picograd_register_ops(register):
    pass
""", "registered no op"),
    "bad hook signature": ("""
@hookimpl
def picograd_register_ops(register, extra):
    register(Op("half_done", lambda x: x, lambda g, y, x: (g,)))
""", "extra"),
}
