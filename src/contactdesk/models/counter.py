from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from contactdesk.db import Base, BigId


class ContactCounter(Base):
    """One shard of an account's contact count, kept by database triggers (migration 0002).

    version grows with every change of a contact or of its labels: the sum over an account's
    shards is a generation that tells whether a cached filtered count is still exact.
    """

    __tablename__ = "contact_counters"

    account_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    shard: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    contacts_count: Mapped[int] = mapped_column(sa.BigInteger)
    version: Mapped[int] = mapped_column(sa.BigInteger)


class LabelCounter(Base):
    """One shard of the number of contacts carrying a label, kept by database triggers."""

    __tablename__ = "label_counters"

    label_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("labels.id", ondelete="CASCADE"), primary_key=True
    )
    shard: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    contacts_count: Mapped[int] = mapped_column(sa.BigInteger)
