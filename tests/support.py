"""Test helpers: tenants built through the real provisioning code, and dialect-bound clients."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx

from contactdesk.actions.provisioning import (
    create_account,
    create_account_inbox,
    create_api_key,
    create_user,
)
from contactdesk.db import Database

DIALECTS = ("v1", "v2")

# Contract §2: every contact has these keys (contact_inboxes aside); every inbox these six.
CONTACT_KEYS = {
    "additional_attributes",
    "availability_status",
    "email",
    "id",
    "name",
    "first_name",
    "last_name",
    "phone_number",
    "blocked",
    "identifier",
    "thumbnail",
    "custom_attributes",
    "last_activity_at",
    "created_at",
}
INBOX_KEYS = {"id", "avatar_url", "channel_id", "name", "channel_type", "provider"}


def basic(key: str, secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{key}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@dataclass
class Tenant:
    """A fresh account with an API inbox, an administrator, an agent and an all-scopes key."""

    db: Database
    account_id: int
    inbox_id: int
    admin_token: str
    agent_token: str
    key: str
    secret: str
    extra_inboxes: dict[str, int] = field(default_factory=dict)

    async def key_headers(self, scopes: list[str]) -> dict[str, str]:
        """Headers of a new v2 key of this account with exactly these scopes."""
        async with self.db.writer() as session:
            issued = await create_api_key(session, self.account_id, scopes)
            await session.commit()
        return basic(issued.key.key, issued.secret)

    async def add_inbox(self, name: str, channel_type: str) -> int:
        async with self.db.writer() as session:
            inbox = await create_account_inbox(session, self.account_id, name, channel_type)
            await session.commit()
        return inbox.id


async def make_tenant(db: Database, name: str = "Acme") -> Tenant:
    async with db.writer() as session:
        account = await create_account(session, name)
        inbox = await create_account_inbox(session, account.id, "API", "Channel::Api")
        suffix = uuid.uuid4().hex[:12]
        admin = await create_user(
            session, account.id, "Admin", f"admin-{suffix}@example.com", "administrator"
        )
        agent = await create_user(
            session, account.id, "Agent", f"agent-{suffix}@example.com", "agent"
        )
        key = await create_api_key(
            session, account.id, ["contacts:read", "contacts:write", "contacts:delete", "admin"]
        )
        await session.commit()
    return Tenant(
        db=db,
        account_id=account.id,
        inbox_id=inbox.id,
        admin_token=admin.access_token,
        agent_token=agent.access_token,
        key=key.key.key,
        secret=key.secret,
    )


@dataclass
class Api:
    """One dialect, one tenant, one set of credentials: paths are relative to the prefix."""

    client: httpx.AsyncClient
    dialect: str
    tenant: Tenant
    headers: dict[str, str]

    @property
    def prefix(self) -> str:
        if self.dialect == "v2":
            return "/api/v2/accounts"
        return f"/api/v1/accounts/{self.tenant.account_id}"

    def url(self, path: str) -> str:
        return self.prefix + path

    def with_headers(self, headers: dict[str, str]) -> Api:
        return Api(self.client, self.dialect, self.tenant, headers)

    async def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        return await self.client.request(method, self.url(path), headers=headers, **kwargs)

    async def get(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("POST", path, **kwargs)

    async def patch(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PATCH", path, **kwargs)

    async def put(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("PUT", path, **kwargs)

    async def delete(self, path: str, **kwargs: Any) -> httpx.Response:
        return await self.request("DELETE", path, **kwargs)

    async def create_contact(self, **fields: Any) -> dict[str, Any]:
        """Create a contact (with the tenant's inbox unless inbox_id is given); return it."""
        body = {"inbox_id": self.tenant.inbox_id, **fields}
        response = await self.post("/contacts", json=body)
        assert response.status_code == 200, response.text
        contact: dict[str, Any] = response.json()["payload"]["contact"]
        return contact


def admin_api(client: httpx.AsyncClient, dialect: str, tenant: Tenant) -> Api:
    """Full rights: the administrator's token (v1) or the all-scopes key (v2)."""
    if dialect == "v2":
        return Api(client, dialect, tenant, basic(tenant.key, tenant.secret))
    return Api(client, dialect, tenant, {"api_access_token": tenant.admin_token})


async def agent_api(client: httpx.AsyncClient, dialect: str, tenant: Tenant) -> Api:
    """Agent rights: the agent's token (v1) or a read+write key (v2)."""
    if dialect == "v2":
        headers = await tenant.key_headers(["contacts:read", "contacts:write"])
        return Api(client, dialect, tenant, headers)
    return Api(client, dialect, tenant, {"api_access_token": tenant.agent_token})


Params = list[tuple[str, str]]


async def get_ok(api: Api, path: str, params: Params) -> dict[str, Any]:
    """A list or search answer that must be a 200 with meta and payload."""
    response = await api.get(path, params=list(params))
    assert response.status_code == 200, (path, params, response.status_code, response.text)
    body: dict[str, Any] = response.json()
    assert set(body) >= {"meta", "payload"}, body
    return body


async def get_error(api: Api, path: str, params: Params) -> tuple[int, Any]:
    response = await api.get(path, params=params)
    try:
        body: Any = response.json()
    except ValueError:
        body = response.text
    return response.status_code, body


def ids(body: dict[str, Any]) -> list[int]:
    return [c["id"] for c in body["payload"]]


async def set_labels(api: Api, contact_id: int, labels: list[str]) -> None:
    response = await api.post(f"/contacts/{contact_id}/labels", json={"labels": labels})
    assert response.status_code == 200, response.text


async def show(api: Api, contact_id: int) -> dict[str, Any]:
    """GET /contacts/{id}, which must be a 200 {"payload": contact}."""
    response = await api.get(f"/contacts/{contact_id}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"payload"}
    contact: dict[str, Any] = body["payload"]
    return contact


async def contact_labels(api: Api, contact_id: int) -> list[str]:
    response = await api.get(f"/contacts/{contact_id}/labels")
    assert response.status_code == 200, response.text
    names: list[str] = response.json()["payload"]
    return names


async def contact_count(api: Api, params: dict[str, str] | None = None) -> int:
    """meta.count of GET /contacts."""
    response = await api.get("/contacts", params=params or {})
    assert response.status_code == 200, response.text
    total: int = response.json()["meta"]["count"]
    return total


# One bad value for every writable contact field, and the message each gets (all at once).
EVERY_FIELD_BAD: dict[str, Any] = {
    "name": "n" * 256,
    "first_name": "f" * 256,
    "last_name": "l" * 256,
    "email": "e" * 250 + "@x.com",
    "phone_number": "+1" + "2" * 254,
    "identifier": "i" * 256,
    "avatar_url": "ftp://example.com/a.png",
    "blocked": None,
    "availability_status": None,
    "last_activity_at": "soon",
    "custom_attributes": [],
    "additional_attributes": "x",
}
EVERY_FIELD_BAD_MESSAGES = {
    "name": "Name is too long (maximum is 255 characters)",
    "first_name": "First name is too long (maximum is 255 characters)",
    "last_name": "Last name is too long (maximum is 255 characters)",
    "email": "Email is too long (maximum is 255 characters)",
    "phone_number": "Phone number is too long (maximum is 255 characters)",
    "identifier": "Identifier is too long (maximum is 255 characters)",
    "avatar_url": "Avatar url is invalid",
    "blocked": "Blocked is invalid",
    "availability_status": "Availability status is invalid",
    "last_activity_at": "Last activity at is invalid",
    "custom_attributes": "Custom attributes is invalid",
    "additional_attributes": "Additional attributes is invalid",
}
