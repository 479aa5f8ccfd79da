"""contact_labels sort key: a contact's created_at copied onto each of its labels

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30

A list of one label in the default order (created_at) walked the account's contacts newest
first and probed each one's labels: 1,594 index probes for a page of 16 contacts of a label
one contact in a hundred carries (3.2 ms of PostgreSQL's time, the bench's `list_labels`).
With the contact's created_at on the label row, and an index in that order per label, such a
page reads its 16 entries and nothing else (contacts/queries.py, docs/performance.md).

contact_labels.contact_created_at is kept by triggers, whatever writes the row (the API, a
merge, a bulk action, an import, a hand edit or a bulk COPY): set from the contact when a
label row is inserted or moved to another contact, and followed when a contact's created_at
changes. The index (account_id, label_id, contact_created_at, contact_id) replaces
(label_id, contact_id): every lookup by label also knows its account.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

PG_STATEMENTS = [
    """CREATE FUNCTION contactdesk_contact_labels_sort_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.contact_created_at := (SELECT created_at FROM contacts WHERE id = NEW.contact_id);
  RETURN NEW;
END $$""",
    "CREATE TRIGGER contact_labels_sort_key BEFORE INSERT OR UPDATE OF contact_id "
    "ON contact_labels FOR EACH ROW EXECUTE FUNCTION contactdesk_contact_labels_sort_key()",
    """CREATE FUNCTION contactdesk_contact_created_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE contact_labels SET contact_created_at = NEW.created_at WHERE contact_id = NEW.id;
  RETURN NULL;
END $$""",
    "CREATE TRIGGER contacts_created_at_on_labels AFTER UPDATE OF created_at ON contacts "
    "FOR EACH ROW WHEN (OLD.created_at IS DISTINCT FROM NEW.created_at) "
    "EXECUTE FUNCTION contactdesk_contact_created_at()",
]
SQLITE_STATEMENTS = [
    "CREATE TRIGGER contact_labels_sort_key_insert AFTER INSERT ON contact_labels BEGIN "
    "UPDATE contact_labels SET contact_created_at = "
    "(SELECT created_at FROM contacts WHERE id = NEW.contact_id) "
    "WHERE contact_id = NEW.contact_id AND label_id = NEW.label_id; END",
    "CREATE TRIGGER contact_labels_sort_key_update AFTER UPDATE OF contact_id ON contact_labels "
    "BEGIN UPDATE contact_labels SET contact_created_at = "
    "(SELECT created_at FROM contacts WHERE id = NEW.contact_id) "
    "WHERE contact_id = NEW.contact_id AND label_id = NEW.label_id; END",
    "CREATE TRIGGER contacts_created_at_on_labels AFTER UPDATE OF created_at ON contacts "
    "WHEN OLD.created_at IS NOT NEW.created_at BEGIN "
    "UPDATE contact_labels SET contact_created_at = NEW.created_at "
    "WHERE contact_id = NEW.id; END",
]
SORT_INDEX = "ix_contact_labels_account_id_label_id_sort"
SORT_COLUMNS = ["account_id", "label_id", "contact_created_at", "contact_id"]


def upgrade() -> None:
    op.add_column("contact_labels", sa.Column("contact_created_at", sa.BigInteger))
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute(
            "UPDATE contact_labels SET contact_created_at = contacts.created_at "
            "FROM contacts WHERE contacts.id = contact_labels.contact_id"
        )
    else:
        op.execute(
            "UPDATE contact_labels SET contact_created_at = "
            "(SELECT created_at FROM contacts WHERE contacts.id = contact_labels.contact_id)"
        )
    op.drop_index("ix_contact_labels_label_id_contact_id", table_name="contact_labels")
    op.create_index(SORT_INDEX, "contact_labels", SORT_COLUMNS)
    for statement in PG_STATEMENTS if postgresql else SQLITE_STATEMENTS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER contacts_created_at_on_labels ON contacts")
        op.execute("DROP TRIGGER contact_labels_sort_key ON contact_labels")
        op.execute("DROP FUNCTION contactdesk_contact_created_at()")
        op.execute("DROP FUNCTION contactdesk_contact_labels_sort_key()")
    else:
        for name in (
            "contacts_created_at_on_labels",
            "contact_labels_sort_key_update",
            "contact_labels_sort_key_insert",
        ):
            op.execute(f"DROP TRIGGER {name}")
    op.drop_index(SORT_INDEX, table_name="contact_labels")
    op.create_index(
        "ix_contact_labels_label_id_contact_id", "contact_labels", ["label_id", "contact_id"]
    )
    op.execute("ALTER TABLE contact_labels DROP COLUMN contact_created_at")
