"""Contacts: create, read, update and delete, scoped by account (models/tenancy.py).

Services run Core statements on the request's connection (driver.WriteConnection: raw asyncpg
in a transaction on PostgreSQL, a session elsewhere and for callers that hold one) and never
end its transaction; where the database refuses a write (a unique value another contact
holds), the create's INSERT did nothing (ON CONFLICT DO NOTHING) or the update ran in a
savepoint, so the caller's transaction, and what it wrote before, stays usable. The route
commits. Contacts come back as rows: read by column name (contact.email).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from contactdesk.contacts.fields import (
    ContactInput,
    attributes_too_large,
    parse_contact_fields,
    parse_inbox_field,
    parse_source_field,
)
from contactdesk.contacts.queries import contact_document
from contactdesk.contacts.serialize import (
    contact_inbox_json,
    contact_inboxes_sql,
    contact_json,
    contact_json_sql,
)
from contactdesk.custom_attributes.validation import check_custom_attributes
from contactdesk.driver import BoundedCache, ReadConnection, WriteConnection
from contactdesk.errors import NotFound, ValidationFailed
from contactdesk.events import service as events
from contactdesk.inboxes.serialize import inbox_json
from contactdesk.inboxes.service import SOURCE_TAKEN, default_source_id, source_holder
from contactdesk.models import Contact, ContactInbox, Inbox
from contactdesk.models._time import now_epoch
from contactdesk.models.account import definitions_version_of
from contactdesk.models.tenancy import (
    tenant_delete,
    tenant_select,
    tenant_update,
)
from contactdesk.values import has_nul, parse_id

UNIQUE_FIELDS = (
    ("email", "Email has already been taken"),
    ("phone_number", "Phone number has already been taken"),
    ("identifier", "Identifier has already been taken"),
)
JSON_FIELDS = ("custom_attributes", "additional_attributes")
NOT_SAVED = "Contact could not be saved, please retry"

# Core tables: plain SQL, with no ORM session bookkeeping, on every driver.
CONTACTS = cast(sa.Table, Contact.__table__)
CONTACT_INBOXES = cast(sa.Table, ContactInbox.__table__)
INBOXES = cast(sa.Table, Inbox.__table__)

# The hot statements are built once, with the account and the ids as bind parameters.
_ACCOUNT = sa.bindparam("account_id", type_=sa.BigInteger)
_CONTACT_ID = sa.bindparam("contact_id", type_=sa.BigInteger)
# In an UPDATE, a bind parameter may not take a column's name.
_UPDATED_ACCOUNT = sa.bindparam("tenant_account_id", type_=sa.BigInteger)
# The account's definitions_version (migration 0005) comes with the row.
CONTACT_COLUMNS = (*CONTACTS.c, definitions_version_of(CONTACTS.c.account_id))
_CONTACT = tenant_select(_ACCOUNT, *CONTACT_COLUMNS).where(CONTACTS.c.id == _CONTACT_ID)
_CONTACT_FOR_UPDATE = _CONTACT.with_for_update()
# The same, locked, with its contact inboxes rendered by the database (contact_inboxes_json):
# an update answers them without another statement (an update does not change them, and the
# lock keeps an attach from changing them meanwhile).
_CONTACT_FOR_UPDATE_WITH_INBOXES = {
    backend: tenant_select(
        _ACCOUNT, *CONTACT_COLUMNS, contact_inboxes_sql(backend).label("contact_inboxes_json")
    )
    .where(CONTACTS.c.id == _CONTACT_ID)
    .with_for_update(of=CONTACTS)
    for backend in ("postgresql", "sqlite")
}
_CONTACT_INBOXES = (
    tenant_select(
        _ACCOUNT,
        CONTACT_INBOXES.c.contact_id,
        CONTACT_INBOXES.c.source_id,
        INBOXES.c.id,
        INBOXES.c.avatar_url,
        INBOXES.c.name,
        INBOXES.c.channel_type,
        INBOXES.c.provider,
    )
    .join(INBOXES, INBOXES.c.id == CONTACT_INBOXES.c.inbox_id)
    .where(CONTACT_INBOXES.c.contact_id.in_(sa.bindparam("contact_ids", expanding=True)))
    .order_by(CONTACT_INBOXES.c.id)
)


async def get_contact(
    conn: ReadConnection | WriteConnection,
    account_id: int,
    contact_id: str | int,
    *,
    for_update: bool = False,
    with_contact_inboxes: bool = False,
) -> Any:
    """The contact's row (every column); 404 when the account has no such contact.
    with_contact_inboxes (with for_update): also contact_inboxes_json, for contact_json."""
    parsed = parse_id(contact_id)
    if parsed is None:
        raise NotFound()
    statement = _CONTACT_FOR_UPDATE if for_update else _CONTACT
    if with_contact_inboxes:
        assert for_update, "contact inboxes are read with the row locked"
        statement = _CONTACT_FOR_UPDATE_WITH_INBOXES[conn.backend]
    rows = await conn.fetch(statement, {"account_id": account_id, "contact_id": parsed})
    if not rows:
        raise NotFound()
    return rows[0]


async def contact_inboxes_of(
    conn: ReadConnection, account_id: int, contact_ids: list[int]
) -> dict[int, list[dict[str, Any]]]:
    """The contact inboxes of many contacts in one query."""
    result: dict[int, list[dict[str, Any]]] = {cid: [] for cid in contact_ids}
    if not contact_ids:
        return result
    rows = await conn.fetch(
        _CONTACT_INBOXES, {"account_id": account_id, "contact_ids": contact_ids}
    )
    for row in rows:
        result[row.contact_id].append({"source_id": row.source_id, "inbox": inbox_json(row)})
    return result


def stored_contact_inboxes(contact: Any) -> Any:
    """The contact_inboxes_json of a row read with_contact_inboxes, for contact_json: the
    JSON text as a Fragment (a session on PostgreSQL hands it over decoded)."""
    value = contact.contact_inboxes_json
    return value if isinstance(value, list) else orjson.Fragment(value)


async def render(
    conn: ReadConnection, contact: Any, *, include_contact_inboxes: bool = True
) -> Any:
    """The contact as the API answers it, as it is now in the connection's transaction,
    rendered by the database (contacts/queries.py): JSON text passed on as a Fragment."""
    return await contact_document(
        conn, contact.account_id, contact.id, contact_inboxes=include_contact_inboxes
    )


async def conflict_error(
    conn: ReadConnection, account_id: int, values: dict[str, Any], exclude_id: int | None = None
) -> ValidationFailed | None:
    """The 422 naming the unique fields of values another contact of the account holds, with
    the first holder's id; None when no other contact holds any."""
    wanted = [(f, m) for f, m in UNIQUE_FIELDS if values.get(f) is not None]
    if not wanted:
        return None
    columns = CONTACTS.c
    conditions = [columns[f] == values[f] for f, _ in wanted]
    statement = tenant_select(
        account_id, columns.id, columns.email, columns.phone_number, columns.identifier
    ).where(sa.or_(*conditions))
    if exclude_id is not None:
        statement = statement.where(columns.id != exclude_id)
    rows = await conn.fetch(statement, {})
    problems: list[tuple[str, str]] = []
    first_id: int | None = None
    for attribute, message in wanted:
        holder = next((r.id for r in rows if getattr(r, attribute) == values[attribute]), None)
        if holder is not None:
            problems.append((attribute, message))
            first_id = holder if first_id is None else first_id
    if not problems:
        return None
    return ValidationFailed(problems, extra={"conflicting_contact_id": first_id})


async def validation_error(
    conn: ReadConnection,
    account_id: int,
    data: ContactInput,
    exclude_id: int | None = None,
) -> ValidationFailed:
    """The 422 of a body with problems: every format problem plus the fields another contact
    holds, listed at once."""
    problems = list(data.problems)
    extra: dict[str, Any] = {}
    conflict = await conflict_error(conn, account_id, data.values, exclude_id)
    if conflict is not None:
        problems += conflict.problems
        extra = conflict.extra
    return ValidationFailed(problems, extra=extra)


async def check_definitions(
    conn: ReadConnection, account_id: int, data: ContactInput, version: int | None = None
) -> None:
    """Check and normalise data's custom_attributes against the account's definitions, once
    per input; each refused value is appended to data.problems. version: the account's
    definitions_version, read with a row the caller read anyway."""
    if data.definitions_checked:
        return
    data.definitions_checked = True
    sent = data.values.get("custom_attributes")
    if not sent:
        return  # absent, {} or refused by the field checks already
    normalised, problems = await check_custom_attributes(conn, account_id, sent, version)
    data.values["custom_attributes"] = normalised
    data.problems += problems


def _stored_attributes(data: ContactInput, contact: Any) -> dict[str, Any]:
    """The JSON attributes to store: those sent (normalised), merged into the contact's on an
    update. One that would exceed limits().max_attributes_bytes once stored is a problem
    appended to data.problems: the request's object is checked alone by the field rules, but
    normalised values may grow and repeated merges add up."""
    stored: dict[str, Any] = {}
    for key in JSON_FIELDS:
        sent = data.values.get(key)
        if sent is None or any(a == key or a.startswith(key + ".") for a, _ in data.problems):
            continue  # not sent, or refused already
        value = sent if contact is None else {**(getattr(contact, key) or {}), **sent}
        problem = attributes_too_large(key, value, merged=contact is not None)
        if problem is not None:
            data.problems.append((key, problem))
        stored[key] = value
    return stored


def _derive_name(values: dict[str, Any], first: str, last: str) -> None:
    """first_name/last_name without name: name is the non-empty ones joined by a space."""
    if "name" in values or not ({"first_name", "last_name"} & values.keys()):
        return
    values["name"] = " ".join(part for part in (first, last) if part)


def _version(row: Any) -> int | None:
    """The account's definitions_version a row was read with (None: not read with it)."""
    return getattr(row, "definitions_version", None) if row is not None else None


def _writes_unique(values: dict[str, Any]) -> bool:
    """Whether writing values can meet a unique constraint (only these fields have one)."""
    return any(values.get(field) is not None for field, _ in UNIQUE_FIELDS)


@dataclass
class Created:
    contact: Any  # the new contact's row
    inbox: Any  # the inbox's row, or None
    source_id: str | None


async def parse_create_body(
    conn: ReadConnection, body: dict[str, Any], account_id: int, dialect: str
) -> tuple[ContactInput, int | None, str | None]:
    """The create body (contract §5): the contact fields (custom attributes checked against
    the account's definitions), inbox_id (required in the v2 API dialect) and source_id;
    every problem is collected in the returned input's problems."""
    data, inbox_id, source_id, others = parse_create_fields(body, dialect)
    await check_definitions(conn, account_id, data)
    data.problems += others
    return data, inbox_id, source_id


def parse_create_fields(
    body: dict[str, Any], dialect: str
) -> tuple[ContactInput, int | None, str | None, list[tuple[str, str]]]:
    """parse_create_body without the definitions: the contact fields, inbox_id, source_id and
    the problems of those two, which the caller adds to data.problems after it checked the
    definitions (check_definitions), so that the 422 lists them in the same order."""
    data = parse_contact_fields(body, creating=True)
    others: list[tuple[str, str]] = []
    inbox_id = None
    if dialect == "v2" or body.get("inbox_id") is not None:
        inbox_id = parse_inbox_field(body, others)
    source_id = parse_source_field(body, others)
    return data, inbox_id, source_id, others


# What a new contact holds where the body says nothing: every column, so that one prebuilt
# INSERT serves every body.
NEW_CONTACT: dict[str, Any] = {
    "name": "",
    "first_name": "",
    "last_name": "",
    "email": None,
    "phone_number": None,
    "identifier": None,
    "blocked": False,
    "thumbnail": "",
    "availability_status": "offline",
    "additional_attributes": {},
    "custom_attributes": {},
    "last_activity_at": None,
}
_INSERTED_COLUMNS = ("account_id", *NEW_CONTACT, "created_at", "updated_at")


def _values(table: sa.Table, names: tuple[str, ...]) -> dict[str, Any]:
    """VALUES of named bind parameters, new_<column> (a column's own name is reserved)."""
    return {name: sa.bindparam(f"new_{name}", type_=table.c[name].type) for name in names}


def _new(row: dict[str, Any]) -> dict[str, Any]:
    return {f"new_{name}": value for name, value in row.items()}


_CONTACT_INBOX_COLUMNS = (
    "account_id",
    "contact_id",
    "inbox_id",
    "source_id",
    "hmac_verified",
    "created_at",
)


def _build_inserts(backend: str) -> tuple[Any, Any]:
    """The contact and contact inbox INSERTs of a backend: a refused unique value is an
    empty RETURNING, not an error (ON CONFLICT DO NOTHING)."""
    insert = pg_insert if backend == "postgresql" else sqlite_insert
    contact = (
        insert(CONTACTS)
        .values(_values(CONTACTS, _INSERTED_COLUMNS))
        .on_conflict_do_nothing()
        .returning(*CONTACTS.c)
    )
    contact_inbox = (
        insert(CONTACT_INBOXES)
        .values(_values(CONTACT_INBOXES, _CONTACT_INBOX_COLUMNS))
        .on_conflict_do_nothing()
        .returning(CONTACT_INBOXES.c.id)
    )
    return contact, contact_inbox


_INSERTS = {backend: _build_inserts(backend) for backend in ("postgresql", "sqlite")}


def _created_event(contact: sa.CTE) -> sa.CTE:
    """PostgreSQL: contact_created for the contact the statement inserts (the CTE contact),
    its body rendered from the new row as the API renders it, plus its contact inboxes and
    the source (bind parameters event_inboxes, a JSON array, and event_source): the event
    costs no round trip of its own, and none is written when the insert is refused."""
    contacts = contact.alias("contacts")  # contact_json_sql names the table contacts
    accounts = events.ACCOUNTS
    source = sa.bindparam("event_source", type_=sa.String)
    extra = sa.func.jsonb_build_object(
        "contact_inboxes",
        sa.cast(sa.bindparam("event_inboxes", type_=sa.Text), JSONB),
        "avatar",
        sa.func.coalesce(contacts.c.thumbnail, ""),
        "account",
        sa.func.jsonb_build_object("id", accounts.c.id, "name", accounts.c.name),
        "event",
        events.CREATED,
        "source",
        source,
    )
    body = sa.cast(contact_json_sql("postgresql", contact_inboxes=False), JSONB).op("||")(extra)
    values = sa.select(
        contacts.c.account_id,
        contacts.c.id,
        sa.literal(events.CREATED),
        source,
        sa.cast(body, sa.Text),
        contacts.c.created_at,
    ).select_from(contacts.join(accounts, accounts.c.id == contacts.c.account_id))
    columns = ("account_id", "contact_id", "event", "source", "payload", "created_at")
    table = events.EVENTS_TABLE
    return pg_insert(table).from_select(columns, values).returning(table.c.id).cte("new_event")


def _new_contact() -> sa.CTE:
    """PostgreSQL: the contact's INSERT as the CTE new_contact (refused: no row)."""
    return (
        pg_insert(CONTACTS)
        .values(_values(CONTACTS, _INSERTED_COLUMNS))
        .on_conflict_do_nothing()
        .returning(*CONTACTS.c)
        .cte("new_contact")
    )


def _build_insert_alone_with_event() -> Any:
    contact = _new_contact()
    return sa.select(*contact.c).add_cte(_created_event(contact))


def _build_insert_with_inbox(with_event: bool = False) -> Any:
    """PostgreSQL: both inserts in one statement (one round trip, and the account's counter
    shard, which the contact's insert locks, is held for one round trip less): the new
    contact's columns, and linked = 1 when its contact inbox was inserted, 0 when the
    source_id is another contact's."""
    contact = _new_contact()
    contact_inbox = (
        pg_insert(CONTACT_INBOXES)
        .from_select(
            list(_CONTACT_INBOX_COLUMNS),
            sa.select(
                contact.c.account_id,
                contact.c.id,
                sa.bindparam("new_inbox_id", type_=sa.BigInteger),
                sa.bindparam("new_source_id", type_=sa.String),
                sa.false(),
                contact.c.created_at,
            ),
        )
        .on_conflict_do_nothing()
        .returning(CONTACT_INBOXES.c.id)
        .cte("new_contact_inbox")
    )
    linked = sa.select(sa.func.count()).select_from(contact_inbox).scalar_subquery()
    both = sa.select(*contact.c, linked.label("linked"))
    return both.add_cte(_created_event(contact)) if with_event else both


_INSERT_WITH_INBOX = {
    ("postgresql", False): _build_insert_with_inbox(),
    ("postgresql", True): _build_insert_with_inbox(with_event=True),
}
_INSERT_ALONE_WITH_EVENT = {"postgresql": _build_insert_alone_with_event()}
_DELETE_EVENTS = tenant_delete(events.EVENTS_TABLE, _ACCOUNT).where(
    events.EVENTS_TABLE.c.contact_id == _CONTACT_ID
)


async def _insert(
    conn: WriteConnection,
    row: dict[str, Any],
    inbox: Any,
    source_id: str | None,
    event_source: str | None = None,
) -> tuple[Any, bool]:
    """(the new contact's row, or None when a unique value refused it; whether its contact
    inbox in inbox was inserted, or True without an inbox). event_source: write its
    contact_created too (PostgreSQL: in the same statement; elsewhere the caller does)."""
    now = now_epoch()
    params = _new({**row, "created_at": now, "updated_at": now})
    with_event = event_source is not None and conn.backend == "postgresql"
    if with_event:
        inboxes = [contact_inbox_json(source_id, inbox)] if inbox is not None and source_id else []
        params["event_inboxes"] = orjson.dumps(inboxes).decode()
        params["event_source"] = event_source
    if inbox is None:
        alone = _INSERT_ALONE_WITH_EVENT.get(conn.backend) if with_event else None
        statement = alone if alone is not None else _INSERTS[conn.backend][0]
        return await conn.fetchrow(statement, params), True
    both = _INSERT_WITH_INBOX.get((conn.backend, with_event))
    if both is not None:  # PostgreSQL: one statement
        params["new_inbox_id"], params["new_source_id"] = inbox.id, source_id
        contact = await conn.fetchrow(both, params)
        return contact, contact is not None and bool(contact.linked)
    contact = await conn.fetchrow(_INSERTS[conn.backend][0], params)
    if contact is None:
        return None, False
    linked = await conn.fetchrow(
        _INSERTS[conn.backend][1],
        _new(
            {
                "account_id": row["account_id"],
                "contact_id": contact.id,
                "inbox_id": inbox.id,
                "source_id": source_id,
                "hmac_verified": False,
                "created_at": now,
            }
        ),
    )
    return contact, linked is not None


async def create_contact(
    conn: WriteConnection,
    account_id: int,
    data: ContactInput,
    inbox: Any,
    source_id: str | None,
    event_source: str | None = None,
) -> Created:
    """Insert a contact (and its contact inbox in inbox, a row, when given); with
    event_source, its contact_created event too (in the insert's statement on PostgreSQL).
    A unique value
    another contact holds is a 422 naming it, whoever wrote it first, and leaves the caller's
    transaction as it was.

    The inserts say ON CONFLICT DO NOTHING, so a refusal is an empty RETURNING, not an error:
    no savepoint is needed (it cost two round trips on every create). A contact inbox refused
    for its source_id takes its new contact back with it. Only a parent deleted meanwhile (the
    account, and with it the inbox) raises, as a 404, and ends the transaction on PostgreSQL.
    """
    await check_definitions(conn, account_id, data, _version(inbox))
    _stored_attributes(data, None)
    if data.problems:
        raise await validation_error(conn, account_id, data)
    values = dict(data.values)
    _derive_name(values, values.get("first_name", ""), values.get("last_name", ""))
    row = {**NEW_CONTACT, **values, "account_id": account_id}
    chosen = None
    if inbox is not None:  # decided before anything is written (a channel may refuse here)
        chosen = source_id or default_source_id(
            inbox, values.get("email"), values.get("phone_number")
        )
    for _attempt in range(3):
        try:
            contact, linked = await _insert(conn, row, inbox, chosen, event_source)
            if contact is not None and not linked:
                # The source_id is another contact's: the new contact goes (with its event).
                gone = {"account_id": account_id, "contact_id": contact.id}
                await conn.fetch(_DELETE, gone)
                await conn.fetch(_DELETE_EVENTS, gone)
                if source_id is not None and await source_holder(conn, inbox, source_id):
                    raise ValidationFailed([("source_id", SOURCE_TAKEN)])
                continue
        except IntegrityError:
            raise NotFound() from None  # not a unique value: the account went away
        if contact is not None:
            if event_source is not None and conn.backend != "postgresql":
                inboxes = (
                    [contact_inbox_json(chosen, inbox)] if inbox is not None and chosen else []
                )
                rendered = contact_json(contact, inboxes)
                created = events.event_params(account_id, events.CREATED, event_source, rendered)
                await events.record(conn, created)
            return Created(contact, inbox, chosen)
        # Refused: name what another contact holds. When nothing is held any more (the
        # holder was deleted meanwhile), try again.
        conflict = await conflict_error(conn, account_id, values)
        if conflict is not None:
            raise conflict
    raise ValidationFailed([("contact", NOT_SAVED)])


# An UPDATE per set of fields sent (a handful of shapes in practice; bounded all the same).
_UPDATES: BoundedCache[tuple[str, frozenset[str], bool], Any] = BoundedCache(2 * 1024 * 1024)

# Given the contact's row and the values about to be written, the parameters of its event
# (events.event_params), or None when the change needs none.
EventOf = Callable[[Any, dict[str, Any]], dict[str, Any] | None]


def _update_statement(backend: str, fields: frozenset[str], with_event: bool = False) -> Any:
    """The UPDATE of these fields; with_event (PostgreSQL), with the event's INSERT in the
    same statement (events.insert_when)."""
    key = (backend, fields, with_event)
    statement = _UPDATES.get(key)
    if statement is None:
        statement = (
            tenant_update(CONTACTS, _UPDATED_ACCOUNT)
            .where(CONTACTS.c.id == _CONTACT_ID)
            .values(_values(CONTACTS, tuple(sorted(fields))))
            .returning(*CONTACTS.c)
        )
        if with_event:
            updated = statement.cte("updated")
            statement = sa.select(*updated.c).add_cte(events.insert_when(updated))
        _UPDATES.put(key, statement, 8192)
    return statement


async def update_contact(
    conn: WriteConnection, contact: Any, data: ContactInput, event: EventOf | None = None
) -> Any:
    """Apply the sent fields to the contact (a row); JSON attributes merge top-level keys into
    the stored objects. Returns the updated row.

    The caller fetched the contact with for_update=True, so concurrent merges do not lose keys.
    A unique value another contact holds is refused by the database (inside a savepoint) and
    answered as a 422 naming every such field. event: the change's event, written with the
    UPDATE (in its statement on PostgreSQL: no round trip more while the row and the
    account's counter shard are locked).
    """
    account_id, own_id = contact.account_id, contact.id
    await check_definitions(conn, account_id, data, _version(contact))
    stored = _stored_attributes(data, contact)
    if data.problems:
        raise await validation_error(conn, account_id, data, own_id)
    values = dict(data.values)
    _derive_name(
        values,
        values.get("first_name", contact.first_name),
        values.get("last_name", contact.last_name),
    )
    for key in JSON_FIELDS:
        if key in values:
            values[key] = stored[key]
    values["updated_at"] = now_epoch()
    recorded = event(contact, values) if event is not None else None
    in_statement = recorded is not None and conn.backend == "postgresql"
    statement = _update_statement(conn.backend, frozenset(values), in_statement)
    params = _new(values)
    if in_statement and recorded is not None:
        params.update(recorded)
    params["tenant_account_id"], params["contact_id"] = account_id, own_id
    # Only a unique field can be refused; other updates need no savepoint (two round trips).
    guarded = conn.savepoint() if _writes_unique(values) else contextlib.nullcontext()
    try:
        async with guarded:
            updated = await conn.fetchrow(statement, params)
    except IntegrityError:
        conflict = await conflict_error(conn, account_id, values, exclude_id=own_id)
        raise conflict or ValidationFailed([("contact", NOT_SAVED)]) from None
    if updated is None:
        raise NotFound()
    if recorded is not None and not in_statement:
        await events.record(conn, recorded)
    return updated


def parse_attribute_keys(body: dict[str, Any]) -> list[str]:
    """{"custom_attributes": ["key", ...]}: a list of non-empty strings."""
    keys = body.get("custom_attributes")
    valid = isinstance(keys, list) and all(
        isinstance(key, str) and key and not has_nul(key) for key in keys
    )
    if not valid:
        raise ValidationFailed([("custom_attributes", "Custom attributes must be a list of keys")])
    return list(keys) if isinstance(keys, list) else []


_SET_CUSTOM_ATTRIBUTES = (
    tenant_update(CONTACTS, _UPDATED_ACCOUNT)
    .where(CONTACTS.c.id == _CONTACT_ID)
    .values(
        custom_attributes=sa.bindparam(
            "new_custom_attributes", type_=CONTACTS.c.custom_attributes.type
        ),
        updated_at=sa.bindparam("new_updated_at", type_=sa.BigInteger),
    )
)


async def destroy_custom_attributes(conn: WriteConnection, contact: Any, keys: list[str]) -> None:
    """Remove these keys from the contact's custom attributes; absent keys are ignored.

    The caller fetched the contact with for_update=True, so a concurrent merge keeps its keys.
    """
    current = contact.custom_attributes or {}
    remaining = {k: v for k, v in current.items() if k not in keys}
    if remaining != current:
        await conn.fetch(
            _SET_CUSTOM_ATTRIBUTES,
            {
                "tenant_account_id": contact.account_id,
                "contact_id": contact.id,
                "new_custom_attributes": remaining,
                "new_updated_at": now_epoch(),
            },
        )


_DELETE = (
    tenant_delete(CONTACTS, _ACCOUNT).where(CONTACTS.c.id == _CONTACT_ID).returning(CONTACTS.c.id)
)


async def delete_contact(conn: WriteConnection, account_id: int, contact_id: str | int) -> None:
    parsed = parse_id(contact_id)
    if parsed is None:
        raise NotFound()
    deleted = await conn.fetch(_DELETE, {"account_id": account_id, "contact_id": parsed})
    if not deleted:
        raise NotFound()
