"""A label's page in created_at order is read from contact_labels (migration 0007): the
contact's created_at is copied onto each of its label rows by triggers, whatever writes them.

The list tests set created_at out of id order by SQL, so that an order taken from ids, or a
stale copy, shows. The migration test runs on a scratch database of the test database's kind.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import command

from contactdesk.migrations import runner
from tests.models.test_tenant_foreign_keys import (
    Scratch,
    insert_contact_label,
    scratch_url,  # noqa: F401  (the fixture)
    seed,
)
from tests.support import Api, get_ok, ids, set_labels


async def run_sql(api: Api, sql: str, **params: Any) -> None:
    async with api.tenant.db.writing() as session:
        await session.execute(sa.text(sql), params)
        await session.commit()


async def set_created_at(api: Api, contact_id: int, value: int) -> None:
    await run_sql(api, "UPDATE contacts SET created_at = :v WHERE id = :c", v=value, c=contact_id)


async def walk(api: Api, params: list[tuple[str, str]]) -> list[int]:
    """Every page along next_cursor, page size 2."""
    seen: list[int] = []
    extra: list[tuple[str, str]] = []
    for _ in range(20):
        body = await get_ok(api, "/contacts", [*params, ("page_size", "2"), *extra])
        seen.extend(ids(body))
        cursor = body["meta"]["next_cursor"]
        if cursor is None:
            return seen
        extra = [("after", cursor)]
    raise AssertionError("the cursor walk never ends")


async def test_a_label_lists_in_created_at_order_by_offset_and_by_cursor(
    api: Api, other_api: Api
) -> None:
    contacts = [await api.create_contact(name=f"Sorted {n}") for n in range(6)]
    # created_at against the id order; two share a second, so the id breaks their tie
    stamps = [500, 100, 300, 300, 200, 400]
    for contact, stamp in zip(contacts, stamps, strict=True):
        await set_created_at(api, contact["id"], 1_700_000_000 + stamp)
    labelled = contacts[:5]
    for contact in labelled:
        await set_labels(api, contact["id"], ["vip"])
    # another account's contact with the same label name, created at the same time
    theirs = await other_api.create_contact(name="Sorted theirs")
    await set_labels(other_api, theirs["id"], ["vip"])

    def order(descending: bool) -> list[int]:
        keyed = [(stamps[n], contacts[n]["id"]) for n in range(5)]
        return [i for _, i in sorted(keyed, reverse=descending)]

    for sort, descending in (("", True), ("-created_at", True), ("created_at", False)):
        params = [("labels", "VIP")] + ([("sort", sort)] if sort else [])
        body = await get_ok(api, "/contacts", params)
        assert ids(body) == order(descending), sort
        assert body["meta"]["count"] == 5
        pages = []
        for page in (1, 2, 3, 4):
            paged = await get_ok(
                api, "/contacts", [*params, ("page_size", "2"), ("page", str(page))]
            )
            assert paged["meta"]["count"] == 5
            pages.extend(ids(paged))
        assert pages == order(descending), sort
        assert await walk(api, params) == order(descending), sort

    # A later change of created_at is followed (a trigger on contacts).
    await set_created_at(api, contacts[1]["id"], 1_800_000_000)
    body = await get_ok(api, "/contacts", [("labels", "vip")])
    assert ids(body)[0] == contacts[1]["id"]
    # A label taken off leaves the page; put back, it returns in its place.
    await set_labels(api, contacts[1]["id"], [])
    assert contacts[1]["id"] not in ids(await get_ok(api, "/contacts", [("labels", "vip")]))
    await set_labels(api, contacts[1]["id"], ["vip"])
    assert ids(await get_ok(api, "/contacts", [("labels", "vip")]))[0] == contacts[1]["id"]


async def test_a_merged_label_sorts_by_the_base_contact(api: Api) -> None:
    base = await api.create_contact(name="Base")
    mergee = await api.create_contact(name="Mergee")
    other = await api.create_contact(name="Other")
    await set_created_at(api, base["id"], 1_700_000_100)
    await set_created_at(api, mergee["id"], 1_700_000_900)
    await set_created_at(api, other["id"], 1_700_000_500)
    await set_labels(api, mergee["id"], ["vip"])
    await set_labels(api, other["id"], ["vip"])
    response = await api.post(
        "/actions/contact_merge",
        json={"base_contact_id": base["id"], "mergee_contact_id": mergee["id"]},
    )
    assert response.status_code == 200, response.text
    body = await get_ok(api, "/contacts", [("labels", "vip")])
    assert ids(body) == [other["id"], base["id"]]
    body = await get_ok(api, "/contacts", [("labels", "vip"), ("sort", "created_at")])
    assert ids(body) == [base["id"], other["id"]]


SORT_KEYS = (
    "SELECT contact_labels.contact_id, contact_labels.contact_created_at, contacts.created_at "
    "FROM contact_labels JOIN contacts ON contacts.id = contact_labels.contact_id "
    "ORDER BY contact_labels.contact_id, contact_labels.label_id"
)


async def test_the_migration_fills_the_key_and_reverts(scratch_url: str) -> None:  # noqa: F811
    scratch = Scratch(scratch_url)
    try:
        await scratch.migrate(command.upgrade, "0006")
        a, b = await seed(scratch)
        for number, contact in enumerate([*a.contacts, *b.contacts]):
            await scratch.run(
                "UPDATE contacts SET created_at = :v WHERE id = :c", v=1000 - number, c=contact
            )
        await scratch.migrate(command.upgrade, "head")
        assert await scratch.revision() == runner.head_revision()
        rows = await scratch.run(SORT_KEYS)
        assert len(rows) == 3
        assert all(copied == created for _, copied, created in rows)
        # Rows written afterwards, by any writer, carry it too.
        await insert_contact_label(scratch, a.id, a.contacts[2], a.label)
        assert len(await scratch.run(SORT_KEYS)) == 4
        # ... and a row moved to another contact takes that contact's.
        await scratch.run("DELETE FROM contact_labels WHERE contact_id = :c", c=a.contacts[2])
        await scratch.run(
            "UPDATE contact_labels SET contact_id = :to WHERE contact_id = :c",
            to=a.contacts[2],
            c=a.contacts[0],
        )
        rows = await scratch.run(SORT_KEYS)
        assert [row[0] for row in rows] == [a.contacts[1], a.contacts[2], b.contacts[0]]
        assert all(copied == created for _, copied, created in rows)

        await scratch.migrate(command.downgrade, "0006")
        assert await scratch.revision() == "0006"
        columns = await scratch.run(
            "SELECT * FROM contact_labels ORDER BY contact_id, label_id LIMIT 1"
        )
        assert len(columns[0]) == 4  # contact_id, label_id, account_id, name
        await scratch.migrate(command.upgrade, "head")
        rows = await scratch.run(SORT_KEYS)
        assert all(copied == created for _, copied, created in rows)
    finally:
        await scratch.close()
