"""POST /actions/contact_merge (contract §3, §4.6; reference §4.1), in both dialects."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.support import (
    CONTACT_KEYS,
    INBOX_KEYS,
    Api,
    Tenant,
    agent_api,
    basic,
    contact_count,
    contact_labels,
    set_labels,
    show,
)

NOT_FOUND = {"error": "Resource could not be found"}
FORBIDDEN = {"error": "You are not authorized to do this action"}
MERGE = "/actions/contact_merge"


async def merge(api: Api, base: Any, mergee: Any) -> httpx.Response:
    return await api.post(MERGE, json={"base_contact_id": base, "mergee_contact_id": mergee})


async def test_blank_fields_are_filled_and_the_base_wins_elsewhere(api: Api) -> None:
    base = await api.create_contact(
        name="Base",
        first_name="",
        last_name="Keep",
        identifier="base-1",
        blocked=True,
        availability_status="online",
        last_activity_at=1_700_000_000,
    )
    mergee = await api.create_contact(
        name="Mergee",
        first_name="Ada",
        last_name="Gone",
        email="ada@example.com",
        phone_number="+14155550100",
        identifier="mergee-1",
        thumbnail="https://example.com/ada.png",
        last_activity_at=1_800_000_000,
    )
    response = await merge(api, base["id"], mergee["id"])
    assert response.status_code == 200, response.text
    merged = response.json()
    assert "payload" not in merged
    assert set(merged) >= CONTACT_KEYS | {"contact_inboxes"}
    expected = {
        "id": base["id"],
        "name": "Base",
        "first_name": "Ada",
        "last_name": "Keep",
        "email": "ada@example.com",
        "phone_number": "+14155550100",
        "identifier": "base-1",
        "thumbnail": "https://example.com/ada.png",
        "blocked": True,
        "availability_status": "online",
        "last_activity_at": 1_800_000_000,
        "created_at": base["created_at"],
    }
    assert {key: merged[key] for key in expected} == expected
    stored = await show(api, base["id"])
    assert {key: stored[key] for key in expected} == expected


async def test_the_later_activity_wins_and_a_missing_one_is_filled(api: Api) -> None:
    base = await api.create_contact(name="A", last_activity_at=1_800_000_000)
    mergee = await api.create_contact(name="B", last_activity_at=1_700_000_000)
    response = await merge(api, base["id"], mergee["id"])
    assert response.json()["last_activity_at"] == 1_800_000_000
    other = await api.create_contact(name="C", last_activity_at=1_600_000_000)
    response = await merge(api, (await api.create_contact(name="D"))["id"], other["id"])
    assert response.json()["last_activity_at"] == 1_600_000_000


async def test_the_base_keeps_its_values_and_the_mergees_are_freed(api: Api) -> None:
    base = await api.create_contact(
        name="Base", email="base@example.com", phone_number="+14155550101", identifier="b"
    )
    mergee = await api.create_contact(
        name="Mergee", email="mergee@example.com", phone_number="+14155550102", identifier="m"
    )
    response = await merge(api, base["id"], mergee["id"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["email"], body["phone_number"], body["identifier"]) == (
        "base@example.com",
        "+14155550101",
        "b",
    )
    # The mergee's unique values went with it.
    again = await api.create_contact(
        name="New", email="mergee@example.com", phone_number="+14155550102", identifier="m"
    )
    assert again["email"] == "mergee@example.com"


async def test_json_attributes_deep_merge_with_the_base_winning(api: Api) -> None:
    # The reference's own example (reference §4.1), then nested objects.
    base = await api.create_contact(
        name="Base",
        custom_attributes={"val_test": "old", "val_empty_old": ""},
        additional_attributes={
            "social_profiles": {"github": "base", "twitter": ""},
            "city": "",
            "company_name": "Base Inc",
        },
    )
    mergee = await api.create_contact(
        name="Mergee",
        custom_attributes={"val_test": "new", "val_new": "new", "val_empty_new": ""},
        additional_attributes={
            "social_profiles": {"github": "mergee", "twitter": "m", "linkedin": "in/m"},
            "city": "Paris",
            "company_name": "Mergee Ltd",
            "country": "France",
        },
    )
    response = await merge(api, base["id"], mergee["id"])
    assert response.status_code == 200, response.text
    custom = {"val_test": "old", "val_new": "new", "val_empty_old": "", "val_empty_new": ""}
    additional = {
        "social_profiles": {"github": "base", "twitter": "m", "linkedin": "in/m"},
        "city": "Paris",
        "company_name": "Base Inc",
        "country": "France",
    }
    for contact in (response.json(), await show(api, base["id"])):
        assert contact["custom_attributes"] == custom
        assert contact["additional_attributes"] == additional


async def test_contact_inboxes_move_to_the_base(api: Api, tenant: Tenant) -> None:
    email_inbox = await tenant.add_inbox("Mail", "Channel::Email")
    base = await api.create_contact(name="Base")
    mergee = await api.create_contact(
        name="Mergee", email="m@example.com", inbox_id=email_inbox, source_id="m@example.com"
    )
    response = await merge(api, base["id"], mergee["id"])
    assert response.status_code == 200, response.text
    for contact in (response.json(), await show(api, base["id"])):
        inboxes = contact["contact_inboxes"]
        assert [ci["inbox"]["id"] for ci in inboxes] == [tenant.inbox_id, email_inbox]
        assert inboxes[0]["source_id"] == base["contact_inboxes"][0]["source_id"]
        assert inboxes[1]["source_id"] == "m@example.com"
        assert all(set(ci["inbox"]) == INBOX_KEYS for ci in inboxes)


async def test_labels_are_unioned_and_counts_follow(api: Api) -> None:
    base = await api.create_contact(name="Base")
    mergee = await api.create_contact(name="Mergee")
    await set_labels(api, base["id"], ["VIP", "alpha"])
    await set_labels(api, mergee["id"], ["vip", "beta"])
    total = await contact_count(api)
    response = await merge(api, base["id"], mergee["id"])
    assert response.status_code == 200, response.text
    assert await contact_labels(api, base["id"]) == ["alpha", "beta", "VIP"]
    assert await contact_count(api) == total - 1
    assert await contact_count(api, {"labels": "beta"}) == 1
    assert await contact_count(api, {"labels": "vip"}) == 1
    assert await contact_count(api, {"labels": "alpha"}) == 1
    assert await contact_count(api, {"labels": "beta,alpha"}) == 1


async def test_the_mergee_is_gone(api: Api) -> None:
    base = await api.create_contact(name="Base")
    mergee = await api.create_contact(name="Mergee")
    assert (await merge(api, str(base["id"]), str(mergee["id"]))).status_code == 200
    response = await api.get(f"/contacts/{mergee['id']}")
    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    again = await merge(api, base["id"], mergee["id"])
    assert again.status_code == 404
    assert again.json() == NOT_FOUND


async def test_a_contact_cannot_be_merged_into_itself(api: Api) -> None:
    contact = await api.create_contact(name="Solo", email="solo@example.com")
    for mergee in (contact["id"], str(contact["id"]), f" {contact['id']} "):
        response = await merge(api, contact["id"], mergee)
        assert response.status_code == 422, response.text
        assert response.json() == {
            "message": "A contact cannot be merged into itself",
            "attributes": ["mergee_contact_id"],
        }
    assert (await show(api, contact["id"]))["email"] == "solo@example.com"


async def test_missing_or_malformed_ids_are_a_422_naming_them(api: Api) -> None:
    contact = await api.create_contact(name="Kept")
    both = ["base_contact_id", "mergee_contact_id"]
    response = await api.post(MERGE, json={})
    assert response.status_code == 422
    assert response.json() == {
        "message": "Base contact can't be blank, Mergee contact can't be blank",
        "attributes": both,
    }
    for bad in (None, "", "abc", "12abc", "-1", 1.5, True, [1], {"id": 1}, "\uff11\uff12"):
        response = await merge(api, contact["id"], bad)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["attributes"] == ["mergee_contact_id"], bad
        response = await merge(api, bad, contact["id"])
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["attributes"] == ["base_contact_id"], bad
    response = await merge(api, "x", None)
    assert response.json()["attributes"] == both
    assert (await show(api, contact["id"]))["name"] == "Kept"


async def test_a_body_that_is_not_a_json_object(api: Api) -> None:
    headers = {"Content-Type": "application/json"}
    bad = await api.post(MERGE, content=b'{"base_contact_id": 1,', headers=headers)
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("Malformed JSON body")
    listed = await api.post(MERGE, json=[1, 2])
    assert listed.status_code == 422
    assert listed.json() == {"error": "Request body must be a JSON object"}


async def test_unknown_ids_are_a_404(api: Api) -> None:
    contact = await api.create_contact(name="Kept")
    for unknown in (999_999_999_999, "999999999999", 0, -5, "0", "9" * 30, 2**63):
        for base, mergee in ((contact["id"], unknown), (unknown, contact["id"])):
            response = await merge(api, base, mergee)
            assert response.status_code == 404, (unknown, response.text)
            assert response.json() == NOT_FOUND
    assert (await show(api, contact["id"]))["name"] == "Kept"


async def test_another_accounts_contact_is_a_404_and_untouched(api: Api, other_api: Api) -> None:
    mine = await api.create_contact(name="Mine")
    theirs = await other_api.create_contact(
        name="Theirs", email="theirs@example.com", custom_attributes={"plan": "pro"}
    )
    await set_labels(other_api, theirs["id"], ["secret"])
    for base, mergee in ((mine["id"], theirs["id"]), (theirs["id"], mine["id"])):
        response = await merge(api, base, mergee)
        assert response.status_code == 404, response.text
        assert response.json() == NOT_FOUND
    after = await show(other_api, theirs["id"])
    assert (after["name"], after["email"], after["custom_attributes"]) == (
        "Theirs",
        "theirs@example.com",
        {"plan": "pro"},
    )
    assert await contact_labels(other_api, theirs["id"]) == ["secret"]
    assert (await show(api, mine["id"]))["email"] is None
    assert await contact_labels(api, mine["id"]) == []


async def test_agents_may_merge(api: Api, client: httpx.AsyncClient, tenant: Tenant) -> None:
    agent = await agent_api(client, api.dialect, tenant)
    base = await api.create_contact(name="Base")
    mergee = await api.create_contact(name="Mergee", email="agent-merge@example.com")
    response = await merge(agent, base["id"], mergee["id"])
    assert response.status_code == 200, response.text
    assert response.json()["email"] == "agent-merge@example.com"


async def test_a_read_only_key_and_bad_credentials_are_refused(
    api: Api, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    base = await api.create_contact(name="Base")
    mergee = await api.create_contact(name="Mergee")
    body = {"base_contact_id": base["id"], "mergee_contact_id": mergee["id"]}
    reader = await tenant.key_headers(["contacts:read"])
    refused = await client.post(f"/api/v2/accounts{MERGE}", json=body, headers=reader)
    assert refused.status_code == 403
    assert refused.json() == FORBIDDEN
    wrong = await client.post(
        f"/api/v2/accounts{MERGE}", json=body, headers=basic(tenant.key, "wrong")
    )
    assert wrong.status_code == 401
    no_token = await client.post(f"/api/v1/accounts/{tenant.account_id}{MERGE}", json=body)
    assert no_token.status_code == 401
    bad_token = await client.post(
        f"/api/v1/accounts/{tenant.account_id}{MERGE}",
        json=body,
        headers={"api_access_token": "nope"},
    )
    assert bad_token.status_code == 401
    assert (await show(api, mergee["id"]))["name"] == "Mergee"


async def test_concurrent_merges_of_the_same_pair_and_of_crossing_pairs(api: Api) -> None:
    a, b = [(await api.create_contact(name=n))["id"] for n in ("A", "B")]
    for contact_id in (a, b):
        await set_labels(api, contact_id, [f"pair-{contact_id}"])
    others = [(await api.create_contact(name=f"O{i}"))["id"] for i in range(40)]
    # Pair 2k merges contacts of counter shards (s, s+1), pair 2k+1 of shards (s+1, s):
    # without a common lock order two of them would each hold a shard the other needs.
    crossing = [(others[i], others[32 + (i + 1 if i % 2 == 0 else i - 1)]) for i in range(8)]
    total = await contact_count(api)
    pairs = [(a, b), (b, a), *crossing]
    responses = await asyncio.gather(*(merge(api, x, y) for x, y in pairs))
    statuses = [r.status_code for r in responses]
    # One of the two opposite merges of a and b wins; the other finds its mergee gone.
    assert sorted(statuses[:2]) == [200, 404], [r.text for r in responses]
    assert statuses[2:] == [200] * len(crossing), [r.text for r in responses]
    survivor = (responses[0] if statuses[0] == 200 else responses[1]).json()["id"]
    assert await contact_labels(api, survivor) == sorted([f"pair-{a}", f"pair-{b}"])
    assert await contact_count(api) == total - 1 - len(crossing)
