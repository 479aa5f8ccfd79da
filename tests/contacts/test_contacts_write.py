"""Contract §2, §3 (show, delete), §5 (create), §6 (update) and §7 (validation), both dialects.

The seeds 002 (create) and 003 (update) are requirements too: their example bodies are used
verbatim below, once as pasted (with the `//` comments and the trailing comma, which must be
explained as malformed JSON) and once made valid (which must work).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Any

import httpx
import pytest

from tests.contacts.field_cases import INVALID, PHONE_E164, SEED_EPOCH, VALID
from tests.support import (
    CONTACT_KEYS,
    EVERY_FIELD_BAD,
    EVERY_FIELD_BAD_MESSAGES,
    INBOX_KEYS,
    Api,
    Tenant,
    admin_api,
    contact_count,
    show,
)

JSON_HEADERS = {"Content-Type": "application/json"}
NOT_FOUND = {"error": "Resource could not be found"}
NOT_AN_OBJECT = {"error": "Request body must be a JSON object"}
INCLUDE_ERROR = {"error": "include_contact_inboxes must be true or false"}
INBOX_BLANK = {"message": "Inbox can't be blank", "attributes": ["inbox_id"]}


# Contact ids that are not in any account, or not valid ids at all (§3: 404, never a 500).
BAD_CONTACT_IDS = ["0", "-1", "abc", "1.5", "999999999999", "9223372036854775808", "1e3"]


# Seed 002 (create), exactly as the page shows it: a `//` comment and a trailing comma.
SEED_CREATE_RAW = """{
"inbox_id": 407,
"name": "Test", // 选填
"email": "alice@acme.inc",
"phone_number": "+123456789",
"avatar_url": "https://example.com/avatar.png",
"identifier": "1234567890",
}"""

# Seed 003 (update), exactly as the page shows it: a `//` comment inside custom_attributes.
SEED_UPDATE_RAW = """{
"additional_attributes":
{
"description": "",
"company_name": "",
"city": "",
"telegram": "",
"country": "",
"country_code": "",
"social_profiles":
{
"facebook": "",
"github": "",
"instagram": "",
"linkedin": "",
"twitter": ""
}
},
"availability_status": "offline",
"email": "support@jiguang.cn",
"name": "support",
"phone_number": null,
"blocked": false,
"identifier": "2222",
"thumbnail": "",
"last_activity_at": 1765441908,
"custom_attributes":
{ // 可选:合并更新自定义字段(增量合并)
"vip_level": "platinum"
},
"created_at": 1765441895,
"first_name": "support",
"last_name": ""
}"""

SEED_UPDATE_ADDITIONAL: dict[str, Any] = {
    "description": "",
    "company_name": "",
    "city": "",
    "telegram": "",
    "country": "",
    "country_code": "",
    "social_profiles": {
        "facebook": "",
        "github": "",
        "instagram": "",
        "linkedin": "",
        "twitter": "",
    },
}
# Seed 003 made valid JSON (the comment removed).
SEED_UPDATE_BODY: dict[str, Any] = {
    "additional_attributes": SEED_UPDATE_ADDITIONAL,
    "availability_status": "offline",
    "email": "support@jiguang.cn",
    "name": "support",
    "phone_number": None,
    "blocked": False,
    "identifier": "2222",
    "thumbnail": "",
    "last_activity_at": 1765441908,
    "custom_attributes": {"vip_level": "platinum"},
    "created_at": 1765441895,
    "first_name": "support",
    "last_name": "",
}

# Operations that write contact fields: every §7 rule applies to create and to both update verbs.
OPS = ("create", "patch", "put")


@pytest.fixture(params=OPS)
def op(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


@pytest.fixture
def v1(client: httpx.AsyncClient, tenant: Tenant) -> Api:
    """The tenant's administrator in the Chatwoot dialect only (inbox_id optional there)."""
    return admin_api(client, "v1", tenant)


@pytest.fixture
def v2(client: httpx.AsyncClient, tenant: Tenant) -> Api:
    """The tenant's administrator in the LiveDesk dialect only (inbox_id required there)."""
    return admin_api(client, "v2", tenant)


@pytest.fixture(params=("PATCH", "PUT"))
def method(request: pytest.FixtureRequest) -> str:
    value: str = request.param
    return value


# ----------------------------------------------------------------------------------------------
# helpers


async def update(
    api: Api, method: str, contact_id: int | str, body: Any, **kwargs: Any
) -> httpx.Response:
    return await api.request(method, f"/contacts/{contact_id}", json=body, **kwargs)


async def write(
    api: Api, op: str, body: dict[str, Any], target: int | None = None
) -> httpx.Response:
    """Create a contact with these fields (in the tenant's inbox), or update one with them
    (a fresh blank contact unless target is given)."""
    if op == "create":
        return await api.post("/contacts", json={"inbox_id": api.tenant.inbox_id, **body})
    if target is None:
        target = (await api.create_contact())["id"]
    return await update(api, op.upper(), target, body)


async def write_raw(api: Api, op: str, raw: bytes) -> httpx.Response:
    if op == "create":
        return await api.post("/contacts", content=raw, headers=JSON_HEADERS)
    target = (await api.create_contact())["id"]
    return await api.request(op.upper(), f"/contacts/{target}", content=raw, headers=JSON_HEADERS)


def written(op: str, response: httpx.Response) -> dict[str, Any]:
    """The contact a successful create or update answered."""
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"payload"}
    contact: dict[str, Any] = body["payload"]["contact"] if op == "create" else body["payload"]
    assert_contact(contact)
    return contact


def assert_contact(contact: dict[str, Any], *, with_inboxes: bool = True) -> None:
    """§2: every key present, the never-null ones not null, contact_inboxes well formed."""
    assert set(contact) >= CONTACT_KEYS, CONTACT_KEYS - set(contact)
    assert isinstance(contact["id"], int)
    assert isinstance(contact["created_at"], int)
    assert isinstance(contact["blocked"], bool)
    assert isinstance(contact["custom_attributes"], dict)
    assert isinstance(contact["additional_attributes"], dict)
    assert isinstance(contact["thumbnail"], str)
    assert isinstance(contact["name"], str)
    assert isinstance(contact["first_name"], str)
    assert isinstance(contact["last_name"], str)
    assert contact["availability_status"] in ("online", "offline")
    if not with_inboxes:
        assert "contact_inboxes" not in contact
        return
    assert isinstance(contact["contact_inboxes"], list)
    for item in contact["contact_inboxes"]:
        assert set(item) == {"source_id", "inbox"}
        assert isinstance(item["source_id"], str)
        assert set(item["inbox"]) == INBOX_KEYS


def field_error(response: httpx.Response) -> tuple[list[str], list[str]]:
    """A body-field 422: {"message": "a, b", "attributes": [...]}; returns both, split."""
    assert response.status_code == 422, response.text
    body = response.json()
    assert set(body) <= {"message", "attributes", "conflicting_contact_id"}, body
    assert isinstance(body["message"], str)
    assert isinstance(body["attributes"], list)
    attributes: list[str] = body["attributes"]
    assert len(attributes) == len(set(attributes)), attributes
    messages: list[str] = body["message"].split(", ")
    return messages, attributes


def assert_malformed(response: httpx.Response, line: int, column: int) -> None:
    assert response.status_code == 400, response.text
    body = response.json()
    assert set(body) == {"error"}
    message: str = body["error"]
    assert message.startswith("Malformed JSON body: "), message
    assert re.search(rf"\bline {line}\b", message), message
    assert re.search(rf"\bcolumn {column}\b", message), message


# ----------------------------------------------------------------------------------------------
# §5 create


async def test_create_answers_contact_and_contact_inbox(api: Api) -> None:
    response = await api.post("/contacts", json={"inbox_id": api.tenant.inbox_id, "name": "Ann"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"payload"}
    assert set(body["payload"]) == {"contact", "contact_inbox"}
    contact = body["payload"]["contact"]
    assert_contact(contact)
    assert contact["name"] == "Ann"
    contact_inbox = body["payload"]["contact_inbox"]
    assert set(contact_inbox) == {"inbox", "source_id"}
    inbox = contact_inbox["inbox"]
    assert set(inbox) == INBOX_KEYS
    assert inbox["id"] == api.tenant.inbox_id
    assert inbox["name"] == "API"
    assert inbox["channel_type"] == "Channel::Api"
    assert inbox["avatar_url"] == ""
    assert inbox["provider"] is None
    assert isinstance(contact_inbox["source_id"], str)
    assert contact["contact_inboxes"] == [contact_inbox]


async def test_create_defaults(api: Api) -> None:
    response = await api.post("/contacts", json={"inbox_id": api.tenant.inbox_id})
    contact = written("create", response)
    assert contact["additional_attributes"] == {}
    assert contact["custom_attributes"] == {}
    assert contact["availability_status"] == "offline"
    assert contact["email"] is None
    assert contact["phone_number"] is None
    assert contact["identifier"] is None
    assert contact["name"] == ""
    assert contact["first_name"] == ""
    assert contact["last_name"] == ""
    assert contact["blocked"] is False
    assert contact["thumbnail"] == ""
    assert contact["last_activity_at"] is None
    assert contact["created_at"] > 1_700_000_000


async def test_create_in_another_inbox_of_the_account(api: Api) -> None:
    inbox_id = await api.tenant.add_inbox("Second API", "Channel::Api")
    response = await api.post("/contacts", json={"inbox_id": inbox_id})
    assert response.status_code == 200, response.text
    payload = response.json()["payload"]
    assert payload["contact_inbox"]["inbox"]["id"] == inbox_id
    assert payload["contact_inbox"]["inbox"]["name"] == "Second API"
    assert payload["contact"]["contact_inboxes"] == [payload["contact_inbox"]]


async def test_create_with_every_writable_field(api: Api) -> None:
    body = {
        "inbox_id": api.tenant.inbox_id,
        "name": "Grace Hopper",
        "first_name": "Grace",
        "last_name": "Hopper",
        "email": "grace@navy.example",
        "phone_number": "+14155550100",
        "identifier": "ext-1",
        "blocked": True,
        "avatar_url": "https://example.com/grace.png",
        "availability_status": "online",
        "last_activity_at": SEED_EPOCH,
        "additional_attributes": {"company_name": "Navy", "city": "Arlington"},
        "custom_attributes": {"rank": "admiral"},
    }
    contact = written("create", await api.post("/contacts", json=body))
    expected = {k: v for k, v in body.items() if k not in ("inbox_id", "avatar_url")}
    expected["thumbnail"] = body["avatar_url"]
    assert {k: contact[k] for k in expected} == expected
    stored = await show(api, contact["id"])
    assert {k: stored[k] for k in expected} == expected


async def test_create_without_inbox_in_v1(v1: Api) -> None:
    api = v1
    for body in ({"name": "No inbox"}, {"name": "Null inbox", "inbox_id": None}):
        response = await api.post("/contacts", json=body)
        assert response.status_code == 200, response.text
        payload = response.json()["payload"]
        assert payload["contact_inbox"] == {"inbox": None, "source_id": None}
        assert payload["contact"]["contact_inboxes"] == []
        assert_contact(payload["contact"])
        assert (await show(api, payload["contact"]["id"]))["contact_inboxes"] == []


@pytest.mark.parametrize("body", [{}, {"name": "x"}, {"name": "x", "inbox_id": None}])
async def test_create_without_inbox_in_v2_is_422(v2: Api, body: Any) -> None:
    api = v2
    response = await api.post("/contacts", json=body)
    assert response.status_code == 422
    assert response.json() == INBOX_BLANK
    assert await contact_count(api) == 0


async def test_create_inbox_id_as_string_of_digits(api: Api) -> None:
    response = await api.post("/contacts", json={"inbox_id": str(api.tenant.inbox_id)})
    assert response.status_code == 200, response.text
    assert response.json()["payload"]["contact_inbox"]["inbox"]["id"] == api.tenant.inbox_id


@pytest.mark.parametrize(
    "inbox_id", ["abc", "12a", "", "1.5", " ", "-1", "0x10", 1.5, True, False, [], {}, [1]]
)
async def test_create_inbox_id_of_wrong_type_is_422(api: Api, inbox_id: Any) -> None:
    response = await api.post("/contacts", json={"inbox_id": inbox_id, "name": "x"})
    _messages, attributes = field_error(response)
    assert attributes == ["inbox_id"]
    assert await contact_count(api) == 0


@pytest.mark.parametrize("kind", ["other_int", "other_str", "unknown", "huge", "beyond_64_bit"])
async def test_create_in_unknown_or_foreign_inbox_is_404_and_creates_nothing(
    api: Api, other_tenant: Tenant, kind: str
) -> None:
    choices: dict[str, int | str] = {
        "other_int": other_tenant.inbox_id,
        "other_str": str(other_tenant.inbox_id),
        "unknown": other_tenant.inbox_id + 1_000_000,
        "huge": 2**63 - 1,
        "beyond_64_bit": "99999999999999999999",
    }
    inbox_id = choices[kind]
    body = {
        "inbox_id": inbox_id,
        "email": "once@example.com",
        "phone_number": "+14155550100",
        "identifier": "once",
    }
    response = await api.post("/contacts", json=body)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    assert await contact_count(api) == 0
    # Nothing half-created either: the unique values are still free.
    again = await api.post("/contacts", json={**body, "inbox_id": api.tenant.inbox_id})
    assert again.status_code == 200, again.text
    assert await contact_count(api) == 1


async def test_create_keeps_source_id_as_given(api: Api) -> None:
    body = {"inbox_id": api.tenant.inbox_id, "source_id": "src_001"}
    payload = (await api.post("/contacts", json=body)).json()["payload"]
    assert payload["contact_inbox"]["source_id"] == "src_001"
    assert payload["contact"]["contact_inboxes"][0]["source_id"] == "src_001"
    stored = await show(api, payload["contact"]["id"])
    assert [ci["source_id"] for ci in stored["contact_inboxes"]] == ["src_001"]


async def test_create_with_a_source_id_another_contact_holds_is_a_422(api: Api) -> None:
    body = {"inbox_id": api.tenant.inbox_id, "source_id": "shared"}
    holder = (await api.post("/contacts", json={**body, "name": "Holder"})).json()["payload"]
    taken = await api.post("/contacts", json={**body, "email": "new@example.com"})
    assert taken.status_code == 422, taken.text
    assert taken.json() == {"message": "Source has already been taken", "attributes": ["source_id"]}
    # Nothing of the refused contact stays: one contact, its email free, the holder intact.
    assert await contact_count(api) == 1
    stored = await show(api, holder["contact"]["id"])
    assert [ci["source_id"] for ci in stored["contact_inboxes"]] == ["shared"]
    again = await api.post(
        "/contacts", json={"inbox_id": api.tenant.inbox_id, "email": "new@example.com"}
    )
    assert again.status_code == 200, again.text
    assert await contact_count(api) == 2


async def test_create_generates_uuid_source_id_for_api_inbox(api: Api) -> None:
    seen = set()
    for _ in range(2):
        response = await api.post("/contacts", json={"inbox_id": api.tenant.inbox_id})
        payload = response.json()["payload"]
        source_id = payload["contact_inbox"]["source_id"]
        assert str(uuid.UUID(source_id)) == source_id.lower()
        assert payload["contact"]["contact_inboxes"][0]["source_id"] == source_id
        seen.add(source_id)
    assert len(seen) == 2


@pytest.mark.parametrize(
    ("fields", "thumbnail"),
    [
        ({"avatar_url": "https://example.com/a.png"}, "https://example.com/a.png"),
        ({"thumbnail": "https://example.com/t.png"}, "https://example.com/t.png"),
        (
            {"avatar_url": "https://example.com/a.png", "thumbnail": "https://example.com/t.png"},
            "https://example.com/a.png",
        ),
        (
            {"thumbnail": "https://example.com/t.png", "avatar_url": "https://example.com/a.png"},
            "https://example.com/a.png",
        ),
    ],
)
async def test_avatar_url_and_thumbnail_are_one_field(
    api: Api, op: str, fields: dict[str, Any], thumbnail: str
) -> None:
    contact = written(op, await write(api, op, fields))
    assert contact["thumbnail"] == thumbnail
    assert "avatar_url" not in contact or contact["avatar_url"] == thumbnail
    assert (await show(api, contact["id"]))["thumbnail"] == thumbnail


async def test_create_ignores_unknown_keys(api: Api) -> None:
    body = {
        "inbox_id": api.tenant.inbox_id,
        "name": "Ann",
        "favourite_colour": "teal",
        "conversations": [1, 2],
        "nested": {"x": None},
    }
    contact = written("create", await api.post("/contacts", json=body))
    assert contact["name"] == "Ann"
    for key in ("favourite_colour", "conversations", "nested"):
        assert key not in contact


@pytest.mark.parametrize("value", ["false", "0", "true", "FALSE"])
async def test_create_always_includes_contact_inboxes(api: Api, value: str) -> None:
    response = await api.post(
        "/contacts",
        json={"inbox_id": api.tenant.inbox_id},
        params={"include_contact_inboxes": value},
    )
    contact = written("create", response)
    assert len(contact["contact_inboxes"]) == 1


async def test_seed_create_example_made_valid_works(api: Api) -> None:
    body = {
        "inbox_id": api.tenant.inbox_id,
        "name": "Test",
        "email": "alice@acme.inc",
        "phone_number": "+123456789",
        "avatar_url": "https://example.com/avatar.png",
        "identifier": "1234567890",
    }
    contact = written("create", await api.post("/contacts", json=body))
    assert contact["name"] == "Test"
    assert contact["email"] == "alice@acme.inc"
    assert contact["phone_number"] == "+123456789"
    assert contact["thumbnail"] == "https://example.com/avatar.png"
    assert contact["identifier"] == "1234567890"


async def test_seed_create_example_as_pasted_is_malformed_json(api: Api) -> None:
    response = await api.post("/contacts", content=SEED_CREATE_RAW.encode(), headers=JSON_HEADERS)
    # The first thing wrong is the `//` comment on line 3, column 17.
    assert_malformed(response, 3, 17)
    assert await contact_count(api) == 0


# ----------------------------------------------------------------------------------------------
# name from first_name / last_name (§2, §7)


@pytest.mark.parametrize(
    ("fields", "name"),
    [
        ({"first_name": "Ada", "last_name": "Lovelace"}, "Ada Lovelace"),
        ({"first_name": "Ada"}, "Ada"),
        ({"last_name": "Lovelace"}, "Lovelace"),
        ({"first_name": "", "last_name": "Lovelace"}, "Lovelace"),
        ({"first_name": "Ada", "last_name": ""}, "Ada"),
        ({"first_name": "", "last_name": ""}, ""),
        ({"name": "Countess", "first_name": "Ada", "last_name": "Lovelace"}, "Countess"),
        ({"name": "", "first_name": "Ada"}, ""),
        ({"name": None, "first_name": "Ada"}, ""),
        ({"name": None}, ""),
    ],
)
async def test_create_name_from_first_and_last(api: Api, fields: dict[str, Any], name: str) -> None:
    contact = written("create", await write(api, "create", fields))
    assert contact["name"] == name
    assert contact["first_name"] == fields.get("first_name", "")
    assert contact["last_name"] == fields.get("last_name", "")
    assert (await show(api, contact["id"]))["name"] == name


@pytest.mark.parametrize(
    ("fields", "name", "first", "last"),
    [
        ({"last_name": "Byron"}, "Ada Byron", "Ada", "Byron"),
        ({"first_name": "Augusta"}, "Augusta Lovelace", "Augusta", "Lovelace"),
        ({"first_name": ""}, "Lovelace", "", "Lovelace"),
        ({"last_name": ""}, "Ada", "Ada", ""),
        ({"first_name": "", "last_name": ""}, "", "", ""),
        ({"name": "N", "last_name": "Z"}, "N", "Ada", "Z"),
        ({"name": None, "first_name": "X"}, "", "X", "Lovelace"),
        ({"name": None}, "", "Ada", "Lovelace"),
        ({"name": ""}, "", "Ada", "Lovelace"),
        ({"email": "ada@example.com"}, "Countess", "Ada", "Lovelace"),
    ],
)
async def test_update_name_from_first_and_last(
    api: Api, method: str, fields: dict[str, Any], name: str, first: str, last: str
) -> None:
    contact = await api.create_contact(name="Countess", first_name="Ada", last_name="Lovelace")
    assert contact["name"] == "Countess"
    updated = written(method.lower(), await update(api, method, contact["id"], fields))
    assert (updated["name"], updated["first_name"], updated["last_name"]) == (name, first, last)
    stored = await show(api, contact["id"])
    assert (stored["name"], stored["first_name"], stored["last_name"]) == (name, first, last)


# ----------------------------------------------------------------------------------------------
# §6 update


async def test_update_is_partial(api: Api, method: str) -> None:
    contact = await api.create_contact(
        name="Ann",
        email="ann@example.com",
        phone_number="+14155550100",
        identifier="ann",
        blocked=True,
        availability_status="online",
        last_activity_at=SEED_EPOCH,
        thumbnail="https://example.com/ann.png",
        custom_attributes={"a": 1},
        additional_attributes={"city": "Oslo"},
    )
    before = await show(api, contact["id"])
    response = await update(api, method, contact["id"], {"name": "Anne"})
    after = written(method.lower(), response)
    assert after == {**before, "name": "Anne"}
    assert await show(api, contact["id"]) == after
    # An empty object changes nothing.
    response = await update(api, method, contact["id"], {})
    assert written(method.lower(), response) == after


async def test_update_answers_payload_contact(api: Api, method: str) -> None:
    contact = await api.create_contact(name="Ann")
    response = await update(api, method, contact["id"], {"name": "Anne"})
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"payload"}
    assert_contact(body["payload"])
    assert body["payload"]["id"] == contact["id"]
    assert body["payload"]["contact_inboxes"] == contact["contact_inboxes"]


@pytest.mark.parametrize("attribute", ["custom_attributes", "additional_attributes"])
async def test_update_merges_attributes_at_top_level(api: Api, method: str, attribute: str) -> None:
    start = {"a": 1, "b": "two", "social_profiles": {"github": "g", "twitter": "t"}}
    contact = await api.create_contact(**{attribute: start})
    assert contact[attribute] == start
    steps: list[tuple[Any, dict[str, Any]]] = [
        # a sent key overwrites, unsent keys stay, new keys are added
        ({"b": "deux", "c": None}, {**start, "b": "deux", "c": None}),
        # nested objects are top-level values: replaced, not merged
        (
            {"social_profiles": {"github": "h"}},
            {"a": 1, "b": "deux", "c": None, "social_profiles": {"github": "h"}},
        ),
        # null for the whole object merges nothing; {} neither
        (None, {"a": 1, "b": "deux", "c": None, "social_profiles": {"github": "h"}}),
        ({}, {"a": 1, "b": "deux", "c": None, "social_profiles": {"github": "h"}}),
    ]
    for sent, expected in steps:
        response = await update(api, method, contact["id"], {attribute: sent})
        assert written(method.lower(), response)[attribute] == expected, sent
        assert (await show(api, contact["id"]))[attribute] == expected


async def test_update_merges_both_attribute_objects_independently(api: Api, method: str) -> None:
    contact = await api.create_contact(
        custom_attributes={"plan": "free"}, additional_attributes={"city": "Oslo"}
    )
    response = await update(
        api,
        method,
        contact["id"],
        {"custom_attributes": {"seats": 3}, "additional_attributes": {"country": "Norway"}},
    )
    updated = written(method.lower(), response)
    assert updated["custom_attributes"] == {"plan": "free", "seats": 3}
    assert updated["additional_attributes"] == {"city": "Oslo", "country": "Norway"}


async def test_update_ignores_id_created_at_and_unknown_keys(api: Api, method: str) -> None:
    contact = await api.create_contact(name="Ann")
    other = await api.create_contact(name="Other")
    body = {
        "id": other["id"],
        "created_at": 1,
        "account_id": 1,
        "conversations_count": 99,
        "favourite_colour": "teal",
        "name": "Anne",
    }
    updated = written(method.lower(), await update(api, method, contact["id"], body))
    assert updated["id"] == contact["id"]
    assert updated["created_at"] == contact["created_at"]
    assert updated["name"] == "Anne"
    assert "favourite_colour" not in updated
    assert "account_id" not in updated
    assert (await show(api, other["id"]))["name"] == "Other"
    assert (await show(api, contact["id"]))["created_at"] == contact["created_at"]


async def test_seed_update_example_made_valid_works(api: Api, method: str) -> None:
    contact = await api.create_contact(
        name="Before", phone_number="+14155550100", custom_attributes={"kept": True}
    )
    response = await update(api, method, contact["id"], SEED_UPDATE_BODY)
    updated = written(method.lower(), response)
    expected = {
        "additional_attributes": SEED_UPDATE_ADDITIONAL,
        "availability_status": "offline",
        "email": "support@jiguang.cn",
        "name": "support",
        "phone_number": None,
        "blocked": False,
        "identifier": "2222",
        "thumbnail": "",
        "last_activity_at": SEED_EPOCH,
        "custom_attributes": {"kept": True, "vip_level": "platinum"},
        "first_name": "support",
        "last_name": "",
        "id": contact["id"],
        "created_at": contact["created_at"],
    }
    assert {k: updated[k] for k in expected} == expected
    stored = await show(api, contact["id"])
    assert {k: stored[k] for k in expected} == expected


async def test_seed_update_example_as_pasted_is_malformed_json(api: Api, method: str) -> None:
    contact = await api.create_contact(name="Before")
    response = await api.request(
        method, f"/contacts/{contact['id']}", content=SEED_UPDATE_RAW.encode(), headers=JSON_HEADERS
    )
    # The `//` comment after the `{ ` on line 28.
    assert_malformed(response, 28, 3)
    assert (await show(api, contact["id"]))["name"] == "Before"


@pytest.mark.parametrize(
    ("value", "present"),
    [("false", False), ("0", False), ("False", False), ("true", True), ("1", True)],
)
async def test_update_include_contact_inboxes(
    api: Api, method: str, value: str, present: bool
) -> None:
    contact = await api.create_contact(name="Ann")
    response = await update(
        api, method, contact["id"], {"name": "Anne"}, params={"include_contact_inboxes": value}
    )
    assert response.status_code == 200, response.text
    payload = response.json()["payload"]
    assert_contact(payload, with_inboxes=present)
    assert payload["name"] == "Anne"


@pytest.mark.parametrize("value", ["", "yes", "2", "none"])
async def test_update_invalid_include_contact_inboxes_is_422(
    api: Api, method: str, value: str
) -> None:
    contact = await api.create_contact(name="Ann")
    response = await update(
        api, method, contact["id"], {"name": "Anne"}, params={"include_contact_inboxes": value}
    )
    assert response.status_code == 422
    assert response.json() == INCLUDE_ERROR


@pytest.mark.parametrize("contact_id", BAD_CONTACT_IDS)
@pytest.mark.parametrize(
    "body",
    [
        {"name": "x"},
        {"email": "not-an-email"},
        {"blocked": None, "availability_status": None, "custom_attributes": []},
        {"name": "x" * 300},
    ],
)
async def test_update_unknown_contact_is_404_even_with_a_bad_body(
    api: Api, method: str, contact_id: str, body: dict[str, Any]
) -> None:
    response = await update(api, method, contact_id, body)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


@pytest.mark.parametrize("raw", [b"[]", b'"x"', b"1"])
async def test_update_unknown_contact_is_404_even_with_a_non_object_body(
    api: Api, method: str, raw: bytes
) -> None:
    response = await api.request(
        method, "/contacts/999999999999", content=raw, headers=JSON_HEADERS
    )
    assert response.status_code == 404, response.text
    assert response.json() == NOT_FOUND


async def test_update_contact_of_another_account_is_404(
    api: Api, other_api: Api, method: str
) -> None:
    theirs = await other_api.create_contact(name="Theirs")
    for body in ({"name": "Mine"}, {"email": "bad"}):
        response = await update(api, method, theirs["id"], body)
        assert response.status_code == 404
        assert response.json() == NOT_FOUND
    assert (await show(other_api, theirs["id"]))["name"] == "Theirs"


async def test_failed_update_changes_nothing(api: Api, method: str) -> None:
    contact = await api.create_contact(name="Ann", email="ann@example.com")
    await api.create_contact(email="taken@example.com")
    before = await show(api, contact["id"])
    for body in (
        {"name": "Anne", "email": "not-an-email"},
        {"name": "Anne", "email": "taken@example.com"},
        {"name": "Anne", "custom_attributes": {"x": 1}, "blocked": None},
    ):
        response = await update(api, method, contact["id"], body)
        assert response.status_code == 422, body
        assert await show(api, contact["id"]) == before


async def test_failed_create_creates_nothing(api: Api) -> None:
    await api.create_contact(email="taken@example.com")
    for body in (
        {"name": "Ann", "email": "not-an-email"},
        {"name": "Ann", "email": "taken@example.com"},
        {"name": "Ann", "blocked": None},
    ):
        response = await write(api, "create", body)
        assert response.status_code == 422, body
        assert await contact_count(api) == 1


# ----------------------------------------------------------------------------------------------
# §7 validation: accepted values and how they are stored


@pytest.mark.parametrize(
    ("field", "value", "key", "stored"),
    VALID,
    ids=[f"{f}-{i}" for i, (f, *_rest) in enumerate(VALID)],
)
async def test_valid_value_is_accepted_and_stored(
    api: Api, op: str, field: str, value: Any, key: str, stored: Any
) -> None:
    if stored is None and isinstance(value, dict):
        stored = value  # an attributes object is stored as sent
    contact = written(op, await write(api, op, {field: value}))
    assert contact[key] == stored
    assert (await show(api, contact["id"]))[key] == stored


async def test_last_activity_at_null_clears_it(api: Api, method: str) -> None:
    contact = await api.create_contact(last_activity_at=SEED_EPOCH)
    assert contact["last_activity_at"] == SEED_EPOCH
    updated = written(
        method.lower(), await update(api, method, contact["id"], {"last_activity_at": None})
    )
    assert updated["last_activity_at"] is None
    assert (await show(api, contact["id"]))["last_activity_at"] is None


@pytest.mark.parametrize(
    ("field", "value"),
    [("email", None), ("email", ""), ("phone_number", None), ("phone_number", ""),
     ("identifier", ""), ("avatar_url", ""), ("thumbnail", "")],
)  # fmt: skip
async def test_blank_values_clear_on_update(api: Api, method: str, field: str, value: Any) -> None:
    contact = await api.create_contact(
        email="ann@example.com",
        phone_number="+14155550100",
        identifier="ann",
        avatar_url="https://example.com/a.png",
    )
    updated = written(method.lower(), await update(api, method, contact["id"], {field: value}))
    key = "thumbnail" if field == "avatar_url" else field
    assert updated[key] == ("" if key == "thumbnail" else None)


# ----------------------------------------------------------------------------------------------
# §7 validation: rejected values, with the contract's messages


@pytest.mark.parametrize(
    ("field", "value", "message"),
    INVALID,
    ids=[f"{f}-{i}" for i, (f, *_rest) in enumerate(INVALID)],
)
async def test_invalid_value_is_422_naming_the_field(
    api: Api, op: str, field: str, value: Any, message: str | None
) -> None:
    target = None if op == "create" else (await api.create_contact(name="Before"))["id"]
    response = await write(api, op, {field: value}, target)
    messages, attributes = field_error(response)
    assert attributes == [field]
    if message is not None:
        assert messages == [message]
    if target is None:
        assert await contact_count(api) == 0
    else:
        assert (await show(api, target))["name"] == "Before"


async def test_every_bad_field_is_listed_at_once(api: Api, op: str) -> None:
    body: dict[str, Any] = dict(EVERY_FIELD_BAD)
    expected = EVERY_FIELD_BAD_MESSAGES
    messages, attributes = field_error(await write(api, op, body))
    assert set(attributes) == set(expected)
    assert set(expected.values()) <= set(messages)


async def test_v2_missing_inbox_is_listed_with_the_other_bad_fields(v2: Api) -> None:
    api = v2
    body = {"email": "not-an-email", "phone_number": "+1"}
    messages, attributes = field_error(await api.post("/contacts", json=body))
    assert set(attributes) == {"inbox_id", "email", "phone_number"}
    assert set(messages) == {"Inbox can't be blank", "Email is invalid", PHONE_E164}


async def test_bad_inbox_id_is_listed_with_the_other_bad_fields(api: Api) -> None:
    body = {"inbox_id": "abc", "email": "not-an-email", "blocked": None}
    messages, attributes = field_error(await api.post("/contacts", json=body))
    assert set(attributes) == {"inbox_id", "email", "blocked"}
    assert {"Email is invalid", "Blocked is invalid"} <= set(messages)
    assert len(messages) == 3


async def test_uniqueness_problem_is_listed_with_the_other_bad_fields(api: Api, op: str) -> None:
    holder = await api.create_contact(email="taken@example.com")
    response = await write(api, op, {"email": "taken@example.com", "phone_number": "+1"})
    messages, attributes = field_error(response)
    assert set(attributes) == {"email", "phone_number"}
    assert set(messages) == {"Email has already been taken", PHONE_E164}
    assert response.json()["conflicting_contact_id"] == holder["id"]


# ----------------------------------------------------------------------------------------------
# §7 uniqueness


@pytest.mark.parametrize(
    ("field", "held", "sent", "message"),
    [
        ("email", "dup@example.com", "dup@example.com", "Email has already been taken"),
        ("email", "dup@example.com", "DUP@Example.COM", "Email has already been taken"),
        ("email", "Dup@Example.com", " dup@example.com ", "Email has already been taken"),
        ("phone_number", "+14155550100", "+14155550100", "Phone number has already been taken"),
        ("phone_number", "+14155550100", " +14155550100 ", "Phone number has already been taken"),
        ("identifier", "ABC", "ABC", "Identifier has already been taken"),
        ("identifier", 123, "123", "Identifier has already been taken"),
        ("identifier", "123", 123, "Identifier has already been taken"),
    ],
)
async def test_duplicate_is_422_with_conflicting_contact_id(
    api: Api, op: str, field: str, held: Any, sent: Any, message: str
) -> None:
    holder = await api.create_contact(**{field: held})
    before = await contact_count(api)
    response = await write(api, op, {field: sent})
    assert response.status_code == 422, response.text
    assert response.json() == {
        "message": message,
        "attributes": [field],
        "conflicting_contact_id": holder["id"],
    }
    expected_count = before if op == "create" else before + 1  # + the blank update target
    assert await contact_count(api) == expected_count


async def test_identifier_is_case_sensitive(api: Api, op: str) -> None:
    await api.create_contact(identifier="ABC")
    contact = written(op, await write(api, op, {"identifier": "abc"}))
    assert contact["identifier"] == "abc"


@pytest.mark.parametrize("field", ["email", "phone_number", "identifier"])
@pytest.mark.parametrize("blank", ["", None])
async def test_blank_unique_fields_never_conflict(
    api: Api, op: str, field: str, blank: str | None
) -> None:
    first = await api.create_contact(**{field: blank})
    assert first[field] is None
    second = written(op, await write(api, op, {field: blank}))
    assert second[field] is None
    third = written(op, await write(api, op, {field: blank}))
    assert third[field] is None


async def test_contact_may_keep_its_own_unique_values(api: Api, method: str) -> None:
    contact = await api.create_contact(
        email="ann@example.com", phone_number="+14155550100", identifier="ann"
    )
    body = {"email": "ANN@example.com", "phone_number": "+14155550100", "identifier": "ann"}
    updated = written(method.lower(), await update(api, method, contact["id"], body))
    assert updated["email"] == "ann@example.com"


@pytest.mark.parametrize(
    ("sent", "holder_index", "attributes"),
    [
        (
            {"email": "a@example.com", "phone_number": "+14155550102", "identifier": "c"},
            0,
            ["email", "phone_number", "identifier"],
        ),
        (
            {"identifier": "c", "phone_number": "+14155550102", "email": "a@example.com"},
            0,
            ["email", "phone_number", "identifier"],
        ),
        ({"identifier": "c", "phone_number": "+14155550102"}, 1, ["phone_number", "identifier"]),
        ({"identifier": "c", "email": "A@example.com"}, 0, ["email", "identifier"]),
        ({"identifier": "c", "email": "free@example.com"}, 2, ["identifier"]),
    ],
)
async def test_conflicting_contact_id_follows_email_phone_identifier_order(
    api: Api, op: str, sent: dict[str, Any], holder_index: int, attributes: list[str]
) -> None:
    holders = [
        await api.create_contact(email="a@example.com"),
        await api.create_contact(phone_number="+14155550102"),
        await api.create_contact(identifier="c"),
    ]
    response = await write(api, op, sent)
    messages, got = field_error(response)
    assert set(got) == set(attributes)
    taken = {
        "email": "Email has already been taken",
        "phone_number": "Phone number has already been taken",
        "identifier": "Identifier has already been taken",
    }
    assert set(messages) == {taken[a] for a in attributes}
    assert response.json()["conflicting_contact_id"] == holders[holder_index]["id"]


async def test_uniqueness_is_per_account(api: Api, other_api: Api, op: str) -> None:
    fields = {"email": "shared@example.com", "phone_number": "+14155550100", "identifier": "s"}
    await other_api.create_contact(**fields)
    contact = written(op, await write(api, op, fields))
    assert contact["email"] == "shared@example.com"


@pytest.mark.parametrize(
    "field", [("email", "race@example.com"), ("phone_number", "+14155550199"), ("identifier", "r")]
)
async def test_uniqueness_holds_under_concurrency(api: Api, field: tuple[str, str]) -> None:
    key, value = field
    responses = await asyncio.gather(*(write(api, "create", {key: value}) for _ in range(6)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [422] * 5, [r.text for r in responses]
    winner = next(r for r in responses if r.status_code == 200).json()["payload"]["contact"]
    for response in responses:
        if response.status_code == 422:
            assert response.json()["attributes"] == [key]
            assert response.json()["conflicting_contact_id"] == winner["id"]
    assert await contact_count(api) == 1


async def test_uniqueness_holds_under_concurrent_updates(api: Api, method: str) -> None:
    targets = [(await api.create_contact())["id"] for _ in range(5)]
    responses = await asyncio.gather(
        *(update(api, method, t, {"email": "race@example.com"}) for t in targets)
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [422] * 4, [r.text for r in responses]
    listed = (await api.get("/contacts")).json()["payload"]
    assert [c["email"] for c in listed].count("race@example.com") == 1


# ----------------------------------------------------------------------------------------------
# §7 bodies that are not JSON objects


MALFORMED: list[tuple[bytes, int, int]] = [
    (b'{"name": "x",}', 1, 14),
    (b'{"name": "x"', 1, 13),
    (b"{'name': 'x'}", 1, 2),
    (b'{\n  "name": "x"\n  "email": "a@b"\n}', 3, 3),
    (b'{"name": "x"} trailing', 1, 15),
    (b'{"name": "x", // note\n}', 1, 15),
]


@pytest.mark.parametrize(("raw", "line", "column"), MALFORMED)
async def test_malformed_json_is_400_with_line_and_column(
    api: Api, op: str, raw: bytes, line: int, column: int
) -> None:
    assert_malformed(await write_raw(api, op, raw), line, column)


@pytest.mark.parametrize("raw", [b"[]", b'[{"name": "x"}]', b'"x"', b"1", b"null", b"true"])
async def test_body_that_is_not_an_object_is_422(api: Api, op: str, raw: bytes) -> None:
    response = await write_raw(api, op, raw)
    assert response.status_code == 422
    assert response.json() == NOT_AN_OBJECT


# ----------------------------------------------------------------------------------------------
# §3 show


async def test_show_answers_payload_contact(api: Api) -> None:
    created = await api.create_contact(name="Ann", email="ann@example.com")
    response = await api.get(f"/contacts/{created['id']}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"payload"}
    assert body["payload"] == created
    assert_contact(body["payload"])
    assert len(body["payload"]["contact_inboxes"]) == 1


@pytest.mark.parametrize(
    ("value", "present"),
    [
        ("false", False),
        ("0", False),
        ("FALSE", False),
        ("False", False),
        ("true", True),
        ("1", True),
        ("TRUE", True),
    ],
)
async def test_show_include_contact_inboxes(api: Api, value: str, present: bool) -> None:
    created = await api.create_contact(name="Ann")
    response = await api.get(
        f"/contacts/{created['id']}", params={"include_contact_inboxes": value}
    )
    assert response.status_code == 200, response.text
    contact = response.json()["payload"]
    assert_contact(contact, with_inboxes=present)
    if present:
        assert contact["contact_inboxes"] == created["contact_inboxes"]


@pytest.mark.parametrize("value", ["", "yes", "no", "2", "t", "null"])
async def test_show_invalid_include_contact_inboxes_is_422(api: Api, value: str) -> None:
    created = await api.create_contact(name="Ann")
    response = await api.get(
        f"/contacts/{created['id']}", params={"include_contact_inboxes": value}
    )
    assert response.status_code == 422
    assert response.json() == INCLUDE_ERROR


@pytest.mark.parametrize("contact_id", BAD_CONTACT_IDS)
async def test_show_unknown_contact_is_404(api: Api, contact_id: str) -> None:
    response = await api.get(f"/contacts/{contact_id}")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


async def test_show_contact_of_another_account_is_404(api: Api, other_api: Api) -> None:
    theirs = await other_api.create_contact(name="Theirs")
    response = await api.get(f"/contacts/{theirs['id']}")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


# ----------------------------------------------------------------------------------------------
# §3 delete


async def test_delete(api: Api) -> None:
    fields = {"email": "gone@example.com", "phone_number": "+14155550100", "identifier": "gone"}
    contact = await api.create_contact(**fields)
    kept = await api.create_contact(name="Kept")
    assert await contact_count(api) == 2

    response = await api.delete(f"/contacts/{contact['id']}")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "0"

    shown = await api.get(f"/contacts/{contact['id']}")
    assert shown.status_code == 404
    assert shown.json() == NOT_FOUND
    assert await contact_count(api) == 1
    assert (await show(api, kept["id"]))["name"] == "Kept"

    again = await api.delete(f"/contacts/{contact['id']}")
    assert again.status_code == 404
    assert again.json() == NOT_FOUND

    # The freed unique values can be used again.
    reborn = await api.create_contact(**fields)
    assert reborn["email"] == "gone@example.com"
    assert reborn["id"] != contact["id"]


async def test_freed_email_can_be_taken_by_update(api: Api, method: str) -> None:
    contact = await api.create_contact(email="gone@example.com")
    other = await api.create_contact()
    assert (await api.delete(f"/contacts/{contact['id']}")).status_code == 200
    body = {"email": "Gone@Example.com"}
    updated = written(method.lower(), await update(api, method, other["id"], body))
    assert updated["email"] == "gone@example.com"


@pytest.mark.parametrize("contact_id", BAD_CONTACT_IDS)
async def test_delete_unknown_contact_is_404(api: Api, contact_id: str) -> None:
    response = await api.delete(f"/contacts/{contact_id}")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND


async def test_delete_contact_of_another_account_is_404(api: Api, other_api: Api) -> None:
    theirs = await other_api.create_contact(name="Theirs")
    response = await api.delete(f"/contacts/{theirs['id']}")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    assert (await show(other_api, theirs["id"]))["name"] == "Theirs"
    assert await contact_count(other_api) == 1
