from __future__ import annotations

import enum

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from contactdesk.db import Base, BigId
from contactdesk.models._time import now_epoch


class Role(enum.StrEnum):
    administrator = "administrator"
    agent = "agent"


class Account(Base):
    __tablename__ = "accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[int] = mapped_column(sa.BigInteger, default=now_epoch)
    # Moved by a trigger on every change of the account's custom attribute definitions
    # (migration 0005): the key of the definitions a process keeps (custom_attributes).
    definitions_version: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")


def definitions_version_of(account_id: sa.ColumnElement[int]) -> sa.Label[int]:
    """The definitions_version of the account a row belongs to (its account_id column), as
    a column of a statement reading that row: a create or an update checks custom attributes
    against the definitions a process keeps for it (custom_attributes/validation.py)."""
    accounts = Account.__table__.c  # Core columns: the statement stays a Core one
    return (
        sa.select(accounts.definitions_version)
        .where(accounts.id == account_id)
        .scalar_subquery()
        .label("definitions_version")
    )


class AccountUser(Base):
    """Membership of a user in an account, with a role."""

    __tablename__ = "account_users"
    __table_args__ = (
        sa.CheckConstraint("role IN ('administrator', 'agent')", name="role"),
        sa.Index("ix_account_users_user_id", "user_id"),
    )

    account_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True
    )
    user_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    role: Mapped[str] = mapped_column(sa.String(20))
    created_at: Mapped[int] = mapped_column(sa.BigInteger, default=now_epoch)
