from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from contactdesk.db import Base, BigId
from contactdesk.models._time import now_epoch


class Label(Base):
    """A label known to an account, identified case-insensitively by its lower-cased name."""

    __tablename__ = "labels"
    __table_args__ = (
        sa.UniqueConstraint("account_id", "name_lower"),
        # The parent key of contact_labels' composite foreign key (migration 0004).
        sa.UniqueConstraint("account_id", "id", name="uq_labels_account_id_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("accounts.id", ondelete="CASCADE"))
    name_lower: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[int] = mapped_column(sa.BigInteger, default=now_epoch)


class ContactLabel(Base):
    """A label on a contact, with the spelling that contact was given."""

    __tablename__ = "contact_labels"
    __table_args__ = (
        # A label's contacts in the default list order (created_at), read without touching
        # contacts: contact_created_at is the contact's, kept by triggers (migration 0007).
        sa.Index(
            "ix_contact_labels_account_id_label_id_sort",
            "account_id",
            "label_id",
            "contact_created_at",
            "contact_id",
        ),
        # The contact and the label are of the row's account (migration 0004).
        sa.ForeignKeyConstraint(
            ["account_id", "contact_id"],
            ["contacts.account_id", "contacts.id"],
            name="fk_contact_labels_contact",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["account_id", "label_id"],
            ["labels.account_id", "labels.id"],
            name="fk_contact_labels_label",
            ondelete="CASCADE",
        ),
    )

    contact_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    label_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    name: Mapped[str] = mapped_column(sa.String(255))
    # The contact's created_at, set and followed by triggers (migration 0007); never written
    # by the service.
    contact_created_at: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
