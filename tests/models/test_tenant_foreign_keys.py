"""Tenancy in the database (migration 0004): a contact inbox or a contact label joins a
contact, an inbox or a label of its own account only, whatever writes the row; deleting a
parent still takes its children with it and the label counters stay exact.

The first tests use the test database, at head. The migration tests run Alembic on a scratch
database of the same kind (a SQLite file, or a throwaway database on the test PostgreSQL
server): rows and counters survive the upgrade and the downgrade, the downgrade restores the
0003 schema exactly, and an upgrade over a row that already joins another account refuses and
changes nothing. Alembic runs in a thread: it starts an event loop of its own.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from contactdesk.config import Settings
from contactdesk.db import Database, backend_of, create_engine
from contactdesk.migrations import runner
from contactdesk.models import (
    Contact,
    ContactInbox,
    ContactLabel,
    Inbox,
    Label,
    LabelCounter,
)
from contactdesk.models.tenancy import tenant_delete, tenant_select
from tests.support import Tenant, make_tenant

# ---------------------------------------------------------------- the test database, at head


@dataclass
class Parents:
    """A contact and a label of a tenant (whose inbox is tenant.inbox_id)."""

    tenant: Tenant
    contact: int
    label: int

    @property
    def account(self) -> int:
        return self.tenant.account_id

    @property
    def inbox(self) -> int:
        return self.tenant.inbox_id


async def add_contact(db: Database, account_id: int) -> int:
    async with db.writing() as session:
        contact_id: int | None = await session.scalar(
            sa.insert(Contact).values(account_id=account_id).returning(Contact.id)
        )
        await session.commit()
    assert contact_id is not None
    return contact_id


async def parents(db: Database, name: str) -> Parents:
    tenant = await make_tenant(db, name)
    contact_id = await add_contact(db, tenant.account_id)
    async with db.writing() as session:
        label_id: int | None = await session.scalar(
            sa.insert(Label)
            .values(account_id=tenant.account_id, name_lower="vip")
            .returning(Label.id)
        )
        await session.commit()
    assert label_id is not None
    return Parents(tenant, contact_id, label_id)


def contact_inbox(account_id: int, contact_id: int, inbox_id: int) -> sa.Insert:
    return sa.insert(ContactInbox).values(
        account_id=account_id,
        contact_id=contact_id,
        inbox_id=inbox_id,
        source_id=uuid.uuid4().hex,
    )


def contact_label(account_id: int, contact_id: int, label_id: int) -> sa.Insert:
    return sa.insert(ContactLabel).values(
        account_id=account_id, contact_id=contact_id, label_id=label_id, name="VIP"
    )


async def write(db: Database, *statements: sa.Executable) -> None:
    async with db.writing() as session:
        for statement in statements:
            await session.execute(statement)
        await session.commit()


async def refused(db: Database, statement: sa.Executable, constraint: str) -> None:
    """The statement is refused by a foreign key (on PostgreSQL, this one), nothing lands."""
    async with db.writing() as session:
        with pytest.raises(IntegrityError) as error:
            await session.execute(statement)
        await session.rollback()
        backend = backend_of(session)
    message = str(error.value.orig).lower()
    assert "foreign key" in message, message
    if backend == "postgresql":
        assert constraint in message, message


async def count(db: Database, statement: sa.Select[Any]) -> int:
    async with db.reader() as session:
        value = await session.scalar(statement)
    return int(value or 0)


async def contact_inboxes(db: Database, account_id: int) -> int:
    return await count(db, tenant_select(account_id, sa.func.count(ContactInbox.id)))


async def contact_labels(db: Database, account_id: int) -> int:
    return await count(db, tenant_select(account_id, sa.func.count(ContactLabel.contact_id)))


async def label_count(db: Database, label_id: int) -> int:
    """The label's count as the counters keep it (what a one-label list answers)."""
    async with db.reader() as session:
        value = await session.scalar(
            sa.select(sa.func.sum(LabelCounter.contacts_count)).where(
                LabelCounter.label_id == label_id
            )
        )
    return int(value or 0)


async def test_a_contact_inbox_joins_a_contact_and_an_inbox_of_its_own_account(
    db: Database,
) -> None:
    mine, theirs = await parents(db, "Acme"), await parents(db, "Globex")
    await write(db, contact_inbox(mine.account, mine.contact, mine.inbox))

    await refused(
        db, contact_inbox(mine.account, theirs.contact, mine.inbox), "fk_contact_inboxes_contact"
    )
    await refused(
        db, contact_inbox(mine.account, mine.contact, theirs.inbox), "fk_contact_inboxes_inbox"
    )
    # A row claiming the other account for my contact in my inbox: refused as well.
    await refused(db, contact_inbox(theirs.account, mine.contact, mine.inbox), "fk_contact_inboxes")
    assert await contact_inboxes(db, mine.account) == 1
    assert await contact_inboxes(db, theirs.account) == 0


async def test_a_contact_label_joins_a_contact_and_a_label_of_its_own_account(
    db: Database,
) -> None:
    mine, theirs = await parents(db, "Acme"), await parents(db, "Globex")
    await write(db, contact_label(mine.account, mine.contact, mine.label))

    await refused(
        db, contact_label(mine.account, theirs.contact, mine.label), "fk_contact_labels_contact"
    )
    await refused(
        db, contact_label(mine.account, mine.contact, theirs.label), "fk_contact_labels_label"
    )
    assert await contact_labels(db, mine.account) == 1
    assert await contact_labels(db, theirs.account) == 0
    assert await label_count(db, mine.label) == 1
    assert await label_count(db, theirs.label) == 0


async def test_deleting_a_parent_still_deletes_its_children_and_keeps_counts_exact(
    db: Database,
) -> None:
    acme = await parents(db, "Acme")
    other_contact = await add_contact(db, acme.account)
    other_inbox = await acme.tenant.add_inbox("Mail", "Channel::Email")
    await write(
        db,
        contact_inbox(acme.account, acme.contact, acme.inbox),
        contact_inbox(acme.account, other_contact, acme.inbox),
        contact_inbox(acme.account, other_contact, other_inbox),
        contact_label(acme.account, acme.contact, acme.label),
        contact_label(acme.account, other_contact, acme.label),
    )
    assert await label_count(db, acme.label) == 2

    await write(db, tenant_delete(Contact, acme.account).where(Contact.id == acme.contact))
    assert await contact_inboxes(db, acme.account) == 2
    assert await contact_labels(db, acme.account) == 1
    assert await label_count(db, acme.label) == 1

    await write(db, tenant_delete(Inbox, acme.account).where(Inbox.id == other_inbox))
    assert await contact_inboxes(db, acme.account) == 1

    await write(db, tenant_delete(Label, acme.account).where(Label.id == acme.label))
    assert await contact_labels(db, acme.account) == 0
    assert await label_count(db, acme.label) == 0


# ---------------------------------------------------------------- the migration, both ways

CHILD_TABLES = ("contact_inboxes", "contact_labels")
SQLITE_SCHEMA = [
    "SELECT type, tbl_name, name, sql FROM sqlite_master ORDER BY type, name",
    "SELECT 'statistics', tbl, idx, stat FROM sqlite_stat1 ORDER BY tbl, idx",
]
POSTGRESQL_SCHEMA = [
    "SELECT 'constraint', conrelid::regclass::text, conname, "
    "pg_get_constraintdef(oid) || CASE WHEN convalidated THEN '' ELSE ' NOT VALID' END "
    "FROM pg_constraint WHERE connamespace = 'public'::regnamespace ORDER BY 2, 3",
    "SELECT 'index', tablename, indexname, indexdef FROM pg_indexes "
    "WHERE schemaname = 'public' ORDER BY 2, 3",
    "SELECT 'trigger', tgrelid::regclass::text, tgname, pg_get_triggerdef(oid) "
    "FROM pg_trigger WHERE NOT tgisinternal ORDER BY 2, 3",
]
DATA = [
    "SELECT 'contact', id, account_id, name FROM contacts ORDER BY id",
    "SELECT 'contact_inbox', id, account_id, contact_id, inbox_id, source_id "
    "FROM contact_inboxes ORDER BY id",
    "SELECT 'contact_label', contact_id, label_id, account_id, name "
    "FROM contact_labels ORDER BY contact_id, label_id",
    "SELECT 'label_count', label_id, sum(contacts_count) FROM label_counters "
    "GROUP BY label_id ORDER BY label_id",
]


@pytest.fixture
async def scratch_url(database_url: str, tmp_path: Path) -> AsyncIterator[str]:
    """An empty database of the test database's kind, dropped afterwards."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        yield f"sqlite:///{tmp_path / 'scratch.db'}"
        return
    server = url.set(drivername="postgresql")
    name = f"cd_scratch_0004_{uuid.uuid4().hex[:12]}"
    connection = await asyncpg.connect(server.render_as_string(hide_password=False))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


Row = tuple[Any, ...]


class Scratch:
    """The scratch database, through the app's engine (foreign keys on, as the app runs)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.backend = make_url(url).get_backend_name()
        self._engine: AsyncEngine | None = None

    async def run(self, sql: str, **params: Any) -> list[Row]:
        """One statement in a transaction of its own; its rows, if it returns any."""
        if self._engine is None:
            self._engine = create_engine(Settings(database_url=self.url))
        async with self._engine.begin() as connection:
            result = await connection.execute(sa.text(sql), params)
            return [tuple(row) for row in result.all()] if result.returns_rows else []

    async def one(self, sql: str, **params: Any) -> Any:
        (row,) = await self.run(sql, **params)
        return row[0]

    async def migrate(self, step: Callable[[Config, str], None], revision: str) -> None:
        """Upgrade or downgrade, with no connection of ours open."""
        await self.close()
        await asyncio.to_thread(step, runner.alembic_config(self.url), revision)

    async def close(self) -> None:
        if self._engine is not None:
            await self._engine.dispose()
            self._engine = None

    async def schema(self) -> list[Row]:
        queries = SQLITE_SCHEMA if self.backend == "sqlite" else POSTGRESQL_SCHEMA
        return [row for query in queries for row in await self.run(query)]

    async def analyze(self) -> None:
        """Gather planner statistics, as the bench loader does (SQLite: sqlite_stat1, which
        the schema snapshot includes, so the rebuilt tables must keep theirs)."""
        await self.run("ANALYZE")

    async def data(self) -> list[Row]:
        return [row for query in DATA for row in await self.run(query)]

    async def revision(self) -> str | None:
        await self.close()
        return await runner.current_revision(self.url)


@dataclass
class Account:
    """One account's rows, written at 0003."""

    id: int
    inbox: int
    label: int
    contacts: list[int]


async def seed_account(scratch: Scratch, name: str, contacts: int, labelled: int) -> Account:
    """Plain SQL, as an 0003 database holds them: the contacts, each in the inbox, the first
    `labelled` of them with the label (the 0002 triggers count them)."""
    account = await scratch.one(
        "INSERT INTO accounts (name, created_at) VALUES (:name, 0) RETURNING id", name=name
    )
    inbox = await scratch.one(
        "INSERT INTO inboxes (account_id, name, channel_type, avatar_url, created_at) "
        "VALUES (:a, 'API', 'Channel::Api', '', 0) RETURNING id",
        a=account,
    )
    label = await scratch.one(
        "INSERT INTO labels (account_id, name_lower, created_at) "
        "VALUES (:a, 'vip', 0) RETURNING id",
        a=account,
    )
    seeded = Account(account, inbox, label, [])
    for number in range(contacts):
        contact = await scratch.one(
            "INSERT INTO contacts (account_id, name, first_name, last_name, blocked, "
            "thumbnail, availability_status, additional_attributes, custom_attributes, "
            "created_at, updated_at) VALUES (:a, :name, '', '', false, '', 'offline', "
            "'{}', '{}', 0, 0) RETURNING id",
            a=account,
            name=f"{name} {number}",
        )
        seeded.contacts.append(contact)
        await insert_contact_inbox(scratch, account, contact, inbox)
        if number < labelled:
            await insert_contact_label(scratch, account, contact, label)
    return seeded


async def seed(scratch: Scratch) -> tuple[Account, Account]:
    return (
        await seed_account(scratch, "A", contacts=3, labelled=2),
        await seed_account(scratch, "B", contacts=1, labelled=1),
    )


async def insert_contact_inbox(scratch: Scratch, account: int, contact: int, inbox: int) -> int:
    contact_inbox_id: int = await scratch.one(
        "INSERT INTO contact_inboxes (account_id, contact_id, inbox_id, source_id, "
        "hmac_verified, created_at) VALUES (:a, :c, :i, :s, false, 0) RETURNING id",
        a=account,
        c=contact,
        i=inbox,
        s=uuid.uuid4().hex,
    )
    return contact_inbox_id


async def insert_contact_label(scratch: Scratch, account: int, contact: int, label: int) -> None:
    await scratch.run(
        "INSERT INTO contact_labels (contact_id, label_id, account_id, name) "
        "VALUES (:c, :l, :a, 'VIP')",
        a=account,
        c=contact,
        l=label,
    )


async def scratch_label_count(scratch: Scratch, label: int) -> int:
    value = await scratch.one(
        "SELECT coalesce(sum(contacts_count), 0) FROM label_counters WHERE label_id = :l", l=label
    )
    return int(value)


def dependents(schema: Sequence[Row]) -> set[tuple[str, str, str]]:
    """The indexes and triggers of the rebuilt tables, by name."""
    return {
        (kind, table, name)
        for kind, table, name, _ in schema
        if table in CHILD_TABLES and kind in ("index", "trigger")
    }


async def test_the_migration_keeps_rows_and_counters_both_ways_and_reverts_exactly(
    scratch_url: str,
) -> None:
    scratch = Scratch(scratch_url)
    try:
        await scratch.migrate(command.upgrade, "0003")
        a, b = await seed(scratch)
        await scratch.analyze()
        schema_0003, data_0003 = await scratch.schema(), await scratch.data()
        assert await scratch_label_count(scratch, a.label) == 2

        # 0004 is the subject here (later migrations change contact_labels' index).
        await scratch.migrate(command.upgrade, "0004")
        assert await scratch.revision() == "0004"
        assert await scratch.data() == data_0003
        assert dependents(await scratch.schema()) == dependents(schema_0003)
        with pytest.raises(IntegrityError):
            await insert_contact_inbox(scratch, a.id, b.contacts[0], a.inbox)
        with pytest.raises(IntegrityError):
            await insert_contact_label(scratch, a.id, a.contacts[2], b.label)
        # The counter triggers were recreated: a label added and taken off counts.
        third = a.contacts[2]
        await insert_contact_label(scratch, a.id, third, a.label)
        assert await scratch_label_count(scratch, a.label) == 3
        await scratch.run(
            "DELETE FROM contact_labels WHERE contact_id = :c AND label_id = :l",
            c=third,
            l=a.label,
        )
        assert await scratch_label_count(scratch, a.label) == 2
        assert await scratch.data() == data_0003

        await scratch.migrate(command.downgrade, "0003")
        assert await scratch.revision() == "0003"
        assert await scratch.schema() == schema_0003
        assert await scratch.data() == data_0003
        # The 0003 schema, as it was: a row across accounts is not refused.
        across = await insert_contact_inbox(scratch, a.id, b.contacts[0], a.inbox)
        await scratch.run("DELETE FROM contact_inboxes WHERE id = :i", i=across)

        await scratch.migrate(command.upgrade, "head")
        assert await scratch.revision() == runner.head_revision()
        assert await scratch.data() == data_0003
    finally:
        await scratch.close()


async def test_an_upgrade_over_a_row_joining_another_account_changes_nothing(
    scratch_url: str,
) -> None:
    scratch = Scratch(scratch_url)
    try:
        await scratch.migrate(command.upgrade, "0003")
        a, b = await seed(scratch)
        # Written before 0004 (a bug, a hand edit): one of A's contacts carries B's label.
        # contact_labels is rebuilt (SQLite) or validated (PostgreSQL) after contact_inboxes,
        # so the work already done on contact_inboxes must be taken back too.
        await insert_contact_label(scratch, a.id, a.contacts[2], b.label)
        await scratch.analyze()
        schema, data = await scratch.schema(), await scratch.data()

        with pytest.raises((RuntimeError, IntegrityError), match="contact_labels"):
            await scratch.migrate(command.upgrade, "head")
        assert await scratch.revision() == "0003"
        assert await scratch.schema() == schema
        assert await scratch.data() == data

        await scratch.run(
            "DELETE FROM contact_labels WHERE account_id = :a AND label_id = :l",
            a=a.id,
            l=b.label,
        )
        await scratch.migrate(command.upgrade, "head")
        assert await scratch.revision() == runner.head_revision()
        assert await scratch_label_count(scratch, b.label) == 1
    finally:
        await scratch.close()
