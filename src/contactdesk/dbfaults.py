"""What a request does when the database fails under it (issue 13, item 6).

* A statement that runs past `settings.statement_timeout_ms` (PostgreSQL cancels it; SQLite's
  progress handler interrupts it, contactdesk.db) answers 503 with a JSON error.
* A connection the database dropped (a restart, a terminated backend, a failover): the
  process's pools are told to replace their connections (Database.recover), and a GET or
  HEAD, which changes nothing, runs once more on a fresh connection. Other requests, and a
  read that fails again, answer 503: the client may retry; nothing was written by half
  (each write is one transaction).

DatabaseFaults is the innermost middleware, so the request gate's slot and the rate limits
are not taken twice. A response that has started is never retried.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator

import asyncpg
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contactdesk.db import Database
from contactdesk.transport import send_refusal

IDEMPOTENT = frozenset({"GET", "HEAD"})
# PostgreSQL's SQLSTATEs: query_canceled (statement_timeout), and the server going away.
TIMED_OUT = "57014"
GONE = frozenset({"57P01", "57P02", "57P03", "08000", "08003", "08006", "08001", "08004"})


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, what it wraps (SQLAlchemy's .orig) and what caused it, each once."""
    seen: set[int] = set()
    pending: list[BaseException | None] = [error]
    while pending:
        current = pending.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        orig = getattr(current, "orig", None)
        pending += [
            orig if isinstance(orig, BaseException) else None,
            current.__cause__,
            current.__context__,
        ]


def statement_timed_out(error: BaseException) -> bool:
    for e in _chain(error):
        if isinstance(e, asyncpg.QueryCanceledError) or getattr(e, "sqlstate", None) == TIMED_OUT:
            return True
        if isinstance(e, sqlite3.OperationalError) and str(e) == "interrupted":
            return True
    return False


def connection_lost(error: BaseException) -> bool:
    for e in _chain(error):
        if isinstance(
            e,
            asyncpg.ConnectionDoesNotExistError
            | asyncpg.CannotConnectNowError
            | asyncpg.PostgresConnectionError
            # a pooled connection left mid-operation when the server went away
            | asyncpg.InternalClientError
            # connecting: refused, reset, "Multiple exceptions" of several addresses, timed out
            | OSError
            | TimeoutError,
        ):
            return True
        if getattr(e, "sqlstate", None) in GONE:
            return True
        if getattr(e, "connection_invalidated", False):
            return True
        if isinstance(e, asyncpg.InterfaceError) and "connection is closed" in str(e):
            return True
    return False


class DatabaseFaults:
    """ASGI middleware: the module's docstring."""

    def __init__(
        self, app: ASGIApp, database: Callable[[], Database], statement_timeout_ms: int
    ) -> None:
        self.app = app
        self.database = database
        self.timeout_message = (
            f"The database took longer than the statement timeout ({statement_timeout_ms} ms)"
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        attempts = 2 if scope["method"] in IDEMPOTENT else 1
        for attempt in range(1, attempts + 1):
            try:
                await self.app(scope, receive, tracked)
                return
            except Exception as error:
                if started:
                    raise
                if statement_timed_out(error):
                    await send_refusal(send, 503, self.timeout_message, close=False)
                    return
                if not connection_lost(error):
                    raise
                await self.database().recover()
                if attempt == attempts:
                    await send_refusal(
                        send, 503, "The database is not reachable; retry shortly", close=False
                    )
                    return
