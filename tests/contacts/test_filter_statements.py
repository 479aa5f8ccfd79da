"""A filter's statements (issue 10): a condition's values are one bind parameter, so a statement's
SQL, size and compile time do not depend on how many values a condition has; statements are
built and compiled once per shape, and the caches that keep them are bounded in bytes.

Semantics are tests/contacts/test_filter.py's and test_caps.py's; the parser's shapes are
tests/unit/test_filter_parse.py's.
"""

from __future__ import annotations

import gc
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import sqlite
from starlette.datastructures import QueryParams

from contactdesk import driver
from contactdesk.contacts import queries
from contactdesk.contacts.filter_parse import Filter, parse_filter
from contactdesk.contacts.filter_sql import JsonArray, filter_condition
from contactdesk.contacts.list_params import parse_list_query
from contactdesk.db import Base
from contactdesk.driver import BoundedCache
from contactdesk.models import CustomAttributeDefinition
from tests.support import Api

BACKENDS = ("sqlite", "postgresql")
SQLITE = sqlite.dialect()
DEFINITIONS = {
    key: CustomAttributeDefinition(
        account_id=1,
        attribute_key=key,
        attribute_display_name=key,
        attribute_display_type=display_type,
        attribute_values=[],
    )
    for key, display_type in (("info", "text"), ("seats", "number"), ("renewal", "date"))
}


def cond(key: str, operator: str, values: Any = None, joiner: str | None = "AND") -> dict[str, Any]:
    condition: dict[str, Any] = {"attribute_key": key, "filter_operator": operator}
    if values is not None:
        condition["values"] = values
    condition["query_operator"] = joiner
    return condition


def payload(*conditions: dict[str, Any]) -> dict[str, Any]:
    return {"payload": [*conditions[:-1], {**conditions[-1], "query_operator": None}]}


def texts(count: int, prefix: str = "v") -> list[str]:
    return [f"{prefix}{n:03d}" + "w" * 140 for n in range(count)]


def every_kind(count: int) -> dict[str, Any]:
    """50 conditions (the cap) of the kinds with the longest SQL, `count` values each."""
    kinds = [
        cond("name", "contains", texts(count)),
        cond("name", "not_equal_to", texts(count), "OR"),
        cond("phone_number", "starts_with", [f"+{n}" for n in range(count)]),
        cond("labels", "equal_to", texts(count)),
        cond("info", "does_not_contain", texts(count), "OR"),
        cond("seats", "not_equal_to", list(range(count))),
        cond("renewal", "equal_to", ["2030-01-01"] * count),
        cond("blocked", "not_equal_to", [True] * count, "OR"),
    ]
    return payload(*(kinds[n % len(kinds)] for n in range(50)))


QUERY = parse_list_query(QueryParams([]))


def page_statement(backend: str, filter_: Filter) -> sa.Select[Any]:
    total = "filter" if filter_.unique_lookup else ""
    plan = queries._Plan({"account_id": 1, **filter_.params}, "", None, total, filter_)
    return queries._page_statement(backend, plan, QUERY, "offset", False)


def sql_of(backend: str, statement: sa.Select[Any]) -> str:
    if backend == "postgresql":
        return "".join(driver.compile_for_asyncpg(statement).pieces)
    return statement.compile(dialect=SQLITE).string


@pytest.fixture
def fresh_caches(monkeypatch: pytest.MonkeyPatch) -> None:
    """Empty statement caches for the test (the process's own are put back after it)."""
    monkeypatch.setattr(queries, "_STATEMENTS", BoundedCache(queries.STATEMENT_CACHE_BYTES))


# ---------------------------------------------------------------- one parameter per condition


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_sql_does_not_depend_on_how_many_values(backend: str, fresh_caches: None) -> None:
    one = parse_filter(every_kind(1), DEFINITIONS, backend)
    hundred = parse_filter(every_kind(100), DEFINITIONS, backend)
    assert one.shape == hundred.shape
    assert set(one.params) == set(hundred.params)
    # one parameter per condition that takes values, plus the custom keys
    assert {name for name in hundred.params if not name.endswith("_key")} == {
        f"f{n}" for n in range(50)
    }
    statement = page_statement(backend, hundred)
    assert page_statement(backend, one) is statement  # the same shape: the same statement
    sql = sql_of(backend, statement)
    assert len(sql) < 32_000  # the filter once made 280,000 (and 4 MB in memory)
    assert "_0" not in "".join(hundred.params)  # no parameter per value


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_filter_at_the_caps_builds_and_compiles_in_milliseconds(
    backend: str, fresh_caches: None
) -> None:
    """The event loop runs this for a new shape: 3-20 ms of CPU here, once; 130-430 ms (and a
    quarter of a second more per statement variant) when every value had its own LIKE."""
    filter_ = parse_filter(every_kind(100), DEFINITIONS, backend)
    took = []
    for _ in range(3):
        queries._STATEMENTS.clear()
        started = time.process_time()
        sql_of(backend, page_statement(backend, filter_))
        took.append(time.process_time() - started)
    assert min(took) < 0.1, took


def test_postgresql_binds_arrays() -> None:
    filter_ = parse_filter(
        payload(
            cond("email", "equal_to", ["ADA@engines.io", "bo@sheep.org"], "OR"),
            cond("phone_number", "equal_to", ["+1415"]),
        ),
        {},
        "postgresql",
    )
    assert filter_.unique_lookup  # counted with the page, as before
    statement = page_statement("postgresql", filter_)
    compiled = driver.compile_for_asyncpg(statement)
    sql = "".join(compiled.pieces)
    # the unique indexes answer `= ANY($n)` as they answered IN: see docs/decisions.md; one
    # value alone is a scalar, for the cached plan of a unique lookup (filter_parse.UNIQUE_KEYS)
    assert "contacts.email = ANY ($" in sql
    assert "contacts.phone_number = $" in sql
    _, args = compiled.run({"account_id": 1, "limit": 26, "offset": 0, **filter_.params})
    assert ["ada@engines.io", "bo@sheep.org"] in args
    assert "+1415" in args


def test_sqlite_binds_json_arrays() -> None:
    bind = JsonArray().process_bind_param(["a\\b", 'quo"te', "ünï"], SQLITE)
    assert bind is not None
    assert orjson.loads(bind) == ["a\\b", 'quo"te', "ünï"]
    assert JsonArray().process_bind_param([True, False, 1.5], SQLITE) == "[true,false,1.5]"
    filter_ = parse_filter(
        payload(cond("name", "contains", ["a", "b"]), cond("email", "not_equal_to", ["x"])),
        {},
        "sqlite",
    )
    sql = sql_of("sqlite", page_statement("sqlite", filter_))
    assert "AS MATERIALIZED \n(SELECT value FROM json_each(?))" in sql  # patterns read once
    assert "LIKE f0_patterns.value ESCAPE '\\'" in sql
    assert "contacts.email IN (SELECT value FROM json_each(?))) IS NOT 1" in sql


# ---------------------------------------------------------------- built and compiled once


async def test_a_repeated_shape_builds_and_compiles_nothing(
    api: Api, monkeypatch: pytest.MonkeyPatch, fresh_caches: None
) -> None:
    """The same shape with other values, and other counts of them: no statement is built
    (filter_condition is where every filter statement starts) and none is compiled."""
    await api.create_contact(name="Ada Lovelace", email="ada@engines.io")
    built: list[Filter] = []
    original: Callable[..., Any] = filter_condition

    def counting(backend: str, filter_: Filter) -> Any:
        built.append(filter_)
        return original(backend, filter_)

    monkeypatch.setattr(queries, "filter_condition", counting)
    compiled_before = 0

    def compiled() -> int:
        return len(driver._COMPILED) + len(driver._CORE_COMPILED)

    for round_, count in enumerate((3, 100, 1, 57)):
        body = payload(
            cond("name", "contains", [*texts(count - 1, f"r{round_}-"), "LOVE"], "AND"),
            cond("city", "not_equal_to", texts(count, f"c{round_}-"), "OR"),
            cond("identifier", "equal_to", texts(count, f"i{round_}-")),
        )
        response = await api.post("/contacts/filter", json=body)
        assert response.status_code == 200, response.text
        assert [c["name"] for c in response.json()["payload"]] == ["Ada Lovelace"]
        if round_ == 0:
            assert len(built) == 2  # the page's statement and the count's
            compiled_before = compiled()
    assert len(built) == 2
    assert compiled() == compiled_before


# ---------------------------------------------------------------- the caches, in bytes


def test_a_bounded_cache_keeps_its_byte_budget_least_recently_used_first() -> None:
    cache: BoundedCache[str, int] = BoundedCache(100, cost=lambda value: value)
    cache["a"] = 40
    cache["b"] = 40
    assert cache.get("a") == 40  # a is now the most recently used
    cache["c"] = 40  # 120 > 100: b goes
    assert (cache.get("b"), cache.get("a"), cache.get("c")) == (None, 40, 40)
    assert (len(cache), cache.bytes) == (2, 80)
    cache.put("a", 1, 10)  # replacing an entry replaces its cost
    assert cache.bytes == 50
    cache.put("huge", 0, 1000)  # the newest entry stays, even alone past the budget
    assert (len(cache), cache.bytes, cache.get("huge")) == (1, 1000, 0)
    cache.clear()
    assert (len(cache), cache.bytes) == (0, 0)


def held_by(build: Callable[[], Any]) -> int:
    """Bytes still allocated after build() (what it returned, and whatever it cached)."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = build()
        gc.collect()
        used: int = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    del kept
    return used


HEAVY = {
    "name contains": cond("name", "contains", texts(100)),
    "labels not_equal_to": cond("labels", "not_equal_to", texts(100)),
    "custom text does_not_contain": cond("info", "does_not_contain", texts(100)),
    "custom number not_equal_to": cond("seats", "not_equal_to", list(range(100))),
    "custom date not_equal_to": cond("renewal", "not_equal_to", ["2030-01-01"] * 100),
}


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_statement_costs_less_than_its_estimate(backend: str, fresh_caches: None) -> None:
    """STATEMENT_BYTES + CONDITION_BYTES per condition covers what a cached page statement
    holds (compiled for asyncpg on PostgreSQL), for 50 conditions of each of the costliest
    kinds, and is not far above the costliest."""
    estimate = queries.STATEMENT_BYTES + 50 * queries.CONDITION_BYTES
    costs = {}
    for kind, condition in HEAVY.items():
        filter_ = parse_filter(payload(*[condition] * 50), DEFINITIONS, backend)
        page_statement(backend, filter_)  # the first imports and memoizes what all use
        queries._STATEMENTS.clear()
        driver._COMPILED.clear()

        def cached(filter_: Filter = filter_) -> None:
            statement = page_statement(backend, filter_)
            if backend == "postgresql":
                driver.compile_for_asyncpg(statement)

        costs[kind] = held_by(cached)
        assert queries._STATEMENTS.bytes == estimate
        queries._STATEMENTS.clear()
    assert max(costs.values()) <= estimate, (costs, estimate)
    assert max(costs.values()) > estimate / 3, (costs, estimate)


def test_a_compiled_statement_costs_less_than_its_estimate(fresh_caches: None) -> None:
    """CORE_BYTES_PER_SQL_CHAR covers what SQLAlchemy's compiled cache holds for a statement
    on SQLite: its cache key, its compiled form, and the statement, which it keeps alive."""
    filter_ = parse_filter(every_kind(100), DEFINITIONS, "sqlite")
    cache: BoundedCache[Any, Any] = BoundedCache(10**9, driver._CORE_COMPILED.cost)
    engine = sa.create_engine("sqlite://")
    Base.metadata.create_all(engine)
    params = {"account_id": 1, "limit": 26, "offset": 0, **filter_.params}
    options = {"compiled_cache": cache}
    with engine.connect() as connection:
        # the first one imports and memoizes what every one uses
        connection.execute(page_statement("sqlite", filter_), params, execution_options=options)
        queries._STATEMENTS.clear()
        cache.clear()

        def compiled() -> None:
            statement = page_statement("sqlite", filter_)
            queries._STATEMENTS.clear()  # the compiled cache alone keeps it now
            connection.execute(statement, params, execution_options=options).all()

        used = held_by(compiled)
    engine.dispose()
    assert len(cache) == 1
    assert cache.bytes / 3 < used <= cache.bytes, (used, cache.bytes)
