"""Contact imports: an uploaded CSV file, its progress, and the rows it refused."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from contactdesk.db import Base, BigId, JsonObject

QUEUED = "queued"
RUNNING = "running"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
IMPORT_STATUSES = (QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED)
ACTIVE = (QUEUED, RUNNING)


class ContactImport(Base):
    """One import. Its file is kept in the database (contact_import_chunks) until it ends, so
    that any process can run it and a restarted one resumes it: `rows_done` data rows were
    applied, with the counts beside them, in the same transactions as the rows' writes."""

    __tablename__ = "contact_imports"
    __table_args__ = (
        # The parent key of chunks' and errors' composite foreign keys.
        sa.UniqueConstraint("account_id", "id", name="uq_contact_imports_account_id_id"),
        sa.Index("ix_contact_imports_account_id_id", "account_id", "id"),
        # What runners look for.
        sa.Index(
            "ix_contact_imports_active",
            "id",
            postgresql_where=sa.text("status IN ('queued', 'running')"),
            sqlite_where=sa.text("status IN ('queued', 'running')"),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigId, sa.ForeignKey("accounts.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(sa.String(16))
    filename: Mapped[str | None] = mapped_column(sa.String(255), nullable=True)
    file_bytes: Mapped[int] = mapped_column(sa.BigInteger)
    # The file's shape, read when it was accepted: delimiter, header (as sent), the column
    # each header cell names (or null), the unknown headers, data rows in all.
    delimiter: Mapped[str] = mapped_column(sa.String(1))
    header: Mapped[list[Any]] = mapped_column(JsonObject)
    columns: Mapped[list[Any]] = mapped_column(JsonObject)
    unknown_columns: Mapped[list[Any]] = mapped_column(JsonObject)
    total_rows: Mapped[int] = mapped_column(sa.BigInteger)
    rows_done: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    created: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    updated: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    unchanged: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    failed: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    # Rows that named a contact an earlier row of the same file had created or updated.
    duplicates: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    error: Mapped[str | None] = mapped_column(sa.String(500), nullable=True)
    # The runner holding it (a random id) and until when (epoch milliseconds): a runner that
    # dies lets its lease lapse and another resumes the import.
    lease_owner: Mapped[str | None] = mapped_column(sa.String(32), nullable=True)
    lease_until: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    created_at: Mapped[int] = mapped_column(sa.BigInteger)
    started_at: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    finished_at: Mapped[int | None] = mapped_column(sa.BigInteger, nullable=True)
    # Seconds spent running (summed over resumptions), for rows/s.
    run_seconds: Mapped[float] = mapped_column(sa.Float, default=0.0)


class ContactImportChunk(Base):
    """The import's file, in order, in pieces of at most 1 MB."""

    __tablename__ = "contact_import_chunks"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["account_id", "import_id"],
            ["contact_imports.account_id", "contact_imports.id"],
            name="fk_contact_import_chunks_import",
            ondelete="CASCADE",
        ),
    )

    import_id: Mapped[int] = mapped_column(BigId, primary_key=True)
    seq: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigId)
    data: Mapped[bytes] = mapped_column(sa.LargeBinary)


class ContactImportError(Base):
    """A row the import refused: its line, the row as it was sent, and why."""

    __tablename__ = "contact_import_errors"
    __table_args__ = (
        sa.ForeignKeyConstraint(
            ["account_id", "import_id"],
            ["contact_imports.account_id", "contact_imports.id"],
            name="fk_contact_import_errors_import",
            ondelete="CASCADE",
        ),
        sa.Index("ix_contact_import_errors_import_id_line", "import_id", "line"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    account_id: Mapped[int] = mapped_column(BigId)
    import_id: Mapped[int] = mapped_column(BigId)
    line: Mapped[int] = mapped_column(sa.BigInteger)
    # The row's cells, as a JSON array of strings.
    row: Mapped[list[Any]] = mapped_column(JsonObject)
    reason: Mapped[str] = mapped_column(sa.String(1000))
