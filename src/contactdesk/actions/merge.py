"""Merging two contacts of an account into one (contract §3, §4.6; reference §4.1)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from contactdesk.contacts.counters import SHARDS
from contactdesk.contacts.fields import attributes_too_large
from contactdesk.db import backend_of
from contactdesk.errors import NotFound, ValidationFailed
from contactdesk.limits import limits
from contactdesk.models import Contact, ContactCounter, ContactInbox, ContactLabel
from contactdesk.models._time import now_epoch
from contactdesk.models.tenancy import keyed_by_parent, tenant_select, tenant_update
from contactdesk.values import id_number, parse_id

# Text fields the base keeps when it has a value and takes from the mergee when it has none.
FILLED_FIELDS = (
    "name",
    "first_name",
    "last_name",
    "email",
    "phone_number",
    "identifier",
    "thumbnail",
)
JSON_FIELDS = ("additional_attributes", "custom_attributes")
# A Core table for the label insert: plain SQL, with no ORM session bookkeeping.
CONTACT_LABELS = cast(sa.Table, ContactLabel.__table__)
MERGE_IDS = (("base_contact_id", "Base contact"), ("mergee_contact_id", "Mergee contact"))


def is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def parse_merge_body(body: dict[str, Any]) -> tuple[int, int]:
    """(base id, mergee id); every bad field is named in one 422."""
    problems: list[tuple[str, str]] = []
    parsed: list[int] = []
    for field, label in MERGE_IDS:
        value = body.get(field)
        if is_blank(value):
            problems.append((field, f"{label} can't be blank"))
            continue
        # A malformed id is a 422; a well-formed one no contact can have is a 404 (below).
        number = id_number(value)
        if number is None:
            problems.append((field, f"{label} is invalid"))
        else:
            parsed.append(number)
    if problems:
        raise ValidationFailed(problems)
    base_id, mergee_id = parsed
    if base_id == mergee_id:
        raise ValidationFailed([("mergee_contact_id", "A contact cannot be merged into itself")])
    return base_id, mergee_id


def deep_merge(base: dict[str, Any], mergee: dict[str, Any]) -> dict[str, Any]:
    """The base wins; nested objects merge recursively; keys only one side has are kept,
    blank ("" or null) ones included. A blank base value is filled from a non-blank mergee
    value, as for the top-level fields (the LiveDesk seeds store "" for every unset key)."""
    merged = dict(mergee)
    for key, value in base.items():
        other = merged.get(key)
        if isinstance(value, dict) and isinstance(other, dict):
            merged[key] = deep_merge(value, other)
        elif not (is_blank(value) and key in merged and not is_blank(other)):
            merged[key] = value
    return merged


def merged_values(base: Contact, mergee: Contact) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for field in FILLED_FIELDS:
        if is_blank(getattr(base, field)) and not is_blank(getattr(mergee, field)):
            values[field] = getattr(mergee, field)
    for field in JSON_FIELDS:
        values[field] = deep_merge(getattr(base, field) or {}, getattr(mergee, field) or {})
    moments = [t for t in (base.last_activity_at, mergee.last_activity_at) if t is not None]
    values["last_activity_at"] = max(moments) if moments else None
    return values


async def lock_counter_shards(
    session: AsyncSession, account_id: int, contact_ids: Iterable[int]
) -> None:
    """Lock the counter shards these contacts' triggers will write, in ascending order.

    Each contact's insert, update or delete and each of its label changes updates the counter
    row of its shard (id % SHARDS). Several contacts in one transaction would otherwise take
    those rows in whatever order the statements touch them, and two such transactions could
    deadlock. SQLite has a single writer; there is nothing to order.
    """
    if backend_of(session) != "postgresql":
        return
    shards = sorted({contact_id % SHARDS for contact_id in contact_ids})
    await session.execute(
        tenant_select(account_id, ContactCounter.shard)
        .where(ContactCounter.shard.in_(shards))
        .order_by(ContactCounter.shard)
        .with_for_update()
    )


async def _lock_pair(session: AsyncSession, account_id: int, ids: tuple[int, int]) -> list[Contact]:
    wanted = [i for i in ids if parse_id(i) is not None]
    if len(wanted) < len(ids):
        raise NotFound()
    # The locking clause applies after ORDER BY: rows are locked in ascending id order, as
    # every transaction that locks several contacts does.
    rows = await session.execute(
        tenant_select(account_id, Contact)
        .where(Contact.id.in_(wanted))
        .order_by(Contact.id)
        .with_for_update()
    )
    return list(rows.scalars())


async def _check_bounds(
    session: AsyncSession,
    account_id: int,
    base: Contact,
    mergee_id: int,
    values: dict[str, Any],
) -> None:
    """422 naming every field the merged base would hold past its bound (issue 10): its
    custom_attributes or additional_attributes over limits().max_attributes_bytes as compact
    JSON, or more than limits().max_labels labels.

    Run before any write, with both contacts locked: every writer of a contact's labels or
    attributes locks the contact first, so what is counted here is what the merge writes.
    An object the merge leaves as the base stored it is not checked, as an update does not
    check a field it does not write (it may predate the bound)."""
    problems: list[tuple[str, str]] = []
    for field in JSON_FIELDS:
        if values[field] == (getattr(base, field) or {}):
            continue
        problem = attributes_too_large(field, values[field], merged=True)
        if problem is not None:
            problems.append((field, problem))
    most = limits().max_labels
    # Labels are one row per lower-cased name: distinct label ids are the union by name.
    held = await session.execute(
        tenant_select(account_id, sa.func.count(sa.distinct(ContactLabel.label_id))).where(
            ContactLabel.contact_id.in_((base.id, mergee_id))
        )
    )
    total = held.scalar_one()
    if total > most:
        problems.append(
            (
                "labels",
                f"Labels is too long once merged: {total} labels "
                f"(maximum is {most} labels per contact)",
            )
        )
    if problems:
        raise ValidationFailed(problems)


async def _union_labels(
    session: AsyncSession, account_id: int, base_id: int, mergee_id: int
) -> None:
    """Give the base the mergee's labels it lacks (labels are one row per lower-cased name,
    so comparing label ids compares names ignoring case); the base's spellings stay."""
    held = aliased(ContactLabel)
    # The base was locked through tenant_select (merge_contacts).
    base_has = keyed_by_parent(sa.select(held.label_id).where(held.contact_id == base_id))
    missing = tenant_select(
        account_id,
        sa.literal(base_id, sa.BigInteger),
        ContactLabel.label_id,
        ContactLabel.account_id,
        ContactLabel.name,
    ).where(
        ContactLabel.contact_id == mergee_id,
        ContactLabel.label_id.not_in(base_has),
    )
    await session.execute(
        sa.insert(CONTACT_LABELS).from_select(
            ["contact_id", "label_id", "account_id", "name"], missing
        )
    )


async def merge_contacts(
    session: AsyncSession, account_id: int, base_id: int, mergee_id: int
) -> Contact:
    """Fold the mergee into the base in the caller's transaction; return the base.

    - name, first_name, last_name, email, phone_number, identifier, thumbnail: the base's
      non-blank value wins, a blank one (null, "" or only spaces) takes the mergee's.
    - additional_attributes, custom_attributes: deep-merged, the base winning (deep_merge).
    - last_activity_at: the later of the two. blocked, availability_status and created_at
      stay the base's: the base is the record the client chose to keep.
    - The mergee's contact inboxes move to the base; its labels are added to the base's
      (FIX: the reference loses them).
    - The mergee is deleted before the base is written, which frees its email, phone number
      and identifier for the base under the per-account unique constraints.
    - A merge that would leave the base past a bound (attributes' size, labels per contact)
      is a 422 naming the field, and writes nothing (_check_bounds).
    """
    contacts = await _lock_pair(session, account_id, (base_id, mergee_id))
    found = {contact.id: contact for contact in contacts}
    base, mergee = found.get(base_id), found.get(mergee_id)
    if base is None or mergee is None:
        raise NotFound()
    values = merged_values(base, mergee)
    await _check_bounds(session, account_id, base, mergee_id, values)
    await lock_counter_shards(session, account_id, (base_id, mergee_id))
    try:
        # A savepoint: a refusal leaves the caller's transaction as it was before the merge.
        async with session.begin_nested():
            await session.execute(
                tenant_update(ContactInbox, account_id)
                .where(ContactInbox.contact_id == mergee_id)
                .values(contact_id=base_id)
            )
            await _union_labels(session, account_id, base_id, mergee_id)
            await session.delete(mergee)
            await session.flush()
            for key, value in values.items():
                setattr(base, key, value)
            base.updated_at = now_epoch()
    except IntegrityError:
        # Unreachable but for a race with a writer outside these row locks: a 422, not a 500.
        raise ValidationFailed([("contact", "Contact could not be merged, please retry")]) from None
    return base
