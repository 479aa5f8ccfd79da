"""Ids are 64-bit: anything else in a path or a body is simply not found."""

from __future__ import annotations

MAX_ID = 2**63 - 1


def parse_id(raw: str) -> int | None:
    """A positive 64-bit id from its decimal text, or None."""
    text = raw.strip()
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if 0 < value <= MAX_ID else None
