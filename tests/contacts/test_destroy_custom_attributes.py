"""POST /contacts/{id}/destroy_custom_attributes (contract §3), in both dialects."""

from __future__ import annotations

import httpx

from tests.support import CONTACT_KEYS, INBOX_KEYS, Api, Tenant, agent_api, basic, show

NOT_FOUND = {"error": "Resource could not be found"}
FORBIDDEN = {"error": "You are not authorized to do this action"}


def path(contact_id: int | str) -> str:
    return f"/contacts/{contact_id}/destroy_custom_attributes"


async def stored(api: Api, contact_id: int) -> dict[str, object]:
    attributes: dict[str, object] = (await show(api, contact_id))["custom_attributes"]
    return attributes


async def test_removes_the_listed_keys_and_keeps_the_others(api: Api) -> None:
    contact = await api.create_contact(
        name="Ada", custom_attributes={"plan": "pro", "seats": 5, "vip": True}
    )
    response = await api.post(path(contact["id"]), json={"custom_attributes": ["plan", "vip"]})
    assert response.status_code == 200, response.text
    payload = response.json()["payload"]
    assert set(payload) >= CONTACT_KEYS | {"contact_inboxes"}
    assert payload["custom_attributes"] == {"seats": 5}
    assert set(payload["contact_inboxes"][0]["inbox"]) == INBOX_KEYS
    assert await stored(api, contact["id"]) == {"seats": 5}


async def test_absent_keys_and_an_empty_list_change_nothing(api: Api) -> None:
    contact = await api.create_contact(name="Bo", custom_attributes={"plan": "pro"})
    for keys in (["nope"], []):
        response = await api.post(path(contact["id"]), json={"custom_attributes": keys})
        assert response.status_code == 200, response.text
        assert response.json()["payload"]["custom_attributes"] == {"plan": "pro"}
    assert await stored(api, contact["id"]) == {"plan": "pro"}


async def test_a_malformed_body_is_a_422_and_changes_nothing(api: Api) -> None:
    contact = await api.create_contact(name="Cy", custom_attributes={"plan": "pro"})
    bodies = [{}, {"custom_attributes": "plan"}, {"custom_attributes": [1]}]
    for body in [*bodies, {"custom_attributes": [""]}, {"custom_attributes": None}]:
        response = await api.post(path(contact["id"]), json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["attributes"] == ["custom_attributes"], response.text
    json_header = {"Content-Type": "application/json"}
    truncated = b'{"custom_attributes": ['
    bad_json = await api.post(path(contact["id"]), content=truncated, headers=json_header)
    assert bad_json.status_code == 400
    assert await stored(api, contact["id"]) == {"plan": "pro"}


async def test_unknown_or_invalid_contact_is_a_404_before_the_body(api: Api) -> None:
    for contact_id in ("999999999", "abc", "-1"):
        response = await api.post(path(contact_id), json={"nonsense": True})
        assert response.status_code == 404, response.text
        assert response.json() == NOT_FOUND


async def test_another_account_cannot_touch_the_contact(api: Api, other_api: Api) -> None:
    contact = await api.create_contact(name="Di", custom_attributes={"plan": "pro"})
    response = await other_api.post(path(contact["id"]), json={"custom_attributes": ["plan"]})
    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    assert await stored(api, contact["id"]) == {"plan": "pro"}


async def test_an_agent_may_a_read_only_key_may_not(
    api: Api, client: httpx.AsyncClient, tenant: Tenant
) -> None:
    contact = await api.create_contact(name="Ed", custom_attributes={"a": 1, "b": 2})
    agent = await agent_api(client, "v1", tenant)
    allowed = await agent.post(path(contact["id"]), json={"custom_attributes": ["a"]})
    assert allowed.status_code == 200, allowed.text
    reader = await tenant.key_headers(["contacts:read"])
    refused = await client.post(
        f"/api/v2/accounts{path(contact['id'])}",
        json={"custom_attributes": ["b"]},
        headers=reader,
    )
    assert refused.status_code == 403
    assert refused.json() == FORBIDDEN
    assert await stored(api, contact["id"]) == {"b": 2}
    wrong = await client.post(
        f"/api/v2/accounts{path(contact['id'])}",
        json={"custom_attributes": ["b"]},
        headers=basic(tenant.key, "wrong"),
    )
    assert wrong.status_code == 401
