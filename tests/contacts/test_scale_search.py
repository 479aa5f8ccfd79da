"""Search (contract §4.4) against a reference implementation, in both dialects.

Short terms (1-2 characters) and terms with a run of 3+ letters or digits take different
query plans (on PostgreSQL the latter is narrowed by a pg_trgm index first); both must select
exactly the rows of the plain definition: a case-insensitive substring of name, email,
phone_number, identifier or additional_attributes.company_name, with `%` and `_` literal, and a
q made only of digits also matching the contact with that id.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson
import pytest
from starlette.datastructures import QueryParams

from contactdesk.contacts.list_params import parse_list_query
from contactdesk.contacts.queries import list_contacts
from contactdesk.driver import AsyncpgReader
from tests.support import Api

Contact = dict[str, Any]
Params = list[tuple[str, str]]

SPECS: list[dict[str, Any]] = [
    {"name": "Ünal Y\u0131lmaz", "email": "unal@example.com", "phone_number": "+905321234567"},
    {"name": "ÉLODIE Durand", "email": "e.durand@exemple.fr", "identifier": "EL-42"},
    {"name": "élodie martin", "additional_attributes": {"company_name": "Élan Vital GmbH"}},
    {"name": "100% Pure", "email": "pure+tag@ex-ample.co.uk"},
    {"name": "snake_case_name", "identifier": "ID_007"},
    {"name": "50%_off", "additional_attributes": {"company_name": "%Percent Inc"}},
    {"name": "O'Brien", "email": "o'brien@example.com", "phone_number": "+353861234567"},
    {"name": "a.b", "email": "a.b@a.b.io"},
    {
        "name": "ab",
        "email": "ab@ab.io",
        "additional_attributes": {"company_name": "A.B Consulting"},
    },
    {"name": "Data Corp", "additional_attributes": {"company_name": "Data_Corp"}},
    {"name": "datacorp fan", "identifier": "datacorp"},
    {"name": "Юлия Петрова", "email": "julia@пример.рф", "identifier": "Юлия-1"},
    {"name": "", "email": "noname@example.org"},
    {"name": "", "phone_number": "+15550001234"},
    {"name": "   ", "identifier": "   spaced   "},
    {"name": "MiXeD CaSe", "email": "MiXeD@CaSe.Example", "identifier": "MiXeD-ID"},
    {"name": "back\\slash", "identifier": "c:\\path\\to"},
    {"name": "Zoë", "additional_attributes": {"company_name": "ZOË & Co.", "city": "Zürich"}},
    {"name": "Mr. Ünal", "additional_attributes": {"company_name": "Ünal & Sons", "city": 42}},
    {"name": "at @home", "additional_attributes": {"city": "ab city", "country": "a.b"}},
    {"name": "tab\tname", "identifier": "x_y%z"},
    {"name": "Nobody", "custom_attributes": {"note": "ab example"}},
    {"name": "digits 1234", "phone_number": "+4412345678"},
    {"name": "under__score"},
]

TERMS = [
    # one character
    "a",
    "A",
    "é",
    "É",
    "ü",
    "Ü",
    "_",
    "%",
    ".",
    "@",
    "+",
    "'",
    "-",
    "\\",
    "1",
    "5",
    "ю",
    "z",
    # two characters
    "ab",
    "AB",
    "a.",
    ".b",
    "@e",
    "__",
    "%_",
    "_%",
    "ün",
    "ÉL",
    "el",
    "00",
    "12",
    "o'",
    "d%",
    "e_",
    "\\s",
    # three or more
    "a.b",
    "A.B",
    "@ex",
    "example",
    "EXAMPLE.COM",
    "élodie",
    "ELODIE",
    "ünal",
    "ÜNAL",
    "unal",
    "snake_case",
    "snake%case",
    "e_c",
    "100%",
    "50%_",
    "%_o",
    "gmbh",
    "élan vital",
    "+4412",
    "+90532",
    "1234",
    "555000",
    "o'brien",
    "data_corp",
    "datacorp",
    "data corp",
    "id_007",
    "юлия",
    "ЮЛИЯ",
    "пример",
    "mixed",
    "MIXED@CASE",
    "spaced",
    "back\\slash",
    "c:\\path",
    "zoë & co.",
    "zürich",
    "42",
    "ab city",
    "ab example",
    "x_y%z",
    "under__score",
    "der__",
    "nothing-here",
    "ex-ample.co",
    "pure+tag",
]


def matches(contact: Contact, q: str) -> bool:
    """The contract's definition, computed over the contact as the API returned it."""
    term = q.strip().lower()
    company = contact["additional_attributes"].get("company_name")
    fields = [
        contact["name"],
        contact["email"],
        contact["phone_number"],
        contact["identifier"],
        company if isinstance(company, str) else None,
    ]
    if any(term in value.lower() for value in fields if value):
        return True
    return term.isascii() and term.isdigit() and int(term) == contact["id"]


def newest_first(contacts: Sequence[Contact]) -> list[int]:
    ordered = sorted(contacts, key=lambda c: (c["created_at"], c["id"]), reverse=True)
    return [c["id"] for c in ordered]


async def searched(api: Api, path: str, q: str) -> tuple[list[int], int]:
    response = await api.get(path, params=[("q", q), ("page_size", "100")])
    assert response.status_code == 200, (path, q, response.text)
    body = response.json()
    assert body["meta"]["next_cursor"] is None
    return [c["id"] for c in body["payload"]], body["meta"]["count"]


@pytest.fixture
async def contacts(api: Api) -> list[Contact]:
    created = [await api.create_contact(**spec) for spec in SPECS]
    listed = await api.get("/contacts", params={"page_size": "100"})
    assert listed.status_code == 200
    assert {c["id"] for c in listed.json()["payload"]} == {c["id"] for c in created}
    return created


@pytest.mark.parametrize("path", ["/contacts/search", "/contacts"])
async def test_search_matches_the_reference(api: Api, contacts: list[Contact], path: str) -> None:
    ids_of = [str(c["id"]) for c in contacts]
    terms = [*TERMS, ids_of[0], ids_of[-1], f" {ids_of[3]} ", ids_of[5][:1], ids_of[7][-2:]]
    failures: list[tuple[Any, ...]] = []
    for q in terms:
        expected = newest_first([c for c in contacts if matches(c, q)])
        got, count = await searched(api, path, q)
        if got != expected or count != len(expected):
            failures.append((q, sorted(set(got) ^ set(expected)), count, len(expected)))
    assert failures == [], "\n".join(map(str, failures))


async def test_reference_terms_are_selective(api: Api, contacts: list[Contact]) -> None:
    """The data set really tells the cases apart: most terms match some contacts but not all."""
    sizes = [sum(matches(c, q) for c in contacts) for q in TERMS]
    assert all(n < len(contacts) for n in sizes)
    assert sum(n > 0 for n in sizes) >= 0.8 * len(TERMS)
    for q, members in [
        ("_", {"snake_case_name", "50%_off", "Data Corp", "tab\tname", "under__score"}),
        ("%", {"100% Pure", "50%_off", "tab\tname"}),
        ("__", {"under__score"}),
        ("e_c", {"snake_case_name"}),
        ("a.b", {"a.b", "ab"}),
        ("ünal", {"Ünal Y\u0131lmaz", "Mr. Ünal"}),
        ("ab example", set()),
    ]:
        assert {c["name"] for c in contacts if matches(c, q)} == members, q


@pytest.mark.parametrize("q", ["a", "e", "ab", "exa", "ÉLO"])
async def test_search_walk_and_labels(api: Api, contacts: list[Contact], q: str) -> None:
    """The same rows when walked by cursor in small pages, sorted, or narrowed by a label."""
    labelled = contacts[::3]
    for contact in labelled:
        response = await api.post(f"/contacts/{contact['id']}/labels", json={"labels": ["pick"]})
        assert response.status_code == 200
    expected = {c["id"] for c in contacts if matches(c, q)}
    for params in ([("sort", "name")], [("sort", "-email")], [("labels", "pick")]):
        seen: list[int] = []
        cursor = None
        while True:
            query: Params = [("q", q), *params, ("page_size", "2")]
            if cursor:
                query.append(("after", cursor))
            response = await api.get("/contacts/search", params=query)
            assert response.status_code == 200, response.text
            body = response.json()
            seen += [c["id"] for c in body["payload"]]
            cursor = body["meta"]["next_cursor"]
            if cursor is None:
                break
        wanted = expected
        if params[0][0] == "labels":
            wanted = expected & {c["id"] for c in labelled}
        assert len(seen) == len(set(seen)), (q, params)
        assert set(seen) == wanted, (q, params)
        assert body["meta"]["count"] == len(wanted), (q, params)


async def test_search_with_index_scans_forced(api: Api, contacts: list[Contact]) -> None:
    """The same rows through index-based plans: on PostgreSQL the tables of a test run are
    small and the planner would scan them; with sequential scans disabled it walks indexes.
    (Which index it picks is its choice; the trigram one is not guaranteed.) On SQLite this
    is the same comparison through the service directly."""
    failures: list[tuple[Any, ...]] = []
    async with api.tenant.db.reads.connection() as reader:  # the connection lists run on
        if isinstance(reader, AsyncpgReader):
            await reader.connection.execute("SET enable_seqscan = off")
        try:
            for q in TERMS:
                for extra in ([], [("sort", "-name")], [("sort", "email")]):
                    params = QueryParams([("q", q), ("page_size", "100"), *extra])
                    listed = await list_contacts(
                        reader, api.tenant.account_id, parse_list_query(params)
                    )
                    result = orjson.loads(orjson.dumps(listed))
                    got = {c["id"] for c in result["payload"]}
                    expected = {c["id"] for c in contacts if matches(c, q)}
                    if got != expected or result["meta"]["count"] != len(expected):
                        failures.append((q, extra, sorted(got ^ expected), result["meta"]["count"]))
        finally:
            if isinstance(reader, AsyncpgReader):
                await reader.connection.execute("RESET enable_seqscan")
    assert failures == [], "\n".join(map(str, failures))
