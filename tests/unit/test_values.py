"""Unit tests of contactdesk.values: the value parsers every domain shares (no app, no DB)."""

from __future__ import annotations

import math
import re
import time
from datetime import date
from typing import Any

import pytest

from contactdesk.values import (
    MAX_ID,
    MAX_INT,
    MIN_INT,
    has_nul,
    id_number,
    is_http_url,
    iso_date,
    parse_bool,
    parse_id,
    parse_number,
)

# ---------------------------------------------------------------- id_number / parse_id


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1),
        (42, 42),
        ("42", 42),
        (" 42 ", 42),
        ("\t7\n", 7),
        ("007", 7),
        (str(MAX_ID), MAX_ID),
        # well-formed numbers no id can have come back as they are
        (0, 0),
        ("0", 0),
        ("000", 0),
        (-5, -5),
        (MAX_ID + 1, MAX_ID + 1),
        (2**64, 2**64),
        (str(MAX_ID + 1), MAX_ID + 1),
        ("9" * 19, int("9" * 19)),
        # too long to be converted: MAX_ID + 1, "well-formed but unknown"
        ("9" * 20, MAX_ID + 1),
        ("99999999999999999999", MAX_ID + 1),
        ("1" + "0" * 100, MAX_ID + 1),
    ],
)
def test_id_number_reads_ints_and_digit_strings(value: Any, expected: int) -> None:
    assert id_number(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        None,
        1.0,
        1.5,
        "",
        "   ",
        "abc",
        "12a",
        "1.5",
        "+1",
        "-1",
        "-0",
        "0x10",
        "1e3",
        "1 2",
        "1_000",
        "\u0663",  # ARABIC-INDIC DIGIT THREE: a digit, but not ASCII
        "\uff11\uff12",  # fullwidth 12
        "\u00b2",  # superscript two
        [1],
        {"id": 1},
        b"12",
    ],
)
def test_id_number_refuses_anything_else(value: Any) -> None:
    assert id_number(value) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1, 1),
        (MAX_ID, MAX_ID),
        ("1", 1),
        (" 12 ", 12),
        (str(MAX_ID), MAX_ID),
        ("0001", 1),
        ("0" * 5000 + "1", 1),
        ("0" * 5000 + str(MAX_ID), MAX_ID),
    ],
)
def test_parse_id_accepts_positive_64_bit_ids(value: Any, expected: int) -> None:
    assert parse_id(value) == expected


@pytest.mark.parametrize(
    "value",
    [
        0,
        "0",
        "0" * 5000,
        -1,
        "-1",
        MAX_ID + 1,
        str(MAX_ID + 1),
        2**64,
        "9" * 20,
        "9" * 5000,
        True,
        False,
        None,
        1.0,
        "abc",
        "",
        [1],
    ],
)
def test_parse_id_refuses_everything_else(value: Any) -> None:
    assert parse_id(value) is None


def test_very_long_digit_strings_are_fast_and_out_of_range() -> None:
    # int() would be slow on these (and refuses more than 4300 digits): they must never reach it.
    nines = "9" * 5000
    zeros_then_one = "0" * 5000 + "1"
    huge = "1" * 200_000
    started = time.perf_counter()
    for _ in range(100):
        assert id_number(nines) == MAX_ID + 1
        assert parse_id(nines) is None
        assert id_number(huge) == MAX_ID + 1
        assert parse_id(zeros_then_one) == 1
    assert time.perf_counter() - started < 1.0


# ---------------------------------------------------------------- has_nul


@pytest.mark.parametrize(
    "value",
    [
        "\x00",
        "a\x00b",
        ["ok", "a\x00"],
        {"k": "\x00"},
        {"k\x00": 1},
        {"a": [{"b": ["c", {"d": "e\x00"}]}]},
        [[[["\x00"]]]],
    ],
)
def test_has_nul_finds_nul_anywhere(value: Any) -> None:
    assert has_nul(value) is True


@pytest.mark.parametrize(
    "value",
    ["", "abc", "\\x00", "\\u0000", 0, 1.5, True, None, [], {}, {"a": [1, "b", None, {"c": {}}]}],
)
def test_has_nul_is_false_without_nul(value: Any) -> None:
    assert has_nul(value) is False


# ---------------------------------------------------------------- parse_bool


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (False, False),
        ("true", True),
        ("TRUE", True),
        ("True", True),
        ("tRuE", True),
        ("false", False),
        ("FALSE", False),
        ("False", False),
    ],
)
def test_parse_bool(value: Any, expected: bool) -> None:
    assert parse_bool(value) is expected


@pytest.mark.parametrize(
    "value", ["", "yes", "no", "1", "0", "t", "f", " true", "false ", 1, 0, None, [True], 1.0]
)
def test_parse_bool_refuses_anything_else(value: Any) -> None:
    assert parse_bool(value) is None


# ---------------------------------------------------------------- is_http_url


@pytest.mark.parametrize(
    "text",
    [
        "http://example.com",
        "https://example.com/a.png",
        "https://example.com/a?b=c#d",
        "HTTPS://EXAMPLE.COM/X",
        "http://127.0.0.1:8080/x",
        "http://[::1]/avatar",
        "https://user:pass@example.com/",
        "https://example.com/" + "a" * 3000,  # the length limit is the caller's
    ],
)
def test_is_http_url_accepts_absolute_http_urls(text: str) -> None:
    assert is_http_url(text) is True


@pytest.mark.parametrize(
    "text",
    [
        "",
        "example.com/a.png",
        "/relative/path.png",
        "ftp://example.com/a.png",
        "javascript:alert(1)",
        "data:image/png;base64,AAAA",
        "mailto:a@example.com",
        "https://",
        "http:///path",
        "http://:80/",
        "not a url",
        "http://exa mple.com",
        "https://example.com/a b",
        "https://example.com/\n",
        "\thttps://example.com",
        "https://example.com/\u00a0",  # a no-break space is whitespace too
        "https://[::1",  # urlsplit refuses it
    ],
)
def test_is_http_url_refuses_the_rest(text: str) -> None:
    assert is_http_url(text) is False


# ---------------------------------------------------------------- iso_date


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-02-29", date(2024, 2, 29)),
        ("  2024-02-29\n", date(2024, 2, 29)),
        ("0001-01-01", date(1, 1, 1)),
        ("9999-12-31", date(9999, 12, 31)),
        # a timestamp without offset: its date as written
        ("2024-01-01T23:59:59", date(2024, 1, 1)),
        ("2024-01-01 10:00", date(2024, 1, 1)),
        # with an offset: its date in UTC
        ("2024-01-01T00:00:00Z", date(2024, 1, 1)),
        ("2024-01-01T23:59:59+00:00", date(2024, 1, 1)),
        ("2024-01-01T23:30:00-05:00", date(2024, 1, 2)),
        ("2024-01-02T01:00:00+02:00", date(2024, 1, 1)),
        ("2024-03-01T00:30:00+01:00", date(2024, 2, 29)),
    ],
)
def test_iso_date(text: str, expected: date) -> None:
    assert iso_date(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "soon", "2024-13-01", "2023-02-29", "2024-01-32", "2024-01-01T25:00:00", "01/02/2024"],
)
def test_iso_date_refuses_what_is_not_iso_8601(text: str) -> None:
    with pytest.raises(ValueError, match=r"\S"):
        iso_date(text)


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:00:00-05:00"])
def test_iso_date_out_of_range_in_utc_is_overflow(text: str) -> None:
    with pytest.raises(OverflowError):
        iso_date(text)


# ---------------------------------------------------------------- parse_number


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (0, 0),
        (5, 5),
        (-5, -5),
        (MAX_INT, MAX_INT),
        (MIN_INT, MIN_INT),
        (1.5, 1.5),
        (-0.25, -0.25),
        (2.0, 2.0),
        (1e300, 1e300),
        ("12", 12),
        (" -7 ", -7),
        ("+3", 3),
        ("007", 7),
        (str(MAX_INT), MAX_INT),
        (str(MIN_INT), MIN_INT),
        ("1.5", 1.5),
        ("4.5", 4.5),
        (".5", 0.5),
        ("5.", 5.0),
        ("1e3", 1000.0),
        ("-2.5E-1", -0.25),
        ("12.0", 12.0),
    ],
)
def test_parse_number(value: Any, expected: float) -> None:
    number = parse_number(value)
    assert number == expected
    # an int for an int or integral text ("12", not "12.0" nor "1e3"), a float otherwise
    assert type(number) is type(expected)


@pytest.mark.parametrize(
    "value",
    [
        True,
        False,
        None,
        "",
        "   ",
        "abc",
        "1_000",
        "1,000",
        "0x10",
        "1e",
        "--1",
        "1.2.3",
        "nan",
        "NaN",
        "inf",
        "-Infinity",
        "1e400",
        math.nan,
        math.inf,
        -math.inf,
        "\uff11\uff12",  # fullwidth digits
        "\u0663",
        [1],
        {"n": 1},
    ],
)
def test_parse_number_refuses_non_numbers(value: Any) -> None:
    # the message is the value sent
    with pytest.raises(ValueError, match=f"^{re.escape(str(value))}$"):
        parse_number(value)


@pytest.mark.parametrize(
    "value",
    [
        MAX_INT + 1,
        MIN_INT - 1,
        2**64,
        -(2**100),
        str(MAX_INT + 1),
        str(MIN_INT - 1),
        "99999999999999999999",
        "9" * 5000,
        "-" + "9" * 5000,
    ],
)
def test_parse_number_beyond_64_bits_is_overflow(value: Any) -> None:
    started = time.perf_counter()
    with pytest.raises(OverflowError):
        parse_number(value)
    assert time.perf_counter() - started < 0.5
