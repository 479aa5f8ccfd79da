"""The real `contactdesk` console script, run as a subprocess against the test database.

Every creating command prints one JSON object on stdout; what it prints must work against the
API; bad arguments give a message on stderr, a non-zero exit, an empty stdout and no rows.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
import subprocess
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager

from contactdesk.app import create_app
from contactdesk.config import Settings
from contactdesk.db import Database
from contactdesk.models import AccessToken, Account, AccountUser, ApiKey, Inbox, User
from tests.app.test_server import CLI, UNREACHABLE_POSTGRES, cli_env, running_server
from tests.support import Tenant, basic

TIMEOUT = 60
ALL_SCOPES = ["contacts:read", "contacts:write", "contacts:delete", "admin"]
CHANNEL_TYPES = (
    "Channel::Api",
    "Channel::Email",
    "Channel::Sms",
    "Channel::Whatsapp",
    "Channel::WebWidget",
)
FORBIDDEN = {"error": "You are not authorized to do this action"}
UNKNOWN_ACCOUNT = str(2**62)

Result = subprocess.CompletedProcess[str]
Cli = Callable[..., Result]


def run_cli(*args: str, database_url: str | None, cwd: Path | None = None) -> Result:
    return subprocess.run(
        [str(CLI), *args],
        env=cli_env(database_url),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=False,
    )


def created(result: Result, keys: set[str]) -> dict[str, Any]:
    """The one JSON object a creating command printed, with exactly these keys."""
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1, result.stdout
    data = json.loads(lines[0])
    assert isinstance(data, dict), result.stdout
    assert set(data) == keys
    return data


def assert_refused(result: Result, *words: str) -> None:
    """Non-zero exit, nothing on stdout, a message (not a traceback) on stderr."""
    assert result.returncode != 0, result.stdout
    assert result.stdout == ""
    assert result.stderr.strip(), "no message on stderr"
    assert "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word.lower() in result.stderr.lower(), result.stderr


COUNTED = (Account, User, AccountUser, AccessToken, ApiKey, Inbox)


async def row_counts(db: Database) -> dict[str, int]:
    counts: dict[str, int] = {}
    async with db.reader() as session:
        for model in COUNTED:
            total = await session.execute(sa.select(sa.func.count()).select_from(model))
            counts[model.__tablename__] = total.scalar_one()
    return counts


def unique_email(tag: str = "user") -> str:
    return f"{tag}-{uuid.uuid4().hex[:12]}@example.com"


@dataclass
class Provisioned:
    """An account made through the CLI, with an API inbox."""

    account_id: int
    inbox_id: int
    users: dict[str, dict[str, Any]] = field(default_factory=dict)


@pytest.fixture
def provisioned(cli: Cli) -> Provisioned:
    account = created(cli("accounts", "create", "--name", "Initech"), {"id", "name"})
    inbox = created(
        cli("inboxes", "create", "--account", str(account["id"]), "--name", "Web API"),
        {"id", "name", "channel_type"},
    )
    return Provisioned(account["id"], inbox["id"])


def v1(account_id: int, path: str) -> str:
    return f"/api/v1/accounts/{account_id}{path}"


# -- accounts ---------------------------------------------------------------------------------


async def test_accounts_create(cli: Cli, db: Database) -> None:
    name = f"Umbrella {uuid.uuid4().hex[:6]}"
    account = created(cli("accounts", "create", "--name", name), {"id", "name"})
    assert account["name"] == name
    assert isinstance(account["id"], int)
    assert account["id"] > 0
    async with db.reader() as session:
        stored = await session.get(Account, account["id"])
    assert stored is not None
    assert stored.name == name


# -- users ------------------------------------------------------------------------------------


async def test_users_create_administrator_token_works(
    cli: Cli, db: Database, client: httpx.AsyncClient, provisioned: Provisioned
) -> None:
    email = unique_email("boss")
    user = created(
        cli(
            "users", "create", "--account", str(provisioned.account_id),
            "--name", "Bill Lumbergh", "--email", email, "--role", "administrator",
        ),
        {"id", "name", "email", "role", "access_token"},
    )  # fmt: skip
    assert isinstance(user["id"], int)
    assert user["name"] == "Bill Lumbergh"
    assert user["email"] == email
    assert user["role"] == "administrator"
    token = user["access_token"]
    assert isinstance(token, str)
    assert token

    headers = {"api_access_token": token}
    account = provisioned.account_id
    response = await client.post(
        v1(account, "/contacts"),
        headers=headers,
        json={"inbox_id": provisioned.inbox_id, "name": "Peter", "email": "peter@initech.com"},
    )
    assert response.status_code == 200, response.text
    contact_id = response.json()["payload"]["contact"]["id"]
    listed = await client.get(v1(account, "/contacts"), headers=headers)
    assert listed.status_code == 200
    assert [c["id"] for c in listed.json()["payload"]] == [contact_id]
    bearer = await client.get(
        v1(account, f"/contacts/{contact_id}"), headers={"Authorization": f"Bearer {token}"}
    )
    assert bearer.status_code == 200
    deleted = await client.delete(v1(account, f"/contacts/{contact_id}"), headers=headers)
    assert deleted.status_code == 200, deleted.text
    assert (
        await client.get(v1(account, f"/contacts/{contact_id}"), headers=headers)
    ).status_code == 404

    # The token is a member of its own account only.
    other = created(cli("accounts", "create", "--name", "Elsewhere"), {"id", "name"})
    response = await client.get(v1(other["id"], "/contacts"), headers=headers)
    assert response.status_code == 401
    assert response.json() == {"error": "You are not authorized to access this account"}

    # Stored hashed: the printed token is nowhere in the table.
    async with db.reader() as session:
        rows = (
            await session.execute(sa.select(AccessToken).where(AccessToken.user_id == user["id"]))
        ).scalars()
        digests = [row.token_digest for row in rows]
    assert len(digests) == 1
    assert token not in digests


async def test_users_create_agent_cannot_delete(
    cli: Cli, client: httpx.AsyncClient, provisioned: Provisioned
) -> None:
    user = created(
        cli(
            "users", "create", "--account", str(provisioned.account_id),
            "--name", "Milton", "--email", unique_email("agent"), "--role", "agent",
        ),
        {"id", "name", "email", "role", "access_token"},
    )  # fmt: skip
    assert user["role"] == "agent"
    headers = {"api_access_token": user["access_token"]}
    account = provisioned.account_id
    response = await client.post(
        v1(account, "/contacts"),
        headers=headers,
        json={"inbox_id": provisioned.inbox_id, "name": "Stapler"},
    )
    assert response.status_code == 200, response.text
    contact_id = response.json()["payload"]["contact"]["id"]
    updated = await client.patch(
        v1(account, f"/contacts/{contact_id}"), headers=headers, json={"name": "Red stapler"}
    )
    assert updated.status_code == 200
    refused = await client.delete(v1(account, f"/contacts/{contact_id}"), headers=headers)
    assert refused.status_code == 403
    assert refused.json() == FORBIDDEN
    still = await client.get(v1(account, f"/contacts/{contact_id}"), headers=headers)
    assert still.status_code == 200
    assert still.json()["payload"]["name"] == "Red stapler"


async def test_users_create_twice_in_one_account_is_refused(
    cli: Cli, db: Database, provisioned: Provisioned
) -> None:
    email = unique_email("twice")
    args = ["users", "create", "--account", str(provisioned.account_id), "--name", "Samir"]
    created(
        cli(*args, "--email", email, "--role", "agent"),
        {"id", "name", "email", "role", "access_token"},
    )
    before = await row_counts(db)
    assert_refused(cli(*args, "--email", email, "--role", "administrator"))
    assert await row_counts(db) == before


# -- API keys ---------------------------------------------------------------------------------


def key_headers(key: dict[str, Any]) -> dict[str, str]:
    return basic(key["api_key"], key["api_secret"])


async def test_keys_create_default_scopes_read_and_write_only(
    cli: Cli, db: Database, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """Without --scopes a key reads and writes contacts; delete and admin must be asked for."""
    key = created(
        cli("keys", "create", "--account", str(tenant.account_id)),
        {"api_key", "api_secret", "scopes"},
    )
    assert key["scopes"] == ["contacts:read", "contacts:write"]
    assert isinstance(key["api_key"], str)
    assert isinstance(key["api_secret"], str)
    assert key["api_key"]
    assert key["api_secret"]
    headers = key_headers(key)

    inboxes = await client.get("/api/v2/accounts/inboxes", headers=headers)
    assert inboxes.status_code == 200
    assert [i["id"] for i in inboxes.json()["payload"]] == [tenant.inbox_id]
    response = await client.post(
        "/api/v2/accounts/contacts",
        headers=headers,
        json={"inbox_id": tenant.inbox_id, "name": "Joanna"},
    )
    assert response.status_code == 200, response.text
    contact_id = response.json()["payload"]["contact"]["id"]
    listed = await client.get("/api/v2/accounts/contacts", headers=headers)
    assert [c["id"] for c in listed.json()["payload"]] == [contact_id]
    refused = await client.delete(f"/api/v2/accounts/contacts/{contact_id}", headers=headers)
    assert refused.status_code == 403
    assert refused.json() == FORBIDDEN
    admin_only = await client.get("/api/v2/accounts/contacts/imports", headers=headers)
    assert admin_only.status_code == 403
    assert (await client.get(f"/api/v2/accounts/contacts/{contact_id}", headers=headers)).json()

    async with db.reader() as session:
        stored = (
            await session.execute(sa.select(ApiKey).where(ApiKey.key == key["api_key"]))
        ).scalar_one()
    assert stored.account_id == tenant.account_id
    assert key["api_secret"] not in (stored.secret_digest, stored.key, stored.scopes)


async def test_keys_create_read_only_scope(
    cli: Cli, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    key = created(
        cli("keys", "create", "--account", str(tenant.account_id), "--scopes", "contacts:read"),
        {"api_key", "api_secret", "scopes"},
    )
    assert key["scopes"] == ["contacts:read"]
    headers = key_headers(key)
    assert (await client.get("/api/v2/accounts/contacts", headers=headers)).status_code == 200
    refused = await client.post(
        "/api/v2/accounts/contacts",
        headers=headers,
        json={"inbox_id": tenant.inbox_id, "name": "Nope"},
    )
    assert refused.status_code == 403
    assert refused.json() == FORBIDDEN
    listed = await client.get("/api/v2/accounts/contacts", headers=headers)
    assert listed.json()["meta"]["count"] == 0


async def test_keys_create_read_write_scopes(
    cli: Cli, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    key = created(
        cli(
            "keys", "create", "--account", str(tenant.account_id),
            "--scopes", "contacts:read,contacts:write",
        ),
        {"api_key", "api_secret", "scopes"},
    )  # fmt: skip
    assert sorted(key["scopes"]) == ["contacts:read", "contacts:write"]
    headers = key_headers(key)
    response = await client.post(
        "/api/v2/accounts/contacts",
        headers=headers,
        json={"inbox_id": tenant.inbox_id, "name": "Lawrence"},
    )
    assert response.status_code == 200, response.text
    contact_id = response.json()["payload"]["contact"]["id"]
    refused = await client.delete(f"/api/v2/accounts/contacts/{contact_id}", headers=headers)
    assert refused.status_code == 403
    assert refused.json() == FORBIDDEN


async def test_keys_create_admin_scope_grants_everything(
    cli: Cli, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    key = created(
        cli("keys", "create", "--account", str(tenant.account_id), "--scopes", "admin"),
        {"api_key", "api_secret", "scopes"},
    )
    assert key["scopes"] == ["admin"]
    headers = key_headers(key)
    response = await client.post(
        "/api/v2/accounts/contacts",
        headers=headers,
        json={"inbox_id": tenant.inbox_id, "name": "Tom"},
    )
    assert response.status_code == 200, response.text
    contact_id = response.json()["payload"]["contact"]["id"]
    deleted = await client.delete(f"/api/v2/accounts/contacts/{contact_id}", headers=headers)
    assert deleted.status_code == 200, deleted.text


# -- inboxes ----------------------------------------------------------------------------------


async def test_inboxes_create_default_channel_type(
    cli: Cli, client: httpx.AsyncClient, provisioned: Provisioned
) -> None:
    # The fixture's inbox was made without --channel-type.
    key = created(
        cli("keys", "create", "--account", str(provisioned.account_id)),
        {"api_key", "api_secret", "scopes"},
    )
    response = await client.get("/api/v2/accounts/inboxes", headers=key_headers(key))
    assert response.json()["payload"] == [
        {
            "id": provisioned.inbox_id,
            "avatar_url": "",
            "channel_id": provisioned.inbox_id,
            "name": "Web API",
            "channel_type": "Channel::Api",
            "provider": None,
        }
    ]


@pytest.mark.parametrize("channel_type", CHANNEL_TYPES)
async def test_inboxes_create_each_channel_type(
    cli: Cli, client: httpx.AsyncClient, tenant: Tenant, channel_type: str
) -> None:
    inbox = created(
        cli(
            "inboxes", "create", "--account", str(tenant.account_id),
            "--name", f"{channel_type} inbox", "--channel-type", channel_type,
        ),
        {"id", "name", "channel_type"},
    )  # fmt: skip
    assert inbox["name"] == f"{channel_type} inbox"
    assert inbox["channel_type"] == channel_type
    assert isinstance(inbox["id"], int)
    headers = basic(tenant.key, tenant.secret)
    listed = (await client.get("/api/v2/accounts/inboxes", headers=headers)).json()
    by_id = {i["id"]: i for i in listed["payload"]}
    assert set(by_id) == {tenant.inbox_id, inbox["id"]}
    assert by_id[inbox["id"]]["name"] == inbox["name"]
    assert by_id[inbox["id"]]["channel_type"] == channel_type


# -- bad arguments: message on stderr, non-zero exit, empty stdout, nothing written ----------


@pytest.fixture(scope="module")
def existing_account(cli: Cli) -> int:
    account = created(cli("accounts", "create", "--name", "Existing"), {"id", "name"})
    account_id: int = account["id"]
    return account_id


BAD_ARGUMENTS: list[tuple[str, list[str], str]] = [
    ("account blank name", ["accounts", "create", "--name", ""], "name"),
    ("account whitespace name", ["accounts", "create", "--name", "   "], "name"),
    ("account missing name", ["accounts", "create"], "name"),
    (
        "user unknown account",
        ["users", "create", "--account", UNKNOWN_ACCOUNT, "--name", "U", "--email", "{email}",
         "--role", "agent"],
        "account",
    ),
    (
        "user account beyond 64 bits",
        ["users", "create", "--account", "99999999999999999999999", "--name", "U",
         "--email", "{email}", "--role", "agent"],
        "account",
    ),
    (
        "user non-numeric account",
        ["users", "create", "--account", "abc", "--name", "U", "--email", "{email}",
         "--role", "agent"],
        "account",
    ),
    (
        "user bad role",
        ["users", "create", "--account", "{account}", "--name", "U", "--email", "{email}",
         "--role", "owner"],
        "role",
    ),
    (
        "user bad email",
        ["users", "create", "--account", "{account}", "--name", "U", "--email", "not-an-email",
         "--role", "agent"],
        "email",
    ),
    (
        "user email with a space",
        ["users", "create", "--account", "{account}", "--name", "U", "--email", "a b@example.com",
         "--role", "agent"],
        "email",
    ),
    (
        "user blank name",
        ["users", "create", "--account", "{account}", "--name", " ", "--email", "{email}",
         "--role", "agent"],
        "name",
    ),
    (
        "user missing role",
        ["users", "create", "--account", "{account}", "--name", "U", "--email", "{email}"],
        "role",
    ),
    ("key unknown account", ["keys", "create", "--account", UNKNOWN_ACCOUNT], "account"),
    ("key non-numeric account", ["keys", "create", "--account", "twelve"], "account"),
    (
        "key unknown scope",
        ["keys", "create", "--account", "{account}", "--scopes", "contacts:read,contacts:nuke"],
        "scope",
    ),
    (
        "key only unknown scope",
        ["keys", "create", "--account", "{account}", "--scopes", "superuser"],
        "scope",
    ),
    (
        "inbox unknown account",
        ["inboxes", "create", "--account", UNKNOWN_ACCOUNT, "--name", "X"],
        "account",
    ),
    (
        "inbox non-numeric account",
        ["inboxes", "create", "--account", "1x", "--name", "X"],
        "account",
    ),
    (
        "inbox unknown channel type",
        ["inboxes", "create", "--account", "{account}", "--name", "X",
         "--channel-type", "Channel::Telegram"],
        "channel",
    ),
    (
        "inbox channel type wrong case",
        ["inboxes", "create", "--account", "{account}", "--name", "X",
         "--channel-type", "channel::api"],
        "channel",
    ),
    (
        "inbox blank name",
        ["inboxes", "create", "--account", "{account}", "--name", ""],
        "name",
    ),
]  # fmt: skip


@pytest.mark.parametrize(
    ("args", "word"),
    [pytest.param(args, word, id=case) for case, args, word in BAD_ARGUMENTS],
)
async def test_bad_arguments_write_nothing(
    cli: Cli, db: Database, existing_account: int, args: list[str], word: str
) -> None:
    email = unique_email("bad")
    argv = [a.format(account=existing_account, email=email) for a in args]
    before = await row_counts(db)
    assert_refused(cli(*argv), word)
    assert await row_counts(db) == before
    async with db.reader() as session:
        users = await session.execute(
            sa.select(sa.func.count()).select_from(User).where(User.email == email)
        )
        assert users.scalar_one() == 0


# -- migrate, serve, demo on a fresh SQLite file ----------------------------------------------


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def test_serve_refuses_unmigrated_database(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "fresh.db")
    result = run_cli("serve", "--port", "1", database_url=url)
    assert_refused(result, "migrate")


def test_creating_commands_refuse_unmigrated_database(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "fresh.db")
    assert_refused(run_cli("accounts", "create", "--name", "Early", database_url=url), "migrate")


def test_serve_refuses_unreachable_database() -> None:
    result = run_cli("serve", "--port", "1", database_url=UNREACHABLE_POSTGRES)
    assert_refused(result)


def test_migrate_then_serve(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "fresh.db")
    first = run_cli("migrate", database_url=url)
    assert first.returncode == 0, first.stderr
    again = run_cli("migrate", database_url=url)  # idempotent
    assert again.returncode == 0, again.stderr
    account = created(
        run_cli("accounts", "create", "--name", "Fresh", database_url=url), {"id", "name"}
    )
    assert account["name"] == "Fresh"
    with running_server(url, tmp_path / "serve.log") as server:
        assert httpx.get(f"{server.base_url}/healthz", timeout=10).json() == {"status": "ok"}


def test_default_database_is_contactdesk_db_in_working_directory(tmp_path: Path) -> None:
    result = run_cli("migrate", database_url=None, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "contactdesk.db").is_file()
    account = created(
        run_cli("accounts", "create", "--name", "Local", database_url=None, cwd=tmp_path),
        {"id", "name"},
    )
    assert account["name"] == "Local"


@dataclass
class CurlCall:
    method: str
    url: str
    headers: dict[str, str]
    data: str | None


def parse_curl(line: str) -> CurlCall:
    tokens = shlex.split(line)
    assert tokens[0] == "curl", line
    method: str | None = None
    url: str | None = None
    headers: dict[str, str] = {}
    data: str | None = None
    rest = iter(tokens[1:])
    for token in rest:
        if token in ("-X", "--request"):
            method = next(rest)
        elif token in ("-H", "--header"):
            name, _, value = next(rest).partition(":")
            headers[name.strip()] = value.strip()
        elif token in ("-d", "--data", "--data-raw"):
            data = next(rest)
        elif token.startswith(("http://", "https://")):
            url = token
    assert url is not None, line
    return CurlCall(method or ("POST" if data is not None else "GET"), url, headers, data)


@dataclass
class Demo:
    output: str
    calls: list[CurlCall]
    account_id: int
    token: str
    basic_headers: dict[str, str]


def parse_demo(result: Result) -> Demo:
    assert result.returncode == 0, result.stderr
    output = result.stdout
    calls = [
        parse_curl(line.strip()) for line in output.splitlines() if line.strip().startswith("curl")
    ]
    v1_calls = [c for c in calls if "/api/v1/" in c.url]
    v2_calls = [c for c in calls if "/api/v2/" in c.url]
    assert v1_calls, output
    assert v2_calls, output
    match = re.search(r"/api/v1/accounts/(\d+)/", v1_calls[0].url)
    assert match, v1_calls[0].url
    token = v1_calls[0].headers["api_access_token"]
    authorization = v2_calls[0].headers["Authorization"]
    assert authorization.startswith("Basic ")
    # The credentials themselves are printed, not only inside the curl lines.
    key, _, secret = base64.b64decode(authorization.removeprefix("Basic ")).decode().partition(":")
    assert key
    assert secret
    assert key in output
    assert secret in output
    without_curl = "\n".join(line for line in output.splitlines() if "curl" not in line)
    assert token in without_curl, output
    # The key's scopes are said: the default ones, without delete or admin.
    assert "key scopes:   contacts:read,contacts:write" in output, output
    return Demo(output, calls, int(match.group(1)), token, {"Authorization": authorization})


async def replay(client: httpx.AsyncClient, call: CurlCall) -> httpx.Response:
    return await client.request(call.method, call.url, headers=call.headers, content=call.data)


async def test_demo_on_fresh_database_twice(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "demo.db")
    first = parse_demo(run_cli("demo", database_url=url))

    app = create_app(Settings(database_url=url))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client,
    ):
        # The curl lines paste as they are, in order, in both dialects.
        for call in first.calls:
            response = await replay(client, call)
            assert response.status_code == 200, (call, response.text)
            if response.content:
                response.json()
        inboxes = (
            await client.get(
                f"http://127.0.0.1{v1(first.account_id, '/inboxes')}",
                headers={"api_access_token": first.token},
            )
        ).json()["payload"]
        assert [i["channel_type"] for i in inboxes] == ["Channel::Api"]

        second = parse_demo(run_cli("demo", database_url=url))
        assert second.account_id == first.account_id
        assert second.token != first.token  # re-issued
        for call in second.calls:
            response = await replay(client, call)
            assert response.status_code not in (401, 403), (call, response.text)
            if call.method == "GET":
                assert response.status_code == 200, (call, response.text)
        v2 = await client.get(
            "http://127.0.0.1/api/v2/accounts/contacts", headers=second.basic_headers
        )
        assert v2.status_code == 200
        assert v2.json()["meta"]["count"] == 1  # Alice, from the first run's curl line
        v1_inboxes = await client.get(
            f"http://127.0.0.1{v1(second.account_id, '/inboxes')}",
            headers={"api_access_token": second.token},
        )
        assert [i["id"] for i in v1_inboxes.json()["payload"]] == [i["id"] for i in inboxes]

        db: Database = app.state.db
        counts = await row_counts(db)
    assert counts["accounts"] == 1
    assert counts["inboxes"] == 1
    assert counts["users"] == 1


async def test_demo_with_an_account_already_named_like_the_demo(tmp_path: Path) -> None:
    url = sqlite_url(tmp_path / "demo.db")
    assert run_cli("migrate", database_url=url).returncode == 0
    created(
        run_cli("accounts", "create", "--name", "Demo account", database_url=url), {"id", "name"}
    )
    result = run_cli("demo", database_url=url)
    assert result.returncode == 0, result.stderr
    demo = parse_demo(result)
    app = create_app(Settings(database_url=url))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app)) as client,
    ):
        for call in demo.calls:
            response = await replay(client, call)
            assert response.status_code == 200, (call, response.text)
