"""Inboxes (channels) of an account."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from contactdesk.errors import NotFound
from contactdesk.ids import MAX_ID
from contactdesk.models import Inbox
from contactdesk.models._time import now_epoch


async def get_inbox(session: AsyncSession, account_id: int, inbox_id: int) -> Inbox:
    if not 0 < inbox_id <= MAX_ID:
        raise NotFound()
    inbox = (
        await session.execute(
            sa.select(Inbox).where(Inbox.account_id == account_id, Inbox.id == inbox_id)
        )
    ).scalar_one_or_none()
    if inbox is None:
        raise NotFound()
    return inbox


async def list_inboxes(session: AsyncSession, account_id: int) -> list[Inbox]:
    rows = await session.execute(
        sa.select(Inbox).where(Inbox.account_id == account_id).order_by(Inbox.id)
    )
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
