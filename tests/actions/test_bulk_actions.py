"""POST /bulk_actions (contract §1.2, §4.6), in both dialects."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.support import Api, Tenant, agent_api, basic, contact_count, contact_labels, set_labels

NOT_FOUND = {"error": "Resource could not be found"}
FORBIDDEN = {"error": "You are not authorized to do this action"}
BULK = "/bulk_actions"


async def bulk(api: Api, **body: Any) -> httpx.Response:
    return await api.post(BULK, json={"type": "Contact", **body})


async def bulk_ok(api: Api, **body: Any) -> dict[str, list[int]]:
    response = await bulk(api, **body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"payload"}
    payload: dict[str, list[int]] = answer["payload"]
    assert set(payload) == {"processed_ids", "ignored_ids"}
    return payload


async def contacts(api: Api, n: int) -> list[int]:
    return [(await api.create_contact(name=f"C{i}"))["id"] for i in range(n)]


async def test_labels_are_added_case_insensitively_to_several_contacts(api: Api) -> None:
    c1, c2, c3 = await contacts(api, 3)
    await set_labels(api, c1, ["Vip"])
    await set_labels(api, c3, ["old"])
    result = await bulk_ok(api, ids=[c1, str(c2), c3], labels={"add": ["vip", " new "]})
    assert result == {"processed_ids": [c1, c2, c3], "ignored_ids": []}
    assert await contact_labels(api, c1) == ["new", "Vip"]  # an existing label keeps its spelling
    assert await contact_labels(api, c2) == ["new", "vip"]
    assert await contact_labels(api, c3) == ["new", "old", "vip"]
    assert await contact_count(api, {"labels": "VIP"}) == 3
    assert await contact_count(api, {"labels": "new"}) == 3
    assert await contact_count(api, {"labels": "old"}) == 1
    # Adding again changes nothing.
    await bulk_ok(api, ids=[c1, c2], labels={"add": ["NEW"]})
    assert await contact_labels(api, c1) == ["new", "Vip"]
    assert await contact_count(api, {"labels": "new"}) == 3


async def test_labels_are_removed_case_insensitively(api: Api) -> None:
    c1, c2, c3 = await contacts(api, 3)
    for contact_id in (c1, c2, c3):
        await set_labels(api, contact_id, ["Vip", "old", "keep"])
    result = await bulk_ok(api, ids=[c3, c1], labels={"remove": ["VIP", "OLD", "never-seen"]})
    assert result == {"processed_ids": [c3, c1], "ignored_ids": []}
    assert await contact_labels(api, c1) == ["keep"]
    assert await contact_labels(api, c2) == ["keep", "old", "Vip"]
    assert await contact_labels(api, c3) == ["keep"]
    assert await contact_count(api, {"labels": "vip"}) == 1
    assert await contact_count(api, {"labels": "old"}) == 1
    assert await contact_count(api, {"labels": "keep"}) == 3
    assert await contact_count(api, {"labels": "never-seen"}) == 0


async def test_add_and_remove_in_one_request(api: Api) -> None:
    c1, c2 = await contacts(api, 2)
    await set_labels(api, c1, ["lead"])
    await bulk_ok(api, ids=[c1, c2], labels={"add": ["customer"], "remove": ["Lead"]})
    assert await contact_labels(api, c1) == ["customer"]
    assert await contact_labels(api, c2) == ["customer"]
    assert await contact_count(api, {"labels": "lead"}) == 0
    assert await contact_count(api, {"labels": "customer"}) == 2


async def test_delete_removes_the_contacts_and_the_counts_follow(api: Api) -> None:
    c1, c2, c3 = await contacts(api, 3)
    for contact_id in (c1, c2, c3):
        await set_labels(api, contact_id, ["tagged"])
    total = await contact_count(api)
    result = await bulk_ok(api, ids=[c3, c1], action_name="delete")
    assert result == {"processed_ids": [c3, c1], "ignored_ids": []}
    for gone in (c1, c3):
        response = await api.get(f"/contacts/{gone}")
        assert response.status_code == 404
        assert response.json() == NOT_FOUND
    assert (await api.get(f"/contacts/{c2}")).status_code == 200
    assert await contact_count(api) == total - 2
    assert await contact_count(api, {"labels": "tagged"}) == 1
    again = await bulk_ok(api, ids=[c1, c2], action_name="delete")
    assert again == {"processed_ids": [c2], "ignored_ids": [c1]}
    assert await contact_count(api) == total - 3


async def test_unknown_foreign_and_repeated_ids(api: Api, other_api: Api) -> None:
    (mine,) = await contacts(api, 1)
    (theirs,) = await contacts(other_api, 1)
    await set_labels(other_api, theirs, ["theirs"])
    unknown = 999_999_999_999
    ids: list[Any] = [unknown, mine, theirs, str(mine), mine, f" {unknown} "]
    result = await bulk_ok(api, ids=ids, labels={"add": ["x"], "remove": ["theirs"]})
    assert result == {"processed_ids": [mine], "ignored_ids": [unknown, theirs]}
    assert await contact_labels(api, mine) == ["x"]
    assert await contact_labels(other_api, theirs) == ["theirs"]
    deleted = await bulk_ok(api, ids=[theirs, mine], action_name="delete")
    assert deleted == {"processed_ids": [mine], "ignored_ids": [theirs]}
    assert (await other_api.get(f"/contacts/{theirs}")).status_code == 200
    assert await contact_count(other_api, {"labels": "theirs"}) == 1


async def test_a_thousand_ids_pass_and_one_more_does_not(api: Api) -> None:
    (real,) = await contacts(api, 1)
    ids = [real, *range(10**12, 10**12 + 999)]
    result = await bulk_ok(api, ids=ids, labels={"add": ["many"]})
    assert result["processed_ids"] == [real]
    assert result["ignored_ids"] == ids[1:]
    response = await bulk(api, ids=[*ids, 10**13], labels={"add": ["more"]})
    assert response.status_code == 422
    assert "ids" in response.json()["error"]
    assert await contact_labels(api, real) == ["many"]


async def test_malformed_ids_are_a_422(api: Api) -> None:
    (contact,) = await contacts(api, 1)
    for ids in (
        [],
        None,
        "1",
        contact,
        {"0": contact},
        [contact, "abc"],
        [1.5],
        [True],
        [None],
        [[contact]],
        ["-1"],
        [0],
        [-1],
        ["9" * 30],
        [2**63],
        ["\uff11"],
    ):
        for action in ({"action_name": "delete"}, {"labels": {"add": ["x"]}}):
            response = await bulk(api, ids=ids, **action)
            assert response.status_code == 422, (ids, response.text)
            assert set(response.json()) == {"error"}
            assert "ids" in response.json()["error"]
    missing = await api.post(BULK, json={"type": "Contact", "action_name": "delete"})
    assert missing.status_code == 422
    assert "ids" in missing.json()["error"]
    assert await contact_labels(api, contact) == []
    assert (await api.get(f"/contacts/{contact}")).status_code == 200


async def test_type_and_action_are_checked(api: Api) -> None:
    (contact,) = await contacts(api, 1)
    ok: dict[str, Any] = {"ids": [contact], "action_name": "delete"}
    wrong_type: list[dict[str, Any]] = [
        dict(ok),
        {**ok, "type": "Conversation"},
        {**ok, "type": None},
        {**ok, "type": ["Contact"]},
    ]
    for body in wrong_type:
        response = await api.post(BULK, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json() == {"error": "type must be Contact"}
    bad_actions: list[dict[str, Any]] = [
        {"ids": [contact]},
        {"ids": [contact], "action_name": None, "labels": None},
        {"ids": [contact], "action_name": "delete", "labels": {"add": ["x"]}},
        {"ids": [contact], "action_name": "archive"},
        {"ids": [contact], "action_name": 1},
        {"ids": [contact], "labels": ["x"]},
        {"ids": [contact], "labels": "x"},
        {"ids": [contact], "labels": {}},
        {"ids": [contact], "labels": {"add": None, "remove": None}},
        {"ids": [contact], "labels": {"added": ["x"]}},
        {"ids": [contact], "labels": {"add": "x"}},
        {"ids": [contact], "labels": {"add": ["a,b"]}},
        {"ids": [contact], "labels": {"add": ["  "]}},
        {"ids": [contact], "labels": {"add": ["x" * 256]}},
        {"ids": [contact], "labels": {"add": [1]}},
        {"ids": [contact], "labels": {"remove": ["ok", None]}},
        {"ids": [contact], "labels": {"add": ["x"], "remove": ["X"]}},
    ]
    for body in bad_actions:
        response = await bulk(api, **body)
        assert response.status_code == 422, (body, response.text)
        assert set(response.json()) == {"error"}, response.text
    assert (await api.get(f"/contacts/{contact}")).status_code == 200
    assert await contact_labels(api, contact) == []


async def test_a_body_that_is_not_a_json_object(api: Api) -> None:
    headers = {"Content-Type": "application/json"}
    bad = await api.post(BULK, content=b'{"type": "Contact", "ids": [1,]}', headers=headers)
    assert bad.status_code == 400
    assert bad.json()["error"].startswith("Malformed JSON body")
    listed = await api.post(BULK, json=[{"type": "Contact"}])
    assert listed.status_code == 422
    assert listed.json() == {"error": "Request body must be a JSON object"}


async def test_agents_may_label_but_not_delete(
    api: Api, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    agent = await agent_api(client, api.dialect, tenant)
    c1, c2 = await contacts(api, 2)
    total = await contact_count(api)
    assert (await bulk_ok(agent, ids=[c1, c2], labels={"add": ["agent"]}))["processed_ids"] == [
        c1,
        c2,
    ]
    refused = await bulk(agent, ids=[c1, c2], action_name="delete")
    assert refused.status_code == 403
    assert refused.json() == FORBIDDEN
    assert await contact_count(api) == total
    assert await contact_labels(api, c2) == ["agent"]


async def test_scopes_and_credentials(api: Api, client: httpx.AsyncClient, tenant: Tenant) -> None:
    (contact,) = await contacts(api, 1)
    url = f"/api/v2/accounts{BULK}"
    add = {"type": "Contact", "ids": [contact], "labels": {"add": ["x"]}}
    delete = {"type": "Contact", "ids": [contact], "action_name": "delete"}
    reader = await tenant.key_headers(["contacts:read"])
    for body in (add, delete):
        refused = await client.post(url, json=body, headers=reader)
        assert refused.status_code == 403
        assert refused.json() == FORBIDDEN
    deleter = await tenant.key_headers(["contacts:delete"])
    assert (await client.post(url, json=add, headers=deleter)).status_code == 403
    wrong = await client.post(url, json=delete, headers=basic(tenant.key, "wrong"))
    assert wrong.status_code == 401
    v1 = f"/api/v1/accounts/{tenant.account_id}{BULK}"
    assert (await client.post(v1, json=delete)).status_code == 401
    bad = await client.post(v1, json=delete, headers={"api_access_token": "nope"})
    assert bad.status_code == 401
    assert await contact_labels(api, contact) == []
    assert (await api.get(f"/contacts/{contact}")).status_code == 200
    writer_deleter = await tenant.key_headers(["contacts:write", "contacts:delete"])
    allowed = await client.post(url, json=delete, headers=writer_deleter)
    assert allowed.status_code == 200, allowed.text
    assert (await api.get(f"/contacts/{contact}")).status_code == 404


async def test_concurrent_bulk_actions_on_shared_counter_shards_do_not_deadlock(api: Api) -> None:
    # Disjoint batches of consecutive ids start at different counter shards, so without a
    # common lock order two of them would each hold a shard the other needs.
    ids = await contacts(api, 96)
    batches = [ids[i : i + 24] for i in range(0, 96, 24)]
    names = ["race-a", "race-b", "race-c"]
    for labels_body in ({"add": names}, {"remove": names[:1]}):
        responses = await asyncio.gather(
            *(bulk(api, ids=batch, labels=labels_body) for batch in batches)
        )
        assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    assert await contact_count(api, {"labels": "race-a"}) == 0
    assert await contact_count(api, {"labels": "race-b"}) == len(ids)
    total = await contact_count(api)
    responses = await asyncio.gather(
        *(bulk(api, ids=batch[::-1], action_name="delete") for batch in batches)
    )
    assert [r.status_code for r in responses] == [200] * 4, [r.text for r in responses]
    assert await contact_count(api) == total - len(ids)
    assert await contact_count(api, {"labels": "race-b"}) == 0
