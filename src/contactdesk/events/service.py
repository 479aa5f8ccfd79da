"""Writing contact events, in the transaction of the change they describe.

An event row holds the JSON body a webhook receives: the contact as the API renders it (with
`avatar`, as the reference sends it), `account: {id, name}`, `event`, `source` and, for
`contact_updated`, `changed_attributes`. The account's name is read by the INSERT itself, so
an event costs one statement. A change that rolls back takes its events with it; a committed
one always has them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any, cast

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB

from contactdesk.driver import WriteConnection
from contactdesk.models import Account, Event

EVENTS_TABLE = cast(sa.Table, Event.__table__)
ACCOUNTS = cast(sa.Table, Account.__table__)

CREATED = "contact_created"
UPDATED = "contact_updated"
DELETED = "contact_deleted"
MERGED = "contact_merged"
SOURCES = ("api", "merge", "bulk", "import")

# Rendered keys whose change is no reason to tell anyone: activity moves by itself (the
# reference's users call an update for it excess traffic); the conversation count is not
# kept here.
QUIET_KEYS = frozenset({"last_activity_at", "conversations_count"})


def changed_attributes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """[{"<attr>": {"previous_value", "current_value"}}] for each rendered attribute that
    differs (whole objects for custom and additional attributes); [] when nothing that
    matters changed."""
    changes: list[dict[str, Any]] = []
    for key, current in after.items():
        if key in QUIET_KEYS:
            continue
        previous = before.get(key)
        if previous != current:
            changes.append({key: {"previous_value": previous, "current_value": current}})
    return changes


def _payload(backend: str) -> sa.ColumnElement[Any]:
    """The event's JSON body: the body bound as text, with the account added from its row."""
    body = sa.bindparam("body", type_=sa.Text)
    if backend == "postgresql":
        account = sa.func.jsonb_build_object("id", ACCOUNTS.c.id, "name", ACCOUNTS.c.name)
        merged = sa.cast(body, JSONB).op("||")(sa.func.jsonb_build_object("account", account))
        return sa.cast(merged, sa.Text)
    account = sa.func.json_object("id", ACCOUNTS.c.id, "name", ACCOUNTS.c.name)
    return sa.func.json_set(body, "$.account", sa.func.json(account))


_COLUMNS = ("account_id", "contact_id", "event", "source", "payload", "created_at")


def _values(backend: str) -> sa.Select[Any]:
    """The row of an event (event_params' bind parameters), from its account's row."""
    return sa.select(
        ACCOUNTS.c.id,
        sa.bindparam("contact_id", type_=sa.BigInteger),
        sa.bindparam("event", type_=sa.String),
        sa.bindparam("source", type_=sa.String),
        _payload(backend),
        sa.bindparam("created_at", type_=sa.BigInteger),
    ).where(ACCOUNTS.c.id == sa.bindparam("account_id", type_=sa.BigInteger))


def _insert(backend: str) -> sa.Insert:
    return (
        sa.insert(EVENTS_TABLE).from_select(_COLUMNS, _values(backend)).returning(EVENTS_TABLE.c.id)
    )


_INSERTS = {backend: _insert(backend) for backend in ("postgresql", "sqlite")}


def event_body(
    event: str,
    source: str,
    contact: Mapping[str, Any],
    changed: list[dict[str, Any]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {**contact, "avatar": contact.get("thumbnail", "")}
    body.update(extra or {})
    body["event"] = event
    body["source"] = source
    if changed is not None:
        body["changed_attributes"] = changed
    return body


def event_params(
    account_id: int,
    event: str,
    source: str,
    contact: Mapping[str, Any],
    changed: list[dict[str, Any]] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The bind parameters of one event's INSERT (record(), insert_when())."""
    body = event_body(event, source, contact, changed, extra)
    return {
        "account_id": account_id,
        "contact_id": contact.get("id"),
        "event": event,
        "source": source,
        "body": orjson.dumps(body).decode(),
        "created_at": int(time.time()),
    }


async def record(conn: WriteConnection, params: Mapping[str, Any]) -> None:
    """Write one event (event_params) in the caller's transaction."""
    await conn.fetch(_INSERTS[conn.backend], params)


def update_params(
    account_id: int,
    source: str,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    labels: tuple[list[str], list[str]] | None = None,
) -> dict[str, Any] | None:
    """The INSERT parameters of contact_updated, or None when nothing that matters changed.
    labels: (before, after), when the change touched the contact's labels."""
    changed = changed_attributes(before, after)
    if labels is not None and labels[0] != labels[1]:
        changed.append({"labels": {"previous_value": labels[0], "current_value": labels[1]}})
    if not changed:
        return None
    return event_params(account_id, UPDATED, source, after, changed)


def insert_when(present: sa.CTE) -> sa.CTE:
    """PostgreSQL: the event INSERT (event_params' bind parameters) as a CTE of the statement
    that makes the change, writing only when `present` (the change's own CTE) has a row: the
    event costs no round trip of its own."""
    values = _values("postgresql").where(sa.exists(sa.select(sa.literal(1)).select_from(present)))
    insert = sa.insert(EVENTS_TABLE).from_select(_COLUMNS, values).returning(EVENTS_TABLE.c.id)
    return insert.cte("new_event")


async def record_update(
    conn: WriteConnection,
    account_id: int,
    source: str,
    before: Mapping[str, Any],
    after: Mapping[str, Any],
    labels: tuple[list[str], list[str]] | None = None,
) -> None:
    """contact_updated, when something besides activity changed; nothing otherwise."""
    params = update_params(account_id, source, before, after, labels)
    if params is not None:
        await record(conn, params)
