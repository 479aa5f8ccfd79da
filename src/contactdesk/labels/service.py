"""Labels of a contact: a set, unique ignoring case, replaced as a whole."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from contactdesk.db import backend_of
from contactdesk.errors import ValidationFailed
from contactdesk.limits import limits
from contactdesk.models import ContactLabel, Label
from contactdesk.models._time import now_epoch
from contactdesk.models.tenancy import tenant_delete, tenant_select
from contactdesk.values import has_nul

MAX_LABEL = 255
# Rows per statement when labels are created or looked up: 3 bind parameters a row keeps an
# insert far below PostgreSQL's 32,767 per statement and SQLite's 32,766, whatever the caps.
CHUNK = 1000


def _labels_error(message: str) -> ValidationFailed:
    return ValidationFailed([("labels", message)])


def too_many_labels(most: int) -> str:
    return f"Labels is too long (maximum is {most} labels)"


def parse_labels_body(body: dict[str, Any]) -> list[str]:
    """Trimmed, 1-255 characters, no commas; duplicates ignoring case keep the first spelling;
    at most limits().max_labels distinct names."""
    raw = body.get("labels")
    if not isinstance(raw, list):
        raise _labels_error("Labels is invalid")
    most = limits().max_labels
    names: list[str] = []
    seen: set[str] = set()
    for item in raw:
        if not isinstance(item, str) or has_nul(item):
            raise _labels_error("Labels is invalid")
        name = item.strip()
        if not name:
            raise _labels_error("Labels can't be blank")
        if len(name) > MAX_LABEL:
            raise _labels_error(f"Labels is too long (maximum is {MAX_LABEL} characters)")
        if "," in name:
            raise _labels_error("Labels can't contain a comma")
        if name.lower() not in seen:
            if len(names) >= most:
                raise _labels_error(too_many_labels(most))
            seen.add(name.lower())
            names.append(name)
    return names


def sorted_labels(names: list[str]) -> list[str]:
    return sorted(names, key=lambda name: (name.lower(), name))


async def labels_of(session: AsyncSession, account_id: int, contact_id: int) -> list[str]:
    rows = await session.execute(
        tenant_select(account_id, ContactLabel.name).where(ContactLabel.contact_id == contact_id)
    )
    return sorted_labels(list(rows.scalars()))


async def labels_by_contact(
    session: AsyncSession, account_id: int, contact_ids: list[int]
) -> dict[int, list[str]]:
    """Each contact's labels, sorted as labels_of sorts them (contacts without any left out)."""
    found: dict[int, list[str]] = {}
    if not contact_ids:
        return found
    rows = await session.execute(
        tenant_select(account_id, ContactLabel.contact_id, ContactLabel.name).where(
            ContactLabel.contact_id.in_(contact_ids)
        )
    )
    for contact_id, name in rows.all():
        found.setdefault(contact_id, []).append(name)
    return {contact_id: sorted_labels(names) for contact_id, names in found.items()}


async def _label_ids(session: AsyncSession, account_id: int, lowered: list[str]) -> dict[str, int]:
    """Ids of the account's labels, creating the missing ones (safe under concurrency)."""
    insert = pg_insert if backend_of(session) == "postgresql" else sqlite_insert
    now = now_epoch()
    ids: dict[str, int] = {}
    for start in range(0, len(lowered), CHUNK):
        chunk = lowered[start : start + CHUNK]
        await session.execute(
            insert(Label)
            .values([{"account_id": account_id, "name_lower": n, "created_at": now} for n in chunk])
            .on_conflict_do_nothing(index_elements=["account_id", "name_lower"])
        )
        rows = await session.execute(
            tenant_select(account_id, Label.name_lower, Label.id).where(Label.name_lower.in_(chunk))
        )
        ids.update({name: label_id for name, label_id in rows.all()})
    return ids


async def replace_labels(
    session: AsyncSession, account_id: int, contact_id: int, names: list[str]
) -> list[str]:
    # Labels are created first and in sorted order: a concurrent request creating the same
    # new labels then cannot hold one label while this one holds the contact's counter shard.
    ids = await ensure_label_ids(session, account_id, [n.lower() for n in names])
    await session.execute(
        tenant_delete(ContactLabel, account_id).where(ContactLabel.contact_id == contact_id)
    )
    if names:
        await session.execute(
            sa.insert(ContactLabel),
            [
                {
                    "contact_id": contact_id,
                    "label_id": ids[n.lower()],
                    "account_id": account_id,
                    "name": n,
                }
                for n in names
            ],
        )
    return sorted_labels(names)


async def ensure_label_ids(
    session: AsyncSession, account_id: int, lowered: list[str]
) -> dict[str, int]:
    """Public: ids of these lower-cased names, creating the missing labels of the account.

    Names are created in sorted order, so two requests creating the same new labels take the
    unique index's entries in one order and cannot deadlock on each other.
    """
    if not lowered:
        return {}
    return await _label_ids(session, account_id, sorted(set(lowered)))
