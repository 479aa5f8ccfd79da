"""Webhook deliveries: one event to one endpoint, with its attempts."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from contactdesk.db import Base, BigId

PENDING = "pending"
SUCCEEDED = "succeeded"
FAILED = "failed"
DELIVERY_STATUSES = (PENDING, SUCCEEDED, FAILED)


class WebhookDelivery(Base):
    """Created when its event is placed in the feed, for every webhook of the account that
    subscribes to the event (a disabled one too: enabling it resumes its backlog)."""

    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["account_id", "webhook_id"],
            ["webhooks.account_id", "webhooks.id"],
            name="fk_webhook_deliveries_webhook",
            ondelete="CASCADE",
        ),
        # What is due, oldest first.
        sa.Index(
            "ix_webhook_deliveries_due",
            "next_attempt_at",
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        ),
        # One contact's deliveries to one endpoint, in order (each waits for the ones before).
        sa.Index(
            "ix_webhook_deliveries_order",
            "webhook_id",
            "contact_id",
            "id",
            postgresql_where=sa.text("status = 'pending'"),
            sqlite_where=sa.text("status = 'pending'"),
        ),
        # The delivery log of an endpoint, newest first.
        sa.Index("ix_webhook_deliveries_webhook_id_id", "webhook_id", "id"),
        sa.Index("ix_webhook_deliveries_event_id", "event_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("accounts.id", ondelete="CASCADE"))
    webhook_id: Mapped[int] = mapped_column(BigId)
    event_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("events.id", ondelete="CASCADE"))
    contact_id: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    event: Mapped[str] = mapped_column(sa.String(32))
    status: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(sa.Integer, default=0)
    # Epoch milliseconds.
    next_attempt_at: Mapped[int] = mapped_column(sa.BigInteger)
    # Epoch milliseconds: a dispatcher is sending it until then (a lease that lapses if the
    # dispatcher dies, so another sends it again).
    claimed_until: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    last_status: Mapped[int | None] = mapped_column(sa.Integer, nullable=True)
    last_error: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    created_at: Mapped[int] = mapped_column(sa.BigInteger)
    updated_at: Mapped[int] = mapped_column(sa.BigInteger)
