"""Fixtures: one migrated database per run (SQLite by default, PostgreSQL when
CONTACTDESK_TEST_DATABASE_URL names one), the real app over ASGI, and a fresh account per test.

Every test works in accounts of its own, so tests never see each other's rows and nothing has
to be rolled back; that isolation is itself what the service promises its tenants.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI

from contactdesk.app import create_app
from contactdesk.config import Settings
from contactdesk.db import Database
from contactdesk.migrations import runner
from tests.support import DIALECTS, Api, Tenant, admin_api, make_tenant

TEST_URL_ENV = "CONTACTDESK_TEST_DATABASE_URL"


def pytest_report_header() -> str:
    return f"contactdesk test database: {os.environ.get(TEST_URL_ENV) or 'SQLite (temporary file)'}"


@pytest.fixture(scope="session")
def database_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = os.environ.get(TEST_URL_ENV)
    if not url:
        path: Path = tmp_path_factory.mktemp("db") / "contactdesk-test.db"
        url = f"sqlite:///{path}"
    try:
        runner.upgrade(url)
    except Exception as exc:  # an unreachable database is a failure, never a skip
        pytest.exit(f"cannot migrate the test database {url}: {exc}", returncode=3)
    return url


@pytest.fixture(scope="session")
def settings(database_url: str) -> Settings:
    # No dispatcher in the shared app: the webhook tests run their own (tests/webhooks).
    # Nor rate limits: the suite sends many requests with one key, and many refused ones from
    # one address; tests/app/test_rate_limits.py runs apps of its own with them.
    return Settings(
        database_url=database_url, dispatcher=False, rate_limit="0", auth_failure_rate_limit="0"
    )


@pytest.fixture(scope="session")
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture(scope="session")
def db(app: FastAPI) -> Database:
    database: Database = app.state.db
    return database


@pytest.fixture(scope="session")
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
async def tenant(db: Database) -> Tenant:
    return await make_tenant(db, "Acme")


@pytest.fixture
async def other_tenant(db: Database) -> Tenant:
    return await make_tenant(db, "Globex")


@pytest.fixture(params=DIALECTS)
def dialect(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def api(client: httpx.AsyncClient, dialect: str, tenant: Tenant) -> Api:
    """The tenant's administrator in the dialect under test."""
    return admin_api(client, dialect, tenant)


@pytest.fixture
def other_api(client: httpx.AsyncClient, dialect: str, other_tenant: Tenant) -> Api:
    """The administrator of another account, same dialect."""
    return admin_api(client, dialect, other_tenant)
