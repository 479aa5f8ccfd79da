"""The account's event feed: every committed event once, in the order they committed.

Event ids come from a sequence, taken when the row is written, and transactions commit in
another order than they began (on PostgreSQL; SQLite's writers run one at a time). A reader
that followed ids would skip an event whose transaction committed after a later id had been
read. So an event gets its place in the feed (`position`) only once committed: place()
numbers the committed, unplaced events after their account's last position, in id order,
holding a lock (one placer at a time) until it commits. Positions are therefore handed out in commit
order (to the resolution of one place() call; one contact's changes are serialized by its row
lock, so they are placed in the order they happened), each batch visible whole, and a reader
following positions misses nothing and sees nothing twice.

place() runs before a read of the feed and in the dispatcher; it writes, so it runs in a
transaction of its own that the caller commits.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson
import sqlalchemy as sa

from contactdesk.driver import ReadConnection, WriteConnection

PLACE_BATCH = 10_000
# The placing lock (PostgreSQL): one placer at a time, whichever account it places for.
FEED_LOCK = 0x0FEE << 48

_LOCK = sa.text("SELECT pg_advisory_xact_lock(:key)")
_UNPLACED = sa.text(
    "SELECT 1 FROM events WHERE account_id = :account_id AND position IS NULL LIMIT 1"
)
# The oldest unplaced events of every account, numbered after each account's last position.
# An account's events taken are always the oldest of its unplaced ones (the batch is the
# oldest events overall), so its numbers follow its ids. The batch is chosen first, and only
# it numbered: a window over every unplaced event would cost a large backlog at each batch.
_BATCH = "SELECT id, account_id FROM events WHERE position IS NULL"
_SUBSCRIBED = " AND account_id IN (SELECT account_id FROM webhooks)"
_PLACE_REST = (
    " unplaced AS ("
    " SELECT id, account_id, row_number() OVER (PARTITION BY account_id ORDER BY id) AS n"
    " FROM batch),"
    " last AS (SELECT a.account_id, coalesce((SELECT max(e.position) FROM events e"
    " WHERE e.account_id = a.account_id AND e.position IS NOT NULL), 0) AS p"
    " FROM (SELECT DISTINCT account_id FROM unplaced) a) "
    "UPDATE events SET position = last.p + unplaced.n FROM unplaced"
    " JOIN last ON last.account_id = unplaced.account_id WHERE events.id = unplaced.id "
    "RETURNING events.id"
)
_PLACE = {
    subscribed: sa.text(
        "WITH batch AS ("
        + _BATCH
        + (_SUBSCRIBED if subscribed else "")
        + " ORDER BY id LIMIT :batch),"
        + _PLACE_REST
    )
    for subscribed in (False, True)
}
# The deliveries of newly placed events: one per webhook of the event's account subscribed
# to it and not excluding its source (a disabled webhook too: enabling it resumes its
# backlog).
_FAN_OUT = {
    "postgresql": sa.text(
        "INSERT INTO webhook_deliveries (account_id, webhook_id, event_id, contact_id, event,"
        " status, attempts, next_attempt_at, created_at, updated_at)"
        " SELECT e.account_id, w.id, e.id, e.contact_id, e.event, 'pending', 0, :now_ms, :now,"
        " :now FROM events e JOIN webhooks w ON w.account_id = e.account_id"
        " WHERE e.id = ANY(CAST(:ids AS bigint[]))"
        " AND w.subscriptions @> jsonb_build_array(e.event)"
        " AND NOT w.exclude_sources @> jsonb_build_array(e.source) ORDER BY e.id"
    ),
    "sqlite": sa.text(
        "INSERT INTO webhook_deliveries (account_id, webhook_id, event_id, contact_id, event,"
        " status, attempts, next_attempt_at, created_at, updated_at)"
        " SELECT e.account_id, w.id, e.id, e.contact_id, e.event, 'pending', 0, :now_ms, :now,"
        " :now FROM events e JOIN webhooks w ON w.account_id = e.account_id"
        " WHERE e.id IN (SELECT value FROM json_each(:ids))"
        " AND EXISTS (SELECT 1 FROM json_each(w.subscriptions) s WHERE s.value = e.event)"
        " AND NOT EXISTS (SELECT 1 FROM json_each(w.exclude_sources) x"
        " WHERE x.value = e.source) ORDER BY e.id"
    ),
}
_READ = sa.text(
    "SELECT id, position, event, created_at, payload FROM events"
    " WHERE account_id = :account_id AND position > :after"
    " ORDER BY position LIMIT :limit"
)


async def has_unplaced(conn: ReadConnection, account_id: int) -> bool:
    return bool(await conn.fetch(_UNPLACED, {"account_id": account_id}))


async def place(conn: WriteConnection, *, subscribed_only: bool = False) -> int:
    """Give the oldest committed, unplaced events (at most PLACE_BATCH, of every account, or
    with subscribed_only of the accounts that have webhooks) their positions and their
    webhook deliveries; how many were placed. The caller commits.

    The dispatcher places only what has somewhere to go: placing rewrites each event's row,
    and doing it for every account each second took 15-20 % of the writes' throughput (bench).
    The feed of an account without webhooks is placed when it is read."""
    if conn.backend == "postgresql":
        await conn.fetch(_LOCK, {"key": FEED_LOCK})
    rows = await conn.fetch(_PLACE[subscribed_only], {"batch": PLACE_BATCH})
    if rows:
        ids = sorted(int(row[0]) for row in rows)
        now = time.time()
        await conn.fetch(
            _FAN_OUT[conn.backend],
            {
                "ids": ids if conn.backend == "postgresql" else orjson.dumps(ids).decode(),
                "now_ms": int(now * 1000),
                "now": int(now),
            },
        )
    return len(rows)


async def read(
    conn: ReadConnection, account_id: int, after: int, limit: int
) -> Sequence[Sequence[Any]]:
    """(id, position, event, created_at, payload text) of the placed events after `after`."""
    return await conn.fetch(_READ, {"account_id": account_id, "after": after, "limit": limit})
