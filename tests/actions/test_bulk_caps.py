"""POST /bulk_actions at and past its bounds (issue 10): label names times ids (10,000), labels
per contact (100), and the scope a bulk delete needs (contacts:delete alone).

The 10,000-operation and 11,000-name cases run once per database (in v2): the dialects share
the action's code, and each costs a second or two.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.bounds import bounds
from tests.support import Api, Tenant, admin_api, contact_count, contact_labels, set_labels

BULK = "/bulk_actions"
FORBIDDEN = {"error": "You are not authorized to do this action"}


async def bulk(api: Api, **body: Any) -> httpx.Response:
    return await api.post(BULK, json={"type": "Contact", **body})


async def bulk_ok(api: Api, **body: Any) -> dict[str, list[int]]:
    response = await bulk(api, **body)
    assert response.status_code == 200, response.text[:500]
    payload: dict[str, list[int]] = response.json()["payload"]
    return payload


async def bulk_error(api: Api, status: int = 422, **body: Any) -> str:
    response = await bulk(api, **body)
    assert response.status_code == status, response.text[:500]
    answer = response.json()
    assert set(answer) == {"error"}, answer
    message: str = answer["error"]
    return message


async def contacts(api: Api, n: int) -> list[int]:
    return [(await api.create_contact(name=f"C{i}"))["id"] for i in range(n)]


async def test_ten_thousand_label_operations(client: httpx.AsyncClient, tenant: Tenant) -> None:
    """100 names on 100 contacts, the cap, added and removed in one request each."""
    api = admin_api(client, "v2", tenant)
    ids = await contacts(api, 100)
    names = [f"Name {n:03d}" for n in range(100)]
    assert await bulk_ok(api, ids=ids, labels={"add": names}) == {
        "processed_ids": ids,
        "ignored_ids": [],
    }
    assert await contact_labels(api, ids[0]) == names
    assert await contact_labels(api, ids[-1]) == names
    assert await contact_count(api, {"labels": "name 042"}) == 100
    assert await contact_count(api, {"labels": "NAME 000,name 099"}) == 100
    message = await bulk_error(api, ids=[*ids, 10**12], labels={"add": names})
    assert message.startswith("labels: label names times ids is 10100, more than the 10000")
    await bulk_ok(api, ids=ids, labels={"remove": [name.upper() for name in names]})
    assert await contact_labels(api, ids[50]) == []
    assert await contact_count(api, {"labels": "name 042"}) == 0


async def test_more_names_than_bind_parameters_with_raised_bounds(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """The issue's case: PostgreSQL answered 500 to a bulk add of 20,000 names, created by one
    insert of 3 bind parameters a label, past its 32,767 a statement. 11,000 names cross that
    line too (33,000); the bounds are raised so the request is allowed."""
    api = admin_api(client, "v2", tenant)
    (contact,) = await contacts(api, 1)
    names = [f"n{n:05d}" for n in range(11_000)]
    with bounds(max_labels=11_000, max_bulk_label_operations=11_000):
        await bulk_ok(api, ids=[contact], labels={"add": names})
        assert len(await contact_labels(api, contact)) == 11_000
        await bulk_ok(api, ids=[contact], labels={"remove": names[:10_000]})
    assert await contact_labels(api, contact) == names[10_000:]
    assert await contact_count(api, {"labels": "n10999"}) == 1
    # with the default bounds, the same request is a clear 422
    message = await bulk_error(api, ids=[contact], labels={"add": names})
    assert message == "labels.add: Labels is too long (maximum is 100 labels)"


async def test_labels_per_contact(api: Api) -> None:
    full, other = await contacts(api, 2)
    held = [f"Held {n:02d}" for n in range(95)]
    await set_labels(api, full, held)
    await set_labels(api, other, ["x"])
    six = [f"new {n}" for n in range(6)]
    message = await bulk_error(api, ids=[other, full], labels={"add": six})
    assert message == (
        f"labels.add would give contact {full} more than 100 labels "
        "(maximum is 100 labels per contact)"
    )
    # nothing changed, for any contact of the request
    assert await contact_labels(api, full) == held
    assert await contact_labels(api, other) == ["x"]
    assert await contact_count(api, {"labels": "new 0"}) == 0
    # names the contact holds (in any case) do not count twice; removals make room
    await bulk_ok(api, ids=[full, other], labels={"add": [*six[:5], "HELD 00"]})
    assert len(await contact_labels(api, full)) == 100
    await bulk_ok(api, ids=[full], labels={"add": held[:50]})
    await bulk_ok(api, ids=[full], labels={"add": ["swap"], "remove": ["held 01"]})
    labels = await contact_labels(api, full)
    assert len(labels) == 100
    assert "swap" in labels
    assert "Held 01" not in labels
    message = await bulk_error(api, ids=[full], labels={"add": ["one too many"]})
    assert message.startswith(f"labels.add would give contact {full} more than 100 labels")
    with bounds(max_labels=101):
        await bulk_ok(api, ids=[full], labels={"add": ["one too many"]})
    assert len(await contact_labels(api, full)) == 101


async def test_concurrent_adds_cannot_both_fill_a_contact(api: Api) -> None:
    """Each add is checked with the contact locked: of two adds of 60 labels to one contact,
    one wins and the other is refused, whatever their interleaving."""
    contact, spare = await contacts(api, 2)
    batches = [[f"{side}{n:02d}" for n in range(60)] for side in ("a", "b")]
    responses = await asyncio.gather(
        *(bulk(api, ids=[spare, contact], labels={"add": batch}) for batch in batches)
    )
    assert sorted(r.status_code for r in responses) == [200, 422], [r.text for r in responses]
    assert len(await contact_labels(api, contact)) == 60
    assert len(await contact_labels(api, spare)) == 60


async def test_a_bulk_delete_needs_contacts_delete_alone(
    api: Api, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """Scopes are independent (contract §1.2): contacts:delete deletes, contacts:write labels."""
    c1, c2 = await contacts(api, 2)
    v2 = admin_api(client, "v2", tenant)
    deleter = v2.with_headers(await tenant.key_headers(["contacts:delete"]))
    writer = v2.with_headers(await tenant.key_headers(["contacts:write"]))
    reader = v2.with_headers(await tenant.key_headers(["contacts:read"]))
    assert await bulk_error(writer, 403, ids=[c1], action_name="delete") == FORBIDDEN["error"]
    assert await bulk_error(deleter, 403, ids=[c1], labels={"add": ["x"]}) == FORBIDDEN["error"]
    for body in ({"action_name": "delete"}, {"labels": {"add": ["x"]}}):
        assert await bulk_error(reader, 403, ids=[c1], **body) == FORBIDDEN["error"]
    assert await bulk_ok(writer, ids=[c1], labels={"add": ["x"]}) == {
        "processed_ids": [c1],
        "ignored_ids": [],
    }
    assert await bulk_ok(deleter, ids=[c1, c2], action_name="delete") == {
        "processed_ids": [c1, c2],
        "ignored_ids": [],
    }
    assert (await api.get(f"/contacts/{c1}")).status_code == 404
    # a malformed body is still a 422 for a key that may do either
    message = await bulk_error(deleter, ids=[c1], action_name="destroy")
    assert message == "action_name must be delete"
