"""Contract §1: credentials, membership, roles and scopes, and tenancy, in both dialects."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from tests.support import Api, Tenant, agent_api, basic

MISSING = {"error": "Missing credentials"}
INVALID = {"error": "Invalid Access Token"}
NOT_MEMBER = {"error": "You are not authorized to access this account"}
FORBIDDEN = {"error": "You are not authorized to do this action"}
NOT_FOUND = {"error": "Resource could not be found"}
REALM = 'Basic realm="contactdesk"'
V2 = "/api/v2/accounts"


def v1(tenant: Tenant) -> str:
    return f"/api/v1/accounts/{tenant.account_id}"


class TestLiveDeskCredentials:
    async def test_no_credentials(self, client: httpx.AsyncClient) -> None:
        response = await client.get(f"{V2}/contacts")
        assert response.status_code == 401
        assert response.json() == MISSING
        assert response.headers["www-authenticate"] == REALM

    @pytest.mark.parametrize(
        "authorization",
        [
            "Bearer abc",
            "Basic not-base64!!",
            "Basic " + base64.b64encode(b"no-colon").decode(),
            "Basic " + base64.b64encode(b"key:").decode(),
            "Basic " + base64.b64encode(b":secret").decode(),
            "Basic " + base64.b64encode(b"unknown:secret").decode(),
            "Basic",
        ],
    )
    async def test_invalid_basic(self, client: httpx.AsyncClient, authorization: str) -> None:
        response = await client.get(f"{V2}/contacts", headers={"Authorization": authorization})
        assert response.status_code == 401
        assert response.json() == INVALID
        assert response.headers["www-authenticate"] == REALM

    async def test_wrong_secret(self, client: httpx.AsyncClient, tenant: Tenant) -> None:
        response = await client.get(f"{V2}/contacts", headers=basic(tenant.key, "wrong"))
        assert response.status_code == 401
        assert response.json() == INVALID

    async def test_valid_key_implies_the_account(
        self, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        await Api(client, "v2", tenant, basic(tenant.key, tenant.secret)).create_contact(name="A")
        response = await client.get(f"{V2}/contacts", headers=basic(tenant.key, tenant.secret))
        assert response.status_code == 200
        assert response.json()["meta"]["count"] == 1
        other = await client.get(
            f"{V2}/contacts", headers=basic(other_tenant.key, other_tenant.secret)
        )
        assert other.json()["meta"]["count"] == 0


class TestChatwootCredentials:
    async def test_no_credentials(self, client: httpx.AsyncClient, tenant: Tenant) -> None:
        response = await client.get(f"{v1(tenant)}/contacts")
        assert response.status_code == 401
        assert response.json() == MISSING

    @pytest.mark.parametrize(
        "headers",
        [
            {"api_access_token": "nope"},
            {"Authorization": "Bearer nope"},
            {"Authorization": "Basic abc"},
            {"Authorization": "Bearer"},
        ],
    )
    async def test_invalid_token(
        self, client: httpx.AsyncClient, tenant: Tenant, headers: dict[str, str]
    ) -> None:
        response = await client.get(f"{v1(tenant)}/contacts", headers=headers)
        assert response.status_code == 401
        assert response.json() == INVALID

    @pytest.mark.parametrize("style", ["header", "bearer", "both"])
    async def test_token_styles(
        self, client: httpx.AsyncClient, tenant: Tenant, style: str
    ) -> None:
        headers: dict[str, str] = {}
        if style in ("header", "both"):
            headers["api_access_token"] = tenant.admin_token
        if style in ("bearer", "both"):
            headers["Authorization"] = f"Bearer {tenant.admin_token}"
        response = await client.get(f"{v1(tenant)}/contacts", headers=headers)
        assert response.status_code == 200

    @pytest.mark.parametrize("account", ["999999999999", "abc", "0", "-1", "1e3", "9" * 30])
    async def test_unknown_account_is_not_distinguishable(
        self, client: httpx.AsyncClient, tenant: Tenant, account: str
    ) -> None:
        response = await client.get(
            f"/api/v1/accounts/{account}/contacts", headers={"api_access_token": tenant.admin_token}
        )
        assert response.status_code == 401
        assert response.json() == NOT_MEMBER

    async def test_member_of_another_account(
        self, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        response = await client.get(
            f"{v1(other_tenant)}/contacts", headers={"api_access_token": tenant.admin_token}
        )
        assert response.status_code == 401
        assert response.json() == NOT_MEMBER

    async def test_credentials_are_checked_before_membership(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get(
            "/api/v1/accounts/999999999/contacts", headers={"api_access_token": "nope"}
        )
        assert response.json() == INVALID


# (method, path template, body) for every route; {id} is a contact of the tenant.
ROUTES: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/contacts", None),
    ("GET", "/contacts/search?q=a", None),
    ("GET", "/contacts/{id}", None),
    ("POST", "/contacts", {"name": "New"}),
    ("PATCH", "/contacts/{id}", {"name": "Changed"}),
    ("PUT", "/contacts/{id}", {"name": "Changed"}),
    ("DELETE", "/contacts/{id}", None),
    ("GET", "/contacts/{id}/labels", None),
    ("POST", "/contacts/{id}/labels", {"labels": ["x"]}),
    ("GET", "/inboxes", None),
]
READS = {("GET", p.split("?")[0]) for m, p, _ in ROUTES if m == "GET"}
WRITES = {("POST", "/contacts"), ("PATCH", "/contacts/{id}"), ("PUT", "/contacts/{id}")}
WRITES |= {("POST", "/contacts/{id}/labels")}
DELETES = {("DELETE", "/contacts/{id}")}
REQUIRED = {
    **{k: "contacts:read" for k in READS},
    **{k: "contacts:write" for k in WRITES},
    **{k: "contacts:delete" for k in DELETES},
}


async def call(api: Api, method: str, path: str, body: dict[str, Any] | None, cid: int) -> int:
    payload = None
    if body is not None:
        payload = {**body, "inbox_id": api.tenant.inbox_id} if path == "/contacts" else body
    response = await api.request(method, path.replace("{id}", str(cid)), json=payload)
    if response.status_code >= 400:
        assert "error" in response.json() or "message" in response.json()
    return response.status_code


SCOPES = ["contacts:read", "contacts:write", "contacts:delete", "admin"]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
@pytest.mark.parametrize("scope", SCOPES)
async def test_key_scopes_are_independent(
    client: httpx.AsyncClient,
    tenant: Tenant,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    scope: str,
) -> None:
    owner = Api(client, "v2", tenant, basic(tenant.key, tenant.secret))
    contact = await owner.create_contact(name="Target")
    api = owner.with_headers(await tenant.key_headers([scope]))
    status = await call(api, method, path, body, contact["id"])
    allowed = scope == "admin" or REQUIRED[(method, path.split("?")[0])] == scope
    if allowed:
        assert status == 200
    else:
        assert status == 403


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
async def test_roles(
    client: httpx.AsyncClient,
    dialect: str,
    tenant: Tenant,
    api: Api,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    """An agent can do everything but delete; an administrator can do everything."""
    contact = await api.create_contact(name="Target")
    agent = await agent_api(client, dialect, tenant)
    expected = 403 if (method, path) in DELETES else 200
    assert await call(agent, method, path, body, contact["id"]) == expected
    assert await call(api, method, path, body, contact["id"]) == 200


async def test_forbidden_body_and_role_before_resource(
    client: httpx.AsyncClient, dialect: str, tenant: Tenant
) -> None:
    agent = await agent_api(client, dialect, tenant)
    response = await agent.delete("/contacts/999999999")
    assert response.status_code == 403
    assert response.json() == FORBIDDEN


@pytest.mark.parametrize(("method", "path", "body"), [r for r in ROUTES if "{id}" in r[1]])
async def test_another_account_can_neither_see_nor_change(
    api: Api,
    other_api: Api,
    method: str,
    path: str,
    body: dict[str, Any] | None,
) -> None:
    contact = await api.create_contact(name="Mine", email="mine@example.com")
    await api.post(f"/contacts/{contact['id']}/labels", json={"labels": ["keep"]})
    response = await other_api.request(method, path.replace("{id}", str(contact["id"])), json=body)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    missing = await other_api.request(method, path.replace("{id}", "999999999999"), json=body)
    assert (missing.status_code, missing.json()) == (404, NOT_FOUND)
    shown = (await api.get(f"/contacts/{contact['id']}")).json()["payload"]
    assert shown["name"] == "Mine"
    labels = (await api.get(f"/contacts/{contact['id']}/labels")).json()["payload"]
    assert labels == ["keep"]


async def test_lists_searches_and_inboxes_are_per_account(api: Api, other_api: Api) -> None:
    await api.create_contact(name="Alice Mine", email="alice@mine.example")
    await other_api.create_contact(name="Alice Theirs", email="alice@theirs.example")
    for path in ("/contacts", "/contacts/search?q=alice", "/contacts?q=alice"):
        body = (await api.get(path)).json()
        assert body["meta"]["count"] == 1
        assert [c["name"] for c in body["payload"]] == ["Alice Mine"]
    inboxes = (await api.get("/inboxes")).json()["payload"]
    assert [i["id"] for i in inboxes] == [api.tenant.inbox_id]


async def test_create_with_another_accounts_inbox_creates_nothing(api: Api, other_api: Api) -> None:
    response = await api.post(
        "/contacts", json={"inbox_id": other_api.tenant.inbox_id, "name": "X"}
    )
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert (await api.get("/contacts")).json()["meta"]["count"] == 0
    assert (await other_api.get("/contacts")).json()["meta"]["count"] == 0


async def test_same_email_in_two_accounts_is_allowed(api: Api, other_api: Api) -> None:
    await api.create_contact(email="shared@example.com")
    await other_api.create_contact(email="shared@example.com")


@pytest.mark.parametrize("contact_id", ["abc", "0", "-1", "1.5", "99999999999999999999999"])
async def test_invalid_ids_are_404(api: Api, contact_id: str) -> None:
    for method in ("GET", "PATCH", "PUT", "DELETE"):
        response = await api.request(method, f"/contacts/{contact_id}", json={})
        assert (response.status_code, response.json()) == (404, NOT_FOUND)
    labels = await api.get(f"/contacts/{contact_id}/labels")
    assert (labels.status_code, labels.json()) == (404, NOT_FOUND)
