"""Cursor pagination (EXT): `after=<cursor>` and `meta.next_cursor` on /contacts and
/contacts/search, in both dialects.

A walk along next_cursor must give exactly the rows, in exactly the order, of one big
page-number listing with the same parameters: every sort key, both directions, blanks last,
duplicates of the sort value (ties broken by id), mixed case, and with q and labels filters.
Rows written between two pages must not make the walk skip or repeat a row that was there
from the start.
"""

from __future__ import annotations

import base64
import json
import uuid
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support import (
    Api,
    Params,
    Tenant,
    admin_api,
    get_error,
    get_ok,
    ids,
    set_labels,
)

Contact = dict[str, Any]

MARK = "cq7walk"
WALK_LABEL = "walkers"

SORT_KEYS = [
    "email",
    "name",
    "phone_number",
    "last_activity_at",
    "created_at",
    "company",
    "city",
    "country",
]
BOTH_PATHS = ("/contacts", "/contacts/search")

COMBINE_ERROR = {"error": "page and after cannot be combined"}
INVALID_ERROR = {"error": "after is not a valid cursor"}
ORDER_ERROR = {"error": "after belongs to another sort order"}


@dataclass(frozen=True)
class Scope:
    name: str
    path: str
    params: tuple[tuple[str, str], ...]
    mark: bool = False  # seeded contacts carry MARK in their identifier
    label: bool = False  # seeded contacts carry WALK_LABEL


SCOPES = (
    Scope("list", "/contacts", ()),
    Scope("search", "/contacts/search", (("q", MARK),), mark=True),
    Scope("list_q_labels", "/contacts", (("q", MARK.upper()), ("labels", WALK_LABEL)), True, True),
    Scope("labels", "/contacts", (("labels", f"nope,{WALK_LABEL.upper()}"),), label=True),
)


@pytest.fixture(params=SCOPES, ids=[s.name for s in SCOPES])
def scope(request: pytest.FixtureRequest) -> Scope:
    value: Scope = request.param
    return value


# ---------------------------------------------------------------- helpers


async def full_listing(api: Api, path: str, params: Sequence[tuple[str, str]]) -> list[int]:
    """One page-number listing of everything (page_size=100)."""
    body = await get_ok(api, path, [*params, ("page", "1"), ("page_size", "100")])
    assert len(body["payload"]) < 100, "the data set must fit one page"
    assert body["meta"]["next_cursor"] is None
    assert body["meta"]["count"] == len(body["payload"])
    return ids(body)


async def walk(
    api: Api,
    path: str,
    params: Sequence[tuple[str, str]],
    page_size: int = 3,
    between: Callable[[int, list[int]], Awaitable[None]] | None = None,
) -> list[int]:
    """Follow next_cursor from the first page; `between(page_number, ids_so_far)` runs after
    every page that has a successor."""
    seen: list[int] = []
    cursor: str | None = None
    count: int | None = None
    for number in range(1, 200):
        extra: Params = [("page_size", str(page_size))]
        if cursor is not None:
            extra.append(("after", cursor))
        body = await get_ok(api, path, [*params, *extra])
        meta = body["meta"]
        assert set(meta) >= {"count", "current_page", "next_cursor"}, meta
        assert meta["current_page"] == 1, meta
        if between is None:
            # nothing changes during the walk: the count is the same on every page
            count = meta["count"] if count is None else count
            assert meta["count"] == count, (number, meta)
        assert len(body["payload"]) <= page_size
        seen.extend(ids(body))
        cursor = meta["next_cursor"]
        if cursor is None:
            return seen
        assert isinstance(cursor, str)
        assert cursor
        assert len(body["payload"]) == page_size, "a page with a successor is full"
        if between is not None:
            await between(number, seen)
    raise AssertionError("the walk never ends")


def encode(value: Any) -> str:
    """A cursor in the service's own format (base64url of a JSON array, no padding)."""
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


async def seed(api: Api, scope: Scope, specs: Sequence[dict[str, Any]]) -> list[Contact]:
    """Create the contacts of the scope, plus outsiders the scope's filters must leave out."""
    if scope.mark or scope.label:
        outsider = await api.create_contact(name="Outsider", email=f"o{uuid.uuid4().hex[:6]}@x.io")
        await set_labels(api, outsider["id"], ["other"])
    if scope.mark and scope.label:
        # matches q but has not the label
        await api.create_contact(name="Half", identifier=f"{MARK}-half")
    created = []
    for spec in specs:
        fields = dict(spec)
        if scope.mark:
            fields.setdefault("identifier", f"{MARK}-{uuid.uuid4().hex[:8]}")
        contact = await api.create_contact(**fields)
        if scope.label:
            await set_labels(api, contact["id"], [WALK_LABEL, "x"])
        created.append(contact)
    return created


def sort_params(key: str, descending: bool, form: int) -> Params:
    """The three spellings of an order: prefix, direction, or a prefix overridden."""
    if form == 0:
        return [("sort", f"-{key}" if descending else key)]
    if form == 1:
        return [("sort", key), ("direction", "desc" if descending else "asc")]
    return [
        ("sort", key if descending else f"-{key}"),
        ("direction", "desc" if descending else "asc"),
    ]


# Blanks (null, "" or missing), duplicates of each sort value, mixed case, non-ASCII.
WALK_SPECS: list[dict[str, Any]] = [
    {
        "name": "alpha",
        "email": "b@walk.example",
        "phone_number": "+15550000003",
        "last_activity_at": 100,
        "additional_attributes": {"company_name": "Acme", "city": "Paris", "country": "France"},
    },
    {
        "name": "Alpha",
        "last_activity_at": 100,
        "additional_attributes": {"company_name": "acme", "city": "paris", "country": ""},
    },
    {
        "name": "ALPHA",
        "email": "A@Walk.Example",
        "phone_number": "+15550000001",
        "additional_attributes": {"company_name": "", "country": "FRANCE"},
    },
    {
        "name": "",
        "email": "c@walk.example",
        "phone_number": "+15550000002",
        "last_activity_at": 300,
        "additional_attributes": {"company_name": "Zed", "city": "Ávila", "country": "Spain"},
    },
    {
        "name": "bravo",
        "phone_number": "+15550000009",
        "last_activity_at": 200,
        "additional_attributes": {"company_name": "ZED", "city": "", "country": "spain"},
    },
    {
        "name": "Émile",
        "email": "e@walk.example",
        "last_activity_at": 200,
        "additional_attributes": {"company_name": "émile co", "city": "Berlin", "country": None},
    },
    {"name": "charlie", "email": "d@walk.example", "phone_number": "+15550000004"},
    {"name": ""},
    {
        "name": "bravo",
        "email": "f@walk.example",
        "last_activity_at": 300,
        "additional_attributes": {"company_name": "Acme", "city": "berlin", "country": "Germany"},
    },
    {
        "name": "zulu",
        "phone_number": "+15550000005",
        "last_activity_at": 50,
        "additional_attributes": {"company_name": "a.b", "city": "Zürich", "country": "swiss"},
    },
    {
        "name": "Zulu",
        "email": "G@walk.example",
        "last_activity_at": 50,
        "additional_attributes": {"company_name": "A.B", "city": "zürich"},
    },
    {"name": "mike", "last_activity_at": 0, "additional_attributes": {"city": "Oslo"}},
    {"name": " spaced", "email": "h@walk.example", "additional_attributes": {"country": "Norway"}},
    {
        "name": "ÉMILE",
        "phone_number": "+15550000006",
        "last_activity_at": 1,
        "additional_attributes": {"company_name": "Émile Co", "city": "BERLIN"},
    },
]


# ---------------------------------------------------------------- the walk equals the listing


async def test_walk_matches_the_page_listing_for_every_order(api: Api, scope: Scope) -> None:
    contacts = await seed(api, scope, WALK_SPECS)
    wanted = {c["id"] for c in contacts}
    failures: list[tuple[Any, ...]] = []
    for key in SORT_KEYS:
        for descending in (False, True):
            params = [*scope.params, *sort_params(key, descending, SORT_KEYS.index(key) % 3)]
            expected = await full_listing(api, scope.path, params)
            assert set(expected) == wanted, (params, "the filters select the seeded contacts")
            walked = await walk(api, scope.path, params)
            if walked != expected:
                failures.append((params, walked, expected))
    assert failures == []


@pytest.mark.parametrize("page_size", [1, 7, 13, 14])
async def test_walk_with_various_page_sizes(api: Api, page_size: int) -> None:
    contacts = await seed(api, SCOPES[0], WALK_SPECS)
    assert len(contacts) == 14
    for params in ([], [("sort", "-company")], [("sort", "email")]):
        expected = await full_listing(api, "/contacts", params)
        assert await walk(api, "/contacts", params, page_size) == expected, params


async def test_default_order_walk_and_meta(api: Api) -> None:
    contacts = [await api.create_contact(name=f"n{i}") for i in range(5)]
    newest_first = sorted((c["id"] for c in contacts), reverse=True)
    first = await get_ok(api, "/contacts", [("page_size", "2")])
    assert ids(first) == newest_first[:2]
    assert first["meta"]["count"] == 5
    assert first["meta"]["current_page"] == 1
    cursor = first["meta"]["next_cursor"]
    assert isinstance(cursor, str)

    second = await get_ok(api, "/contacts", [("page_size", "2"), ("after", cursor)])
    assert ids(second) == newest_first[2:4]
    assert second["meta"]["count"] == 5
    assert second["meta"]["current_page"] == 1
    # the same cursor again gives the same page
    again = await get_ok(api, "/contacts", [("page_size", "2"), ("after", cursor)])
    assert ids(again) == ids(second)
    assert again["meta"]["next_cursor"] == second["meta"]["next_cursor"]

    last = await get_ok(
        api, "/contacts", [("page_size", "2"), ("after", second["meta"]["next_cursor"])]
    )
    assert ids(last) == newest_first[4:]
    assert last["meta"]["next_cursor"] is None

    # a page that ends exactly at the last row has no successor
    exact = await get_ok(api, "/contacts", [("page_size", "5")])
    assert exact["meta"]["next_cursor"] is None
    numbered = await get_ok(api, "/contacts", [("page_size", "2"), ("page", "2")])
    assert isinstance(numbered["meta"]["next_cursor"], str)
    numbered = await get_ok(api, "/contacts", [("page_size", "2"), ("page", "3")])
    assert numbered["meta"]["next_cursor"] is None
    empty = await get_ok(api, "/contacts", [("page_size", "2"), ("page", "9")])
    assert empty["payload"] == []
    assert empty["meta"]["next_cursor"] is None


async def test_cursor_of_a_page_number_listing_continues_it(api: Api) -> None:
    """next_cursor of page n (by number) leads to page n+1."""
    await seed(api, SCOPES[0], WALK_SPECS)
    params: Params = [("sort", "name"), ("page_size", "4")]
    page2 = await get_ok(api, "/contacts", [*params, ("page", "2")])
    page3 = await get_ok(api, "/contacts", [*params, ("page", "3")])
    after = await get_ok(api, "/contacts", [*params, ("after", page2["meta"]["next_cursor"])])
    assert ids(after) == ids(page3)


async def test_equivalent_spellings_share_cursors(api: Api) -> None:
    await seed(api, SCOPES[0], WALK_SPECS)
    for key, spellings in [
        ("name", [[("sort", "-name")], [("sort", "name"), ("direction", "DESC")]]),
        ("company", [[("sort", "company")], [("sort", "company_name"), ("direction", "asc")]]),
        ("created_at", [[], [("sort", "-created_at")], [("direction", "desc")]]),
    ]:
        first = await get_ok(api, "/contacts", [*spellings[0], ("page_size", "3")])
        cursor = first["meta"]["next_cursor"]
        pages = [
            ids(await get_ok(api, "/contacts", [*s, ("page_size", "3"), ("after", cursor)]))
            for s in spellings
        ]
        assert all(p == pages[0] for p in pages), (key, pages)
        assert pages[0], key


# ---------------------------------------------------------------- writes between pages


async def walk_with_writes(api: Api, params: Params) -> None:
    """Walk by 2 while creating rows before and after the position, deleting the row the
    cursor stands on and one not reached yet; the rows present at the start that were not
    deleted before being reached come exactly once, in the listing's order."""
    present = await full_listing(api, "/contacts", params)
    created: list[int] = []
    deleted: set[int] = set()
    seen_when_deleting: set[int] = set()

    async def between(number: int, seen: list[int]) -> None:
        if number == 1:
            for name in ["a-new", "m02", "m06", "zz-new", "", "M04"]:
                created.append((await api.create_contact(name=name))["id"])
        if number == 2:
            seen_when_deleting.update(seen)
            for cid in (seen[-1], present[-2]):
                response = await api.delete(f"/contacts/{cid}")
                assert response.status_code == 200, response.text
                deleted.add(cid)
        if number == 3:
            created.append((await api.create_contact(name="m05"))["id"])

    walked = await walk(api, "/contacts", params, page_size=2, between=between)
    assert [i for i, n in Counter(walked).items() if n > 1] == [], params
    expected = [i for i in present if i not in deleted or i in seen_when_deleting]
    assert [i for i in walked if i in present] == expected, params
    assert set(walked) <= set(present) | set(created), params
    for cid in created:
        if cid not in deleted:
            response = await api.delete(f"/contacts/{cid}")
            assert response.status_code == 200, response.text


async def test_rows_created_and_deleted_between_pages(api: Api) -> None:
    names = ["m01", "m02", "m02", "M03", "m04", "m05", "m05", "m06", "m07", "", "m08", "m09"]
    for name in names:
        await api.create_contact(name=name)
    for params in ([("sort", "name")], [("sort", "-name")], []):
        await walk_with_writes(api, params)


async def walk_through_blanks(api: Api, descending: bool) -> None:
    params: Params = [("sort", "-email" if descending else "email")]
    present = await full_listing(api, "/contacts", params)
    created: list[int] = []

    async def between(number: int, seen: list[int]) -> None:
        created.append((await api.create_contact(name=f"blank {number}"))["id"])
        first = "a" if number % 2 else "z"
        email = f"{first}{number}-{int(descending)}@blank.example"
        created.append((await api.create_contact(email=email))["id"])

    walked = await walk(api, "/contacts", params, page_size=2, between=between)
    assert [i for i, n in Counter(walked).items() if n > 1] == [], params
    assert [i for i in walked if i in present] == present, params
    for cid in created:
        response = await api.delete(f"/contacts/{cid}")
        assert response.status_code == 200, response.text


async def test_rows_created_between_pages_in_the_blanks(api: Api) -> None:
    """A walk by email crosses from valued rows into the blank (null) ones; new rows on
    both sides of the cursor change nothing for the rows that were there."""
    for i in range(4):
        await api.create_contact(name=f"v{i}", email=f"v{i}@blank.example")
    for i in range(5):
        await api.create_contact(name=f"b{i}")
    await walk_through_blanks(api, False)
    await walk_through_blanks(api, True)


# ---------------------------------------------------------------- values at the edges


async def test_walk_over_large_timestamps(api: Api) -> None:
    """last_activity_at may be any epoch up to 9999-12-31, beyond 32-bit integers."""
    for value in [253_402_300_799, 4_102_444_800, 3_000_000_000, 2_147_483_648, 1_000, None]:
        await api.create_contact(name=f"t{value}", last_activity_at=value)
    for params in ([("sort", "last_activity_at")], [("sort", "-last_activity_at")]):
        expected = await full_listing(api, "/contacts", params)
        assert await walk(api, "/contacts", params, page_size=1) == expected, params


async def test_walk_over_non_text_attribute_values(api: Api) -> None:
    """additional_attributes is any object; a company, city or country that is a number,
    a boolean or an object still sorts, and the walk still gives the listing's rows."""
    for value in [1.5, 2, 10.25, True, {"a": 1}, ["x"], "text", None]:
        await api.create_contact(
            name=f"c{value}",
            additional_attributes={"company_name": value, "city": value, "country": value},
        )
    failures = []
    for key in ("company", "city", "country"):
        for params in ([("sort", key)], [("sort", f"-{key}")]):
            expected = await full_listing(api, "/contacts", params)
            status = "ok"
            try:
                walked = await walk(api, "/contacts", params, page_size=1)
            except AssertionError as exc:
                status = str(exc)[:300]
                walked = []
            if walked != expected:
                failures.append((params, status))
    assert failures == []


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("path", BOTH_PATHS)
async def test_page_and_after_cannot_be_combined(api: Api, path: str) -> None:
    for i in range(3):
        await api.create_contact(name=f"{MARK} {i}")
    first = await get_ok(api, path, [("q", MARK), ("page_size", "1")])
    cursor = first["meta"]["next_cursor"]
    assert isinstance(cursor, str)
    failures = []
    for params in (
        [("page", "1"), ("after", cursor)],
        [("after", cursor), ("page", "2")],
        [("after", cursor), ("page", "1"), ("sort", "name")],
    ):
        status, body = await get_error(api, path, [("q", MARK), ("page_size", "1"), *params])
        if (status, body) != (422, COMBINE_ERROR):
            failures.append((params, status, body))
    assert failures == []


INVALID_CURSORS = [
    "x",
    "abc",
    "!!!!",
    "not a cursor",
    "eyJ",  # a cut-off base64 object
    base64.b64encode(b"\xff\xfe").decode(),
    encode(None),
    encode({"sort": "created_at"}),
    encode([]),
    encode(["created_at", 1, 5]),
    encode(["created_at", 1, 5, 1, 0]),
    encode(["bogus", 1, 5, 1]),
    encode(["company_name", 0, "a", 1]),
    encode(["-created_at", 1, 5, 1]),
    encode(["created_at", 2, 5, 1]),
    encode(["created_at", 1, 5, 0]),
    encode(["created_at", 1, 5, -3]),
    encode(["created_at", 1, 5, "12"]),
    encode(["created_at", 1, 5, 1.5]),
    encode(["created_at", 1, 5, 2**63]),
    encode(["created_at", 1, 2**70, 1]),
    encode(["created_at", 1, 1.5, 1]),
    encode(["created_at", 1, [1], 1]),
    encode(["created_at", 1, True, 1]),
    encode(["name", 0, "a\u0000b", 1]),
    encode(["name", 0, {"a": 1}, 1]),
]


@pytest.mark.parametrize("path", BOTH_PATHS)
async def test_invalid_cursors(api: Api, path: str) -> None:
    await api.create_contact(name=MARK)
    failures = []
    for cursor in INVALID_CURSORS:
        status, body = await get_error(api, path, [("q", MARK), ("after", cursor)])
        if (status, body) != (422, INVALID_ERROR):
            failures.append((cursor, status, body))
    assert failures == []


@pytest.mark.parametrize("path", BOTH_PATHS)
async def test_cursor_of_another_sort_order(api: Api, path: str) -> None:
    for i in range(4):
        await api.create_contact(name=f"{MARK} {i}", email=f"o{i}@order.example")
    cursors: dict[str, str] = {}
    for label, params in [
        ("name", [("sort", "name")]),
        ("-email", [("sort", "-email")]),
        ("default", []),
    ]:
        body = await get_ok(api, path, [("q", MARK), ("page_size", "1"), *params])
        cursors[label] = body["meta"]["next_cursor"]
    failures = []
    for label, params in [
        ("name", [("sort", "-name")]),
        ("name", [("sort", "name"), ("direction", "desc")]),
        ("name", [("sort", "email")]),
        ("name", []),
        ("name", [("sort", "company")]),
        ("-email", [("sort", "email")]),
        ("-email", [("sort", "-email"), ("direction", "asc")]),
        ("-email", [("sort", "-phone_number")]),
        ("default", [("direction", "asc")]),
        ("default", [("sort", "created_at")]),
        ("default", [("sort", "-last_activity_at")]),
    ]:
        query = [("q", MARK), ("after", cursors[label]), *params]
        status, body = await get_error(api, path, query)
        if (status, body) != (422, ORDER_ERROR):
            failures.append((label, params, status, body))
    assert failures == []


@pytest.mark.parametrize("path", BOTH_PATHS)
async def test_the_other_parameters_are_still_checked(api: Api, path: str) -> None:
    await api.create_contact(name=MARK)
    cursor = encode(["created_at", 1, 1_700_000_000, 1])
    for params, error in [
        ([("page_size", "0")], {"error": "page_size must be between 1 and 100"}),
        ([("direction", "up")], {"error": "direction must be asc or desc"}),
    ]:
        status, body = await get_error(api, path, [("q", MARK), ("after", cursor), *params])
        assert (status, body) == (422, error), params


FORGED_CURSORS = [
    # well formed, but with a value of another type than the sort's; never a 500
    ["name", 0, 5, 1],
    ["company", 1, 123, 1],
    ["created_at", 1, "abc", 1],
    ["last_activity_at", 0, "2024-01-01", 1],
    ["email", 0, 7, 1],
    # values and ids beyond 32 bits
    ["created_at", 1, 9_000_000_000_000_000_000, 1],
    ["created_at", 1, 1_700_000_000, 2**40],
    ["last_activity_at", 0, 4_102_444_800, 2**62],
    ["name", 0, "m", 2**62],
    ["name", 1, None, 2**62],
]


@pytest.mark.parametrize("path", BOTH_PATHS)
async def test_forged_cursors_are_never_a_server_error(api: Api, path: str) -> None:
    for i in range(3):
        await api.create_contact(name=f"{MARK} {i}", email=f"f{i}@forged.example")
    failures = []
    for raw in FORGED_CURSORS:
        sort, descending = raw[0], raw[1]
        params: Params = [("q", MARK), ("sort", f"{'-' if descending else ''}{sort}")]
        try:
            status, body = await get_error(api, path, [*params, ("after", encode(raw))])
        except Exception as exc:  # the app's error, raised through the ASGI transport
            failures.append((raw, 500, f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"))
            continue
        if (status, body) != (422, INVALID_ERROR) and status != 200:
            failures.append((raw, status, str(body)[:200]))
    assert failures == [], "\n".join(map(str, failures))


# ---------------------------------------------------------------- tenancy


async def test_a_cursor_never_shows_another_accounts_rows(
    api: Api, other_api: Api, other_tenant: Tenant, client: httpx.AsyncClient
) -> None:
    mine = [await api.create_contact(name=f"mine {i}") for i in range(6)]
    theirs = [await other_api.create_contact(name=f"theirs {i}") for i in range(6)]
    my_ids = {c["id"] for c in mine}
    their_ids = {c["id"] for c in theirs}
    for params in ([], [("sort", "name")], [("sort", "-name")], [("sort", "email")]):
        first = await get_ok(api, "/contacts", [*params, ("page_size", "2")])
        cursor = first["meta"]["next_cursor"]
        assert isinstance(cursor, str)
        # the other account follows my cursor: only its own rows, its own count
        body = await get_ok(
            other_api, "/contacts", [*params, ("page_size", "100"), ("after", cursor)]
        )
        assert set(ids(body)) <= their_ids, params
        assert body["meta"]["count"] == 6
        # and my cursor walk never strays into their rows
        walked = await walk(api, "/contacts", params, page_size=2)
        assert set(walked) == my_ids, params
        # the other dialect of the other account gets the same answer
        other_dialect = "v1" if other_api.dialect == "v2" else "v2"
        other = admin_api(client, other_dialect, other_tenant)
        again = await get_ok(other, "/contacts", [*params, ("page_size", "100"), ("after", cursor)])
        assert ids(again) == ids(body), params
    # a search cursor too
    first = await get_ok(api, "/contacts/search", [("q", "i"), ("page_size", "1")])
    body = await get_ok(
        other_api,
        "/contacts/search",
        [("q", "i"), ("page_size", "100"), ("after", first["meta"]["next_cursor"])],
    )
    assert set(ids(body)) <= their_ids
    assert not set(ids(body)) & my_ids
