"""Contact export: every contact a list (q, labels, sort) or a filter selects, as CSV, in
pages of EXPORT_PAGE contacts, in constant memory.

The columns are the import's (contact_csv.py), so an export imports back unchanged: the
standard ones, then custom_attributes.<key> for each key the account defines or any of its
contacts holds, sorted. The file starts with a UTF-8 byte order mark (spreadsheets read it
as UTF-8 then). Pages follow each other by cursor (the list's `after`), each read on a
connection taken for that page only: a contact created while the export runs may or may not
be in it, and none is skipped or repeated.
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any, cast

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY

from contactdesk.actions.contact_csv import (
    ADDITIONAL,
    COLUMNS,
    CUSTOM_PREFIX,
    MAX_COLUMNS,
    RISKY_FIRST,
    custom_cell,
    escape,
    join_labels,
    write_row,
    write_rows,
)
from contactdesk.contacts.filter_parse import Filter
from contactdesk.contacts.list_params import ListQuery
from contactdesk.contacts.queries import contacts_after
from contactdesk.custom_attributes.validation import contact_definitions
from contactdesk.db import Database
from contactdesk.driver import ReadConnection
from contactdesk.errors import InvalidParameter
from contactdesk.labels.service import sorted_labels
from contactdesk.models import Contact, ContactLabel
from contactdesk.models.tenancy import tenant_select

EXPORT_PAGE = 1000
CONTACTS = cast(sa.Table, Contact.__table__)
CONTACT_LABELS = cast(sa.Table, ContactLabel.__table__)
_MAX_KEYS = MAX_COLUMNS - len(COLUMNS)


_ACCOUNT = sa.bindparam("account_id", type_=sa.BigInteger)


def _keys_statement(backend: str) -> sa.Select[Any]:
    if backend == "postgresql":
        key = sa.func.jsonb_object_keys(CONTACTS.c.custom_attributes).label("key")
        return tenant_select(_ACCOUNT, key).distinct().limit(_MAX_KEYS + 1)
    each = sa.func.json_each(CONTACTS.c.custom_attributes).table_valued("key")
    return (
        tenant_select(_ACCOUNT, each.c.key, select_from=CONTACTS)
        .join(each, sa.true())
        .distinct()
        .limit(_MAX_KEYS + 1)
    )


# Built once: the driver keeps each statement's compiled form for as long as it lives.
_KEYS = {backend: _keys_statement(backend) for backend in ("postgresql", "sqlite")}
# A page's labels. On PostgreSQL the ids come as one array, joined to the primary key: with
# a list of 1,000 parameters the plan read every label row of the account instead (1.4 s a
# page on a million contacts, against 5 ms).
_PAGE_IDS = (
    sa.func.unnest(sa.bindparam("contact_ids", type_=ARRAY(sa.BigInteger)))
    .table_valued("id")
    .render_derived(name="page_ids")
)
_LABELS = {
    "postgresql": tenant_select(
        _ACCOUNT, CONTACT_LABELS.c.contact_id, CONTACT_LABELS.c.name
    ).select_from(_PAGE_IDS.join(CONTACT_LABELS, CONTACT_LABELS.c.contact_id == _PAGE_IDS.c.id)),
    "sqlite": tenant_select(_ACCOUNT, CONTACT_LABELS.c.contact_id, CONTACT_LABELS.c.name).where(
        CONTACT_LABELS.c.contact_id.in_(sa.bindparam("contact_ids", expanding=True))
    ),
}


async def custom_keys(conn: ReadConnection, account_id: int) -> list[str]:
    """The custom attribute keys the account defines or any of its contacts holds, sorted;
    422 beyond what one file's columns hold."""
    keys = set(await contact_definitions(conn, account_id))
    found = await conn.fetch(_KEYS[conn.backend], {"account_id": account_id})
    keys.update(row[0] for row in found)
    if len(keys) > _MAX_KEYS:
        raise InvalidParameter(
            f"The account's contacts hold more than {_MAX_KEYS} custom attribute keys: more "
            "columns than an export writes"
        )
    return sorted(keys)


def header(keys: list[str]) -> list[str]:
    return [*COLUMNS, *(CUSTOM_PREFIX + key for key in keys)]


def _text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else orjson.dumps(value).decode()


def contact_cells(contact: dict[str, Any], labels: list[str], keys: list[str]) -> list[str]:
    """One contact's row (the columns of header(keys)), escaped against formulas."""
    additional = contact.get("additional_attributes") or {}
    custom = contact.get("custom_attributes") or {}
    cells = [
        _text(contact.get("name")),
        _text(contact.get("first_name")),
        _text(contact.get("last_name")),
        _text(contact.get("email")),
        _text(contact.get("phone_number")),
        _text(contact.get("identifier")),
        *(_text(additional.get(stored)) for stored in ADDITIONAL.values()),
        join_labels(labels),
        "true" if contact.get("blocked") else "false",
        *(custom_cell(custom[key]) if key in custom else "" for key in keys),
    ]
    return [escape(cell) if cell and cell[0] in RISKY_FIRST else cell for cell in cells]


async def _labels(conn: ReadConnection, account_id: int, ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    if not ids:
        return found
    rows = await conn.fetch(_LABELS[conn.backend], {"account_id": account_id, "contact_ids": ids})
    for contact_id, name in rows:
        found.setdefault(contact_id, []).append(name)
    return {contact_id: sorted_labels(names) for contact_id, names in found.items()}


async def export_csv(
    db: Database,
    account_id: int,
    query: ListQuery,
    filter_: Filter | None = None,
    on_page: Callable[[int], None] | None = None,
) -> AsyncIterator[bytes]:
    """The CSV file, a page of contacts at a time (on_page: told each page's size). The
    next page is read while this one is written out."""
    async with db.reads.connection() as conn:
        keys = await custom_keys(conn, account_id)
    yield codecs.BOM_UTF8 + write_row(header(keys)).encode()
    query = replace(query, page=1, page_size=EXPORT_PAGE, include_contact_inboxes=False, after=None)

    async def fetch(query: ListQuery) -> tuple[list[dict[str, Any]], Any, dict[int, list[str]]]:
        async with db.reads.connection() as conn:
            contacts, following = await contacts_after(conn, account_id, query, filter_)
            labels = await _labels(conn, account_id, [c["id"] for c in contacts])
        return contacts, following, labels

    pending: asyncio.Future[Any] | None = None
    try:
        contacts, following, labels = await fetch(query)
        while True:
            if following is not None:
                pending = asyncio.ensure_future(fetch(replace(query, after=following)))
                await asyncio.sleep(0)  # it sends its query before this page is formatted
            if contacts:
                text = write_rows(contact_cells(c, labels.get(c["id"], []), keys) for c in contacts)
                yield text.encode()
                if on_page is not None:
                    on_page(len(contacts))
            if pending is None:
                return
            contacts, following, labels = await pending
            pending = None
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
