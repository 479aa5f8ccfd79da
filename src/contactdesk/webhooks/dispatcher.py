"""The dispatcher: places committed events in their accounts' feeds (creating their
deliveries), sends what is due, records each attempt, and prunes old events.

It runs as a task of `contactdesk serve` (unless turned off) and alone in `contactdesk
worker`. Several dispatchers on PostgreSQL share the work: a delivery is claimed with
FOR UPDATE SKIP LOCKED and a lease (claimed_until), so each is sent by one of them, and one
that dies mid-send leaves a lease that lapses, after which another sends it again
(at-least-once; `webhook-id` lets receivers drop the repeat). On SQLite one dispatcher runs,
the holder of a lock file.

Order: a delivery is due only when no earlier delivery of the same contact to the same
endpoint is still pending, so one contact's events reach an endpoint in the order they
happened, while other contacts and other endpoints go on. Sends run concurrently (at most
`webhook_concurrency` at once, and a slow endpoint holds only its own), each bounded by
`webhook_timeout_seconds`.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import random
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import sqlalchemy as sa

from contactdesk.config import Settings
from contactdesk.db import Database
from contactdesk.events import feed
from contactdesk.limits import limits
from contactdesk.webhooks.signing import signed_headers
from contactdesk.webhooks.urls import destination_problem

log = logging.getLogger("contactdesk.dispatcher")

CLAIM_BATCH = 200
# A claim lasts the send's timeout plus this (the destination's name resolution, bounded by
# urls.RESOLVE_SECONDS, and recording the outcome); a dispatcher that dies leaves its claims
# to lapse after that, and another sends them again.
LEASE_MARGIN = 5.0
PRUNE_EVERY_SECONDS = 600.0
ERROR_CHARS = 500


def now_ms() -> int:
    return int(time.time() * 1000)


def retry_schedule(settings: Settings) -> list[float]:
    return [float(part) for part in settings.webhook_retry_schedule.split(",") if part.strip()]


@dataclass(frozen=True)
class Due:
    id: int
    account_id: int
    webhook_id: int
    event_id: int
    attempts: int
    url: str
    secret: str
    payload: str
    failing_since: int | None


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status: int | None
    error: str | None
    gone: bool = False  # 410: the endpoint asks to be disabled


_CLAIM = {
    "postgresql": sa.text(
        "WITH due AS ("
        " SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id"
        " WHERE d.status = 'pending' AND d.next_attempt_at <= :now"
        " AND (d.claimed_until IS NULL OR d.claimed_until < :now) AND w.status = 'enabled'"
        " AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.webhook_id = d.webhook_id"
        " AND p.contact_id = d.contact_id AND p.status = 'pending' AND p.id < d.id)"
        " ORDER BY d.id LIMIT :batch FOR UPDATE OF d SKIP LOCKED) "
        "UPDATE webhook_deliveries SET claimed_until = :lease FROM due"
        " WHERE webhook_deliveries.id = due.id RETURNING webhook_deliveries.id"
    ),
    "sqlite": sa.text(
        "WITH due AS ("
        " SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id"
        " WHERE d.status = 'pending' AND d.next_attempt_at <= :now"
        " AND (d.claimed_until IS NULL OR d.claimed_until < :now) AND w.status = 'enabled'"
        " AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.webhook_id = d.webhook_id"
        " AND p.contact_id = d.contact_id AND p.status = 'pending' AND p.id < d.id)"
        " ORDER BY d.id LIMIT :batch) "
        "UPDATE webhook_deliveries SET claimed_until = :lease FROM due"
        " WHERE webhook_deliveries.id = due.id RETURNING webhook_deliveries.id"
    ),
}
_DETAILS = sa.text(
    "SELECT d.id, d.account_id, d.webhook_id, d.event_id, d.attempts, w.url, w.secret,"
    " e.payload, w.failing_since FROM webhook_deliveries d"
    " JOIN webhooks w ON w.id = d.webhook_id AND w.account_id = d.account_id"
    " JOIN events e ON e.id = d.event_id AND e.account_id = d.account_id"
    " WHERE d.id IN ({ids}) ORDER BY d.id"
)
_RECORD = sa.text(
    "UPDATE webhook_deliveries SET status = :status, attempts = :attempts,"
    " next_attempt_at = :next_attempt_at, claimed_until = NULL, last_status = :last_status,"
    " last_error = :last_error, updated_at = :updated_at WHERE id = :id"
)
_HEALTHY = sa.text(
    "UPDATE webhooks SET failing_since = NULL WHERE id = :id AND failing_since IS NOT NULL"
)
_FAILING = sa.text(
    "UPDATE webhooks SET failing_since = coalesce(failing_since, :now) WHERE id = :id"
)
_DISABLE = sa.text("UPDATE webhooks SET status = 'disabled', updated_at = :now WHERE id = :id")
_PRUNE = sa.text(
    "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE created_at < :before LIMIT 10000)"
)


class Dispatcher:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.schedule = retry_schedule(settings)
        self.backend = db.engine.dialect.name
        self._slots = asyncio.Semaphore(max(1, settings.webhook_concurrency))
        self._wake = asyncio.Event()
        self._last_prune = 0.0
        self._inflight: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        """Something may be due (a write committed events): look now, not at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        timeout = httpx.Timeout(self.settings.webhook_timeout_seconds)
        async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
            while not stop.is_set():
                try:
                    busy = await self.step(client)
                except Exception:
                    log.exception("dispatcher step failed")
                    busy = False
                if busy:
                    continue
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(
                        _first(stop.wait(), self._wake.wait()),
                        self.settings.dispatcher_poll_seconds,
                    )
            if self._inflight:
                await asyncio.wait(self._inflight, timeout=self.settings.webhook_timeout_seconds)

    async def step(self, client: httpx.AsyncClient) -> bool:
        """One round: place, claim and start sending; whether there may be more to do now."""
        placed = await self.place_all()
        claimed = await self.claim()
        for due in claimed:
            await self._slots.acquire()
            task = asyncio.create_task(self._send_and_record(client, due))
            self._inflight.add(task)
            task.add_done_callback(self._inflight.discard)
        await self.maybe_prune()
        # Again at once only after a full batch: a dispatcher that looped whenever it placed
        # anything ran two write transactions at a time without pause under a steady write
        # load, and took a fifth of the throughput of creates and updates (bench).
        return placed >= feed.PLACE_BATCH or len(claimed) >= CLAIM_BATCH

    async def place_all(self) -> int:
        async with self.db.write_connection() as conn:
            placed = await feed.place(conn)
            await conn.commit()
        return placed

    async def claim(self) -> list[Due]:
        now = now_ms()
        lease = now + int((self.settings.webhook_timeout_seconds + LEASE_MARGIN) * 1000)
        async with self.db.write_connection() as conn:
            rows = await conn.fetch(
                _CLAIM[self.backend], {"now": now, "lease": lease, "batch": CLAIM_BATCH}
            )
            ids = [int(row[0]) for row in rows]
            details: Sequence[Any] = []
            if ids:
                statement = sa.text(_DETAILS.text.format(ids=", ".join(map(str, ids))))
                details = await conn.fetch(statement, {})
            await conn.commit()
        return [Due(*row) for row in details]

    async def _send_and_record(self, client: httpx.AsyncClient, due: Due) -> None:
        try:
            outcome = await self.send(client, due)
            await self.record(due, outcome)
        except Exception:
            log.exception("delivery %s could not be recorded", due.id)
        finally:
            self._slots.release()

    async def send(self, client: httpx.AsyncClient, due: Due) -> Outcome:
        problem = await destination_problem(due.url, limits().webhooks_allow_private)
        if problem is not None:
            return Outcome(False, None, problem[:ERROR_CHARS])
        body = due.payload.encode()
        headers = signed_headers(due.secret, f"evt_{due.event_id}", int(time.time()), body)
        try:
            response = await client.post(due.url, content=body, headers=headers)
        except httpx.TimeoutException:
            return Outcome(False, None, "timed out")
        except httpx.HTTPError as error:
            return Outcome(False, None, (type(error).__name__ + ": " + str(error))[:ERROR_CHARS])
        if 200 <= response.status_code < 300:
            return Outcome(True, response.status_code, None)
        return Outcome(
            False,
            response.status_code,
            f"HTTP {response.status_code}",
            gone=response.status_code == 410,
        )

    async def record(self, due: Due, outcome: Outcome) -> None:
        attempts = due.attempts + 1
        now = now_ms()
        if outcome.ok:
            status, next_at = "succeeded", now
        elif outcome.gone or attempts > len(self.schedule):
            status, next_at = "failed", now
        else:
            delay = self.schedule[attempts - 1] * random.uniform(0.9, 1.1)
            status, next_at = "pending", now + int(delay * 1000)
        async with self.db.write_connection() as conn:
            await conn.fetch(
                _RECORD,
                {
                    "id": due.id,
                    "status": status,
                    "attempts": attempts,
                    "next_attempt_at": next_at,
                    "last_status": outcome.status,
                    "last_error": outcome.error,
                    "updated_at": now // 1000,
                },
            )
            if outcome.ok:
                await conn.fetch(_HEALTHY, {"id": due.webhook_id})
            else:
                await conn.fetch(_FAILING, {"id": due.webhook_id, "now": now // 1000})
                since = due.failing_since if due.failing_since is not None else now // 1000
                too_long = now // 1000 - since >= self.settings.webhook_disable_after_seconds
                if outcome.gone or too_long:
                    await conn.fetch(_DISABLE, {"id": due.webhook_id, "now": now // 1000})
            await conn.commit()
        if status != "pending" or outcome.ok:
            self.wake()  # the contact's next delivery to this endpoint may be due now

    async def maybe_prune(self) -> None:
        if time.monotonic() - self._last_prune < PRUNE_EVERY_SECONDS:
            return
        self._last_prune = time.monotonic()
        before = int(time.time()) - self.settings.events_retention_days * 86400
        async with self.db.write_connection() as conn:
            await conn.fetch(_PRUNE, {"before": before})
            await conn.commit()


async def _first(*waits: Any) -> None:
    tasks = [asyncio.ensure_future(w) for w in waits]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()


@contextlib.contextmanager
def _sole_dispatcher(lock_path: str) -> Any:
    """SQLite: only the holder of the lock file dispatches (None when another holds it)."""
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        yield True
    finally:
        os.close(fd)


@contextlib.asynccontextmanager
async def running(db: Database, settings: Settings) -> AsyncIterator[Dispatcher | None]:
    """A dispatcher running in the background for the duration of the block (None when on
    SQLite another process's dispatcher runs already)."""
    lock_path = None
    if db.engine.dialect.name == "sqlite":
        lock_path = f"{db.engine.url.database or 'contactdesk.db'}.dispatcher-lock"
    with contextlib.ExitStack() as stack:
        if lock_path is not None and not stack.enter_context(_sole_dispatcher(lock_path)):
            yield None
            return
        dispatcher = Dispatcher(db, settings)
        stop = asyncio.Event()
        task = asyncio.create_task(dispatcher.run(stop))
        try:
            yield dispatcher
        finally:
            stop.set()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, settings.webhook_timeout_seconds + 5)
