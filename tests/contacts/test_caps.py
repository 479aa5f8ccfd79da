"""Issue 10 over HTTP, in both dialects: long numbers anywhere answer a JSON 4xx (never a 500),
the list and filter caps are clear 422s, and filters at the caps run on both databases.

The parsers' own cases: tests/unit/test_long_numbers.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import cycle, islice
from typing import Any

import httpx
import pytest

from tests.bounds import bounds
from tests.support import Api, Tenant, get_ok, set_labels

NINES = "9" * 5000
NOT_FOUND = {"error": "Resource could not be found"}
DAY = 86_400


def cond(key: str, operator: str, values: Any = None, joiner: str | None = None) -> dict[str, Any]:
    condition: dict[str, Any] = {"attribute_key": key, "filter_operator": operator}
    if values is not None:
        condition["values"] = values
    condition["query_operator"] = joiner
    return condition


def joined(conditions: list[dict[str, Any]], joiners: list[str]) -> list[dict[str, Any]]:
    """The conditions joined in order by the joiners (cycled); the last one by none."""
    joins = islice(cycle(joiners), len(conditions) - 1)
    return [{**c, "query_operator": j} for c, j in zip(conditions, [*joins, None], strict=True)]


async def filter_ok(api: Api, conditions: list[dict[str, Any]], **body: Any) -> dict[str, Any]:
    response = await api.post("/contacts/filter", json={"payload": conditions, **body})
    assert response.status_code == 200, response.text[:500]
    answer: dict[str, Any] = response.json()
    return answer


async def filter_error(api: Api, conditions: list[dict[str, Any]]) -> str:
    response = await api.post("/contacts/filter", json={"payload": conditions})
    assert response.status_code == 422, response.text[:500]
    body = response.json()
    assert set(body) == {"error"}, body
    message: str = body["error"]
    return message


async def still_serves(api: Api) -> None:
    response = await api.get("/contacts")
    assert response.status_code == 200, response.text


async def define(api: Api, key: str, kind: str, **fields: Any) -> None:
    body = {"attribute_display_name": key, "attribute_key": key, "attribute_display_type": kind}
    response = await api.post("/custom_attribute_definitions", json={**body, **fields})
    assert response.status_code == 200, response.text


# ---------------------------------------------------------------- 5,000-digit numbers


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/contacts/{n}", None),
        ("PATCH", "/contacts/{n}", {"name": "x"}),
        ("PUT", "/contacts/{n}", {"name": "x"}),
        ("DELETE", "/contacts/{n}", None),
        ("GET", "/contacts/{n}/labels", None),
        ("POST", "/contacts/{n}/labels", {"labels": ["a"]}),
        ("POST", "/contacts/{n}/contact_inboxes", {"inbox_id": 1}),
        ("GET", "/contacts/{n}/contactable_inboxes", None),
        ("POST", "/contacts/{n}/destroy_custom_attributes", {"custom_attributes": ["a"]}),
        ("GET", "/custom_attribute_definitions/{n}", None),
    ],
)
@pytest.mark.parametrize("number", [NINES, "0" * 5000 + "9" * 20])
async def test_long_path_ids_are_not_found(
    api: Api, method: str, path: str, body: Any, number: str
) -> None:
    response = await api.request(method, path.format(n=number), json=body)
    assert response.status_code == 404, response.text[:300]
    assert response.json() == NOT_FOUND
    await still_serves(api)


async def test_long_inbox_ids_are_not_found(api: Api) -> None:
    contact = await api.create_contact(name="Ada")
    for path, body in [
        ("/contacts", {"inbox_id": NINES, "name": "x"}),
        ("/contacts/upsert", {"inbox_id": NINES, "email": "x@example.com"}),
        (f"/contacts/{contact['id']}/contact_inboxes", {"inbox_id": NINES}),
        ("/contact_inboxes/filter", {"inbox_id": NINES, "source_id": "s"}),
    ]:
        response = await api.post(path, json=body)
        assert response.status_code == 404, (path, response.text[:300])
        assert response.json() == NOT_FOUND
    await still_serves(api)


async def test_long_ids_in_actions(api: Api) -> None:
    contact = await api.create_contact(name="Ada")
    response = await api.post(
        "/actions/contact_merge",
        json={"base_contact_id": NINES, "mergee_contact_id": contact["id"]},
    )
    assert response.status_code == 404, response.text[:300]
    response = await api.post(
        "/bulk_actions", json={"type": "Contact", "ids": [NINES], "action_name": "delete"}
    )
    assert response.status_code == 422, response.text[:300]
    assert response.json()["error"].startswith("ids must be")
    await still_serves(api)


async def test_a_5000_digit_page_is_past_the_end(api: Api) -> None:
    await api.create_contact(name="Ada")
    for path, params in [
        ("/contacts", [("page", NINES)]),
        ("/contacts/search", [("q", "Ada"), ("page", NINES)]),
        ("/contacts", [("page", NINES), ("labels", "vip")]),
    ]:
        body = await get_ok(api, path, params)
        assert body["payload"] == []
        assert body["meta"]["current_page"] == NINES  # echoed as sent
    body = await filter_ok(api, [], page=NINES)
    assert body["payload"] == []
    assert body["meta"]["count"] == 1
    page_one = await get_ok(api, "/contacts", [("page", "0" * 5000 + "1")])
    assert [c["name"] for c in page_one["payload"]] == ["Ada"]


@pytest.mark.parametrize("raw", [NINES, "0" * 5000, "1" + "0" * 4999])
async def test_a_5000_digit_page_size_is_out_of_range(api: Api, raw: str) -> None:
    for path in ("/contacts", "/contacts/search?q=a"):
        response = await api.get(path, params={"page_size": raw})
        assert response.status_code == 422
        assert response.json() == {"error": "page_size must be between 1 and 100"}
    response = await api.post("/contacts/filter", json={"payload": [], "page_size": raw})
    assert response.status_code == 422
    assert response.json() == {"error": "page_size must be between 1 and 100"}


async def test_long_numbers_in_filter_values(api: Api) -> None:
    await define(api, "seats", "number")
    await define(api, "renewal", "date")
    cases = [
        (cond("created_at", "days_before", [NINES]), "is not a number of days"),
        (cond("last_activity_at", "days_before", [int("9" * 18)]), "is not a number of days"),
        (cond("renewal", "days_before", [NINES]), "is not a number of days"),
        (cond("created_at", "is_greater_than", [NINES]), "is not an ISO 8601 date"),
        (cond("renewal", "is_less_than", [NINES]), "is not an ISO 8601 date"),
        (cond("seats", "equal_to", [NINES]), "is not a number"),
        (cond("seats", "is_greater_than", ["-" + NINES]), "is not a number"),
        (cond("name", "equal_to", [NINES]), "is blank or not a usable string"),
        (cond("created_at", "is_less_than", ["2024-01-01T00:00:00\x00"]), "ISO 8601 date"),
    ]
    for condition, detail in cases:
        assert detail in await filter_error(api, [condition])
    await still_serves(api)


async def test_padded_numbers_in_filter_values(api: Api) -> None:
    await define(api, "seats", "number")
    await api.create_contact(name="Five", custom_attributes={"seats": 5})
    body = await filter_ok(api, [cond("seats", "equal_to", ["0" * 5000 + "5"])])
    assert [c["name"] for c in body["payload"]] == ["Five"]
    body = await filter_ok(api, [cond("created_at", "days_before", ["0" * 5000])])
    assert [c["name"] for c in body["payload"]] == []


async def test_after_the_last_day_matches_nothing(api: Api) -> None:
    await define(api, "renewal", "date")
    await api.create_contact(name="Ada", last_activity_at=253_402_300_799)  # 9999-12-31 23:59:59
    await api.create_contact(name="Bo", custom_attributes={"renewal": "9999-12-31"})
    for key in ("created_at", "last_activity_at", "renewal"):
        body = await filter_ok(api, [cond(key, "is_greater_than", ["9999-12-31"])])
        assert body["payload"] == [], key
        assert body["meta"]["count"] == 0
    body = await filter_ok(api, [cond("last_activity_at", "is_greater_than", ["9999-12-30"])])
    assert [c["name"] for c in body["payload"]] == ["Ada"]
    body = await filter_ok(api, [cond("renewal", "is_greater_than", ["9999-12-30"])])
    assert [c["name"] for c in body["payload"]] == ["Bo"]


@pytest.mark.parametrize("key", [["name"], {"name": "x"}, 5, None])
async def test_attribute_keys_that_are_not_strings(api: Api, key: Any) -> None:
    message = await filter_error(api, [{"attribute_key": key, "filter_operator": "equal_to"}])
    assert message.startswith("Invalid attribute key")


@pytest.mark.parametrize("values", ["Ada", "", 5, True, {"a": 1}])
async def test_filter_values_must_be_a_list(api: Api, values: Any) -> None:
    # Contract §4.5: a wrong value type is a 422 (a string was once read as a one-value list).
    message = await filter_error(api, [cond("name", "equal_to", values)])
    assert (
        message == "Invalid value. The values provided for name are invalid: values must be a list"
    )


async def test_long_or_nul_last_activity_at_is_a_field_problem(api: Api) -> None:
    contact = await api.create_contact(name="Ada")
    for value in (NINES, "2024-01-01T00:00:00\x00"):
        expected = {"message": "Last activity at is invalid", "attributes": ["last_activity_at"]}
        response = await api.patch(f"/contacts/{contact['id']}", json={"last_activity_at": value})
        assert (response.status_code, response.json()) == (422, expected)
        response = await api.post(
            "/contacts", json={"inbox_id": api.tenant.inbox_id, "last_activity_at": value}
        )
        assert (response.status_code, response.json()) == (422, expected)


async def test_a_long_v1_account_id_is_refused_like_any_other(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    path = f"/api/v1/accounts/{NINES}/contacts"
    for headers, message in [
        ({}, "Missing credentials"),
        ({"api_access_token": "not-a-token"}, "Invalid Access Token"),
        ({"api_access_token": tenant.admin_token}, "You are not authorized to access this account"),
        (
            {"Authorization": f"Bearer {tenant.admin_token}"},
            "You are not authorized to access this account",
        ),
    ]:
        response = await client.get(path, headers=headers)
        assert response.status_code == 401, response.text
        assert response.json() == {"error": message}
    response = await client.get(
        f"/api/v1/accounts/{tenant.account_id}/contacts/{NINES}",
        headers={"api_access_token": tenant.admin_token},
    )
    assert response.status_code == 404


# ---------------------------------------------------------------- q and labels caps


async def test_q_is_at_most_200_characters(api: Api) -> None:
    await api.create_contact(name="a" * 200)
    for path in ("/contacts", "/contacts/search"):
        body = await get_ok(api, path, [("q", "a" * 200)])
        assert body["meta"]["count"] == 1
        response = await api.get(path, params={"q": "a" * 201})
        assert response.status_code == 422
        assert response.json() == {"error": "q must be at most 200 characters"}
    with bounds(max_q_chars=3):
        response = await api.get("/contacts/search", params={"q": "aaaa"})
        assert response.json() == {"error": "q must be at most 3 characters"}


async def test_the_labels_parameter_names_at_most_100_labels(api: Api) -> None:
    contact = await api.create_contact(name="Ada")
    await set_labels(api, contact["id"], ["l99"])
    names = [f"l{n}" for n in range(100)]
    for path, extra in (("/contacts", []), ("/contacts/search", [("q", "Ada")])):
        body = await get_ok(api, path, [*extra, ("labels", ",".join(names))])
        assert body["meta"]["count"] == 1
        params = [*extra, ("labels", ",".join(names)), ("labels[]", "one-more")]
        response = await api.get(path, params=params)
        assert response.status_code == 422
        assert response.json() == {"error": "labels may name at most 100 labels"}


async def test_filter_caps_are_configurable(api: Api) -> None:
    with bounds(max_filter_conditions=2, max_filter_values=3):
        conditions = joined([cond("name", "equal_to", ["a", "b", "c"])] * 2, ["OR"])
        await filter_ok(api, conditions)
        message = await filter_error(api, joined([cond("name", "equal_to", ["a"])] * 3, ["OR"]))
        assert message == "payload has more than 2 conditions"
        message = await filter_error(api, [cond("name", "contains", ["a", "b", "c", "d"])])
        assert (
            message == "Invalid value. The values provided for name are invalid: at most 3 values"
        )


# ---------------------------------------------------------------- filters at the caps


def values(prefix: str, count: int = 100) -> list[str]:
    return [f"{prefix}{n:03d}" for n in range(count)]


async def test_ten_or_ed_contains_of_85_values(api: Api) -> None:
    """The issue's case: SQLite answered 500 'Expression tree is too large'."""
    await api.create_contact(name="Ada Lovelace")
    await api.create_contact(name="Bo Peep")
    conditions = [cond("name", "contains", values(f"c{n}-", 85)) for n in range(10)]
    conditions[-1]["values"][-1] = "lovelace"
    body = await filter_ok(api, joined(conditions, ["OR"]))
    assert [c["name"] for c in body["payload"]] == ["Ada Lovelace"]
    assert body["meta"]["count"] == 1


async def test_fifty_conditions_of_100_values_one_or_chain(api: Api) -> None:
    await api.create_contact(name="Ada Lovelace", email="ada@engines.io")
    await api.create_contact(name="Bo Peep", email="bo@sheep.org")
    conditions = [cond("name", "contains", values(f"n{n}-")) for n in range(49)]
    conditions.append(cond("email", "contains", [*values("e-", 99), "SHEEP"]))
    body = await filter_ok(api, joined(conditions, ["OR"]))
    assert [c["name"] for c in body["payload"]] == ["Bo Peep"]
    # the same chain, negated and joined by AND, keeps everyone but Bo
    negated = [{**c, "filter_operator": "does_not_contain"} for c in conditions]
    body = await filter_ok(api, joined(negated, ["AND"]))
    assert [c["name"] for c in body["payload"]] == ["Ada Lovelace"]
    assert body["meta"]["count"] == 1


@pytest.fixture
async def every_kind(api: Api) -> dict[str, int]:
    await define(api, "info", "text")
    await define(api, "tier", "list", attribute_values=["gold", "silver"])
    await define(api, "seats", "number")
    await define(api, "renewal", "date")
    await define(api, "trial", "checkbox")
    ada = await api.create_contact(
        name="Ada Lovelace",
        email="ada@engines.io",
        phone_number="+441234567890",
        identifier="ADA-1",
        last_activity_at=int(datetime.now(UTC).timestamp()) - 2 * DAY,
        additional_attributes={"city": "London", "country_code": "GB", "company_name": "AE"},
        custom_attributes={
            "info": "first programmer",
            "tier": "gold",
            "seats": 5,
            "renewal": "2030-01-01",
            "trial": True,
        },
    )
    await set_labels(api, ada["id"], ["vip"])
    bo = await api.create_contact(name="Bo Peep", blocked=True)
    return {"Ada Lovelace": ada["id"], "Bo Peep": bo["id"]}


def every_operator() -> list[dict[str, Any]]:
    """One condition per key and operator the filter has, each with as many values as it takes
    (100, or the one a comparison takes), every custom attribute type included."""
    many = values
    return [
        cond("name", "equal_to", [*many("n", 99), "ada lovelace"]),
        cond("name", "not_equal_to", many("n")),
        cond("name", "contains", [*many("n", 99), "love"]),
        cond("name", "does_not_contain", many("n")),
        cond("phone_number", "starts_with", [*many("+1", 99), "+44"]),
        cond("phone_number", "contains", [*many("55", 99), "1234"]),
        cond("phone_number", "does_not_contain", many("66")),
        cond("email", "equal_to", [*many("e", 99), "ada@engines.io"]),
        cond("email", "does_not_contain", many("x")),
        cond("identifier", "equal_to", [*many("i", 99), "ADA-1"]),
        cond("identifier", "not_equal_to", many("i")),
        cond("country_code", "equal_to", [*many("c", 99), "gb"]),
        cond("country_code", "not_equal_to", many("c")),
        cond("city", "contains", [*many("c", 99), "lond"]),
        cond("company", "does_not_contain", many("c")),
        cond("labels", "equal_to", [*many("l", 99), "VIP"]),
        cond("labels", "not_equal_to", many("l")),
        cond("created_at", "is_greater_than", ["2000-01-01"]),
        cond("created_at", "is_less_than", ["2999-01-01"]),
        cond("last_activity_at", "days_before", [1]),
        cond("blocked", "equal_to", [False] * 99 + [True]),
        cond("blocked", "not_equal_to", ["true"] * 100),
        cond("info", "contains", [*many("i", 99), "PROGRAM"]),
        cond("info", "does_not_contain", many("i")),
        cond("info", "equal_to", [*many("i", 99), "first programmer"]),
        cond("tier", "equal_to", [*many("t", 99), "gold"]),
        cond("tier", "not_equal_to", many("t")),
        cond("seats", "equal_to", [*range(1000, 1099), 5]),
        cond("seats", "not_equal_to", list(range(1000, 1100))),
        cond("seats", "is_greater_than", [4]),
        cond("seats", "is_less_than", ["6"]),
        cond("renewal", "equal_to", [f"2031-01-{d:02d}" for d in range(1, 32)] + ["2030-01-01"]),
        cond("renewal", "not_equal_to", [f"2031-02-{d:02d}" for d in range(1, 29)]),
        cond("renewal", "is_greater_than", ["2029-12-31"]),
        cond("renewal", "is_less_than", ["2030-01-02"]),
        cond("renewal", "days_before", [0]),
        cond("trial", "equal_to", [True, "true"] * 50),
        cond("trial", "not_equal_to", ["false"] * 100),
        cond("name", "is_present"),
        cond("tier", "is_present"),
        cond("labels", "is_present"),
        cond("email", "is_not_present"),
    ]


async def test_every_operator_at_the_caps(api: Api, every_kind: dict[str, int]) -> None:
    """50 conditions (the cap) drawn from every operator, 100 values each where the operator
    takes many, joined every way: all AND, all OR, and mixes."""
    operators = every_operator()
    conditions = list(islice(cycle(operators), 50))
    assert {(c["attribute_key"], c["filter_operator"]) for c in conditions} == {
        (c["attribute_key"], c["filter_operator"]) for c in operators
    }
    ada = every_kind["Ada Lovelace"]
    # Ada matches every condition but "email is_not_present", "days_before 1" (two days ago)
    # and "renewal days_before 0"; Bo matches "blocked" and the "does_not_contain"s.
    for joiners in (["AND"], ["OR"], ["AND", "OR"], ["OR", "AND", "AND"], ["AND"] * 7 + ["OR"]):
        body = await filter_ok(api, joined(conditions, joiners))
        assert body["meta"]["count"] == len(body["payload"])
        if joiners == ["AND"]:
            assert body["payload"] == []
        if joiners == ["OR"]:
            assert {c["id"] for c in body["payload"]} == set(every_kind.values())
    # Ada alone matches all the conditions she should, at the caps
    hers = [c for c in operators if c["filter_operator"] not in ("is_not_present", "days_before")]
    body = await filter_ok(api, joined(list(islice(cycle(hers), 50)), ["AND"]))
    assert [c["id"] for c in body["payload"]] == [ada]
