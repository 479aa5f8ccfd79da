"""Unit tests of contactdesk.contacts.fields: the writable contact fields (contract §6, §7).

tests/contacts/test_contacts_write.py covers the same rules over HTTP; here each one is
pinned on the parser itself.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from contactdesk.contacts.fields import (
    MAX_EPOCH,
    FieldError,
    parse_contact_fields,
    parse_epoch,
    parse_inbox_field,
    parse_inbox_id,
    parse_source_field,
    parse_source_id,
)
from contactdesk.values import MAX_ID
from tests.contacts import field_cases
from tests.support import EVERY_FIELD_BAD, EVERY_FIELD_BAD_MESSAGES

SEED_EPOCH = 1765441908  # 2025-12-11T08:31:48Z
PHONE_E164 = "Phone number should be in e164 format"
# URLs of exactly 2048 characters, the longest allowed
LONGEST_AVATAR = "https://example.com/" + "a" * 2028
LONGEST_THUMBNAIL = "http://example.com/" + "t" * 2029
LABEL = {
    "name": "Name",
    "first_name": "First name",
    "last_name": "Last name",
    "email": "Email",
    "phone_number": "Phone number",
    "identifier": "Identifier",
    "avatar_url": "Avatar url",
    "thumbnail": "Thumbnail",
    "blocked": "Blocked",
    "availability_status": "Availability status",
    "last_activity_at": "Last activity at",
    "custom_attributes": "Custom attributes",
    "additional_attributes": "Additional attributes",
}


def accepted(field: str, value: Any, *, creating: bool = True) -> dict[str, Any]:
    parsed = parse_contact_fields({field: value}, creating=creating)
    assert parsed.problems == []
    return parsed.values


def refused(field: str, value: Any, *, creating: bool = True) -> str:
    """The one message the field gets; the field's value is left out of the values."""
    parsed = parse_contact_fields({field: value}, creating=creating)
    assert [attribute for attribute, _ in parsed.problems] == [field]
    assert parsed.values == {}
    return parsed.problems[0][1]


# ---------------------------------------------------------------- accepted values


# The HTTP tests' cases, and more that only a direct call can reach cheaply.
VALID: list[tuple[str, Any, str, Any]] = [
    # A null JSON attribute means {} on create only (test_null_attributes_are_an_empty_...).
    *[case for case in field_cases.VALID if case[1] is not None or "attributes" not in case[0]],
    ("name", "Ann", "name", "Ann"),
    ("name", "", "name", ""),
    ("first_name", None, "first_name", ""),
    ("email", "   " + "a" * 249 + "@x.com   ", "email", "a" * 249 + "@x.com"),
    ("phone_number", "  ", "phone_number", None),
    ("identifier", "CRM-Xy", "identifier", "CRM-Xy"),
    ("identifier", -7, "identifier", "-7"),
    ("identifier", None, "identifier", None),
    ("avatar_url", None, "thumbnail", ""),
    ("thumbnail", None, "thumbnail", ""),
    ("blocked", "FALSE", "blocked", False),
    ("custom_attributes", {"a": 1, "n": {"b": [1, "x", None]}}, "custom_attributes", None),
]


@pytest.mark.parametrize(
    ("field", "value", "key", "stored"),
    VALID,
    ids=[f"{f}-{i}" for i, (f, *_rest) in enumerate(VALID)],
)
@pytest.mark.parametrize("creating", [True, False])
def test_valid_value_is_normalised(
    field: str, value: Any, key: str, stored: Any, creating: bool
) -> None:
    if stored is None and isinstance(value, dict):
        stored = value  # an attributes object is kept as sent
    assert accepted(field, value, creating=creating) == {key: stored}


# ---------------------------------------------------------------- refused values


# The HTTP tests' refused values (not the ones they expect accepted), and more.
INVALID: list[tuple[str, Any, str]] = [
    *[(field, value, message) for field, value, message in field_cases.INVALID if message],
    ("name", True, "Name is invalid"),
    ("email", True, "Email is invalid"),
    ("phone_number", "+\uff11\uff12\uff13", PHONE_E164),
    ("phone_number", 14155550100, PHONE_E164),
    ("phone_number", ["+14155550100"], PHONE_E164),
    ("avatar_url", False, "Avatar url is invalid"),
    (
        "avatar_url",
        LONGEST_AVATAR + "a",
        "Avatar url is too long (maximum is 2048 characters)",
    ),
    ("thumbnail", ["https://example.com/t.png"], "Thumbnail is invalid"),
    (
        "thumbnail",
        LONGEST_THUMBNAIL + "t",
        "Thumbnail is too long (maximum is 2048 characters)",
    ),
    ("availability_status", "Online", "Availability status is invalid"),
    (
        "custom_attributes",
        {"k": "x" * (16384 - 7)},
        "Custom attributes is too large (maximum is 16 KB)",
    ),
    (
        "custom_attributes",
        {"k": "é" * ((16384 - 8) // 2 + 1)},
        "Custom attributes is too large (maximum is 16 KB)",
    ),
    (
        "additional_attributes",
        {"k": "x" * (16384 - 7)},
        "Additional attributes is too large (maximum is 16 KB)",
    ),
]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    INVALID,
    ids=[f"{f}-{i}" for i, (f, *_rest) in enumerate(INVALID)],
)
@pytest.mark.parametrize("creating", [True, False])
def test_invalid_value_is_one_problem_naming_the_field(
    field: str, value: Any, message: str, creating: bool
) -> None:
    assert refused(field, value, creating=creating) == message


# ---------------------------------------------------------------- NUL characters


NUL_VALUES: list[tuple[str, Any]] = [
    ("name", "Ann\x00"),
    ("name", "\x00" * 300),  # NUL wins over the length
    ("first_name", "\x00"),
    ("last_name", "a\x00b"),
    ("email", "a\x00@example.com"),
    ("phone_number", "+1415\x00"),
    ("identifier", "id\x00"),
    ("avatar_url", "https://example.com/\x00.png"),
    ("thumbnail", "https://example.com/\x00.png"),
    ("blocked", "\x00"),
    ("availability_status", "online\x00"),
    ("last_activity_at", "1\x00"),
    ("custom_attributes", {"k": "v\x00"}),
    ("custom_attributes", {"k\x00": "v"}),
    ("custom_attributes", {"a": [{"b": ["c", "\x00"]}]}),
    ("additional_attributes", {"city": "Par\x00is"}),
    ("additional_attributes", {"nested": {"deep\x00": 1}}),
]


@pytest.mark.parametrize(("field", "value"), NUL_VALUES)
@pytest.mark.parametrize("creating", [True, False])
def test_nul_characters_anywhere_make_the_field_invalid(
    field: str, value: Any, creating: bool
) -> None:
    assert refused(field, value, creating=creating) == f"{LABEL[field]} is invalid"


# ---------------------------------------------------------------- avatar_url and thumbnail


@pytest.mark.parametrize(
    ("body", "values", "problems"),
    [
        ({"avatar_url": "https://a.example/a.png"}, {"thumbnail": "https://a.example/a.png"}, []),
        ({"thumbnail": "https://t.example/t.png"}, {"thumbnail": "https://t.example/t.png"}, []),
        # both sent: avatar_url wins, in either order
        (
            {"avatar_url": "https://a.example/a.png", "thumbnail": "https://t.example/t.png"},
            {"thumbnail": "https://a.example/a.png"},
            [],
        ),
        (
            {"thumbnail": "https://t.example/t.png", "avatar_url": "https://a.example/a.png"},
            {"thumbnail": "https://a.example/a.png"},
            [],
        ),
        # the thumbnail sent alongside is not even looked at
        (
            {"avatar_url": "https://a.example/a.png", "thumbnail": "ftp://bad"},
            {"thumbnail": "https://a.example/a.png"},
            [],
        ),
        ({"avatar_url": "", "thumbnail": "https://t.example/t.png"}, {"thumbnail": ""}, []),
        # a bad avatar_url is the problem, under its own name
        (
            {"avatar_url": "ftp://bad", "thumbnail": "https://t.example/t.png"},
            {},
            [("avatar_url", "Avatar url is invalid")],
        ),
        (
            {"avatar_url": "https://a.example/\x00", "thumbnail": "https://t.example/t.png"},
            {},
            [("avatar_url", "Avatar url is invalid")],
        ),
        ({"thumbnail": "ftp://bad"}, {}, [("thumbnail", "Thumbnail is invalid")]),
    ],
)
def test_avatar_url_and_thumbnail_are_one_field(
    body: dict[str, Any], values: dict[str, Any], problems: list[tuple[str, str]]
) -> None:
    parsed = parse_contact_fields(body, creating=True)
    assert parsed.values == values
    assert parsed.problems == problems
    assert "avatar_url" not in parsed.values


# ---------------------------------------------------------------- last_activity_at, parse_epoch


EPOCHS: list[tuple[Any, int | None]] = [
    (None, None),
    (SEED_EPOCH, SEED_EPOCH),
    (0, 0),
    (MAX_EPOCH, MAX_EPOCH),
    (float(SEED_EPOCH), SEED_EPOCH),
    (1.0, 1),
    (str(SEED_EPOCH), SEED_EPOCH),
    (f"  {SEED_EPOCH}\n", SEED_EPOCH),
    ("0", 0),
    ("000123", 123),
    (str(MAX_EPOCH), MAX_EPOCH),
    ("2025-12-11T08:31:48Z", SEED_EPOCH),
    ("2025-12-11T08:31:48+00:00", SEED_EPOCH),
    ("2025-12-11T08:31:48", SEED_EPOCH),  # no offset: UTC
    ("2025-12-11 08:31:48", SEED_EPOCH),
    ("2025-12-11T16:31:48+08:00", SEED_EPOCH),
    ("2025-12-11T03:31:48-05:00", SEED_EPOCH),
    ("2025-12-11T08:31:48.999Z", SEED_EPOCH),  # fractions are dropped
    ("2025-12-11", SEED_EPOCH - (8 * 3600 + 31 * 60 + 48)),  # midnight UTC
    ("1970-01-01T00:00:00Z", 0),
    ("9999-12-31T23:59:59Z", MAX_EPOCH),
]

BAD_EPOCHS: list[Any] = [
    -1,
    MAX_EPOCH + 1,
    2**64,
    str(MAX_EPOCH + 1),
    "99999999999999999999",
    1.5,
    -1.0,
    1e20,
    math.nan,
    math.inf,
    True,
    False,
    "",
    "   ",
    "soon",
    "12ab",
    "-5",
    "+5",
    "1.5",
    "1e9",
    "\u0663",  # a digit, not ASCII
    "2025-13-45T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
    "9999-12-31T23:59:59-05:00",  # after year 9999 in UTC
    [SEED_EPOCH],
    {"t": SEED_EPOCH},
]


@pytest.mark.parametrize(("value", "expected"), EPOCHS)
def test_parse_epoch(value: Any, expected: int | None) -> None:
    assert parse_epoch(value) == expected


@pytest.mark.parametrize("value", BAD_EPOCHS)
def test_parse_epoch_refuses(value: Any) -> None:
    with pytest.raises(FieldError, match=r"^Last activity at is invalid$"):
        parse_epoch(value)


@pytest.mark.parametrize(("value", "expected"), EPOCHS)
def test_last_activity_at_field(value: Any, expected: int | None) -> None:
    assert accepted("last_activity_at", value) == {"last_activity_at": expected}


@pytest.mark.parametrize("value", BAD_EPOCHS)
def test_last_activity_at_field_refused(value: Any) -> None:
    assert refused("last_activity_at", value) == "Last activity at is invalid"


# ---------------------------------------------------------------- the body as a whole


@pytest.mark.parametrize("attribute", ["custom_attributes", "additional_attributes"])
def test_null_attributes_are_an_empty_object_on_create_and_nothing_on_update(
    attribute: str,
) -> None:
    assert accepted(attribute, None, creating=True) == {attribute: {}}
    assert accepted(attribute, None, creating=False) == {}


def test_absent_fields_are_left_out_and_unknown_keys_dropped() -> None:
    for creating in (True, False):
        parsed = parse_contact_fields({}, creating=creating)
        assert (parsed.values, parsed.problems) == ({}, [])
        body = {"id": 5, "created_at": 1, "favourite_colour": "teal", "nested": {"x": "\x00"}}
        parsed = parse_contact_fields(body, creating=creating)
        assert (parsed.values, parsed.problems) == ({}, [])
        assert parsed.definitions_checked is False


def test_every_field_together() -> None:
    body = {
        "name": "Ann Example",
        "first_name": "Ann",
        "last_name": "Example",
        "email": " Ann@Example.COM ",
        "phone_number": "+14155550100",
        "identifier": 77,
        "avatar_url": "https://example.com/a.png",
        "blocked": "true",
        "availability_status": "online",
        "last_activity_at": str(SEED_EPOCH),
        "custom_attributes": {"tier": "gold"},
        "additional_attributes": {"city": "Paris"},
        "inbox_id": 1,  # read by parse_inbox_field, not here
        "source_id": "s",
    }
    parsed = parse_contact_fields(body, creating=True)
    assert parsed.problems == []
    assert parsed.values == {
        "name": "Ann Example",
        "first_name": "Ann",
        "last_name": "Example",
        "email": "ann@example.com",
        "phone_number": "+14155550100",
        "identifier": "77",
        "thumbnail": "https://example.com/a.png",
        "blocked": True,
        "availability_status": "online",
        "last_activity_at": SEED_EPOCH,
        "custom_attributes": {"tier": "gold"},
        "additional_attributes": {"city": "Paris"},
    }


@pytest.mark.parametrize("creating", [True, False])
def test_every_problem_is_collected_at_once(creating: bool) -> None:
    body: dict[str, Any] = dict(EVERY_FIELD_BAD)
    expected = EVERY_FIELD_BAD_MESSAGES
    parsed = parse_contact_fields(body, creating=creating)
    assert len(parsed.problems) == len(expected)
    assert dict(parsed.problems) == expected
    assert parsed.values == {}


def test_good_fields_are_kept_beside_bad_ones() -> None:
    body = {"name": "Ann", "email": "nope", "phone_number": "123", "blocked": False}
    parsed = parse_contact_fields(body, creating=False)
    assert parsed.values == {"name": "Ann", "blocked": False}
    assert dict(parsed.problems) == {"email": "Email is invalid", "phone_number": PHONE_E164}


# ---------------------------------------------------------------- inbox_id and source_id


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        (5, 5),
        ("5", 5),
        (" 42 ", 42),
        ("007", 7),
        (MAX_ID, MAX_ID),
        # well-formed but no inbox can have it: passed on, to be "not found"
        (0, 0),
        ("0", 0),
        (-1, -1),
        (2**63, 2**63),
        ("99999999999999999999", MAX_ID + 1),
        ("9" * 5000, MAX_ID + 1),
    ],
)
def test_parse_inbox_id(value: Any, expected: int | None) -> None:
    assert parse_inbox_id(value) == expected


@pytest.mark.parametrize(
    "value", ["abc", "12a", "", "1.5", " ", "-1", "+1", "0x10", 1.5, True, False, [], {}, [1]]
)
def test_parse_inbox_id_refuses(value: Any) -> None:
    with pytest.raises(FieldError, match=r"^Inbox is invalid$"):
        parse_inbox_id(value)


@pytest.mark.parametrize(
    ("body", "inbox_id", "problem"),
    [
        ({"inbox_id": 3}, 3, None),
        ({"inbox_id": "3"}, 3, None),
        ({}, None, ("inbox_id", "Inbox can't be blank")),
        ({"inbox_id": None}, None, ("inbox_id", "Inbox can't be blank")),
        ({"inbox_id": ""}, None, ("inbox_id", "Inbox is invalid")),
        ({"inbox_id": "abc"}, None, ("inbox_id", "Inbox is invalid")),
        ({"inbox_id": True}, None, ("inbox_id", "Inbox is invalid")),
    ],
)
def test_parse_inbox_field_appends_its_problem(
    body: dict[str, Any], inbox_id: int | None, problem: tuple[str, str] | None
) -> None:
    earlier = ("email", "Email is invalid")
    problems = [earlier]
    assert parse_inbox_field(body, problems) == inbox_id
    assert problems == ([earlier] if problem is None else [earlier, problem])


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("src_001", "src_001"),
        ("  spaced  ", "  spaced  "),
        ("x" * 255, "x" * 255),
        (12, "12"),
        (0, "0"),
    ],
)
def test_parse_source_id(value: Any, expected: str | None) -> None:
    assert parse_source_id(value) == expected


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([], "Source is invalid"),
        ({}, "Source is invalid"),
        (True, "Source is invalid"),
        (False, "Source is invalid"),
        (1.5, "Source is invalid"),
        ("a\x00b", "Source is invalid"),
        ("x" * 256, "Source is too long (maximum is 255 characters)"),
    ],
)
def test_parse_source_id_refuses(value: Any, message: str) -> None:
    with pytest.raises(FieldError) as caught:
        parse_source_id(value)
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("body", "source_id", "problems"),
    [
        ({}, None, []),
        ({"source_id": None}, None, []),
        ({"source_id": "abc"}, "abc", []),
        ({"source_id": 9}, "9", []),
        ({"source_id": ["abc"]}, None, [("source_id", "Source is invalid")]),
        (
            {"source_id": "s" * 256},
            None,
            [("source_id", "Source is too long (maximum is 255 characters)")],
        ),
    ],
)
def test_parse_source_field_appends_its_problem(
    body: dict[str, Any], source_id: str | None, problems: list[tuple[str, str]]
) -> None:
    found: list[tuple[str, str]] = []
    assert parse_source_field(body, found) == source_id
    assert found == problems
