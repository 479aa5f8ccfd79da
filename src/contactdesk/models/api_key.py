from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from contactdesk.db import Base, BigId
from contactdesk.models._time import now_epoch


class ApiKey(Base):
    """A LiveDesk-style API key of one account; the secret is stored as a SHA-256 digest."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(
        BigId, sa.ForeignKey("accounts.id", ondelete="CASCADE"), index=True
    )
    key: Mapped[str] = mapped_column(sa.String(64), unique=True)
    secret_digest: Mapped[str] = mapped_column(sa.String(64))
    # Space-separated scope names, e.g. "contacts:read contacts:write".
    scopes: Mapped[str] = mapped_column(sa.String(255))
    created_at: Mapped[int] = mapped_column(sa.BigInteger, default=now_epoch)
