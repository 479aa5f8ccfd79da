"""Contacts' custom_attributes checked against the account's definitions, in both dialects."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from tests.support import Api, show

PATH = "/custom_attribute_definitions"
CODE_CUE = "Use three capital letters"

# type -> (accepted: [(sent, stored)], rejected: [sent])
CASES: dict[str, tuple[list[tuple[Any, Any]], list[Any]]] = {
    "text": (
        [("hello", "hello"), ("", ""), ("  spaced  ", "  spaced  ")],
        [5, 1.5, True, ["a"], {"a": 1}],
    ),
    "number": (
        [
            (12, 12),
            (-1.5, -1.5),
            (0, 0),
            ("12", 12),
            (" -3 ", -3),
            ("+7", 7),
            ("2.50", 2.5),
            (".5", 0.5),
            ("1e3", 1000.0),
            (2**63 - 1, 2**63 - 1),
        ],
        [
            "abc",
            "",
            "NaN",
            "nan",
            "inf",
            "-Infinity",
            "1e999",
            "1_000",
            "1,5",
            "0x10",
            "\uff11\uff12",  # fullwidth digits
            True,
            False,
            [1],
            {"n": 1},
            "99999999999999999999999",
            2**63,
        ],
    ),
    "currency": ([(9.99, 9.99), ("100", 100)], ["$5", True]),
    "percent": ([(50, 50), ("12.5", 12.5)], ["50%", "nan"]),
    "link": (
        [
            ("https://example.com/a?b=c", "https://example.com/a?b=c"),
            ("HTTP://x.io", "HTTP://x.io"),
        ],
        [
            "ftp://example.com",
            "example.com",
            "http://",
            "https://exa mple.com",
            5,
            "",
            "javascript:x",
        ],
    ),
    "date": (
        [
            ("2024-05-01", "2024-05-01"),
            ("2024-02-29", "2024-02-29"),
            ("2024-05-01T10:00:00", "2024-05-01"),
            ("2024-05-01T10:00:00Z", "2024-05-01"),
            ("2024-05-01T23:30:00-02:00", "2024-05-02"),
            ("2024-05-01T01:00:00+05:00", "2024-04-30"),
        ],
        [
            "2024-13-01",
            "2023-02-29",
            "yesterday",
            "01/05/2024",
            "0001-01-01T00:00:00+01:00",
            "\uff12\uff10\uff12\uff14-05-01",  # fullwidth digits
            "",
            20240501,
            True,
            ["2024-05-01"],
        ],
    ),
    "list": ([("gold", "gold"), ("silver", "silver")], ["Gold", "bronze", "", 1, ["gold"], True]),
    "checkbox": (
        [(True, True), (False, False), ("true", True), ("FALSE", False)],
        ["yes", "1", 1, 0, "", ["true"]],
    ),
}


async def define(api: Api, key: str, kind: str, **fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "attribute_display_name": key,
        "attribute_key": key,
        "attribute_display_type": kind,
    }
    if kind == "list":
        body["attribute_values"] = ["gold", "silver"]
    response = await api.post(PATH, json={**body, **fields})
    assert response.status_code == 200, response.text
    definition: dict[str, Any] = response.json()
    return definition


async def stored(api: Api, contact_id: int) -> dict[str, Any]:
    attributes: dict[str, Any] = (await show(api, contact_id))["custom_attributes"]
    return attributes


async def post_contact(api: Api, **fields: Any) -> Any:
    return await api.post("/contacts", json={"inbox_id": api.tenant.inbox_id, **fields})


def same(a: Any, b: Any) -> bool:
    """Equal and of the same JSON type (in Python True == 1 and 1 == 1.0)."""
    return bool(a == b and type(a) is type(b))


async def define_every_type(api: Api) -> None:
    for kind in CASES:
        await define(api, f"f_{kind}", kind)


async def test_accepted_values_are_stored_normalised(api: Api) -> None:
    await define_every_type(api)
    target = await api.create_contact(name="Target", custom_attributes={"keep": 1})
    for kind, (accepted, _) in CASES.items():
        key = f"f_{kind}"
        for sent, expected in accepted:
            response = await post_contact(api, custom_attributes={key: sent, "free": sent})
            assert response.status_code == 200, (kind, sent, response.text)
            contact = response.json()["payload"]["contact"]
            assert same(contact["custom_attributes"][key], expected), (kind, sent, contact)
            assert contact["custom_attributes"]["free"] == sent  # undefined: kept as sent
            assert same((await stored(api, contact["id"]))[key], expected), (kind, sent)
            for method in ("PATCH", "PUT"):
                updated = await api.request(
                    method, f"/contacts/{target['id']}", json={"custom_attributes": {key: sent}}
                )
                assert updated.status_code == 200, (kind, sent, method, updated.text)
                body = updated.json()["payload"]["custom_attributes"]
                assert same(body[key], expected), (kind, sent, method, body)
                now = await stored(api, target["id"])
                assert same(now[key], expected), (kind, sent, now)
                assert now["keep"] == 1, now


async def test_rejected_values_are_422_naming_the_key(api: Api) -> None:
    await define_every_type(api)
    target = await api.create_contact(name="Target", custom_attributes={"keep": 1})
    before = await stored(api, target["id"])
    for kind, (_, rejected) in CASES.items():
        key = f"f_{kind}"
        for sent in rejected:
            responses = [await post_contact(api, name="New", custom_attributes={key: sent})]
            for method in ("PATCH", "PUT"):
                responses.append(
                    await api.request(
                        method, f"/contacts/{target['id']}", json={"custom_attributes": {key: sent}}
                    )
                )
            for response in responses:
                assert response.status_code == 422, (kind, sent, response.text)
                body = response.json()
                assert body["attributes"] == [f"custom_attributes.{key}"], (kind, sent, body)
                assert f"Custom attribute {key} " in body["message"], body
    assert await stored(api, target["id"]) == before
    listed = await api.get("/contacts", params={"q": "New"})
    assert listed.json()["meta"]["count"] == 0


async def test_messages(api: Api) -> None:
    await define(api, "plan", "list")
    await define(api, "seats", "number")
    await define(api, "vip", "checkbox")
    expected = {
        "plan": "Custom attribute plan must be one of: gold, silver",
        "seats": "Custom attribute seats must be a number",
        "vip": "Custom attribute vip must be true or false",
    }
    for key, message in expected.items():
        response = await post_contact(api, custom_attributes={key: "nope"})
        assert response.json() == {"message": message, "attributes": [f"custom_attributes.{key}"]}


async def test_text_patterns_match_the_whole_value(api: Api) -> None:
    await define(api, "code", "text", regex_pattern="[A-Z]{3}", regex_cue=CODE_CUE)
    await define(api, "ref", "text", regex_pattern="R-\\d+")
    contact = await api.create_contact(custom_attributes={"code": "ABC", "ref": "R-12"})
    assert contact["custom_attributes"] == {"code": "ABC", "ref": "R-12"}
    for bad in ("ABCD", "xABC", "AB", "abc", "ABC\n"):
        response = await api.patch(
            f"/contacts/{contact['id']}", json={"custom_attributes": {"code": bad}}
        )
        assert response.status_code == 422, (bad, response.text)
        assert response.json() == {
            "message": f"Custom attribute code is invalid: {CODE_CUE}",
            "attributes": ["custom_attributes.code"],
        }
    response = await post_contact(api, custom_attributes={"ref": "R-12x"})
    assert response.json() == {
        "message": "Custom attribute ref must match the pattern R-\\d+",
        "attributes": ["custom_attributes.ref"],
    }
    assert await stored(api, contact["id"]) == {"code": "ABC", "ref": "R-12"}


async def test_a_pattern_that_backtracks_forever_is_checked_in_linear_time(api: Api) -> None:
    # (a|aa)+b takes exponential time on a run of a's with no b in a backtracking engine;
    # RE2 answers at once, so the value gets the ordinary mismatch answer.
    await define(api, "slow", "text", regex_pattern="(a|aa)+b")
    started = time.perf_counter()
    response = await post_contact(api, custom_attributes={"slow": "a" * 10_000})
    assert time.perf_counter() - started < 1, "checked in linear time"
    assert response.status_code == 422, response.text
    assert response.json() == {
        "message": "Custom attribute slow must match the pattern (a|aa)+b",
        "attributes": ["custom_attributes.slow"],
    }
    response = await post_contact(api, custom_attributes={"slow": "aaab"})
    assert response.status_code == 200, response.text


async def test_every_bad_key_is_listed_with_the_other_field_problems(api: Api) -> None:
    await define(api, "plan", "list")
    await define(api, "seats", "number")
    body = {
        "email": "not-an-email",
        "custom_attributes": {"plan": "bronze", "free": "x", "seats": "many"},
    }
    target = await api.create_contact(name="T", email="t@example.com")
    responses = [
        await post_contact(api, **body),
        await api.patch(f"/contacts/{target['id']}", json=body),
        await api.put(f"/contacts/{target['id']}", json=body),
    ]
    for response in responses:
        assert response.status_code == 422, response.text
        answer = response.json()
        assert answer["attributes"] == [
            "email",
            "custom_attributes.plan",
            "custom_attributes.seats",
        ], answer
        assert answer["message"] == (
            "Email is invalid, Custom attribute plan must be one of: gold, silver, "
            "Custom attribute seats must be a number"
        )
    assert (await api.get(f"/contacts/{target['id']}")).json()["payload"]["email"] == (
        "t@example.com"
    )


async def test_a_uniqueness_conflict_and_a_bad_value_together(api: Api) -> None:
    await define(api, "plan", "list")
    await api.create_contact(email="taken@example.com")
    response = await post_contact(api, email="taken@example.com", custom_attributes={"plan": "x"})
    assert response.status_code == 422, response.text
    assert response.json()["attributes"] == ["custom_attributes.plan", "email"]


async def test_null_is_allowed_and_clears_the_value(api: Api) -> None:
    await define(api, "plan", "list")
    await define(api, "seats", "number")
    created = await api.create_contact(custom_attributes={"plan": None, "seats": 3})
    assert created["custom_attributes"]["plan"] is None
    response = await api.patch(
        f"/contacts/{created['id']}", json={"custom_attributes": {"seats": None}}
    )
    assert response.status_code == 200, response.text
    assert (await stored(api, created["id"])).get("seats") is None


async def test_only_the_sent_keys_are_checked_on_update(api: Api) -> None:
    contact = await api.create_contact(
        name="Old", custom_attributes={"seats": "many", "plan": "bronze"}
    )
    await define(api, "seats", "number")
    await define(api, "plan", "list")
    # Values stored before the definitions existed are still read and listed as they are.
    assert await stored(api, contact["id"]) == {"seats": "many", "plan": "bronze"}
    listing = await api.get("/contacts")
    assert listing.status_code == 200, listing.text
    assert listing.json()["payload"][0]["custom_attributes"] == {"seats": "many", "plan": "bronze"}
    renamed = await api.patch(
        f"/contacts/{contact['id']}", json={"name": "New", "custom_attributes": {"plan": "gold"}}
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["payload"]["custom_attributes"] == {"seats": "many", "plan": "gold"}
    refused = await api.patch(
        f"/contacts/{contact['id']}", json={"custom_attributes": {"seats": "x"}}
    )
    assert refused.status_code == 422


async def test_definitions_follow_changes_and_deletion(api: Api) -> None:
    definition = await define(api, "plan", "list")
    contact = await api.create_contact(custom_attributes={"plan": "gold"})
    path = f"/contacts/{contact['id']}"
    changed = await api.patch(f"{PATH}/{definition['id']}", json={"attribute_values": ["bronze"]})
    assert changed.status_code == 200, changed.text
    assert (await api.patch(path, json={"custom_attributes": {"plan": "gold"}})).status_code == 422
    assert (
        await api.patch(path, json={"custom_attributes": {"plan": "bronze"}})
    ).status_code == 200
    retyped = await api.patch(
        f"{PATH}/{definition['id']}", json={"attribute_display_type": "number"}
    )
    assert retyped.status_code == 200, retyped.text
    as_number = await api.patch(path, json={"custom_attributes": {"plan": "7"}})
    assert as_number.json()["payload"]["custom_attributes"] == {"plan": 7}
    assert (await api.delete(f"{PATH}/{definition['id']}")).status_code == 200
    free = await api.patch(path, json={"custom_attributes": {"plan": "anything"}})
    assert free.status_code == 200, free.text
    assert await stored(api, contact["id"]) == {"plan": "anything"}


async def test_definitions_changed_by_hand_apply_to_the_next_write(api: Api) -> None:
    """A process keeps an account's definitions for its definitions_version, which a trigger
    moves on every change (migration 0005): SQL written by hand is seen at once too."""
    definition = await define(api, "seats", "number")
    contact = await api.create_contact(name="Kept")
    path = f"/contacts/{contact['id']}"
    many = {"custom_attributes": {"seats": "many"}}
    assert (await post_contact(api, **many)).status_code == 422
    assert (await api.patch(path, json=many)).status_code == 422

    async def by_hand(sql: str, **params: Any) -> None:
        async with api.tenant.db.writer() as session:
            await session.execute(sa.text(sql), params)
            await session.commit()

    await by_hand(
        "UPDATE custom_attribute_definitions SET attribute_display_type = 'text' WHERE id = :d",
        d=definition["id"],
    )
    assert (await post_contact(api, **many)).status_code == 200
    assert (await api.patch(path, json=many)).status_code == 200
    await by_hand("DELETE FROM custom_attribute_definitions WHERE id = :d", d=definition["id"])
    await by_hand(
        "INSERT INTO custom_attribute_definitions (account_id, attribute_model, attribute_key, "
        "attribute_display_name, attribute_display_type, attribute_values, created_at, "
        "updated_at) VALUES (:a, 'contact_attribute', 'tier', 'Tier', 'checkbox', '[]', 0, 0)",
        a=api.tenant.account_id,
    )
    tier = {"custom_attributes": {"seats": "many", "tier": "maybe"}}
    created = await post_contact(api, **tier)
    assert created.status_code == 422, created.text
    assert created.json()["attributes"] == ["custom_attributes.tier"]
    assert (await api.patch(path, json=tier)).status_code == 422
    assert await stored(api, contact["id"]) == {"seats": "many"}


async def test_another_accounts_definitions_do_not_apply(api: Api, other_api: Api) -> None:
    await define(other_api, "plan", "list")
    await define(other_api, "seats", "number")
    mine = await api.create_contact(custom_attributes={"plan": "anything", "seats": "many"})
    assert mine["custom_attributes"] == {"plan": "anything", "seats": "many"}
    theirs = await post_contact(other_api, custom_attributes={"plan": "anything"})
    assert theirs.status_code == 422


async def test_a_malformed_custom_attributes_object_is_one_problem(api: Api) -> None:
    await define(api, "plan", "list")
    for value in ("gold", ["plan"], 5):
        response = await post_contact(api, custom_attributes=value)
        assert response.status_code == 422
        assert response.json()["attributes"] == ["custom_attributes"]
    empty = await api.create_contact(custom_attributes={})
    assert empty["custom_attributes"] == {}
