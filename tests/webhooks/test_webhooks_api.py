"""The webhooks API (issue 11, item 1), in both dialects: administrators only, secrets shown
once, http(s) URLs to public destinations only, another account's webhooks out of reach."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from contactdesk import limits as limits_module
from tests.support import Api, Tenant, agent_api

PATH = "/webhooks"
# A public address literal: no name to resolve (the tests have no DNS).
PUBLIC = "https://93.184.216.34/hooks/contacts"
FORBIDDEN = {"error": "You are not authorized to do this action"}
KEYS = {"id", "url", "name", "subscriptions", "exclude_sources", "account_id", "status"}


async def create(api: Api, **body: Any) -> httpx.Response:
    return await api.post(PATH, json={"url": PUBLIC, "subscriptions": ["contact_created"], **body})


async def made(api: Api, **body: Any) -> dict[str, Any]:
    response = await create(api, **body)
    assert response.status_code == 200, response.text
    webhook: dict[str, Any] = response.json()["payload"]["webhook"]
    return webhook


@contextlib.contextmanager
def private_allowed() -> Iterator[None]:
    before = limits_module.limits()
    limits_module.install(dataclasses.replace(before, webhooks_allow_private=True))
    try:
        yield
    finally:
        limits_module.install(before)


async def test_create_show_list_update_rotate_delete(api: Api, tenant: Tenant) -> None:
    webhook = await made(api, name="CRM sync", subscriptions=["contact_updated", "contact_created"])
    assert set(webhook) == KEYS | {"secret"}
    assert webhook["secret"].startswith("whsec_")
    assert webhook["account_id"] == tenant.account_id
    assert webhook["status"] == "enabled"
    assert webhook["name"] == "CRM sync"
    assert webhook["subscriptions"] == ["contact_created", "contact_updated"]
    shown = (await api.get(f"{PATH}/{webhook['id']}")).json()["payload"]["webhook"]
    assert shown == {k: v for k, v in webhook.items() if k != "secret"}
    listed = (await api.get(PATH)).json()["payload"]["webhooks"]
    assert listed == [shown]

    response = await api.patch(
        f"{PATH}/{webhook['id']}",
        json={"url": "http://93.184.216.34:8080/other", "subscriptions": ["contact_deleted"]},
    )
    assert response.status_code == 200, response.text
    updated = response.json()["payload"]["webhook"]
    assert updated["url"] == "http://93.184.216.34:8080/other"
    assert updated["subscriptions"] == ["contact_deleted"]
    assert updated["name"] == "CRM sync"
    assert "secret" not in updated

    rotated = (await api.post(f"{PATH}/{webhook['id']}/rotate_secret")).json()["payload"]
    assert rotated["webhook"]["secret"].startswith("whsec_")
    assert rotated["webhook"]["secret"] != webhook["secret"]

    assert (await api.delete(f"{PATH}/{webhook['id']}")).status_code == 200
    assert (await api.get(f"{PATH}/{webhook['id']}")).status_code == 404
    assert (await api.delete(f"{PATH}/{webhook['id']}")).status_code == 404
    assert (await api.get(PATH)).json()["payload"]["webhooks"] == []


@pytest.mark.parametrize(
    ("body", "attribute"),
    [
        ({"url": None}, "url"),
        ({"url": "ftp://93.184.216.34/x"}, "url"),
        ({"url": "93.184.216.34/x"}, "url"),
        ({"url": "https:///nohost"}, "url"),
        ({"url": "https://93.184.216.34:99999/"}, "url"),
        ({"url": "https://" + "a" * 2100 + ".com/"}, "url"),
        ({"url": "http://127.0.0.1:9000/"}, "url"),
        ({"url": "http://localhost/"}, "url"),
        ({"url": "http://10.1.2.3/"}, "url"),
        ({"url": "http://192.168.0.10/"}, "url"),
        ({"url": "http://169.254.169.254/latest/meta-data"}, "url"),
        ({"url": "http://[::1]/"}, "url"),
        ({"url": "http://[::ffff:127.0.0.1]/"}, "url"),
        ({"url": "http://224.0.0.1/"}, "url"),
        ({"url": "http://0.0.0.0/"}, "url"),
        ({"url": "https://no-such-host.invalid/"}, "url"),
        ({"subscriptions": []}, "subscriptions"),
        ({"subscriptions": "contact_created"}, "subscriptions"),
        ({"subscriptions": ["contact_created", "message_created"]}, "subscriptions"),
        ({"subscriptions": [1]}, "subscriptions"),
        ({"name": 5}, "name"),
        ({"name": "n" * 256}, "name"),
    ],
)
async def test_bad_fields_are_refused(api: Api, body: dict[str, Any], attribute: str) -> None:
    response = await create(api, **body)
    assert response.status_code == 422, response.text
    assert response.json()["attributes"] == [attribute]
    assert (await api.get(PATH)).json()["payload"]["webhooks"] == []


async def test_missing_fields_and_non_objects(api: Api) -> None:
    response = await api.post(PATH, json={})
    assert response.status_code == 422
    assert response.json()["attributes"] == ["url", "subscriptions"]
    assert (await api.post(PATH, json=[])).status_code == 422
    webhook = await made(api)
    response = await api.patch(f"{PATH}/{webhook['id']}", json={"url": "http://127.0.0.1/"})
    assert response.status_code == 422
    shown = (await api.get(f"{PATH}/{webhook['id']}")).json()["payload"]["webhook"]
    assert shown["url"] == PUBLIC


async def test_private_destinations_when_the_operator_allows_them(api: Api) -> None:
    with private_allowed():
        webhook = await made(api, url="http://127.0.0.1:9000/hook")
    assert webhook["url"] == "http://127.0.0.1:9000/hook"


async def test_the_number_of_webhooks_is_bounded(api: Api) -> None:
    before = limits_module.limits()
    limits_module.install(dataclasses.replace(before, max_webhooks=2))
    try:
        await made(api)
        await made(api)
        response = await create(api)
    finally:
        limits_module.install(before)
    assert response.status_code == 422
    assert "maximum is 2" in response.json()["message"]
    assert len((await api.get(PATH)).json()["payload"]["webhooks"]) == 2


async def test_administrators_only(
    api: Api, client: httpx.AsyncClient, tenant: Tenant, dialect: str
) -> None:
    webhook = await made(api)
    agent = await agent_api(client, dialect, tenant)
    refused = [
        await agent.get(PATH),
        await agent.get(f"{PATH}/{webhook['id']}"),
        await create(agent),
        await agent.patch(f"{PATH}/{webhook['id']}", json={"name": "x"}),
        await agent.post(f"{PATH}/{webhook['id']}/rotate_secret"),
        await agent.delete(f"{PATH}/{webhook['id']}"),
    ]
    for response in refused:
        assert response.status_code == 403, response.text
        assert response.json() == FORBIDDEN
    assert len((await api.get(PATH)).json()["payload"]["webhooks"]) == 1


async def test_another_account_cannot_see_or_touch_them(api: Api, other_api: Api) -> None:
    theirs = await made(other_api)
    url = f"{PATH}/{theirs['id']}"
    assert (await api.get(PATH)).json()["payload"]["webhooks"] == []
    for response in [
        await api.get(url),
        await api.patch(url, json={"name": "mine now"}),
        await api.post(url + "/rotate_secret"),
        await api.delete(url),
    ]:
        assert response.status_code == 404, response.text
    shown = (await other_api.get(url)).json()["payload"]["webhook"]
    assert shown == {k: v for k, v in theirs.items() if k != "secret"}


@pytest.mark.parametrize("webhook_id", ["abc", "0", "9" * 5000, "-1"])
async def test_unknown_ids(api: Api, webhook_id: str) -> None:
    for response in [
        await api.get(f"{PATH}/{webhook_id}"),
        await api.patch(f"{PATH}/{webhook_id}", json={"name": "x"}),
        await api.delete(f"{PATH}/{webhook_id}"),
    ]:
        assert response.status_code == 404, response.text
