"""scale: transactional counters, descending sort indexes, trigram search index

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21

- contact_counters (account_id, shard): the number of contacts of an account, split over
  SHARDS rows so concurrent creates do not queue on one row, and a version that every change
  of a contact or of its labels bumps (the generation the count cache is keyed on).
- label_counters (label_id, shard): the number of contacts carrying a label.
  Both are maintained by triggers, in the transaction of the change, whatever wrote it.
- PostgreSQL: an index per descending sort (blanks last needs DESC NULLS LAST; an ascending
  index walked backwards would give NULLS FIRST), ascending and descending indexes for email
  and phone_number, and a pg_trgm GIN index over the searched fields.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Keep in step with contactdesk.contacts.counters.SHARDS.
SHARDS = 32

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Keep in step with contactdesk.contacts.list_sql (the planner matches expressions, not names).
DESC_SORTS = {
    "name": "NULLIF(lower(name), '')",
    "company": "NULLIF(lower(additional_attributes ->> 'company_name'), '')",
    "city": "NULLIF(lower(additional_attributes ->> 'city'), '')",
    "country": "NULLIF(lower(additional_attributes ->> 'country'), '')",
    "last_activity_at": "last_activity_at",
    "email": "email",
    "phone_number": "phone_number",
}
SEARCH_TEXT = (
    "lower(coalesce(name, '') || ' ' || coalesce(email, '') || ' ' || "
    "coalesce(phone_number, '') || ' ' || coalesce(identifier, '') || ' ' || "
    "coalesce(additional_attributes ->> 'company_name', ''))"
)

PG_STATEMENTS = [
    f"""CREATE FUNCTION contactdesk_count_contacts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO contact_counters AS c (account_id, shard, contacts_count, version)
    VALUES (NEW.account_id, NEW.id % {SHARDS}, 1, 1)
    ON CONFLICT (account_id, shard)
    DO UPDATE SET contacts_count = c.contacts_count + 1, version = c.version + 1;
  ELSIF TG_OP = 'DELETE' THEN
    UPDATE contact_counters
       SET contacts_count = contacts_count - 1, version = version + 1
     WHERE account_id = OLD.account_id AND shard = OLD.id % {SHARDS};
  ELSE
    UPDATE contact_counters SET version = version + 1
     WHERE account_id = NEW.account_id AND shard = NEW.id % {SHARDS};
  END IF;
  RETURN NULL;
END $$""",
    f"""CREATE FUNCTION contactdesk_count_labels() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- The shard's contact_counters row first, always: a label_counters row of shard s is then
  -- only ever locked by a transaction that already holds shard s, so none can deadlock.
  IF TG_OP = 'INSERT' THEN
    UPDATE contact_counters SET version = version + 1
     WHERE account_id = NEW.account_id AND shard = NEW.contact_id % {SHARDS};
    INSERT INTO label_counters AS c (label_id, shard, contacts_count)
    VALUES (NEW.label_id, NEW.contact_id % {SHARDS}, 1)
    ON CONFLICT (label_id, shard) DO UPDATE SET contacts_count = c.contacts_count + 1;
  ELSE
    UPDATE contact_counters SET version = version + 1
     WHERE account_id = OLD.account_id AND shard = OLD.contact_id % {SHARDS};
    UPDATE label_counters SET contacts_count = contacts_count - 1
     WHERE label_id = OLD.label_id AND shard = OLD.contact_id % {SHARDS};
  END IF;
  RETURN NULL;
END $$""",
    "CREATE TRIGGER contacts_counters AFTER INSERT OR UPDATE OR DELETE ON contacts "
    "FOR EACH ROW EXECUTE FUNCTION contactdesk_count_contacts()",
    "CREATE TRIGGER contact_labels_counters AFTER INSERT OR DELETE ON contact_labels "
    "FOR EACH ROW EXECUTE FUNCTION contactdesk_count_labels()",
]

SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER contacts_counters_insert AFTER INSERT ON contacts BEGIN
  INSERT INTO contact_counters (account_id, shard, contacts_count, version)
  VALUES (NEW.account_id, NEW.id % {SHARDS}, 1, 1)
  ON CONFLICT (account_id, shard)
  DO UPDATE SET contacts_count = contacts_count + 1, version = version + 1;
END""",
    f"""CREATE TRIGGER contacts_counters_delete AFTER DELETE ON contacts BEGIN
  UPDATE contact_counters SET contacts_count = contacts_count - 1, version = version + 1
   WHERE account_id = OLD.account_id AND shard = OLD.id % {SHARDS};
END""",
    f"""CREATE TRIGGER contacts_counters_update AFTER UPDATE ON contacts BEGIN
  UPDATE contact_counters SET version = version + 1
   WHERE account_id = NEW.account_id AND shard = NEW.id % {SHARDS};
END""",
    f"""CREATE TRIGGER contact_labels_counters_insert AFTER INSERT ON contact_labels BEGIN
  UPDATE contact_counters SET version = version + 1
   WHERE account_id = NEW.account_id AND shard = NEW.contact_id % {SHARDS};
  INSERT INTO label_counters (label_id, shard, contacts_count)
  VALUES (NEW.label_id, NEW.contact_id % {SHARDS}, 1)
  ON CONFLICT (label_id, shard) DO UPDATE SET contacts_count = contacts_count + 1;
END""",
    f"""CREATE TRIGGER contact_labels_counters_delete AFTER DELETE ON contact_labels BEGIN
  UPDATE contact_counters SET version = version + 1
   WHERE account_id = OLD.account_id AND shard = OLD.contact_id % {SHARDS};
  UPDATE label_counters SET contacts_count = contacts_count - 1
   WHERE label_id = OLD.label_id AND shard = OLD.contact_id % {SHARDS};
END""",
]


def upgrade() -> None:
    op.create_table(
        "contact_counters",
        sa.Column(
            "account_id",
            BigId,
            sa.ForeignKey("accounts.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("shard", sa.Integer, primary_key=True),
        sa.Column("contacts_count", sa.BigInteger, nullable=False),
        sa.Column("version", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "label_counters",
        sa.Column(
            "label_id", BigId, sa.ForeignKey("labels.id", ondelete="CASCADE"), primary_key=True
        ),
        sa.Column("shard", sa.Integer, primary_key=True),
        sa.Column("contacts_count", sa.BigInteger, nullable=False),
    )
    op.execute(
        "INSERT INTO contact_counters (account_id, shard, contacts_count, version) "
        f"SELECT account_id, id % {SHARDS}, count(*), count(*) FROM contacts "
        f"GROUP BY account_id, id % {SHARDS}"
    )
    op.execute(
        "INSERT INTO label_counters (label_id, shard, contacts_count) "
        f"SELECT label_id, contact_id % {SHARDS}, count(*) FROM contact_labels "
        f"GROUP BY label_id, contact_id % {SHARDS}"
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in PG_STATEMENTS:
            op.execute(statement)
        for key, expression in DESC_SORTS.items():
            op.execute(
                f"CREATE INDEX ix_contacts_sort_{key}_desc ON contacts "
                f"(account_id, ({expression}) DESC NULLS LAST, id DESC)"
            )
        for key in ("email", "phone_number"):
            op.execute(f"CREATE INDEX ix_contacts_sort_{key} ON contacts (account_id, {key}, id)")
        op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
        op.execute(
            "CREATE INDEX ix_contacts_search_trgm ON contacts "
            f"USING gin (({SEARCH_TEXT}) gin_trgm_ops)"
        )
    else:
        for statement in SQLITE_TRIGGERS:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_contacts_search_trgm")
        for key in ("email", "phone_number"):
            op.execute(f"DROP INDEX ix_contacts_sort_{key}")
        for key in DESC_SORTS:
            op.execute(f"DROP INDEX ix_contacts_sort_{key}_desc")
        op.execute("DROP TRIGGER contact_labels_counters ON contact_labels")
        op.execute("DROP TRIGGER contacts_counters ON contacts")
        op.execute("DROP FUNCTION contactdesk_count_labels()")
        op.execute("DROP FUNCTION contactdesk_count_contacts()")
    else:
        for name in (
            "contacts_counters_insert",
            "contacts_counters_delete",
            "contacts_counters_update",
            "contact_labels_counters_insert",
            "contact_labels_counters_delete",
        ):
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("label_counters")
    op.drop_table("contact_counters")
