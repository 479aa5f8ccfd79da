"""POST /contacts/upsert (contract §4.6, EXT), both dialects: find by identifier, then email,
then phone_number; update the one match or create; attach the inbox on both paths."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.support import CONTACT_KEYS, INBOX_KEYS, Api, Tenant, agent_api, basic, show

JSON_HEADERS = {"Content-Type": "application/json"}
NOT_FOUND = {"error": "Resource could not be found"}
FORBIDDEN = {"error": "You are not authorized to do this action"}
NOT_AN_OBJECT = {"error": "Request body must be a JSON object"}
INBOX_BLANK = {"message": "Inbox can't be blank", "attributes": ["inbox_id"]}
PATH = "/contacts/upsert"


async def upsert(api: Api, **fields: Any) -> tuple[dict[str, Any], bool]:
    """Upsert with the tenant's API inbox unless inbox_id is given; (contact, created)."""
    body = {"inbox_id": api.tenant.inbox_id, **fields}
    response = await api.post(PATH, json=body)
    assert response.status_code == 200, response.text
    payload = response.json()["payload"]
    assert set(payload) == {"contact", "created"}
    assert set(payload["contact"]) >= CONTACT_KEYS | {"contact_inboxes"}
    return payload["contact"], payload["created"]


async def all_ids(api: Api) -> list[int]:
    response = await api.get("/contacts", params={"page_size": "100"})
    assert response.status_code == 200, response.text
    return sorted(c["id"] for c in response.json()["payload"])


def pairs(contact: dict[str, Any]) -> list[tuple[int, str]]:
    return [(ci["inbox"]["id"], ci["source_id"]) for ci in contact["contact_inboxes"]]


async def test_no_match_creates_the_contact(api: Api) -> None:
    contact, created = await upsert(
        api, identifier="ext-1", name="Ada", email="Ada@Example.com", custom_attributes={"a": 1}
    )
    assert created is True
    assert contact["identifier"] == "ext-1"
    assert contact["email"] == "ada@example.com"
    assert contact["custom_attributes"] == {"a": 1}
    assert len(contact["contact_inboxes"]) == 1
    assert set(contact["contact_inboxes"][0]["inbox"]) == INBOX_KEYS
    assert contact["contact_inboxes"][0]["inbox"]["id"] == api.tenant.inbox_id
    assert await show(api, contact["id"]) == contact
    assert await all_ids(api) == [contact["id"]]


async def test_an_identifier_match_is_updated_partially(api: Api) -> None:
    existing = await api.create_contact(
        name="Old",
        identifier="ext-2",
        email="keep@example.com",
        custom_attributes={"a": 1, "b": 1},
        additional_attributes={"city": "Paris"},
    )
    contact, created = await upsert(
        api,
        identifier="ext-2",
        name="New",
        custom_attributes={"b": 2, "c": 3},
        additional_attributes=None,
    )
    assert created is False
    assert contact["id"] == existing["id"]
    assert contact["name"] == "New"
    assert contact["email"] == "keep@example.com"
    assert contact["custom_attributes"] == {"a": 1, "b": 2, "c": 3}
    assert contact["additional_attributes"] == {"city": "Paris"}
    assert await show(api, existing["id"]) == contact
    assert await all_ids(api) == [existing["id"]]


async def test_an_email_match_ignores_case(api: Api) -> None:
    existing = await api.create_contact(name="Bo", email="bo@example.com")
    contact, created = await upsert(api, email="  BO@Example.COM ", phone_number="+4930111")
    assert created is False
    assert contact["id"] == existing["id"]
    assert contact["phone_number"] == "+4930111"
    assert contact["email"] == "bo@example.com"
    assert await all_ids(api) == [existing["id"]]


async def test_a_phone_match_is_updated(api: Api) -> None:
    existing = await api.create_contact(name="Cy", phone_number="+4930222")
    contact, created = await upsert(api, phone_number="+4930222", first_name="Cyd", last_name="X")
    assert created is False
    assert contact["id"] == existing["id"]
    assert (contact["first_name"], contact["last_name"], contact["name"]) == ("Cyd", "X", "Cyd X")
    assert await all_ids(api) == [existing["id"]]


async def test_keys_are_tried_in_order_and_unmatched_keys_are_written(api: Api) -> None:
    by_identifier = await api.create_contact(name="A", identifier="ext-a")
    by_email = await api.create_contact(name="B", email="b@example.com")
    # The identifier matches: the phone that matches nobody is set on that contact.
    contact, created = await upsert(api, identifier="ext-a", phone_number="+4930333")
    assert (contact["id"], created, contact["phone_number"]) == (
        by_identifier["id"],
        False,
        "+4930333",
    )
    # An identifier nobody has falls through to the email, and is written there.
    contact, created = await upsert(api, identifier="ext-b", email="b@example.com")
    assert (contact["id"], created, contact["identifier"]) == (by_email["id"], False, "ext-b")
    # Null and blank keys identify nothing.
    contact, created = await upsert(api, identifier=None, email="", phone_number="+4930333")
    assert (contact["id"], created) == (by_identifier["id"], False)
    assert await all_ids(api) == sorted([by_identifier["id"], by_email["id"]])


async def test_keys_matching_different_contacts_are_a_409(api: Api) -> None:
    first = await api.create_contact(name="A", identifier="ext-x")
    second = await api.create_contact(name="B", email="x@example.com")
    third = await api.create_contact(name="C", phone_number="+4930444")
    response = await api.post(
        PATH,
        json={
            "inbox_id": api.tenant.inbox_id,
            "identifier": "ext-x",
            "email": "x@example.com",
            "phone_number": "+4930444",
            "name": "Changed",
        },
    )
    assert response.status_code == 409, response.text
    body = response.json()
    assert body["conflicting_contact_ids"] == sorted([first["id"], second["id"], third["id"]])
    for key in ("identifier", "email", "phone_number"):
        assert key in body["error"]
    two = await api.post(
        PATH,
        json={"inbox_id": api.tenant.inbox_id, "identifier": "ext-x", "email": "x@example.com"},
    )
    assert two.status_code == 409
    assert two.json() == {
        "error": "The keys sent identify different contacts (identifier matches contact "
        f"{first['id']}, email matches contact {second['id']}); "
        "send keys that identify one contact",
        "conflicting_contact_ids": sorted([first["id"], second["id"]]),
    }
    for contact in (first, second, third):
        assert await show(api, contact["id"]) == contact
    # Keys that all match one contact are no conflict.
    both = await upsert(api, identifier="ext-x", name="A2")
    assert both[0]["id"] == first["id"]


async def test_v2_requires_inbox_id_v1_does_not(api: Api) -> None:
    response = await api.post(PATH, json={"identifier": "ext-v"})
    if api.dialect == "v2":
        assert response.status_code == 422
        assert response.json() == INBOX_BLANK
        assert await all_ids(api) == []
        return
    assert response.status_code == 200, response.text
    payload = response.json()["payload"]
    assert payload["created"] is True
    assert payload["contact"]["contact_inboxes"] == []
    again = await api.post(PATH, json={"identifier": "ext-v", "name": "V"})
    assert again.json()["payload"]["created"] is False
    assert again.json()["payload"]["contact"]["contact_inboxes"] == []
    assert await all_ids(api) == [payload["contact"]["id"]]


async def test_the_inbox_is_attached_on_both_paths_once(api: Api) -> None:
    inbox_id = api.tenant.inbox_id
    contact, created = await upsert(api, identifier="ext-i")
    assert created is True
    first_pair = pairs(contact)
    assert len(first_pair) == 1
    # Repeated upserts without source_id reuse the contact inbox in that inbox.
    for _ in range(2):
        contact, created = await upsert(api, identifier="ext-i", name="again")
        assert created is False
        assert pairs(contact) == first_pair
    # A contact created elsewhere, without that inbox, is attached on the update path.
    other_inbox = await api.tenant.add_inbox("Mail", "Channel::Email")
    contact, _ = await upsert(api, identifier="ext-i", email="i@example.com", inbox_id=other_inbox)
    assert pairs(contact) == [*first_pair, (other_inbox, "i@example.com")]
    # A given source_id is honoured on the update path, and not duplicated when repeated.
    for _ in range(2):
        contact, created = await upsert(api, identifier="ext-i", source_id="given")
        assert created is False
        assert pairs(contact) == [*first_pair, (other_inbox, "i@example.com"), (inbox_id, "given")]
    assert pairs(await show(api, contact["id"])) == pairs(contact)
    created_with_source, _ = await upsert(api, identifier="ext-j", source_id="j-src")
    assert pairs(created_with_source) == [(inbox_id, "j-src")]


async def test_an_update_path_inbox_problem_changes_nothing(api: Api) -> None:
    await api.create_contact(name="Holder", source_id="held")
    existing = await api.create_contact(name="Kept", identifier="ext-k")
    response = await api.post(
        PATH,
        json={
            "inbox_id": api.tenant.inbox_id,
            "identifier": "ext-k",
            "name": "Lost",
            "source_id": "held",
        },
    )
    assert response.status_code == 422, response.text
    assert response.json() == {
        "message": "Source has already been taken",
        "attributes": ["source_id"],
    }
    email_inbox = await api.tenant.add_inbox("Mail", "Channel::Email")
    response = await api.post(
        PATH, json={"inbox_id": email_inbox, "identifier": "ext-k", "name": "Lost"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["attributes"] == ["email"]
    assert await show(api, existing["id"]) == existing


async def test_validation_errors_are_those_of_create(api: Api, other_api: Api) -> None:
    existing = await api.create_contact(name="Val", identifier="ext-val", email="val@example.com")
    response = await api.post(
        PATH,
        json={
            "inbox_id": "abc",
            "identifier": "ext-val",
            "email": "not-an-email",
            "phone_number": "12",
            "blocked": None,
            "source_id": [],
        },
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["attributes"] == ["email", "phone_number", "blocked", "inbox_id", "source_id"]
    assert "conflicting_contact_id" not in body
    create = await api.post("/contacts", json={"inbox_id": "abc", "email": "not-an-email"})
    mine = await api.post(PATH, json={"inbox_id": "abc", "email": "not-an-email"})
    assert (mine.status_code, mine.json()) == (create.status_code, create.json())
    for unknown in (999999999999, other_api.tenant.inbox_id):
        response = await api.post(
            PATH, json={"inbox_id": unknown, "identifier": "ext-val", "name": "No"}
        )
        assert response.status_code == 404
        assert response.json() == NOT_FOUND
        response = await api.post(PATH, json={"inbox_id": unknown, "identifier": "ext-new"})
        assert response.status_code == 404
    assert await show(api, existing["id"]) == existing
    assert await all_ids(api) == [existing["id"]]


async def test_malformed_and_non_object_bodies(api: Api) -> None:
    response = await api.post(PATH, content=b'{"identifier": "x",}', headers=JSON_HEADERS)
    assert response.status_code == 400
    assert response.json()["error"].startswith("Malformed JSON body: ")
    for raw in (b"[]", b'"x"', b"null"):
        response = await api.post(PATH, content=raw, headers=JSON_HEADERS)
        assert response.status_code == 422
        assert response.json() == NOT_AN_OBJECT
    assert await all_ids(api) == []


async def test_sixteen_concurrent_upserts_of_one_key_leave_one_contact(api: Api) -> None:
    bodies = [
        {"inbox_id": api.tenant.inbox_id, "identifier": "race-1", "custom_attributes": {f"k{i}": i}}
        for i in range(16)
    ]
    responses = await asyncio.gather(*(api.post(PATH, json=body) for body in bodies))
    assert [r.status_code for r in responses] == [200] * 16, [r.text for r in responses]
    created = sorted(r.json()["payload"]["created"] for r in responses)
    assert created == [False] * 15 + [True]
    ids = {r.json()["payload"]["contact"]["id"] for r in responses}
    assert len(ids) == 1
    assert await all_ids(api) == list(ids)
    stored = await show(api, ids.pop())
    assert stored["custom_attributes"] == {f"k{i}": i for i in range(16)}
    assert len(stored["contact_inboxes"]) == 1


async def test_another_accounts_contact_is_never_matched(api: Api, other_api: Api) -> None:
    theirs = await other_api.create_contact(
        name="Theirs", identifier="shared", email="s@example.com"
    )
    contact, created = await upsert(api, identifier="shared", email="s@example.com", name="Mine")
    assert created is True
    assert contact["id"] != theirs["id"]
    assert await show(other_api, theirs["id"]) == theirs
    assert await all_ids(api) == [contact["id"]]


async def test_upsert_needs_write_access(
    api: Api, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    body = {"inbox_id": tenant.inbox_id, "identifier": "perm"}
    agent = await agent_api(client, "v1", tenant)
    assert (await agent.post(PATH, json=body)).status_code == 200
    url = f"/api/v2/accounts{PATH}"
    reader = await tenant.key_headers(["contacts:read"])
    refused = await client.post(url, json={**body, "identifier": "perm-2"}, headers=reader)
    assert refused.status_code == 403
    assert refused.json() == FORBIDDEN
    assert (
        await client.post(url, json=body, headers=basic(tenant.key, "wrong"))
    ).status_code == 401
    assert (await client.post(url, json=body)).status_code == 401
    v1 = f"/api/v1/accounts/{tenant.account_id}{PATH}"
    assert (
        await client.post(v1, json=body, headers={"api_access_token": "nope"})
    ).status_code == 401
    assert len(await all_ids(api)) == 1


async def test_custom_attributes_are_checked_against_definitions(api: Api) -> None:
    definition = {
        "attribute_display_name": "Seats",
        "attribute_key": "seats",
        "attribute_display_type": "number",
    }
    response = await api.post("/custom_attribute_definitions", json=definition)
    assert response.status_code == 200, response.text
    bad = {"inbox_id": "x", "identifier": "ext-ca", "custom_attributes": {"seats": "many"}}
    create = await api.post("/contacts", json=bad)
    mine = await api.post(PATH, json=bad)
    assert mine.status_code == 422, mine.text
    assert mine.json() == create.json()
    assert mine.json()["attributes"] == ["custom_attributes.seats", "inbox_id"]
    contact, created = await upsert(api, identifier="ext-ca", custom_attributes={"seats": "12"})
    assert (created, contact["custom_attributes"]) == (True, {"seats": 12})
    contact, created = await upsert(api, identifier="ext-ca", custom_attributes={"seats": "13"})
    assert (created, contact["custom_attributes"]) == (False, {"seats": 13})
    response = await api.post(PATH, json={**bad, "inbox_id": api.tenant.inbox_id})
    assert response.status_code == 422
    assert response.json()["attributes"] == ["custom_attributes.seats"]
    assert (await show(api, contact["id"]))["custom_attributes"] == {"seats": 13}
