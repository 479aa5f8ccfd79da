"""Every kind of contact change writes its events (issue 11, item 2): upsert, labels,
contact inboxes, merge and bulk actions, with their source, read back from the feed."""

from __future__ import annotations

from typing import Any

from tests.events.test_feed import everything
from tests.support import Api, Tenant, set_labels


def summary(events: list[dict[str, Any]]) -> list[tuple[str, str, Any]]:
    return [(e["event"], e["payload"]["source"], e["payload"]["id"]) for e in events]


async def test_upsert_creates_then_updates(api: Api) -> None:
    body = {"inbox_id": api.tenant.inbox_id, "identifier": "u-1", "name": "Up"}
    first = (await api.post("/contacts/upsert", json=body)).json()["payload"]["contact"]
    await api.post("/contacts/upsert", json={**body, "name": "Up 2"})
    await api.post("/contacts/upsert", json={**body, "name": "Up 2"})  # no change
    seen = await everything(api)
    assert summary(seen) == [
        ("contact_created", "api", first["id"]),
        ("contact_updated", "api", first["id"]),
    ]
    assert seen[1]["payload"]["changed_attributes"] == [
        {"name": {"previous_value": "Up", "current_value": "Up 2"}}
    ]


async def test_labels_change_is_an_update_with_the_labels(api: Api) -> None:
    contact = await api.create_contact(name="Labelled")
    await set_labels(api, contact["id"], ["vip", "Lead"])
    await set_labels(api, contact["id"], ["Lead", "vip"])  # the same set: nothing
    await set_labels(api, contact["id"], [])
    seen = await everything(api)
    assert [e["event"] for e in seen] == ["contact_created"] + ["contact_updated"] * 2
    assert seen[1]["payload"]["changed_attributes"] == [
        {"labels": {"previous_value": [], "current_value": ["Lead", "vip"]}}
    ]
    assert seen[2]["payload"]["changed_attributes"] == [
        {"labels": {"previous_value": ["Lead", "vip"], "current_value": []}}
    ]


async def test_a_new_contact_inbox_is_an_update(api: Api, tenant: Tenant) -> None:
    contact = await api.post("/contacts", json={"inbox_id": tenant.inbox_id, "name": "Reached"})
    contact_id = contact.json()["payload"]["contact"]["id"]
    other_inbox = await tenant.add_inbox("Second API", "Channel::Api")
    response = await api.post(
        f"/contacts/{contact_id}/contact_inboxes",
        json={"inbox_id": other_inbox, "source_id": "src-2"},
    )
    assert response.status_code == 200, response.text
    seen = await everything(api)
    assert [e["event"] for e in seen] == ["contact_created", "contact_updated"]
    (change,) = seen[1]["payload"]["changed_attributes"]
    assert list(change) == ["contact_inboxes"]
    assert len(change["contact_inboxes"]["current_value"]) == 2


async def test_merge_tells_of_the_merged_and_the_deleted_contact(api: Api) -> None:
    base = await api.create_contact(name="Base")
    mergee = await api.create_contact(name="Mergee", email="m@example.com")
    response = await api.post(
        "/actions/contact_merge",
        json={"base_contact_id": base["id"], "mergee_contact_id": mergee["id"]},
    )
    assert response.status_code == 200, response.text
    seen = await everything(api)
    assert summary(seen)[2:] == [
        ("contact_merged", "merge", base["id"]),
        ("contact_deleted", "merge", mergee["id"]),
    ]
    assert seen[2]["payload"]["merged_contact_id"] == mergee["id"]
    assert seen[2]["payload"]["email"] == "m@example.com"


async def test_bulk_actions(api: Api) -> None:
    made = [await api.create_contact(name=f"Bulk {n}") for n in range(3)]
    ids = [c["id"] for c in made]
    response = await api.post(
        "/bulk_actions",
        json={"type": "Contact", "ids": ids, "labels": {"add": ["vip"]}},
    )
    assert response.status_code == 200, response.text
    response = await api.post(
        "/bulk_actions",
        json={"type": "Contact", "ids": [*ids[:2], 999999999], "action_name": "delete"},
    )
    assert response.status_code == 200, response.text
    seen = (await everything(api))[3:]
    assert summary(seen) == [
        *(("contact_updated", "bulk", i) for i in ids),
        *(("contact_deleted", "bulk", i) for i in ids[:2]),
    ]
    assert seen[0]["payload"]["changed_attributes"] == [
        {"labels": {"previous_value": [], "current_value": ["vip"]}}
    ]
