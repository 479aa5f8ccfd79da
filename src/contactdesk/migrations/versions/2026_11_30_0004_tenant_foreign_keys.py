"""tenant foreign keys: a child row joins parents of its own account only

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30

The single-column foreign keys of the two tables that join tenant rows become composite keys
that carry the account, so no row can ever join a row of another account:

- contact_inboxes (account_id, contact_id) -> contacts (account_id, id)   fk_contact_inboxes_contact
- contact_inboxes (account_id, inbox_id)   -> inboxes (account_id, id)    fk_contact_inboxes_inbox
- contact_labels (account_id, contact_id)  -> contacts (account_id, id)   fk_contact_labels_contact
- contact_labels (account_id, label_id)    -> labels (account_id, id)     fk_contact_labels_label

all ON DELETE CASCADE as before. They replace fk_contact_inboxes_contact_id_contacts,
fk_contact_inboxes_inbox_id_inboxes, fk_contact_labels_contact_id_contacts and
fk_contact_labels_label_id_labels; the account_id -> accounts.id keys stay. The parents get
the unique key the new keys reference: uq_contacts_account_id_id and uq_labels_account_id_id
(inboxes has had uq_inboxes_account_id_id since 0001).

The other tables were checked: account_users and access_tokens reference users, which belong
to no account; api_keys, contact_counters and custom_attribute_definitions reference accounts
only. label_counters references labels.id but has no account_id: it is derived data, written
only by the contact_labels triggers, whose label is now always of the row's account. It keeps
its single-column key.

PostgreSQL (no table is rewritten):
1. In the migration's transaction: build the two unique indexes (writes to contacts and labels
   wait for the build, reads go on), attach them as UNIQUE constraints and add the new keys
   NOT VALID (a moment's lock each; new rows are checked from here on). The old keys stay.
2. Committed, then VALIDATE CONSTRAINT each new key, each in its own transaction: it scans the
   rows while holding only SHARE UPDATE EXCLUSIVE on the child and ROW SHARE on the parent, so
   reads and writes go on. If a row joins another account, validation fails: the new keys and
   unique constraints are dropped again and the error raised, the schema is left as it was at
   0003 (fix the rows, migrate again).
3. In a new transaction with the version stamp: drop the old keys (a moment's lock).
The downgrade runs the same three steps the other way. A run interrupted after its first
commit leaves the version as it was and the keys it added, which the next run drops first.

SQLite cannot alter constraints. contacts and labels get a UNIQUE INDEX on (account_id, id),
which SQLite accepts as a foreign key's parent key (they are not rebuilt: contacts has
expression indexes and triggers). contact_inboxes and contact_labels are rebuilt, all of it in
one transaction (a SAVEPOINT, committed with the version stamp): the indexes and triggers of
the table are read from sqlite_master, the table renamed aside, the new one created with the
same columns and constraints but the foreign keys, the rows copied (contact_labels keeps its
rowids), the old table dropped, then the indexes and triggers (the label counter triggers of
0002) created again from the text read, so they are exactly as they were. The triggers do not
exist while the rows are copied, so the counters do not move. No table references the two,
so dropping the old one cascades nowhere, foreign keys on or off (the migration connection
leaves them off: PRAGMA foreign_key_check then checks the copied rows, and a row joining
another account aborts the migration, nothing changed). The planner statistics of the rebuilt
tables (sqlite_stat1, from an ANALYZE) are kept as they were.
"""

from __future__ import annotations

from typing import NamedTuple

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


class ForeignKey(NamedTuple):
    table: str
    name: str
    columns: str
    parent: str
    parent_columns: str

    def sqlite(self) -> str:
        """The table constraint, as SQLAlchemy wrote it in 0001's CREATE TABLE."""
        return (
            f"CONSTRAINT {self.name} FOREIGN KEY({self.columns}) "
            f"REFERENCES {self.parent} ({self.parent_columns}) ON DELETE CASCADE"
        )

    def postgresql(self) -> str:
        return (
            f"ADD CONSTRAINT {self.name} FOREIGN KEY ({self.columns}) "
            f"REFERENCES {self.parent} ({self.parent_columns}) ON DELETE CASCADE NOT VALID"
        )


OLD_KEYS = (
    ForeignKey(
        "contact_inboxes", "fk_contact_inboxes_contact_id_contacts", "contact_id", "contacts", "id"
    ),
    ForeignKey(
        "contact_inboxes", "fk_contact_inboxes_inbox_id_inboxes", "inbox_id", "inboxes", "id"
    ),
    ForeignKey(
        "contact_labels", "fk_contact_labels_contact_id_contacts", "contact_id", "contacts", "id"
    ),
    ForeignKey("contact_labels", "fk_contact_labels_label_id_labels", "label_id", "labels", "id"),
)
NEW_KEYS = (
    ForeignKey(
        "contact_inboxes",
        "fk_contact_inboxes_contact",
        "account_id, contact_id",
        "contacts",
        "account_id, id",
    ),
    ForeignKey(
        "contact_inboxes",
        "fk_contact_inboxes_inbox",
        "account_id, inbox_id",
        "inboxes",
        "account_id, id",
    ),
    ForeignKey(
        "contact_labels",
        "fk_contact_labels_contact",
        "account_id, contact_id",
        "contacts",
        "account_id, id",
    ),
    ForeignKey(
        "contact_labels",
        "fk_contact_labels_label",
        "account_id, label_id",
        "labels",
        "account_id, id",
    ),
)
# The parents' unique keys on (account_id, id) that 0004 adds.
PARENT_KEYS = {"contacts": "uq_contacts_account_id_id", "labels": "uq_labels_account_id_id"}
CHILD_TABLES = ("contact_inboxes", "contact_labels")

# SQLite: the two child tables' CREATE TABLE lines, in 0001's order and spelling (so that the
# downgrade restores sqlite_master's text exactly), without the replaced foreign keys.
_ACCOUNT_KEYS = {
    table: ForeignKey(table, f"fk_{table}_account_id_accounts", "account_id", "accounts", "id")
    for table in CHILD_TABLES
}
_SQLITE_LINES = {
    "contact_inboxes": (
        "id INTEGER NOT NULL",
        "account_id INTEGER NOT NULL",
        "contact_id INTEGER NOT NULL",
        "inbox_id INTEGER NOT NULL",
        "source_id VARCHAR(255) NOT NULL",
        "hmac_verified BOOLEAN NOT NULL",
        "created_at BIGINT NOT NULL",
        "CONSTRAINT pk_contact_inboxes PRIMARY KEY (id)",
        "CONSTRAINT uq_contact_inboxes_inbox_id_source_id UNIQUE (inbox_id, source_id)",
    ),
    "contact_labels": (
        "contact_id INTEGER NOT NULL",
        "label_id INTEGER NOT NULL",
        "account_id INTEGER NOT NULL",
        "name VARCHAR(255) NOT NULL",
        "CONSTRAINT pk_contact_labels PRIMARY KEY (contact_id, label_id)",
    ),
}
# The foreign keys of each version, in the order of their CREATE TABLE (0001 declared
# contact_labels' columns contact_id, label_id, account_id, hence its keys in that order).
_SQLITE_KEYS_0003 = {
    "contact_inboxes": (_ACCOUNT_KEYS["contact_inboxes"], OLD_KEYS[0], OLD_KEYS[1]),
    "contact_labels": (OLD_KEYS[2], OLD_KEYS[3], _ACCOUNT_KEYS["contact_labels"]),
}
_SQLITE_KEYS_0004 = {
    "contact_inboxes": (_ACCOUNT_KEYS["contact_inboxes"], NEW_KEYS[0], NEW_KEYS[1]),
    "contact_labels": (_ACCOUNT_KEYS["contact_labels"], NEW_KEYS[2], NEW_KEYS[3]),
}
# The columns copied; contact_labels has no integer primary key, its rowid is copied too.
_SQLITE_COPY = {
    "contact_inboxes": "id, account_id, contact_id, inbox_id, source_id, hmac_verified, created_at",
    "contact_labels": "rowid, contact_id, label_id, account_id, name",
}


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _pg_upgrade()
    else:
        _sqlite_begin()
        for table, key in PARENT_KEYS.items():
            op.execute(f"CREATE UNIQUE INDEX {key} ON {table} (account_id, id)")
        for table in CHILD_TABLES:
            _sqlite_rebuild(table, _SQLITE_KEYS_0004[table])


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        _pg_downgrade()
    else:
        _sqlite_begin()
        for table in CHILD_TABLES:
            _sqlite_rebuild(table, _SQLITE_KEYS_0003[table])
        for key in PARENT_KEYS.values():
            op.execute(f"DROP INDEX {key}")


# PostgreSQL


def _pg_upgrade() -> None:
    _pg_clear(NEW_KEYS, parent_keys=True)
    # Both index builds first: the constraints' brief exclusive locks come after them.
    for table, key in PARENT_KEYS.items():
        op.execute(f"CREATE UNIQUE INDEX {key} ON {table} (account_id, id)")
    for table, key in PARENT_KEYS.items():
        op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {key} UNIQUE USING INDEX {key}")
    _pg_replace_keys(NEW_KEYS, OLD_KEYS, parent_keys=True)


def _pg_downgrade() -> None:
    _pg_clear(OLD_KEYS, parent_keys=False)
    _pg_replace_keys(OLD_KEYS, NEW_KEYS, parent_keys=False)
    for table, key in PARENT_KEYS.items():
        op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {key}")


def _pg_replace_keys(
    add: tuple[ForeignKey, ...], drop: tuple[ForeignKey, ...], *, parent_keys: bool
) -> None:
    """Add the keys NOT VALID, validate each in a transaction of its own, drop the others."""
    for table in CHILD_TABLES:
        clauses = ", ".join(key.postgresql() for key in add if key.table == table)
        op.execute(f"ALTER TABLE {table} {clauses}")
    with op.get_context().autocommit_block():
        try:
            for key in add:
                op.execute(f"ALTER TABLE {key.table} VALIDATE CONSTRAINT {key.name}")
        except sa.exc.DBAPIError:
            # A row breaks a new key. What came before was committed: take it back, so the
            # schema is the one this migration started from, then report the row.
            _pg_clear(add, parent_keys=parent_keys)
            raise
    for table in CHILD_TABLES:
        clauses = ", ".join(f"DROP CONSTRAINT {key.name}" for key in drop if key.table == table)
        op.execute(f"ALTER TABLE {table} {clauses}")


def _pg_clear(keys: tuple[ForeignKey, ...], *, parent_keys: bool) -> None:
    """Drop those of these keys (and of the parents' unique keys) that exist: what a failed
    validation takes back, or what a run interrupted after its first commit left. The catalog
    is read first, so nothing is locked when there is nothing to drop."""
    names = [key.name for key in keys] + (list(PARENT_KEYS.values()) if parent_keys else [])
    present = set(
        op.get_bind()
        .execute(
            sa.text(
                "SELECT conname FROM pg_constraint WHERE conrelid IN ("
                "'contacts'::regclass, 'labels'::regclass, "
                "'contact_inboxes'::regclass, 'contact_labels'::regclass"
                ") AND conname = ANY(:names)"
            ),
            {"names": names},
        )
        .scalars()
    )
    for key in keys:
        if key.name in present:
            op.execute(f"ALTER TABLE {key.table} DROP CONSTRAINT {key.name}")
    for table, key_name in PARENT_KEYS.items():
        if parent_keys and key_name in present:
            op.execute(f"ALTER TABLE {table} DROP CONSTRAINT {key_name}")


# SQLite


def _sqlite_begin() -> None:
    """Make the rest of the migration one transaction.

    The driver (sqlite3's default transaction control) begins a transaction before an INSERT,
    UPDATE or DELETE only, so the DDL before the first of them would be committed statement by
    statement: a failure half way would leave a table renamed aside. A SAVEPOINT outside a
    transaction begins one; Alembic's commit after the version stamp (or its rollback on an
    error) ends it.
    """
    op.execute("SAVEPOINT contactdesk_0004")


def _sqlite_rebuild(table: str, keys: tuple[ForeignKey, ...]) -> None:
    """Recreate a child table with these foreign keys, keeping its rows, indexes, triggers
    and planner statistics."""
    bind = op.get_bind()
    dependents = (
        bind.execute(
            sa.text(
                "SELECT sql FROM sqlite_master WHERE tbl_name = :table "
                "AND type IN ('index', 'trigger') AND sql IS NOT NULL ORDER BY type, name"
            ),
            {"table": table},
        )
        .scalars()
        .all()
    )
    # Planner statistics (ANALYZE): sqlite_stat1, and sqlite_stat4 where SQLite is built with it.
    stat_tables = (
        bind.execute(
            sa.text(
                "SELECT name FROM sqlite_master WHERE type = 'table' "
                "AND name IN ('sqlite_stat1', 'sqlite_stat4')"
            )
        )
        .scalars()
        .all()
    )
    stats = {
        stat: bind.exec_driver_sql(f"SELECT * FROM {stat} WHERE tbl = ?", (table,)).all()
        for stat in stat_tables
    }
    aside = f"_contactdesk_0004_{table}"
    op.execute(f"ALTER TABLE {table} RENAME TO {aside}")
    lines = (*_SQLITE_LINES[table], *(key.sqlite() for key in keys))
    op.execute(f"CREATE TABLE {table} (\n\t" + ", \n\t".join(lines) + "\n)")
    columns = _SQLITE_COPY[table]
    op.execute(f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {aside}")
    # Dropping the old table drops its indexes and triggers; no trigger fires.
    op.execute(f"DROP TABLE {aside}")
    for statement in dependents:
        bind.exec_driver_sql(statement)
    # A rename leaves the statistics' rows under the old name (SQLite 3.40) or moves them:
    # either way, the table ends with the rows it had, which describe the same rows and indexes.
    for stat, rows in stats.items():
        bind.exec_driver_sql(f"DELETE FROM {stat} WHERE tbl IN (?, ?)", (table, aside))
        for row in rows:
            bind.exec_driver_sql(
                f"INSERT INTO {stat} VALUES ({', '.join('?' * len(row))})", tuple(row)
            )
    broken = bind.exec_driver_sql(f"PRAGMA foreign_key_check({table})").all()
    if broken:
        rowids = ", ".join(str(row[1]) for row in broken[:10])
        raise RuntimeError(
            f"{table}: {len(broken)} row(s) join a row of another account or a missing row "
            f"(rowid {rowids}{', ...' if len(broken) > 10 else ''}); nothing was migrated. "
            "Correct or delete them, then migrate again."
        )
