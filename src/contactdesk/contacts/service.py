"""Contacts: create, read, update and delete, scoped by account (models/tenancy.py).

Services flush and never end the transaction they are given; where the database refuses a
write (a unique value another contact holds), the write ran in a savepoint, so the caller's
transaction, and what it wrote before, stays usable. The route commits.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contactdesk.contacts.fields import (
    ContactInput,
    parse_contact_fields,
    parse_inbox_field,
    parse_source_field,
)
from contactdesk.contacts.serialize import contact_json
from contactdesk.custom_attributes.validation import check_custom_attributes
from contactdesk.errors import NotFound, ValidationFailed
from contactdesk.inboxes.serialize import inbox_json
from contactdesk.inboxes.service import SOURCE_TAKEN, default_source_id, get_inbox, source_holder
from contactdesk.models import Contact, ContactInbox, Inbox
from contactdesk.models._time import now_epoch
from contactdesk.models.tenancy import tenant_delete, tenant_select
from contactdesk.values import has_nul, parse_id

UNIQUE_FIELDS = (
    ("email", "Email has already been taken"),
    ("phone_number", "Phone number has already been taken"),
    ("identifier", "Identifier has already been taken"),
)
JSON_FIELDS = ("custom_attributes", "additional_attributes")
NOT_SAVED = "Contact could not be saved, please retry"


async def get_contact(
    session: AsyncSession, account_id: int, contact_id: str | int, *, for_update: bool = False
) -> Contact:
    parsed = parse_id(contact_id)
    if parsed is None:
        raise NotFound()
    statement = tenant_select(account_id, Contact).where(Contact.id == parsed)
    if for_update:
        statement = statement.with_for_update()
    contact: Contact | None = (await session.execute(statement)).scalar_one_or_none()
    if contact is None:
        raise NotFound()
    return contact


async def contact_inboxes_of(
    session: AsyncSession, account_id: int, contact_ids: list[int]
) -> dict[int, list[dict[str, Any]]]:
    """The contact inboxes of many contacts in one query."""
    result: dict[int, list[dict[str, Any]]] = {cid: [] for cid in contact_ids}
    if not contact_ids:
        return result
    rows = await session.execute(
        tenant_select(
            account_id,
            ContactInbox.contact_id,
            ContactInbox.source_id,
            Inbox.id,
            Inbox.avatar_url,
            Inbox.name,
            Inbox.channel_type,
            Inbox.provider,
        )
        .join(Inbox, Inbox.id == ContactInbox.inbox_id)
        .where(ContactInbox.contact_id.in_(contact_ids))
        .order_by(ContactInbox.id)
    )
    for row in rows:
        result[row.contact_id].append({"source_id": row.source_id, "inbox": inbox_json(row)})
    return result


async def render(
    session: AsyncSession, contact: Contact, *, include_contact_inboxes: bool = True
) -> dict[str, Any]:
    inboxes = None
    if include_contact_inboxes:
        inboxes = (await contact_inboxes_of(session, contact.account_id, [contact.id]))[contact.id]
    return contact_json(contact, inboxes)


async def conflict_error(
    session: AsyncSession, account_id: int, values: dict[str, Any], exclude_id: int | None = None
) -> ValidationFailed | None:
    """The 422 naming the unique fields of values another contact of the account holds, with
    the first holder's id; None when no other contact holds any."""
    wanted = [(f, m) for f, m in UNIQUE_FIELDS if values.get(f) is not None]
    if not wanted:
        return None
    conditions = [getattr(Contact, f) == values[f] for f, _ in wanted]
    statement = tenant_select(
        account_id, Contact.id, Contact.email, Contact.phone_number, Contact.identifier
    ).where(sa.or_(*conditions))
    if exclude_id is not None:
        statement = statement.where(Contact.id != exclude_id)
    rows = (await session.execute(statement)).all()
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
    session: AsyncSession,
    account_id: int,
    data: ContactInput,
    exclude_id: int | None = None,
) -> ValidationFailed:
    """The 422 of a body with problems: every format problem plus the fields another contact
    holds, listed at once."""
    problems = list(data.problems)
    extra: dict[str, Any] = {}
    conflict = await conflict_error(session, account_id, data.values, exclude_id)
    if conflict is not None:
        problems += conflict.problems
        extra = conflict.extra
    return ValidationFailed(problems, extra=extra)


async def check_definitions(session: AsyncSession, account_id: int, data: ContactInput) -> None:
    """Check and normalise data's custom_attributes against the account's definitions, once
    per input; each refused value is appended to data.problems."""
    if data.definitions_checked:
        return
    data.definitions_checked = True
    sent = data.values.get("custom_attributes")
    if not sent:
        return  # absent, {} or refused by the field checks already
    normalised, problems = await check_custom_attributes(session, account_id, sent)
    data.values["custom_attributes"] = normalised
    data.problems += problems


def _derive_name(values: dict[str, Any], first: str, last: str) -> None:
    """first_name/last_name without name: name is the non-empty ones joined by a space."""
    if "name" in values or not ({"first_name", "last_name"} & values.keys()):
        return
    values["name"] = " ".join(part for part in (first, last) if part)


def _writes_unique(values: dict[str, Any]) -> bool:
    """Whether writing values can meet a unique constraint (only these fields have one)."""
    return any(values.get(field) is not None for field, _ in UNIQUE_FIELDS)


@dataclass
class Created:
    contact: Contact
    inbox: Inbox | None
    source_id: str | None


async def parse_create_body(
    session: AsyncSession, body: dict[str, Any], account_id: int, dialect: str
) -> tuple[ContactInput, int | None, str | None]:
    """The create body (contract §5): the contact fields (custom attributes checked against
    the account's definitions), inbox_id (required in the v2 API dialect) and source_id;
    every problem is collected in the returned input's problems."""
    data = parse_contact_fields(body, creating=True)
    await check_definitions(session, account_id, data)
    inbox_id = None
    if dialect == "v2" or body.get("inbox_id") is not None:
        inbox_id = parse_inbox_field(body, data.problems)
    source_id = parse_source_field(body, data.problems)
    return data, inbox_id, source_id


def _new_contact(account_id: int, values: dict[str, Any]) -> Contact:
    now = now_epoch()
    contact = Contact(
        account_id=account_id,
        created_at=now,
        updated_at=now,
        name="",
        first_name="",
        last_name="",
        blocked=False,
        thumbnail="",
        availability_status="offline",
        additional_attributes={},
        custom_attributes={},
    )
    for key, value in values.items():
        setattr(contact, key, value)
    return contact


async def create_contact(
    session: AsyncSession,
    account_id: int,
    data: ContactInput,
    inbox_id: int | None,
    source_id: str | None,
) -> Created:
    """Insert a contact (and its contact inbox); a unique value another contact holds is a
    422 naming it, whoever wrote it first, and leaves the caller's transaction as it was."""
    await check_definitions(session, account_id, data)
    if data.problems:
        raise await validation_error(session, account_id, data)
    values = dict(data.values)
    _derive_name(values, values.get("first_name", ""), values.get("last_name", ""))
    inbox = await get_inbox(session, account_id, inbox_id) if inbox_id is not None else None
    for _attempt in range(3):
        contact = _new_contact(account_id, values)
        chosen = None
        try:
            async with session.begin_nested():
                session.add(contact)
                await session.flush()
                if inbox is not None:
                    chosen = source_id or default_source_id(inbox, contact)
                    session.add(
                        ContactInbox(
                            account_id=account_id,
                            contact_id=contact.id,
                            inbox_id=inbox.id,
                            source_id=chosen,
                            hmac_verified=False,
                            created_at=contact.created_at,
                        )
                    )
        except IntegrityError:
            pass
        else:
            return Created(contact, inbox, chosen)
        # Refused: name what another contact holds. When nothing is held any more (the
        # holder was deleted meanwhile), try again.
        conflict = await conflict_error(session, account_id, values)
        if conflict is not None:
            raise conflict
        if inbox is not None and source_id:
            holder = await source_holder(session, inbox, source_id)
            if holder is not None:
                raise ValidationFailed([("source_id", SOURCE_TAKEN)])
    raise ValidationFailed([("contact", NOT_SAVED)])


async def update_contact(session: AsyncSession, contact: Contact, data: ContactInput) -> Contact:
    """Apply the sent fields; JSON attributes merge top-level keys into the stored objects.

    The caller fetched the contact with for_update=True, so concurrent merges do not lose keys.
    A unique value another contact holds is refused by the database (inside a savepoint) and
    answered as a 422 naming every such field.
    """
    account_id, own_id = contact.account_id, contact.id  # a refused savepoint expires contact
    await check_definitions(session, account_id, data)
    if data.problems:
        raise await validation_error(session, account_id, data, own_id)
    values = dict(data.values)
    _derive_name(
        values,
        values.get("first_name", contact.first_name),
        values.get("last_name", contact.last_name),
    )
    # Only a unique field can be refused; other updates need no savepoint (two round trips).
    guarded = session.begin_nested() if _writes_unique(values) else contextlib.nullcontext()
    try:
        async with guarded:
            for key, value in values.items():
                if key in JSON_FIELDS:
                    value = {**(getattr(contact, key) or {}), **value}
                setattr(contact, key, value)
            contact.updated_at = now_epoch()
            await session.flush()
    except IntegrityError:
        conflict = await conflict_error(session, account_id, values, exclude_id=own_id)
        raise conflict or ValidationFailed([("contact", NOT_SAVED)]) from None
    return contact


def parse_attribute_keys(body: dict[str, Any]) -> list[str]:
    """{"custom_attributes": ["key", ...]}: a list of non-empty strings."""
    keys = body.get("custom_attributes")
    valid = isinstance(keys, list) and all(
        isinstance(key, str) and key and not has_nul(key) for key in keys
    )
    if not valid:
        raise ValidationFailed([("custom_attributes", "Custom attributes must be a list of keys")])
    return list(keys) if isinstance(keys, list) else []


async def destroy_custom_attributes(
    session: AsyncSession, contact: Contact, keys: list[str]
) -> Contact:
    """Remove these keys from the contact's custom attributes; absent keys are ignored.

    The caller fetched the contact with for_update=True, so a concurrent merge keeps its keys.
    """
    remaining = {k: v for k, v in (contact.custom_attributes or {}).items() if k not in keys}
    if remaining != (contact.custom_attributes or {}):
        contact.custom_attributes = remaining
        contact.updated_at = now_epoch()
        await session.flush()
    return contact


async def delete_contact(session: AsyncSession, account_id: int, contact_id: str) -> None:
    parsed = parse_id(contact_id)
    if parsed is None:
        raise NotFound()
    result = await session.execute(
        tenant_delete(Contact, account_id).where(Contact.id == parsed).returning(Contact.id)
    )
    if result.first() is None:
        raise NotFound()
