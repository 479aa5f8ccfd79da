"""At most limits().max_custom_attribute_definitions (200) definitions per account (issue 10,
item 6), in both dialects, also under concurrent creates."""

from __future__ import annotations

import asyncio
from typing import Any

from contactdesk.limits import limits
from contactdesk.models import CustomAttributeDefinition
from contactdesk.models._time import now_epoch
from tests.support import Api

PATH = "/custom_attribute_definitions"


def full_message(most: int) -> str:
    return (
        f"Attribute key can't be added: the account has {most} custom attribute definitions "
        f"(maximum is {most})"
    )


async def insert_definitions(api: Api, count: int, prefix: str = "bulk") -> None:
    """count definitions written directly (creating 199 over HTTP twice per test is slow)."""
    now = now_epoch()
    async with api.tenant.db.writer() as session:
        session.add_all(
            CustomAttributeDefinition(
                account_id=api.tenant.account_id,
                attribute_key=f"{prefix}_{n}",
                attribute_display_name=f"{prefix} {n}",
                attribute_display_type="text",
                attribute_values=[],
                created_at=now,
                updated_at=now,
            )
            for n in range(count)
        )
        await session.commit()


async def create(api: Api, key: str, **fields: Any) -> Any:
    return await api.post(
        PATH, json={"attribute_display_name": key, "attribute_key": key, **fields}
    )


async def count(api: Api) -> int:
    response = await api.get(PATH)
    assert response.status_code == 200, response.text
    return len(response.json())


async def test_the_definition_past_the_maximum_is_a_422(api: Api, other_api: Api) -> None:
    most = limits().max_custom_attribute_definitions
    assert most == 200
    await insert_definitions(api, most - 1)
    last = await create(api, "last")
    assert last.status_code == 200, last.text
    refused = await create(api, "one_more")
    assert refused.status_code == 422, refused.text
    assert refused.json() == {"message": full_message(most), "attributes": ["attribute_key"]}
    assert await count(api) == most
    # Another account is not concerned; this one may add again once it deleted one.
    assert (await create(other_api, "one_more")).status_code == 200
    assert (await api.delete(f"{PATH}/{last.json()['id']}")).status_code == 200
    again = await create(api, "one_more")
    assert again.status_code == 200, again.text
    assert await count(api) == most
    # Updates add nothing: they still work at the maximum.
    renamed = await api.patch(f"{PATH}/{again.json()['id']}", json={"attribute_display_name": "R"})
    assert renamed.status_code == 200, renamed.text


async def test_a_bad_body_at_the_maximum_lists_every_problem(api: Api) -> None:
    most = limits().max_custom_attribute_definitions
    await insert_definitions(api, most)
    response = await api.post(
        PATH, json={"attribute_display_name": "X", "attribute_key": "", "regex_pattern": "("}
    )
    assert response.status_code == 422, response.text
    body = response.json()
    assert body["attributes"] == ["attribute_key", "regex_pattern"], body
    assert body["message"].startswith("Attribute key can't be blank, Regex pattern is invalid")
    assert body["message"].endswith(full_message(most))
    taken = await create(api, "bulk_0")
    assert taken.json() == {"message": full_message(most), "attributes": ["attribute_key"]}


async def test_concurrent_creates_do_not_pass_the_maximum(api: Api) -> None:
    # On PostgreSQL the creates run in parallel transactions: each locks the account's row
    # before it counts. On SQLite writers are serialized already.
    most = limits().max_custom_attribute_definitions
    await insert_definitions(api, most - 5)
    responses = await asyncio.gather(*(create(api, f"race_{n}") for n in range(12)))
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [200] * 5 + [422] * 7, [r.text for r in responses]
    for response in responses:
        if response.status_code == 422:
            assert response.json() == {
                "message": full_message(most),
                "attributes": ["attribute_key"],
            }
    assert await count(api) == most
