"""contact imports: uploaded files, their progress and refused rows; webhooks.exclude_sources

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30

contact_imports: one CSV import and its counts (the actions' importer). Its file is kept in
contact_import_chunks until it ends, so any process can run or resume it; the rows it refused
are in contact_import_errors. webhooks.exclude_sources: the event sources (e.g. import) an
endpoint does not receive.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
JsonValue = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "contact_imports",
        sa.Column("id", BigId, primary_key=True),
        sa.Column(
            "account_id", BigId, sa.ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False
        ),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("filename", sa.String(255), nullable=True),
        sa.Column("file_bytes", sa.BigInteger, nullable=False),
        sa.Column("delimiter", sa.String(1), nullable=False),
        sa.Column("header", JsonValue, nullable=False),
        sa.Column("columns", JsonValue, nullable=False),
        sa.Column("unknown_columns", JsonValue, nullable=False),
        sa.Column("total_rows", sa.BigInteger, nullable=False),
        sa.Column("rows_done", sa.BigInteger, nullable=False),
        sa.Column("created", sa.BigInteger, nullable=False),
        sa.Column("updated", sa.BigInteger, nullable=False),
        sa.Column("unchanged", sa.BigInteger, nullable=False),
        sa.Column("failed", sa.BigInteger, nullable=False),
        sa.Column("duplicates", sa.BigInteger, nullable=False),
        sa.Column("error", sa.String(500), nullable=True),
        sa.Column("lease_owner", sa.String(32), nullable=True),
        sa.Column("lease_until", sa.BigInteger, nullable=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=True),
        sa.Column("finished_at", sa.BigInteger, nullable=True),
        sa.Column("run_seconds", sa.Float, nullable=False),
        sa.UniqueConstraint("account_id", "id", name="uq_contact_imports_account_id_id"),
    )
    op.create_index("ix_contact_imports_account_id_id", "contact_imports", ["account_id", "id"])
    active = sa.text("status IN ('queued', 'running')")
    op.create_index(
        "ix_contact_imports_active",
        "contact_imports",
        ["id"],
        postgresql_where=active,
        sqlite_where=active,
    )
    op.create_table(
        "contact_import_chunks",
        sa.Column("import_id", BigId, primary_key=True),
        sa.Column("seq", sa.Integer, primary_key=True),
        sa.Column("account_id", BigId, nullable=False),
        sa.Column("data", sa.LargeBinary, nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id", "import_id"],
            ["contact_imports.account_id", "contact_imports.id"],
            name="fk_contact_import_chunks_import",
            ondelete="CASCADE",
        ),
    )
    op.create_table(
        "contact_import_errors",
        sa.Column("id", BigId, primary_key=True),
        sa.Column("account_id", BigId, nullable=False),
        sa.Column("import_id", BigId, nullable=False),
        sa.Column("line", sa.BigInteger, nullable=False),
        sa.Column("row", JsonValue, nullable=False),
        sa.Column("reason", sa.String(1000), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id", "import_id"],
            ["contact_imports.account_id", "contact_imports.id"],
            name="fk_contact_import_errors_import",
            ondelete="CASCADE",
        ),
    )
    op.create_index(
        "ix_contact_import_errors_import_id_line", "contact_import_errors", ["import_id", "line"]
    )
    with op.batch_alter_table("webhooks") as batch:
        batch.add_column(
            sa.Column("exclude_sources", JsonValue, nullable=False, server_default="[]")
        )


def downgrade() -> None:
    with op.batch_alter_table("webhooks") as batch:
        batch.drop_column("exclude_sources")
    op.drop_index("ix_contact_import_errors_import_id_line", table_name="contact_import_errors")
    op.drop_table("contact_import_errors")
    op.drop_table("contact_import_chunks")
    op.drop_index("ix_contact_imports_active", table_name="contact_imports")
    op.drop_index("ix_contact_imports_account_id_id", table_name="contact_imports")
    op.drop_table("contact_imports")
