"""Test helper: run code under other request bounds (contactdesk.limits), then restore them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

from contactdesk.limits import Limits, install, limits


@contextmanager
def bounds(**changes: Any) -> Iterator[Limits]:
    """The process's bounds with these fields changed, for the duration of the block (the
    app reads limits() when it checks, so an app already running sees them at once)."""
    saved = limits()
    install(replace(saved, **changes))
    try:
        yield limits()
    finally:
        install(saved)
