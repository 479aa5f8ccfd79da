"""contacts fillfactor: room on each page for updates that change no indexed column

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30

PostgreSQL only. contacts carries twenty indexes (sorts, uniques, the trigram search); an
update that finds no room on its row's page writes a new entry in every one of them, and
after each checkpoint a full page image of each page it touches. With 10 % of each page left
free (fillfactor 90), an update of columns no index reads (custom_attributes, updated_at,
the name parts, ...) stays on its page and touches no index (a HOT update). Pages written
from now on keep the room; existing ones get it as they are rewritten (VACUUM FULL or
pg_repack, if wanted; docs/operations.md).
"""

from __future__ import annotations

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE contacts SET (fillfactor = 90)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE contacts RESET (fillfactor)")
