"""The stored custom_attributes and additional_attributes stay within
limits().max_attributes_bytes (16 KB each, compact JSON), merges included (issue 10, item 6).

A request's object is checked alone by the field rules; these tests are about what is stored:
the sent keys merged into the stored object by PATCH and PUT, and a create's values once
normalised by their definitions. In both dialects.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from contactdesk.limits import limits
from contactdesk.models import Contact
from contactdesk.models.tenancy import tenant_update
from tests.support import Api, show

FIELDS = ("custom_attributes", "additional_attributes")
LABEL = {"custom_attributes": "Custom attributes", "additional_attributes": "Additional attributes"}


def size(value: dict[str, Any]) -> int:
    return len(orjson.dumps(value))


def merged_too_large(field: str) -> dict[str, Any]:
    return {
        "message": f"{LABEL[field]} is too large (maximum is 16 KB, stored keys included)",
        "attributes": [field],
    }


@pytest.mark.parametrize("field", FIELDS)
@pytest.mark.parametrize("method", ["PATCH", "PUT"])
async def test_merges_past_the_maximum_are_refused_and_change_nothing(
    api: Api, field: str, method: str
) -> None:
    most = limits().max_attributes_bytes
    assert most == 16 * 1024
    contact = await api.create_contact(name="Big", **{field: {"k0": "x" * 6000}})
    path = f"/contacts/{contact['id']}"
    grown = await api.request(method, path, json={field: {"k1": "x" * 6000}})
    assert grown.status_code == 200, grown.text
    before = await show(api, contact["id"])
    assert 12_000 < size(before[field]) < most
    # Each request is well under 16 KB; the stored object would not be.
    refused = await api.request(method, path, json={"name": "Renamed", field: {"k2": "x" * 6000}})
    assert refused.status_code == 422, refused.text
    assert refused.json() == merged_too_large(field)
    assert await show(api, contact["id"]) == before  # the name did not change either
    # Exactly the maximum is allowed, one byte more is not.
    room = most - size(before[field]) - len(',"k2":""')
    refused = await api.request(method, path, json={field: {"k2": "y" * (room + 1)}})
    assert refused.status_code == 422, refused.text
    fits = await api.request(method, path, json={field: {"k2": "y" * room}})
    assert fits.status_code == 200, fits.text
    assert size((await show(api, contact["id"]))[field]) == most
    # Replacing a stored key by a smaller value shrinks the object: always allowed.
    shrunk = await api.request(method, path, json={field: {"k0": "small"}})
    assert shrunk.status_code == 200, shrunk.text
    assert size((await show(api, contact["id"]))[field]) < most - 5000


async def test_both_fields_are_checked_and_listed_together(api: Api) -> None:
    half = {"a": "x" * 9000}
    contact = await api.create_contact(custom_attributes=half, additional_attributes=half)
    response = await api.patch(
        f"/contacts/{contact['id']}",
        json={"email": "bad", "custom_attributes": {"b": "x" * 9000}, "additional_attributes": {}},
    )
    assert response.status_code == 422, response.text
    assert response.json()["attributes"] == ["email", "custom_attributes"]
    response = await api.patch(
        f"/contacts/{contact['id']}",
        json={"custom_attributes": {"b": "x" * 9000}, "additional_attributes": {"b": "x" * 9000}},
    )
    assert response.json()["attributes"] == ["custom_attributes", "additional_attributes"]


async def test_values_normalised_past_the_maximum_are_refused_on_create(api: Api) -> None:
    # "1e15" is stored as the number 1000000000000000.0: 12 bytes more in JSON.
    for n in range(10):
        definition = {
            "attribute_display_name": f"n{n}",
            "attribute_key": f"n{n}",
            "attribute_display_type": "number",
        }
        assert (await api.post("/custom_attribute_definitions", json=definition)).status_code == 200
    numbers = {f"n{n}": "1e15" for n in range(10)}
    most = limits().max_attributes_bytes
    pad = most - size({**numbers, "pad": ""})
    sent = {**numbers, "pad": "x" * pad}
    assert size(sent) == most
    response = await api.post(
        "/contacts", json={"inbox_id": api.tenant.inbox_id, "custom_attributes": sent}
    )
    assert response.status_code == 422, response.text
    assert response.json() == {
        "message": "Custom attributes is too large (maximum is 16 KB)",
        "attributes": ["custom_attributes"],
    }
    listed = await api.get("/contacts")
    assert listed.json()["meta"]["count"] == 0
    fits = {**numbers, "pad": "x" * (pad - 120)}
    created = await api.create_contact(custom_attributes=fits)
    assert size(created["custom_attributes"]) == most


async def test_a_stored_object_over_the_maximum_keeps_other_updates_working(api: Api) -> None:
    # Written before the stored size was checked (or by a merge of two contacts).
    contact = await api.create_contact(name="Legacy", custom_attributes={"a": 1})
    async with api.tenant.db.writer() as session:
        await session.execute(
            tenant_update(Contact, api.tenant.account_id)
            .where(Contact.id == contact["id"])
            .values(custom_attributes={"a": "x" * 20_000})
        )
        await session.commit()
    path = f"/contacts/{contact['id']}"
    renamed = await api.patch(path, json={"name": "Renamed", "custom_attributes": None})
    assert renamed.status_code == 200, renamed.text
    grown = await api.patch(path, json={"custom_attributes": {"b": 1}})
    assert grown.json() == merged_too_large("custom_attributes")
    fixed = await api.patch(path, json={"custom_attributes": {"a": "short"}})
    assert fixed.status_code == 200, fixed.text
    assert (await show(api, contact["id"]))["custom_attributes"] == {"a": "short"}


async def test_another_accounts_contact_is_a_404_whatever_the_size(
    api: Api, other_api: Api
) -> None:
    theirs = await other_api.create_contact(custom_attributes={"k": "x" * 10_000})
    response = await api.patch(
        f"/contacts/{theirs['id']}", json={"custom_attributes": {"k2": "x" * 10_000}}
    )
    assert response.status_code == 404, response.text
    mine = await api.create_contact(custom_attributes={"k": "x" * 10_000})
    response = await api.patch(
        f"/contacts/{mine['id']}", json={"custom_attributes": {"k2": "x" * 10_000}}
    )
    assert response.json() == merged_too_large("custom_attributes")
    assert (await show(other_api, theirs["id"]))["custom_attributes"] == {"k": "x" * 10_000}
