"""The database's own ceiling for a scenario: the statements one request runs, replayed by
pgbench with no Python in between (issue 10: the target of a scenario bound by the database
becomes CEILING_SHARE of that ceiling, bench/targets.py).

The statements are recorded, not rebuilt: the service's own read path (queries.list_contacts,
queries.contact_document, on the service's own driver.AsyncpgReader) runs in this process on
a connection that records every statement and its arguments on their way to asyncpg. A request
is run until two runs in a row send the same statements (the first search of a term counts its
matches; later ones only check the cached count's generation), and the last run is kept: what
a request costs the database on a warm server. The statements keep their bind parameters:
pgbench -M prepared sends them as parameters of prepared statements, as asyncpg does, so the
server plans them as it plans the service's: the statements the service plans for their
arguments (its planned pool) run between `SET plan_cache_mode = force_custom_plan` and its
`RESET`, two statements the service does not send. Per request shape:

- a GET list or search: the scenario's own URL, parsed by parse_list_query;
- show: one statement, the contact id drawn by pgbench (`\\set contact_id random(lo, hi)`);
  two recordings with different ids must differ in that argument alone;
- filter_email_eq: the sampled emails the scenario sends; pgbench draws one per transaction
  and reads it with a \\gset query (one cheap statement more), so that all of them run on
  the same prepared statement, as on the service's connections.

Writes (create, update) are not replayed: each request writes values of its own (a new email,
a generated source_id, the merged attributes of one contact), which a script of literals would
repeat (unique violations, or one contact's attributes written over others).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from sqlalchemy.engine import make_url
from starlette.datastructures import QueryParams

from bench.load import BenchData
from bench.pgbench import (
    PgbenchResult,
    Script,
    Statement,
    drawn_id_script,
    render_script,
    run_pgbench,
    variants_script,
)
from contactdesk.contacts.filter_parse import custom_keys, parse_filter
from contactdesk.contacts.list_params import parse_list_query
from contactdesk.contacts.queries import contact_document, list_contacts
from contactdesk.driver import (
    CACHED_PLANS,
    CUSTOM_PLANS,
    PG_SERVER_SETTINGS,
    AsyncpgReader,
    ReadConnection,
)

READ_SCENARIOS = (
    "list_p1",
    "list_p1_name",
    "list_p1_company",
    "list_deep",
    "list_labels",
    "search_3plus",
    "search_short",
    "show",
    "filter_email_eq",
)


class RecordingConnection:
    """An asyncpg connection that records the statements sent through it."""

    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection
        self.statements: list[Statement] = []

    async def fetch(self, query: str, *args: Any, **options: Any) -> Any:
        self.statements.append(Statement(query, args))
        return await self.connection.fetch(query, *args, **options)

    async def fetchval(self, query: str, *args: Any, **options: Any) -> Any:
        self.statements.append(Statement(query, args))
        return await self.connection.fetchval(query, *args, **options)

    async def fetchrow(self, query: str, *args: Any, **options: Any) -> Any:
        self.statements.append(Statement(query, args))
        return await self.connection.fetchrow(query, *args, **options)

    async def execute(self, query: str, *args: Any, **options: Any) -> Any:
        self.statements.append(Statement(query, args))
        return await self.connection.execute(query, *args, **options)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.connection, name)


Call = Callable[[ReadConnection], Awaitable[object]]


@dataclass(frozen=True)
class Requests:
    """How to make a scenario's requests in-process: variants (pgbench draws one per
    transaction), or by_id, a request for any contact id of id_range (pgbench draws the id)."""

    variants: list[Call] = field(default_factory=list)
    by_id: Callable[[int], Call] | None = None
    id_range: tuple[int, int] = (0, 0)


def _filter_body(email: str) -> dict[str, Any]:
    # As the filter_email_eq scenario's Lua body in bench/__main__.py.
    return {
        "payload": [{"attribute_key": "email", "filter_operator": "equal_to", "values": [email]}]
    }


def requests_for(name: str, path: str, bench: BenchData) -> Requests:
    account = bench.account_id
    if name == "show":

        def show(contact_id: int) -> Call:
            return lambda conn: contact_document(conn, account, str(contact_id))

        return Requests(by_id=show, id_range=(bench.min_id, bench.max_id))
    if name == "filter_email_eq":
        query = replace(parse_list_query(QueryParams("")), labels=(), q="")

        def filtered(email: str) -> Call:
            body = _filter_body(email)
            if custom_keys(body):
                raise SystemExit(f"--ceiling {name}: custom attribute keys need definitions")

            async def call(conn: ReadConnection) -> object:
                return await list_contacts(
                    conn, account, query, parse_filter(body, {}, "postgresql")
                )

            return call

        return Requests(variants=[filtered(email) for email in bench.sample_emails])
    if name in READ_SCENARIOS and path:
        parts = urlsplit(path)
        query = parse_list_query(QueryParams(parts.query))
        if parts.path.endswith("/search") and not query.q:
            raise SystemExit(f"--ceiling {name}: a search without q")
        return Requests(variants=[lambda conn: list_contacts(conn, account, query)])
    raise SystemExit(
        f"--ceiling {name}: only read scenarios can be replayed ({', '.join(READ_SCENARIOS)})"
    )


async def _record_once(connection: asyncpg.Connection, call: Call) -> list[Statement]:
    recording = RecordingConnection(connection)

    @contextlib.asynccontextmanager
    async def planned_connection() -> AsyncIterator[Any]:
        # As the service's ReadPool.planned, on this one connection. The service plans only
        # the block's statements for their arguments (a search's choice of rows, not the
        # reading of them by id), so the script sets and resets the mode around them: two
        # trivial statements more than the service sends (a ceiling a little lower, never
        # higher), where setting it for the whole script would plan every statement anew.
        await connection.execute(CUSTOM_PLANS)
        recording.statements.append(Statement(CUSTOM_PLANS, ()))
        try:
            yield recording
        finally:
            await connection.execute(CACHED_PLANS)
            recording.statements.append(Statement(CACHED_PLANS, ()))

    await call(AsyncpgReader(recording, "bench-ceiling", planned_connection))
    return recording.statements


async def _record(connection: asyncpg.Connection, call: Call) -> list[Statement]:
    """The statements of one request once they no longer change from one run to the next."""
    previous: list[str] | None = None
    for _ in range(6):
        statements = await _record_once(connection, call)
        texts = [statement.sql for statement in statements]
        if texts == previous:
            return statements
        previous = texts
    raise RuntimeError("a request sent different statements on every run")


async def record_script(dsn: str, requests: Requests) -> Script:
    """The pgbench script of a scenario's requests, from the statements they sent."""
    connection = await asyncpg.connect(dsn, server_settings=PG_SERVER_SETTINGS)
    try:
        if requests.by_id is not None:
            lo, hi = requests.id_range
            if lo == hi:
                raise RuntimeError("show needs two contact ids")
            low, high = (
                await _record(connection, requests.by_id(lo)),
                await _record(connection, requests.by_id(hi)),
            )
            return drawn_id_script(low, high, lo, hi)
        recorded = [await _record(connection, call) for call in requests.variants]
        return variants_script(recorded)
    finally:
        await connection.close()


async def explain(dsn: str, statements: list[Statement]) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of each statement that reads (SET and RESET are skipped),
    with the recorded arguments, on a connection set up as the service's."""
    connection = await asyncpg.connect(dsn, server_settings=PG_SERVER_SETTINGS)
    out: list[str] = []
    try:
        for statement in statements:
            if not statement.sql.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            rows = await connection.fetch(
                "EXPLAIN (ANALYZE, BUFFERS) " + statement.sql, *statement.args
            )
            out.append(f"-- arguments: {list(statement.args)!r}\n{statement.sql}\n")
            out.append("\n".join(row[0] for row in rows) + "\n")
    finally:
        await connection.close()
    return "\n".join(out)


@dataclass
class Ceiling:
    name: str
    result: PgbenchResult
    script: Script
    report: str  # the first script, the command and the EXPLAIN output

    def as_json(self) -> dict[str, Any]:
        return {
            "tps": round(self.result.tps, 1),
            "latency_avg_ms": round(self.result.latency_ms, 2),
            "p99_ms": None if self.result.p99_ms is None else round(self.result.p99_ms, 2),
            "transactions": self.result.transactions,
            "failed": self.result.failed,
            "command": self.result.command,
            "statements": [s.sql for s in self.script.statements],
        }


def measure(
    url: str,
    bench: BenchData,
    name: str,
    path: str,
    folder: Path,
    *,
    duration: int,
    warmup: int,
    connections: int,
) -> Ceiling:
    """Record a scenario's statements, replay them with pgbench (warmup seconds unrecorded,
    then duration seconds; the scripts are kept in folder), then EXPLAIN (ANALYZE, BUFFERS)
    them on the warm cache."""
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    script = asyncio.run(record_script(dsn, requests_for(name, path, bench)))
    if warmup > 0:
        run_pgbench(url, [script], folder, duration=warmup, connections=connections)
    result = run_pgbench(url, [script], folder, duration=duration, connections=connections)
    plans = asyncio.run(explain(dsn, script.statements))
    text, _ = render_script(script, "s0")
    report = (
        f"=== {name}: pgbench {result.tps:.1f} tps, latency avg {result.latency_ms:.2f} ms, "
        f"p99 {result.p99_ms} ms, {result.transactions} transactions, {result.failed} failed\n"
        f"{result.command}\n\n-- {folder / 'script0.sql'}:\n{text}\n"
        "-- EXPLAIN (ANALYZE, BUFFERS) after the pgbench run, with the recorded arguments (the\n"
        "-- plan for these values; a prepared statement may run a generic plan instead):\n"
        f"{plans}\n"
    )
    return Ceiling(name, result, script, report)
