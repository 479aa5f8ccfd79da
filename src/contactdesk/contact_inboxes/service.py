"""Contact inboxes: a contact's identity (source_id) in one inbox of its account.

Rules (contract §4.6, reference §3.7):
- ``(inbox_id, source_id)`` is unique, by the database constraint on contact_inboxes: a
  source_id another contact holds in that inbox is 422 "Source has already been taken". The
  insert decides (inside a savepoint), so two requests racing for one source_id cannot both
  win; there is no check-then-write.
- Attaching a pair this contact already holds is idempotent: the existing contact inbox is
  answered and nothing new is stored (its hmac_verified is left as it was).
- Without a source_id the inbox's channel picks one (``default_source_id``): a fresh UUID for
  API and WebWidget inboxes, so each such attach adds a contact inbox, unless the caller asks
  to reuse the contact's existing one there (upsert does).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from contactdesk.contacts.fields import parse_inbox_field, parse_source_field
from contactdesk.contacts.serialize import contact_inbox_json
from contactdesk.db import connection_of
from contactdesk.errors import NotFound, ValidationFailed
from contactdesk.inboxes.service import SOURCE_TAKEN, default_source_id, source_holder
from contactdesk.models import Contact, ContactInbox, Inbox
from contactdesk.models._time import now_epoch
from contactdesk.models.tenancy import keyed_by_parent, tenant_select
from contactdesk.values import parse_bool

SOURCE_BLANK = "Source can't be blank"

# Channels whose source_id is derived from the contact (reference §3.7).
_EMAIL, _SMS, _WHATSAPP = "Channel::Email", "Channel::Sms", "Channel::Whatsapp"
_API, _WIDGET = "Channel::Api", "Channel::WebWidget"


def parse_hmac_verified(body: dict[str, Any], problems: list[tuple[str, str]]) -> bool:
    """A boolean or "true"/"false"; absent or null is false."""
    value = body.get("hmac_verified")
    parsed = False if value is None else parse_bool(value)
    if parsed is None:
        problems.append(("hmac_verified", "Hmac verified is invalid"))
        return False
    return parsed


async def _latest_source_id(session: AsyncSession, contact: Contact, inbox: Inbox) -> str | None:
    found = await session.execute(
        keyed_by_parent(
            sa.select(ContactInbox.source_id)
            .where(ContactInbox.contact_id == contact.id, ContactInbox.inbox_id == inbox.id)
            .order_by(ContactInbox.id.desc())
            .limit(1)
        )
    )
    return found.scalar_one_or_none()


async def attach_inbox(
    session: AsyncSession,
    contact: Contact,
    inbox: Inbox,
    source_id: str | None,
    *,
    hmac_verified: bool = False,
    reuse_existing: bool = False,
) -> str:
    """Give the contact a source_id in the inbox (both of one account); return the source_id.

    reuse_existing: without a source_id, answer the contact's latest contact inbox in this
    inbox when it has one, instead of making a new one. The caller should hold the contact
    row locked (get_contact(for_update=True)), so that it cannot vanish meanwhile.
    """
    if source_id is None and reuse_existing:
        existing = await _latest_source_id(session, contact, inbox)
        if existing is not None:
            return existing
    chosen = (
        source_id
        if source_id is not None
        else default_source_id(inbox, contact.email, contact.phone_number)
    )
    contact_id, inbox_id = contact.id, inbox.id
    try:
        # A savepoint: a refused insert must not undo what the transaction did before it.
        async with session.begin_nested():
            session.add(
                ContactInbox(
                    account_id=contact.account_id,
                    contact_id=contact_id,
                    inbox_id=inbox_id,
                    source_id=chosen,
                    hmac_verified=hmac_verified,
                    created_at=now_epoch(),
                )
            )
    except IntegrityError:
        holder = await source_holder(connection_of(session), inbox, chosen)
        if holder == contact_id:
            return chosen
        if holder is None:  # not the unique pair: the inbox went away meanwhile
            raise NotFound() from None
        raise ValidationFailed([("source_id", SOURCE_TAKEN)]) from None
    return chosen


async def contactable_inboxes(session: AsyncSession, contact: Contact) -> list[dict[str, Any]]:
    """The inboxes that can reach this contact, with the source_id each would use, by id.

    Nothing is stored: an API inbox the contact has no contact inbox in offers a fresh UUID.
    """
    inboxes = await session.execute(tenant_select(contact.account_id, Inbox).order_by(Inbox.id))
    held = await session.execute(
        keyed_by_parent(
            sa.select(ContactInbox.inbox_id, ContactInbox.source_id)
            .where(ContactInbox.contact_id == contact.id)
            .order_by(ContactInbox.id)
        )
    )
    latest = {row.inbox_id: row.source_id for row in held}  # later rows overwrite earlier
    result = []
    for inbox in inboxes.scalars():
        source_id = _contactable_source_id(inbox, contact, latest.get(inbox.id))
        if source_id is not None:
            result.append(contact_inbox_json(source_id, inbox))
    return result


def _contactable_source_id(inbox: Inbox, contact: Contact, latest: str | None) -> str | None:
    channel = inbox.channel_type
    if channel == _API:
        return (
            latest
            if latest is not None
            else default_source_id(inbox, contact.email, contact.phone_number)
        )
    if channel == _WIDGET:
        return latest
    if channel == _EMAIL:
        return contact.email or None
    if channel in (_SMS, _WHATSAPP) and contact.phone_number:
        return default_source_id(inbox, contact.email, contact.phone_number)
    return None


async def find_by_source(
    session: AsyncSession, account_id: int, inbox: Inbox, source_id: str
) -> Contact:
    """The contact of the account holding source_id in the inbox; 404 when none does."""
    found = await session.execute(
        tenant_select(account_id, Contact)
        .join(ContactInbox, ContactInbox.contact_id == Contact.id)
        .where(ContactInbox.inbox_id == inbox.id, ContactInbox.source_id == source_id)
    )
    contact: Contact | None = found.scalar_one_or_none()
    if contact is None:
        raise NotFound()
    return contact


def parse_filter_body(body: dict[str, Any]) -> tuple[int, str]:
    """inbox_id and source_id of a filter body, both required."""
    problems: list[tuple[str, str]] = []
    inbox_id = parse_inbox_field(body, problems)
    source_id = parse_source_field(body, problems)
    if source_id is None and not any(field == "source_id" for field, _ in problems):
        problems.append(("source_id", SOURCE_BLANK))
    if problems or inbox_id is None or source_id is None:
        raise ValidationFailed(problems)
    return inbox_id, source_id
