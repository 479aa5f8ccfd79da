"""Unit tests of contactdesk.contacts.filter_parse: POST /contacts/filter's payload parser.

tests/contacts/test_filter.py runs the same rules end to end; here the parser is called
directly, with custom attribute definitions built in memory (no session, no database).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from contactdesk.contacts.filter_parse import Filter, custom_keys, parse_filter
from contactdesk.errors import InvalidParameter
from contactdesk.models import CustomAttributeDefinition

BACKENDS = ("sqlite", "postgresql")
ABSENT = object()
STANDARD = (
    "name,phone_number,email,identifier,country_code,city,company,labels,created_at,"
    "last_activity_at,blocked"
)
TEXT_OPS = "equal_to,not_equal_to,contains,does_not_contain"
PRESENCE_OPS = "is_present,is_not_present"
# The operators each key allows, in the order the error message lists them.
STANDARD_OPERATORS = {
    "name": f"{TEXT_OPS},{PRESENCE_OPS}",
    "phone_number": f"{TEXT_OPS},starts_with,{PRESENCE_OPS}",
    "email": f"{TEXT_OPS},{PRESENCE_OPS}",
    "identifier": f"equal_to,not_equal_to,{PRESENCE_OPS}",
    "country_code": f"equal_to,not_equal_to,{PRESENCE_OPS}",
    "city": f"{TEXT_OPS},{PRESENCE_OPS}",
    "company": f"{TEXT_OPS},{PRESENCE_OPS}",
    "labels": f"equal_to,not_equal_to,{PRESENCE_OPS}",
    "created_at": f"is_greater_than,is_less_than,days_before,{PRESENCE_OPS}",
    "last_activity_at": f"is_greater_than,is_less_than,days_before,{PRESENCE_OPS}",
    "blocked": f"equal_to,not_equal_to,{PRESENCE_OPS}",
}
STANDARD_KINDS = {
    "name": "text",
    "phone_number": "phone",
    "email": "text",
    "identifier": "text",
    "country_code": "text",
    "city": "text",
    "company": "text",
    "labels": "labels",
    "created_at": "date",
    "last_activity_at": "date",
    "blocked": "boolean",
}
NUMBER_OPS = f"equal_to,not_equal_to,is_greater_than,is_less_than,{PRESENCE_OPS}"
# custom key -> (attribute_display_type, kind, operators)
CUSTOM = {
    "info": ("text", "c_text", f"{TEXT_OPS},{PRESENCE_OPS}"),
    "site": ("link", "c_text", f"{TEXT_OPS},{PRESENCE_OPS}"),
    "tier": ("list", "c_list", f"equal_to,not_equal_to,{PRESENCE_OPS}"),
    "seats": ("number", "c_number", NUMBER_OPS),
    "price": ("currency", "c_number", NUMBER_OPS),
    "share": ("percent", "c_number", NUMBER_OPS),
    "signed_in_at": (
        "date",
        "c_date",
        f"equal_to,not_equal_to,is_greater_than,is_less_than,days_before,{PRESENCE_OPS}",
    ),
    "trial": ("checkbox", "c_boolean", f"equal_to,not_equal_to,{PRESENCE_OPS}"),
}


def definition(key: str, display_type: str) -> CustomAttributeDefinition:
    return CustomAttributeDefinition(
        account_id=1,
        attribute_key=key,
        attribute_display_name=key.title(),
        attribute_display_type=display_type,
        attribute_values=[],
    )


DEFINITIONS = {key: definition(key, display_type) for key, (display_type, *_) in CUSTOM.items()}


def cond(key: Any, operator: Any, values: Any = ABSENT, joiner: Any = ABSENT) -> dict[str, Any]:
    condition: dict[str, Any] = {"attribute_key": key, "filter_operator": operator}
    if values is not ABSENT:
        condition["values"] = values
    if joiner is not ABSENT:
        condition["query_operator"] = joiner
    return condition


def parse(*conditions: Any, backend: str = "sqlite") -> Filter:
    return parse_filter({"payload": list(conditions)}, DEFINITIONS, backend)


def one(condition: dict[str, Any], backend: str = "sqlite") -> tuple[tuple[Any, ...], Any]:
    """The single condition's shape entry and its bound value (params["f0"])."""
    parsed = parse(condition, backend=backend)
    ((entry,),) = parsed.shape
    return entry, parsed.params.get("f0")


def error(body: Any, backend: str = "sqlite") -> str:
    with pytest.raises(InvalidParameter) as caught:
        parse_filter(body, DEFINITIONS, backend)
    assert caught.value.status_code == 422
    return caught.value.message


def value_error(*conditions: Any) -> str:
    return error({"payload": list(conditions)})


def invalid_value(key: str, detail: str = "") -> str:
    message = f"Invalid value. The values provided for {key} are invalid"
    return f"{message}: {detail}" if detail else message


def epoch(day: date) -> int:
    return int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())


# ---------------------------------------------------------------- the payload


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_empty_payload_matches_everything(backend: str) -> None:
    parsed = parse_filter({"payload": []}, {}, backend)
    assert parsed == Filter((), {})
    assert parsed.unique_lookup is False


@pytest.mark.parametrize("body", [{}, {"conditions": []}, {"page": 1}])
def test_payload_is_required(body: dict[str, Any]) -> None:
    assert error(body) == "payload is required: a list of filter conditions"


@pytest.mark.parametrize("payload", [{"a": 1}, "name", None, 5, True])
def test_payload_must_be_a_list(payload: Any) -> None:
    assert error({"payload": payload}) == "payload must be a list of filter conditions"


def test_at_most_50_conditions() -> None:
    many = [cond("name", "equal_to", ["a"], "OR") for _ in range(49)]
    parsed = parse(*many, cond("name", "equal_to", ["a"]))
    assert len(parsed.shape) == 50
    too_many = [*many, cond("name", "equal_to", ["a"], "OR"), cond("name", "equal_to", ["a"])]
    assert value_error(*too_many) == "payload has more than 50 conditions"


@pytest.mark.parametrize("condition", ["name", None, 5, [], ["name", "equal_to"]])
def test_a_condition_must_be_an_object(condition: Any) -> None:
    assert value_error(condition) == "Condition 1 must be a JSON object"
    first = cond("name", "equal_to", ["a"], "AND")
    assert value_error(first, condition) == "Condition 2 must be a JSON object"


# ---------------------------------------------------------------- keys and operators


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("colour", "colour"),
        ("Name", "Name"),
        ("", ""),
        ("free_form", "free_form"),  # not defined in the account
        (None, "None"),
        (5, "5"),
        (["name"], "['name']"),
        ({"a": 1}, "{'a': 1}"),
    ],
)
def test_unknown_key(key: Any, shown: str) -> None:
    assert value_error(cond(key, "equal_to", ["x"])) == (
        f"Invalid attribute key - [{shown}]. The key should be one of [{STANDARD}] "
        "or a custom attribute defined in the account."
    )


def test_a_missing_key_is_unknown() -> None:
    message = value_error({"filter_operator": "equal_to", "values": ["x"]})
    assert message.startswith("Invalid attribute key - [None].")


def test_a_custom_key_needs_its_definition_and_a_known_type() -> None:
    body = {"payload": [cond("seats", "equal_to", ["1"])]}
    unknown = (
        f"Invalid attribute key - [seats]. The key should be one of [{STANDARD}] "
        "or a custom attribute defined in the account."
    )
    for definitions in ({}, {"seats": definition("seats", "hologram")}):
        with pytest.raises(InvalidParameter) as caught:
            parse_filter(body, definitions, "sqlite")
        assert caught.value.message == unknown
    # the definition's type decides the kind, whatever the key is called
    parsed = parse_filter(body, {"seats": definition("seats", "list")}, "sqlite")
    assert parsed.shape == ((("c_list", "custom", "equal_to", "f0"),),)
    assert parsed.params == {"f0": ["1"], "f0_key": '$."seats"'}


ALL_OPERATORS = [
    "equal_to",
    "not_equal_to",
    "contains",
    "does_not_contain",
    "starts_with",
    "is_greater_than",
    "is_less_than",
    "days_before",
    "is_present",
    "is_not_present",
]
KEY_OPERATORS = [*STANDARD_OPERATORS.items(), *((key, spec[2]) for key, spec in CUSTOM.items())]
REFUSED_OPERATORS: list[tuple[str, Any, str]] = [
    (key, operator, operators)
    for key, operators in KEY_OPERATORS
    for operator in [*ALL_OPERATORS, "like", "EQUAL_TO", "", None, 5, ["equal_to"]]
    if operator not in operators.split(",")
]
SAMPLE_VALUES: dict[str, list[Any]] = {
    "created_at": ["2024-01-01"],
    "last_activity_at": ["2024-01-01"],
    "signed_in_at": ["2024-01-01"],
    "blocked": [True],
    "trial": [True],
    "seats": [1],
    "price": [1],
    "share": [1],
}


@pytest.mark.parametrize(("key", "operator", "operators"), REFUSED_OPERATORS)
def test_operator_not_allowed_for_the_key(key: str, operator: Any, operators: str) -> None:
    assert value_error(cond(key, operator, ["x"])) == (
        f"Invalid operator. The allowed operators for {key} are [{operators}]."
    )


@pytest.mark.parametrize(
    ("key", "operator"),
    [(key, operator) for key, operators in KEY_OPERATORS for operator in operators.split(",")],
)
def test_every_allowed_operator_is_accepted(key: str, operator: str) -> None:
    values = [1] if operator == "days_before" else SAMPLE_VALUES.get(key, ["x"])
    ((entry,),) = parse(cond(key, operator, values)).shape
    assert entry[1:3] == ("custom" if key in CUSTOM else key, operator)


def test_operator_message_for_identifier() -> None:
    assert value_error(cond("identifier", "contains", ["a"])) == (
        "Invalid operator. The allowed operators for identifier are "
        "[equal_to,not_equal_to,is_present,is_not_present]."
    )


@pytest.mark.parametrize("operator", ["is_present", "is_not_present"])
@pytest.mark.parametrize("key", STANDARD_KINDS)
@pytest.mark.parametrize("backend", BACKENDS)
def test_presence_works_on_every_standard_key(operator: str, key: str, backend: str) -> None:
    parsed = parse(cond(key, operator), backend=backend)
    assert parsed.shape == (((STANDARD_KINDS[key], key, operator, "f0"),),)
    assert parsed.params == {}


@pytest.mark.parametrize("operator", ["is_present", "is_not_present"])
@pytest.mark.parametrize("key", CUSTOM)
def test_presence_works_on_every_custom_key(operator: str, key: str) -> None:
    kind = CUSTOM[key][1]
    parsed = parse(cond(key, operator))
    assert parsed.shape == (((kind, "custom", operator, "f0"),),)
    assert parsed.params == {"f0_key": f'$."{key}"'}
    parsed = parse(cond(key, operator), backend="postgresql")
    assert parsed.params == {"f0_key": key}


@pytest.mark.parametrize("values", [["not a date"], [], None, "", [None, 1], [{"a": 1}]])
def test_presence_ignores_values(values: Any) -> None:
    parsed = parse(cond("created_at", "is_present", values))
    assert parsed.shape == ((("date", "created_at", "is_present", "f0"),),)


def test_a_standard_key_wins_over_a_definition_of_the_same_name() -> None:
    definitions = {"name": definition("name", "number")}
    parsed = parse_filter({"payload": [cond("name", "contains", ["A"])]}, definitions, "sqlite")
    assert parsed.shape == ((("text", "name", "contains", "f0"),),)
    assert parsed.params == {"f0": ["%a%"]}


# ---------------------------------------------------------------- query_operator


def test_a_query_operator_is_needed_between_conditions() -> None:
    a, b = cond("name", "equal_to", ["a"]), cond("name", "equal_to", ["b"])
    message = "Condition 1 needs a query_operator (AND or OR) to join the next one"
    assert value_error(a, b) == message
    assert value_error({**a, "query_operator": ""}, b) == message
    assert value_error({**a, "query_operator": None}, b) == message
    joined = cond("name", "equal_to", ["a"], "AND")
    assert value_error(joined, a, b) == message.replace("Condition 1", "Condition 2")


@pytest.mark.parametrize("joiner", ["AND", "OR", "and", " or "])
def test_the_last_condition_cannot_have_a_query_operator(joiner: str) -> None:
    assert value_error(cond("name", "equal_to", ["a"], joiner)) == (
        "The last condition cannot have a query_operator: there is no condition after it"
    )


@pytest.mark.parametrize("joiner", [ABSENT, None, ""])
def test_the_last_condition_may_have_an_empty_query_operator(joiner: Any) -> None:
    parsed = parse(cond("name", "equal_to", ["a"], joiner))
    assert parsed.shape == ((("text", "name", "equal_to", "f0"),),)


@pytest.mark.parametrize("joiner", ["XOR", "&&", "NOT", "AND OR", 1, True, ["AND"], {"op": "OR"}])
@pytest.mark.parametrize("last", [False, True])
def test_query_operator_must_be_and_or_or(joiner: Any, last: bool) -> None:
    conditions = [cond("name", "equal_to", ["a"], joiner)]
    if not last:
        conditions.append(cond("name", "equal_to", ["b"]))
    assert value_error(*conditions) == 'Query operator must be either "AND" or "OR".'


def test_a_condition_is_checked_key_operator_joiner_then_values() -> None:
    assert value_error(cond("colour", "like", [], "XOR")).startswith("Invalid attribute key")
    assert value_error(cond("name", "like", [], "XOR")).startswith("Invalid operator")
    assert value_error(cond("name", "equal_to", [], "XOR")).startswith("Query operator")
    assert value_error(cond("name", "equal_to", [])) == invalid_value("name")


# ---------------------------------------------------------------- shape: AND binds tighter


def test_and_binds_tighter_than_or() -> None:
    # name = cy OR (email contains engines AND labels = vip)
    parsed = parse(
        cond("name", "equal_to", ["CY"], "OR"),
        cond("email", "contains", ["engines"], "AND"),
        cond("labels", "equal_to", ["VIP"]),
    )
    assert parsed.shape == (
        (("text", "name", "equal_to", "f0"),),
        (("text", "email", "contains", "f1"), ("labels", "labels", "equal_to", "f2")),
    )
    assert parsed.params == {"f0": ["cy"], "f1": ["%engines%"], "f2": ["vip"]}
    # (labels = support AND name = cy) OR blocked = true, joiners in lower case
    parsed = parse(
        cond("labels", "equal_to", ["support"], "and"),
        cond("name", "equal_to", ["cy"], "or"),
        cond("blocked", "equal_to", [True]),
    )
    assert parsed.shape == (
        (("labels", "labels", "equal_to", "f0"), ("text", "name", "equal_to", "f1")),
        (("boolean", "blocked", "equal_to", "f2"),),
    )


@pytest.mark.parametrize(
    ("joiners", "groups"),
    [
        (["AND", "AND"], [["f0", "f1", "f2"]]),
        (["OR", "OR"], [["f0"], ["f1"], ["f2"]]),
        (["AND", "OR"], [["f0", "f1"], ["f2"]]),
        (["OR", "AND"], [["f0"], ["f1", "f2"]]),
        ([" Or ", "aNd"], [["f0"], ["f1", "f2"]]),
    ],
)
def test_groups(joiners: list[str], groups: list[list[str]]) -> None:
    conditions = [cond("name", "equal_to", [str(i)], joiner) for i, joiner in enumerate(joiners)]
    parsed = parse(*conditions, cond("name", "equal_to", ["last"]))
    assert [[entry[3] for entry in group] for group in parsed.shape] == groups


# ---------------------------------------------------------------- values: presence and counts


@pytest.mark.parametrize("values", [ABSENT, None, []])
def test_values_are_required(values: Any) -> None:
    assert value_error(cond("name", "equal_to", values)) == invalid_value("name")


@pytest.mark.parametrize("values", ["Ada", "", 5, 0, True, {"a": 1}, "9" * 5000])
@pytest.mark.parametrize("key", ["name", "created_at", "seats", "labels", "blocked"])
def test_values_must_be_a_list(key: str, values: Any) -> None:
    # Contract §4.5: a wrong value type is a 422 (a string was once read as a one-value list).
    operator = "is_less_than" if key in ("created_at", "seats") else "equal_to"
    assert value_error(cond(key, operator, values)) == invalid_value(key, "values must be a list")


def test_at_most_100_values() -> None:
    values = [f"v{n}" for n in range(100)]
    assert one(cond("name", "equal_to", values))[1] == values
    assert value_error(cond("name", "equal_to", [*values, "v100"])) == invalid_value(
        "name", "at most 100 values"
    )


# ---------------------------------------------------------------- text, labels and phone values


@pytest.mark.parametrize(
    ("key", "operator", "values", "bound"),
    [
        ("name", "equal_to", ["Ada Lovelace"], ["ada lovelace"]),
        ("name", "not_equal_to", ["CY", " di "], ["cy", "di"]),
        (
            "email",
            "equal_to",
            ["ADA@engines.io", "bo@sheep.org"],
            ["ada@engines.io", "bo@sheep.org"],
        ),
        ("identifier", "equal_to", ["ADA-1", "bo-2"], ["ada-1", "bo-2"]),
        ("country_code", "equal_to", ["gb", "FR"], ["gb", "fr"]),
        ("city", "equal_to", ["PARIS"], ["paris"]),
        ("company", "equal_to", ["Analytical 100%"], ["analytical 100%"]),  # no LIKE, no escape
        ("labels", "equal_to", ["SUPPORT", "Über"], ["support", "über"]),
        ("labels", "not_equal_to", ["VIP"], ["vip"]),
        ("name", "equal_to", [12], ["12"]),
        ("name", "equal_to", ["x" * 1024], ["x" * 1024]),
        # custom text and link compare case-insensitively, list values case-sensitively
        ("info", "equal_to", ["Test Custom DATA"], ["test custom data"]),
        ("site", "not_equal_to", ["HTTPS://X.IO"], ["https://x.io"]),
        ("tier", "equal_to", ["Gold", " platinum "], ["Gold", "platinum"]),
        ("tier", "not_equal_to", ["GOLD"], ["GOLD"]),
    ],
)
def test_text_values(key: str, operator: str, values: list[Any], bound: list[str]) -> None:
    entry, value = one(cond(key, operator, values))
    assert entry[2:] == (operator, "f0")
    assert value == bound


@pytest.mark.parametrize(
    ("key", "operator", "values", "patterns"),
    [
        ("name", "contains", ["LOVE", "peep"], ["%love%", "%peep%"]),
        ("name", "does_not_contain", ["a"], ["%a%"]),
        ("name", "contains", ["_"], ["%\\_%"]),
        ("name", "contains", ["o_p"], ["%o\\_p%"]),
        ("name", "contains", ["%"], ["%\\%%"]),
        ("company", "contains", ["100%"], ["%100\\%%"]),
        ("city", "contains", ["a\\b"], ["%a\\\\b%"]),
        ("email", "contains", [" @ENGINES "], ["%@engines%"]),
        ("info", "contains", ["DATA"], ["%data%"]),
        ("info", "does_not_contain", ["50%_off"], ["%50\\%\\_off%"]),
        # phone: contains keeps the text as sent, starts_with adds the + like equality
        ("phone_number", "contains", ["5555"], ["%5555%"]),
        ("phone_number", "contains", ["+44"], ["%+44%"]),
        ("phone_number", "starts_with", ["+1415"], ["+1415%"]),
        ("phone_number", "starts_with", ["1415"], ["+1415%"]),
        ("phone_number", "starts_with", ["44", "+1415555999"], ["+44%", "+1415555999%"]),
        ("phone_number", "starts_with", ["1_4"], ["+1\\_4%"]),
    ],
)
def test_like_patterns(key: str, operator: str, values: list[Any], patterns: list[str]) -> None:
    parsed = parse(cond(key, operator, values))
    ((entry,),) = parsed.shape
    assert entry[2:] == (operator, "f0")  # no value count: the patterns are one parameter
    bound = {name: value for name, value in parsed.params.items() if name != "f0_key"}
    assert bound == {"f0": patterns}


@pytest.mark.parametrize(
    ("operator", "values", "bound"),
    [
        ("equal_to", ["+14155550100"], ["+14155550100"]),
        ("equal_to", ["14155550100"], ["+14155550100"]),  # a missing + is added
        ("equal_to", ["++1415"], ["+1415"]),
        ("equal_to", [" 1+415 "], ["+1415"]),
        ("not_equal_to", ["+14155550100", 4420], ["+14155550100", "+4420"]),
    ],
)
def test_phone_equality_is_normalised_to_a_plus(
    operator: str, values: list[Any], bound: list[str]
) -> None:
    entry, found = one(cond("phone_number", operator, values))
    if entry[0] == "one_unique":  # one value for equal_to: bound alone (see the next test)
        found = [found]
    assert found == bound


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("key", ["email", "phone_number"])
def test_equality_on_a_unique_key_with_one_value_binds_it_alone(key: str, backend: str) -> None:
    """A unique lookup's plan is cached: `email = $1` is costed at one row (and its cached
    plan is used), `email = ANY($1)` at several (and every execution was planned anew)."""
    entry, bound = one(cond(key, "equal_to", ["+1415" if key == "phone_number" else "A@b"]))
    assert entry == ("one_unique", key, "equal_to", "f0")
    assert bound == ("+1415" if key == "phone_number" else "a@b")
    kind = "text" if key == "email" else "phone"
    # two values are a list, one parameter as for every other key
    entry, bound = one(cond(key, "equal_to", ["1", "2"]), backend)
    assert entry == (kind, key, "equal_to", "f0")
    assert isinstance(bound, list)
    for operator in ("not_equal_to", "contains"):
        entry, bound = one(cond(key, operator, ["1"]), backend)
        assert entry == (kind, key, operator, "f0")
        assert isinstance(bound, list)
    assert parse(cond(key, "equal_to", ["1"])).unique_lookup


@pytest.mark.parametrize(
    ("value", "detail"),
    [
        (True, "True is not a string"),
        (None, "None is not a string"),
        (1.5, "1.5 is not a string"),
        ({"a": 1}, "{'a': 1} is not a string"),
        (["nested"], "['nested'] is not a string"),
        ("", "'' is blank or not a usable string"),
        ("   ", "'   ' is blank or not a usable string"),
        ("a\x00b", "'a\\x00b' is blank or not a usable string"),
        ("x" * 1025, "'" + "x" * 56 + "... is blank or not a usable string"),
    ],
)
@pytest.mark.parametrize(
    ("key", "operator"),
    [
        ("name", "equal_to"),
        ("name", "contains"),
        ("email", "equal_to"),
        ("labels", "equal_to"),
        ("phone_number", "starts_with"),
        ("tier", "equal_to"),
        ("info", "does_not_contain"),
    ],
)
def test_bad_text_values(key: str, operator: str, value: Any, detail: str) -> None:
    assert value_error(cond(key, operator, ["fine", value])) == invalid_value(key, detail)


# ---------------------------------------------------------------- booleans


@pytest.mark.parametrize(
    ("values", "flags"),
    [
        (["true"], [True]),
        ([True], [True]),
        ([False], [False]),
        (["FALSE", " True "], [False, True]),
    ],
)
def test_boolean_values(values: Any, flags: list[bool]) -> None:
    entry, bound = one(cond("blocked", "equal_to", values))
    assert entry == ("boolean", "blocked", "equal_to", "f0")
    assert bound == flags
    # a checkbox compares with the stored JSON text
    entry, bound = one(cond("trial", "not_equal_to", values))
    assert entry == ("c_boolean", "custom", "not_equal_to", "f0")
    assert bound == ["true" if flag else "false" for flag in flags]


@pytest.mark.parametrize(
    ("value", "shown"),
    [("maybe", "'maybe'"), (1, "1"), (0, "0"), (None, "None"), ("", "''"), ([True], "[True]")],
)
@pytest.mark.parametrize("key", ["blocked", "trial"])
def test_bad_boolean_values(key: str, value: Any, shown: str) -> None:
    assert value_error(cond(key, "equal_to", [value])) == invalid_value(
        key, f"{shown} is not true or false"
    )


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize(
    ("operator", "value", "cutoff"),
    [
        ("is_less_than", "2024-01-01", date(2024, 1, 1)),
        ("is_less_than", " 2024-01-01 ", date(2024, 1, 1)),
        ("is_greater_than", "2024-01-01", date(2024, 1, 2)),  # after the whole day
        ("is_greater_than", "2024-01-01T23:59:59+00:00", date(2024, 1, 2)),
        ("is_greater_than", "2024-01-01T23:30:00-05:00", date(2024, 1, 3)),  # its UTC date
        ("is_less_than", "2024-01-02T01:00:00+02:00", date(2024, 1, 1)),
        ("is_less_than", "2024-01-01T10:00:00", date(2024, 1, 1)),
        ("is_less_than", "0001-01-01", date(1, 1, 1)),
        ("is_greater_than", "2024-02-28", date(2024, 2, 29)),
    ],
)
@pytest.mark.parametrize("key", ["created_at", "last_activity_at"])
def test_standard_dates_are_epoch_cutoffs(
    key: str, operator: str, value: str, cutoff: date
) -> None:
    entry, bound = one(cond(key, operator, [value]))
    assert entry == ("date", key, operator, "f0")
    assert bound == epoch(cutoff)
    assert type(bound) is int


def test_epoch_cutoffs_are_midnight_utc() -> None:
    assert one(cond("created_at", "is_less_than", ["2024-01-01"]))[1] == 1_704_067_200
    assert one(cond("created_at", "is_greater_than", ["2024-01-01"]))[1] == 1_704_153_600


@pytest.mark.parametrize(
    ("operator", "value", "bound"),
    [
        ("is_less_than", "2022-01-20", "2022-01-20"),
        ("is_greater_than", "2022-01-19", "2022-01-20"),
        ("is_greater_than", "2022-01-19T23:30:00-05:00", "2022-01-21"),
        ("equal_to", "2022-03-01", ["2022-03-01"]),
        ("not_equal_to", "2022-03-01T10:00:00Z", ["2022-03-01"]),
    ],
)
def test_custom_dates_compare_as_iso_dates(operator: str, value: str, bound: Any) -> None:
    entry, found = one(cond("signed_in_at", operator, [value]))
    assert entry == ("c_date", "custom", operator, "f0")
    assert found == bound


def test_custom_date_equality_takes_every_value() -> None:
    values = ["2022-03-01", "2022-03-02T10:00:00Z", " 2022-03-03 "]
    assert one(cond("signed_in_at", "equal_to", values))[1] == [
        "2022-03-01",
        "2022-03-02",
        "2022-03-03",
    ]


@pytest.mark.parametrize(
    ("value", "days"), [(3, 3), ("1", 1), (" 7 ", 7), (0, 0), (30, 30), (100_000, 100_000)]
)
def test_days_before(value: Any, days: int) -> None:
    before = datetime.now(UTC).date()
    standard = one(cond("last_activity_at", "days_before", [value]))
    custom = one(cond("signed_in_at", "days_before", [value]))
    after = datetime.now(UTC).date()
    assert standard[0] == ("date", "last_activity_at", "days_before", "f0")
    assert standard[1] in {
        epoch(before - timedelta(days=days)),
        epoch(after - timedelta(days=days)),
    }
    assert custom[0] == ("c_date", "custom", "days_before", "f0")
    assert custom[1] in {(d - timedelta(days=days)).isoformat() for d in (before, after)}


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("three", "'three'"),
        (-1, "-1"),
        ("-1", "'-1'"),
        (100_001, "100001"),
        (True, "True"),
        (1.5, "1.5"),
        ("1.5", "'1.5'"),
        ("", "''"),
        (None, "None"),
        ("\u0663", "'\u0663'"),
    ],
)
@pytest.mark.parametrize("key", ["created_at", "signed_in_at"])
def test_bad_days_before(key: str, value: Any, shown: str) -> None:
    assert value_error(cond(key, "days_before", [value])) == invalid_value(
        key, f"{shown} is not a number of days"
    )


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("not a date", "'not a date'"),
        ("2024-13-45", "'2024-13-45'"),
        ("2023-02-29", "'2023-02-29'"),
        (20240101, "20240101"),
        (None, "None"),
        (True, "True"),
        ("", "''"),
        ("0001-01-01T00:00:00+01:00", "'0001-01-01T00:00:00+01:00'"),  # before year 1 in UTC
        ("x'); DROP TABLE contacts; --", '"x\'); DROP TABLE contacts; --"'),
    ],
)
@pytest.mark.parametrize(
    ("key", "operator"),
    [
        ("created_at", "is_greater_than"),
        ("last_activity_at", "is_less_than"),
        ("signed_in_at", "is_less_than"),
        ("signed_in_at", "equal_to"),
    ],
)
def test_bad_dates(key: str, operator: str, value: Any, shown: str) -> None:
    assert value_error(cond(key, operator, [value])) == invalid_value(
        key, f"{shown} is not an ISO 8601 date"
    )


@pytest.mark.parametrize(
    ("key", "operator", "values"),
    [
        ("created_at", "is_less_than", ["2024-01-01", "2024-02-01"]),
        ("created_at", "is_greater_than", ["2024-01-01", "2024-02-01"]),
        ("last_activity_at", "days_before", [1, 2]),
        ("signed_in_at", "is_greater_than", ["2024-01-01", "2024-02-01"]),
        ("seats", "is_less_than", [1, 2]),
    ],
)
def test_comparisons_take_exactly_one_value(key: str, operator: str, values: list[Any]) -> None:
    assert value_error(cond(key, operator, values)) == invalid_value(
        key, f"{operator} takes exactly one value"
    )


# ---------------------------------------------------------------- numbers


@pytest.mark.parametrize("key", ["seats", "price", "share"])
@pytest.mark.parametrize(
    ("operator", "values", "sqlite", "postgresql"),
    [
        ("is_greater_than", [5], 5.0, Decimal("5")),
        ("is_greater_than", ["4.5"], 4.5, Decimal("4.5")),
        ("is_less_than", [" -12 "], -12.0, Decimal("-12")),
        ("is_less_than", [1e3], 1000.0, Decimal("1000.0")),
        ("equal_to", [12, "7"], [12.0, 7.0], [Decimal("12"), Decimal("7")]),
        (
            "not_equal_to",
            [5, "0.25", "1e2"],
            [5.0, 0.25, 100.0],
            [Decimal(5), Decimal("0.25"), Decimal("100.0")],
        ),
    ],
)
def test_numbers_are_floats_on_sqlite_and_decimals_on_postgresql(
    key: str, operator: str, values: list[Any], sqlite: Any, postgresql: Any
) -> None:
    entry, lite = one(cond(key, operator, values), "sqlite")
    assert entry == ("c_number", "custom", operator, "f0")
    _, pg = one(cond(key, operator, values), "postgresql")
    assert lite == sqlite
    assert pg == postgresql
    for number in lite if isinstance(lite, list) else [lite]:
        assert type(number) is float
    for number in pg if isinstance(pg, list) else [pg]:
        assert type(number) is Decimal


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("many", "'many'"),
        (True, "True"),
        (None, "None"),
        ("", "''"),
        ("nan", "'nan'"),
        ("inf", "'inf'"),
        ("1e400", "'1e400'"),
        ("1_000", "'1_000'"),
        ("0x10", "'0x10'"),
        ([1], "[1]"),
        ("9" * 30, "'" + "9" * 30 + "'"),  # beyond 64 bits
    ],
)
@pytest.mark.parametrize("operator", ["equal_to", "is_greater_than"])
@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_numbers(value: Any, shown: str, operator: str, backend: str) -> None:
    message = error({"payload": [cond("seats", operator, [value])]}, backend)
    assert message == invalid_value("seats", f"{shown} is not a number")


# ---------------------------------------------------------------- custom keys and backends


def test_custom_conditions_bind_their_key_per_backend() -> None:
    definitions = {'we"ird': definition('we"ird', "text")}
    body = {"payload": [cond('we"ird', "equal_to", ["X"])]}
    lite = parse_filter(body, definitions, "sqlite")
    assert lite.shape == ((("c_text", "custom", "equal_to", "f0"),),)
    assert lite.params == {"f0": ["x"], "f0_key": '$."weird"'}  # quotes cannot leave the path
    pg = parse_filter(body, definitions, "postgresql")
    assert pg.params == {"f0": ["x"], "f0_key": 'we"ird'}


def test_standard_filters_do_not_depend_on_the_backend() -> None:
    conditions = [
        cond("name", "contains", ["a", "b"], "AND"),
        cond("created_at", "is_greater_than", ["2024-01-01"], "OR"),
        cond("blocked", "equal_to", [True]),
    ]
    assert parse(*conditions, backend="sqlite") == parse(*conditions, backend="postgresql")


# ---------------------------------------------------------------- unique_lookup and cache_key


@pytest.mark.parametrize(
    ("conditions", "unique"),
    [
        ([cond("email", "equal_to", ["a@b"])], True),
        ([cond("phone_number", "equal_to", ["+1415"])], True),
        ([cond("email", "equal_to", ["a@b", "c@d"])], True),
        ([cond("email", "equal_to", ["a@b"], "OR"), cond("phone_number", "equal_to", ["1"])], True),
        ([cond("email", "equal_to", ["a@b"], "AND"), cond("email", "equal_to", ["c@d"])], True),
        ([], False),
        ([cond("email", "not_equal_to", ["a@b"])], False),
        ([cond("email", "contains", ["a@b"])], False),
        ([cond("email", "is_present")], False),
        ([cond("phone_number", "starts_with", ["+1"])], False),
        ([cond("identifier", "equal_to", ["x"])], False),
        ([cond("name", "equal_to", ["x"])], False),
        ([cond("email", "equal_to", ["a@b"], "AND"), cond("name", "equal_to", ["x"])], False),
        ([cond("email", "equal_to", ["a@b"], "OR"), cond("name", "equal_to", ["x"])], False),
    ],
)
def test_unique_lookup(conditions: list[dict[str, Any]], unique: bool) -> None:
    assert parse(*conditions).unique_lookup is unique


def test_the_shape_depends_on_keys_operators_and_joins_only() -> None:
    assert (
        parse(cond("name", "equal_to", ["a"])).shape
        == parse(cond("name", "equal_to", ["b", "c"])).shape
    )
    assert (
        parse(cond("name", "equal_to", ["a"])).shape
        != parse(cond("name", "not_equal_to", ["a"])).shape
    )
    # a condition's values are one bind parameter: their count is not in the shape (issue 10)
    assert (
        parse(cond("name", "contains", ["a"])).shape
        == parse(cond("name", "contains", ["a", "b"])).shape
    )
    assert (
        parse(cond("name", "contains", ["a"])).shape == parse(cond("name", "contains", ["z"])).shape
    )
    assert (
        parse(cond("name", "contains", ["a"], "OR"), cond("city", "contains", ["b"])).shape
        != parse(cond("name", "contains", ["a"], "AND"), cond("city", "contains", ["b"])).shape
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_number_of_shapes_does_not_grow_with_values(backend: str) -> None:
    """Whatever the values and their count, one shape per kind, key and operator (custom keys
    of one kind share theirs: the key is a bind parameter too), and one more for each unique
    key's equality with a single value."""
    shapes = set()
    expected = set()
    for key, operators in KEY_OPERATORS:
        kind, target = (CUSTOM[key][1], "custom") if key in CUSTOM else (STANDARD_KINDS[key], key)
        for operator in operators.split(","):
            expected.add((kind, target, operator))
            takes_one = operator in ("is_greater_than", "is_less_than", "days_before")
            for count in (1,) if takes_one else (1, 2, 37, 100):
                values: list[Any] = [f"v{n}" for n in range(count)]
                if operator == "days_before":
                    values = [count]
                elif key in SAMPLE_VALUES:
                    values = SAMPLE_VALUES[key] * count
                shapes.add(parse(cond(key, operator, values), backend=backend).shape)
    assert len(shapes) == len(expected) + 2 == 86


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (cond("name", "equal_to", ["a"]), cond("name", "equal_to", ["b"])),
        (cond("name", "equal_to", ["a"]), cond("name", "equal_to", ["a", "b"])),
        (cond("name", "contains", ["a"]), cond("name", "contains", ["b"])),
        (cond("blocked", "equal_to", [True]), cond("blocked", "equal_to", [False])),
        (cond("seats", "equal_to", [1]), cond("seats", "equal_to", [2])),
        (cond("seats", "is_less_than", ["1"]), cond("seats", "is_less_than", ["1.5"])),
        (
            cond("created_at", "is_less_than", ["2024-01-01"]),
            cond("created_at", "is_less_than", ["2024-01-02"]),
        ),
        (cond("info", "equal_to", ["a"]), cond("site", "equal_to", ["a"])),
    ],
)
def test_cache_keys_differ_for_different_values(first: Any, second: Any) -> None:
    assert parse(first).cache_key() != parse(second).cache_key()


def test_cache_keys_are_equal_for_the_same_filter() -> None:
    conditions = [cond("name", "contains", ["A"], "OR"), cond("seats", "equal_to", [1, 2])]
    key = parse(*conditions).cache_key()
    assert key == parse(*conditions).cache_key()
    assert key[0] == "filter"
    assert hash(key) == hash(parse(*conditions).cache_key())
    # the same value written differently is the same filter
    assert parse(cond("name", "equal_to", [" ADA "])).cache_key() == (
        parse(cond("name", "equal_to", ["ada"])).cache_key()
    )


# ---------------------------------------------------------------- custom_keys


@pytest.mark.parametrize(
    ("body", "needed"),
    [
        ({}, False),
        ({"payload": "x"}, False),
        ({"payload": None}, False),
        ({"payload": []}, False),
        ({"payload": [cond("name", "equal_to", ["a"])]}, False),
        ({"payload": [cond(key, "is_present") for key in STANDARD_KINDS]}, False),
        ({"payload": [cond("seats", "equal_to", [1])]}, True),
        ({"payload": [cond("name", "equal_to", ["a"], "AND"), cond("tier", "is_present")]}, True),
        ({"payload": [cond("colour", "equal_to", ["red"])]}, True),
        ({"payload": [{"filter_operator": "equal_to"}]}, True),
        ({"payload": [cond(None, "equal_to", ["a"])]}, True),
        ({"payload": ["name"]}, True),
    ],
)
def test_custom_keys(body: dict[str, Any], needed: bool) -> None:
    assert custom_keys(body) is needed
