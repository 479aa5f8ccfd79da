"""Contact events: the outbox of webhook deliveries and the account's event feed."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from contactdesk.db import Base, BigId


class Event(Base):
    """One change of one contact, written in the transaction of the change.

    `payload` is the JSON body a webhook receives (the contact as the API renders it, the
    account, the event's name and source, and what changed). `position` is the event's place
    in the account's feed, given after its transaction committed, in the order events are
    seen committed (events/sequencer.py); NULL until then.
    """

    __tablename__ = "events"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "position", name="uq_events_account_id_position"),
        # The events still to place in the feed, oldest first.
        sa.Index(
            "ix_events_unplaced",
            "account_id",
            "id",
            postgresql_where=sa.text("position IS NULL"),
            sqlite_where=sa.text("position IS NULL"),
        ),
        sa.Index("ix_events_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("accounts.id", ondelete="CASCADE"))
    position: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    # No foreign key: a contact's events outlive it (contact_deleted, contact_merged).
    contact_id: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    event: Mapped[str] = mapped_column(sa.String(32))
    source: Mapped[str] = mapped_column(sa.String(16))
    payload: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[int] = mapped_column(sa.BigInteger)
