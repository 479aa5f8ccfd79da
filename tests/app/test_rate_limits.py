"""Rate limits (issue 13, item 1): per credential, and per client IP for failed
authentication, in memory or shared through Redis (127.0.0.1:6379), with the headers on every
API response and a JSON 429 with Retry-After beyond the limit.

Each test runs apps of its own (the suite's shared app and servers run without limits). Two
apps on one database stand for two processes: with Redis they share one limit, without it
each keeps its own.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import ValidationError

from contactdesk.app import create_app
from contactdesk.config import Settings
from tests.support import Tenant, basic

REDIS = "redis://127.0.0.1:6379/0"
NO_REDIS = "redis://127.0.0.1:1/0"  # nothing listens there
V2 = "/api/v2/accounts/contacts"
HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")

Client = Callable[..., Any]


@asynccontextmanager
async def apps(
    database_url: str, count: int = 1, **limits: Any
) -> AsyncIterator[list[Callable[[str], httpx.AsyncClient]]]:
    """`count` apps (processes) with these limits; each gives clients from a client IP."""
    settings = Settings(database_url=database_url, dispatcher=False, importer=False, **limits)
    async with AsyncExitStack() as stack:
        made: list[Callable[[str], httpx.AsyncClient]] = []
        for _ in range(count):
            app = create_app(settings)
            await stack.enter_async_context(LifespanManager(app))

            def client(ip: str, app: Any = app) -> httpx.AsyncClient:
                transport = httpx.ASGITransport(app=app, client=(ip, 40000))
                return httpx.AsyncClient(transport=transport, base_url="http://testserver")

            made.append(client)
        yield made


def v1(tenant: Tenant) -> tuple[str, dict[str, str]]:
    return f"/api/v1/accounts/{tenant.account_id}/contacts", {
        "api_access_token": tenant.admin_token
    }


def v2(tenant: Tenant) -> tuple[str, dict[str, str]]:
    return V2, basic(tenant.key, tenant.secret)


def assert_limited(response: httpx.Response, limit: int) -> None:
    """A JSON 429 with Retry-After and the limit's headers."""
    assert response.status_code == 429, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert "Rate limit exceeded" in body["error"]
    retry = int(response.headers["retry-after"])
    assert 1 <= retry <= 60
    assert response.headers["x-ratelimit-limit"] == str(limit)
    assert response.headers["x-ratelimit-remaining"] == "0"
    assert int(response.headers["x-ratelimit-reset"]) >= int(time.time())


@pytest.mark.parametrize("dialect", [v1, v2])
async def test_credential_limit_headers_then_429(
    database_url: str, tenant: Tenant, other_tenant: Tenant, dialect: Any
) -> None:
    path, headers = dialect(tenant)
    other_path, other_headers = dialect(other_tenant)
    async with (
        apps(database_url, rate_limit="5/minute", auth_failure_rate_limit="0") as (make,),
        make("10.0.0.1") as client,
    ):
        remaining = []
        for _ in range(5):
            response = await client.get(path, headers=headers)
            assert response.status_code == 200, response.text
            assert response.headers["x-ratelimit-limit"] == "5"
            reset = int(response.headers["x-ratelimit-reset"])
            assert time.time() - 1 <= reset <= time.time() + 120
            remaining.append(int(response.headers["x-ratelimit-remaining"]))
        assert remaining == [4, 3, 2, 1, 0]
        assert_limited(await client.get(path, headers=headers), 5)
        # Writes are limited too, and refused ones write nothing.
        refused = await client.post(path, headers=headers, json={"name": "Over The Limit"})
        assert_limited(refused, 5)
        # Another credential has a limit of its own, even from the same address.
        other = await client.get(other_path, headers=other_headers)
        assert other.status_code == 200
        assert other.headers["x-ratelimit-remaining"] == "4"
    # Nothing was created by the refused request (checked without limits).
    async with (
        apps(database_url, rate_limit="0", auth_failure_rate_limit="0") as (make,),
        make("10.0.0.1") as client,
    ):
        listed = await client.get(path, headers=headers)
        assert "x-ratelimit-limit" not in listed.headers
        names = [c["name"] for c in listed.json()["payload"]]
    assert "Over The Limit" not in names


async def test_wrong_secret_does_not_spend_the_keys_requests(
    database_url: str, tenant: Tenant
) -> None:
    """The bucket is the whole credential: someone with only the key's public half cannot
    use up its owner's requests."""
    async with (
        apps(database_url, rate_limit="3/minute", auth_failure_rate_limit="0") as (make,),
        make("10.0.0.2") as attacker,
        make("10.0.0.3") as owner,
    ):
        for _ in range(5):
            response = await attacker.get(V2, headers=basic(tenant.key, "wrong-secret"))
            assert response.status_code in (401, 429)
        mine = await owner.get(V2, headers=basic(tenant.key, tenant.secret))
        assert mine.status_code == 200
        assert mine.headers["x-ratelimit-remaining"] == "2"


async def test_failed_authentications_limit_the_address(database_url: str, tenant: Tenant) -> None:
    path, good = v1(tenant)
    async with (
        apps(database_url, rate_limit="0", auth_failure_rate_limit="3/minute") as (make,),
        make("10.0.0.4") as guesser,
        make("10.0.0.5") as neighbour,
    ):
        for attempt in range(3):
            wrong = await guesser.get(path, headers={"api_access_token": f"guess-{attempt}"})
            assert wrong.status_code == 401
        # Over the limit, every request with credentials from that address is refused before
        # they are checked, a right guess included.
        assert_limited(await guesser.get(path, headers={"api_access_token": "guess-4"}), 3)
        assert_limited(await guesser.get(path, headers=good), 3)
        assert_limited(await guesser.get(V2, headers=basic(tenant.key, tenant.secret)), 3)
        # A request without credentials is still answered (401), with the address's headers.
        bare = await guesser.get(path)
        assert bare.status_code == 401
        assert bare.headers["x-ratelimit-limit"] == "3"
        assert bare.headers["x-ratelimit-remaining"] == "0"
        # Another address is not affected.
        assert (await neighbour.get(path, headers=good)).status_code == 200
        # Health and the docs are never limited.
        assert (await guesser.get("/healthz")).status_code == 200


async def test_zero_turns_the_limits_off(database_url: str, tenant: Tenant) -> None:
    path, headers = v2(tenant)
    async with (
        apps(database_url, rate_limit="0", auth_failure_rate_limit="0") as (make,),
        make("10.0.0.6") as client,
    ):
        for _ in range(40):
            response = await client.get(path, headers=basic(tenant.key, "wrong"))
            assert response.status_code == 401
            assert not any(h in response.headers for h in HEADERS)
        response = await client.get(path, headers=headers)
        assert response.status_code == 200
        assert not any(h in response.headers for h in HEADERS)


def test_bad_rate_settings_are_refused() -> None:
    for bad in ("fast", "10/fortnight", "-1/minute", ""):
        with pytest.raises(ValidationError):
            Settings(rate_limit=bad)
        with pytest.raises(ValidationError):
            Settings(auth_failure_rate_limit=bad)
    assert Settings().rate_limit == "1200/minute"
    assert Settings().auth_failure_rate_limit == "30/minute"


async def test_without_redis_each_process_limits_alone(database_url: str, tenant: Tenant) -> None:
    path, headers = v2(tenant)
    async with (
        apps(database_url, 2, rate_limit="3/minute", auth_failure_rate_limit="0") as (
            first,
            second,
        ),
        first("10.0.1.1") as a,
        second("10.0.1.1") as b,
    ):
        for _ in range(3):
            assert (await a.get(path, headers=headers)).status_code == 200
        assert_limited(await a.get(path, headers=headers), 3)
        assert (await b.get(path, headers=headers)).status_code == 200


async def test_redis_shares_one_limit_across_processes(database_url: str, tenant: Tenant) -> None:
    path, headers = v2(tenant)
    failures = f"/api/v1/accounts/{tenant.account_id}/contacts"
    # A fresh address for the failure limit: Redis outlives the test run.
    ip = f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    async with (
        apps(
            database_url,
            2,
            rate_limit="4/minute",
            auth_failure_rate_limit="2/minute",
            redis_url=REDIS,
        ) as (first, second),
        first(ip) as a,
        second(ip) as b,
    ):
        assert (await a.get(path, headers=headers)).status_code == 200
        assert (await b.get(path, headers=headers)).status_code == 200
        assert (await a.get(path, headers=headers)).status_code == 200
        last = await b.get(path, headers=headers)
        assert last.status_code == 200
        assert last.headers["x-ratelimit-remaining"] == "0"
        assert_limited(await a.get(path, headers=headers), 4)
        assert_limited(await b.get(path, headers=headers), 4)
        # Failed authentications add up across processes too.
        assert (await a.get(failures, headers={"api_access_token": "x1"})).status_code == 401
        assert (await b.get(failures, headers={"api_access_token": "x2"})).status_code == 401
        assert_limited(await a.get(failures, headers={"api_access_token": "x3"}), 2)


async def test_unreachable_redis_keeps_serving_limited_per_process(
    database_url: str, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    path, headers = v2(tenant)
    caplog.set_level(logging.WARNING, logger="contactdesk.ratelimit")
    async with (
        apps(
            database_url, rate_limit="3/minute", auth_failure_rate_limit="0", redis_url=NO_REDIS
        ) as (make,),
        make("10.0.2.1") as client,
    ):
        started = time.monotonic()
        for _ in range(3):
            response = await client.get(path, headers=headers)
            assert response.status_code == 200, response.text
            assert response.headers["x-ratelimit-limit"] == "3"
        assert_limited(await client.get(path, headers=headers), 3)
        # No stall: Redis is given up on quickly, and then left alone for a while.
        assert time.monotonic() - started < 10
    said = [r.getMessage() for r in caplog.records if r.name == "contactdesk.ratelimit"]
    assert len(said) == 1, said
    assert "Redis does not answer" in said[0]
    assert "this process only" in said[0]
