"""Applying rows of a contact import, a batch at a time, in the caller's transaction.

Each row upserts one contact by identifier, then email, then phone number, with the API's
validation (contacts/fields.py, typed custom attributes included):

* its keys match no contact: the contact is created;
* they match one: it is updated by the update rules (fields sent replace, JSON attributes
  merge their keys, labels are added); a row that changes nothing is `unchanged`;
* they match different contacts, or a value is refused: the row fails alone, with its reason.

A batch's rows are matched against the database and against the rows before them in the
batch (a later row updates the contact an earlier row created), then written with a few
statements: the new contacts, the updates, the labels, one event per contact the batch
created or changed (source `import`; a contact changed by several rows of one batch gets one
event, with the changes summed), and the refused rows. When the database refuses the batch's
writes (a concurrent request took a unique value meanwhile), they are undone (savepoint) and
its rows are applied one by one, each in a savepoint of its own.
"""

from __future__ import annotations

import functools
import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import asyncpg
import orjson
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contactdesk.actions.contact_csv import (
    ADDITIONAL,
    CUSTOM_PREFIX,
    STANDARD,
    custom_value,
    split_labels,
    unescape,
)
from contactdesk.contacts.fields import ContactInput, attributes_too_large, parse_contact_fields
from contactdesk.contacts.filter_sql import JsonArray, any_of
from contactdesk.contacts.queries import contact_states
from contactdesk.contacts.serialize import contact_json
from contactdesk.contacts.service import NEW_CONTACT
from contactdesk.custom_attributes.validation import check_values, contact_definitions
from contactdesk.db import backend_of, connection_of
from contactdesk.errors import ValidationFailed
from contactdesk.events import service as events
from contactdesk.labels.service import ensure_label_ids, parse_labels_body, sorted_labels
from contactdesk.models import Account, Contact, ContactImportError, ContactLabel
from contactdesk.models.tenancy import tenant_select, tenant_update

CONTACTS = cast(sa.Table, Contact.__table__)
CONTACT_LABELS = cast(sa.Table, ContactLabel.__table__)
IMPORT_ERRORS = cast(sa.Table, ContactImportError.__table__)
ACCOUNTS = cast(sa.Table, Account.__table__)
MATCH_KEYS = ("identifier", "email", "phone_number")
# The fields a row can write, as stored.
WRITTEN = (
    "name",
    "first_name",
    "last_name",
    "email",
    "phone_number",
    "identifier",
    "blocked",
    "additional_attributes",
    "custom_attributes",
)
JSON_FIELDS = ("additional_attributes", "custom_attributes")


@dataclass
class Row:
    line: int
    cells: list[str]
    values: dict[str, Any] = field(default_factory=dict)
    labels: list[str] = field(default_factory=list)
    reason: str | None = None


@dataclass
class Outcome:
    """What a batch did: counts of rows, and the refused rows."""

    created: int = 0
    updated: int = 0
    unchanged: int = 0
    failed: int = 0
    duplicates: int = 0
    errors: list[tuple[int, list[str], str]] = field(default_factory=list)
    named: set[int] = field(default_factory=set)  # the contacts the rows named (ids)

    def add(self, other: Outcome) -> None:
        self.created += other.created
        self.updated += other.updated
        self.unchanged += other.unchanged
        self.failed += other.failed
        self.duplicates += other.duplicates
        self.errors += other.errors
        self.named |= other.named


def _reason(problems: list[tuple[str, str]]) -> str:
    return "; ".join(message for _, message in problems)


def parse_row(
    line: int, cells: list[str], columns: Sequence[str | None], definitions: dict[str, Any]
) -> Row:
    """The row's fields as the API would take them from a body, or the reason it is refused."""
    row = Row(line, cells)
    body: dict[str, Any] = {}
    additional: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    labels: list[str] | None = None
    for cell, column in zip(cells, columns, strict=False):
        if column is None or cell == "":
            continue
        text = unescape(cell)
        if column in STANDARD:
            body[column] = text
        elif column in ADDITIONAL:
            additional[ADDITIONAL[column]] = text
        elif column == "labels":
            labels = split_labels(text)
        elif column == "blocked":
            body["blocked"] = text.strip()
        else:
            key = column[len(CUSTOM_PREFIX) :]
            definition = definitions.get(key)
            kind = definition.attribute_display_type if definition is not None else None
            custom[key] = custom_value(text, kind)
    if additional:
        body["additional_attributes"] = additional
    if custom:
        body["custom_attributes"] = custom
    if not body and not labels:
        row.reason = "The row has no values"
        return row
    data: ContactInput = parse_contact_fields(body, creating=False)
    problems = list(data.problems)
    if custom and "custom_attributes" in data.values:
        known = {k: d for k, d in definitions.items() if k in custom}
        normalised, refused = check_values(known, data.values["custom_attributes"])
        data.values["custom_attributes"] = normalised
        problems += refused
    if labels:
        try:
            row.labels = parse_labels_body({"labels": labels})
        except ValidationFailed as error:
            problems += error.problems
    if problems:
        row.reason = _reason(problems)
        return row
    row.values = data.values
    return row


def parse_rows(
    records: list[tuple[int, list[str]]],
    columns: Sequence[str | None],
    definitions: dict[str, Any],
) -> list[Row]:
    return [parse_row(line, cells, columns, definitions) for line, cells in records]


def _merged(state: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The contact's fields once the row's values are applied by the update rules."""
    new = dict(state)
    for key, value in values.items():
        if key in JSON_FIELDS:
            new[key] = {**(state.get(key) or {}), **value}
        else:
            new[key] = value
    # As the API: first_name/last_name without name make the name; only when they change,
    # so that a file exported and imported back changes nothing.
    parts = ("first_name", "last_name")
    if "name" not in values and any(new[p] != state[p] for p in parts):
        new["name"] = " ".join(new[p] for p in parts if new[p])
    return new


# A new contact before its first row: the create's defaults (contacts.service).
_NEW: dict[str, Any] = {k: NEW_CONTACT[k] for k in WRITTEN}


@functools.cache
def _match_statement(backend: str, keys: tuple[str, ...]) -> sa.Select[Any]:
    """The account's contacts holding one of the given values of `keys` (parameters m_<key>,
    lists), locked, in id order."""
    account = sa.bindparam("m_account_id", type_=sa.BigInteger)
    if backend == "postgresql":
        # A BitmapOr of the three unique indexes.
        matches = sa.or_(*[any_of(backend, CONTACTS.c[k], f"m_{k}", sa.String) for k in keys])
    else:
        # SQLite's statistics hold averages only: with an OR of IN lists (or json_each lists)
        # its planner walks the whole account (110 ms a batch on 100,000 contacts, growing
        # with the account). Each list drives a lookup in its unique index instead (1-2 ms).
        inner = sa.text(
            " UNION ".join(
                f"SELECT m.id FROM json_each(:m_{k}) AS j CROSS JOIN contacts AS m "  # noqa: S608
                f"WHERE m.account_id = :m_account AND m.{k} = j.value"
                for k in keys
            )
        )
        inner = inner.bindparams(
            sa.bindparam("m_account", type_=sa.BigInteger),
            *[sa.bindparam(f"m_{k}", type_=JsonArray()) for k in keys],
        )
        matches = CONTACTS.c.id.in_(inner.columns(sa.column("id", sa.BigInteger)))
    return tenant_select(account, CONTACTS).where(matches).order_by(CONTACTS.c.id).with_for_update()


@functools.cache
def _labels_statement(backend: str) -> sa.Select[Any]:
    """The labels of the account's contacts m_ids."""
    account = sa.bindparam("m_account_id", type_=sa.BigInteger)
    return tenant_select(account, CONTACT_LABELS.c.contact_id, CONTACT_LABELS.c.name).where(
        any_of(backend, CONTACT_LABELS.c.contact_id, "m_ids", sa.BigInteger)
    )


@dataclass
class _Contact:
    """A contact as the batch sees it: as read (or new), and as the rows leave it."""

    id: int  # negative for a contact this batch creates
    before: dict[str, Any]
    after: dict[str, Any]
    labels_before: list[str]
    labels: dict[str, str]  # lower-cased name -> name
    row: Any = None  # the database row (an existing contact)
    touched: bool = False  # a row changed it

    def changed(self) -> bool:
        return (
            self.id < 0 or self.after != self.before or len(self.labels) != len(self.labels_before)
        )


class Batch:
    """The rows of one batch, matched and applied (apply())."""

    def __init__(
        self,
        session: AsyncSession,
        account_id: int,
        seen: set[int],
        also: set[int] | None = None,
    ) -> None:
        self.session = session
        self.account_id = account_id
        self.also = also or set()
        # Contacts earlier batches of the import wrote (ids), to count the rows that name one
        # again (duplicates inside the file); written() gives this batch's.
        self.seen = seen
        self.named: list[_Contact] = []  # the contacts the batch's rows named

    async def _existing(self, rows: list[Row]) -> dict[int, _Contact]:
        wanted: dict[str, set[str]] = {k: set() for k in MATCH_KEYS}
        for row in rows:
            for key in MATCH_KEYS:
                if row.values.get(key) is not None:
                    wanted[key].add(row.values[key])
        keys = tuple(k for k, v in wanted.items() if v)
        if not keys:
            return {}
        backend = backend_of(self.session)
        # The keys as array parameters: one prepared statement whatever their number (an
        # IN list of 3,000 parameters was compiled, sent and planned again every batch).
        params: dict[str, Any] = {f"m_{k}": sorted(wanted[k]) for k in keys}
        params["m_account_id"] = params["m_account"] = self.account_id
        found = (await self.session.execute(_match_statement(backend, keys), params)).all()
        if not found:
            return {}
        ids = [c.id for c in found]
        label_rows = await self.session.execute(
            _labels_statement(backend), {"m_account_id": self.account_id, "m_ids": ids}
        )
        labels: dict[int, list[str]] = {}
        for contact_id, name in label_rows.all():
            labels.setdefault(contact_id, []).append(name)
        contacts = {}
        for c in found:
            state = {k: getattr(c, k) for k in WRITTEN}
            for key in JSON_FIELDS:
                state[key] = state[key] or {}
            names = sorted_labels(labels.get(c.id, []))
            contacts[c.id] = _Contact(
                c.id, state, dict(state), names, {n.lower(): n for n in names}, c
            )
        return contacts

    async def apply(self, rows: list[Row]) -> Outcome:
        """Match and write the rows (each either valid or carrying its reason)."""
        outcome = Outcome()
        valid = []
        for row in rows:
            if row.reason is not None:
                outcome.failed += 1
                outcome.errors.append((row.line, row.cells, row.reason))
            else:
                valid.append(row)
        contacts = await self._existing(valid)
        index: dict[tuple[str, Any], int] = {}
        for contact in contacts.values():
            for key in MATCH_KEYS:
                if contact.after[key] is not None:
                    index[(key, contact.after[key])] = contact.id
        counted: list[tuple[Row, str]] = []  # each row and what it did
        visited: set[int] = set()  # the contacts rows of this batch named
        next_new = -1
        for row in valid:
            matched = {
                key: index[(key, row.values[key])]
                for key in MATCH_KEYS
                if row.values.get(key) is not None and (key, row.values[key]) in index
            }
            holders = set(matched.values())
            if len(holders) > 1:
                named = ", ".join(
                    f"{k} matches {'a contact of an earlier row' if v < 0 else f'contact {v}'}"
                    for k, v in matched.items()
                )
                row.reason = f"The row's keys identify different contacts ({named})"
                counted.append((row, "failed"))
                continue
            if holders:
                contact = contacts[holders.pop()]
            else:
                state = dict(_NEW)
                contact = _Contact(next_new, state, dict(state), [], {})
                contacts[next_new] = contact
                next_new -= 1
            after = _merged(contact.after, row.values)
            problem = next(
                (
                    p
                    for key in JSON_FIELDS
                    if key in row.values
                    and (p := attributes_too_large(key, after[key], merged=contact.id > 0))
                ),
                None,
            )
            if problem is not None:
                row.reason = problem
                counted.append((row, "failed"))
                continue
            new_labels = {n.lower(): n for n in row.labels if n.lower() not in contact.labels}
            was_new = contact.id < 0 and not contact.touched
            changes = after != contact.after or bool(new_labels)
            for key in MATCH_KEYS:
                if contact.after[key] != after[key]:
                    if contact.after[key] is not None:
                        index.pop((key, contact.after[key]), None)
                    if after[key] is not None:
                        index[(key, after[key])] = contact.id
            contact.after = after
            contact.labels.update(new_labels)
            if contact.id in self.seen or contact.id in self.also or contact.id in visited:
                outcome.duplicates += 1
            if was_new:
                counted.append((row, "created"))
            elif changes:
                counted.append((row, "updated"))
            else:
                counted.append((row, "unchanged"))
            contact.touched = contact.touched or changes or was_new
            if contact.id not in visited:
                visited.add(contact.id)
                self.named.append(contact)
        await self._write([c for c in contacts.values() if c.touched and c.changed()])
        for row, did in counted:
            if did == "failed":
                outcome.failed += 1
                outcome.errors.append((row.line, row.cells, row.reason or ""))
            else:
                setattr(outcome, did, getattr(outcome, did) + 1)
        return outcome

    async def _write(self, contacts: list[_Contact]) -> None:
        if not contacts:
            return
        session, account_id = self.session, self.account_id
        bulk = await BulkWriter.of(session)
        now = int(time.time())
        new = [c for c in contacts if c.id < 0]
        old = [c for c in contacts if c.id > 0]
        before = await contact_states(connection_of(session), account_id, [c.id for c in old])
        changed = [c for c in old if c.after != c.before]
        if changed:
            update = (
                tenant_update(CONTACTS, sa.bindparam("b_account_id", type_=sa.BigInteger))
                .where(CONTACTS.c.id == sa.bindparam("b_id"))
                .values(
                    {
                        k: sa.bindparam(f"b_{k}", type_=CONTACTS.c[k].type)
                        for k in (*WRITTEN, "updated_at")
                    }
                )
            )
            await session.execute(
                update,
                [
                    {
                        "b_account_id": account_id,
                        "b_id": c.id,
                        "b_updated_at": now,
                        **{f"b_{k}": c.after[k] for k in WRITTEN},
                    }
                    for c in changed
                ],
            )
        created: dict[int, dict[str, Any]] = {}
        if new:
            ids = await bulk.new_ids("contacts", len(new))
            rows = []
            for contact, new_id in zip(new, ids, strict=True):
                contact.id = new_id
                row = {
                    **_NEW_ROW,
                    **contact.after,
                    "id": new_id,
                    "account_id": account_id,
                    "created_at": now,
                    "updated_at": now,
                }
                created[new_id] = row
                rows.append(tuple(row[k] for k in CONTACT_ROW))
            await bulk.insert("contacts", CONTACT_ROW, rows, json_columns=JSON_FIELDS)
        labelled = [c for c in contacts if len(c.labels) != len(c.labels_before)]
        if labelled:
            label_ids = await ensure_label_ids(
                session, account_id, [n for c in labelled for n in c.labels]
            )
            pairs = []
            for c in labelled:
                had = {n.lower() for n in c.labels_before}
                pairs += [
                    (c.id, label_ids[lowered], account_id, name)
                    for lowered, name in c.labels.items()
                    if lowered not in had
                ]
            await bulk.insert("contact_labels", LABEL_ROW, pairs)
        await self._events(bulk, contacts, before, created, now)

    async def _events(
        self,
        bulk: BulkWriter,
        contacts: list[_Contact],
        before: dict[int, dict[str, Any]],
        created: dict[int, dict[str, Any]],
        now: int,
    ) -> None:
        account = (
            await self.session.execute(
                sa.select(ACCOUNTS.c.id, ACCOUNTS.c.name).where(ACCOUNTS.c.id == self.account_id)
            )
        ).one()
        where = {"id": account.id, "name": account.name}
        rows = []
        for c in contacts:
            if c.id in created:
                body = events.event_body(
                    events.CREATED, "import", contact_json(cast(Any, _Stored(created[c.id])), [])
                )
                name = events.CREATED
            else:
                previous = before[c.id]
                current = {**previous, **{k: c.after[k] for k in WRITTEN}}
                labels = (c.labels_before, sorted_labels(list(c.labels.values())))
                changed = events.changed_attributes(previous, current)
                if labels[0] != labels[1]:
                    changed.append(
                        {"labels": {"previous_value": labels[0], "current_value": labels[1]}}
                    )
                if not changed:
                    continue
                body = events.event_body(events.UPDATED, "import", current, changed)
                name = events.UPDATED
            body["account"] = where
            rows.append((self.account_id, c.id, name, "import", orjson.dumps(body).decode(), now))
        if rows:
            await bulk.insert("events", EVENT_ROW, rows)


class _Stored:
    """A new contact's row, as contact_json() reads it (by attribute)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.__dict__.update(values)


# What a new contact holds beyond what a row writes; the columns a new contact is written
# with, a contact label, an event.
_NEW_ROW: dict[str, Any] = {k: v for k, v in NEW_CONTACT.items() if k not in WRITTEN}
CONTACT_ROW = ("id", "account_id", *NEW_CONTACT, "created_at", "updated_at")
LABEL_ROW = ("contact_id", "label_id", "account_id", "name")
EVENT_ROW = ("account_id", "contact_id", "event", "source", "payload", "created_at")


class BulkWriter:
    """Rows written in bulk on the session's own connection and transaction, past
    SQLAlchemy's per-row work: COPY on PostgreSQL (asyncpg), executemany of one prepared
    INSERT on SQLite. A refused row (a unique value) refuses the whole call, as the
    database's IntegrityError, and the caller's savepoint undoes it."""

    def __init__(self, session: AsyncSession, driver: Any, backend: str) -> None:
        self.session = session
        self.driver = driver
        self.backend = backend

    @classmethod
    async def of(cls, session: AsyncSession) -> BulkWriter:
        connection = await session.connection()
        raw = await connection.get_raw_connection()
        return cls(session, raw.driver_connection, backend_of(session))

    async def new_ids(self, table: str, count: int) -> list[int]:
        """Ids for `count` new rows, taken from the table's sequence (PostgreSQL) or past its
        largest id (SQLite, whose one writer at a time is this transaction)."""
        if self.backend == "postgresql":
            found = await self.driver.fetch(
                f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) "  # noqa: S608
                "FROM generate_series(1, $1)",
                count,
            )
            return [int(r[0]) for r in found]
        cursor = await self.driver.execute(
            f"SELECT max(id) FROM {table}"  # noqa: S608  (a table name of this module's)
        )
        top = (await cursor.fetchone())[0] or 0
        await cursor.close()
        return list(range(top + 1, top + 1 + count))

    async def insert(
        self,
        table: str,
        columns: tuple[str, ...],
        rows: list[tuple[Any, ...]],
        json_columns: tuple[str, ...] = (),
    ) -> None:
        if not rows:
            return
        if json_columns:
            at = [columns.index(c) for c in json_columns]
            rows = [
                tuple(orjson.dumps(v).decode() if i in at else v for i, v in enumerate(row))
                for row in rows
            ]
        if self.backend == "postgresql":
            try:
                await self.driver.copy_records_to_table(table, records=rows, columns=columns)
            except asyncpg.IntegrityConstraintViolationError as error:
                raise IntegrityError(f"COPY {table}", None, error) from error
            return
        placeholders = ", ".join("?" for _ in columns)
        try:
            await self.driver.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})",  # noqa: S608
                rows,
            )
        except sqlite3.IntegrityError as error:
            raise IntegrityError(f"INSERT {table}", None, error) from error


async def apply_batch(
    session: AsyncSession, account_id: int, rows: list[Row], seen: set[int]
) -> Outcome:
    """Apply the rows in the session's transaction: all together, or, when the database
    refuses that (a unique value taken meanwhile), one by one, each in a savepoint. seen:
    the contacts earlier batches named (read only); the outcome's `named` adds this batch's,
    for the caller to keep once the transaction commits."""
    try:
        async with session.begin_nested():
            batch = Batch(session, account_id, seen)
            outcome = await batch.apply(rows)
        outcome.named = {c.id for c in batch.named}
        return outcome
    except IntegrityError:
        pass
    outcome = Outcome()
    for row in rows:
        try:
            async with session.begin_nested():
                batch = Batch(session, account_id, seen, outcome.named)
                outcome.add(await batch.apply([row]))
            outcome.named.update(c.id for c in batch.named)
        except IntegrityError:
            outcome.failed += 1
            outcome.errors.append(
                (row.line, row.cells, "Another contact took one of the row's unique values")
            )
    return outcome


async def definitions_of(session: AsyncSession, account_id: int) -> dict[str, Any]:
    return await contact_definitions(connection_of(session), account_id)


async def record_errors(
    session: AsyncSession, account_id: int, import_id: int, outcome: Outcome
) -> None:
    if outcome.errors:
        # With RETURNING, SQLAlchemy sends an executemany as multi-row INSERTs; without it,
        # asyncpg runs the statement once a row (docs/decisions.md, import and export).
        await session.execute(
            sa.insert(IMPORT_ERRORS).returning(IMPORT_ERRORS.c.id),
            [
                {
                    "account_id": account_id,
                    "import_id": import_id,
                    "line": line,
                    "row": cells,
                    "reason": reason[:1000],
                }
                for line, cells, reason in outcome.errors
            ],
        )
