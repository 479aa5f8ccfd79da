"""Webhook delivery (issue 11, item 3) to a real HTTP receiver on loopback, in both dialects
and on both databases: signed, in order per contact, retried, 410 disables, several
dispatchers deliver each event once."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa

from contactdesk import limits as limits_module
from contactdesk.config import Settings
from contactdesk.db import Database
from contactdesk.webhooks.dispatcher import Dispatcher, running
from tests.support import Api, Tenant
from tests.webhooks.receiver import Receiver

FAST = {"webhook_retry_schedule": "0.05,0.05,0.05", "webhook_timeout_seconds": 2.0}
ALL_EVENTS = ["contact_created", "contact_updated", "contact_deleted"]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    made = Receiver()
    await made.start()
    yield made
    await made.stop()


@pytest.fixture(autouse=True)
def private_allowed() -> Any:
    before = limits_module.limits()
    limits_module.install(dataclasses.replace(before, webhooks_allow_private=True))
    yield
    limits_module.install(before)


def dispatcher_settings(settings: Settings, **extra: Any) -> Settings:
    return settings.model_copy(update={**FAST, "dispatcher_poll_seconds": 0.05, **extra})


async def subscribe(api: Api, url: str, events: list[str] | None = None) -> dict[str, Any]:
    response = await api.post("/webhooks", json={"url": url, "subscriptions": events or ALL_EVENTS})
    assert response.status_code == 200, response.text
    webhook: dict[str, Any] = response.json()["payload"]["webhook"]
    return webhook


async def deliveries(db: Database, webhook_id: int) -> list[tuple[Any, ...]]:
    async with db.reader() as session:
        rows = await session.execute(
            sa.text(
                "SELECT status, attempts, last_status FROM webhook_deliveries"
                " WHERE webhook_id = :w ORDER BY id"
            ),
            {"w": webhook_id},
        )
        return [tuple(row) for row in rows]


async def test_signed_payloads_in_order_per_contact(
    api: Api, db: Database, settings: Settings, receiver: Receiver, tenant: Tenant
) -> None:
    webhook = await subscribe(api, receiver.url)
    contact = await api.create_contact(name="Ada", email="ada@example.com")
    url = f"/contacts/{contact['id']}"
    for n in range(5):
        response = await api.patch(url, json={"custom_attributes": {"step": n}})
        assert response.status_code == 200
    assert (await api.delete(url)).status_code == 200
    async with running(db, dispatcher_settings(settings)):
        got = await receiver.until(7)
    assert len(got) == 7
    for item in got:
        assert item.verified(webhook["secret"]), item.headers
        assert item.headers["content-type"] == "application/json"
        assert item.headers["webhook-id"].startswith("evt_")
    bodies = [item.json() for item in got]
    assert [b["event"] for b in bodies] == ["contact_created"] + ["contact_updated"] * 5 + [
        "contact_deleted"
    ]
    steps = [b["custom_attributes"].get("step") for b in bodies[1:6]]
    assert steps == [0, 1, 2, 3, 4]
    assert bodies[1]["changed_attributes"] == [
        {"custom_attributes": {"previous_value": {}, "current_value": {"step": 0}}}
    ]
    assert all(b["account"] == {"id": tenant.account_id, "name": "Acme"} for b in bodies)
    assert len({item.headers["webhook-id"] for item in got}) == 7
    assert await deliveries(db, webhook["id"]) == [("succeeded", 1, 200)] * 7


async def test_only_subscribed_events_and_only_this_accounts(
    api: Api, other_api: Api, db: Database, settings: Settings, receiver: Receiver
) -> None:
    await subscribe(api, receiver.url, ["contact_deleted"])
    mine = await api.create_contact(name="Mine")
    await other_api.create_contact(name="Theirs")
    assert (await api.delete(f"/contacts/{mine['id']}")).status_code == 200
    async with running(db, dispatcher_settings(settings)):
        got = await receiver.until(1)
        await asyncio.sleep(0.3)
    assert [r.json()["event"] for r in receiver.received] == ["contact_deleted"]
    assert got[0].json()["name"] == "Mine"


async def test_failures_are_retried_until_the_endpoint_recovers(
    api: Api, db: Database, settings: Settings, receiver: Receiver
) -> None:
    receiver.statuses = [500, 503]
    webhook = await subscribe(api, receiver.url)
    await api.create_contact(name="Retry")
    async with running(db, dispatcher_settings(settings)):
        got = await receiver.until(3)
    assert len({r.headers["webhook-id"] for r in got}) == 1  # the same event, three times
    assert await deliveries(db, webhook["id"]) == [("succeeded", 3, 200)]


async def test_a_delivery_that_keeps_failing_is_marked_failed(
    api: Api, db: Database, settings: Settings, receiver: Receiver
) -> None:
    receiver.statuses = [500] * 10
    webhook = await subscribe(api, receiver.url)
    await api.create_contact(name="Doomed")
    async with running(db, dispatcher_settings(settings)):
        await receiver.until(4)
        await asyncio.sleep(0.3)
    assert await deliveries(db, webhook["id"]) == [("failed", 4, 500)]
    shown = (await api.get(f"/webhooks/{webhook['id']}")).json()["payload"]["webhook"]
    assert shown["status"] == "enabled"  # failing for less than the disable period


async def test_410_disables_the_endpoint(
    api: Api, db: Database, settings: Settings, receiver: Receiver
) -> None:
    receiver.statuses = [410]
    webhook = await subscribe(api, receiver.url)
    await api.create_contact(name="Gone")
    async with running(db, dispatcher_settings(settings)):
        await receiver.until(1)
        await asyncio.sleep(0.2)
        await api.create_contact(name="After")
        await asyncio.sleep(0.4)
    assert len(receiver.received) == 1
    shown = (await api.get(f"/webhooks/{webhook['id']}")).json()["payload"]["webhook"]
    assert shown["status"] == "disabled"
    assert await deliveries(db, webhook["id"]) == [("failed", 1, 410), ("pending", 0, None)]


async def test_a_slow_endpoint_does_not_delay_another(
    api: Api, db: Database, settings: Settings, receiver: Receiver
) -> None:
    slow = Receiver(delay=1.5)
    await slow.start()
    try:
        await subscribe(api, slow.url)
        await subscribe(api, receiver.url)
        for n in range(3):
            await api.create_contact(name=f"C{n}")
        async with running(db, dispatcher_settings(settings)):
            started = asyncio.get_running_loop().time()
            await receiver.until(3, within=5)
            elapsed = asyncio.get_running_loop().time() - started
            await slow.until(3, within=10)
    finally:
        await slow.stop()
    assert elapsed < 1.5


async def test_two_dispatchers_deliver_each_event_once(
    api: Api, db: Database, settings: Settings, receiver: Receiver
) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one dispatcher")
    await subscribe(api, receiver.url)
    for n in range(40):
        await api.create_contact(name=f"Twice {n}")
    fast = dispatcher_settings(settings)
    first, second = Dispatcher(db, fast), Dispatcher(db, fast)
    stop = asyncio.Event()
    tasks = [asyncio.create_task(d.run(stop)) for d in (first, second)]
    try:
        got = await receiver.until(40)
        await asyncio.sleep(0.5)
    finally:
        stop.set()
        await asyncio.gather(*tasks)
    ids = [r.headers["webhook-id"] for r in receiver.received]
    assert len(ids) == 40
    assert len(set(ids)) == 40
    assert len(got) == 40


async def log_of(api: Api, webhook_id: int, **params: str) -> dict[str, Any]:
    response = await api.get(f"/webhooks/{webhook_id}/deliveries", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_the_delivery_log_and_redelivering(
    api: Api, other_api: Api, db: Database, settings: Settings, receiver: Receiver
) -> None:
    receiver.statuses = [500, 500]
    webhook = await subscribe(api, receiver.url)
    contact = await api.create_contact(name="Logged")
    fast = dispatcher_settings(settings, webhook_retry_schedule="0.05")
    async with running(db, fast):
        await receiver.until(2)
        await asyncio.sleep(0.3)
    log = await log_of(api, webhook["id"])
    assert log["meta"] == {"count": 1, "current_page": 1}
    (entry,) = log["payload"]
    assert {k: entry[k] for k in ("event", "contact_id", "status", "attempts")} == {
        "event": "contact_created",
        "contact_id": contact["id"],
        "status": "failed",
        "attempts": 2,
    }
    assert (entry["last_status"], entry["last_error"], entry["next_attempt_at"]) == (
        500,
        "HTTP 500",
        None,
    )
    assert entry["event_id"] == receiver.received[0].headers["webhook-id"]
    assert (await log_of(api, webhook["id"], status="succeeded"))["payload"] == []
    assert len((await log_of(api, webhook["id"], status="failed"))["payload"]) == 1
    for params in ({"status": "lost"}, {"page": "0"}, {"page_size": "101"}):
        bad = await api.get(f"/webhooks/{webhook['id']}/deliveries", params=params)
        assert bad.status_code == 422, params
    # another account sees neither the log nor the delivery
    assert (await other_api.get(f"/webhooks/{webhook['id']}/deliveries")).status_code == 404
    again = f"/webhooks/{webhook['id']}/deliveries/{entry['id']}/redeliver"
    assert (await other_api.post(again)).status_code == 404
    response = await api.post(again)
    assert response.status_code == 200, response.text
    assert response.json()["payload"]["delivery"]["status"] == "pending"
    async with running(db, fast):
        got = await receiver.until(3)
        await asyncio.sleep(0.2)
    assert got[2].headers["webhook-id"] == entry["event_id"]
    (entry,) = (await log_of(api, webhook["id"]))["payload"]
    assert (entry["status"], entry["attempts"], entry["last_status"]) == ("succeeded", 1, 200)


async def test_enabling_a_disabled_webhook_resumes_its_backlog(
    api: Api, other_api: Api, db: Database, settings: Settings, receiver: Receiver
) -> None:
    receiver.statuses = [410]
    webhook = await subscribe(api, receiver.url)
    await api.create_contact(name="Gone")
    fast = dispatcher_settings(settings)
    async with running(db, fast):
        await receiver.until(1)
        await asyncio.sleep(0.2)
        for n in range(3):
            await api.create_contact(name=f"Waiting {n}")
        await asyncio.sleep(0.4)
        assert len(receiver.received) == 1
        assert (await other_api.post(f"/webhooks/{webhook['id']}/enable")).status_code == 404
        response = await api.post(f"/webhooks/{webhook['id']}/enable")
        assert response.status_code == 200
        assert response.json()["payload"]["webhook"]["status"] == "enabled"
        got = await receiver.until(4)
    assert [r.json()["name"] for r in got[1:]] == ["Waiting 0", "Waiting 1", "Waiting 2"]


async def test_an_endpoint_failing_past_the_limit_is_disabled(
    api: Api, db: Database, settings: Settings, receiver: Receiver
) -> None:
    receiver.statuses = [500] * 20
    webhook = await subscribe(api, receiver.url)
    await api.create_contact(name="First failure")
    fast = dispatcher_settings(settings, webhook_disable_after_seconds=1)
    async with running(db, fast):
        await receiver.until(1)
        await asyncio.sleep(1.5)  # failing since the first attempt, for longer than 1 s now
        await api.create_contact(name="Still failing")
        for _ in range(60):
            shown = (await api.get(f"/webhooks/{webhook['id']}")).json()["payload"]["webhook"]
            if shown["status"] == "disabled":
                break
            await asyncio.sleep(0.1)
    assert shown["status"] == "disabled"


async def test_events_past_their_retention_are_pruned_with_their_deliveries(
    api: Api, db: Database, settings: Settings, receiver: Receiver
) -> None:
    webhook = await subscribe(api, receiver.url)
    old = await api.create_contact(name="Old")
    new = await api.create_contact(name="New")
    async with running(db, dispatcher_settings(settings)):
        await receiver.until(2)
    async with db.writing() as session:
        await session.execute(
            sa.text("UPDATE events SET created_at = 0 WHERE contact_id = :c"), {"c": old["id"]}
        )
        await session.commit()
    pruning = dispatcher_settings(settings, events_retention_days=1)
    async with running(db, pruning):
        await asyncio.sleep(0.3)
    feed = (await api.get("/events")).json()["payload"]
    assert [e["payload"]["name"] for e in feed] == ["New"]
    log = (await api.get(f"/webhooks/{webhook['id']}/deliveries")).json()
    assert log["meta"]["count"] == 1
    assert new["name"] == "New"


async def test_a_webhook_can_leave_out_the_events_of_imports(
    api: Api, db: Database, settings: Settings, receiver: Receiver
) -> None:
    from tests.actions.imports import csv_text, import_csv

    everything = await subscribe(api, receiver.url + "/all")
    response = await api.post(
        "/webhooks",
        json={
            "url": receiver.url + "/no-imports",
            "subscriptions": ALL_EVENTS,
            "exclude_sources": ["import"],
        },
    )
    assert response.status_code == 200, response.text
    quiet = response.json()["payload"]["webhook"]
    assert quiet["exclude_sources"] == ["import"]
    assert everything["exclude_sources"] == []
    await import_csv(api, csv_text([["email"], ["i1@example.com"], ["i2@example.com"]]))
    await api.create_contact(name="By the API")
    async with running(db, dispatcher_settings(settings)):
        got = await receiver.until(4)
        await asyncio.sleep(0.3)  # nothing more arrives
    by_path: dict[str, list[str]] = {}
    for item in receiver.received:
        by_path.setdefault(item.path, []).append(item.json()["source"])
    assert sorted(by_path["/hook/all"]) == ["api", "import", "import"]
    assert by_path["/hook/no-imports"] == ["api"]
    assert len(got) == 4


async def test_exclude_sources_is_checked(api: Api, receiver: Receiver) -> None:
    for bad in ("import", ["nope"], [1], ["import"] * 100):
        response = await api.post(
            "/webhooks",
            json={"url": receiver.url, "subscriptions": ALL_EVENTS, "exclude_sources": bad},
        )
        assert response.status_code == 422, (bad, response.text)
        assert "exclude_sources" in response.text
    webhook = await subscribe(api, receiver.url)
    response = await api.patch(f"/webhooks/{webhook['id']}", json={"exclude_sources": ["bulk"]})
    assert response.status_code == 200
    assert response.json()["payload"]["webhook"]["exclude_sources"] == ["bulk"]
    response = await api.patch(f"/webhooks/{webhook['id']}", json={"exclude_sources": None})
    assert response.json()["payload"]["webhook"]["exclude_sources"] == []
