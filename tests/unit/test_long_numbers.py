"""Unit tests of issue 10's parsing bounds: every integer is judged by its length before it is
converted, dates and timestamps never overflow into a 500, and the request caps (q, labels,
filter conditions and values, labels per request, bulk operations) hold and are configurable.

The same cases over HTTP, in both dialects: tests/contacts/test_caps.py,
tests/labels/test_label_caps.py and tests/actions/test_bulk_caps.py.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from starlette.datastructures import QueryParams

from contactdesk.actions.bulk import parse_bulk_body
from contactdesk.contacts.filter_parse import AFTER_LAST_DAY, custom_keys, parse_filter
from contactdesk.contacts.list_params import ListQuery, parse_list_query
from contactdesk.errors import InvalidParameter, ValidationFailed
from contactdesk.labels.service import parse_labels_body
from contactdesk.models import CustomAttributeDefinition
from contactdesk.values import (
    MAX_ID,
    MAX_INT,
    MIN_INT,
    epoch_seconds,
    iso_date,
    iso_datetime,
    parse_number,
)
from tests.bounds import bounds

NINES = "9" * 5000
PADDED_ONE = "0" * 5000 + "1"
DAY = 86_400


def definition(key: str, display_type: str) -> CustomAttributeDefinition:
    return CustomAttributeDefinition(
        account_id=1,
        attribute_key=key,
        attribute_display_name=key,
        attribute_display_type=display_type,
        attribute_values=[],
    )


DEFINITIONS = {"seats": definition("seats", "number"), "renewal": definition("renewal", "date")}


def cond(key: Any, operator: str, values: Any, joiner: str | None = None) -> dict[str, Any]:
    return {
        "attribute_key": key,
        "filter_operator": operator,
        "values": values,
        "query_operator": joiner,
    }


def filter_error(*conditions: dict[str, Any]) -> str:
    with pytest.raises(InvalidParameter) as caught:
        parse_filter({"payload": list(conditions)}, DEFINITIONS, "sqlite")
    assert caught.value.status_code == 422
    return caught.value.message


def bound(condition: dict[str, Any], backend: str = "sqlite") -> Any:
    return parse_filter({"payload": [condition]}, DEFINITIONS, backend).params["f0"]


def query(*pairs: tuple[str, str]) -> ListQuery:
    return parse_list_query(QueryParams(list(pairs)))


def query_error(*pairs: tuple[str, str]) -> str:
    with pytest.raises(InvalidParameter) as caught:
        query(*pairs)
    return caught.value.message


# ---------------------------------------------------------------- parse_number


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0" * 30 + "5", 5),
        ("-" + "0" * 30 + "5", -5),
        ("+" + "0" * 5000 + "7", 7),
        ("0" * 100 + str(MAX_INT), MAX_INT),
        ("-" + "0" * 100 + str(-MIN_INT), MIN_INT),
        ("0" * 5000, 0),
        ("-" + "0" * 40, 0),
        (" 00042 ", 42),
    ],
)
def test_zero_padded_integers_are_judged_by_their_significant_digits(
    text: str, expected: int
) -> None:
    number = parse_number(text)
    assert number == expected
    assert type(number) is int


@pytest.mark.parametrize(
    "text", ["0" * 10 + str(MAX_INT + 1), "-" + "0" * 10 + str(-MIN_INT + 1), "1" + "0" * 19]
)
def test_padded_integers_beyond_64_bits_are_still_overflow(text: str) -> None:
    with pytest.raises(OverflowError):
        parse_number(text)


def test_long_numbers_are_judged_fast() -> None:
    started = time.perf_counter()
    for _ in range(200):
        with pytest.raises(OverflowError):
            parse_number("-" + "9" * 200_000)
        assert parse_number("0" * 200_000 + "3") == 3
    assert time.perf_counter() - started < 1.0


# ---------------------------------------------------------------- ISO text and epoch seconds


@pytest.mark.parametrize(
    "text",
    [
        "2024-01-01T00:00:00\x00",
        "2024-01-01 00:00\x00",
        "2024-01-01T00:00:00+00:00\x00",
        "2024-01-01\x00",
        "\x002024-01-01",
        "\uff12\uff10\uff12\uff14-01-01",  # fullwidth digits
        "2024-01-01T00:00:00" + "0" * 60,
        NINES,
    ],
)
def test_iso_text_with_nul_non_ascii_or_too_long_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        iso_datetime(text)
    with pytest.raises(ValueError, match=r"\S"):
        iso_date(text)


def test_iso_datetime_reads_timestamps() -> None:
    assert iso_datetime(" 2024-01-02T03:04:05+00:00 ") == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert iso_datetime("2024-01-02") == datetime(2024, 1, 2)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (1_700_000_000, 1_700_000_000),
        (1.7e9, 1_700_000_000),
        ("1700000000", 1_700_000_000),
        (" 0001700000000 ", 1_700_000_000),
        (PADDED_ONE, 1),
        ("2024-01-01T00:00:00Z", 1_704_067_200),
        ("2024-01-01T00:00:00", 1_704_067_200),  # UTC when it has no offset
        ("2024-01-01T01:00:00+01:00", 1_704_067_200),
        ("2024-01-01", 1_704_067_200),
        # well-formed but out of any range: left to the caller's range check
        (NINES, MAX_ID + 1),
        (-5, -5),
    ],
)
def test_epoch_seconds(value: Any, seconds: int) -> None:
    assert epoch_seconds(value) == seconds


@pytest.mark.parametrize(
    "value",
    [
        True,
        None,
        1.5,
        "",
        " ",
        "soon",
        "-5",
        "1e9",
        "2024-01-01T00:00:00\x00",
        [1],
        {"at": 1},
    ],
)
def test_epoch_seconds_refuses_the_rest(value: Any) -> None:
    with pytest.raises(ValueError):  # noqa: PT011  (the message is the value, whatever it is)
        epoch_seconds(value)


# ---------------------------------------------------------------- page, page_size, q, labels


def test_a_page_of_5000_digits_is_past_the_end() -> None:
    started = time.perf_counter()
    parsed = query(("page", NINES))
    assert time.perf_counter() - started < 0.1
    assert parsed.page == MAX_ID + 1
    assert parsed.page_echo == NINES
    assert parsed.offset > 2**62  # the list engine answers an empty page
    assert query(("page", PADDED_ONE)).page == 1


@pytest.mark.parametrize("raw", [NINES, "0" * 5000, "-" + NINES, NINES + "x"])
def test_page_size_of_5000_digits_is_out_of_range(raw: str) -> None:
    assert query_error(("page_size", raw)) == "page_size must be between 1 and 100"


def test_page_size_with_leading_zeros() -> None:
    assert query(("page_size", "0" * 5000 + "50")).page_size == 50


def test_q_is_at_most_200_characters_after_trimming() -> None:
    assert query(("q", "a" * 200)).q == "a" * 200
    assert query(("q", "  " + "a" * 200 + "  ")).q == "a" * 200
    assert query_error(("q", "a" * 201)) == "q must be at most 200 characters"
    assert query_error(("q", "é" * 201)) == "q must be at most 200 characters"


def test_the_q_bound_is_configurable() -> None:
    with bounds(max_q_chars=5):
        assert query(("q", "abcde")).q == "abcde"
        assert query_error(("q", "abcdef")) == "q must be at most 5 characters"


def test_at_most_100_label_names() -> None:
    names = [f"l{n}" for n in range(100)]
    pairs = [("labels", ",".join(names[:50])), *(("labels[]", n) for n in names[50:])]
    assert query(*pairs).labels == tuple(names)
    # duplicates (in any case) are one name
    assert sorted(query(*pairs, ("labels", "L0,l99, L5 ")).labels) == sorted(names)
    assert query_error(*pairs, ("labels", "one-more")) == "labels may name at most 100 labels"
    assert query_error(("labels", ",".join(f"x{n}" for n in range(5000)))) == (
        "labels may name at most 100 labels"
    )


def test_the_labels_bound_is_configurable() -> None:
    with bounds(max_label_filter_names=2):
        assert query(("labels", "a,b,A")).labels == ("a", "b")
        assert query_error(("labels", "a,b,c")) == "labels may name at most 2 labels"


# ---------------------------------------------------------------- filter values


@pytest.mark.parametrize("key", ["created_at", "renewal"])
@pytest.mark.parametrize("days", [NINES, "1" + "0" * 30, 100_001, -1, "-1", "1e3", 1.0, True])
def test_days_before_refuses_what_is_not_a_number_of_days(key: str, days: Any) -> None:
    message = filter_error(cond(key, "days_before", [days]))
    assert message.endswith("is not a number of days"), message


def test_days_before_with_leading_zeros() -> None:
    before = datetime.now(UTC).date()
    cutoff = bound(cond("renewal", "days_before", [PADDED_ONE]))
    after = datetime.now(UTC).date()
    assert cutoff in {(day - timedelta(days=1)).isoformat() for day in (before, after)}


def test_greater_than_the_last_day_matches_nothing_instead_of_overflowing() -> None:
    last = int(datetime(9999, 12, 31, tzinfo=UTC).timestamp())
    assert bound(cond("created_at", "is_greater_than", ["9999-12-31"])) == last + DAY
    assert bound(cond("last_activity_at", "is_greater_than", ["9999-12-31T10:00:00"])) == (
        last + DAY
    )
    assert bound(cond("renewal", "is_greater_than", ["9999-12-31"])) == AFTER_LAST_DAY
    assert AFTER_LAST_DAY > "9999-12-31"
    # the day before still moves on by one day
    assert bound(cond("created_at", "is_greater_than", ["9999-12-30"])) == last
    assert bound(cond("renewal", "is_greater_than", ["9999-12-30"])) == "9999-12-31"
    # and the first day is a bound like any other
    first = int(datetime(1, 1, 1, tzinfo=UTC).timestamp())
    assert bound(cond("created_at", "is_less_than", ["0001-01-01"])) == first


@pytest.mark.parametrize("operator", ["is_greater_than", "is_less_than"])
@pytest.mark.parametrize(
    "value",
    [
        "9999-12-31T23:00:00-05:00",  # the next year in UTC
        "0001-01-01T00:00:00+01:00",  # the year before year 1 in UTC
        "2024-01-01T00:00:00\x00",
        NINES,
    ],
)
def test_dates_out_of_range_or_malformed_are_refused(operator: str, value: str) -> None:
    assert filter_error(cond("created_at", operator, [value])).endswith("is not an ISO 8601 date")


def test_numbers_with_leading_zeros_and_numbers_too_long() -> None:
    assert bound(cond("seats", "equal_to", ["0" * 30 + "5"])) == [5.0]
    assert bound(cond("seats", "equal_to", ["0" * 30 + "5"]), "postgresql") == [Decimal(5)]
    assert bound(cond("seats", "is_less_than", [PADDED_ONE])) == 1.0
    assert filter_error(cond("seats", "equal_to", [NINES])).endswith("is not a number")


@pytest.mark.parametrize("key", [["name"], {"name": 1}, 5, None, True, 1.5])
def test_keys_that_are_not_strings_need_definitions_and_are_refused(key: Any) -> None:
    body = {"payload": [cond(key, "equal_to", ["a"])]}
    assert custom_keys(body) is True
    assert filter_error(cond(key, "equal_to", ["a"])).startswith("Invalid attribute key")


def test_filter_bounds_are_configurable() -> None:
    with bounds(max_filter_conditions=2, max_filter_values=3):
        two = [cond("name", "equal_to", ["a"], "OR"), cond("name", "equal_to", ["b", "c", "d"])]
        parse_filter({"payload": two}, {}, "sqlite")
        three = [cond("name", "equal_to", ["a"], "OR"), *two]
        assert filter_error(*three) == "payload has more than 2 conditions"
        assert filter_error(cond("name", "contains", ["a", "b", "c", "d"])) == (
            "Invalid value. The values provided for name are invalid: at most 3 values"
        )


def test_cache_keys_are_small_whatever_the_filter() -> None:
    conditions = [
        cond("name", "contains", [f"{n}-{v}-" + "x" * 1000 for v in range(100)], "OR")
        for n in range(50)
    ]
    conditions[-1]["query_operator"] = None
    parsed = parse_filter({"payload": conditions}, {}, "sqlite")
    kind, digest = parsed.cache_key()
    assert kind == "filter"
    assert isinstance(digest, bytes)
    assert len(digest) == 16
    conditions[-1]["values"][-1] += "y"
    assert parse_filter({"payload": conditions}, {}, "sqlite").cache_key() != (kind, digest)


# ---------------------------------------------------------------- labels and bulk actions


def test_at_most_100_labels_per_request() -> None:
    names = [f"Label {n}" for n in range(100)]
    assert parse_labels_body({"labels": [*names, "label 0", " LABEL 99 "]}) == names
    with pytest.raises(ValidationFailed) as caught:
        parse_labels_body({"labels": [*names, "one more"]})
    assert caught.value.body() == {
        "message": "Labels is too long (maximum is 100 labels)",
        "attributes": ["labels"],
    }
    with bounds(max_labels=1):
        assert parse_labels_body({"labels": ["a", "A"]}) == ["a"]
        with pytest.raises(ValidationFailed):
            parse_labels_body({"labels": ["a", "b"]})


def bulk_error(body: dict[str, Any]) -> str:
    with pytest.raises(InvalidParameter) as caught:
        parse_bulk_body({"type": "Contact", **body})
    return caught.value.message


def test_bulk_label_operations_are_names_times_ids() -> None:
    ids = list(range(1, 101))
    names = [f"n{n}" for n in range(100)]
    action = parse_bulk_body({"type": "Contact", "ids": ids, "labels": {"add": names}})
    assert len(action.add) * len(action.ids) == 10_000
    half = {"add": names[:50], "remove": [f"r{n}" for n in range(50)]}
    parse_bulk_body({"type": "Contact", "ids": ids, "labels": half})
    message = bulk_error({"ids": [*ids, 101], "labels": {"add": names}})
    assert message.startswith("labels: label names times ids is 10100, more than the 10000")
    message = bulk_error({"ids": ids, "labels": {**half, "remove": [*half["remove"], "x"]}})
    assert "10100" in message
    assert bulk_error({"ids": [1], "labels": {"add": [*names, "x"]}}) == (
        "labels.add: Labels is too long (maximum is 100 labels)"
    )
    assert bulk_error({"ids": [1], "labels": {"remove": [*names, "x"]}}) == (
        "labels.remove: Labels is too long (maximum is 100 labels)"
    )
    with bounds(max_bulk_label_operations=4):
        parse_bulk_body({"type": "Contact", "ids": [1, 2], "labels": {"add": ["a", "b"]}})
        assert "more than the 4" in bulk_error({"ids": [1, 2, 3], "labels": {"add": ["a", "b"]}})
    # a delete names no labels: only the ids bound applies
    assert parse_bulk_body({"type": "Contact", "ids": ids, "action_name": "delete"}).delete
