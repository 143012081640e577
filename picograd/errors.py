"""picograd's exceptions, and the one way an op failure is reported.

When an op's forward or backward raises, the exception that reaches the user is the
op's own exception object (same type, args and attributes), with a PEP 678 note
naming the op, its inputs and its provider:

    ValueError: log is only defined for x > 0
    log(-1.0) forward failed [op 'log' from picogradlib 0.1.0]

``pytest.raises(..., match=...)`` and ``traceback`` show notes; ``op_failure(e)``
reads them back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class OpError(TypeError):
    """An op broke the contract at run time: forward returned something that is not a
    number, or backward did not return one gradient per input.

    ``op`` is the op's name and ``provider`` the plugin's distribution and version.
    """

    def __init__(self, message: str, op: str, provider: str) -> None:
        super().__init__(message)
        self.op: str = op
        self.provider: str = provider


class PluginError(Exception):
    """A plugin failed to load or registered an invalid op (raised in strict mode)."""


class OpConflictError(PluginError):
    """Two plugins provide the same op name and the user has not chosen one."""


class UnknownOpError(AttributeError):
    """No registered op has that name."""


class PluginWarning(UserWarning):
    """A plugin was rolled back, lost an op name to a conflict, or was misconfigured."""


def add_note(e: BaseException, note: str) -> None:
    """PEP 678 ``e.add_note`` (Python 3.11+), or the same ``__notes__`` list on 3.10."""
    if hasattr(e, "add_note"):
        e.add_note(note)
    else:  # Python 3.10: the same attribute, which pytest and our CLI read
        e.__notes__ = [*getattr(e, "__notes__", []), note]  # type: ignore[attr-defined]


NOTE = re.compile(r"^(?P<what>.*) \[op '(?P<op>[^']+)' from (?P<provider>.+)\]$")


@dataclass(frozen=True)
class OpFailure:
    """Which op failed, read from an exception's note: what ``op_failure`` returns."""

    op: str
    provider: str
    what: str  # e.g. "log(-1.0) forward failed"


def describe(e: BaseException) -> str:
    """``Type: message``, then its notes, on one line: for a CLI's one-line errors."""
    return "; ".join([f"{type(e).__name__}: {e}", *getattr(e, "__notes__", ())])


def op_note(op: str, provider: str, what: str) -> str:
    return f"{what} [op '{op}' from {provider}]"


def op_failure(e: BaseException) -> OpFailure | None:
    """The innermost op that ``e`` was raised in, or None if no op raised it."""
    if isinstance(e, OpError):
        return OpFailure(e.op, e.provider, str(e))
    for note in getattr(e, "__notes__", ()):
        m = NOTE.match(note)
        if m:
            return OpFailure(m["op"], m["provider"], m["what"])
    return None
