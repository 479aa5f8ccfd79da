"""GET /contacts and GET /contacts/search (contract §2 and §4.1-§4.4), in both dialects.

Most parameter tests run in three scopes: the plain list, `/contacts/search?q=…` and
`/contacts?q=…` (LiveDesk search lives on the list path). In the searching scopes every seeded
contact carries the marker in its identifier and one contact without it is added, so the search
really filters and the parameters are seen to apply to the matches only.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support import (
    CONTACT_KEYS,
    INBOX_KEYS,
    Api,
    Params,
    get_error,
    get_ok,
    ids,
    set_labels,
)

Contact = dict[str, Any]

MARK = "zq9mark"


PAGE_ERROR = {"error": "page must be a positive integer"}
PAGE_SIZE_ERROR = {"error": "page_size must be between 1 and 100"}
SORT_ERROR = {
    "error": "sort must be one of: email, name, phone_number, last_activity_at, created_at, "
    "company, city, country"
}
DIRECTION_ERROR = {"error": "direction must be asc or desc"}
INCLUDE_ERROR = {"error": "include_contact_inboxes must be true or false"}
Q_ERROR = {"error": "Specify search string with parameter q"}


@dataclass(frozen=True)
class Scope:
    name: str
    path: str
    params: tuple[tuple[str, str], ...]

    @property
    def searching(self) -> bool:
        return bool(self.params)


SCOPES = (
    Scope("list", "/contacts", ()),
    Scope("search", "/contacts/search", (("q", MARK),)),
    Scope("list_q", "/contacts", (("q", f"  {MARK.upper()} "),)),
)
BOTH_PATHS = ("/contacts", "/contacts/search")


@pytest.fixture(params=SCOPES, ids=[s.name for s in SCOPES])
def scope(request: pytest.FixtureRequest) -> Scope:
    value: Scope = request.param
    return value


# ---------------------------------------------------------------- helpers


async def fetch(api: Api, scope: Scope, params: Sequence[tuple[str, str]] = ()) -> dict[str, Any]:
    return await get_ok(api, scope.path, [*scope.params, *params])


async def seed(api: Api, scope: Scope, specs: Sequence[dict[str, Any]]) -> list[Contact]:
    """Create the contacts (in this order); in a searching scope they carry the marker and a
    contact without it is created first, so it must never show up."""
    if scope.searching:
        await api.create_contact(name="Outsider", email="outsider@example.org")
    created = []
    for spec in specs:
        fields = dict(spec)
        if scope.searching:
            fields.setdefault("identifier", f"{MARK}-{uuid.uuid4().hex[:8]}")
        created.append(await api.create_contact(**fields))
    return created


async def collect_pages(api: Api, scope: Scope, params: Params, page_size: int) -> list[int]:
    """Walk every page and return the ids in order."""
    seen: list[int] = []
    page = 1
    while True:
        body = await fetch(
            api, scope, [*params, ("page", str(page)), ("page_size", str(page_size))]
        )
        if not body["payload"]:
            return seen
        assert len(body["payload"]) <= page_size
        seen.extend(ids(body))
        page += 1
        assert page < 100, "paging never ends"


def numbered(count: int, prefix: str = "person") -> list[dict[str, Any]]:
    return [{"name": f"{prefix} {i:02d}"} for i in range(count)]


def newest_first(contacts: Sequence[Contact]) -> list[int]:
    ordered = sorted(contacts, key=lambda c: (c["created_at"], c["id"]), reverse=True)
    return [c["id"] for c in ordered]


# ---------------------------------------------------------------- page / page_size (§4.1, §4.2)


async def test_default_page_and_page_size(api: Api, scope: Scope) -> None:
    contacts = await seed(api, scope, numbered(17))
    expected = newest_first(contacts)

    body = await fetch(api, scope)
    assert body["meta"]["count"] == 17
    current = body["meta"]["current_page"]
    assert current == 1
    assert type(current) is int
    assert ids(body) == expected[:15]

    first = await fetch(api, scope, [("page", "1")])
    assert first["meta"] == {**first["meta"], "count": 17, "current_page": "1"}
    assert ids(first) == expected[:15]

    second = await fetch(api, scope, [("page", "2")])
    assert second["meta"]["count"] == 17
    assert second["meta"]["current_page"] == "2"
    assert ids(second) == expected[15:]


async def test_page_past_the_end_is_empty_with_the_same_count(api: Api, scope: Scope) -> None:
    await seed(api, scope, numbered(3))
    for page in ["3", "1000", "99999999999999999999999999"]:
        body = await fetch(api, scope, [("page", page), ("page_size", "2")])
        assert body["payload"] == [], page
        assert body["meta"]["count"] == 3, page
        assert body["meta"]["current_page"] == page


@pytest.mark.parametrize("path", BOTH_PATHS)
async def test_page_must_be_a_positive_integer(api: Api, path: str) -> None:
    await api.create_contact(name="Someone", identifier=MARK)
    failures: list[tuple[Any, ...]] = []
    for value in ["abc", "0", "-1", "-0", "1.5", "", "1e2", "one"]:
        status, body = await get_error(api, path, [("q", MARK), ("page", value)])
        if (status, body) != (422, PAGE_ERROR):
            failures.append((value, status, body))
    assert failures == []


async def test_repeated_page_last_one_counts(api: Api, scope: Scope) -> None:
    contacts = await seed(api, scope, numbered(3))
    expected = newest_first(contacts)

    body = await fetch(api, scope, [("page", "1"), ("page", "2"), ("page_size", "2")])
    assert ids(body) == expected[2:]
    assert body["meta"] == {**body["meta"], "count": 3, "current_page": "2"}

    body = await fetch(api, scope, [("page", "abc"), ("page", "1"), ("page_size", "2")])
    assert ids(body) == expected[:2]
    assert body["meta"]["current_page"] == "1"

    status, error = await get_error(
        api, scope.path, [*scope.params, ("page", "1"), ("page", "abc")]
    )
    assert (status, error) == (422, PAGE_ERROR)


async def test_page_size(api: Api, scope: Scope) -> None:
    contacts = await seed(api, scope, numbered(17))
    expected = newest_first(contacts)

    body = await fetch(api, scope, [("page_size", "100")])
    assert ids(body) == expected
    assert body["meta"]["count"] == 17

    body = await fetch(api, scope, [("page_size", "1")])
    assert ids(body) == expected[:1]
    assert body["meta"]["count"] == 17

    body = await fetch(api, scope, [("page_size", "5"), ("page", "4")])
    assert ids(body) == expected[15:]
    assert body["meta"] == {**body["meta"], "count": 17, "current_page": "4"}


@pytest.mark.parametrize("path", BOTH_PATHS)
async def test_page_size_out_of_range(api: Api, path: str) -> None:
    await api.create_contact(name="Someone", identifier=MARK)
    failures: list[tuple[Any, ...]] = []
    for value in ["0", "101", "1000", "-1", "abc", "", "1.5", "99999999999999999999999"]:
        status, body = await get_error(api, path, [("q", MARK), ("page_size", value)])
        if (status, body) != (422, PAGE_SIZE_ERROR):
            failures.append((value, status, body))
    assert failures == []


# ---------------------------------------------------------------- sort / direction (§4.1)

SORT_SPECS: list[dict[str, Any]] = [
    {
        "name": "bravo",
        "email": "bravo@example.com",
        "phone_number": "+15550000002",
        "last_activity_at": 1_700_000_200,
        "additional_attributes": {"company_name": "Zeta", "city": "athens", "country": "chile"},
    },
    {
        "name": "Alpha",
        "email": "Alpha@Example.com",
        "phone_number": "+15550000003",
        "last_activity_at": 1_700_000_100,
        "additional_attributes": {"company_name": "alpha inc", "city": ""},
    },
    {"name": "charlie"},
    {"name": "", "additional_attributes": {"company_name": "", "city": "", "country": ""}},
    {
        "name": "Bravo",
        "email": "carol@example.com",
        "phone_number": "+15550000001",
        "last_activity_at": 1_700_000_300,
        "additional_attributes": {"company_name": "ZETA", "city": "Athens", "country": "CHILE"},
    },
    {
        "name": "delta",
        "email": "",
        "last_activity_at": 1_700_000_100,
        "additional_attributes": {"company_name": "", "city": "Berlin", "country": "Austria"},
    },
]
ATTRIBUTE_OF = {"company": "company_name", "company_name": "company_name"}
ATTRIBUTE_OF |= {"city": "city", "country": "country"}
SORT_KEYS = [
    "email",
    "name",
    "phone_number",
    "last_activity_at",
    "created_at",
    "company",
    "company_name",
    "city",
    "country",
]
# (params, descending): the `-` prefix, `direction`, and `direction` overriding the prefix.
SORT_FORMS: list[tuple[str, str | None, bool]] = [
    ("{key}", None, False),
    ("-{key}", None, True),
    ("{key}", "asc", False),
    ("{key}", "desc", True),
    ("-{key}", "asc", False),
    ("-{key}", "desc", True),
]


def sort_value(contact: Contact, key: str) -> Any:
    if key in ATTRIBUTE_OF:
        value = contact["additional_attributes"].get(ATTRIBUTE_OF[key])
    else:
        value = contact[key]
    if value is None or value == "":
        return None
    return value.lower() if isinstance(value, str) else value


def expected_order(contacts: Sequence[Contact], key: str, descending: bool) -> list[int]:
    """Non-blank values in the direction, case-insensitively; blanks last; id breaks ties."""
    filled = [c for c in contacts if sort_value(c, key) is not None]
    blank = [c for c in contacts if sort_value(c, key) is None]
    filled.sort(key=lambda c: (sort_value(c, key), c["id"]), reverse=descending)
    blank.sort(key=lambda c: c["id"], reverse=descending)
    return [c["id"] for c in filled + blank]


async def test_sort_orders_blanks_last_and_pages_cleanly(api: Api, scope: Scope) -> None:
    contacts = await seed(api, scope, SORT_SPECS)
    failures: list[tuple[Any, ...]] = []
    for key in SORT_KEYS:
        if key != "created_at":
            # the data must exercise the rule: some contacts have a blank value
            assert any(sort_value(c, key) is None for c in contacts), key
        for sort_form, direction, descending in SORT_FORMS:
            params: Params = [("sort", sort_form.format(key=key))]
            if direction is not None:
                params.append(("direction", direction))
            expected = expected_order(contacts, key, descending)
            body = await fetch(api, scope, params)
            if ids(body) != expected or body["meta"]["count"] != len(contacts):
                failures.append((params, "full", ids(body), expected))
            if direction is None:
                paged = await collect_pages(api, scope, params, page_size=2)
                if paged != expected:
                    failures.append((params, "page_size=2", paged, expected))
    assert failures == []


async def test_company_name_is_an_alias_of_company(api: Api) -> None:
    await seed(api, SCOPES[0], SORT_SPECS)
    for prefix in ("", "-"):
        company = await get_ok(api, "/contacts", [("sort", f"{prefix}company")])
        alias = await get_ok(api, "/contacts", [("sort", f"{prefix}company_name")])
        assert ids(alias) == ids(company)


@pytest.mark.parametrize(
    ("key", "blank_spec"),
    [
        ("name", {"name": ""}),
        ("company", {"additional_attributes": {"company_name": ""}}),
        ("city", {"additional_attributes": {"city": None}}),
        ("country", {"additional_attributes": {}}),
        ("email", {"email": None}),
        ("phone_number", {"phone_number": ""}),
        ("last_activity_at", {"last_activity_at": None}),
    ],
)
async def test_blank_values_sort_last_in_both_directions(
    api: Api, key: str, blank_spec: dict[str, Any]
) -> None:
    attribute = ATTRIBUTE_OF.get(key)
    values: list[Any] = (
        [1_700_000_001, 1_700_000_002] if key == "last_activity_at" else ["aaa", "zzz"]
    )
    if key == "email":
        values = ["aaa@example.com", "zzz@example.com"]
    if key == "phone_number":
        values = ["+15550000001", "+15550000009"]
    blank = await api.create_contact(name="blank", **blank_spec) if key != "name" else None
    filled = []
    for value in values:
        spec: dict[str, Any] = {"name": "x"}
        if attribute:
            spec["additional_attributes"] = {attribute: value}
        else:
            spec[key] = value
        filled.append(await api.create_contact(**spec))
    if blank is None:
        blank = await api.create_contact(**blank_spec)
    asc = await get_ok(api, "/contacts", [("sort", key)])
    desc = await get_ok(api, "/contacts", [("sort", f"-{key}")])
    assert ids(asc) == [filled[0]["id"], filled[1]["id"], blank["id"]]
    assert ids(desc) == [filled[1]["id"], filled[0]["id"], blank["id"]]


@pytest.mark.parametrize("key", ["name", "company", "city", "country"])
async def test_text_sort_is_case_insensitive(api: Api, key: str) -> None:
    """Upper case first would be the byte order; case-insensitively b < C < d."""
    attribute = ATTRIBUTE_OF.get(key)
    created = []
    for value in ["d", "b", "C"]:
        spec: dict[str, Any] = {"name": value}
        if attribute:
            spec["additional_attributes"] = {attribute: value}
        created.append(await api.create_contact(**spec))
    d, b, c = (x["id"] for x in created)
    asc = await get_ok(api, "/contacts", [("sort", key)])
    assert ids(asc) == [b, c, d]
    desc = await get_ok(api, "/contacts", [("sort", key), ("direction", "desc")])
    assert ids(desc) == [d, c, b]


async def test_text_sort_is_case_insensitive_beyond_ascii(api: Api) -> None:
    """`émile` and `ÉMILE` are equal ignoring case, so only the id orders them."""
    lower = await api.create_contact(name="émile")
    upper = await api.create_contact(name="ÉMILE")
    asc = await get_ok(api, "/contacts", [("sort", "name")])
    assert ids(asc) == [lower["id"], upper["id"]]
    desc = await get_ok(api, "/contacts", [("sort", "-name")])
    assert ids(desc) == [upper["id"], lower["id"]]


async def test_ties_break_on_id_in_the_sort_direction(api: Api, scope: Scope) -> None:
    contacts = await seed(api, scope, [{"name": "Same", "last_activity_at": 5} for _ in range(5)])
    ascending = sorted(c["id"] for c in contacts)
    for params, expected in [
        ([("sort", "name")], ascending),
        ([("sort", "-name")], ascending[::-1]),
        ([("sort", "last_activity_at"), ("direction", "asc")], ascending),
        ([("sort", "last_activity_at"), ("direction", "desc")], ascending[::-1]),
    ]:
        assert await collect_pages(api, scope, params, page_size=2) == expected, params


async def test_default_order_is_newest_first_and_direction_applies(api: Api, scope: Scope) -> None:
    contacts = await seed(api, scope, numbered(5))
    expected = newest_first(contacts)
    assert ids(await fetch(api, scope)) == expected
    assert await collect_pages(api, scope, [], page_size=2) == expected
    assert ids(await fetch(api, scope, [("direction", "desc")])) == expected
    assert ids(await fetch(api, scope, [("direction", "asc")])) == expected[::-1]
    assert await collect_pages(api, scope, [("direction", "asc")], page_size=2) == expected[::-1]


@pytest.mark.parametrize("path", BOTH_PATHS)
async def test_unknown_sort_key(api: Api, path: str) -> None:
    await api.create_contact(name="Someone", identifier=MARK)
    failures: list[tuple[Any, ...]] = []
    for value in ["bogus", "-bogus", "id", "identifier", "--name", "name desc", "company_nam"]:
        status, body = await get_error(api, path, [("q", MARK), ("sort", value)])
        if (status, body) != (422, SORT_ERROR):
            failures.append((value, status, body))
    assert failures == []


@pytest.mark.parametrize("path", BOTH_PATHS)
async def test_invalid_direction(api: Api, path: str) -> None:
    await api.create_contact(name="Someone", identifier=MARK)
    failures: list[tuple[Any, ...]] = []
    for extra in ([], [("sort", "name")]):
        for value in ["up", "ascending", "descending", "", "-1", "1"]:
            params = [("q", MARK), *extra, ("direction", value)]
            status, body = await get_error(api, path, params)
            if (status, body) != (422, DIRECTION_ERROR):
                failures.append((params, status, body))
    assert failures == []


# ---------------------------------------------------------------- labels (§4.1)


LABEL_CASES: list[tuple[Params, str]] = [
    ([("labels", "vip")], "PR"),
    ([("labels", "VIP")], "PR"),
    ([("labels", "über")], "U"),
    ([("labels", "ÜBER")], "U"),
    ([("labels[]", "vip"), ("labels[]", "Lead")], "PQR"),
    ([("labels[]", "lead")], "QR"),
    ([("labels", "vip,lead")], "PQR"),
    ([("labels", "Lead,nope")], "QR"),
    ([("labels", "nope")], ""),
]


async def test_labels_filter_any_of(api: Api, scope: Scope) -> None:
    names = "PQRSU"
    contacts = dict(zip(names, await seed(api, scope, [{"name": n} for n in names]), strict=True))
    await set_labels(api, contacts["P"]["id"], ["VIP"])
    await set_labels(api, contacts["Q"]["id"], ["lead"])
    await set_labels(api, contacts["R"]["id"], ["vip", "lead", "other"])
    await set_labels(api, contacts["S"]["id"], ["other"])
    await set_labels(api, contacts["U"]["id"], ["Über"])
    failures: list[tuple[Any, ...]] = []
    for params, expected in LABEL_CASES:
        wanted = newest_first([contacts[n] for n in expected])
        body = await fetch(api, scope, params)
        if (ids(body), body["meta"]["count"]) != (wanted, len(wanted)):
            failures.append((params, ids(body), body["meta"]["count"], wanted))
        if not wanted:
            continue
        first = await fetch(api, scope, [*params, ("page_size", "1")])
        if (ids(first), first["meta"]["count"]) != (wanted[:1], len(wanted)):
            failures.append((params, "page_size=1", ids(first), first["meta"]["count"]))
        paged = await collect_pages(api, scope, [*params, ("sort", "-name")], page_size=1)
        by_name = [contacts[n]["id"] for n in sorted(expected, reverse=True)]
        if paged != by_name:
            failures.append((params, "paged by -name", paged, by_name))
    assert failures == []


# ---------------------------------------------------------------- include_contact_inboxes


def check_contact_inboxes(contact: Contact, inbox_id: int) -> None:
    entries = contact["contact_inboxes"]
    assert isinstance(entries, list)
    assert len(entries) == 1, entries
    entry = entries[0]
    assert isinstance(entry["source_id"], str)
    assert entry["source_id"]
    inbox = entry["inbox"]
    assert set(inbox) == INBOX_KEYS
    assert inbox["id"] == inbox_id
    assert inbox["avatar_url"] == ""
    assert inbox["provider"] is None
    assert inbox["channel_type"] == "Channel::Api"
    assert isinstance(inbox["name"], str)


async def test_include_contact_inboxes(api: Api, scope: Scope) -> None:
    contacts = await seed(api, scope, numbered(2))
    for value in [None, "true", "TRUE", "True", "1", "false", "FALSE", "False", "0"]:
        params: Params = [] if value is None else [("include_contact_inboxes", value)]
        body = await fetch(api, scope, params)
        assert ids(body) == newest_first(contacts)
        include = value is None or value.lower() in ("true", "1")
        for contact in body["payload"]:
            assert set(contact) >= CONTACT_KEYS
            if include:
                check_contact_inboxes(contact, api.tenant.inbox_id)
            else:
                assert "contact_inboxes" not in contact, value


@pytest.mark.parametrize("path", BOTH_PATHS)
async def test_include_contact_inboxes_invalid(api: Api, path: str) -> None:
    await api.create_contact(name="Someone", identifier=MARK)
    failures: list[tuple[Any, ...]] = []
    for value in ["", "yes", "no", "2", "-1", "tru", "null", "on"]:
        params = [("q", MARK), ("include_contact_inboxes", value)]
        status, body = await get_error(api, path, params)
        if (status, body) != (422, INCLUDE_ERROR):
            failures.append((value, status, body))
    assert failures == []


# ---------------------------------------------------------------- the contact object (§2, §4.3)


async def test_every_listed_contact_has_every_key(api: Api, scope: Scope) -> None:
    full, bare = await seed(
        api,
        scope,
        [
            {
                "name": "Full Person",
                "email": "full@example.com",
                "phone_number": "+14155550100",
                "last_activity_at": 1_700_000_000,
                "additional_attributes": {"company_name": "Acme", "city": "Paris"},
                "custom_attributes": {"tier": "gold"},
                "blocked": True,
            },
            {},
        ],
    )
    body = await fetch(api, scope)
    listed = {c["id"]: c for c in body["payload"]}
    assert set(listed) == {full["id"], bare["id"]}
    for contact in listed.values():
        assert set(contact) >= CONTACT_KEYS | {"contact_inboxes"}, set(contact) ^ CONTACT_KEYS
        assert isinstance(contact["id"], int)
        assert isinstance(contact["created_at"], int)
        assert isinstance(contact["blocked"], bool)
        assert isinstance(contact["additional_attributes"], dict)
        assert isinstance(contact["custom_attributes"], dict)
        assert isinstance(contact["thumbnail"], str)
        assert contact["availability_status"] in ("online", "offline")
        check_contact_inboxes(contact, api.tenant.inbox_id)

    got = listed[full["id"]]
    assert got["last_activity_at"] == 1_700_000_000
    assert got["blocked"] is True
    assert got["email"] == "full@example.com"
    assert got["phone_number"] == "+14155550100"
    assert got["additional_attributes"] == {"company_name": "Acme", "city": "Paris"}
    assert got["custom_attributes"] == {"tier": "gold"}

    got = listed[bare["id"]]
    assert got["last_activity_at"] is None
    assert got["name"] == ""
    assert got["first_name"] == ""
    assert got["last_name"] == ""
    assert got["email"] is None
    assert got["phone_number"] is None
    assert got["blocked"] is False
    assert got["thumbnail"] == ""
    assert got["availability_status"] == "offline"
    assert got["custom_attributes"] == {}
    if not scope.searching:
        assert got["identifier"] is None
        assert got["additional_attributes"] == {}


async def test_contacts_with_only_a_name_are_listed(api: Api) -> None:
    only_name = await api.create_contact(name="Only A Name")
    with_email = await api.create_contact(name="Has Email", email="has@example.com")
    nothing = await api.create_contact()
    body = await get_ok(api, "/contacts", [])
    assert body["meta"]["count"] == 3
    assert set(ids(body)) == {only_name["id"], with_email["id"], nothing["id"]}
    found = await get_ok(api, "/contacts/search", [("q", "only a")])
    assert ids(found) == [only_name["id"]]


async def test_count_is_exact(api: Api) -> None:
    contacts = [await api.create_contact(name=f"n{i}") for i in range(23)]
    body = await get_ok(api, "/contacts", [("page_size", "10"), ("page", "3")])
    assert body["meta"]["count"] == 23
    assert ids(body) == newest_first(contacts)[20:]


# ---------------------------------------------------------------- search (§4.4)

SEARCH_SPECS: dict[str, dict[str, Any]] = {
    "name": {"name": "Jonathan Harker"},
    "email": {"name": "M", "email": "Mina.Murray@Whitby.example"},
    "phone": {"name": "P", "phone_number": "+447700900123"},
    "identifier": {"name": "I", "identifier": "CRM-Renfield-Xy"},
    "company": {"name": "C", "additional_attributes": {"company_name": "Carfax Abbey Ltd"}},
    "noise": {"name": "Lucy", "email": "lucy@example.org", "additional_attributes": {"city": "A"}},
}


SEARCH_CASES: list[tuple[str, set[str]]] = [
    ("HARKER", {"name"}),
    ("than har", {"name"}),
    ("murray@WHIT", {"email"}),
    ("MINA.MURRAY@WHITBY.EXAMPLE", {"email"}),
    ("7700900", {"phone"}),
    ("+4477", {"phone"}),
    ("renfield", {"identifier"}),
    ("crm-RENFIELD-xy", {"identifier"}),
    ("abbey LTD", {"company"}),
    ("CARFAX", {"company"}),
    ("   harker  ", {"name"}),
    ("\tHarker\n", {"name"}),
    ("example", {"email", "noise"}),
    ("zzzz-nothing", set()),
]


@pytest.mark.parametrize("path", BOTH_PATHS)
async def test_search_fields(api: Api, path: str) -> None:
    created = {key: await api.create_contact(**spec) for key, spec in SEARCH_SPECS.items()}
    failures: list[tuple[Any, ...]] = []
    for q, expected in SEARCH_CASES:
        body = await get_ok(api, path, [("q", q)])
        wanted = newest_first([created[k] for k in expected])
        if (ids(body), body["meta"]["count"]) != (wanted, len(wanted)):
            failures.append((q, ids(body), body["meta"]["count"], wanted))
    assert failures == []


@pytest.mark.parametrize("path", BOTH_PATHS)
async def test_search_is_case_insensitive_beyond_ascii(api: Api, path: str) -> None:
    emile = await api.create_contact(name="Émile Zola")
    await api.create_contact(name="Emile Other")
    for q in ["émile", "ÉMILE", "ÉmIlE zOLA"]:
        body = await get_ok(api, path, [("q", q)])
        assert ids(body) == [emile["id"]], q


@pytest.mark.parametrize("path", BOTH_PATHS)
async def test_search_wildcards_match_literally(api: Api, path: str) -> None:
    created = {
        "percent": await api.create_contact(name="100% Cotton"),
        "underscore": await api.create_contact(name="snake_case"),
        "lookalike": await api.create_contact(name="snakeXcase 100 Cotton"),
        "plain": await api.create_contact(name="Plain"),
    }
    failures: list[tuple[Any, ...]] = []
    for q, expected in [
        ("%", {"percent"}),
        ("_", {"underscore"}),
        ("%%", set()),
        ("e_c", {"underscore"}),
        ("0%", {"percent"}),
        ("100%", {"percent"}),
        ("0 c", {"lookalike"}),
    ]:
        body = await get_ok(api, path, [("q", q)])
        wanted = newest_first([created[k] for k in expected])
        if (ids(body), body["meta"]["count"]) != (wanted, len(wanted)):
            failures.append((q, ids(body), body["meta"]["count"], wanted))
    assert failures == []


@pytest.mark.parametrize("path", BOTH_PATHS)
async def test_search_digits_match_the_id(api: Api, other_api: Api, path: str) -> None:
    first = await api.create_contact(name="Alpha")
    second = await api.create_contact(name="Bravo")
    body = await get_ok(api, path, [("q", str(second["id"]))])
    assert ids(body) == [second["id"]]
    assert body["meta"]["count"] == 1
    body = await get_ok(api, path, [("q", f" {first['id']} ")])
    assert ids(body) == [first["id"]]

    # exact id only, not a substring of it
    body = await get_ok(api, path, [("q", f"{second['id']}9")])
    assert body == {**body, "payload": []}
    assert body["meta"]["count"] == 0

    # another account's id is not found
    foreign = await other_api.create_contact(name="Foreign")
    body = await get_ok(api, path, [("q", str(foreign["id"]))])
    assert body["payload"] == []
    assert body["meta"]["count"] == 0

    # a digit string beyond 64 bits is just a search that finds nothing
    body = await get_ok(api, path, [("q", "99999999999999999999999999")])
    assert body["payload"] == []
    assert body["meta"]["count"] == 0


async def test_search_digits_match_id_and_phone(api: Api) -> None:
    target = await api.create_contact(name="Target")
    phone = await api.create_contact(name="Phone", phone_number=f"+1555{target['id']}")
    body = await get_ok(api, "/contacts/search", [("q", str(target["id"]))])
    assert ids(body) == [phone["id"], target["id"]]
    assert body["meta"]["count"] == 2


@pytest.mark.parametrize("q", [None, "", "   ", "\t"])
async def test_search_requires_q(api: Api, q: str | None) -> None:
    await api.create_contact(name="Someone")
    params: Params = [] if q is None else [("q", q)]
    status, body = await get_error(api, "/contacts/search", params)
    assert (status, body) == (422, Q_ERROR)


@pytest.mark.parametrize("q", ["", "   "])
async def test_blank_q_on_contacts_means_no_search(api: Api, q: str) -> None:
    contacts = [await api.create_contact(name=n) for n in ("Alpha", "Bravo", "Charlie")]
    body = await get_ok(api, "/contacts", [("q", q)])
    assert ids(body) == newest_first(contacts)
    assert body["meta"]["count"] == 3


async def test_q_on_contacts_searches(api: Api) -> None:
    alpha = await api.create_contact(name="Alpha")
    await api.create_contact(name="Bravo")
    body = await get_ok(api, "/contacts", [("q", " ALPH ")])
    assert ids(body) == [alpha["id"]]
    assert body["meta"] == {**body["meta"], "count": 1, "current_page": 1}


@pytest.mark.parametrize("path", BOTH_PATHS)
async def test_search_count_is_the_total_of_matches(api: Api, path: str) -> None:
    matches = [await api.create_contact(name=f"Match {i}") for i in range(7)]
    for i in range(4):
        await api.create_contact(name=f"Other {i}")
    body = await get_ok(api, path, [("q", "match"), ("page_size", "3"), ("page", "3")])
    assert body["meta"]["count"] == 7
    assert body["meta"]["current_page"] == "3"
    assert ids(body) == newest_first(matches)[6:]


# ---------------------------------------------------------------- tenancy (§1.1)


async def test_lists_never_include_another_accounts_contacts(api: Api, other_api: Api) -> None:
    mine = [await api.create_contact(name=f"Shared Name {i}") for i in range(2)]
    await set_labels(api, mine[0]["id"], ["vip"])
    for i in range(3):
        theirs = await other_api.create_contact(name=f"Shared Name x{i}", identifier=f"sh-{i}")
        await set_labels(other_api, theirs["id"], ["vip"])

    mine_ids = newest_first(mine)
    for path, params in [
        ("/contacts", []),
        ("/contacts", [("page_size", "100")]),
        ("/contacts", [("q", "shared")]),
        ("/contacts/search", [("q", "shared name")]),
        ("/contacts", [("sort", "name")]),
    ]:
        body = await get_ok(api, path, params)
        assert sorted(ids(body)) == sorted(mine_ids), (path, params)
        assert body["meta"]["count"] == 2, (path, params)

    for path in BOTH_PATHS:
        body = await get_ok(api, path, [("q", "sh-"), ("page", "1")])
        assert body["payload"] == []
        assert body["meta"]["count"] == 0
        body = await get_ok(api, path, [("q", "shared"), ("labels", "vip")])
        assert ids(body) == [mine[0]["id"]]
        assert body["meta"]["count"] == 1

    theirs_body = await get_ok(other_api, "/contacts", [])
    assert theirs_body["meta"]["count"] == 3
    assert not set(ids(theirs_body)) & set(mine_ids)
