"""initial schema: accounts, users, memberships, tokens, API keys, inboxes, contacts, labels

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JsonObject = sa.JSON().with_variant(JSONB(), "postgresql")

# Sort keys that are expressions. Every index ends in id, the tie-breaker of every order.
# The SQL text must match what contactdesk.contacts.list_sql emits, so the planner uses them.
SORT_EXPRESSIONS = {
    "postgresql": {
        "name": "NULLIF(lower(name), '')",
        "company": "NULLIF(lower(additional_attributes ->> 'company_name'), '')",
        "city": "NULLIF(lower(additional_attributes ->> 'city'), '')",
        "country": "NULLIF(lower(additional_attributes ->> 'country'), '')",
    },
    "sqlite": {
        "name": "NULLIF(lower(name), '')",
        "company": "NULLIF(lower(json_extract(additional_attributes, '$.company_name')), '')",
        "city": "NULLIF(lower(json_extract(additional_attributes, '$.city')), '')",
        "country": "NULLIF(lower(json_extract(additional_attributes, '$.country')), '')",
    },
}


def _id() -> sa.Column[int]:
    return sa.Column("id", BigId, primary_key=True)


def _created() -> sa.Column[int]:
    return sa.Column("created_at", sa.BigInteger, nullable=False)


def _account_fk() -> sa.Column[int]:
    return sa.Column(
        "account_id",
        BigId,
        sa.ForeignKey("accounts.id", ondelete="CASCADE", name=None),
        nullable=False,
    )


def upgrade() -> None:
    op.create_table(
        "accounts",
        _id(),
        sa.Column("name", sa.String(255), nullable=False),
        _created(),
    )
    op.create_table(
        "users",
        _id(),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("email", sa.String(255), nullable=False),
        _created(),
        sa.UniqueConstraint("email"),
    )
    op.create_table(
        "account_users",
        sa.Column(
            "account_id",
            BigId,
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "user_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("role", sa.String(20), nullable=False),
        _created(),
        sa.CheckConstraint("role IN ('administrator', 'agent')", name="role"),
    )
    op.create_index("ix_account_users_user_id", "account_users", ["user_id"])
    op.create_table(
        "access_tokens",
        _id(),
        sa.Column("user_id", BigId, sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
        sa.Column("token_digest", sa.String(64), nullable=False),
        _created(),
        sa.UniqueConstraint("token_digest"),
    )
    op.create_index("ix_access_tokens_user_id", "access_tokens", ["user_id"])
    op.create_table(
        "api_keys",
        _id(),
        _account_fk(),
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("secret_digest", sa.String(64), nullable=False),
        sa.Column("scopes", sa.String(255), nullable=False),
        _created(),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_api_keys_account_id", "api_keys", ["account_id"])
    op.create_table(
        "inboxes",
        _id(),
        _account_fk(),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("channel_type", sa.String(40), nullable=False),
        sa.Column("avatar_url", sa.String(2048), nullable=False),
        sa.Column("provider", sa.String(255), nullable=True),
        _created(),
        sa.UniqueConstraint("account_id", "id"),
    )
    op.create_index("ix_inboxes_account_id", "inboxes", ["account_id"])
    op.create_table(
        "contacts",
        _id(),
        _account_fk(),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("first_name", sa.String(255), nullable=False),
        sa.Column("last_name", sa.String(255), nullable=False),
        sa.Column("email", sa.String(255), nullable=True),
        sa.Column("phone_number", sa.String(255), nullable=True),
        sa.Column("identifier", sa.String(255), nullable=True),
        sa.Column("blocked", sa.Boolean, nullable=False),
        sa.Column("thumbnail", sa.String(2048), nullable=False),
        sa.Column("availability_status", sa.String(10), nullable=False),
        sa.Column("additional_attributes", JsonObject, nullable=False),
        sa.Column("custom_attributes", JsonObject, nullable=False),
        sa.Column("last_activity_at", sa.BigInteger, nullable=True),
        _created(),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("account_id", "email"),
        sa.UniqueConstraint("account_id", "phone_number"),
        sa.UniqueConstraint("account_id", "identifier"),
    )
    op.create_index(
        "ix_contacts_account_id_created_at_id", "contacts", ["account_id", "created_at", "id"]
    )
    op.create_index(
        "ix_contacts_account_id_last_activity_at_id",
        "contacts",
        ["account_id", "last_activity_at", "id"],
    )
    backend = op.get_bind().dialect.name
    for key, expression in SORT_EXPRESSIONS.get(backend, SORT_EXPRESSIONS["sqlite"]).items():
        op.execute(
            f"CREATE INDEX ix_contacts_sort_{key} ON contacts (account_id, ({expression}), id)"
        )
    op.create_table(
        "contact_inboxes",
        _id(),
        _account_fk(),
        sa.Column(
            "contact_id", BigId, sa.ForeignKey("contacts.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column(
            "inbox_id", BigId, sa.ForeignKey("inboxes.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("source_id", sa.String(255), nullable=False),
        sa.Column("hmac_verified", sa.Boolean, nullable=False),
        _created(),
        sa.UniqueConstraint("inbox_id", "source_id"),
    )
    op.create_index("ix_contact_inboxes_contact_id", "contact_inboxes", ["contact_id"])
    op.create_table(
        "labels",
        _id(),
        _account_fk(),
        sa.Column("name_lower", sa.String(255), nullable=False),
        _created(),
        sa.UniqueConstraint("account_id", "name_lower"),
    )
    op.create_table(
        "contact_labels",
        sa.Column(
            "contact_id", BigId, sa.ForeignKey("contacts.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column(
            "label_id", BigId, sa.ForeignKey("labels.id", ondelete="CASCADE"), primary_key=True
        ),
        _account_fk(),
        sa.Column("name", sa.String(255), nullable=False),
    )
    op.create_index(
        "ix_contact_labels_label_id_contact_id", "contact_labels", ["label_id", "contact_id"]
    )
    op.create_index("ix_contact_labels_account_id", "contact_labels", ["account_id"])


def downgrade() -> None:
    for table in (
        "contact_labels",
        "labels",
        "contact_inboxes",
        "contacts",
        "inboxes",
        "api_keys",
        "access_tokens",
        "account_users",
        "users",
        "accounts",
    ):
        op.drop_table(table)
