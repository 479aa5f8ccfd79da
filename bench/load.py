"""Bulk-load the benchmark data: COPY on PostgreSQL, executemany on SQLite."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from bench import data
from contactdesk.actions.provisioning import create_account, create_account_inbox, create_api_key
from contactdesk.config import Settings
from contactdesk.contacts.counters import SHARDS
from contactdesk.db import Database, register_sqlite_functions
from contactdesk.migrations import runner
from contactdesk.models import Contact

BENCH_ACCOUNT = "bench-main"
OTHER_ACCOUNTS = 1000
CONTACT_COLUMNS = [
    "id",
    "account_id",
    "name",
    "first_name",
    "last_name",
    "email",
    "phone_number",
    "identifier",
    "blocked",
    "thumbnail",
    "availability_status",
    "additional_attributes",
    "custom_attributes",
    "last_activity_at",
    "created_at",
    "updated_at",
]

# The emails of the contacts the create scenario makes (bench/__main__.py).
CREATED_EMAILS = "bench-%@load.test"


@dataclass
class BenchData:
    account_id: int
    inbox_id: int
    api_key: str
    api_secret: str
    min_id: int
    max_id: int
    load_seconds: float
    sample_emails: list[str]


def _contact_record(row: data.ContactRow) -> tuple[Any, ...]:
    return (
        row.id,
        row.account_id,
        row.name,
        row.first_name,
        row.last_name,
        row.email,
        row.phone_number,
        row.identifier,
        False,
        "",
        "offline",
        orjson.dumps(row.additional_attributes).decode(),
        orjson.dumps(row.custom_attributes).decode(),
        row.last_activity_at,
        row.created_at,
        row.created_at,
    )


async def _provision(url: str) -> tuple[int, int, str, str, list[int]]:
    """The main account (with inbox and key) and the other accounts, through the service."""
    db = Database(Settings(database_url=url))
    try:
        async with db.writer() as session:
            from contactdesk.models import Account, Inbox

            existing = (
                await session.execute(sa.select(Account.id).where(Account.name == BENCH_ACCOUNT))
            ).scalar_one_or_none()
            if existing is None:
                account = await create_account(session, BENCH_ACCOUNT)
                inbox = await create_account_inbox(session, account.id, "bench", "Channel::Api")
                account_id, inbox_id = account.id, inbox.id
            else:
                account_id = existing
                inbox_id = (
                    await session.execute(
                        sa.select(Inbox.id).where(Inbox.account_id == existing).limit(1)
                    )
                ).scalar_one()
            key = await create_api_key(
                session, account_id, ["contacts:read", "contacts:write", "contacts:delete", "admin"]
            )
            others: list[int] = []
            if existing is None:
                for n in range(OTHER_ACCOUNTS):
                    others.append((await create_account(session, f"bench-other-{n}")).id)
            await session.commit()
            return account_id, inbox_id, key.key.key, key.secret, others
    finally:
        await db.dispose()


async def _count_contacts(url: str, account_id: int) -> tuple[int, int, int]:
    db = Database(Settings(database_url=url))
    try:
        async with db.reader() as session:
            from contactdesk.models import Contact

            row = (
                await session.execute(
                    sa.select(
                        sa.func.count(), sa.func.min(Contact.id), sa.func.max(Contact.id)
                    ).where(Contact.account_id == account_id)
                )
            ).one()
            return int(row[0]), int(row[1] or 0), int(row[2] or 0)
    finally:
        await db.dispose()


def _label_rows(
    rows: list[data.ContactRow], label_ids: dict[tuple[int, str], int]
) -> list[tuple[int, int, int, str]]:
    out = []
    for row in rows:
        for name in row.labels:
            out.append((row.id, label_ids[(row.account_id, name)], row.account_id, name))
    return out


async def _load_postgres(
    url: str, account_id: int, inbox_id: int, others: list[int], n: int
) -> None:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("SET maintenance_work_mem = '512MB'")
        indexes = await conn.fetch(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'contacts' "
            "AND indexname NOT IN (SELECT conname FROM pg_constraint)"
        )
        for index in indexes:
            await conn.execute(f'DROP INDEX "{index["indexname"]}"')
        # Bulk path: no per-row triggers (the counters are rebuilt below in one pass).
        await conn.execute("SET session_replication_role = replica")
        next_id = int(await conn.fetchval("SELECT coalesce(max(id), 0) + 1 FROM contacts"))
        now = data.NOW
        label_ids: dict[tuple[int, str], int] = {}
        for acc in [account_id, *others]:
            for name in data.LABELS:
                label_ids[(acc, name)] = await conn.fetchval(
                    "INSERT INTO labels (account_id, name_lower, created_at) VALUES ($1, $2, $3) "
                    "ON CONFLICT (account_id, name_lower) DO UPDATE SET created_at = $3 "
                    "RETURNING id",
                    acc,
                    name,
                    now,
                )
        batch = 100_000
        for accounts, first, seed in (([account_id], next_id, 1), (others, next_id + n, 2)):
            generated = data.contacts(first, n, accounts, seed)
            while True:
                rows = [row for _, row in zip(range(batch), generated, strict=False)]
                if not rows:
                    break
                await conn.copy_records_to_table(
                    "contacts", records=[_contact_record(r) for r in rows], columns=CONTACT_COLUMNS
                )
                await conn.copy_records_to_table(
                    "contact_labels",
                    records=_label_rows(rows, label_ids),
                    columns=["contact_id", "label_id", "account_id", "name"],
                )
                if accounts == [account_id]:
                    await conn.copy_records_to_table(
                        "contact_inboxes",
                        records=[
                            (r.id, account_id, r.id, inbox_id, f"src-{r.id}", False, r.created_at)
                            for r in rows
                        ],
                        columns=[
                            "id",
                            "account_id",
                            "contact_id",
                            "inbox_id",
                            "source_id",
                            "hmac_verified",
                            "created_at",
                        ],
                    )
        await conn.execute("SET session_replication_role = DEFAULT")
        await _rebuild_counters(conn)
        await _create_indexes(dsn, [index["indexdef"] for index in indexes])
        for table in ("contacts", "contact_inboxes"):
            await conn.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        await conn.execute("VACUUM (ANALYZE) contacts, contact_labels, contact_inboxes")
        await conn.execute("CHECKPOINT")  # the load is on disk, not flushed during the run
    finally:
        await conn.close()


async def _rebuild_counters(conn: asyncpg.Connection) -> None:
    """What the triggers of migration 0002 would have counted, in one pass."""
    await conn.execute("DELETE FROM contact_counters")
    await conn.execute(
        "INSERT INTO contact_counters (account_id, shard, contacts_count, version) "
        f"SELECT account_id, id % {SHARDS}, count(*), count(*) FROM contacts "
        f"GROUP BY account_id, id % {SHARDS}"
    )
    await conn.execute("DELETE FROM label_counters")
    await conn.execute(
        "INSERT INTO label_counters (label_id, shard, contacts_count) "
        f"SELECT label_id, contact_id % {SHARDS}, count(*) FROM contact_labels "
        f"GROUP BY label_id, contact_id % {SHARDS}"
    )


async def _create_indexes(dsn: str, definitions: list[str]) -> None:
    """Rebuild the dropped indexes on two connections at once (two cores), largest first."""
    queue = sorted(definitions, key=lambda d: "gin" not in d)

    async def worker() -> None:
        conn = await asyncpg.connect(dsn)
        try:
            await conn.execute("SET maintenance_work_mem = '1GB'")
            while queue:
                await conn.execute(queue.pop(0))
        finally:
            await conn.close()

    await asyncio.gather(worker(), worker())


def _load_sqlite(url: str, account_id: int, inbox_id: int, others: list[int], n: int) -> None:
    path = make_url(url).database or ""
    conn = sqlite3.connect(path)
    register_sqlite_functions(conn)
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")
        next_id = conn.execute("SELECT coalesce(max(id), 0) + 1 FROM contacts").fetchone()[0]
        label_ids: dict[tuple[int, str], int] = {}
        for acc in [account_id, *others]:
            for name in data.LABELS:
                conn.execute(
                    "INSERT OR IGNORE INTO labels (account_id, name_lower, created_at) "
                    "VALUES (?, ?, ?)",
                    (acc, name, data.NOW),
                )
                label_ids[(acc, name)] = conn.execute(
                    "SELECT id FROM labels WHERE account_id = ? AND name_lower = ?", (acc, name)
                ).fetchone()[0]
        placeholders = ", ".join("?" for _ in CONTACT_COLUMNS)
        for accounts, first, seed in (([account_id], next_id, 1), (others, next_id + n, 2)):
            rows = list(data.contacts(first, n, accounts, seed))
            conn.executemany(
                f"INSERT INTO contacts ({', '.join(CONTACT_COLUMNS)}) VALUES ({placeholders})",
                [_contact_record(r) for r in rows],
            )
            conn.executemany(
                "INSERT INTO contact_labels (contact_id, label_id, account_id, name) "
                "VALUES (?, ?, ?, ?)",
                _label_rows(rows, label_ids),
            )
            if accounts == [account_id]:
                conn.executemany(
                    "INSERT INTO contact_inboxes (account_id, contact_id, inbox_id, source_id, "
                    "hmac_verified, created_at) VALUES (?, ?, ?, ?, 0, ?)",
                    [(account_id, r.id, inbox_id, f"src-{r.id}", r.created_at) for r in rows],
                )
            conn.commit()
        conn.execute("ANALYZE")
        conn.commit()
    finally:
        conn.close()


def load(url: str, n: int) -> BenchData:
    """Migrate, provision, and load n + n contacts unless the bench account already has them."""
    runner.upgrade(url)
    started = time.perf_counter()
    account_id, inbox_id, key, secret, others = asyncio.run(_provision(url))
    count, _, _ = asyncio.run(_count_contacts(url, account_id))
    if count == 0:
        if not others:
            raise SystemExit("the bench account exists but is empty: use a fresh database")
        if make_url(url).get_backend_name() == "sqlite":
            _load_sqlite(url, account_id, inbox_id, others, n)
        else:
            asyncio.run(_load_postgres(url, account_id, inbox_id, others, n))
        load_seconds = time.perf_counter() - started
    else:
        print(f"reusing {count} contacts already loaded in account {account_id}")
        load_seconds = 0.0
        if make_url(url).get_backend_name() != "sqlite":
            asyncio.run(_vacuum_postgres(url))
    _, lo, hi = asyncio.run(_count_contacts(url, account_id))
    emails = asyncio.run(_sample_emails(url, account_id))
    return BenchData(account_id, inbox_id, key, secret, lo, hi, load_seconds, emails)


async def _vacuum_postgres(url: str) -> None:
    """Clear what earlier runs left (dead rows of the contacts their create scenario made,
    pages their update scenario dirtied): a list walks index-only only over all-visible
    pages. Measured: list_deep made 653 req/s on a fresh load and 433 in the next run over
    the same data; after a VACUUM, 664. No ANALYZE: new statistics can flip the planner's
    choice for a search (q=smith: 3 ms or 140 ms a request on the same data), which is not
    what a run compares."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            "VACUUM contacts, contact_labels, contact_inboxes, contact_counters, label_counters"
        )
        await conn.execute("CHECKPOINT")
    finally:
        await conn.close()


async def _sample_emails(url: str, account_id: int, wanted: int = 1000) -> list[str]:
    """Emails of loaded contacts spread over the account, for the filter scenario."""
    db = Database(Settings(database_url=url))
    try:
        async with db.reader() as session:
            total, _, _ = await _count_contacts(url, account_id)
            step = max(1, total // wanted)
            rows = await session.execute(
                sa.select(Contact.email)
                .where(
                    Contact.account_id == account_id,
                    Contact.email.is_not(None),
                    Contact.id % step == 0,
                    sa.not_(Contact.email.like(CREATED_EMAILS)),
                )
                .limit(wanted)
            )
            return [email for email in rows.scalars() if email and '"' not in email]
    finally:
        await db.dispose()


async def _remove_created(url: str, account_id: int) -> int:
    db = Database(Settings(database_url=url))
    try:
        async with db.writer() as session:
            result = await session.execute(
                sa.delete(Contact)
                .where(Contact.account_id == account_id, Contact.email.like(CREATED_EMAILS))
                .returning(Contact.id)
            )
            removed = len(result.all())
            await session.commit()
            return removed
    finally:
        await db.dispose()


def remove_created(url: str, account_id: int) -> int:
    """Delete the contacts the create scenario made, so that the next run on this database
    measures the loaded data (new contacts sort first and match no search term)."""
    return asyncio.run(_remove_created(url, account_id))
