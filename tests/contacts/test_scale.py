"""Exact counts kept by counters (migration 0002, contacts.counters), in both dialects.

`meta.count` of a plain list comes from the sharded contact_counters rows, of a one-label list
from label_counters, and of everything else (a search, several labels, q with labels) from a
per-process cache keyed by the account's generation. Whatever the source, the count must be the
number of rows a plain COUNT(*) finds, also after concurrent writes. The database is queried
directly here to be the judge.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Sequence
from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from contactdesk.contacts.counters import SHARDS
from tests.support import Api, Tenant, admin_api

Params = list[tuple[str, str]]


# ---------------------------------------------------------------- helpers


async def db_int(api: Api, sql: str, **params: Any) -> int:
    async with api.tenant.db.reader() as session:
        value = await session.scalar(sa.text(sql), params)
    return int(value or 0)


async def db_contacts(api: Api) -> int:
    return await db_int(
        api, "SELECT count(*) FROM contacts WHERE account_id = :a", a=api.tenant.account_id
    )


async def db_counter_sum(api: Api) -> int:
    return await db_int(
        api,
        "SELECT coalesce(sum(contacts_count), 0) FROM contact_counters WHERE account_id = :a",
        a=api.tenant.account_id,
    )


async def db_labelled(api: Api, label: str) -> int:
    return await db_int(
        api,
        "SELECT count(*) FROM contact_labels cl JOIN labels l ON l.id = cl.label_id "
        "WHERE l.account_id = :a AND l.name_lower = :n",
        a=api.tenant.account_id,
        n=label.lower(),
    )


async def db_label_counter_sum(api: Api, label: str) -> int:
    return await db_int(
        api,
        "SELECT coalesce(sum(lc.contacts_count), 0) FROM label_counters lc "
        "JOIN labels l ON l.id = lc.label_id WHERE l.account_id = :a AND l.name_lower = :n",
        a=api.tenant.account_id,
        n=label.lower(),
    )


async def listing(api: Api, path: str = "/contacts", params: Params | None = None) -> Any:
    response = await api.get(path, params=[*(params or []), ("page_size", "100")])
    assert response.status_code == 200, (path, params, response.text)
    return response.json()


async def count(api: Api, path: str = "/contacts", params: Params | None = None) -> int:
    """meta.count, checked against the ids of the (single, page_size=100) page."""
    body = await listing(api, path, params)
    value: int = body["meta"]["count"]
    assert value == len(body["payload"]), (path, params, value, len(body["payload"]))
    return value


async def set_labels(api: Api, contact_id: int, labels: list[str]) -> None:
    response = await api.post(f"/contacts/{contact_id}/labels", json={"labels": labels})
    assert response.status_code == 200, response.text


async def delete(api: Api, contact_id: int) -> None:
    response = await api.delete(f"/contacts/{contact_id}")
    assert response.status_code == 200, response.text


async def patch(api: Api, contact_id: int, **fields: Any) -> None:
    response = await api.patch(f"/contacts/{contact_id}", json=fields)
    assert response.status_code == 200, response.text


def statuses(responses: list[httpx.Response]) -> list[tuple[int, str]]:
    return [(r.status_code, r.text[:200]) for r in responses if r.status_code != 200]


# ---------------------------------------------------------------- counters under concurrency


async def test_concurrent_creates_and_deletes_keep_the_count_exact(api: Api) -> None:
    first = await asyncio.gather(*(api.create_contact(name=f"Early {i}") for i in range(12)))
    doomed = [c["id"] for c in first[:8]]
    creates = [
        api.post("/contacts", json={"inbox_id": api.tenant.inbox_id, "name": f"Racer {i}"})
        for i in range(40)
    ]
    deletes = [api.delete(f"/contacts/{cid}") for cid in doomed]
    updates = [api.patch(f"/contacts/{c['id']}", json={"name": "Kept"}) for c in first[8:]]
    reads = [api.get("/contacts") for _ in range(4)]
    # interleave the kinds of request
    calls = [*creates[:20], *deletes, *reads[:2], *updates, *creates[20:], *reads[2:]]
    responses = list(await asyncio.gather(*calls))
    assert statuses(responses) == []

    expected = 12 - 8 + 40
    assert await db_contacts(api) == expected
    assert await db_counter_sum(api) == expected
    assert await count(api) == expected
    assert await count(api, params=[("q", "racer")]) == 40
    assert await count(api, "/contacts/search", [("q", "kept")]) == 4

    # a second round that deletes concurrently what the first created
    created = [r.json()["payload"]["contact"]["id"] for r in responses[:20]]
    responses = list(await asyncio.gather(*(api.delete(f"/contacts/{cid}") for cid in created)))
    assert statuses(responses) == []
    assert await db_contacts(api) == expected - 20
    assert await db_counter_sum(api) == expected - 20
    assert await count(api) == expected - 20
    assert await count(api, params=[("q", "racer")]) == 20


async def test_concurrent_label_changes_keep_label_counts_exact(api: Api) -> None:
    contacts = await asyncio.gather(*(api.create_contact(name=f"L{i}") for i in range(36)))
    cids = [c["id"] for c in contacts]
    # a first state: every third contact hot, the others hot+cold or cold
    for i, cid in enumerate(cids):
        await set_labels(api, cid, [["hot"], ["hot", "cold"], ["cold"]][i % 3])
    assert await count(api, params=[("labels", "hot")]) == 24
    assert await count(api, params=[("labels", "cold")]) == 24

    # concurrently: relabel most contacts, delete some labelled ones, clear a few
    doomed = cids[:6]
    relabel = cids[6:30]
    cleared = cids[30:]
    calls = [api.delete(f"/contacts/{cid}") for cid in doomed]
    calls += [
        api.post(f"/contacts/{cid}/labels", json={"labels": ["HOT"] if i % 2 else ["warm"]})
        for i, cid in enumerate(relabel)
    ]
    calls += [api.post(f"/contacts/{cid}/labels", json={"labels": []}) for cid in cleared]
    responses = list(await asyncio.gather(*calls))
    assert statuses(responses) == []

    for label in ("hot", "cold", "warm"):
        in_db = await db_labelled(api, label)
        assert await db_label_counter_sum(api, label) == in_db, label
        assert await count(api, params=[("labels", label)]) == in_db, label
        assert await count(api, params=[("labels", label.upper())]) == in_db, label
    assert await db_labelled(api, "hot") == 12
    assert await db_labelled(api, "warm") == 12
    assert await db_labelled(api, "cold") == 0
    assert await count(api, params=[("labels", "hot,warm")]) == 24
    assert await count(api, params=[("labels", "hot,cold,nope")]) == 12
    assert await count(api) == 30 == await db_contacts(api)


async def test_concurrent_deletes_of_labelled_contacts(api: Api) -> None:
    contacts = await asyncio.gather(*(api.create_contact(name=f"D{i}") for i in range(24)))
    cids = [c["id"] for c in contacts]
    for i, cid in enumerate(cids):
        await set_labels(api, cid, ["x", "y"] if i % 2 else ["y", "x"])
    calls = [api.delete(f"/contacts/{cid}") for cid in cids[:12]]
    calls += [
        api.post(f"/contacts/{cid}/labels", json={"labels": ["y", "x", "z"]}) for cid in cids[12:]
    ]
    responses = list(await asyncio.gather(*calls))
    assert statuses(responses) == []
    for label in ("x", "y", "z"):
        assert await db_labelled(api, label) == 12, label
        assert await db_label_counter_sum(api, label) == 12, label
        assert await count(api, params=[("labels", label)]) == 12, label
    assert await count(api) == 12


# The next tests aim at lock ordering in the database (the counter rows of one shard, the
# label rows), which the dialect does not change: they run once, in v1.


@pytest.fixture
def v1_api(client: httpx.AsyncClient, tenant: Tenant) -> Api:
    return admin_api(client, "v1", tenant)


async def gather_outcomes(calls: Sequence[Awaitable[httpx.Response]]) -> list[str]:
    """What went wrong, if anything: non-200 answers and errors raised by the app."""
    outcomes = await asyncio.gather(*calls, return_exceptions=True)
    problems = []
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            first = str(outcome).splitlines()[0] if str(outcome) else ""
            problems.append(f"{type(outcome).__name__}: {first[:160]}")
        elif outcome.status_code != 200:
            problems.append(f"{outcome.status_code}: {outcome.text[:160]}")
    return problems


def by_shard(cids: list[int]) -> list[int]:
    """Contacts of one counter shard (contact id mod 32) next to each other, so that their
    requests run at the same time."""
    return sorted(cids, key=lambda cid: (cid % SHARDS, cid))


async def test_concurrent_relabels_within_one_shard(v1_api: Api) -> None:
    """Contacts of one shard relabelled at once, the requests naming the labels in opposite
    orders: every request succeeds (no deadlock on the counter rows), the counts stay exact."""
    api = v1_api
    contacts = await asyncio.gather(*(api.create_contact(name=f"S{i}") for i in range(64)))
    cids = by_shard([c["id"] for c in contacts])
    await set_labels(api, cids[0], ["a", "b", "c", "d"])  # the labels exist beforehand
    orders = [["a", "b", "c", "d"], ["d", "c", "b", "a"]]
    problems = []
    for round_ in range(2):
        calls = [
            api.post(f"/contacts/{cid}/labels", json={"labels": orders[(i + round_) % 2]})
            for i, cid in enumerate(cids)
        ]
        problems += await gather_outcomes(calls)
    assert problems == [], "\n".join(problems)
    for label in "abcd":
        in_db = await db_labelled(api, label)
        assert in_db == 64, label
        assert await db_label_counter_sum(api, label) == in_db, label
        assert await count(api, params=[("labels", label)]) == in_db, label


async def test_concurrent_deletes_and_relabels_within_one_shard(v1_api: Api) -> None:
    api = v1_api
    contacts = await asyncio.gather(*(api.create_contact(name=f"S{i}") for i in range(64)))
    cids = by_shard([c["id"] for c in contacts])
    await set_labels(api, cids[0], ["p", "q", "r"])
    for i, cid in enumerate(cids):
        await set_labels(api, cid, ["p", "q"] if i % 2 else ["q", "p"])
    calls = [
        api.delete(f"/contacts/{cid}")
        if i % 2
        else api.post(f"/contacts/{cid}/labels", json={"labels": ["q", "r", "p"]})
        for i, cid in enumerate(cids)
    ]
    problems = await gather_outcomes(calls)
    assert problems == [], "\n".join(problems)
    for label in "pqr":
        in_db = await db_labelled(api, label)
        assert await db_label_counter_sum(api, label) == in_db, label
        assert await count(api, params=[("labels", label)]) == in_db, label
    assert await count(api) == await db_contacts(api) == await db_counter_sum(api)


async def test_first_use_of_new_labels_concurrently(v1_api: Api) -> None:
    """New label names, sent at once by many requests in opposite orders, are created once
    and every request succeeds."""
    api = v1_api
    contacts = await asyncio.gather(*(api.create_contact(name=f"N{i}") for i in range(32)))
    names = ["new-1", "new-2", "new-3"]
    calls = [
        api.post(
            f"/contacts/{c['id']}/labels",
            json={"labels": names if i % 2 else names[::-1]},
        )
        for i, c in enumerate(contacts)
    ]
    problems = await gather_outcomes(calls)
    assert problems == [], "\n".join(problems)
    for label in names:
        assert await count(api, params=[("labels", label)]) == 32 == await db_labelled(api, label)


# ---------------------------------------------------------------- label counts


async def test_deleting_a_labelled_contact_decrements_the_label_count(api: Api) -> None:
    a, b, c = [await api.create_contact(name=n) for n in ("A", "B", "C")]
    await set_labels(api, a["id"], ["vip", "lead"])
    await set_labels(api, b["id"], ["VIP"])
    await set_labels(api, c["id"], ["lead"])
    assert await count(api, params=[("labels", "vip")]) == 2
    assert await count(api, params=[("labels", "lead")]) == 2
    assert await count(api, params=[("labels", "vip,lead")]) == 3

    await delete(api, a["id"])
    assert await count(api, params=[("labels", "vip")]) == 1
    assert await count(api, params=[("labels", "lead")]) == 1
    assert await count(api, params=[("labels", "vip,lead")]) == 2
    assert await db_label_counter_sum(api, "vip") == 1 == await db_labelled(api, "vip")

    await delete(api, b["id"])
    assert await count(api, params=[("labels", "vip")]) == 0
    assert await count(api, params=[("labels", "VIP")]) == 0
    assert await db_label_counter_sum(api, "vip") == 0
    assert await count(api) == 1


async def test_relabelling_moves_label_counts(api: Api) -> None:
    contact = await api.create_contact(name="Mover")
    other = await api.create_contact(name="Stays")
    await set_labels(api, other["id"], ["one"])
    await set_labels(api, contact["id"], ["one"])
    assert await count(api, params=[("labels", "one")]) == 2
    await set_labels(api, contact["id"], ["Two"])
    assert await count(api, params=[("labels", "one")]) == 1
    assert await count(api, params=[("labels", "two")]) == 1
    await set_labels(api, contact["id"], ["two", "ONE"])
    assert await count(api, params=[("labels", "one")]) == 2
    assert await count(api, params=[("labels", "two")]) == 1
    # setting the same set again changes nothing
    await set_labels(api, contact["id"], ["one", "two"])
    assert await count(api, params=[("labels", "one")]) == 2
    await set_labels(api, contact["id"], [])
    assert await count(api, params=[("labels", "one")]) == 1
    assert await count(api, params=[("labels", "two")]) == 0
    assert await count(api, params=[("labels", "never-used")]) == 0


# ---------------------------------------------------------------- cached counts


async def test_cached_search_count_follows_every_change(api: Api) -> None:
    matches = [await api.create_contact(name=f"Zephyr {i}") for i in range(3)]
    others = [await api.create_contact(name=f"Other {i}") for i in range(2)]
    scopes: list[tuple[str, Params]] = [
        ("/contacts/search", [("q", "zephyr")]),
        ("/contacts", [("q", "ZEPHYR")]),
        ("/contacts/search", [("q", "ph")]),  # a short term
    ]

    async def counts() -> list[int]:
        return [await count(api, path, params) for path, params in scopes]

    assert await counts() == [3, 3, 3]
    assert await counts() == [3, 3, 3]  # served from the cache now

    created = await api.create_contact(name="zephyr new")
    assert await counts() == [4, 4, 4]

    await patch(api, others[0]["id"], name="Now a Zephyr")  # starts matching
    assert await counts() == [5, 5, 5]

    await patch(api, matches[0]["id"], name="Renamed")  # stops matching
    assert await counts() == [4, 4, 4]

    await patch(api, others[1]["id"], email="zephyr@example.com")  # matches by email
    assert await counts() == [5, 5, 5]

    await patch(api, matches[1]["id"], additional_attributes={"city": "Paris"})  # unrelated
    assert await counts() == [5, 5, 5]

    await delete(api, created["id"])
    assert await counts() == [4, 4, 4]

    await delete(api, others[1]["id"])
    assert await counts() == [3, 3, 3]

    await patch(api, matches[2]["id"], additional_attributes={"company_name": "ZEPHYR Ltd"})
    assert await counts() == [3, 3, 3]  # still matching, by name and company
    await patch(api, matches[2]["id"], name="Plain")
    assert await counts() == [3, 3, 3]  # now by company only
    await patch(api, matches[2]["id"], additional_attributes={"company_name": ""})
    assert await counts() == [2, 2, 2]


async def test_cached_count_of_two_labels_follows_label_changes(api: Api) -> None:
    a, b, c, d = [await api.create_contact(name=f"Person {n}") for n in "abcd"]
    await set_labels(api, a["id"], ["red"])
    await set_labels(api, b["id"], ["blue"])
    params: list[Params] = [
        [("labels", "red,blue")],
        [("labels[]", "BLUE"), ("labels[]", "red")],
        [("labels", "red"), ("labels", "blue"), ("labels", "green")],
    ]

    async def counts() -> list[int]:
        return [await count(api, "/contacts", p) for p in params]

    assert await counts() == [2, 2, 2]
    assert await counts() == [2, 2, 2]

    await set_labels(api, c["id"], ["Red", "blue"])
    assert await counts() == [3, 3, 3]

    await set_labels(api, d["id"], ["green"])
    assert await counts() == [3, 3, 4]

    await set_labels(api, a["id"], [])
    assert await counts() == [2, 2, 3]

    await set_labels(api, b["id"], ["red"])
    assert await counts() == [2, 2, 3]

    await delete(api, c["id"])
    assert await counts() == [1, 1, 2]

    await set_labels(api, d["id"], ["blue"])
    assert await counts() == [2, 2, 2]


async def test_cached_count_of_q_with_labels(api: Api) -> None:
    x1 = await api.create_contact(name="Quill One")
    x2 = await api.create_contact(name="Quill Two")
    await api.create_contact(name="Blank Three")
    await set_labels(api, x1["id"], ["vip"])
    scopes: list[tuple[str, Params]] = [
        ("/contacts/search", [("q", "quill"), ("labels", "vip")]),
        ("/contacts", [("q", "quill"), ("labels", "vip,lead")]),
        ("/contacts", [("q", "qu"), ("labels", "VIP")]),
    ]

    async def counts() -> list[int]:
        return [await count(api, path, p) for path, p in scopes]

    assert await counts() == [1, 1, 1]
    assert await counts() == [1, 1, 1]

    await set_labels(api, x2["id"], ["lead"])
    assert await counts() == [1, 2, 1]

    await set_labels(api, x2["id"], ["lead", "vip"])
    assert await counts() == [2, 2, 2]

    await patch(api, x1["id"], name="Renamed")
    assert await counts() == [1, 1, 1]

    fresh = await api.create_contact(name="quill three")
    assert await counts() == [1, 1, 1]
    await set_labels(api, fresh["id"], ["VIP"])
    assert await counts() == [2, 2, 2]

    await delete(api, x2["id"])
    assert await counts() == [1, 1, 1]


async def test_cached_count_after_concurrent_changes(api: Api) -> None:
    await asyncio.gather(*(api.create_contact(name=f"Wisp {i}") for i in range(10)))
    assert await count(api, params=[("q", "wisp")]) == 10
    calls = [
        api.post("/contacts", json={"inbox_id": api.tenant.inbox_id, "name": f"wisp x{i}"})
        for i in range(15)
    ]
    calls += [api.get("/contacts", params={"q": "wisp"}) for _ in range(5)]
    responses = list(await asyncio.gather(*calls))
    assert statuses(responses) == []
    # every count served during the race was one the account really went through
    for response in responses[15:]:
        assert 10 <= response.json()["meta"]["count"] <= 25
    assert await count(api, params=[("q", "wisp")]) == 25
    assert await count(api, "/contacts/search", [("q", "wisp x")]) == 15


# ---------------------------------------------------------------- tenancy


async def test_other_accounts_never_change_this_accounts_counts(api: Api, other_api: Api) -> None:
    mine = [await api.create_contact(name=f"Shared {i}") for i in range(3)]
    await set_labels(api, mine[0]["id"], ["vip"])
    await set_labels(api, mine[1]["id"], ["lead"])
    scopes: list[tuple[str, Params]] = [
        ("/contacts", []),
        ("/contacts", [("labels", "vip")]),
        ("/contacts", [("labels", "vip,lead")]),
        ("/contacts/search", [("q", "shared")]),
        ("/contacts", [("q", "sh"), ("labels", "vip")]),
    ]

    async def counts(who: Api) -> list[int]:
        return [await count(who, path, p) for path, p in scopes]

    assert await counts(api) == [3, 1, 2, 3, 1]
    assert await counts(other_api) == [0, 0, 0, 0, 0]

    theirs = list(
        await asyncio.gather(*(other_api.create_contact(name=f"Shared x{i}") for i in range(8)))
    )
    for contact in theirs[:5]:
        await set_labels(other_api, contact["id"], ["vip", "lead"])
    assert await counts(api) == [3, 1, 2, 3, 1]
    assert await counts(other_api) == [8, 5, 5, 8, 5]

    await asyncio.gather(*(other_api.delete(f"/contacts/{c['id']}") for c in theirs[:3]))
    assert await counts(api) == [3, 1, 2, 3, 1]
    assert await counts(other_api) == [5, 2, 2, 5, 2]
    assert await db_counter_sum(api) == 3
    assert await db_counter_sum(other_api) == 5
