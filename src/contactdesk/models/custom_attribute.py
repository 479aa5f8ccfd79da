from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from contactdesk.db import Base, BigId, JsonObject
from contactdesk.models._time import now_epoch

DISPLAY_TYPES = ("text", "number", "currency", "percent", "link", "date", "list", "checkbox")
CONTACT_ATTRIBUTE = "contact_attribute"


class CustomAttributeDefinition(Base):
    """A typed key of contacts' custom_attributes, defined by an account's administrator."""

    __tablename__ = "custom_attribute_definitions"
    __table_args__ = (sa.UniqueConstraint("account_id", "attribute_model", "attribute_key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("accounts.id", ondelete="CASCADE"))
    attribute_model: Mapped[str] = mapped_column(sa.String(40), default=CONTACT_ATTRIBUTE)
    attribute_key: Mapped[str] = mapped_column(sa.String(255))
    attribute_display_name: Mapped[str] = mapped_column(sa.String(255))
    attribute_display_type: Mapped[str] = mapped_column(sa.String(20), default="text")
    attribute_description: Mapped[str | None] = mapped_column(sa.Text, nullable=True)
    # A JSON array of strings (the choices of a list attribute); [] for other types.
    attribute_values: Mapped[list[Any]] = mapped_column(JsonObject, default=list)
    regex_pattern: Mapped[str | None] = mapped_column(sa.String(1024), nullable=True)
    regex_cue: Mapped[str | None] = mapped_column(sa.String(1024), nullable=True)
    default_value: Mapped[Any] = mapped_column(JsonObject, nullable=True)
    created_at: Mapped[int] = mapped_column(sa.BigInteger, default=now_epoch)
    updated_at: Mapped[int] = mapped_column(sa.BigInteger, default=now_epoch)
