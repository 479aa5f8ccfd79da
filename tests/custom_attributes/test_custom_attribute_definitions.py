"""/custom_attribute_definitions (contract §1.2, §4.6): bare objects, in both dialects."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx

from tests.support import Api, Tenant, agent_api, basic

NOT_FOUND = {"error": "Resource could not be found"}
FORBIDDEN = {"error": "You are not authorized to do this action"}
PATH = "/custom_attribute_definitions"
KEYS = {
    "id",
    "attribute_display_name",
    "attribute_display_type",
    "attribute_description",
    "attribute_key",
    "regex_pattern",
    "regex_cue",
    "attribute_values",
    "attribute_model",
    "default_value",
    "created_at",
    "updated_at",
}
ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


async def define(api: Api, **fields: Any) -> dict[str, Any]:
    body = {"attribute_display_name": "Plan", "attribute_key": "plan", **fields}
    response = await api.post(PATH, json=body)
    assert response.status_code == 200, response.text
    definition: dict[str, Any] = response.json()
    return definition


async def listed(api: Api, **params: str) -> list[dict[str, Any]]:
    response = await api.get(PATH, params=params)
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    assert isinstance(body, list)
    return body


async def assert_422(response: httpx.Response, attributes: list[str]) -> dict[str, Any]:
    assert response.status_code == 422, response.text
    body: dict[str, Any] = response.json()
    assert set(body) == {"message", "attributes"}, body
    assert body["attributes"] == attributes, body
    return body


async def test_create_answers_the_bare_definition_and_stores_it(api: Api) -> None:
    definition = await define(
        api,
        attribute_display_type="list",
        attribute_description="Their plan",
        attribute_values=["gold", "silver", "gold"],
        default_value={"any": ["json", 1]},
        unknown_key="ignored",
    )
    assert set(definition) == KEYS
    assert definition["attribute_display_name"] == "Plan"
    assert definition["attribute_key"] == "plan"
    assert definition["attribute_display_type"] == "list"
    assert definition["attribute_description"] == "Their plan"
    assert definition["attribute_values"] == ["gold", "silver"]  # duplicates collapse
    assert definition["attribute_model"] == "contact_attribute"
    assert definition["default_value"] == {"any": ["json", 1]}
    assert definition["regex_pattern"] is None
    assert definition["regex_cue"] is None
    assert ISO_UTC.fullmatch(definition["created_at"]), definition
    assert ISO_UTC.fullmatch(definition["updated_at"]), definition
    shown = await api.get(f"{PATH}/{definition['id']}")
    assert shown.status_code == 200
    assert shown.json() == definition
    assert await listed(api) == [definition]


async def test_defaults_and_type_codes(api: Api) -> None:
    plain = await define(api, attribute_key="note", attribute_display_name="  Note  ")
    assert plain["attribute_display_type"] == "text"
    assert plain["attribute_display_name"] == "Note"
    assert plain["attribute_values"] == []
    assert plain["default_value"] is None
    assert plain["attribute_description"] is None
    names = ["text", "number", "currency", "percent", "link", "date", "list", "checkbox"]
    for code, name in enumerate(names):
        extra: dict[str, Any] = {"attribute_values": ["a"]} if name == "list" else {}
        sent: Any = code if code % 2 else str(code)  # the swagger's integer, or its digits
        made = await define(
            api, attribute_key=f"k{code}", attribute_display_type=sent, attribute_model=1, **extra
        )
        assert made["attribute_display_type"] == name
        again = await define(api, attribute_key=f"n{code}", attribute_display_type=name, **extra)
        assert again["attribute_display_type"] == name
    for model in ("contact_attribute", "1"):
        made = await define(api, attribute_key=f"m{model}", attribute_model=model)
        assert made["attribute_model"] == "contact_attribute"


async def test_values_and_patterns_are_kept_for_their_type_only(api: Api) -> None:
    text = await define(
        api,
        attribute_key="code",
        regex_pattern="[A-Z]{3}",
        regex_cue="Three capitals",
        attribute_values=["ignored"],
    )
    assert text["regex_pattern"] == "[A-Z]{3}"
    assert text["regex_cue"] == "Three capitals"
    assert text["attribute_values"] == []
    number = await define(
        api,
        attribute_key="seats",
        attribute_display_type="number",
        regex_pattern="\\d+",
        regex_cue="digits",
        attribute_values=["1"],
    )
    assert number["regex_pattern"] is None
    assert number["regex_cue"] is None
    assert number["attribute_values"] == []


async def test_every_bad_field_is_listed_at_once(api: Api) -> None:
    response = await api.post(
        PATH,
        json={
            "attribute_display_name": "",
            "attribute_key": "has space",
            "attribute_display_type": "colour",
            "attribute_values": [""],
            "regex_pattern": "(",
            "attribute_model": "conversation_attribute",
        },
    )
    body = await assert_422(
        response,
        [
            "attribute_display_name",
            "attribute_key",
            "attribute_display_type",
            "attribute_values",
            "regex_pattern",
            "attribute_model",
        ],
    )
    assert "only contact attributes are kept" in body["message"]
    assert "Regex pattern is invalid" in body["message"]
    assert await listed(api) == []


async def test_each_bad_field_is_a_422(api: Api) -> None:
    long = "x" * 256
    cases: list[tuple[dict[str, Any], str]] = [
        ({"attribute_display_name": None}, "attribute_display_name"),
        ({"attribute_display_name": "   "}, "attribute_display_name"),
        ({"attribute_display_name": long}, "attribute_display_name"),
        ({"attribute_display_name": 5}, "attribute_display_name"),
        ({"attribute_display_name": "a\x00b"}, "attribute_display_name"),
        ({"attribute_key": None}, "attribute_key"),
        ({"attribute_key": ""}, "attribute_key"),
        ({"attribute_key": "a b"}, "attribute_key"),
        ({"attribute_key": "tab\there"}, "attribute_key"),
        ({"attribute_key": "nul\x00"}, "attribute_key"),
        ({"attribute_key": "dotted.key"}, "attribute_key"),
        ({"attribute_key": "k" * 256}, "attribute_key"),
        ({"attribute_key": ["plan"]}, "attribute_key"),
        ({"attribute_key": "email"}, "attribute_key"),
        ({"attribute_key": "Company"}, "attribute_key"),
        ({"attribute_key": "last_activity_at"}, "attribute_key"),
        ({"attribute_display_type": "colour"}, "attribute_display_type"),
        ({"attribute_display_type": 8}, "attribute_display_type"),
        ({"attribute_display_type": -1}, "attribute_display_type"),
        ({"attribute_display_type": True}, "attribute_display_type"),
        ({"attribute_display_type": 2**70}, "attribute_display_type"),
        ({"attribute_display_type": "List"}, "attribute_display_type"),
        ({"attribute_display_type": "list"}, "attribute_values"),
        ({"attribute_display_type": "list", "attribute_values": []}, "attribute_values"),
        ({"attribute_display_type": "list", "attribute_values": None}, "attribute_values"),
        ({"attribute_display_type": "list", "attribute_values": "a,b"}, "attribute_values"),
        ({"attribute_display_type": "list", "attribute_values": ["a", 1]}, "attribute_values"),
        ({"attribute_display_type": "list", "attribute_values": [" "]}, "attribute_values"),
        ({"attribute_display_type": "list", "attribute_values": [long]}, "attribute_values"),
        ({"attribute_values": ["ok", {"a": 1}]}, "attribute_values"),
        ({"attribute_description": 12}, "attribute_description"),
        ({"attribute_description": "d" * 4097}, "attribute_description"),
        ({"regex_pattern": "[a-"}, "regex_pattern"),
        ({"regex_pattern": "a" * 256}, "regex_pattern"),
        ({"regex_pattern": 5}, "regex_pattern"),
        ({"regex_cue": ["x"]}, "regex_cue"),
        ({"attribute_model": 0}, "attribute_model"),
        ({"attribute_model": "0"}, "attribute_model"),
        ({"attribute_model": "conversation_attribute"}, "attribute_model"),
        ({"attribute_model": "user"}, "attribute_model"),
        ({"attribute_model": True}, "attribute_model"),
        ({"attribute_model": [1]}, "attribute_model"),
        ({"default_value": "nul\x00"}, "default_value"),
        ({"default_value": "x" * 17000}, "default_value"),
    ]
    for fields, attribute in cases:
        body = {"attribute_display_name": "Plan", "attribute_key": "plan", **fields}
        response = await api.post(PATH, json=body)
        await assert_422(response, [attribute])
    missing = await api.post(PATH, json={})
    await assert_422(missing, ["attribute_display_name", "attribute_key"])
    assert await listed(api) == []


async def test_a_malformed_body(api: Api) -> None:
    header = {"Content-Type": "application/json"}
    bad = await api.post(PATH, content=b'{"attribute_key": ', headers=header)
    assert bad.status_code == 400
    assert "error" in bad.json()
    not_object = await api.post(PATH, json=["plan"])
    assert not_object.status_code == 422
    assert "error" in not_object.json()
    assert await listed(api) == []


async def test_a_key_is_unique_in_the_account_only(api: Api, other_api: Api) -> None:
    first = await define(api)
    again = await api.post(PATH, json={"attribute_display_name": "Other", "attribute_key": "plan"})
    body = await assert_422(again, ["attribute_key"])
    assert body["message"] == "Attribute key has already been taken"
    assert [d["id"] for d in await listed(api)] == [first["id"]]
    # Keys are case-sensitive, like the custom_attributes keys they describe.
    await define(api, attribute_key="Plan")
    theirs = await define(other_api)
    assert theirs["id"] != first["id"]


async def test_concurrent_duplicates_one_wins(api: Api) -> None:
    body = {"attribute_display_name": "Tier", "attribute_key": "tier"}
    responses = await asyncio.gather(*(api.post(PATH, json=body) for _ in range(2)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 422], [r.text for r in responses]
    loser = next(r for r in responses if r.status_code == 422)
    assert loser.json() == {
        "message": "Attribute key has already been taken",
        "attributes": ["attribute_key"],
    }
    assert [d["attribute_key"] for d in await listed(api)] == ["tier"]


async def test_list_is_ordered_by_id_and_filters_by_model(api: Api) -> None:
    made = [await define(api, attribute_key=f"key_{n}") for n in (3, 1, 2)]
    expected = [d["id"] for d in made]
    assert [d["id"] for d in await listed(api)] == expected
    for model in ("contact_attribute", "1", ""):
        assert [d["id"] for d in await listed(api, attribute_model=model)] == expected
    for model in ("conversation_attribute", "0"):
        assert await listed(api, attribute_model=model) == []
    for model in ("2", "contact", "Contact_attribute"):
        response = await api.get(PATH, params={"attribute_model": model})
        assert response.status_code == 422, response.text
        assert set(response.json()) == {"error"}


async def test_patch_changes_only_what_is_sent(api: Api) -> None:
    made = await define(
        api, attribute_display_type="list", attribute_values=["gold"], attribute_description="d"
    )
    response = await api.patch(
        f"{PATH}/{made['id']}",
        json={"attribute_values": ["gold", "silver"], "attribute_key": "tier", "id": 1},
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["id"] == made["id"]
    assert changed["attribute_key"] == "tier"
    assert changed["attribute_values"] == ["gold", "silver"]
    assert changed["attribute_description"] == "d"
    assert changed["attribute_display_name"] == "Plan"
    assert changed["created_at"] == made["created_at"]
    assert (await api.get(f"{PATH}/{made['id']}")).json() == changed
    same = await api.patch(f"{PATH}/{made['id']}", json={})
    assert same.status_code == 200
    assert same.json() == changed
    to_text = await api.patch(
        f"{PATH}/{made['id']}",
        json={
            "attribute_display_type": 0,
            "regex_pattern": "[a-z]+",
            "attribute_description": None,
        },
    )
    assert to_text.status_code == 200, to_text.text
    text = to_text.json()
    assert text["attribute_display_type"] == "text"
    assert text["attribute_values"] == []
    assert text["regex_pattern"] == "[a-z]+"
    assert text["attribute_description"] is None


async def test_patch_result_must_be_valid_as_a_whole(api: Api) -> None:
    made = await define(api)
    await define(api, attribute_key="taken")
    path = f"{PATH}/{made['id']}"
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({"attribute_display_type": "list"}, ["attribute_values"]),
        ({"attribute_display_type": "list", "attribute_values": []}, ["attribute_values"]),
        ({"attribute_key": "taken"}, ["attribute_key"]),
        ({"attribute_key": None}, ["attribute_key"]),
        ({"attribute_display_name": ""}, ["attribute_display_name"]),
        ({"attribute_key": "name", "regex_pattern": "("}, ["attribute_key", "regex_pattern"]),
        ({"attribute_model": "conversation_attribute"}, ["attribute_model"]),
    ]
    for body, attributes in cases:
        await assert_422(await api.patch(path, json=body), attributes)
    bad_json = await api.patch(path, content=b"{,}", headers={"Content-Type": "application/json"})
    assert bad_json.status_code == 400
    assert (await api.get(path)).json() == made
    became_list = await api.patch(
        path, json={"attribute_display_type": "list", "attribute_values": ["a"]}
    )
    assert became_list.status_code == 200, became_list.text
    back = await api.patch(path, json={"attribute_values": []})
    await assert_422(back, ["attribute_values"])


async def test_delete_answers_an_empty_200(api: Api) -> None:
    made = await define(api)
    kept = await define(api, attribute_key="kept")
    response = await api.delete(f"{PATH}/{made['id']}")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["content-length"] == "0"
    assert (await api.get(f"{PATH}/{made['id']}")).status_code == 404
    assert await listed(api) == [kept]
    again = await api.delete(f"{PATH}/{made['id']}")
    assert again.status_code == 404
    assert again.json() == NOT_FOUND
    # The key is free again.
    await define(api)


async def test_unknown_invalid_and_foreign_ids_are_404(api: Api, other_api: Api) -> None:
    theirs = await define(other_api)
    ids = ["999999999", "abc", "-1", "0", str(2**64), str(theirs["id"])]
    for raw in ids:
        for method in ("GET", "PATCH", "DELETE"):
            kwargs: dict[str, Any] = {"json": {"attribute_key": "x"}} if method == "PATCH" else {}
            response = await api.request(method, f"{PATH}/{raw}", **kwargs)
            assert response.status_code == 404, (method, raw, response.text)
            assert response.json() == NOT_FOUND
    # The unknown resource is reported before a malformed body.
    bad = await api.patch(f"{PATH}/{theirs['id']}", content=b"{", headers={"X": "y"})
    assert bad.status_code == 404
    assert await listed(api) == []
    assert await listed(other_api) == [theirs]


async def test_agents_read_administrators_write(
    api: Api, client: httpx.AsyncClient, tenant: Tenant, dialect: str
) -> None:
    made = await define(api)
    agent = await agent_api(client, dialect, tenant)
    assert await listed(agent) == [made]
    assert (await agent.get(f"{PATH}/{made['id']}")).json() == made
    refused = [
        await agent.post(PATH, json={"attribute_display_name": "X", "attribute_key": "x"}),
        await agent.patch(f"{PATH}/{made['id']}", json={"attribute_display_name": "X"}),
        await agent.delete(f"{PATH}/{made['id']}"),
    ]
    for response in refused:
        assert response.status_code == 403, response.text
        assert response.json() == FORBIDDEN
    assert await listed(api) == [made]


async def test_key_scopes(api: Api, client: httpx.AsyncClient, tenant: Tenant) -> None:
    made = await define(api)
    url = f"/api/v2/accounts{PATH}"
    writer = await tenant.key_headers(["contacts:write", "contacts:delete"])
    assert (await client.get(url, headers=writer)).status_code == 403
    reader = await tenant.key_headers(["contacts:read"])
    assert (await client.get(url, headers=reader)).status_code == 200
    body = {"attribute_display_name": "X", "attribute_key": "x"}
    assert (await client.post(url, json=body, headers=reader)).status_code == 403
    admin = await tenant.key_headers(["admin"])
    created = await client.post(url, json=body, headers=admin)
    assert created.status_code == 200, created.text
    removed = await client.delete(f"{url}/{made['id']}", headers=admin)
    assert removed.status_code == 200
    wrong = await client.get(url, headers=basic(tenant.key, "wrong"))
    assert wrong.status_code == 401
    no_token = await client.get(f"/api/v1/accounts/{tenant.account_id}{PATH}")
    assert no_token.status_code == 401
