"""POST /contacts/filter (contract §4.5, issue 4 item 1), in both dialects."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from contactdesk.db import Database
from tests.support import CONTACT_KEYS, Api, Tenant, agent_api, basic, set_labels

DAY = 86_400


def cond(key: str, operator: str, values: Any = None, joiner: str | None = None) -> dict[str, Any]:
    condition: dict[str, Any] = {"attribute_key": key, "filter_operator": operator}
    if values is not None:
        condition["values"] = values
    condition["query_operator"] = joiner
    return condition


async def run(api: Api, *conditions: dict[str, Any], params: Any = None) -> dict[str, Any]:
    response = await api.post(
        "/contacts/filter", json={"payload": list(conditions)}, params=params or {}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["meta"]["count"] >= len(body["payload"])
    return body


async def names(api: Api, *conditions: dict[str, Any]) -> set[str]:
    body = await run(api, *conditions)
    assert body["meta"]["count"] == len(body["payload"])  # every test set fits on one page
    return {contact["name"] for contact in body["payload"]}


async def error(api: Api, body: Any) -> str:
    response = await api.post("/contacts/filter", json=body)
    assert response.status_code == 422, response.text
    payload = response.json()
    assert set(payload) == {"error"}, payload
    message: str = payload["error"]
    return message


@pytest.fixture
async def people(api: Api) -> dict[str, dict[str, Any]]:
    """Four contacts with distinct values for every standard key."""
    now = int(datetime.now(UTC).timestamp())
    made = {
        "Ada": await api.create_contact(
            name="Ada Lovelace",
            email="ada@engines.io",
            phone_number="+441234567890",
            identifier="ADA-1",
            last_activity_at=now - 2 * DAY,
            additional_attributes={
                "city": "London",
                "country_code": "GB",
                "company_name": "Analytical 100%",
            },
        ),
        "Bo": await api.create_contact(
            name="Bo_Peep",
            email="bo@sheep.org",
            phone_number="+14155550100",
            identifier="bo-2",
            blocked=True,
            last_activity_at=now - 4 * DAY,
            additional_attributes={"city": "Paris", "country_code": "fr", "company_name": ""},
        ),
        "Cy": await api.create_contact(
            name="Cy",
            phone_number="+14155559999",
            last_activity_at=now - 5 * DAY,
            additional_attributes={"city": ""},
        ),
        "Di": await api.create_contact(name="Di", email="di@engines.io"),
    }
    await set_labels(api, made["Ada"]["id"], ["VIP", "support"])
    await set_labels(api, made["Cy"]["id"], ["support"])
    return {key: contact for key, contact in made.items()}


ALL = {"Ada Lovelace", "Bo_Peep", "Cy", "Di"}


class TestStandardKeys:
    async def test_name(self, api: Api, people: Any) -> None:
        assert await names(api, cond("name", "equal_to", ["ada lovelace"])) == {"Ada Lovelace"}
        assert await names(api, cond("name", "equal_to", ["CY", "di"])) == {"Cy", "Di"}
        assert await names(api, cond("name", "not_equal_to", ["cy", "di"])) == {
            "Ada Lovelace",
            "Bo_Peep",
        }
        assert await names(api, cond("name", "contains", ["LOVE", "peep"])) == {
            "Ada Lovelace",
            "Bo_Peep",
        }
        assert await names(api, cond("name", "does_not_contain", ["a"])) == {"Bo_Peep", "Cy", "Di"}

    async def test_like_wildcards_match_literally(self, api: Api, people: Any) -> None:
        assert await names(api, cond("name", "contains", ["_"])) == {"Bo_Peep"}
        assert await names(api, cond("name", "contains", ["o_p"])) == {"Bo_Peep"}
        assert await names(api, cond("name", "contains", ["%"])) == set()
        assert await names(api, cond("company", "contains", ["100%"])) == {"Ada Lovelace"}
        assert await names(api, cond("company", "contains", ["10%"])) == set()

    async def test_email_equality_takes_every_value(self, api: Api, people: Any) -> None:
        # FIX: the reference uses only the first value.
        found = await names(api, cond("email", "equal_to", ["ADA@engines.io", "bo@sheep.org"]))
        assert found == {"Ada Lovelace", "Bo_Peep"}
        assert await names(api, cond("email", "contains", ["@ENGINES"])) == {"Ada Lovelace", "Di"}

    async def test_not_equal_and_does_not_contain_match_blank_fields(
        self, api: Api, people: Any
    ) -> None:
        assert await names(api, cond("email", "not_equal_to", ["ada@engines.io"])) == {
            "Bo_Peep",
            "Cy",
            "Di",
        }
        assert await names(api, cond("email", "does_not_contain", ["engines"])) == {"Bo_Peep", "Cy"}
        assert await names(api, cond("city", "not_equal_to", ["london"])) == {"Bo_Peep", "Cy", "Di"}

    async def test_phone(self, api: Api, people: Any) -> None:
        assert await names(api, cond("phone_number", "equal_to", ["+14155550100"])) == {"Bo_Peep"}
        # A missing + is added, as in the reference.
        assert await names(api, cond("phone_number", "equal_to", ["14155550100"])) == {"Bo_Peep"}
        assert await names(api, cond("phone_number", "contains", ["5555"])) == {"Bo_Peep", "Cy"}
        assert await names(api, cond("phone_number", "not_equal_to", ["+14155550100"])) == {
            "Ada Lovelace",
            "Cy",
            "Di",
        }

    async def test_phone_starts_with_is_a_real_prefix_match(self, api: Api, people: Any) -> None:
        # FIX: the reference compares for equality.
        assert await names(api, cond("phone_number", "starts_with", ["+1415"])) == {"Bo_Peep", "Cy"}
        assert await names(api, cond("phone_number", "starts_with", ["1415"])) == {"Bo_Peep", "Cy"}
        assert await names(api, cond("phone_number", "starts_with", ["44", "+1415555999"])) == {
            "Ada Lovelace",
            "Cy",
        }
        assert await names(api, cond("phone_number", "starts_with", ["4155"])) == set()

    async def test_identifier_is_case_insensitive(self, api: Api, people: Any) -> None:
        assert await names(api, cond("identifier", "equal_to", ["ada-1", "BO-2"])) == {
            "Ada Lovelace",
            "Bo_Peep",
        }
        assert await names(api, cond("identifier", "not_equal_to", ["ada-1"])) == {
            "Bo_Peep",
            "Cy",
            "Di",
        }

    async def test_additional_attribute_keys(self, api: Api, people: Any) -> None:
        assert await names(api, cond("country_code", "equal_to", ["gb", "FR"])) == {
            "Ada Lovelace",
            "Bo_Peep",
        }
        assert await names(api, cond("city", "equal_to", ["PARIS"])) == {"Bo_Peep"}
        assert await names(api, cond("city", "contains", ["ond"])) == {"Ada Lovelace"}
        # company means additional_attributes.company_name, as in sort and search (FIX).
        assert await names(api, cond("company", "equal_to", ["analytical 100%"])) == {
            "Ada Lovelace"
        }
        assert await names(api, cond("company", "does_not_contain", ["analytical"])) == {
            "Bo_Peep",
            "Cy",
            "Di",
        }

    async def test_labels(self, api: Api, people: Any) -> None:
        assert await names(api, cond("labels", "equal_to", ["SUPPORT"])) == {"Ada Lovelace", "Cy"}
        assert await names(api, cond("labels", "equal_to", ["vip", "nothing"])) == {"Ada Lovelace"}
        assert await names(api, cond("labels", "not_equal_to", ["vip"])) == {"Bo_Peep", "Cy", "Di"}
        assert await names(api, cond("labels", "is_present")) == {"Ada Lovelace", "Cy"}
        assert await names(api, cond("labels", "is_not_present")) == {"Bo_Peep", "Di"}

    async def test_blocked(self, api: Api, people: Any) -> None:
        assert await names(api, cond("blocked", "equal_to", ["true"])) == {"Bo_Peep"}
        assert await names(api, cond("blocked", "equal_to", [False])) == {
            "Ada Lovelace",
            "Cy",
            "Di",
        }
        assert await names(api, cond("blocked", "not_equal_to", [True])) == {
            "Ada Lovelace",
            "Cy",
            "Di",
        }
        assert await names(api, cond("blocked", "is_present")) == ALL

    async def test_dates(self, api: Api, people: Any) -> None:
        today = datetime.now(UTC).date()
        tomorrow = (today + timedelta(days=1)).isoformat()
        yesterday = (today - timedelta(days=1)).isoformat()
        assert await names(api, cond("created_at", "is_less_than", [tomorrow])) == ALL
        assert await names(api, cond("created_at", "is_greater_than", [yesterday])) == ALL
        assert await names(api, cond("created_at", "is_greater_than", [today.isoformat()])) == set()
        assert await names(api, cond("created_at", "is_less_than", [today.isoformat()])) == set()
        # days_before N: before today minus N days (a contact without activity never matches).
        assert await names(api, cond("last_activity_at", "days_before", [3])) == {"Bo_Peep", "Cy"}
        assert await names(api, cond("last_activity_at", "days_before", ["1"])) == {
            "Ada Lovelace",
            "Bo_Peep",
            "Cy",
        }
        three_days_ago = (today - timedelta(days=3)).isoformat()
        assert await names(api, cond("last_activity_at", "is_greater_than", [three_days_ago])) == {
            "Ada Lovelace"
        }
        # An ISO timestamp counts by its UTC date, as the reference's ::date cast does.
        stamp = f"{three_days_ago}T23:59:59+00:00"
        assert await names(api, cond("last_activity_at", "is_greater_than", [stamp])) == {
            "Ada Lovelace"
        }

    async def test_presence_works_on_every_key(self, api: Api, people: Any) -> None:
        # EXT: the reference answers 500 for these on every key but labels.
        assert await names(api, cond("email", "is_present")) == {"Ada Lovelace", "Bo_Peep", "Di"}
        assert await names(api, cond("email", "is_not_present")) == {"Cy"}
        assert await names(api, cond("phone_number", "is_not_present")) == {"Di"}
        assert await names(api, cond("identifier", "is_present")) == {"Ada Lovelace", "Bo_Peep"}
        assert await names(api, cond("city", "is_present")) == {"Ada Lovelace", "Bo_Peep"}
        assert await names(api, cond("company", "is_not_present")) == {"Bo_Peep", "Cy", "Di"}
        assert await names(api, cond("country_code", "is_present")) == {"Ada Lovelace", "Bo_Peep"}
        assert await names(api, cond("last_activity_at", "is_not_present")) == {"Di"}
        assert await names(api, cond("created_at", "is_present")) == ALL
        assert await names(api, cond("name", "is_present")) == ALL


class TestCombining:
    async def test_and_binds_tighter_than_or(self, api: Api, people: Any) -> None:
        # name = Cy OR (email contains engines AND labels = vip)  → Cy, Ada
        found = await names(
            api,
            cond("name", "equal_to", ["cy"], "OR"),
            cond("email", "contains", ["engines"], "AND"),
            cond("labels", "equal_to", ["vip"]),
        )
        assert found == {"Cy", "Ada Lovelace"}
        # (labels = support AND name = cy) OR blocked = true  → Cy, Bo
        found = await names(
            api,
            cond("labels", "equal_to", ["support"], "and"),
            cond("name", "equal_to", ["cy"], "or"),
            cond("blocked", "equal_to", [True]),
        )
        assert found == {"Cy", "Bo_Peep"}

    async def test_empty_payload_matches_every_contact(self, api: Api, people: Any) -> None:
        assert await names(api) == ALL

    async def test_an_empty_query_operator_on_the_last_condition_is_fine(
        self, api: Api, people: Any
    ) -> None:
        last = cond("name", "equal_to", ["cy"])
        last["query_operator"] = ""
        assert await names(api, last) == {"Cy"}
        del last["query_operator"]
        assert await names(api, last) == {"Cy"}


class TestListing:
    async def test_page_sort_and_exact_count(self, api: Api) -> None:
        for n in range(7):
            await api.create_contact(name=f"Match {n}", email=f"m{n}@filter.test")
        await api.create_contact(name="Other", email="other@else.test")
        condition = cond("email", "contains", ["@filter.test"])
        first = await run(api, condition, params={"page_size": 3, "sort": "name"})
        assert first["meta"]["count"] == 7
        assert first["meta"]["current_page"] == 1
        assert [c["name"] for c in first["payload"]] == ["Match 0", "Match 1", "Match 2"]
        third = await run(api, condition, params={"page_size": 3, "sort": "-name", "page": "3"})
        assert third["meta"]["current_page"] == "3"
        assert [c["name"] for c in third["payload"]] == ["Match 0"]
        # Cursors walk the same order without skip or repeat.
        seen: list[str] = []
        params: dict[str, Any] = {"page_size": 2, "sort": "name"}
        while True:
            page = await run(api, condition, params=params)
            seen += [c["name"] for c in page["payload"]]
            if page["meta"]["next_cursor"] is None:
                break
            params = {"page_size": 2, "sort": "name", "after": page["meta"]["next_cursor"]}
        assert seen == [f"Match {n}" for n in range(7)]

    async def test_default_order_is_newest_first(self, api: Api, people: Any) -> None:
        body = await run(api, cond("name", "is_present"))
        assert [c["name"] for c in body["payload"]] == ["Di", "Cy", "Bo_Peep", "Ada Lovelace"]

    async def test_list_parameters_in_the_body(self, api: Api, people: Any) -> None:
        response = await api.post(
            "/contacts/filter",
            json={"payload": [], "page": 2, "page_size": 3, "sort": "name"},
        )
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["meta"] == {"count": 4, "current_page": "2", "next_cursor": None}
        assert [c["name"] for c in body["payload"]] == ["Di"]

    async def test_contacts_have_every_key_and_inboxes_unless_asked(
        self, api: Api, people: Any
    ) -> None:
        body = await run(api, cond("name", "equal_to", ["di"]))
        contact = body["payload"][0]
        assert set(contact) >= CONTACT_KEYS | {"contact_inboxes"}
        assert contact["contact_inboxes"][0]["inbox"]["id"] == api.tenant.inbox_id
        body = await run(
            api, cond("name", "equal_to", ["di"]), params={"include_contact_inboxes": "false"}
        )
        assert "contact_inboxes" not in body["payload"][0]

    async def test_bad_list_parameters(self, api: Api, people: Any) -> None:
        for params, message in (
            ({"page": "0"}, "page must be a positive integer"),
            ({"page_size": "101"}, "page_size must be between 1 and 100"),
            ({"sort": "colour"}, "sort must be one of"),
            ({"after": "zzz"}, "after is not a valid cursor"),
        ):
            response = await api.post("/contacts/filter", json={"payload": []}, params=params)
            assert response.status_code == 422, params
            assert response.json()["error"].startswith(message)

    async def test_counts_follow_writes(self, api: Api, people: Any) -> None:
        condition = cond("email", "contains", ["engines"])
        assert (await run(api, condition))["meta"]["count"] == 2
        await api.create_contact(name="Ed", email="ed@engines.io")
        assert (await run(api, condition))["meta"]["count"] == 3
        response = await api.delete(f"/contacts/{people['Di']['id']}")
        assert response.status_code == 200
        assert (await run(api, condition))["meta"]["count"] == 2


class TestErrors:
    async def test_payload_missing_or_not_a_list(self, api: Api) -> None:
        assert "payload is required" in await error(api, {})
        assert "payload must be a list" in await error(api, {"payload": {"a": 1}})
        assert "must be a JSON object" in await error(api, {"payload": ["name"]})

    async def test_query_operators(self, api: Api) -> None:
        trailing = [cond("name", "equal_to", ["a"], "AND")]
        assert "last condition cannot have a query_operator" in await error(
            api, {"payload": trailing}
        )
        missing = [cond("name", "equal_to", ["a"]), cond("name", "equal_to", ["b"])]
        assert "Condition 1 needs a query_operator" in await error(api, {"payload": missing})
        invalid = [cond("name", "equal_to", ["a"], "XOR"), cond("name", "equal_to", ["b"])]
        assert await error(api, {"payload": invalid}) == (
            'Query operator must be either "AND" or "OR".'
        )

    async def test_unknown_key(self, api: Api) -> None:
        message = await error(api, {"payload": [cond("colour", "equal_to", ["red"])]})
        assert message.startswith("Invalid attribute key - [colour].")
        assert "or a custom attribute defined in the account" in message
        message = await error(api, {"payload": [cond(None, "equal_to", ["red"])]})  # type: ignore[arg-type]
        assert message.startswith("Invalid attribute key")

    async def test_operator_not_allowed_for_the_key(self, api: Api) -> None:
        message = await error(api, {"payload": [cond("identifier", "contains", ["a"])]})
        assert message == (
            "Invalid operator. The allowed operators for identifier are "
            "[equal_to,not_equal_to,is_present,is_not_present]."
        )
        for key, operator in (
            ("name", "starts_with"),
            ("created_at", "equal_to"),
            ("labels", "contains"),
            ("name", "like"),
            ("name", None),
        ):
            message = await error(api, {"payload": [cond(key, operator, ["x"])]})  # type: ignore[arg-type]
            assert message.startswith(f"Invalid operator. The allowed operators for {key} are")

    async def test_missing_and_wrong_values(self, api: Api) -> None:
        for condition in (
            cond("name", "equal_to"),
            cond("name", "equal_to", []),
            cond("name", "contains", [""]),
            cond("name", "equal_to", [{"a": 1}]),
            cond("name", "equal_to", [None]),
            cond("email", "equal_to", [True]),
            cond("blocked", "equal_to", ["maybe"]),
            cond("blocked", "equal_to", [1]),
            cond("created_at", "is_greater_than", ["not a date"]),
            cond("created_at", "is_greater_than", ["2024-13-45"]),
            cond("created_at", "is_greater_than", [20240101]),
            cond("created_at", "is_less_than", ["2024-01-01", "2024-02-01"]),
            cond("last_activity_at", "days_before", ["three"]),
            cond("last_activity_at", "days_before", [-1]),
            cond("labels", "equal_to", [["nested"]]),
        ):
            key = condition["attribute_key"]
            message = await error(api, {"payload": [condition]})
            assert message.startswith(
                f"Invalid value. The values provided for {key} are invalid"
            ), (condition, message)

    async def test_values_are_never_sql(self, api: Api, people: Any) -> None:
        hostile = "x'); DROP TABLE contacts; --"
        for condition in (
            cond("name", "equal_to", [hostile]),
            cond("name", "contains", [hostile]),
            cond("city", "not_equal_to", [hostile]),
            cond("labels", "equal_to", [hostile]),
        ):
            await run(api, condition)
        message = await error(api, {"payload": [cond("created_at", "is_less_than", [hostile])]})
        assert "is not an ISO 8601 date" in message
        assert await names(api) == ALL

    async def test_too_many_conditions_or_values(self, api: Api) -> None:
        many = [cond("name", "equal_to", ["a"], "OR") for _ in range(50)]
        many.append(cond("name", "equal_to", ["a"]))
        assert "more than 50 conditions" in await error(api, {"payload": many})
        values = [f"v{n}" for n in range(101)]
        assert "at most 100 values" in await error(
            api, {"payload": [cond("name", "equal_to", values)]}
        )

    async def test_body_not_json_or_not_an_object(self, api: Api) -> None:
        response = await api.post(
            "/contacts/filter",
            content=b'{"payload": [,]}',
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 400
        assert response.json()["error"].startswith("Malformed JSON body")
        response = await api.post("/contacts/filter", json=[])
        assert response.status_code == 422
        assert response.json() == {"error": "Request body must be a JSON object"}


class TestAccess:
    async def test_another_account_sees_none_of_my_contacts(
        self, api: Api, other_api: Api, people: Any
    ) -> None:
        await other_api.create_contact(name="Ada Lovelace", email="ada@other.test")
        theirs = await run(other_api, cond("name", "contains", ["a"]))
        assert [c["name"] for c in theirs["payload"]] == ["Ada Lovelace"]
        assert theirs["meta"]["count"] == 1
        assert all(c["email"] == "ada@other.test" for c in theirs["payload"])
        # My labels mean nothing in the other account.
        assert (await run(other_api, cond("labels", "is_present")))["meta"]["count"] == 0
        assert await names(api, cond("email", "equal_to", ["ada@other.test"])) == set()

    async def test_agents_and_read_only_keys_may_filter(
        self, client: httpx.AsyncClient, dialect: str, tenant: Tenant, people: Any
    ) -> None:
        agent = await agent_api(client, dialect, tenant)
        assert await names(agent, cond("name", "equal_to", ["cy"])) == {"Cy"}
        if dialect == "v2":
            reader = agent.with_headers(await tenant.key_headers(["contacts:read"]))
            assert await names(reader, cond("name", "equal_to", ["cy"])) == {"Cy"}

    async def test_a_key_without_read_scope_is_refused(
        self, client: httpx.AsyncClient, tenant: Tenant
    ) -> None:
        headers = await tenant.key_headers(["contacts:write"])
        response = await client.post(
            "/api/v2/accounts/contacts/filter", json={"payload": []}, headers=headers
        )
        assert response.status_code == 403
        assert response.json() == {"error": "You are not authorized to do this action"}

    async def test_bad_credentials(self, api: Api) -> None:
        headers = basic("nope", "nope") if api.dialect == "v2" else {"api_access_token": "nope"}
        response = await api.with_headers(headers).post("/contacts/filter", json={"payload": []})
        assert response.status_code == 401
        assert response.json() == {"error": "Invalid Access Token"}


async def define(api: Api, key: str, kind: str, **fields: Any) -> None:
    body = {"attribute_display_name": key, "attribute_key": key, "attribute_display_type": kind}
    response = await api.post("/custom_attribute_definitions", json={**body, **fields})
    assert response.status_code == 200, response.text


class TestCustomAttributes:
    @pytest.fixture
    async def typed(self, api: Api) -> None:
        await define(api, "info", "text")
        await define(api, "tier", "list", attribute_values=["platinum", "gold", "Gold"])
        await define(api, "signed_in_at", "date")
        await define(api, "seats", "number")
        await define(api, "trial", "checkbox")
        await api.create_contact(
            name="En",
            custom_attributes={"info": "Test Custom Data", "seats": 5, "trial": True},
        )
        await api.create_contact(
            name="El",
            custom_attributes={
                "info": "other data",
                "tier": "platinum",
                "signed_in_at": "2022-01-19",
                "seats": "12",
                "trial": "false",
            },
        )
        await api.create_contact(
            name="Cs",
            custom_attributes={"tier": "Gold", "signed_in_at": "2022-03-01T10:00:00Z"},
        )
        await api.create_contact(name="None")

    async def test_text_is_case_insensitive(self, api: Api, typed: None) -> None:
        assert await names(api, cond("info", "equal_to", ["test custom DATA"])) == {"En"}
        assert await names(api, cond("info", "contains", ["DATA"])) == {"En", "El"}
        assert await names(api, cond("info", "does_not_contain", ["custom"])) == {
            "El",
            "Cs",
            "None",
        }
        assert await names(api, cond("info", "not_equal_to", ["other data"])) == {
            "En",
            "Cs",
            "None",
        }

    async def test_list_values_are_case_sensitive(self, api: Api, typed: None) -> None:
        assert await names(api, cond("tier", "equal_to", ["Gold"])) == {"Cs"}
        assert await names(api, cond("tier", "equal_to", ["gold"])) == set()
        assert await names(api, cond("tier", "equal_to", ["gold", "platinum"])) == {"El"}
        # not_equal_to also matches contacts without the attribute.
        assert await names(api, cond("tier", "not_equal_to", ["platinum"])) == {"En", "Cs", "None"}

    async def test_dates(self, api: Api, typed: None) -> None:
        assert await names(api, cond("signed_in_at", "is_less_than", ["2022-01-20"])) == {"El"}
        assert await names(api, cond("signed_in_at", "is_greater_than", ["2022-01-19"])) == {"Cs"}
        assert await names(api, cond("signed_in_at", "equal_to", ["2022-03-01"])) == {"Cs"}
        assert await names(api, cond("signed_in_at", "days_before", [30])) == {"El", "Cs"}
        message = await error(api, {"payload": [cond("signed_in_at", "is_less_than", ["soon"])]})
        assert message.startswith("Invalid value. The values provided for signed_in_at")
        assert "is not an ISO 8601 date" in message

    async def test_numbers_compare_as_numbers(self, api: Api, typed: None) -> None:
        # "12" was stored as the number 12, so it is more than 5 (as text it would sort first).
        assert await names(api, cond("seats", "is_greater_than", [5])) == {"El"}
        assert await names(api, cond("seats", "is_greater_than", ["4.5"])) == {"En", "El"}
        assert await names(api, cond("seats", "is_less_than", [12])) == {"En"}
        assert await names(api, cond("seats", "equal_to", [12, 7])) == {"El"}
        assert await names(api, cond("seats", "not_equal_to", [5])) == {"El", "Cs", "None"}
        message = await error(api, {"payload": [cond("seats", "equal_to", ["many"])]})
        assert message.startswith("Invalid value. The values provided for seats are invalid")

    async def test_checkboxes(self, api: Api, typed: None) -> None:
        assert await names(api, cond("trial", "equal_to", [True])) == {"En"}
        assert await names(api, cond("trial", "equal_to", ["false"])) == {"El"}
        assert await names(api, cond("trial", "not_equal_to", [True])) == {"El", "Cs", "None"}

    async def test_presence(self, api: Api, typed: None) -> None:
        assert await names(api, cond("tier", "is_present")) == {"El", "Cs"}
        assert await names(api, cond("trial", "is_present")) == {"En", "El"}
        assert await names(api, cond("seats", "is_not_present")) == {"Cs", "None"}

    async def test_reference_combinations(self, api: Api, typed: None) -> None:
        found = await names(
            api,
            cond("tier", "equal_to", ["platinum"], "AND"),
            cond("signed_in_at", "is_less_than", ["2022-01-20"], "AND"),
            cond("info", "equal_to", ["other data"]),
        )
        assert found == {"El"}

    async def test_operators_follow_the_type(self, api: Api, typed: None) -> None:
        message = await error(api, {"payload": [cond("tier", "contains", ["g"])]})
        assert message == (
            "Invalid operator. The allowed operators for tier are "
            "[equal_to,not_equal_to,is_present,is_not_present]."
        )
        message = await error(api, {"payload": [cond("trial", "is_greater_than", [1])]})
        assert message.startswith("Invalid operator. The allowed operators for trial are")

    async def test_undefined_and_other_accounts_keys_are_unknown(
        self, api: Api, other_api: Api, typed: None
    ) -> None:
        await api.create_contact(name="Free", custom_attributes={"free_form": "x"})
        message = await error(api, {"payload": [cond("free_form", "equal_to", ["x"])]})
        assert message.startswith("Invalid attribute key - [free_form].")
        message = await error(other_api, {"payload": [cond("tier", "equal_to", ["Gold"])]})
        assert message.startswith("Invalid attribute key - [tier].")

    async def test_a_value_stored_before_its_definition_never_breaks_a_filter(
        self, api: Api
    ) -> None:
        await api.create_contact(name="Early", custom_attributes={"when": "someday", "n": "lots"})
        await define(api, "when", "date")
        await define(api, "n", "number")
        assert await names(api, cond("when", "is_greater_than", ["2020-01-01"])) == set()
        assert await names(api, cond("n", "is_greater_than", [1])) == set()
        assert await names(api, cond("when", "is_present")) == {"Early"}


async def test_filters_are_reads_that_never_wait_for_writers(
    api: Api, db: Database, people: dict[str, dict[str, Any]]
) -> None:
    """Both filters arrive as POST, yet read: they answer while a writer holds SQLite's write
    queue (on PostgreSQL, writers do not block readers either)."""
    source_id = people["Ada"]["contact_inboxes"][0]["source_id"]
    async with db.writing():
        found = await asyncio.wait_for(run(api, cond("name", "equal_to", ["cy"])), timeout=10)
        assert [c["name"] for c in found["payload"]] == ["Cy"]
        response = await asyncio.wait_for(
            api.post(
                "/contact_inboxes/filter",
                json={"inbox_id": api.tenant.inbox_id, "source_id": source_id},
            ),
            timeout=10,
        )
        assert response.status_code == 200, response.text
        assert response.json()["id"] == people["Ada"]["id"]
