"""Value parsers shared by every domain: ids, booleans, numbers, dates, URLs and NUL checks.

Each rule lives here once, so a value means the same thing wherever a client sends it (a path,
a body field, a filter value, a custom attribute).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import urlsplit

# Ids are 64-bit: anything else in a path or a body is simply not found.
MAX_ID = 2**63 - 1
# Longer digit strings cannot be a 64-bit id (and int() refuses very long ones).
MAX_ID_DIGITS = len(str(MAX_ID))
MAX_URL = 2048
EMAIL_RE = re.compile(r"[^@\s]+@[^@\s]+")
NUMBER_RE = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
INTEGER_RE = re.compile(r"[+-]?\d+", re.ASCII)
# Numbers are stored in JSON that must stay 64-bit (orjson and the filter's casts).
MIN_INT, MAX_INT = -(2**63), 2**63 - 1
MAX_INT_DIGITS = len(str(MAX_INT))
# The longest ISO 8601 text worth parsing ("2024-01-01T00:00:00.000000+00:00" has 32).
MAX_ISO_CHARS = 64


def id_number(value: Any) -> int | None:
    """The integer an id is written as: an int, or a string of ASCII digits (surrounding
    spaces allowed); None for anything else (booleans included).

    A well-formed number no id can have (0, negative, beyond 64 bits) comes back as it is or,
    when too long to convert, as MAX_ID + 1, so callers can tell "malformed" (None) from
    "well-formed but unknown" (out of range).
    """
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if not isinstance(value, str):
        return None
    text = value.strip()
    if not (text and text.isascii() and text.isdigit()):
        return None
    digits = text.lstrip("0") or "0"
    return int(digits) if len(digits) <= MAX_ID_DIGITS else MAX_ID + 1


def parse_id(value: Any) -> int | None:
    """A positive 64-bit id from an int or its decimal text; None for anything else."""
    number = id_number(value)
    return number if number is not None and 0 < number <= MAX_ID else None


def has_nul(value: Any) -> bool:
    """NUL characters anywhere in a JSON value (PostgreSQL text and JSONB cannot store them)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(item) for item in value)
    return False


def parse_bool(value: Any) -> bool | None:
    """A boolean, or the strings "true"/"false" in any case; None for anything else."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def is_http_url(text: str) -> bool:
    """An absolute http(s) URL with a host and no whitespace."""
    if any(ch.isspace() for ch in text):
        return False
    try:
        parts = urlsplit(text)
        host = parts.hostname
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(host)


def _iso_text(text: str) -> str:
    """ISO 8601 text stripped, or ValueError: it is short ASCII without NUL (the C parser of
    datetime.fromisoformat reads "2024-01-01T00:00:00\\x00" as a timestamp)."""
    text = text.strip()
    if len(text) > MAX_ISO_CHARS or not text.isascii() or "\x00" in text:
        raise ValueError(f"not an ISO 8601 date or timestamp: {text[:40]!r}")
    return text


def iso_datetime(text: str) -> datetime:
    """An ISO 8601 date or timestamp, as datetime.fromisoformat reads it; ValueError otherwise."""
    return datetime.fromisoformat(_iso_text(text))


def iso_date(text: str) -> date:
    """An ISO 8601 date, or the date of an ISO 8601 timestamp (in UTC when it has an
    offset, as written when it has none); ValueError or OverflowError otherwise."""
    text = _iso_text(text)
    if len(text) <= 10:
        return date.fromisoformat(text)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.date()


def epoch_seconds(value: Any) -> int:
    """Epoch seconds from an int, an integral float, a string of ASCII digits or an ISO 8601
    timestamp (UTC when it has no offset); ValueError for anything else.

    The result is not range-checked: a digit string too long for 64 bits comes back as
    MAX_ID + 1 (never converted whole), so the caller's range check refuses it.
    """
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip():
        number = id_number(value)
        if number is not None:
            return number
        moment = iso_datetime(value)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        try:
            return int(moment.timestamp())
        except (OverflowError, ValueError):
            raise ValueError(value) from None
    raise ValueError(value)


def parse_number(value: Any) -> int | float:
    """A JSON number or a numeric string (ASCII digits), as an int when integral text or an
    int was sent; ValueError for anything else, OverflowError beyond 64-bit integers."""
    number: int | float
    if isinstance(value, bool):
        raise ValueError(value)
    if isinstance(value, int | float):
        number = value
    elif isinstance(value, str) and NUMBER_RE.fullmatch(value.strip()):
        text = value.strip()
        if not INTEGER_RE.fullmatch(text):
            number = float(text)
        else:
            # Judged by its significant digits, never converted whole (int() is slow on
            # long text, and refuses more than 4,300 digits).
            digits = text.lstrip("+-").lstrip("0") or "0"
            if len(digits) > MAX_INT_DIGITS:
                raise OverflowError(value)
            number = int(digits)
            if text.startswith("-"):
                number = -number
    else:
        raise ValueError(value)
    if isinstance(number, float) and not math.isfinite(number):
        raise ValueError(value)
    if isinstance(number, int) and not MIN_INT <= number <= MAX_INT:
        raise OverflowError(value)
    return number
