from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from contactdesk.db import Base, BigId
from contactdesk.models._time import now_epoch

CHANNEL_TYPES = (
    "Channel::Api",
    "Channel::Email",
    "Channel::Sms",
    "Channel::Whatsapp",
    "Channel::WebWidget",
)


class Inbox(Base):
    __tablename__ = "inboxes"
    __table_args__ = (sa.UniqueConstraint("account_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(255))
    channel_type: Mapped[str] = mapped_column(sa.String(40))
    avatar_url: Mapped[str] = mapped_column(sa.String(2048), default="")
    provider: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    created_at: Mapped[int] = mapped_column(sa.BigInteger, default=now_epoch)


class ContactInbox(Base):
    """A contact's identity (source_id) in one inbox."""

    __tablename__ = "contact_inboxes"
    __table_args__ = (
        sa.UniqueConstraint("inbox_id", "source_id"),
        sa.Index("ix_contact_inboxes_contact_id", "contact_id"),
        # The contact and the inbox are of the row's account (migration 0004).
        sa.ForeignKeyConstraint(
            ["account_id", "contact_id"],
            ["contacts.account_id", "contacts.id"],
            name="fk_contact_inboxes_contact",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "inbox_id"],
            ["inboxes.account_id", "inboxes.id"],
            name="fk_contact_inboxes_inbox",
            ondelete="CASCADE",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("accounts.id", ondelete="CASCADE"))
    contact_id: Mapped[int] = mapped_column(BigId)
    inbox_id: Mapped[int] = mapped_column(BigId)
    source_id: Mapped[str] = mapped_column(sa.String(255))
    hmac_verified: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    created_at: Mapped[int] = mapped_column(sa.BigInteger, default=now_epoch)
