"""Built-in losses (kind "loss"), registered with the other built-in ops."""

from __future__ import annotations

from picograd import Op

LOSSES: list[Op] = []
