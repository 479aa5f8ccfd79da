"""Contact events and the event feed (issue 11, items 2 and 5), in both dialects: what a
change writes, in the transaction of the change, and GET /events in commit order."""

from __future__ import annotations

from typing import Any

import pytest

from contactdesk.db import Database
from contactdesk.events import service as events
from tests.support import Api, Tenant, agent_api

FEED = "/events"


async def feed(api: Api, after: str | None = None, limit: int | None = None) -> dict[str, Any]:
    params = {}
    if after is not None:
        params["after"] = after
    if limit is not None:
        params["limit"] = str(limit)
    response = await api.get(FEED, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def everything(api: Api, limit: int = 1000) -> list[dict[str, Any]]:
    """Every event, following next_cursor page by page."""
    seen: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        body = await feed(api, cursor, limit)
        if not body["payload"]:
            return seen
        seen.extend(body["payload"])
        cursor = body["meta"]["next_cursor"]
    raise AssertionError("the feed never ends")


async def test_create_update_delete_in_order_with_their_payloads(api: Api, tenant: Tenant) -> None:
    contact = await api.create_contact(name="Ada", email="ada@example.com")
    url = f"/contacts/{contact['id']}"
    response = await api.patch(url, json={"name": "Ada L", "custom_attributes": {"plan": "pro"}})
    assert response.status_code == 200
    response = await api.patch(url, json={"name": "Ada L"})  # nothing changes: no event
    assert response.status_code == 200
    response = await api.post(
        f"{url}/destroy_custom_attributes", json={"custom_attributes": ["plan"]}
    )
    assert response.status_code == 200
    assert (await api.delete(url)).status_code == 200

    seen = await everything(api)
    assert [e["event"] for e in seen] == [
        "contact_created",
        "contact_updated",
        "contact_updated",
        "contact_deleted",
    ]
    assert len({e["id"] for e in seen}) == 4
    created, renamed, removed, deleted = (e["payload"] for e in seen)
    for payload, event in zip(
        (created, renamed, removed, deleted), (e["event"] for e in seen), strict=True
    ):
        assert payload["event"] == event
        assert payload["source"] == "api"
        assert payload["account"] == {"id": tenant.account_id, "name": "Acme"}
        assert payload["id"] == contact["id"]
    assert {k: created[k] for k in contact} == contact
    assert created["avatar"] == ""
    assert "changed_attributes" not in created
    assert renamed["name"] == "Ada L"
    assert renamed["changed_attributes"] == [
        {"name": {"previous_value": "Ada", "current_value": "Ada L"}},
        {"custom_attributes": {"previous_value": {}, "current_value": {"plan": "pro"}}},
    ]
    assert removed["changed_attributes"] == [
        {"custom_attributes": {"previous_value": {"plan": "pro"}, "current_value": {}}}
    ]
    assert deleted["name"] == "Ada L"
    assert deleted["contact_inboxes"] == created["contact_inboxes"]


async def test_a_refused_change_writes_no_event(api: Api) -> None:
    await api.create_contact(name="First", email="taken@example.com")
    response = await api.post(
        "/contacts", json={"inbox_id": api.tenant.inbox_id, "email": "taken@example.com"}
    )
    assert response.status_code == 422
    other = await api.create_contact(name="Second")
    response = await api.patch(f"/contacts/{other['id']}", json={"email": "taken@example.com"})
    assert response.status_code == 422
    assert [e["event"] for e in await everything(api)] == ["contact_created"] * 2


async def test_cursor_pages_and_a_quiet_feed(api: Api) -> None:
    made = [await api.create_contact(name=f"C{n}") for n in range(5)]
    seen = await everything(api, limit=2)
    assert [e["payload"]["id"] for e in seen] == [c["id"] for c in made]
    body = await feed(api, limit=2)
    assert len(body["payload"]) == 2
    last = (await feed(api, body["meta"]["next_cursor"], 1000))["meta"]["next_cursor"]
    quiet = await feed(api, last)
    assert quiet == {"payload": [], "meta": {"next_cursor": last}}
    await api.create_contact(name="Later")
    later = await feed(api, last)
    assert [e["payload"]["name"] for e in later["payload"]] == ["Later"]


@pytest.mark.parametrize(
    ("params", "status"),
    [
        ({"after": "abc"}, 422),
        ({"after": "-1"}, 422),
        ({"after": "9" * 5000}, 422),
        ({"limit": "0"}, 422),
        ({"limit": "1001"}, 422),
        ({"limit": "x"}, 422),
        ({"limit": "1000"}, 200),
        ({"after": "0"}, 200),
    ],
)
async def test_bad_parameters(api: Api, params: dict[str, str], status: int) -> None:
    response = await api.get(FEED, params=params)
    assert response.status_code == status, response.text
    if status == 422:
        assert set(response.json()) == {"error"}


async def test_readers_may_read_it_and_another_account_sees_nothing(
    api: Api, other_api: Api, client: Any, tenant: Tenant, dialect: str
) -> None:
    await api.create_contact(name="Mine")
    await other_api.create_contact(name="Theirs")
    agent = await agent_api(client, dialect, tenant)
    mine = await everything(agent)
    assert [e["payload"]["name"] for e in mine] == ["Mine"]
    theirs = await everything(other_api)
    assert [e["payload"]["name"] for e in theirs] == ["Theirs"]
    # another account's cursor is only a number: it shows nothing of theirs
    body = await feed(api, "0")
    assert all(e["payload"]["account"]["id"] == tenant.account_id for e in body["payload"])


async def test_transactions_that_commit_out_of_order_are_all_seen_once(
    api: Api, db: Database, tenant: Tenant
) -> None:
    """A writer that began first (the smaller event id) commits last: a poller that read in
    between still sees it afterwards, and sees nothing twice."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writer at a time: ids are commit order")
    contact = {"id": 1, "name": "x"}

    def created(name: str) -> dict[str, Any]:
        return events.event_params(
            tenant.account_id, events.CREATED, "api", {**contact, "name": name}
        )

    seen: list[str] = []
    cursor = "0"

    async def poll() -> None:
        nonlocal cursor
        body = await feed(api, cursor)
        seen.extend(e["payload"]["name"] for e in body["payload"])
        cursor = body["meta"]["next_cursor"]

    async with db.write_connection() as first:
        await events.record(first, created("first"))
        for n in range(3):
            async with db.write_connection() as later:
                await events.record(later, created(f"l{n}"))
                await later.commit()
            await poll()
        assert seen == ["l0", "l1", "l2"]
        await first.commit()
    await poll()
    await poll()
    assert seen == ["l0", "l1", "l2", "first"]
    # a rolled-back writer leaves nothing
    async with db.write_connection() as abandoned:
        await events.record(abandoned, created("gone"))
    await poll()
    assert seen == ["l0", "l1", "l2", "first"]


async def test_a_contact_created_without_an_inbox_has_the_same_body(api: Api) -> None:
    if api.dialect != "v1":
        pytest.skip("v2 requires inbox_id")
    response = await api.post("/contacts", json={"name": "No inbox", "custom_attributes": {"a": 1}})
    assert response.status_code == 200, response.text
    contact = response.json()["payload"]["contact"]
    (event,) = await everything(api)
    assert {k: event["payload"][k] for k in contact} == contact
    assert event["payload"]["contact_inboxes"] == []
