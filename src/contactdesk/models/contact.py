from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from contactdesk.db import Base, BigId, JsonObject
from contactdesk.models._time import now_epoch

# The contact's standard attributes as filters name them (contacts/filter_parse.py); a custom
# attribute definition may not take one of these keys.
STANDARD_ATTRIBUTE_KEYS = (
    "name",
    "phone_number",
    "email",
    "identifier",
    "country_code",
    "city",
    "company",
    "labels",
    "created_at",
    "last_activity_at",
    "blocked",
)


class Contact(Base):
    __tablename__ = "contacts"
    __table_args__ = (
        # Uniqueness per account is the database's job: concurrent duplicates cannot both land.
        # Email is stored lower-cased, so this constraint is case-insensitive.
        sa.UniqueConstraint("account_id", "email"),
        sa.UniqueConstraint("account_id", "phone_number"),
        sa.UniqueConstraint("account_id", "identifier"),
        # The parent key of the composite foreign keys that keep a contact's inboxes and labels
        # in its account (migration 0004).
        sa.UniqueConstraint("account_id", "id", name="uq_contacts_account_id_id"),
        sa.Index("ix_contacts_account_id_created_at_id", "account_id", "created_at", "id"),
        sa.Index(
            "ix_contacts_account_id_last_activity_at_id", "account_id", "last_activity_at", "id"
        ),
        # The expression indexes for the other sort keys are created by the migration,
        # per database backend (see migrations/versions).
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("accounts.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(255), default="")
    first_name: Mapped[str] = mapped_column(sa.String(255), default="")
    last_name: Mapped[str] = mapped_column(sa.String(255), default="")
    email: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    phone_number: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    identifier: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    blocked: Mapped[bool] = mapped_column(sa.Boolean, default=False)
    thumbnail: Mapped[str] = mapped_column(sa.String(2048), default="")
    availability_status: Mapped[str] = mapped_column(sa.String(10), default="offline")
    additional_attributes: Mapped[dict[str, Any]] = mapped_column(JsonObject, default=dict)
    custom_attributes: Mapped[dict[str, Any]] = mapped_column(JsonObject, default=dict)
    last_activity_at: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    created_at: Mapped[int] = mapped_column(sa.BigInteger, default=now_epoch)
    updated_at: Mapped[int] = mapped_column(sa.BigInteger, default=now_epoch, onupdate=now_epoch)
