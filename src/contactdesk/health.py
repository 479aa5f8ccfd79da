"""Liveness and readiness (issue 13, item 5).

* `/healthz`: the process answers (it touches nothing else): a load balancer or supervisor
  restarts a process that stops answering it.
* `/readyz`: the database answers within READY_TIMEOUT_SECONDS and the request gate is not
  saturated (at most `settings.ready_max_waiting` requests waiting for a slot): a load
  balancer sends no traffic to a process that is not ready.

However many readiness checks arrive, a process runs one database check at a time (the
others wait for it) and reuses its answer for CHECK_TTL_SECONDS, so it opens at most one
connection for them.
"""

from __future__ import annotations

import asyncio
import time

import sqlalchemy as sa

from contactdesk.db import Database
from contactdesk.gate import GateStats

READY_TIMEOUT_SECONDS = 1.0
CHECK_TTL_SECONDS = 1.0


class Readiness:
    def __init__(self, db: Database, gate: GateStats, max_waiting: int) -> None:
        self.db = db
        self.gate = gate
        self.max_waiting = max_waiting
        self._checked_at = -1e9
        self._problem: str | None = None
        self._running: asyncio.Future[str | None] | None = None

    async def _check_database(self) -> str | None:
        try:
            async with asyncio.timeout(READY_TIMEOUT_SECONDS):
                async with self.db.engine.connect() as connection:
                    await connection.execute(sa.text("SELECT 1"))
        except TimeoutError:
            return f"the database did not answer within {READY_TIMEOUT_SECONDS:g} s"
        except Exception as exc:  # any failure to reach the database means not ready
            return f"database unreachable: {type(exc).__name__}"
        return None

    async def database_problem(self) -> str | None:
        """None when the database answered (in the last CHECK_TTL_SECONDS), else why not."""
        if time.monotonic() - self._checked_at < CHECK_TTL_SECONDS:
            return self._problem
        if self._running is None:
            # Kept until the check ends, whoever is still waiting for it.
            self._running = asyncio.ensure_future(self._check_database())
            self._running.add_done_callback(self._done)
        return await asyncio.shield(self._running)

    def _done(self, future: asyncio.Future[str | None]) -> None:
        self._running = None
        if not future.cancelled():
            self._problem = future.result()
            self._checked_at = time.monotonic()

    async def problem(self) -> str | None:
        if self.gate.waiting > self.max_waiting:
            return f"the request gate is saturated ({self.gate.waiting} requests waiting)"
        return await self.database_problem()
