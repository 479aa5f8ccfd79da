"""Contact inboxes (contract §3, §4.6, §5, §7; reference §3.7, §6.5, §6.7), both dialects:
POST /contacts/{id}/contact_inboxes, GET /contacts/{id}/contactable_inboxes and
POST /contact_inboxes/filter."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import httpx
import sqlalchemy as sa

from contactdesk.db import Database
from contactdesk.models import ContactInbox
from tests.support import CONTACT_KEYS, INBOX_KEYS, Api, Tenant, agent_api, basic

JSON_HEADERS = {"Content-Type": "application/json"}
NOT_FOUND = {"error": "Resource could not be found"}
FORBIDDEN = {"error": "You are not authorized to do this action"}
NOT_AN_OBJECT = {"error": "Request body must be a JSON object"}
INBOX_BLANK = {"message": "Inbox can't be blank", "attributes": ["inbox_id"]}
SOURCE_TAKEN = {"message": "Source has already been taken", "attributes": ["source_id"]}
BAD_CONTACT_IDS = ["0", "-1", "abc", "1.5", "999999999999", "9223372036854775808"]


def attach_path(contact_id: int | str) -> str:
    return f"/contacts/{contact_id}/contact_inboxes"


def contactable_path(contact_id: int | str) -> str:
    return f"/contacts/{contact_id}/contactable_inboxes"


def is_uuid(value: str) -> bool:
    try:
        return str(uuid.UUID(value)) == value
    except ValueError:
        return False


async def attach(api: Api, contact_id: int, **body: Any) -> dict[str, Any]:
    response = await api.post(attach_path(contact_id), json=body)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def stored_inboxes(api: Api, contact_id: int) -> list[tuple[int, str]]:
    """(inbox id, source_id) of the contact's contact inboxes, read back through the API."""
    response = await api.get(f"/contacts/{contact_id}")
    assert response.status_code == 200, response.text
    return [
        (ci["inbox"]["id"], ci["source_id"]) for ci in response.json()["payload"]["contact_inboxes"]
    ]


async def hmac_flags(db: Database, contact_id: int) -> list[bool]:
    async with db.reader() as session:
        rows = await session.execute(
            sa.select(ContactInbox.hmac_verified)
            .where(ContactInbox.contact_id == contact_id)
            .order_by(ContactInbox.id)
        )
        return [bool(flag) for flag in rows.scalars()]


async def inbox_json(api: Api, inbox_id: int) -> dict[str, Any]:
    response = await api.get("/inboxes")
    assert response.status_code == 200, response.text
    inbox: dict[str, Any] = next(i for i in response.json()["payload"] if i["id"] == inbox_id)
    return inbox


# POST /contacts/{id}/contact_inboxes ------------------------------------------------------


async def test_attach_an_api_inbox_generates_a_uuid(api: Api) -> None:
    contact = await api.create_contact(name="Ada")
    second = await api.tenant.add_inbox("Second API", "Channel::Api")
    response = await api.post(attach_path(contact["id"]), json={"inbox_id": second})
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"source_id", "inbox"}
    assert is_uuid(body["source_id"])
    assert set(body["inbox"]) == INBOX_KEYS
    assert body["inbox"] == await inbox_json(api, second)
    assert body["inbox"]["channel_type"] == "Channel::Api"
    stored = await stored_inboxes(api, contact["id"])
    assert stored[1:] == [(second, body["source_id"])]
    # Without a source_id each attach to an API inbox is a new identity there.
    again = await attach(api, contact["id"], inbox_id=str(second))
    assert again["source_id"] != body["source_id"]
    assert len(await stored_inboxes(api, contact["id"])) == 3


async def test_a_given_source_id_is_kept_as_given(api: Api) -> None:
    contact = await api.create_contact(name="Bo")
    body = await attach(api, contact["id"], inbox_id=api.tenant.inbox_id, source_id=" ext:42 ")
    assert body["source_id"] == " ext:42 "
    numeric = await attach(api, contact["id"], inbox_id=api.tenant.inbox_id, source_id=4242)
    assert numeric["source_id"] == "4242"
    stored = await stored_inboxes(api, contact["id"])
    assert [s for _, s in stored[1:]] == [" ext:42 ", "4242"]


async def test_each_channel_has_its_default_source_id(api: Api) -> None:
    contact = await api.create_contact(
        name="Cy", email="Cy@Example.com", phone_number="+14155550123"
    )
    expected = {
        "Channel::Email": "cy@example.com",
        "Channel::Sms": "+14155550123",
        "Channel::Whatsapp": "14155550123",
    }
    for channel, source_id in expected.items():
        inbox_id = await api.tenant.add_inbox(channel, channel)
        body = await attach(api, contact["id"], inbox_id=inbox_id)
        assert body["source_id"] == source_id, channel
        assert body["inbox"]["channel_type"] == channel
    widget = await api.tenant.add_inbox("Widget", "Channel::WebWidget")
    assert is_uuid((await attach(api, contact["id"], inbox_id=widget))["source_id"])
    assert len(await stored_inboxes(api, contact["id"])) == 5


async def test_a_channel_needing_a_missing_value_is_a_422_naming_it(api: Api) -> None:
    contact = await api.create_contact(name="Di")
    cases = [
        ("Channel::Email", "email", "Email can't be blank"),
        ("Channel::Sms", "phone_number", "Phone number can't be blank"),
        ("Channel::Whatsapp", "phone_number", "Phone number can't be blank"),
    ]
    for channel, attribute, message in cases:
        inbox_id = await api.tenant.add_inbox(channel, channel)
        response = await api.post(attach_path(contact["id"]), json={"inbox_id": inbox_id})
        assert response.status_code == 422, response.text
        body = response.json()
        assert body["attributes"] == [attribute]
        assert body["message"].startswith(message), body
        # A given source_id needs nothing from the contact.
        assert (await attach(api, contact["id"], inbox_id=inbox_id, source_id="x"))[
            "source_id"
        ] == "x"
    assert len(await stored_inboxes(api, contact["id"])) == 4


async def test_hmac_verified_is_stored(api: Api, db: Database) -> None:
    contact = await api.create_contact(name="Ed")
    for value in (True, "true", "TRUE", False, "false", None):
        await attach(api, contact["id"], inbox_id=api.tenant.inbox_id, hmac_verified=value)
    await attach(api, contact["id"], inbox_id=api.tenant.inbox_id)
    # The first row is the create's own contact inbox.
    assert await hmac_flags(db, contact["id"]) == [
        False,
        True,
        True,
        True,
        False,
        False,
        False,
        False,
    ]


async def test_attaching_a_pair_the_contact_holds_is_idempotent(api: Api, db: Database) -> None:
    contact = await api.create_contact(name="Flo", email="flo@example.com")
    email_inbox = await api.tenant.add_inbox("Mail", "Channel::Email")
    first = await attach(api, contact["id"], inbox_id=email_inbox)
    again = await attach(api, contact["id"], inbox_id=email_inbox, hmac_verified=True)
    assert again == first
    held = await attach(api, contact["id"], inbox_id=email_inbox, source_id="flo@example.com")
    assert held == first
    assert len(await stored_inboxes(api, contact["id"])) == 2
    assert await hmac_flags(db, contact["id"]) == [False, False]


async def test_a_source_id_another_contact_holds_is_a_422(api: Api) -> None:
    holder = await api.create_contact(name="Holder", source_id="shared")
    other = await api.create_contact(name="Other")
    response = await api.post(
        attach_path(other["id"]), json={"inbox_id": api.tenant.inbox_id, "source_id": "shared"}
    )
    assert response.status_code == 422, response.text
    assert response.json() == SOURCE_TAKEN
    assert len(await stored_inboxes(api, other["id"])) == 1
    assert await stored_inboxes(api, holder["id"]) == [(api.tenant.inbox_id, "shared")]
    # The same source_id in another inbox is another identity.
    second = await api.tenant.add_inbox("Second API", "Channel::Api")
    assert (await attach(api, other["id"], inbox_id=second, source_id="shared"))[
        "source_id"
    ] == "shared"


async def test_concurrent_claims_of_one_source_id_leave_one_holder(api: Api) -> None:
    contacts = [await api.create_contact(name=f"Racer {i}") for i in range(8)]
    body = {"inbox_id": api.tenant.inbox_id, "source_id": "contested"}
    responses = await asyncio.gather(*(api.post(attach_path(c["id"]), json=body) for c in contacts))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200] + [422] * 7, [r.text for r in responses]
    for response in responses:
        if response.status_code == 422:
            assert response.json() == SOURCE_TAKEN
    holders = [
        c["id"]
        for c in contacts
        if (api.tenant.inbox_id, "contested") in await stored_inboxes(api, c["id"])
    ]
    assert len(holders) == 1
    filtered = await api.post("/contact_inboxes/filter", json=body)
    assert filtered.json()["id"] == holders[0]


async def test_concurrent_attaches_of_one_pair_by_one_contact_store_it_once(api: Api) -> None:
    contact = await api.create_contact(name="Gus")
    body = {"inbox_id": api.tenant.inbox_id, "source_id": "same"}
    responses = await asyncio.gather(
        *(api.post(attach_path(contact["id"]), json=body) for _ in range(8))
    )
    assert [r.status_code for r in responses] == [200] * 8, [r.text for r in responses]
    assert {r.json()["source_id"] for r in responses} == {"same"}
    stored = await stored_inboxes(api, contact["id"])
    assert stored.count((api.tenant.inbox_id, "same")) == 1


async def test_inbox_id_is_required_and_checked_by_the_create_rules(
    api: Api, other_api: Api
) -> None:
    contact = await api.create_contact(name="Hal")
    for body in ({}, {"inbox_id": None}, {"inbox_id": None, "source_id": "x"}):
        response = await api.post(attach_path(contact["id"]), json=body)
        assert response.status_code == 422, response.text
        assert response.json() == INBOX_BLANK
    bad_ids: list[Any] = ["abc", "1.5", 1.5, True, [], {}, "12abc", "\u0661\u0662", ""]
    for bad in bad_ids:
        response = await api.post(attach_path(contact["id"]), json={"inbox_id": bad})
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["attributes"] == ["inbox_id"], bad
    foreign = other_api.tenant.inbox_id
    for unknown in (999999999999, "999999999999", 0, foreign, str(foreign), 2**63 - 1, 2**63):
        response = await api.post(attach_path(contact["id"]), json={"inbox_id": unknown})
        assert response.status_code == 404, (unknown, response.text)
        assert response.json() == NOT_FOUND
    assert len(await stored_inboxes(api, contact["id"])) == 1


async def test_bad_source_id_and_hmac_verified_are_422s(api: Api) -> None:
    contact = await api.create_contact(name="Ivy")
    inbox_id = api.tenant.inbox_id
    bad_sources: list[Any] = [[], {}, True, 1.5, "x" * 256, "a\x00b"]
    for bad in bad_sources:
        response = await api.post(
            attach_path(contact["id"]), json={"inbox_id": inbox_id, "source_id": bad}
        )
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["attributes"] == ["source_id"], bad
    bad_flags: list[Any] = ["yes", 1, 0, [], {}, ""]
    for bad in bad_flags:
        body: dict[str, Any] = {"inbox_id": inbox_id, "hmac_verified": bad}
        response = await api.post(attach_path(contact["id"]), json=body)
        assert response.status_code == 422, (bad, response.text)
        assert response.json() == {
            "message": "Hmac verified is invalid",
            "attributes": ["hmac_verified"],
        }
    every = {"inbox_id": "abc", "source_id": [], "hmac_verified": "maybe"}
    response = await api.post(attach_path(contact["id"]), json=every)
    assert response.status_code == 422
    assert response.json()["attributes"] == ["inbox_id", "source_id", "hmac_verified"]
    assert len(await stored_inboxes(api, contact["id"])) == 1


async def test_malformed_and_non_object_bodies(api: Api) -> None:
    contact = await api.create_contact(name="Jo")
    response = await api.post(
        attach_path(contact["id"]), content=b'{"inbox_id": 1,}', headers=JSON_HEADERS
    )
    assert response.status_code == 400
    assert response.json()["error"].startswith("Malformed JSON body: ")
    for raw in (b"[]", b'"x"', b"1"):
        response = await api.post(attach_path(contact["id"]), content=raw, headers=JSON_HEADERS)
        assert response.status_code == 422
        assert response.json() == NOT_AN_OBJECT


async def test_unknown_or_foreign_contact_is_a_404_before_the_body(
    api: Api, other_api: Api
) -> None:
    foreign = await other_api.create_contact(name="Theirs")
    for contact_id in [*BAD_CONTACT_IDS, str(foreign["id"])]:
        response = await api.post(
            attach_path(contact_id), content=b"{nonsense", headers=JSON_HEADERS
        )
        assert response.status_code == 404, (contact_id, response.text)
        assert response.json() == NOT_FOUND
        response = await api.post(attach_path(contact_id), json={"inbox_id": api.tenant.inbox_id})
        assert response.status_code == 404
    assert len(await stored_inboxes(other_api, foreign["id"])) == 1


async def test_attach_needs_write_access(
    api: Api, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    contact = await api.create_contact(name="Kim")
    body = {"inbox_id": tenant.inbox_id}
    agent = await agent_api(client, "v1", tenant)
    assert (await agent.post(attach_path(contact["id"]), json=body)).status_code == 200
    url = f"/api/v2/accounts{attach_path(contact['id'])}"
    reader = await tenant.key_headers(["contacts:read"])
    refused = await client.post(url, json=body, headers=reader)
    assert refused.status_code == 403
    assert refused.json() == FORBIDDEN
    assert (
        await client.post(url, json=body, headers=basic(tenant.key, "wrong"))
    ).status_code == 401
    assert (await client.post(url, json=body)).status_code == 401
    assert len(await stored_inboxes(api, contact["id"])) == 2


# GET /contacts/{id}/contactable_inboxes ---------------------------------------------------


async def contactable(api: Api, contact_id: int) -> list[dict[str, Any]]:
    response = await api.get(contactable_path(contact_id))
    assert response.status_code == 200, response.text
    payload: list[dict[str, Any]] = response.json()["payload"]
    for item in payload:
        assert set(item) == {"source_id", "inbox"}
        assert set(item["inbox"]) == INBOX_KEYS
    return payload


async def test_contactable_inboxes_per_channel(api: Api, other_api: Api) -> None:
    tenant = api.tenant
    email = await tenant.add_inbox("Mail", "Channel::Email")
    sms = await tenant.add_inbox("Sms", "Channel::Sms")
    whatsapp = await tenant.add_inbox("Whatsapp", "Channel::Whatsapp")
    widget = await tenant.add_inbox("Widget", "Channel::WebWidget")
    second_api = await tenant.add_inbox("Second API", "Channel::Api")
    await other_api.create_contact(name="Theirs")  # the other account's inboxes never show
    contact = await api.create_contact(
        name="Lu", email="lu@example.com", phone_number="+4930123456", source_id="lu-api"
    )
    payload = await contactable(api, contact["id"])
    assert [item["inbox"]["id"] for item in payload] == [
        tenant.inbox_id,
        email,
        sms,
        whatsapp,
        second_api,
    ]
    sources = [item["source_id"] for item in payload]
    assert sources[:4] == ["lu-api", "lu@example.com", "+4930123456", "4930123456"]
    assert is_uuid(sources[4])
    assert payload[1]["inbox"] == await inbox_json(api, email)
    # Nothing is stored by the GET.
    assert await stored_inboxes(api, contact["id"]) == [(tenant.inbox_id, "lu-api")]
    # A WebWidget inbox shows once the contact is in it; an API inbox offers its latest.
    await attach(api, contact["id"], inbox_id=widget, source_id="w-1")
    await attach(api, contact["id"], inbox_id=tenant.inbox_id, source_id="lu-api-2")
    payload = await contactable(api, contact["id"])
    by_inbox = {item["inbox"]["id"]: item["source_id"] for item in payload}
    assert list(by_inbox) == [tenant.inbox_id, email, sms, whatsapp, widget, second_api]
    assert by_inbox[widget] == "w-1"
    assert by_inbox[tenant.inbox_id] == "lu-api-2"


async def test_contactable_inboxes_skip_channels_missing_a_value(api: Api) -> None:
    await api.tenant.add_inbox("Mail", "Channel::Email")
    await api.tenant.add_inbox("Sms", "Channel::Sms")
    await api.tenant.add_inbox("Whatsapp", "Channel::Whatsapp")
    await api.tenant.add_inbox("Widget", "Channel::WebWidget")
    contact = await api.create_contact(name="Mo", source_id="mo")
    payload = await contactable(api, contact["id"])
    assert [(i["inbox"]["id"], i["source_id"]) for i in payload] == [(api.tenant.inbox_id, "mo")]
    phone_only = await api.create_contact(name="Ned", phone_number="+4930999")
    channels = [i["inbox"]["channel_type"] for i in await contactable(api, phone_only["id"])]
    assert channels == ["Channel::Api", "Channel::Sms", "Channel::Whatsapp"]


async def test_contactable_inboxes_of_unknown_or_foreign_contact(
    api: Api, other_api: Api, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    foreign = await other_api.create_contact(name="Theirs")
    for contact_id in [*BAD_CONTACT_IDS, str(foreign["id"])]:
        response = await api.get(contactable_path(contact_id))
        assert response.status_code == 404, (contact_id, response.text)
        assert response.json() == NOT_FOUND
    contact = await api.create_contact(name="Oz")
    url = f"/api/v2/accounts{contactable_path(contact['id'])}"
    reader = await tenant.key_headers(["contacts:read"])
    assert (await client.get(url, headers=reader)).status_code == 200
    writer_only = await tenant.key_headers(["contacts:write"])
    refused = await client.get(url, headers=writer_only)
    assert refused.status_code == 403
    assert refused.json() == FORBIDDEN
    assert (await client.get(url, headers=basic(tenant.key, "wrong"))).status_code == 401


# POST /contact_inboxes/filter -------------------------------------------------------------


async def test_filter_finds_the_contact_by_source_id(api: Api) -> None:
    contact = await api.create_contact(name="Pia", email="pia@example.com", source_id="pia-1")
    await api.create_contact(name="Quin", source_id="quin-1")
    body = {"inbox_id": api.tenant.inbox_id, "source_id": "pia-1"}
    response = await api.post("/contact_inboxes/filter", json=body)
    assert response.status_code == 200, response.text
    found = response.json()
    assert set(found) >= CONTACT_KEYS | {"contact_inboxes"}
    assert found["id"] == contact["id"]
    assert found["email"] == "pia@example.com"
    assert found["contact_inboxes"][0]["source_id"] == "pia-1"
    assert set(found["contact_inboxes"][0]["inbox"]) == INBOX_KEYS
    as_text = await api.post(
        "/contact_inboxes/filter", json={"inbox_id": str(api.tenant.inbox_id), "source_id": "pia-1"}
    )
    assert as_text.json()["id"] == contact["id"]


async def test_filter_without_a_match_is_a_404(api: Api, other_api: Api) -> None:
    contact = await api.create_contact(name="Ray", source_id="ray-1")
    second = await api.tenant.add_inbox("Second API", "Channel::Api")
    for body in (
        {"inbox_id": api.tenant.inbox_id, "source_id": "nobody"},
        {"inbox_id": api.tenant.inbox_id, "source_id": "RAY-1"},
        {"inbox_id": second, "source_id": "ray-1"},
        {"inbox_id": 999999999999, "source_id": "ray-1"},
        {"inbox_id": other_api.tenant.inbox_id, "source_id": "ray-1"},
    ):
        response = await api.post("/contact_inboxes/filter", json=body)
        assert response.status_code == 404, (body, response.text)
        assert response.json() == NOT_FOUND
    # Another account cannot find my contact, not even through my inbox id.
    mine = {"inbox_id": api.tenant.inbox_id, "source_id": "ray-1"}
    response = await other_api.post("/contact_inboxes/filter", json=mine)
    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    assert (await api.post("/contact_inboxes/filter", json=mine)).json()["id"] == contact["id"]


async def test_filter_body_is_checked(api: Api) -> None:
    inbox_id = api.tenant.inbox_id
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({}, ["inbox_id", "source_id"]),
        ({"inbox_id": inbox_id}, ["source_id"]),
        ({"inbox_id": inbox_id, "source_id": None}, ["source_id"]),
        ({"inbox_id": inbox_id, "source_id": ""}, ["source_id"]),
        ({"inbox_id": inbox_id, "source_id": []}, ["source_id"]),
        ({"source_id": "x"}, ["inbox_id"]),
        ({"inbox_id": "abc", "source_id": "x"}, ["inbox_id"]),
        ({"inbox_id": [1], "source_id": {}}, ["inbox_id", "source_id"]),
    ]
    for body, attributes in cases:
        response = await api.post("/contact_inboxes/filter", json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["attributes"] == attributes, body
    blank = await api.post("/contact_inboxes/filter", json={})
    assert blank.json() == {
        "message": "Inbox can't be blank, Source can't be blank",
        "attributes": ["inbox_id", "source_id"],
    }
    response = await api.post("/contact_inboxes/filter", content=b"{", headers=JSON_HEADERS)
    assert response.status_code == 400
    response = await api.post("/contact_inboxes/filter", content=b"[]", headers=JSON_HEADERS)
    assert response.status_code == 422
    assert response.json() == NOT_AN_OBJECT


async def test_filter_needs_read_access(
    api: Api, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    await api.create_contact(name="Sam", source_id="sam-1")
    body = {"inbox_id": tenant.inbox_id, "source_id": "sam-1"}
    url = "/api/v2/accounts/contact_inboxes/filter"
    reader = await tenant.key_headers(["contacts:read"])
    assert (await client.post(url, json=body, headers=reader)).status_code == 200
    agent = await agent_api(client, "v1", tenant)
    assert (await agent.post("/contact_inboxes/filter", json=body)).status_code == 200
    writer_only = await tenant.key_headers(["contacts:write"])
    refused = await client.post(url, json=body, headers=writer_only)
    assert refused.status_code == 403
    assert refused.json() == FORBIDDEN
    assert (
        await client.post(url, json=body, headers=basic(tenant.key, "wrong"))
    ).status_code == 401
    v1 = f"/api/v1/accounts/{tenant.account_id}/contact_inboxes/filter"
    assert (await client.post(v1, json=body)).status_code == 401
