"""Database limits and recovery (issue 13, item 6): a statement past the statement timeout
answers 503 with a JSON error (PostgreSQL's statement_timeout, SQLite's progress handler),
and reads on connections the database dropped answer 200 (the pools are renewed and the read
runs again), on apps of their own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager

from contactdesk.app import create_app
from contactdesk.config import Settings
from contactdesk.db import Database
from tests.support import Tenant, basic

V2 = "/api/v2/accounts/contacts"
ROWS = 60_000


@asynccontextmanager
async def served(database_url: str, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        Settings(
            database_url=database_url,
            dispatcher=False,
            importer=False,
            rate_limit="0",
            auth_failure_rate_limit="0",
            **settings,
        )
    )
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        client.app = app  # type: ignore[attr-defined]
        yield client


async def add_contacts(db: Database, account_id: int, count: int) -> None:
    """Many plain contacts at once, in SQL (the API would take minutes)."""
    columns = (
        "account_id, name, first_name, last_name, blocked, thumbnail, availability_status, "
        "additional_attributes, custom_attributes, created_at, updated_at"
    )
    values = (
        ":a, 'Bulk Person ' || n, '', '', false, '', 'offline', '{}', '{}', 1700000000, 1700000000"
    )
    async with db.writer() as session:
        if session.get_bind().dialect.name == "postgresql":
            series = "generate_series(1, :n) AS n"
        else:
            series = "(WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < :n) SELECT n FROM s)"  # noqa: E501
        await session.execute(
            sa.text(f"INSERT INTO contacts ({columns}) SELECT {values} FROM {series}"),
            {"a": account_id, "n": count},
        )
        await session.commit()


async def test_statement_timeout_answers_503(
    database_url: str, db: Database, tenant: Tenant
) -> None:
    await add_contacts(db, tenant.account_id, ROWS)
    headers = basic(tenant.key, tenant.secret)
    # A search of a short term reads every contact of the account: well over 5 ms.
    params = {"q": "zq"}
    async with served(database_url, statement_timeout_ms=5) as client:
        slow = await client.get(f"{V2}/search", params=params, headers=headers)
        assert slow.status_code == 503, slow.text
        assert slow.headers["content-type"].startswith("application/json")
        assert slow.json() == {
            "error": "The database took longer than the statement timeout (5 ms)"
        }
        # A quick request on the same process still works.
        health = await client.get("/readyz")
        assert health.status_code == 200
    async with served(database_url) as client:  # the default, 5 s
        normal = await client.get(f"{V2}/search", params=params, headers=headers)
        assert normal.status_code == 200, normal.text
        assert normal.json()["meta"]["count"] == 0


async def test_reads_survive_dropped_connections(
    database_url: str, db: Database, tenant: Tenant
) -> None:
    async with db.reader() as session:
        if session.get_bind().dialect.name != "postgresql":
            pytest.skip("PostgreSQL: SQLite has no server to drop connections")
    name = f"contactdesk-test-{uuid.uuid4().hex[:12]}"
    headers = basic(tenant.key, tenant.secret)
    async with served(database_url, db_application_name=name) as client:
        created = await client.post(
            V2, headers=headers, json={"inbox_id": tenant.inbox_id, "name": "Survivor"}
        )
        assert created.status_code == 200, created.text
        contact_id = created.json()["payload"]["contact"]["id"]
        reads = [V2, f"{V2}/{contact_id}", f"{V2}/search?q=Survivor", "/api/v2/accounts/inboxes"]
        for path in reads:  # every pool holds connections now
            assert (await client.get(path, headers=headers)).status_code == 200
        for _ in range(2):
            async with db.writer() as session:
                killed = (
                    await session.execute(
                        sa.text(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE application_name = :name"
                        ),
                        {"name": name},
                    )
                ).scalar_one()
                await session.commit()
            assert killed >= 1
            for path in reads:
                response = await client.get(path, headers=headers)
                assert response.status_code == 200, (path, response.text)
        # Writes work again too.
        again = await client.post(
            V2, headers=headers, json={"inbox_id": tenant.inbox_id, "name": "Survivor Two"}
        )
        assert again.status_code == 200, again.text
