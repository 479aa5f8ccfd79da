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

import aiohttp
import orjson
import sqlalchemy as sa

from contactdesk.config import Settings
from contactdesk.db import Database
from contactdesk.events import feed
from contactdesk.limits import limits
from contactdesk.metrics import DELIVERIES
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
# The outcomes of many attempts in one statement: :rows is a JSON array of
# {id, status, attempts, next_attempt_at, last_status, last_error}; :ids a JSON array.
_RECORD = {
    "postgresql": sa.text(
        "UPDATE webhook_deliveries AS d SET status = v.status, attempts = v.attempts,"
        " next_attempt_at = v.next_attempt_at, claimed_until = NULL,"
        " last_status = v.last_status, last_error = v.last_error, updated_at = :now"
        " FROM json_to_recordset(CAST(CAST(:rows AS text) AS json)) AS v(id bigint, status text,"
        " attempts int, next_attempt_at bigint, last_status int, last_error text)"
        " WHERE d.id = v.id"
    ),
    "sqlite": sa.text(
        "UPDATE webhook_deliveries SET status = v.status, attempts = v.attempts,"
        " next_attempt_at = v.next_attempt_at, claimed_until = NULL,"
        " last_status = v.last_status, last_error = v.last_error, updated_at = :now"
        " FROM (SELECT json_extract(value, '$.id') AS id, json_extract(value, '$.status')"
        " AS status, json_extract(value, '$.attempts') AS attempts,"
        " json_extract(value, '$.next_attempt_at') AS next_attempt_at,"
        " json_extract(value, '$.last_status') AS last_status,"
        " json_extract(value, '$.last_error') AS last_error FROM json_each(:rows)) AS v"
        " WHERE webhook_deliveries.id = v.id"
    ),
}
_IDS = {
    "postgresql": "SELECT CAST(value AS bigint)"
    " FROM json_array_elements_text(CAST(CAST(:ids AS text) AS json))",
    "sqlite": "SELECT value FROM json_each(:ids)",
}
_HEALTHY = {
    backend: sa.text(
        f"UPDATE webhooks SET failing_since = NULL WHERE id IN ({ids})"  # noqa: S608 (_IDS)
        " AND failing_since IS NOT NULL"
    )
    for backend, ids in _IDS.items()
}
_FAILING = {
    backend: sa.text(
        f"UPDATE webhooks SET failing_since = coalesce(failing_since, :now) WHERE id IN ({ids})"  # noqa: S608 (constant text, _IDS)
    )
    for backend, ids in _IDS.items()
}
_DISABLE = {
    backend: sa.text(
        f"UPDATE webhooks SET status = 'disabled', updated_at = :now WHERE id IN ({ids})"  # noqa: S608 (constant text, _IDS)
    )
    for backend, ids in _IDS.items()
}
# Outcomes are recorded together once this many wait, or when the dispatcher next looks.
RECORD_BATCH = 100
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
        self._last_prune = float("-inf")  # the first step prunes
        self._inflight: set[asyncio.Task[None]] = set()
        self._outcomes: list[tuple[Due, Outcome]] = []

    def wake(self) -> None:
        """Something may be due (a write committed events): look now, not at the next poll."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        # aiohttp rather than httpx: sending took two thirds of a dispatcher's CPU with httpx
        # (py-spy, webhook_drain), which capped it at 449 deliveries a second.
        timeout = aiohttp.ClientTimeout(total=self.settings.webhook_timeout_seconds)
        connector = aiohttp.TCPConnector(limit=max(1, self.settings.webhook_concurrency))
        async with aiohttp.ClientSession(
            timeout=timeout, connector=connector, auto_decompress=False
        ) as client:
            while not stop.is_set():
                try:
                    await self.flush()
                    busy = await self.step(client)
                except Exception:
                    log.exception("dispatcher step failed")
                    busy = False
                if busy:
                    continue
                self._wake.clear()
                # While sends are out, look again soon: their outcomes free the next
                # deliveries of the same contacts.
                pause = 0.05 if self._inflight else self.settings.dispatcher_poll_seconds
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(_first(stop.wait(), self._wake.wait()), pause)
            if self._inflight:
                await asyncio.wait(self._inflight, timeout=self.settings.webhook_timeout_seconds)
            await self.flush()

    async def step(self, client: aiohttp.ClientSession) -> bool:
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
            placed = await feed.place(conn, subscribed_only=True)
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

    async def _send_and_record(self, client: aiohttp.ClientSession, due: Due) -> None:
        try:
            outcome = await self.send(client, due)
        except Exception as error:
            log.exception("delivery %s could not be sent", due.id)
            outcome = Outcome(False, None, f"{type(error).__name__}"[:ERROR_CHARS])
        finally:
            self._slots.release()
        self._outcomes.append((due, outcome))
        if len(self._outcomes) >= RECORD_BATCH or len(self._inflight) <= 1:
            self.wake()

    async def send(self, client: aiohttp.ClientSession, due: Due) -> Outcome:
        problem = await destination_problem(due.url, limits().webhooks_allow_private)
        if problem is not None:
            return Outcome(False, None, problem[:ERROR_CHARS])
        body = due.payload.encode()
        headers = signed_headers(due.secret, f"evt_{due.event_id}", int(time.time()), body)
        try:
            async with client.post(
                due.url, data=body, headers=headers, allow_redirects=False
            ) as response:
                status = response.status
                # A short answer is read so that the connection can be used again; the rest of
                # a long one is dropped with its connection (nothing of it is kept).
                await response.content.read(64 * 1024)
        except TimeoutError:
            return Outcome(False, None, "timed out")
        except aiohttp.ClientError as error:
            return Outcome(False, None, (type(error).__name__ + ": " + str(error))[:ERROR_CHARS])
        if 200 <= status < 300:
            return Outcome(True, status, None)
        return Outcome(False, status, f"HTTP {status}", gone=status == 410)

    def _settled(self, due: Due, outcome: Outcome, now: int) -> dict[str, Any]:
        attempts = due.attempts + 1
        if outcome.ok:
            status, next_at = "succeeded", now
        elif outcome.gone or attempts > len(self.schedule):
            status, next_at = "failed", now
        else:
            delay = self.schedule[attempts - 1] * random.uniform(0.9, 1.1)
            status, next_at = "pending", now + int(delay * 1000)
        DELIVERIES.labels("retrying" if status == "pending" else status).inc()
        return {
            "id": due.id,
            "status": status,
            "attempts": attempts,
            "next_attempt_at": next_at,
            "last_status": outcome.status,
            "last_error": outcome.error,
        }

    async def flush(self) -> None:
        """Record the outcomes gathered since the last flush, in one transaction."""
        if not self._outcomes:
            return
        taken, self._outcomes = self._outcomes, []
        now = now_ms()
        seconds = now // 1000
        rows = [self._settled(due, outcome, now) for due, outcome in taken]
        healthy = sorted({due.webhook_id for due, outcome in taken if outcome.ok})
        failing = sorted({due.webhook_id for due, outcome in taken if not outcome.ok})
        limit = self.settings.webhook_disable_after_seconds
        disabled = sorted(
            {
                due.webhook_id
                for due, outcome in taken
                if not outcome.ok
                and (
                    outcome.gone
                    or seconds - (due.failing_since if due.failing_since else seconds) >= limit
                )
            }
        )
        backend = self.backend
        async with self.db.write_connection() as conn:
            await conn.fetch(
                _RECORD[backend], {"rows": orjson.dumps(rows).decode(), "now": seconds}
            )
            for statement, ids in (
                (_HEALTHY, healthy),
                (_FAILING, failing),
                (_DISABLE, disabled),
            ):
                if ids:
                    params = {"ids": orjson.dumps(ids).decode(), "now": seconds}
                    await conn.fetch(statement[backend], params)
            await conn.commit()

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
