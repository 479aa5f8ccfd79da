"""The real server process: `contactdesk serve`, driven by the official Chatwoot SDK and httpx.

A session-scoped fixture starts `contactdesk serve` on a free port of 127.0.0.1 against the
test database and stops it at the end of the session, whatever the tests did.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx
import pytest
from asgi_lifespan import LifespanManager
from chatwoot import (
    ChatwootAPIError,
    ChatwootAuthError,
    ChatwootClient,
    ChatwootNotFoundError,
    ChatwootPermissionError,
)
from chatwoot.types.contact import Contact

from contactdesk.app import create_app
from contactdesk.config import Settings
from tests.support import DIALECTS, Tenant, basic

CLI = Path(sys.executable).parent / "contactdesk"
STARTUP_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0
UNREACHABLE_POSTGRES = "postgresql://postgres@127.0.0.1:1/nowhere"


def cli_env(database_url: str | None) -> dict[str, str]:
    """The current environment without any CONTACTDESK_ setting, plus the database URL, and
    no webhook dispatcher or import worker: a server kept for a whole session would send the
    other tests' events, or run their imports (the webhook and import tests run their own)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONTACTDESK_")}
    if database_url is not None:
        env["CONTACTDESK_DATABASE_URL"] = database_url
    env["CONTACTDESK_DISPATCHER"] = "false"
    # Nor an import worker beside each server (the import tests run their own).
    env["CONTACTDESK_IMPORTER"] = "false"
    # Nor rate limits (tests/app/test_rate_limits.py serves with them).
    env["CONTACTDESK_RATE_LIMIT"] = "0"
    env["CONTACTDESK_AUTH_FAILURE_RATE_LIMIT"] = "0"
    return env


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def ids(contacts: object) -> list[int]:
    """Ids of the SDK's contacts (its methods named `list` confuse their own annotations)."""
    return [contact.id for contact in cast("list[Contact]", contacts)]


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


@contextmanager
def running_server(
    database_url: str, log: Path, *extra: str, env: dict[str, str] | None = None
) -> Iterator[Server]:
    """`contactdesk serve` on a free port of 127.0.0.1; healthy when yielded, stopped after.
    env: settings (CONTACTDESK_...) for this server."""
    port = free_port()
    command = [str(CLI), "serve", "--host", "127.0.0.1", "--port", str(port), *extra]
    with log.open("wb") as log_file:
        process = subprocess.Popen(
            command,
            env={**cli_env(database_url), **(env or {})},
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + STARTUP_TIMEOUT
        while True:
            if process.poll() is not None:
                pytest.fail(
                    f"`contactdesk serve` exited with {process.returncode}:\n{server.log_text()}"
                )
            try:
                if httpx.get(f"{server.base_url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"`contactdesk serve` did not become healthy:\n{server.log_text()}")
            time.sleep(0.1)
        yield server
    finally:
        stop_process(process)


@pytest.fixture(scope="session")
def server(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("server") / "serve.log"
    with running_server(database_url, log) as running:
        yield running


@pytest.fixture(scope="module")
def multi_worker_server(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    log = tmp_path_factory.mktemp("server-workers") / "serve.log"
    with running_server(database_url, log, "--workers", "2") as running:
        yield running


# -- the Chatwoot SDK against the real server ------------------------------------------------


def test_chatwoot_sdk_round_trip(server: Server, tenant: Tenant) -> None:
    account = tenant.account_id
    with ChatwootClient(base_url=server.base_url, api_token=tenant.admin_token) as sdk:
        created = sdk.contacts.create(
            account_id=account,
            inbox_id=tenant.inbox_id,
            name="Ada Lovelace",
            email="  Ada@Example.COM ",
            phone_number="+14155550100",
            identifier="ada-1",
            custom_attributes={"plan": "free"},
            additional_attributes={"company_name": "Analytical Engines", "city": "London"},
        )
        ada = created.contact
        assert ada.id > 0
        assert ada.name == "Ada Lovelace"
        assert ada.email == "ada@example.com"
        assert ada.phone_number == "+14155550100"
        assert ada.identifier == "ada-1"
        assert ada.custom_attributes == {"plan": "free"}
        assert ada.additional_attributes == {
            "company_name": "Analytical Engines",
            "city": "London",
        }
        assert ada.blocked is False
        assert ada.availability_status == "offline"
        assert ada.thumbnail == ""
        assert ada.created_at is not None
        source_id = created.contact_inbox.source_id
        uuid.UUID(source_id)  # generated for an API inbox
        assert [ci.source_id for ci in ada.contact_inboxes] == [source_id]

        fetched = sdk.contacts.get(account_id=account, contact_id=ada.id)
        assert fetched.id == ada.id
        assert fetched.name == "Ada Lovelace"
        assert fetched.email == "ada@example.com"
        assert fetched.phone_number == "+14155550100"
        assert fetched.identifier == "ada-1"
        assert fetched.custom_attributes == {"plan": "free"}
        assert fetched.additional_attributes == ada.additional_attributes
        assert fetched.created_at == ada.created_at
        assert [ci.source_id for ci in fetched.contact_inboxes] == [source_id]

        grace = sdk.contacts.create(
            account_id=account,
            inbox_id=tenant.inbox_id,
            name="Grace Hopper",
            email="grace@navy.mil",
        ).contact

        listed = sdk.contacts.list(account_id=account)
        assert [c.id for c in listed] == [grace.id, ada.id]  # newest first
        assert listed[1].email == "ada@example.com"
        assert sdk.contacts.list(account_id=account, page=2) == []

        assert ids(sdk.contacts.search(account_id=account, query="lovelace")) == [ada.id]
        assert ids(sdk.contacts.search(account_id=account, query="NAVY")) == [grace.id]
        assert ids(sdk.contacts.search(account_id=account, query="analytical")) == [ada.id]
        assert sdk.contacts.search(account_id=account, query="nobody-matches-this") == []

        updated = sdk.contacts.update(
            account_id=account,
            contact_id=ada.id,
            name="Ada King",
            custom_attributes={"tier": "gold"},
        )
        assert updated.id == ada.id
        assert updated.name == "Ada King"
        assert updated.email == "ada@example.com"  # unsent keys stay
        assert updated.custom_attributes == {"plan": "free", "tier": "gold"}  # merged
        assert sdk.contacts.get(account_id=account, contact_id=ada.id).name == "Ada King"

        labels = sdk.contacts.labels.add(
            account_id=account, contact_id=ada.id, labels=["vip", "Beta", "VIP"]
        )
        assert labels == ["Beta", "vip"]
        assert sdk.contacts.labels.list(account_id=account, contact_id=ada.id) == ["Beta", "vip"]
        assert sdk.contacts.labels.add(account_id=account, contact_id=ada.id, labels=["alpha"]) == [
            "alpha"
        ]  # replaces, does not append
        assert sdk.contacts.labels.list(account_id=account, contact_id=grace.id) == []

        sdk.contacts.delete(account_id=account, contact_id=ada.id)
        with pytest.raises(ChatwootNotFoundError):
            sdk.contacts.get(account_id=account, contact_id=ada.id)
        with pytest.raises(ChatwootNotFoundError):
            sdk.contacts.labels.list(account_id=account, contact_id=ada.id)
        assert ids(sdk.contacts.list(account_id=account)) == [grace.id]


def test_chatwoot_sdk_merge_and_contactable_inboxes(server: Server, tenant: Tenant) -> None:
    """The SDK's merge and contactable_inboxes calls against the issue 4 routes."""
    account = tenant.account_id
    with ChatwootClient(base_url=server.base_url, api_token=tenant.admin_token) as sdk:
        base = sdk.contacts.create(
            account_id=account, inbox_id=tenant.inbox_id, name="Base", email="base@sdk.test"
        ).contact
        mergee = sdk.contacts.create(
            account_id=account,
            inbox_id=tenant.inbox_id,
            name="Mergee",
            phone_number="+14155550177",
            custom_attributes={"plan": "pro"},
        ).contact
        merged = sdk.contacts.merge(
            account_id=account, base_contact_id=base.id, mergee_contact_id=mergee.id
        )
        assert merged.id == base.id
        assert merged.name == "Base"
        assert merged.email == "base@sdk.test"
        assert merged.phone_number == "+14155550177"  # filled from the mergee
        assert merged.custom_attributes == {"plan": "pro"}
        with pytest.raises(ChatwootNotFoundError):
            sdk.contacts.get(account_id=account, contact_id=mergee.id)
        reachable: Any = sdk.contacts.contactable_inboxes(account_id=account, contact_id=base.id)
        assert [item["inbox"]["id"] for item in reachable] == [tenant.inbox_id]
        assert isinstance(reachable[0]["source_id"], str)
        with pytest.raises(ChatwootNotFoundError):
            sdk.contacts.merge(account_id=account, base_contact_id=base.id, mergee_contact_id=0)


def test_chatwoot_sdk_errors(server: Server, tenant: Tenant) -> None:
    account = tenant.account_id
    with ChatwootClient(base_url=server.base_url, api_token=tenant.admin_token) as sdk:
        with pytest.raises(ChatwootAPIError) as invalid:
            sdk.contacts.create(account_id=account, inbox_id=tenant.inbox_id, email="not-an-email")
        assert invalid.value.status_code == 422
        assert invalid.value.description == "Email is invalid"
        with pytest.raises(ChatwootNotFoundError):
            sdk.contacts.create(account_id=account, inbox_id=2**62, name="Nowhere")
        contact = sdk.contacts.create(account_id=account, inbox_id=tenant.inbox_id, name="Kept")
    with ChatwootClient(base_url=server.base_url, api_token=tenant.agent_token) as agent:
        assert ids(agent.contacts.list(account_id=account)) == [contact.contact.id]
        with pytest.raises(ChatwootPermissionError):
            agent.contacts.delete(account_id=account, contact_id=contact.contact.id)
    with (
        ChatwootClient(base_url=server.base_url, api_token="not-a-token") as stranger,
        pytest.raises(ChatwootAuthError),
    ):
        stranger.contacts.list(account_id=account)


# -- health, OpenAPI, docs ---------------------------------------------------------------------


def test_healthz_and_readyz(server: Server) -> None:
    for path in ("/healthz", "/readyz"):
        response = httpx.get(f"{server.base_url}{path}", timeout=10)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("application/json")
        assert response.json() == {"status": "ok"}


PREFIXES = ("/api/v2/accounts", "/api/v1/accounts/{account_id}")
HTTP_VERBS = {"get", "post", "put", "patch", "delete", "head", "options", "trace"}
ROUTES: dict[str, set[str]] = {
    "/contacts": {"get", "post"},
    "/contacts/search": {"get"},
    "/contacts/{contact_id}": {"get", "patch", "put", "delete"},
    "/contacts/{contact_id}/labels": {"get", "post"},
    "/contacts/filter": {"post"},
    "/contacts/upsert": {"post"},
    "/contacts/{contact_id}/destroy_custom_attributes": {"post"},
    "/contacts/{contact_id}/contact_inboxes": {"post"},
    "/contacts/{contact_id}/contactable_inboxes": {"get"},
    "/contact_inboxes/filter": {"post"},
    "/actions/contact_merge": {"post"},
    "/bulk_actions": {"post"},
    "/custom_attribute_definitions": {"get", "post"},
    "/custom_attribute_definitions/{definition_id}": {"get", "patch", "delete"},
    "/inboxes": {"get"},
    "/webhooks": {"get", "post"},
    "/webhooks/{webhook_id}": {"get", "patch", "delete"},
    "/webhooks/{webhook_id}/rotate_secret": {"post"},
    "/webhooks/{webhook_id}/enable": {"post"},
    "/webhooks/{webhook_id}/deliveries": {"get"},
    "/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver": {"post"},
    "/events": {"get"},
}
LIST_PARAMETERS = {
    "page",
    "page_size",
    "sort",
    "direction",
    "labels",
    "include_contact_inboxes",
    "q",
}
# (route, verb) -> statuses documented beyond 401/403 (which every route documents)
EXTRA_STATUSES: dict[tuple[str, str], set[str]] = {
    ("/contacts", "get"): {"422"},
    ("/contacts", "post"): {"404", "422"},
    ("/contacts/search", "get"): {"422"},
    ("/contacts/{contact_id}", "get"): {"404", "422"},
    ("/contacts/{contact_id}", "patch"): {"404", "422"},
    ("/contacts/{contact_id}", "put"): {"404", "422"},
    ("/contacts/{contact_id}", "delete"): {"404"},
    ("/contacts/{contact_id}/labels", "get"): {"404"},
    ("/contacts/{contact_id}/labels", "post"): {"404", "422"},
    ("/contacts/filter", "post"): {"400", "422"},
    ("/contacts/upsert", "post"): {"400", "404", "409", "422"},
    ("/contacts/{contact_id}/destroy_custom_attributes", "post"): {"400", "404", "422"},
    ("/contacts/{contact_id}/contact_inboxes", "post"): {"400", "404", "422"},
    ("/contacts/{contact_id}/contactable_inboxes", "get"): {"404"},
    ("/contact_inboxes/filter", "post"): {"400", "404", "422"},
    ("/actions/contact_merge", "post"): {"400", "404", "422"},
    ("/bulk_actions", "post"): {"400", "422"},
    ("/custom_attribute_definitions", "get"): {"422"},
    ("/custom_attribute_definitions", "post"): {"400", "422"},
    ("/custom_attribute_definitions/{definition_id}", "get"): {"404"},
    ("/custom_attribute_definitions/{definition_id}", "patch"): {"400", "404", "422"},
    ("/custom_attribute_definitions/{definition_id}", "delete"): {"404"},
    ("/inboxes", "get"): set(),
    ("/webhooks", "get"): set(),
    ("/webhooks", "post"): {"400", "422"},
    ("/webhooks/{webhook_id}", "get"): {"404"},
    ("/webhooks/{webhook_id}", "patch"): {"400", "404", "422"},
    ("/webhooks/{webhook_id}", "delete"): {"404"},
    ("/webhooks/{webhook_id}/rotate_secret", "post"): {"404"},
    ("/webhooks/{webhook_id}/enable", "post"): {"404"},
    ("/webhooks/{webhook_id}/deliveries", "get"): {"404", "422"},
    ("/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver", "post"): {"404"},
    ("/events", "get"): {"422"},
}


@pytest.fixture(scope="module")
def openapi(server: Server) -> dict[str, Any]:
    response = httpx.get(f"{server.base_url}/openapi.json", timeout=10)
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _parameters(operation: dict[str, Any], where: str) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == where}


@pytest.mark.parametrize("prefix", PREFIXES)
def test_openapi_lists_every_route(openapi: dict[str, Any], prefix: str) -> None:
    paths: dict[str, Any] = openapi["paths"]
    for route, verbs in ROUTES.items():
        path = prefix + route
        assert path in paths, f"{path} is not in /openapi.json"
        assert {k for k in paths[path] if k in HTTP_VERBS} == verbs, path
        for verb in verbs:
            operation = paths[path][verb]
            statuses = set(operation["responses"])
            expected = {"200", "401", "403", *EXTRA_STATUSES[(route, verb)]}
            assert expected <= statuses, f"{verb.upper()} {path}: {sorted(statuses)}"
            path_parameters = _parameters(operation, "path")
            if "{account_id}" in prefix:
                assert "account_id" in path_parameters, f"{verb.upper()} {path}"
            if "{contact_id}" in route:
                assert "contact_id" in path_parameters, f"{verb.upper()} {path}"
            assert operation.get("security") or openapi.get("security"), (
                f"{verb.upper()} {path} documents no authentication"
            )
    assert _parameters(paths[prefix + "/contacts"]["get"], "query") >= LIST_PARAMETERS
    assert _parameters(paths[prefix + "/contacts/search"]["get"], "query") >= LIST_PARAMETERS
    filter_parameters = LIST_PARAMETERS - {"labels", "q"}
    assert _parameters(paths[prefix + "/contacts/filter"]["post"], "query") >= filter_parameters
    assert "include_contact_inboxes" in _parameters(
        paths[prefix + "/contacts/{contact_id}"]["get"], "query"
    )


def test_openapi_references_resolve(openapi: dict[str, Any]) -> None:
    """Every $ref of the document points into its components (a body's nested models too)."""
    text = json.dumps(openapi)
    assert "#/$defs/" not in text
    referred = set(re.findall(r'"#/components/schemas/([^"]+)"', text))
    assert referred
    assert referred <= set(openapi["components"]["schemas"])
    for name in ("FilterCondition", "BulkLabels"):
        assert name in openapi["components"]["schemas"]


def test_openapi_describes_authentication_and_health(openapi: dict[str, Any]) -> None:
    schemes = openapi["components"]["securitySchemes"].values()
    assert any(s["type"] == "http" and s["scheme"].lower() == "basic" for s in schemes)
    assert any(
        s["type"] == "apiKey" and s["in"] == "header" and s["name"] == "api_access_token"
        for s in schemes
    )
    assert "200" in openapi["paths"]["/healthz"]["get"]["responses"]
    ready = openapi["paths"]["/readyz"]["get"]
    assert {"200", "503"} <= set(ready["responses"])


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_work_offline(server: Server, page: str) -> None:
    """The docs pages name no outside host: their assets come from the server itself."""
    response = httpx.get(f"{server.base_url}{page}", timeout=10)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "/openapi.json" in response.text
    assert not re.findall(r"(?:https?:)?//[\w.-]+", response.text), response.text
    assets = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", response.text)
    assert any(a.endswith(".js") for a in assets), assets
    for asset in assets:
        assert asset.startswith("/"), asset
        served = httpx.get(f"{server.base_url}{asset}", timeout=10)
        assert served.status_code == 200, asset
        assert served.content


async def test_readyz_503_when_database_unreachable_healthz_still_200() -> None:
    app = create_app(Settings(database_url=UNREACHABLE_POSTGRES))
    async with (
        LifespanManager(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        ready = await client.get("/readyz")
        live = await client.get("/healthz")
    assert ready.status_code == 503
    assert ready.headers["content-type"].startswith("application/json")
    body = ready.json()
    assert body["status"] == "unavailable"
    assert "database" in body["error"]
    # Liveness: the process answers, whatever the database does.
    assert live.status_code == 200
    assert live.json() == {"status": "ok"}


# -- uniqueness across processes ---------------------------------------------------------------


@pytest.mark.parametrize("dialect", DIALECTS)
async def test_one_email_race_across_worker_processes(
    multi_worker_server: Server, tenant: Tenant, dialect: str
) -> None:
    if dialect == "v2":
        prefix = f"{multi_worker_server.base_url}/api/v2/accounts"
        headers = basic(tenant.key, tenant.secret)
    else:
        prefix = f"{multi_worker_server.base_url}/api/v1/accounts/{tenant.account_id}"
        headers = {"api_access_token": tenant.admin_token}
    email = f"race-{uuid.uuid4().hex[:8]}@example.com"
    async with httpx.AsyncClient(headers=headers, timeout=60) as client:
        responses = await asyncio.gather(
            *(
                client.post(
                    f"{prefix}/contacts",
                    json={"inbox_id": tenant.inbox_id, "name": f"Racer {i}", "email": email},
                )
                for i in range(16)
            )
        )
        winners = [r for r in responses if r.status_code == 200]
        assert len(winners) == 1, [(r.status_code, r.text) for r in responses]
        winner_id = winners[0].json()["payload"]["contact"]["id"]
        for response in responses:
            if response.status_code != 200:
                assert response.status_code == 422, response.text
                assert response.json() == {
                    "message": "Email has already been taken",
                    "attributes": ["email"],
                    "conflicting_contact_id": winner_id,
                }
        listed = (await client.get(f"{prefix}/contacts")).json()
    assert listed["meta"]["count"] == 1
    assert [c["id"] for c in listed["payload"]] == [winner_id]
