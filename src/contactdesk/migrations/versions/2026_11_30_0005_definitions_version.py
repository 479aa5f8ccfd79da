"""definitions version: a counter on the account that every change of its custom attribute
definitions moves

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30

accounts.definitions_version goes up with every insert, update or delete of one of the
account's custom_attribute_definitions, by a trigger, in the transaction of the change,
whatever wrote it (the API, the CLI, a hand edit). A create or an update of a contact reads it
with the row it reads anyway (the inbox, the locked contact) and checks custom attributes
against the definitions a process keeps for that version, instead of reading them on every
write (custom_attributes/validation.py; docs/decisions.md, issue 10).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

PG_STATEMENTS = [
    """CREATE FUNCTION contactdesk_definitions_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE accounts SET definitions_version = definitions_version + 1
   WHERE id = CASE WHEN TG_OP = 'DELETE' THEN OLD.account_id ELSE NEW.account_id END;
  RETURN NULL;
END $$""",
    "CREATE TRIGGER custom_attribute_definitions_version "
    "AFTER INSERT OR UPDATE OR DELETE ON custom_attribute_definitions "
    "FOR EACH ROW EXECUTE FUNCTION contactdesk_definitions_version()",
]
SQLITE_TRIGGERS = {
    "insert": "NEW",
    "update": "NEW",
    "delete": "OLD",
}


def upgrade() -> None:
    op.add_column(
        "accounts",
        sa.Column("definitions_version", sa.BigInteger, nullable=False, server_default="0"),
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_STATEMENTS:
            op.execute(statement)
        return
    for event, row in SQLITE_TRIGGERS.items():
        op.execute(
            f"CREATE TRIGGER custom_attribute_definitions_version_{event} "
            f"AFTER {event.upper()} ON custom_attribute_definitions BEGIN "
            "UPDATE accounts SET definitions_version = definitions_version + 1 "
            f"WHERE id = {row}.account_id; END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP TRIGGER custom_attribute_definitions_version ON custom_attribute_definitions"
        )
        op.execute("DROP FUNCTION contactdesk_definitions_version()")
    else:
        for event in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER custom_attribute_definitions_version_{event}")
    # SQLite (3.35+) drops a column in place: no table rebuild, the schema text as it was.
    op.execute("ALTER TABLE accounts DROP COLUMN definitions_version")
