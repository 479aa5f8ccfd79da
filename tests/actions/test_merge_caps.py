"""POST /actions/contact_merge at its bounds (issue 10): the merged base's labels (100 per
contact) and its stored custom_attributes and additional_attributes (16 KB each as compact
JSON), checked on the merged result; a merge past one is a 422 naming it, and writes nothing.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from tests.bounds import bounds
from tests.support import Api, contact_count, contact_labels, set_labels, show

MERGE = "/actions/contact_merge"
BIG = "x" * 9000  # two of them fit the 16 KB bound alone, not together


async def merge(api: Api, base: int, mergee: int) -> httpx.Response:
    return await api.post(MERGE, json={"base_contact_id": base, "mergee_contact_id": mergee})


async def refused(api: Api, base: int, mergee: int) -> dict[str, Any]:
    response = await merge(api, base, mergee)
    assert response.status_code == 422, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"message", "attributes"}, body
    return body


async def snapshot(api: Api, *ids: int) -> list[tuple[dict[str, Any], list[str]]]:
    return [(await show(api, i), await contact_labels(api, i)) for i in ids]


async def test_labels_past_the_bound_once_merged(api: Api) -> None:
    base = (await api.create_contact(name="Base"))["id"]
    mergee = (await api.create_contact(name="Mergee", email="m@example.com"))["id"]
    await set_labels(api, base, [f"Base {n:02d}" for n in range(60)])
    # ten names the base holds (in another case) count once
    await set_labels(
        api, mergee, [f"base {n:02d}" for n in range(10)] + [f"m {n:02d}" for n in range(41)]
    )
    before = await snapshot(api, base, mergee)
    total = await contact_count(api)
    body = await refused(api, base, mergee)
    assert body == {
        "message": "Labels is too long once merged: 101 labels (maximum is 100 labels per contact)",
        "attributes": ["labels"],
    }
    # nothing written: both contacts, their labels and contact inboxes as they were
    assert await snapshot(api, base, mergee) == before
    assert await contact_count(api) == total
    assert await contact_count(api, {"labels": "m 00"}) == 1
    # one label fewer on the mergee and the merge fits exactly
    await set_labels(
        api, mergee, [f"base {n:02d}" for n in range(10)] + [f"m {n:02d}" for n in range(40)]
    )
    response = await merge(api, base, mergee)
    assert response.status_code == 200, response.text
    assert response.json()["email"] == "m@example.com"
    assert len(await contact_labels(api, base)) == 100
    assert await contact_count(api) == total - 1


async def test_the_labels_bound_is_read_when_merging(api: Api) -> None:
    base, mergee = [(await api.create_contact(name=n))["id"] for n in ("Base", "Mergee")]
    await set_labels(api, base, ["a", "b", "c"])
    await set_labels(api, mergee, ["C", "d"])
    with bounds(max_labels=3):
        body = await refused(api, base, mergee)
        assert body["message"] == (
            "Labels is too long once merged: 4 labels (maximum is 3 labels per contact)"
        )
    with bounds(max_labels=4):
        assert (await merge(api, base, mergee)).status_code == 200
    assert await contact_labels(api, base) == ["a", "b", "c", "d"]


async def test_custom_attributes_past_the_bound_once_merged(api: Api) -> None:
    base = await api.create_contact(name="Base", custom_attributes={"a": BIG})
    mergee = await api.create_contact(
        name="Mergee", email="mergee@example.com", custom_attributes={"b": BIG}
    )
    await set_labels(api, mergee["id"], ["moved"])
    before = await snapshot(api, base["id"], mergee["id"])
    body = await refused(api, base["id"], mergee["id"])
    assert body == {
        "message": "Custom attributes is too large (maximum is 16 KB, stored keys included)",
        "attributes": ["custom_attributes"],
    }
    assert await snapshot(api, base["id"], mergee["id"]) == before
    assert await contact_count(api, {"labels": "moved"}) == 1


async def test_additional_attributes_and_both_at_once(api: Api) -> None:
    base = await api.create_contact(
        name="Base", additional_attributes={"city": BIG}, custom_attributes={"a": BIG}
    )
    mergee = await api.create_contact(
        name="Mergee", additional_attributes={"country": BIG}, custom_attributes={"b": "small"}
    )
    body = await refused(api, base["id"], mergee["id"])
    assert body == {
        "message": "Additional attributes is too large (maximum is 16 KB, stored keys included)",
        "attributes": ["additional_attributes"],
    }
    other = await api.create_contact(
        name="Other", additional_attributes={"company_name": BIG}, custom_attributes={"c": BIG}
    )
    await set_labels(api, base["id"], ["one", "two"])
    await set_labels(api, other["id"], ["three"])
    before = await snapshot(api, base["id"], other["id"])
    with bounds(max_labels=2):
        body = await refused(api, base["id"], other["id"])
    assert body["attributes"] == ["additional_attributes", "custom_attributes", "labels"]
    assert body["message"] == (
        "Additional attributes is too large (maximum is 16 KB, stored keys included), "
        "Custom attributes is too large (maximum is 16 KB, stored keys included), "
        "Labels is too long once merged: 3 labels (maximum is 2 labels per contact)"
    )
    assert await snapshot(api, base["id"], other["id"]) == before


async def test_the_merged_object_is_measured_at_the_byte(api: Api) -> None:
    """The bound is on the merged object as compact JSON, nested objects merged and the
    base winning, not on the sum of the two: a key both hold counts once."""
    base_attrs = {"shared": "base wins", "nested": {"a": "1"}, "only_base": "b" * 100}
    mergee_attrs = {"shared": "m" * 500, "nested": {"b": "2"}, "only_mergee": "m" * 100}
    merged = {
        "shared": "base wins",
        "nested": {"a": "1", "b": "2"},
        "only_base": "b" * 100,
        "only_mergee": "m" * 100,
    }
    size = len(orjson.dumps(merged))
    assert size < len(orjson.dumps(base_attrs)) + len(orjson.dumps(mergee_attrs))
    pairs = []
    for _ in range(2):
        base = await api.create_contact(name="Base", custom_attributes=base_attrs)
        mergee = await api.create_contact(name="Mergee", custom_attributes=mergee_attrs)
        pairs.append((base["id"], mergee["id"]))
    with bounds(max_attributes_bytes=size - 1):
        body = await refused(api, *pairs[0])
        assert body["message"] == (
            f"Custom attributes is too large (maximum is {size - 1} bytes, stored keys included)"
        )
    with bounds(max_attributes_bytes=size):
        response = await merge(api, *pairs[1])
    assert response.status_code == 200, response.text
    assert response.json()["custom_attributes"] == merged
    assert (await show(api, pairs[1][0]))["custom_attributes"] == merged
    # the refused pair is untouched and merges once the bound allows it
    assert (await show(api, pairs[0][1]))["custom_attributes"] == mergee_attrs
    assert (await merge(api, *pairs[0])).status_code == 200


async def test_concurrent_merges_into_one_base_cannot_both_fill_it(api: Api) -> None:
    """Each merge counts with the base locked: of two merges of 40 labels into a base of 40,
    one wins and the other is refused, whatever their interleaving."""
    base, first, second = [(await api.create_contact(name=n))["id"] for n in ("B", "M1", "M2")]
    for contact, prefix in ((base, "b"), (first, "one"), (second, "two")):
        await set_labels(api, contact, [f"{prefix} {n:02d}" for n in range(40)])
    responses = await asyncio.gather(merge(api, base, first), merge(api, base, second))
    assert sorted(r.status_code for r in responses) == [200, 422], [r.text for r in responses]
    loser = next(r for r in responses if r.status_code == 422)
    assert loser.json()["message"].startswith("Labels is too long once merged: 120 labels")
    assert len(await contact_labels(api, base)) == 80


async def test_an_object_the_merge_leaves_unchanged_is_not_checked(api: Api) -> None:
    """As an update does not check a field it does not write: a base whose stored object
    predates a lower bound still takes a mergee that adds nothing to that object."""
    base = await api.create_contact(name="Base", custom_attributes={"a": BIG})
    empty = await api.create_contact(name="Empty", email="empty@example.com")
    adding = await api.create_contact(name="Adding", custom_attributes={"b": "1"})
    with bounds(max_attributes_bytes=1024):
        body = await refused(api, base["id"], adding["id"])
        assert body["attributes"] == ["custom_attributes"]
        response = await merge(api, base["id"], empty["id"])
    assert response.status_code == 200, response.text
    assert response.json()["email"] == "empty@example.com"
    assert response.json()["custom_attributes"] == {"a": BIG}
