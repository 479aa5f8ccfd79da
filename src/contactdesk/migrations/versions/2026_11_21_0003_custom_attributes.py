"""custom attribute definitions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21

custom_attribute_definitions: the typed keys of contacts' custom_attributes, per account.
(account_id, attribute_model, attribute_key) is unique, so two definitions of one key cannot
both land, however concurrent the requests.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JsonValue = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "custom_attribute_definitions",
        sa.Column("id", BigId, primary_key=True),
        sa.Column(
            "account_id", BigId, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("attribute_model", sa.String(40), nullable=False),
        sa.Column("attribute_key", sa.String(255), nullable=False),
        sa.Column("attribute_display_name", sa.String(255), nullable=False),
        sa.Column("attribute_display_type", sa.String(20), nullable=False),
        sa.Column("attribute_description", sa.Text, nullable=True),
        sa.Column("attribute_values", JsonValue, nullable=False),
        sa.Column("regex_pattern", sa.String(1024), nullable=True),
        sa.Column("regex_cue", sa.String(1024), nullable=True),
        sa.Column("default_value", JsonValue, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("account_id", "attribute_model", "attribute_key"),
    )


def downgrade() -> None:
    op.drop_table("custom_attribute_definitions")
