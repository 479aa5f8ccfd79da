"""Inboxes (channels) of an account, and the source_id each channel gives a contact."""

from __future__ import annotations

import uuid
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from contactdesk.driver import ReadConnection
from contactdesk.errors import NotFound, ValidationFailed
from contactdesk.models import ContactInbox, Inbox
from contactdesk.models._time import now_epoch
from contactdesk.models.account import definitions_version_of
from contactdesk.models.tenancy import keyed_by_parent, tenant_select
from contactdesk.values import parse_id

SOURCE_TAKEN = "Source has already been taken"


INBOXES = cast(sa.Table, Inbox.__table__)
CONTACT_INBOXES = cast(sa.Table, ContactInbox.__table__)
# Built once (every create reads its inbox): the account and the id are bind parameters.
# The account's definitions_version (migration 0005) comes with it.
_INBOX = tenant_select(
    sa.bindparam("account_id", type_=sa.BigInteger),
    *INBOXES.c,
    definitions_version_of(INBOXES.c.account_id),
).where(INBOXES.c.id == sa.bindparam("inbox_id", type_=sa.BigInteger))


async def get_inbox(conn: ReadConnection, account_id: int, inbox_id: int) -> Any:
    """The inbox's row (every column); 404 when the account has no such inbox."""
    if parse_id(inbox_id) is None:
        raise NotFound()
    rows = await conn.fetch(_INBOX, {"account_id": account_id, "inbox_id": inbox_id})
    if not rows:
        raise NotFound()
    return rows[0]


async def list_inboxes(session: AsyncSession, account_id: int) -> list[Inbox]:
    rows = await session.execute(tenant_select(account_id, Inbox).order_by(Inbox.id))
    return list(rows.scalars())


async def create_inbox(
    session: AsyncSession,
    account_id: int,
    name: str,
    channel_type: str,
    avatar_url: str = "",
    provider: str | None = None,
) -> Inbox:
    inbox = Inbox(
        account_id=account_id,
        name=name,
        channel_type=channel_type,
        avatar_url=avatar_url,
        provider=provider,
        created_at=now_epoch(),
    )
    session.add(inbox)
    await session.flush()
    return inbox


def default_source_id(inbox: Any, email: str | None, phone_number: str | None) -> str:
    """The source_id an inbox gives a contact with this email and phone number when the
    client sends none (contract §4.6)."""
    channel = inbox.channel_type
    if channel == "Channel::Email":
        if not email:
            raise ValidationFailed(
                [("email", "Email can't be blank for an Email inbox; set it or send source_id")]
            )
        return email
    if channel in ("Channel::Sms", "Channel::Whatsapp"):
        if not phone_number:
            kind = channel.removeprefix("Channel::")
            message = f"Phone number can't be blank for a {kind} inbox; set it or send source_id"
            raise ValidationFailed([("phone_number", message)])
        return phone_number.removeprefix("+") if channel == "Channel::Whatsapp" else phone_number
    return str(uuid.uuid4())


_SOURCE_HOLDER = keyed_by_parent(
    sa.select(CONTACT_INBOXES.c.contact_id).where(
        CONTACT_INBOXES.c.inbox_id == sa.bindparam("inbox_id", type_=sa.BigInteger),
        CONTACT_INBOXES.c.source_id == sa.bindparam("source_id", type_=sa.String),
    )
)


async def source_holder(conn: ReadConnection, inbox: Any, source_id: str) -> int | None:
    """The contact holding source_id in the inbox (any contact: the pair is unique)."""
    holder: int | None = await conn.fetchval(
        _SOURCE_HOLDER, {"inbox_id": inbox.id, "source_id": source_id}
    )
    return holder
