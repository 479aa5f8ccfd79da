"""Uniqueness under concurrency: the database decides, never only a pre-check (contract §7)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.support import Api

N = 16

# field, message, the value every racer sends (by racer index)
UNIQUE_FIELDS: list[tuple[str, str, Callable[[int], Any]]] = [
    ("email", "Email has already been taken", lambda i: "race@example.com"),
    ("identifier", "Identifier has already been taken", lambda i: "ext-42"),
    ("phone_number", "Phone number has already been taken", lambda i: "+14155550123"),
]


async def race(api: Api, bodies: list[dict[str, Any]]) -> list[httpx.Response]:
    return list(await asyncio.gather(*(api.post("/contacts", json=body) for body in bodies)))


def the_winner(responses: list[httpx.Response]) -> dict[str, Any]:
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1, [(r.status_code, r.text) for r in responses]
    body: dict[str, Any] = winners[0].json()["payload"]
    return body


def assert_losers(
    responses: list[httpx.Response], field: str, message: str, winner_id: int
) -> None:
    losers = [r for r in responses if r.status_code != 200]
    assert len(losers) == N - 1
    for response in losers:
        assert response.status_code == 422, response.text
        assert response.json() == {
            "message": message,
            "attributes": [field],
            "conflicting_contact_id": winner_id,
        }


async def listed_ids(api: Api, **params: str) -> list[int]:
    response = await api.get("/contacts", params={"page_size": "100", **params})
    assert response.status_code == 200, response.text
    body = response.json()
    ids = [c["id"] for c in body["payload"]]
    assert body["meta"]["count"] == len(ids)
    return ids


@pytest.mark.parametrize(
    ("field", "message", "value"),
    [pytest.param(*case, id=case[0]) for case in UNIQUE_FIELDS],
)
async def test_concurrent_creates_with_one_unique_value(
    api: Api, field: str, message: str, value: Callable[[int], Any]
) -> None:
    bodies = [
        {"inbox_id": api.tenant.inbox_id, "name": f"Racer {i}", field: value(i)} for i in range(N)
    ]
    responses = await race(api, bodies)
    winner = the_winner(responses)["contact"]
    assert winner[field] == value(0)
    assert_losers(responses, field, message, winner["id"])
    assert await listed_ids(api) == [winner["id"]]


async def test_concurrent_creates_with_one_email_in_different_spellings(api: Api) -> None:
    spellings = ["race@example.com", "RACE@EXAMPLE.COM", " Race@Example.com ", "race@EXAMPLE.com"]
    bodies = [
        {"inbox_id": api.tenant.inbox_id, "name": f"Racer {i}", "email": spellings[i % 4]}
        for i in range(N)
    ]
    responses = await race(api, bodies)
    winner = the_winner(responses)["contact"]
    assert winner["email"] == "race@example.com"
    assert_losers(responses, "email", "Email has already been taken", winner["id"])
    assert await listed_ids(api) == [winner["id"]]


async def test_concurrent_creates_with_distinct_emails_all_succeed(api: Api) -> None:
    bodies = [
        {"inbox_id": api.tenant.inbox_id, "name": f"Racer {i}", "email": f"racer{i}@example.com"}
        for i in range(N)
    ]
    responses = await race(api, bodies)
    assert [r.status_code for r in responses] == [200] * N, [r.text for r in responses]
    contacts = [r.json()["payload"]["contact"] for r in responses]
    assert [c["email"] for c in contacts] == [f"racer{i}@example.com" for i in range(N)]
    created_ids = {c["id"] for c in contacts}
    assert len(created_ids) == N
    assert set(await listed_ids(api)) == created_ids


async def test_concurrent_updates_to_one_email(api: Api) -> None:
    contacts = [await api.create_contact(name=f"Updater {i}") for i in range(N)]
    responses = await asyncio.gather(
        *(api.patch(f"/contacts/{c['id']}", json={"email": "taken@example.com"}) for c in contacts)
    )
    winners = [r for r in responses if r.status_code == 200]
    assert len(winners) == 1, [(r.status_code, r.text) for r in responses]
    winner_id = winners[0].json()["payload"]["id"]
    assert_losers(list(responses), "email", "Email has already been taken", winner_id)
    assert await listed_ids(api, q="taken@example.com") == [winner_id]
    assert len(await listed_ids(api)) == N
