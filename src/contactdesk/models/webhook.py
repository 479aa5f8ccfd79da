"""An account's webhook endpoints."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from contactdesk.db import Base, BigId, JsonObject
from contactdesk.models._time import now_epoch

EVENTS = ("contact_created", "contact_updated", "contact_deleted", "contact_merged")
ENABLED = "enabled"
DISABLED = "disabled"


class Webhook(Base):
    """An endpoint that receives the account's contact events it subscribes to, signed with
    its secret (Standard Webhooks)."""

    __tablename__ = "webhooks"
    __table_args__ = (
        # The parent key of deliveries' composite foreign key.
        sa.UniqueConstraint("account_id", "id", name="uq_webhooks_account_id_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    url: Mapped[str] = mapped_column(sa.String(2048))
    name: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    # A JSON array of event names (EVENTS)
    subscriptions: Mapped[list[Any]] = mapped_column(JsonObject)
    # A JSON array of event sources (events.service.SOURCES) whose events it does not receive.
    exclude_sources: Mapped[list[Any]] = mapped_column(JsonObject, default=list)
    secret: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[str] = mapped_column(sa.String(16), default=ENABLED)
    # When deliveries to it began failing without a success since (epoch seconds), or NULL.
    failing_since: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    created_at: Mapped[int] = mapped_column(sa.BigInteger, default=now_epoch)
    updated_at: Mapped[int] = mapped_column(sa.BigInteger, default=now_epoch)
