"""Credential lifecycle through the CLI (issue 13, item 2): `keys list`, `keys revoke`,
`users remove`, `tokens rotate`.

A revoked key, a rotated token and a removed membership are refused by every process of a
real server within CONTACTDESK_AUTH_CACHE_SECONDS (1 s here), though each process had the
credential cached; nothing else changes (other keys, the new token, other memberships).
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from contactdesk.db import Database
from contactdesk.models import AccessToken, AccountUser, ApiKey, User
from tests.app.test_server import running_server
from tests.cli.test_cli import Cli, assert_refused, created, row_counts, unique_email
from tests.support import Tenant, basic

TTL = 1.0  # CONTACTDESK_AUTH_CACHE_SECONDS of the served process
SLACK = 4.0  # process scheduling on a loaded CI machine
V2 = "/api/v2/accounts/contacts"


def v1(account_id: int) -> str:
    return f"/api/v1/accounts/{account_id}/contacts"


def printed(result: Any) -> dict[str, Any]:
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, dict)
    return data


def new_key(cli: Cli, account_id: int, scopes: str | None = None) -> dict[str, Any]:
    args = ["keys", "create", "--account", str(account_id)]
    if scopes is not None:
        args += ["--scopes", scopes]
    return created(cli(*args), {"api_key", "api_secret", "scopes"})


def new_user(cli: Cli, account_id: int, name: str, email: str, role: str) -> dict[str, Any]:
    args = ["users", "create", "--account", str(account_id), "--name", name]
    args += ["--email", email, "--role", role]
    return created(cli(*args), {"id", "name", "email", "role", "access_token"})


# -- keys list --------------------------------------------------------------------------------


def test_keys_list_shows_the_accounts_keys_never_a_secret(
    cli: Cli, tenant: Tenant, other_tenant: Tenant
) -> None:
    first = new_key(cli, tenant.account_id)
    second = new_key(cli, tenant.account_id, "contacts:read")
    foreign = new_key(cli, other_tenant.account_id)
    result = cli("keys", "list", "--account", str(tenant.account_id))
    listed = printed(result)["api_keys"]
    by_key = {k["api_key"]: k for k in listed}
    # The tenant's own key (made by the fixture) and the two new ones, oldest first.
    assert [k["api_key"] for k in listed] == [tenant.key, first["api_key"], second["api_key"]]
    assert by_key[first["api_key"]]["scopes"] == ["contacts:read", "contacts:write"]
    assert by_key[second["api_key"]]["scopes"] == ["contacts:read"]
    assert all(set(k) == {"api_key", "scopes", "created_at"} for k in listed)
    assert all(isinstance(k["created_at"], int) for k in listed)
    for secret in (tenant.secret, first["api_secret"], second["api_secret"]):
        assert secret not in result.stdout
    # Another account's key is not among them.
    assert foreign["api_key"] not in result.stdout


def test_keys_list_of_an_unknown_account_is_refused(cli: Cli) -> None:
    assert_refused(cli("keys", "list", "--account", str(2**62)), "account")


# -- refusals that change nothing ---------------------------------------------------------------


async def test_unknown_names_are_refused_and_change_nothing(
    cli: Cli, db: Database, tenant: Tenant, other_tenant: Tenant
) -> None:
    before = await row_counts(db)
    assert_refused(cli("keys", "revoke", "no-such-key"), "no such API key")
    assert_refused(cli("keys", "revoke", " "), "no such API key")
    # The secret is not the key's name: revoking by it is refused.
    assert_refused(cli("keys", "revoke", tenant.secret), "no such API key")
    assert_refused(
        cli("users", "remove", "--account", str(tenant.account_id), "--email", unique_email()),
        "no user",
    )
    assert_refused(cli("tokens", "rotate", "--email", unique_email()), "no user")
    # A user of one account is not a member of another: nothing to remove there.
    member = new_user(cli, tenant.account_id, "Member", unique_email("member"), "agent")
    before = await row_counts(db)
    assert_refused(
        cli(
            "users", "remove", "--account", str(other_tenant.account_id),
            "--email", member["email"],
        ),
        "not a member",
    )  # fmt: skip
    assert_refused(
        cli("users", "remove", "--account", str(2**62), "--email", member["email"]), "account"
    )
    assert await row_counts(db) == before


# -- against a real server with two worker processes --------------------------------------------


async def wait_refused(
    client: httpx.AsyncClient, path: str, headers: dict[str, str], since: float
) -> float:
    """Seconds from `since` until every one of 8 requests in a row is refused (401)."""
    deadline = since + TTL + SLACK
    while True:
        codes = [(await client.get(path, headers=headers)).status_code for _ in range(8)]
        if all(code == 401 for code in codes):
            return time.monotonic() - since
        assert set(codes) <= {200, 401}, codes
        assert time.monotonic() < deadline, f"still accepted after {TTL + SLACK} s: {codes}"
        await asyncio.sleep(0.05)


async def warm(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> None:
    """Used enough that both workers have the credential in their caches."""
    for _ in range(12):
        response = await client.get(path, headers=headers)
        assert response.status_code == 200, response.text


@pytest.fixture(scope="module")
def short_cache_server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Any:
    log: Path = tmp_path_factory.mktemp("credentials") / "serve.log"
    settings = {"CONTACTDESK_AUTH_CACHE_SECONDS": str(TTL)}
    with running_server(database_url, log, "--workers", "2", env=settings) as server:
        yield server


async def test_revoked_key_is_refused_by_every_process_within_the_ttl(
    cli: Cli, db: Database, tenant: Tenant, short_cache_server: Any
) -> None:
    doomed = new_key(cli, tenant.account_id)
    kept = new_key(cli, tenant.account_id)
    async with httpx.AsyncClient(base_url=short_cache_server.base_url, timeout=10) as client:
        await warm(client, V2, basic(doomed["api_key"], doomed["api_secret"]))
        revoked = printed(cli("keys", "revoke", doomed["api_key"]))
        since = time.monotonic()
        assert revoked == {"revoked": doomed["api_key"], "account_id": tenant.account_id}
        await wait_refused(client, V2, basic(doomed["api_key"], doomed["api_secret"]), since)
        # The account's other keys go on working.
        kept_headers = basic(kept["api_key"], kept["api_secret"])
        kept_response = await client.get(V2, headers=kept_headers)
        assert kept_response.status_code == 200
    async with db.reader() as session:
        keys = (
            await session.execute(
                sa.select(ApiKey.key).where(ApiKey.account_id == tenant.account_id)
            )
        ).scalars()
        remaining = set(keys)
    assert doomed["api_key"] not in remaining
    assert {kept["api_key"], tenant.key} <= remaining
    listed = printed(cli("keys", "list", "--account", str(tenant.account_id)))["api_keys"]
    assert doomed["api_key"] not in [k["api_key"] for k in listed]
    # Revoking it again: there is no such key any more.
    assert_refused(cli("keys", "revoke", doomed["api_key"]), "no such API key")


async def test_rotated_token_old_refused_new_works(
    cli: Cli, db: Database, tenant: Tenant, other_tenant: Tenant, short_cache_server: Any
) -> None:
    email = unique_email("rotate")
    user = new_user(cli, tenant.account_id, "Rotating", email, "agent")
    old = {"api_access_token": user["access_token"]}
    async with httpx.AsyncClient(base_url=short_cache_server.base_url, timeout=10) as client:
        await warm(client, v1(tenant.account_id), old)
        rotated = printed(cli("tokens", "rotate", "--email", email.upper()))
        since = time.monotonic()
        assert set(rotated) == {"id", "email", "access_token"}
        assert rotated["id"] == user["id"]
        assert rotated["email"] == email
        assert rotated["access_token"] != user["access_token"]
        new = {"api_access_token": rotated["access_token"]}
        # The new token works at once (a failure is never cached), in both header forms.
        assert (await client.get(v1(tenant.account_id), headers=new)).status_code == 200
        bearer = {"Authorization": f"Bearer {rotated['access_token']}"}
        assert (await client.get(v1(tenant.account_id), headers=bearer)).status_code == 200
        await wait_refused(client, v1(tenant.account_id), old, since)
        # Another user's token is untouched.
        admin = {"api_access_token": tenant.admin_token}
        assert (await client.get(v1(tenant.account_id), headers=admin)).status_code == 200
        other_admin = {"api_access_token": other_tenant.admin_token}
        assert (
            await client.get(v1(other_tenant.account_id), headers=other_admin)
        ).status_code == 200
    async with db.reader() as session:
        tokens = (
            await session.execute(
                sa.select(sa.func.count()).where(AccessToken.user_id == user["id"])
            )
        ).scalar_one()
    assert tokens == 1


async def test_removed_membership_is_refused_for_that_account_only(
    cli: Cli, db: Database, tenant: Tenant, other_tenant: Tenant, short_cache_server: Any
) -> None:
    email = unique_email("leaver")
    user = new_user(cli, tenant.account_id, "Leaver", email, "administrator")
    # The same user in a second account (the existing user is reused, with a new token).
    second = new_user(cli, other_tenant.account_id, "Leaver", email, "agent")
    assert second["id"] == user["id"]
    headers = {"api_access_token": second["access_token"]}
    async with httpx.AsyncClient(base_url=short_cache_server.base_url, timeout=10) as client:
        await warm(client, v1(tenant.account_id), headers)
        await warm(client, v1(other_tenant.account_id), headers)
        removed = printed(
            cli("users", "remove", "--account", str(tenant.account_id), "--email", email)
        )
        since = time.monotonic()
        assert removed == {"removed": email, "account_id": tenant.account_id}
        await wait_refused(client, v1(tenant.account_id), headers, since)
        refused = await client.get(v1(tenant.account_id), headers=headers)
        assert refused.json() == {"error": "You are not authorized to access this account"}
        # The other membership, the user and the token stay.
        assert (await client.get(v1(other_tenant.account_id), headers=headers)).status_code == 200
    async with db.reader() as session:
        memberships = (
            await session.execute(
                sa.select(AccountUser.account_id).where(AccountUser.user_id == user["id"])
            )
        ).scalars()
        accounts = list(memberships)
        still_user = (
            await session.execute(sa.select(User.id).where(User.id == user["id"]))
        ).scalar_one_or_none()
    assert accounts == [other_tenant.account_id]
    assert still_user == user["id"]
    # Removing it again: not a member any more.
    assert_refused(
        cli("users", "remove", "--account", str(tenant.account_id), "--email", email),
        "not a member",
    )
