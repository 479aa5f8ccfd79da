"""Contract §1.1, §1.2, §3 and §7 (404s): authentication, authorization and tenancy.

Every check runs in both dialects. The order the contract fixes is credentials, then account
membership, then role/scope, then the resource; another account's data answers exactly like an
id that does not exist.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support import Api, Tenant, admin_api, basic

MISSING = {"error": "Missing credentials"}
INVALID = {"error": "Invalid Access Token"}
NOT_MEMBER = {"error": "You are not authorized to access this account"}
FORBIDDEN = {"error": "You are not authorized to do this action"}
NOT_FOUND = {"error": "Resource could not be found"}
REALM = 'Basic realm="contactdesk"'

READ, WRITE, DELETE, ADMIN = "contacts:read", "contacts:write", "contacts:delete", "admin"
MAX_ID = 2**63 - 1  # a well-formed 64-bit id that no row has
BAD_IDS = ["abc", "0", "-1", "99999999999999999999999", str(2**63), "1.5"]


def prefix(dialect: str, account: int | str) -> str:
    return "/api/v2/accounts" if dialect == "v2" else f"/api/v1/accounts/{account}"


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def assert_error(response: httpx.Response, status: int, body: dict[str, str], dialect: str) -> None:
    assert (response.status_code, response.json()) == (status, body), response.text
    if dialect == "v2" and status == 401:
        assert response.headers.get("www-authenticate") == REALM


# --- the endpoints ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One endpoint: {id} in the path is a contact id; body() gets the inbox id to create with."""

    name: str
    method: str
    path: str
    permission: str
    body: Callable[[int | str], dict[str, Any]] | None = None

    @property
    def on_contact(self) -> bool:
        return "{id}" in self.path

    @property
    def changes(self) -> bool:
        return self.method != "GET"


OPS = [
    Op("list", "GET", "/contacts", READ),
    Op("search", "GET", "/contacts/search?q=ada", READ),
    Op("show", "GET", "/contacts/{id}", READ),
    Op("create", "POST", "/contacts", WRITE, lambda inbox: {"name": "Created", "inbox_id": inbox}),
    Op("patch", "PATCH", "/contacts/{id}", WRITE, lambda _: {"name": "Changed"}),
    Op("put", "PUT", "/contacts/{id}", WRITE, lambda _: {"name": "Changed"}),
    Op("delete", "DELETE", "/contacts/{id}", DELETE),
    Op("labels_get", "GET", "/contacts/{id}/labels", READ),
    Op("labels_post", "POST", "/contacts/{id}/labels", WRITE, lambda _: {"labels": ["changed"]}),
    Op("inboxes", "GET", "/inboxes", READ),
]
OPS_BY_NAME = {op.name: op for op in OPS}
CONTACT_OPS = [op for op in OPS if op.on_contact]


def ops(names: list[str] | None = None) -> list[Any]:
    chosen = OPS if names is None else [OPS_BY_NAME[name] for name in names]
    return [pytest.param(op, id=op.name) for op in chosen]


async def send(
    client: httpx.AsyncClient,
    base: str,
    headers: dict[str, str],
    op: Op,
    contact_id: int | str,
    inbox_id: int | str,
) -> httpx.Response:
    path = base + op.path.replace("{id}", str(contact_id))
    body = op.body(inbox_id) if op.body is not None else None
    return await client.request(op.method, path, headers=headers, json=body)


async def perform(api: Api, op: Op, contact_id: int | str, inbox_id: int | str) -> httpx.Response:
    return await send(api.client, api.prefix, api.headers, op, contact_id, inbox_id)


async def seed(owner: Api) -> int:
    """A contact worth protecting: searchable as "ada", with an inbox and a label."""
    contact = await owner.create_contact(
        name="Ada Lovelace",
        email="ada@example.com",
        phone_number="+15550000001",
        identifier="ada-1",
        custom_attributes={"tier": "gold"},
    )
    labels = await owner.post(f"/contacts/{contact['id']}/labels", json={"labels": ["vip"]})
    assert labels.status_code == 200, labels.text
    contact_id: int = contact["id"]
    return contact_id


async def snapshot(owner: Api, contact_id: int | None = None) -> dict[str, Any]:
    """Everything the owner can see: the list, and the contact with its labels."""
    listing = await owner.get("/contacts")
    assert listing.status_code == 200, listing.text
    state: dict[str, Any] = {"list": listing.json()}
    if contact_id is not None:
        shown = await owner.get(f"/contacts/{contact_id}")
        labels = await owner.get(f"/contacts/{contact_id}/labels")
        state["show"] = (shown.status_code, shown.json())
        state["labels"] = (labels.status_code, labels.json())
    return state


def count(state: dict[str, Any]) -> int:
    total: int = state["list"]["meta"]["count"]
    return total


async def assert_done(
    owner: Api, op: Op, response: httpx.Response, contact_id: int, before: dict[str, Any]
) -> None:
    """The operation succeeded and did what it says, as the owner sees it."""
    assert response.status_code == 200, response.text
    after = await snapshot(owner)
    if op.name == "delete":
        assert response.content == b""
        shown = await owner.get(f"/contacts/{contact_id}")
        assert_error(shown, 404, NOT_FOUND, owner.dialect)
        assert count(after) == count(before) - 1
        return
    body = response.json()
    if op.name in ("list", "search"):
        assert body["meta"]["count"] == 1
        assert [c["id"] for c in body["payload"]] == [contact_id]
    elif op.name == "show":
        assert body["payload"]["id"] == contact_id
    elif op.name == "labels_get":
        assert body == {"payload": ["vip"]}
    elif op.name == "inboxes":
        assert [inbox["id"] for inbox in body["payload"]] == [owner.tenant.inbox_id]
    elif op.name == "create":
        assert body["payload"]["contact"]["name"] == "Created"
        assert count(after) == count(before) + 1
    elif op.name in ("patch", "put"):
        assert body["payload"]["name"] == "Changed"
        assert (await owner.get(f"/contacts/{contact_id}")).json()["payload"]["name"] == "Changed"
    elif op.name == "labels_post":
        assert body == {"payload": ["changed"]}
    if op.name != "create":
        assert count(after) == count(before)


# --- §1.2: credentials -----------------------------------------------------------------------


class TestMissingCredentials:
    @pytest.mark.parametrize("op", ops())
    async def test_every_endpoint(
        self, client: httpx.AsyncClient, dialect: str, tenant: Tenant, api: Api, op: Op
    ) -> None:
        contact_id = await seed(api)
        before = await snapshot(api, contact_id)
        response = await send(
            client, prefix(dialect, tenant.account_id), {}, op, contact_id, tenant.inbox_id
        )
        assert_error(response, 401, MISSING, dialect)
        assert await snapshot(api, contact_id) == before

    async def test_v1_missing_credentials_come_before_the_account(
        self, client: httpx.AsyncClient
    ) -> None:
        response = await client.get(f"{prefix('v1', MAX_ID)}/contacts")
        assert_error(response, 401, MISSING, "v1")


class TestInvalidCredentials:
    @pytest.mark.parametrize("op", ops())
    async def test_every_endpoint(
        self, client: httpx.AsyncClient, dialect: str, tenant: Tenant, api: Api, op: Op
    ) -> None:
        contact_id = await seed(api)
        before = await snapshot(api, contact_id)
        if dialect == "v2":
            headers = basic(tenant.key, tenant.secret + "x")
        else:
            headers = {"api_access_token": tenant.admin_token + "x"}
        response = await send(
            client, prefix(dialect, tenant.account_id), headers, op, contact_id, tenant.inbox_id
        )
        assert_error(response, 401, INVALID, dialect)
        assert await snapshot(api, contact_id) == before

    @pytest.mark.parametrize(
        "authorization",
        [
            pytest.param(lambda t, o: f"Bearer {t.admin_token}", id="bearer-scheme"),
            pytest.param(lambda t, o: f"Token {b64(f'{t.key}:{t.secret}')}", id="token-scheme"),
            pytest.param(lambda t, o: b64(f"{t.key}:{t.secret}"), id="no-scheme"),
            pytest.param(lambda t, o: "Basic", id="basic-without-credentials"),
            pytest.param(lambda t, o: "Basic !!not*base64!!", id="bad-base64"),
            pytest.param(lambda t, o: f"Basic {b64(f'{t.key}:{t.secret}')[:-2]}", id="truncated"),
            pytest.param(lambda t, o: f"Basic {b64(t.key + t.secret)}", id="no-colon"),
            pytest.param(lambda t, o: f"Basic {b64(t.key + ':')}", id="empty-secret"),
            pytest.param(lambda t, o: f"Basic {b64(':' + t.secret)}", id="empty-key"),
            pytest.param(lambda t, o: f"Basic {b64(t.key + ':wrong')}", id="wrong-secret"),
            pytest.param(lambda t, o: f"Basic {b64('unknown:' + t.secret)}", id="unknown-key"),
            pytest.param(lambda t, o: f"Basic {b64(f'{t.key}:{o.secret}')}", id="other-secret"),
            pytest.param(lambda t, o: f"Basic {b64(t.admin_token + ':x')}", id="v1-token"),
        ],
    )
    async def test_v2_authorization_that_is_not_valid_basic(
        self,
        client: httpx.AsyncClient,
        tenant: Tenant,
        other_tenant: Tenant,
        authorization: Callable[[Tenant, Tenant], str],
    ) -> None:
        headers = {"Authorization": authorization(tenant, other_tenant)}
        response = await client.get(f"{prefix('v2', 0)}/contacts", headers=headers)
        assert_error(response, 401, INVALID, "v2")

    @pytest.mark.parametrize(
        "headers",
        [
            pytest.param(lambda t: {"api_access_token": "nope"}, id="unknown-token"),
            pytest.param(lambda t: {"Authorization": "Bearer nope"}, id="unknown-bearer"),
            pytest.param(lambda t: {"api_access_token": t.key}, id="v2-key-as-token"),
            pytest.param(lambda t: {"api_access_token": t.admin_token[:-1]}, id="truncated"),
            pytest.param(lambda t: basic(t.key, t.secret), id="v2-basic"),
        ],
    )
    async def test_v1_bad_token(
        self,
        client: httpx.AsyncClient,
        tenant: Tenant,
        headers: Callable[[Tenant], dict[str, str]],
    ) -> None:
        response = await client.get(
            f"{prefix('v1', tenant.account_id)}/contacts", headers=headers(tenant)
        )
        assert_error(response, 401, INVALID, "v1")

    @pytest.mark.parametrize("contact_id", [str(MAX_ID), "abc"])
    @pytest.mark.parametrize("credentials", ["missing", "invalid"])
    @pytest.mark.parametrize("op", ops([op.name for op in CONTACT_OPS]))
    async def test_credentials_come_before_the_resource(
        self,
        client: httpx.AsyncClient,
        dialect: str,
        tenant: Tenant,
        op: Op,
        credentials: str,
        contact_id: str,
    ) -> None:
        headers: dict[str, str] = {}
        if credentials == "invalid" and dialect == "v2":
            headers = basic(tenant.key, "wrong")
        elif credentials == "invalid":
            headers = {"api_access_token": "nope"}
        response = await send(
            client, prefix(dialect, tenant.account_id), headers, op, contact_id, tenant.inbox_id
        )
        expected = MISSING if credentials == "missing" else INVALID
        assert_error(response, 401, expected, dialect)

    @pytest.mark.parametrize("account", ["abc", str(MAX_ID), "0"])
    async def test_v1_invalid_token_on_a_missing_account(
        self, client: httpx.AsyncClient, account: str
    ) -> None:
        """Credentials come first: a stranger learns nothing about which accounts exist."""
        response = await client.get(
            f"{prefix('v1', account)}/contacts", headers={"api_access_token": "nope"}
        )
        assert_error(response, 401, INVALID, "v1")


class TestV1TokenStyles:
    @pytest.mark.parametrize("style", ["api_access_token", "bearer", "both"])
    @pytest.mark.parametrize("role", ["administrator", "agent"])
    async def test_accepted(
        self, client: httpx.AsyncClient, tenant: Tenant, style: str, role: str
    ) -> None:
        contact_id = await seed(admin_api(client, "v1", tenant))
        token = tenant.admin_token if role == "administrator" else tenant.agent_token
        headers: dict[str, str] = {}
        if style in ("api_access_token", "both"):
            headers["api_access_token"] = token
        if style in ("bearer", "both"):
            headers["Authorization"] = f"Bearer {token}"
        caller = Api(client, "v1", tenant, headers)
        listing = await caller.get("/contacts")
        assert listing.status_code == 200, listing.text
        assert [c["id"] for c in listing.json()["payload"]] == [contact_id]
        # The role is the token's, whichever header carried it.
        deleted = await caller.delete(f"/contacts/{contact_id}")
        if role == "agent":
            assert_error(deleted, 403, FORBIDDEN, "v1")
        else:
            assert deleted.status_code == 200


# --- §1.2: membership (v1) -------------------------------------------------------------------


class TestV1Membership:
    @pytest.mark.parametrize("account", ["abc", "0", "-1", "99999999999999999999999", "1.5"])
    async def test_invalid_account_id(
        self, client: httpx.AsyncClient, tenant: Tenant, account: str
    ) -> None:
        response = await client.get(
            f"{prefix('v1', account)}/contacts", headers={"api_access_token": tenant.admin_token}
        )
        assert_error(response, 401, NOT_MEMBER, "v1")

    @pytest.mark.parametrize("op", ops())
    async def test_account_that_does_not_exist(
        self, client: httpx.AsyncClient, tenant: Tenant, op: Op
    ) -> None:
        headers = {"api_access_token": tenant.admin_token}
        response = await send(client, prefix("v1", MAX_ID), headers, op, MAX_ID, tenant.inbox_id)
        assert_error(response, 401, NOT_MEMBER, "v1")

    @pytest.mark.parametrize("role", ["administrator", "agent"])
    @pytest.mark.parametrize("op", ops())
    async def test_token_of_another_account(
        self, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, role: str, op: Op
    ) -> None:
        """Same answer as for an account that does not exist; nothing seen, nothing changed."""
        owner = admin_api(client, "v1", tenant)
        contact_id = await seed(owner)
        before = await snapshot(owner, contact_id)
        token = other_tenant.admin_token if role == "administrator" else other_tenant.agent_token
        for headers in ({"api_access_token": token}, {"Authorization": f"Bearer {token}"}):
            response = await send(
                client, owner.prefix, headers, op, contact_id, other_tenant.inbox_id
            )
            assert_error(response, 401, NOT_MEMBER, "v1")
        assert await snapshot(owner, contact_id) == before
        assert count(await snapshot(admin_api(client, "v1", other_tenant))) == 0

    async def test_membership_comes_before_the_resource(
        self, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        response = await client.delete(
            f"{prefix('v1', tenant.account_id)}/contacts/{MAX_ID}",
            headers={"api_access_token": other_tenant.agent_token},
        )
        assert_error(response, 401, NOT_MEMBER, "v1")


# --- §1.2: permissions -----------------------------------------------------------------------


@dataclass(frozen=True)
class Principal:
    """A v2 key with some scopes, or a v1 user with a role."""

    dialect: str
    scopes: tuple[str, ...] = ()
    role: str = ""

    @property
    def label(self) -> str:
        return f"v1-{self.role}" if self.dialect == "v1" else "v2-" + "+".join(self.scopes)

    def may(self, op: Op) -> bool:
        if self.dialect == "v1":
            return self.role == "administrator" or op.permission != DELETE
        return ADMIN in self.scopes or op.permission in self.scopes

    async def api(self, client: httpx.AsyncClient, tenant: Tenant) -> Api:
        if self.dialect == "v2":
            return Api(client, "v2", tenant, await tenant.key_headers(list(self.scopes)))
        token = tenant.admin_token if self.role == "administrator" else tenant.agent_token
        return Api(client, "v1", tenant, {"api_access_token": token})


PRINCIPALS = [
    Principal("v2", (READ,)),
    Principal("v2", (WRITE,)),
    Principal("v2", (DELETE,)),
    Principal("v2", (ADMIN,)),
    Principal("v2", (READ, WRITE)),
    Principal("v2", (READ, DELETE)),
    Principal("v2", (WRITE, DELETE)),
    Principal("v1", role="agent"),
    Principal("v1", role="administrator"),
]


def principals(where: Callable[[Principal], bool] | None = None) -> list[Any]:
    return [pytest.param(p, id=p.label) for p in PRINCIPALS if where is None or where(p)]


class TestPermissions:
    @pytest.mark.parametrize("op", ops())
    @pytest.mark.parametrize("principal", principals())
    async def test_matrix(
        self, client: httpx.AsyncClient, tenant: Tenant, principal: Principal, op: Op
    ) -> None:
        """Scopes are independent, admin grants everything; agents may do all but delete."""
        owner = admin_api(client, principal.dialect, tenant)
        contact_id = await seed(owner)
        before = await snapshot(owner, contact_id)
        caller = await principal.api(client, tenant)
        response = await perform(caller, op, contact_id, tenant.inbox_id)
        if principal.may(op):
            await assert_done(owner, op, response, contact_id, before)
        else:
            assert_error(response, 403, FORBIDDEN, principal.dialect)
            assert await snapshot(owner, contact_id) == before

    @pytest.mark.parametrize("contact", ["missing", "foreign", "abc"])
    @pytest.mark.parametrize(
        ("principal", "op"),
        [
            pytest.param(p, op, id=f"{p.label}-{op.name}")
            for p in PRINCIPALS
            for op in CONTACT_OPS
            if not p.may(op)
        ],
    )
    async def test_scope_comes_before_the_resource(
        self,
        client: httpx.AsyncClient,
        tenant: Tenant,
        other_tenant: Tenant,
        principal: Principal,
        op: Op,
        contact: str,
    ) -> None:
        """An agent deleting a contact that is not there gets 403, not 404."""
        foreign = admin_api(client, principal.dialect, other_tenant)
        target: int | str = MAX_ID if contact == "missing" else "abc"
        if contact == "foreign":
            target = await seed(foreign)
        before = await snapshot(foreign)
        caller = await principal.api(client, tenant)
        response = await perform(caller, op, target, tenant.inbox_id)
        assert_error(response, 403, FORBIDDEN, principal.dialect)
        assert await snapshot(foreign) == before

    @pytest.mark.parametrize("principal", principals(lambda p: not p.may(OPS_BY_NAME["create"])))
    async def test_scope_comes_before_the_inbox(
        self, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant, principal: Principal
    ) -> None:
        caller = await principal.api(client, tenant)
        for inbox_id in (other_tenant.inbox_id, MAX_ID):
            response = await perform(caller, OPS_BY_NAME["create"], 0, inbox_id)
            assert_error(response, 403, FORBIDDEN, principal.dialect)
        for owner in (tenant, other_tenant):
            assert count(await snapshot(admin_api(client, principal.dialect, owner))) == 0


# --- §1.1, §3: tenancy -----------------------------------------------------------------------


class TestTenancy:
    @pytest.mark.parametrize("op", ops([op.name for op in CONTACT_OPS]))
    async def test_another_accounts_contact_is_not_found(
        self, api: Api, other_api: Api, op: Op
    ) -> None:
        """Same 404 as an id that does not exist; the owner still sees it unchanged."""
        contact_id = await seed(api)
        mine = await seed(other_api)  # the other account has data of its own, too
        before = await snapshot(api, contact_id)
        theirs = await snapshot(other_api, mine)
        foreign = await perform(other_api, op, contact_id, other_api.tenant.inbox_id)
        missing = await perform(other_api, op, MAX_ID, other_api.tenant.inbox_id)
        assert_error(foreign, 404, NOT_FOUND, api.dialect)
        assert_error(missing, 404, NOT_FOUND, api.dialect)
        assert await snapshot(api, contact_id) == before
        assert await snapshot(other_api, mine) == theirs

    async def test_lists_and_counts_are_per_account(self, api: Api, other_api: Api) -> None:
        mine = {(await api.create_contact(name=f"Shared {i}"))["id"] for i in range(3)}
        theirs = {(await other_api.create_contact(name=f"Shared {i}"))["id"] for i in range(2)}
        for contact_id in mine:
            await api.post(f"/contacts/{contact_id}/labels", json={"labels": ["vip"]})
        for contact_id in theirs:
            await other_api.post(f"/contacts/{contact_id}/labels", json={"labels": ["vip"]})
        queries = [
            "/contacts",
            "/contacts?q=shared",
            "/contacts/search?q=shared",
            "/contacts?labels=vip",
            "/contacts/search?q=shared&labels=vip",
            "/contacts?page_size=1",
        ]
        for caller, expected in ((api, mine), (other_api, theirs)):
            for query in queries:
                response = await caller.get(query)
                assert response.status_code == 200, (query, response.text)
                body = response.json()
                assert body["meta"]["count"] == len(expected), query
                assert {c["id"] for c in body["payload"]} <= expected, query
            full = (await caller.get("/contacts?page_size=100")).json()["payload"]
            assert {c["id"] for c in full} == expected

    @pytest.mark.parametrize("path", ["/contacts?q={q}", "/contacts/search?q={q}"])
    @pytest.mark.parametrize("term", ["id", "email", "identifier", "phone"])
    async def test_search_never_finds_another_accounts_contact(
        self, api: Api, other_api: Api, path: str, term: str
    ) -> None:
        contact_id = await seed(api)
        q = {
            "id": str(contact_id),
            "email": "ada@example.com",
            "identifier": "ada-1",
            "phone": "15550000001",
        }[term]
        response = await other_api.get(path.format(q=q))
        assert response.status_code == 200, response.text
        assert response.json()["meta"]["count"] == 0
        assert response.json()["payload"] == []

    async def test_create_with_another_accounts_inbox(self, api: Api, other_api: Api) -> None:
        """404 as for an unknown inbox, and nothing is created in either account."""
        contact_id = await seed(api)
        before = await snapshot(api, contact_id)
        for inbox_id in (api.tenant.inbox_id, MAX_ID):
            response = await other_api.post(
                "/contacts",
                json={"name": "Intruder", "email": "x@example.com", "inbox_id": inbox_id},
            )
            assert_error(response, 404, NOT_FOUND, api.dialect)
        assert count(await snapshot(other_api)) == 0
        assert await snapshot(api, contact_id) == before

    async def test_inboxes_are_per_account(self, api: Api, other_api: Api) -> None:
        extra = await api.tenant.add_inbox("Support mail", "Channel::Email")
        mine = (await api.get("/inboxes")).json()["payload"]
        theirs = (await other_api.get("/inboxes")).json()["payload"]
        assert {inbox["id"] for inbox in mine} == {api.tenant.inbox_id, extra}
        assert [inbox["id"] for inbox in theirs] == [other_api.tenant.inbox_id]

    async def test_uniqueness_is_per_account(self, api: Api, other_api: Api) -> None:
        """Another account's email, phone or identifier is never "already taken"."""
        contact_id = await seed(api)
        before = await snapshot(api, contact_id)
        taken = {"email": "ada@example.com", "phone_number": "+15550000001", "identifier": "ada-1"}
        blank = await other_api.create_contact(name="Blank")
        updated = await other_api.patch(f"/contacts/{blank['id']}", json=taken)
        assert updated.status_code == 200, updated.text
        assert (await other_api.delete(f"/contacts/{blank['id']}")).status_code == 200
        created = await other_api.create_contact(name="Twin", **taken)
        assert created["email"] == "ada@example.com"
        assert await snapshot(api, contact_id) == before

    async def test_v2_key_implies_its_own_account(
        self, client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
    ) -> None:
        """There is no account in the v2 path: the key decides, whatever else is sent."""
        contact_id = await seed(admin_api(client, "v2", tenant))
        response = await client.get(
            f"{prefix('v2', 0)}/contacts/{contact_id}",
            headers={
                **basic(other_tenant.key, other_tenant.secret),
                "api_access_token": tenant.admin_token,
            },
        )
        assert_error(response, 404, NOT_FOUND, "v2")


# --- §3, §7: ids -----------------------------------------------------------------------------


class TestInvalidIds:
    @pytest.mark.parametrize("bad_id", BAD_IDS)
    @pytest.mark.parametrize("op", ops([op.name for op in CONTACT_OPS]))
    async def test_not_found_never_500(self, api: Api, op: Op, bad_id: str) -> None:
        contact_id = await seed(api)
        before = await snapshot(api, contact_id)
        response = await perform(api, op, bad_id, api.tenant.inbox_id)
        assert_error(response, 404, NOT_FOUND, api.dialect)
        assert await snapshot(api, contact_id) == before

    @pytest.mark.parametrize("op", ops([op.name for op in CONTACT_OPS]))
    async def test_largest_id_that_does_not_exist(self, api: Api, op: Op) -> None:
        response = await perform(api, op, MAX_ID, api.tenant.inbox_id)
        assert_error(response, 404, NOT_FOUND, api.dialect)

    async def test_deleted_contact_is_not_found(self, api: Api) -> None:
        contact_id = await seed(api)
        assert (await api.delete(f"/contacts/{contact_id}")).status_code == 200
        for op in CONTACT_OPS:
            response = await perform(api, op, contact_id, api.tenant.inbox_id)
            assert_error(response, 404, NOT_FOUND, api.dialect)
