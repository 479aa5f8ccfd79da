"""Unit tests of contactdesk.contacts.list_params: page, size, sort, labels, q and the cursor.

The HTTP side lives in tests/contacts/test_listing.py and tests/contacts/test_scale_cursor.py;
the messages here are the ones those tests expect.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from starlette.datastructures import QueryParams

from contactdesk.contacts.list_params import (
    DEFAULT_PAGE_SIZE,
    SORT_KEYS,
    Cursor,
    ListQuery,
    parse_list_query,
)
from contactdesk.errors import InvalidParameter
from contactdesk.values import MAX_ID

PAGE_ERROR = "page must be a positive integer"
PAGE_SIZE_ERROR = "page_size must be between 1 and 100"
SORT_ERROR = (
    "sort must be one of: email, name, phone_number, last_activity_at, created_at, "
    "company, city, country"
)
DIRECTION_ERROR = "direction must be asc or desc"
INCLUDE_ERROR = "include_contact_inboxes must be true or false"
INVALID_CURSOR = "after is not a valid cursor"
COMBINE_ERROR = "page and after cannot be combined"
ORDER_ERROR = "after belongs to another sort order"
JSON_SORT_KEYS = ("company", "city", "country")
TEXT_SORT_KEYS = ("email", "name", "phone_number")
EPOCH_SORT_KEYS = ("created_at", "last_activity_at")

Pairs = list[tuple[str, str]]


def parse(*pairs: tuple[str, str]) -> ListQuery:
    return parse_list_query(QueryParams(list(pairs)))


def error(*pairs: tuple[str, str]) -> str:
    with pytest.raises(InvalidParameter) as caught:
        parse(*pairs)
    assert caught.value.status_code == 422
    return caught.value.message


def forge(value: Any) -> str:
    """A cursor in the service's own format (base64url of a JSON array, no padding)."""
    raw = json.dumps(value, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# ---------------------------------------------------------------- defaults


def test_defaults() -> None:
    query = parse()
    assert query == ListQuery()
    assert query.page == 1
    assert query.page_echo == 1
    assert type(query.page_echo) is int
    assert query.page_size == DEFAULT_PAGE_SIZE == 15
    assert (query.sort, query.descending) == ("created_at", True)
    assert query.labels == ()
    assert query.include_contact_inboxes is True
    assert query.q == ""
    assert query.after is None
    assert query.offset == 0


def test_unknown_parameters_are_ignored() -> None:
    assert parse(("colour", "teal"), ("labels_x", "a"), ("Page", "0")) == ListQuery()


# ---------------------------------------------------------------- page and page_size


@pytest.mark.parametrize(
    ("raw", "page"),
    [
        ("1", 1),
        ("2", 2),
        (" 3 ", 3),
        ("007", 7),
        ("9223372036854775807", MAX_ID),
        # beyond 64 bits: past any end, never converted whole
        ("99999999999999999999999999", MAX_ID + 1),
        ("9" * 5000, MAX_ID + 1),
        ("0" * 5000 + "2", 2),
    ],
)
def test_page(raw: str, page: int) -> None:
    query = parse(("page", raw))
    assert query.page == page
    assert query.page_echo == raw  # echoed as sent


@pytest.mark.parametrize(
    "raw", ["abc", "0", "000", "-1", "-0", "+1", "1.5", "", " ", "1e2", "one", "\u0663"]
)
def test_page_must_be_a_positive_integer(raw: str) -> None:
    assert error(("page", raw)) == PAGE_ERROR


def test_the_last_page_counts() -> None:
    assert parse(("page", "1"), ("page", "2")).page == 2
    assert parse(("page", "abc"), ("page", "1")).page == 1
    assert error(("page", "1"), ("page", "abc")) == PAGE_ERROR


@pytest.mark.parametrize(
    ("raw", "size"), [("1", 1), ("15", 15), ("100", 100), (" 50 ", 50), ("007", 7)]
)
def test_page_size(raw: str, size: int) -> None:
    assert parse(("page_size", raw)).page_size == size


@pytest.mark.parametrize(
    "raw", ["0", "101", "1000", "-1", "abc", "", "1.5", "99999999999999999999999", "\uff15"]
)
def test_page_size_out_of_range(raw: str) -> None:
    assert error(("page_size", raw)) == PAGE_SIZE_ERROR


@pytest.mark.parametrize(
    ("page", "size", "offset"), [("1", "10", 0), ("3", "10", 20), ("4", "5", 15)]
)
def test_offset(page: str, size: str, offset: int) -> None:
    assert parse(("page", page), ("page_size", size)).offset == offset


# ---------------------------------------------------------------- sort and direction


@pytest.mark.parametrize("key", SORT_KEYS)
def test_every_sort_key_and_its_leading_minus(key: str) -> None:
    query = parse(("sort", key))
    assert (query.sort, query.descending) == (key, False)
    query = parse(("sort", f"-{key}"))
    assert (query.sort, query.descending) == (key, True)


@pytest.mark.parametrize(
    ("raw", "sort", "descending"),
    [
        ("company_name", "company", False),
        ("-company_name", "company", True),
        (" name ", "name", False),
        ("  -email\t", "email", True),
        ("", "created_at", True),  # blank: the default order
        ("   ", "created_at", True),
    ],
)
def test_sort_aliases_spaces_and_blank(raw: str, sort: str, descending: bool) -> None:
    query = parse(("sort", raw))
    assert (query.sort, query.descending) == (sort, descending)


@pytest.mark.parametrize(
    "raw",
    ["bogus", "-bogus", "id", "identifier", "--name", "name desc", "company_nam", "-", "+name",
     "Name", "-company_"],
)  # fmt: skip
def test_unknown_sort_key(raw: str) -> None:
    assert error(("sort", raw)) == SORT_ERROR


def test_the_last_sort_counts() -> None:
    query = parse(("sort", "bogus"), ("sort", "-name"))
    assert (query.sort, query.descending) == ("name", True)


@pytest.mark.parametrize(
    ("pairs", "sort", "descending"),
    [
        ([("direction", "asc")], "created_at", False),
        ([("direction", "desc")], "created_at", True),
        ([("sort", "name"), ("direction", "asc")], "name", False),
        ([("sort", "name"), ("direction", "desc")], "name", True),
        # direction overrides the leading minus
        ([("sort", "-name"), ("direction", "asc")], "name", False),
        ([("sort", "-name"), ("direction", "desc")], "name", True),
        ([("direction", "ASC"), ("sort", "-city")], "city", False),
        ([("sort", "email"), ("direction", " Desc ")], "email", True),
        ([("direction", "up"), ("direction", "asc")], "created_at", False),
    ],
)
def test_direction(pairs: Pairs, sort: str, descending: bool) -> None:
    query = parse(*pairs)
    assert (query.sort, query.descending) == (sort, descending)


@pytest.mark.parametrize("raw", ["up", "ascending", "descending", "", "-1", "1", "a"])
@pytest.mark.parametrize("extra", [[], [("sort", "name")]])
def test_invalid_direction(raw: str, extra: Pairs) -> None:
    assert error(*extra, ("direction", raw)) == DIRECTION_ERROR


# ---------------------------------------------------------------- labels


@pytest.mark.parametrize(
    ("pairs", "labels"),
    [
        ([("labels", "vip")], ("vip",)),
        ([("labels", "VIP")], ("vip",)),
        ([("labels", "ÜBER")], ("über",)),
        ([("labels[]", "vip"), ("labels[]", "Lead")], ("vip", "lead")),
        ([("labels", "vip,lead")], ("vip", "lead")),
        ([("labels", "Lead,nope")], ("lead", "nope")),
        ([("labels", " a , ,b,, ")], ("a", "b")),
        ([("labels", "vip,VIP"), ("labels", "Vip")], ("vip",)),
        ([("labels", ""), ("labels[]", " , ")], ()),
    ],
)
def test_labels(pairs: Pairs, labels: tuple[str, ...]) -> None:
    assert parse(*pairs).labels == labels


def test_labels_from_both_spellings_are_merged_without_duplicates() -> None:
    labels = parse(("labels[]", "b,VIP"), ("labels", "a,vip"), ("labels[]", "A")).labels
    assert sorted(labels) == ["a", "b", "vip"]


# ---------------------------------------------------------------- include_contact_inboxes and q


@pytest.mark.parametrize(
    ("raw", "include"),
    [("true", True), ("TRUE", True), ("True", True), ("1", True), (" true ", True),
     ("false", False), ("FALSE", False), ("False", False), ("0", False), ("\tfalse", False)],
)  # fmt: skip
def test_include_contact_inboxes(raw: str, include: bool) -> None:
    assert parse(("include_contact_inboxes", raw)).include_contact_inboxes is include


@pytest.mark.parametrize("raw", ["", "yes", "no", "2", "-1", "tru", "null", "on", "off"])
def test_include_contact_inboxes_invalid(raw: str) -> None:
    assert error(("include_contact_inboxes", raw)) == INCLUDE_ERROR


def test_the_last_include_contact_inboxes_counts() -> None:
    pairs = [("include_contact_inboxes", "yes"), ("include_contact_inboxes", "false")]
    assert parse(*pairs).include_contact_inboxes is False


@pytest.mark.parametrize(
    ("raw", "q"),
    [("ALPH", "ALPH"), ("  ALPH ", "ALPH"), ("\tHarker\n", "Harker"), ("", ""), ("   ", ""),
     ("100%", "100%"), ("a  b", "a  b")],
)  # fmt: skip
def test_q_is_stripped_and_kept_as_written(raw: str, q: str) -> None:
    assert parse(("q", raw)).q == q


# ---------------------------------------------------------------- NUL characters


@pytest.mark.parametrize(
    "name", ["q", "labels", "labels[]", "sort", "direction", "page", "page_size", "after", "other"]
)
def test_nul_in_any_parameter_is_refused(name: str) -> None:
    assert error((name, "a\x00b")) == f"{name} must not contain NUL characters"


def test_nul_is_checked_before_anything_else() -> None:
    assert error(("page", "0"), ("q", "\x00")) == "q must not contain NUL characters"


# ---------------------------------------------------------------- the cursor


ROUND_TRIPS: list[tuple[str, Any]] = [
    *((key, value) for key in EPOCH_SORT_KEYS for value in (1_700_000_000, 0, -1, MAX_ID, None)),
    *(
        (key, value)
        for key in TEXT_SORT_KEYS
        for value in ("ada@example.com", "", "émile", 'a"b\\c', "名前", "+14155550100", None)
    ),
    *(
        (key, value)
        for key in JSON_SORT_KEYS
        for value in ("Acme", "", "Zürich", None, 7, -2, 1.5, -0.25, 2.0)
    ),
]


@pytest.mark.parametrize(("sort", "value"), ROUND_TRIPS)
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("last_id", [1, 12345, MAX_ID])
def test_cursor_round_trip(sort: str, value: Any, descending: bool, last_id: int) -> None:
    cursor = Cursor(sort, descending, value, last_id)
    text = cursor.encode()
    assert re.fullmatch(r"[A-Za-z0-9_-]+", text), text  # URL-safe, no padding
    decoded = Cursor.decode(text)
    assert decoded == cursor
    assert type(decoded.value) is type(value)
    assert type(decoded.descending) is bool


def test_cursor_format_is_base64url_json() -> None:
    cursor = Cursor("name", True, "m", 42)
    assert cursor.encode() == forge(["name", 1, "m", 42])
    assert Cursor.decode(forge(["company", 0, 3.5, 7])) == Cursor("company", False, 3.5, 7)


INVALID_CURSORS: list[str] = [
    # not base64, or not JSON
    "",
    "x",
    "abc",
    "!!!!",
    "not a cursor",
    "eyJ",  # a cut-off base64 object
    "é",
    base64.b64encode(b"\xff\xfe").decode(),
    base64.urlsafe_b64encode(b"[1,2").decode(),
    # the wrong arity or not an array
    forge(None),
    forge(5),
    forge("abcd"),
    forge({"sort": "created_at"}),
    forge({"a": 1, "b": 2, "c": 3, "d": 4}),
    forge([]),
    forge(["created_at", 1, 5]),
    forge(["created_at", 1, 5, 1, 0]),
    # an unknown sort (aliases and the minus are the query's, not the cursor's)
    forge(["bogus", 1, 5, 1]),
    forge(["company_name", 0, "a", 1]),
    forge(["-created_at", 1, 5, 1]),
    forge([None, 1, 5, 1]),
    forge([["name"], 1, "a", 1]),
    # descending other than 0 or 1
    forge(["created_at", 2, 5, 1]),
    forge(["created_at", -1, 5, 1]),
    forge(["created_at", True, 5, 1]),
    forge(["created_at", 1.0, 5, 1]),
    forge(["created_at", "1", 5, 1]),
    forge(["created_at", None, 5, 1]),
    # an id that is no id
    forge(["created_at", 1, 5, 0]),
    forge(["created_at", 1, 5, -3]),
    forge(["created_at", 1, 5, "12"]),
    forge(["created_at", 1, 5, 1.5]),
    forge(["created_at", 1, 5, 1.0]),
    forge(["created_at", 1, 5, True]),
    forge(["created_at", 1, 5, None]),
    forge(["created_at", 1, 5, MAX_ID + 1]),
    forge(["created_at", 1, 5, 2**70]),
    # a value of the wrong type for the sort
    forge(["created_at", 1, 2**70, 1]),
    forge(["created_at", 1, MAX_ID + 1, 1]),
    forge(["created_at", 1, 1.5, 1]),
    forge(["created_at", 1, [1], 1]),
    forge(["created_at", 1, True, 1]),
    forge(["created_at", 1, "abc", 1]),
    forge(["last_activity_at", 0, "2024-01-01", 1]),
    forge(["last_activity_at", 0, 1_700_000_000.0, 1]),
    forge(["name", 0, 5, 1]),
    forge(["name", 0, 1.5, 1]),
    forge(["name", 0, True, 1]),
    forge(["name", 0, {"a": 1}, 1]),
    forge(["email", 0, 7, 1]),
    forge(["phone_number", 0, ["+1"], 1]),
    forge(["company", 0, True, 1]),
    forge(["city", 0, [1], 1]),
    forge(["country", 0, {"a": 1}, 1]),
    # NUL in a string value
    forge(["name", 0, "a\u0000b", 1]),
    forge(["company", 1, "\u0000", 1]),
]


@pytest.mark.parametrize("text", INVALID_CURSORS)
def test_forged_cursors_are_refused(text: str) -> None:
    with pytest.raises(InvalidParameter) as caught:
        Cursor.decode(text)
    assert caught.value.message == INVALID_CURSOR
    assert caught.value.status_code == 422


@pytest.mark.parametrize("text", INVALID_CURSORS)
def test_forged_cursors_are_refused_in_the_query(text: str) -> None:
    assert error(("after", text)) == INVALID_CURSOR


@pytest.mark.parametrize(
    "raw",
    [
        # the types the server itself may put in a cursor, at their limits
        ["created_at", 1, -MAX_ID, 1],
        ["last_activity_at", 0, MAX_ID, MAX_ID],
        ["company", 1, 123, 1],
        ["city", 0, -1e300, 1],
        ["name", 1, None, 2**62],
    ],
)
def test_well_formed_cursors_are_accepted(raw: list[Any]) -> None:
    cursor = Cursor.decode(forge(raw))
    assert [cursor.sort, int(cursor.descending), cursor.value, cursor.id] == raw


# ---------------------------------------------------------------- after in the query


def test_after_is_decoded_for_its_own_order() -> None:
    cursor = Cursor("created_at", True, 1_700_000_000, 5)
    assert parse(("after", cursor.encode())).after == cursor
    assert parse(("after", f"  {cursor.encode()} ")).after == cursor
    named = Cursor("name", False, "m", 9)
    query = parse(("sort", "name"), ("after", named.encode()), ("page_size", "2"))
    assert (query.after, query.page, query.page_echo, query.page_size) == (named, 1, 1, 2)


@pytest.mark.parametrize(
    "pairs",
    [
        [("sort", "company")],
        [("sort", "company_name")],
        [("sort", "-company"), ("direction", "asc")],
        [("sort", "company_name"), ("direction", "asc")],
    ],
)
def test_equivalent_spellings_share_cursors(pairs: Pairs) -> None:
    cursor = Cursor("company", False, "Acme", 3)
    assert parse(*pairs, ("after", cursor.encode())).after == cursor


@pytest.mark.parametrize(
    ("cursor", "pairs"),
    [
        (Cursor("name", False, "m", 1), [("sort", "-name")]),
        (Cursor("name", False, "m", 1), [("sort", "name"), ("direction", "desc")]),
        (Cursor("name", False, "m", 1), [("sort", "email")]),
        (Cursor("name", False, "m", 1), []),
        (Cursor("name", False, "m", 1), [("sort", "company")]),
        (Cursor("email", True, "a@b", 1), [("sort", "email")]),
        (Cursor("email", True, "a@b", 1), [("sort", "-email"), ("direction", "asc")]),
        (Cursor("email", True, "a@b", 1), [("sort", "-phone_number")]),
        (Cursor("created_at", True, 5, 1), [("direction", "asc")]),
        (Cursor("created_at", True, 5, 1), [("sort", "created_at")]),
        (Cursor("created_at", True, 5, 1), [("sort", "-last_activity_at")]),
    ],
)
def test_cursor_of_another_sort_order(cursor: Cursor, pairs: Pairs) -> None:
    assert error(("after", cursor.encode()), *pairs) == ORDER_ERROR


@pytest.mark.parametrize(
    "pairs",
    [
        [("page", "1"), ("after", "{cursor}")],
        [("after", "{cursor}"), ("page", "2")],
        [("after", "{cursor}"), ("page", "1"), ("sort", "name")],
        [("page", "1"), ("after", "not a cursor")],  # refused before the cursor is read
    ],
)
def test_page_and_after_cannot_be_combined(pairs: Pairs) -> None:
    cursor = Cursor("created_at", True, 1_700_000_000, 1).encode()
    filled = [(name, value.format(cursor=cursor)) for name, value in pairs]
    assert error(*filled) == COMBINE_ERROR


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        ([("page_size", "0")], PAGE_SIZE_ERROR),
        ([("direction", "up")], DIRECTION_ERROR),
        ([("sort", "bogus")], SORT_ERROR),
        ([("include_contact_inboxes", "yes")], INCLUDE_ERROR),
    ],
)
def test_the_other_parameters_are_still_checked_with_a_cursor(pairs: Pairs, message: str) -> None:
    cursor = Cursor("created_at", True, 1_700_000_000, 1).encode()
    assert error(("after", cursor), *pairs) == message


def test_everything_at_once() -> None:
    query = parse(
        ("page", "3"),
        ("page_size", "20"),
        ("sort", "-company_name"),
        ("labels", "VIP,lead"),
        ("labels[]", "Support"),
        ("include_contact_inboxes", "false"),
        ("q", "  acme "),
    )
    assert query == ListQuery(
        page=3,
        page_echo="3",
        page_size=20,
        sort="company",
        descending=True,
        labels=("vip", "lead", "support"),
        include_contact_inboxes=False,
        q="acme",
        after=None,
    )
    assert query.offset == 40
