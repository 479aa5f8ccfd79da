"""Hot reads on the database driver itself.

SQLAlchemy composes every statement (Core expressions, built once per shape and kept by the
code that builds them); on PostgreSQL the hot reads then run on asyncpg directly: each
statement is compiled once to its SQL text and parameter order, and asyncpg keeps it prepared
on each connection. The session machinery around a SQLAlchemy execution (sessions, result
metadata, row processing, the greenlet bridge) cost more CPU than the query itself
(docs/performance.md, issue 10). SQLite reads go through a SQLAlchemy Core connection, whose
compiled cache (here bounded in bytes) does the same work there.

Rows come back as tuples (asyncpg Records or SQLAlchemy Rows): read them by position.
"""

from __future__ import annotations

import asyncio
import contextlib
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import asyncpg
import orjson
import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.asyncpg import PGDialect_asyncpg
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

# Server settings of every PostgreSQL connection the service opens (db.create_engine too).
PG_SERVER_SETTINGS = {"max_parallel_workers_per_gather": "0", "jit": "off"}


def pg_server_settings(
    statement_timeout_ms: int, application_name: str = "contactdesk"
) -> dict[str, str]:
    """The session settings of the service's PostgreSQL connections: PG_SERVER_SETTINGS, the
    statement timeout (0: none) and the application name."""
    return {
        **PG_SERVER_SETTINGS,
        "statement_timeout": str(int(statement_timeout_ms)),
        "application_name": application_name,
    }


# The pool of connections that plan for the arguments (searches, filters) holds this share of
# db_pool_size (at least 2) per process.
PLANNED_POOL_SHARE = 4
# A lone connection set, then reset, to plan for the arguments (bench/ceiling.py's recorder).
CUSTOM_PLANS = "SET plan_cache_mode = force_custom_plan"
CACHED_PLANS = "RESET plan_cache_mode"


class ReadConnection(Protocol):
    """One connection a request reads with, outside any transaction of its own."""

    backend: str
    database: str  # which database (its URL without the password), for per-database caches

    async def fetch(self, statement: sa.Executable, params: Mapping[str, Any]) -> Sequence[Any]: ...

    async def fetchval(self, statement: sa.Executable, params: Mapping[str, Any]) -> Any: ...

    def custom_plans(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Statements in the block are planned for their values (PostgreSQL)."""
        ...


class WriteConnection(ReadConnection, Protocol):
    """One connection a request writes with, inside the request's transaction: the route
    commits it once (services never do); a refused write raises SQLAlchemy's IntegrityError
    whatever the driver. Rows read by position or by column name (row.email)."""

    async def fetchrow(self, statement: sa.Executable, params: Mapping[str, Any]) -> Any: ...

    def savepoint(self) -> contextlib.AbstractAsyncContextManager[None]:
        """A block whose writes are undone alone when it raises (the transaction goes on)."""
        ...

    async def commit(self) -> None: ...


@dataclass(frozen=True, slots=True)
class _Compiled:
    """A statement's SQL for asyncpg: the text pieces around the parameters SQLAlchemy expands
    at execution (rendered integers such as the account id, or a list of values), and the
    names of its $n parameters in order."""

    pieces: tuple[str, ...]
    # Between the pieces: (name, rendered) - rendered integers, or one $n per list value.
    expanded: tuple[tuple[str, bool], ...]
    names: tuple[str, ...]
    defaults: tuple[Any, ...]
    processors: tuple[Any, ...]
    element_processors: dict[str, Any]

    def run(self, params: Mapping[str, Any]) -> tuple[str, list[Any]]:
        """The SQL text and the argument list for these parameters."""
        values = []
        for name, default, processor in zip(
            self.names, self.defaults, self.processors, strict=True
        ):
            value = params.get(name, default)
            values.append(processor(value) if processor is not None else value)
        if not self.expanded:
            return self.pieces[0], values
        out = [self.pieces[0]]
        for (name, rendered), piece in zip(self.expanded, self.pieces[1:], strict=True):
            if rendered:
                out.append(_literal(params[name]))
            else:
                items = list(params[name])
                if not items:
                    raise ValueError(f"an empty list for the IN parameter {name!r}")
                processor = self.element_processors.get(name)
                first = len(values) + 1
                out.append(", ".join(f"${n}" for n in range(first, first + len(items))))
                values += [processor(v) for v in items] if processor is not None else items
            out.append(piece)
        return "".join(out), values


def _literal(value: Any) -> str:
    """Only integers are ever rendered into SQL text (ids); anything else is a bug."""
    if isinstance(value, int) and not isinstance(value, bool):
        return str(int(value))
    if (
        isinstance(value, list | tuple)
        and value
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        return ", ".join(str(int(v)) for v in value)
    raise TypeError(f"only integers are rendered into SQL, not {value!r}")


K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedCache(Generic[K, V]):
    """A least-recently-used cache bounded in bytes: each entry comes with an estimate of
    what it holds (put's nbytes, or cost(value) when set by item, as SQLAlchemy does with a
    compiled cache), and the least recently used entries go while the sum passes the budget
    (the newest entry always stays). Used from the event loop's thread; a race with another
    thread costs an entry, never an error."""

    def __init__(self, budget: int, cost: Callable[[V], int] | None = None) -> None:
        self.budget = budget
        self.cost = cost
        self.bytes = 0
        self._entries: OrderedDict[K, tuple[V, int]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._entries))

    def get(self, key: K) -> V | None:
        found = self._entries.get(key)
        if found is None:
            return None
        with contextlib.suppress(KeyError):
            self._entries.move_to_end(key)
        return found[0]

    def put(self, key: K, value: V, nbytes: int) -> None:
        old = self._entries.pop(key, None)
        if old is not None:
            self.bytes -= old[1]
        self._entries[key] = (value, nbytes)
        self.bytes += nbytes
        while self.bytes > self.budget and len(self._entries) > 1:
            try:
                _, (_, dropped) = self._entries.popitem(last=False)
            except KeyError:
                break
            self.bytes -= dropped

    def __setitem__(self, key: K, value: V) -> None:
        assert self.cost is not None, "a cache set by item needs a cost function"
        self.put(key, value, self.cost(value))

    def clear(self) -> None:
        self._entries.clear()
        self.bytes = 0


_DIALECT = PGDialect_asyncpg()  # type: ignore[no-untyped-call]
# A statement's SQL for asyncpg, for as long as the statement lives: its owner keeps it, and
# bounds what it keeps (contacts/queries.py keeps page and count statements in a BoundedCache;
# the other hot statements are module constants). An entry is the SQL text and a few tuples:
# 1-2 KB for a list or a one-condition filter, 5-15 KB for 50 conditions (the caps), whatever
# their values. MAX_COMPILED keeps a bug (statements built per request) from growing it without
# end: past it, a statement is compiled each time it runs.
_COMPILED: weakref.WeakKeyDictionary[sa.Executable, _Compiled] = weakref.WeakKeyDictionary()
MAX_COMPILED = 4096


def compile_for_asyncpg(statement: sa.Executable) -> _Compiled:
    found = _COMPILED.get(statement)
    if found is not None:
        return found
    compiled = statement.compile(dialect=_DIALECT)  # type: ignore[attr-defined]
    rendered = {bind.key for bind in compiled.literal_execute_params}
    listed = {bind.key for bind in compiled.post_compile_params}
    binds = compiled.binds
    pieces: list[str] = []
    expanded: list[tuple[str, bool]] = []
    rest: str = compiled.string
    while "__[POSTCOMPILE_" in rest:
        before, _, after = rest.partition("__[POSTCOMPILE_")
        name, _, rest = after.partition("]")
        pieces.append(before)
        expanded.append((name, name in rendered))
    pieces.append(rest)
    names = tuple(n for n in compiled.positiontup or () if n not in rendered and n not in listed)
    defaults = tuple(binds[name].effective_value for name in names)
    processors = tuple(binds[name].type._cached_bind_processor(_DIALECT) for name in names)
    element_processors = {
        name: binds[name].type._cached_bind_processor(_DIALECT) for name in listed
    }
    result = _Compiled(
        tuple(pieces), tuple(expanded), names, defaults, processors, element_processors
    )
    if len(_COMPILED) < MAX_COMPILED:
        _COMPILED[statement] = result
    return result


class RowsFetcher:
    """fetchrow and fetchval from a connection's fetch (the write connections' and
    ThreadReader's: one statement, read whole)."""

    async def fetch(self, statement: sa.Executable, params: Mapping[str, Any]) -> Sequence[Any]:
        raise NotImplementedError

    async def fetchrow(self, statement: sa.Executable, params: Mapping[str, Any]) -> Any:
        rows = await self.fetch(statement, params)
        return rows[0] if rows else None

    async def fetchval(self, statement: sa.Executable, params: Mapping[str, Any]) -> Any:
        rows = await self.fetch(statement, params)
        return rows[0][0] if rows else None


# Where statements planned for their values come from (ReadPool.planned): a connection that
# plans every statement for its arguments, checked out for the block.
PlannedSource = Callable[[], contextlib.AbstractAsyncContextManager[asyncpg.Connection]]


class AsyncpgReader:
    backend = "postgresql"

    def __init__(
        self, connection: asyncpg.Connection, database: str, planned: PlannedSource | None = None
    ) -> None:
        self.connection = connection
        self.database = database
        self.planned = planned

    async def fetch(self, statement: sa.Executable, params: Mapping[str, Any]) -> Sequence[Any]:
        sql, args = compile_for_asyncpg(statement).run(params)
        rows: list[Any] = await self.connection.fetch(sql, *args)
        return rows

    async def fetchval(self, statement: sa.Executable, params: Mapping[str, Any]) -> Any:
        sql, args = compile_for_asyncpg(statement).run(params)
        return await self.connection.fetchval(sql, *args)

    @contextlib.asynccontextmanager
    async def custom_plans(self) -> AsyncIterator[None]:
        """The block's statements run on a connection of the pool whose sessions plan every
        statement for its arguments (plan_cache_mode = force_custom_plan): no SET and RESET
        round trips around them. Without such a pool (a writer's connection, in its
        transaction), they run on the connection as they are."""
        if self.planned is None:
            yield
            return
        own = self.connection
        async with self.planned() as planned:
            self.connection = planned
            try:
                yield
            finally:
                self.connection = own


class AsyncpgWriter(RowsFetcher, AsyncpgReader):
    """A raw asyncpg connection in a transaction of the request (ReadPool.transaction)."""

    def __init__(self, connection: asyncpg.Connection, database: str, transaction: Any) -> None:
        super().__init__(connection, database)
        self.transaction = transaction
        self.finished = False

    async def fetch(self, statement: sa.Executable, params: Mapping[str, Any]) -> Sequence[Any]:
        sql, args = compile_for_asyncpg(statement).run(params)
        try:
            rows: list[Any] = await self.connection.fetch(sql, *args)
        except asyncpg.IntegrityConstraintViolationError as error:
            raise IntegrityError(sql, args, error) from None
        return rows

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        async with self.connection.transaction():  # nested: a SAVEPOINT
            yield

    async def commit(self) -> None:
        self.finished = True
        await self.transaction.commit()


# The compiled statements of Core reads (SQLite's): SQLAlchemy's compiled cache, bounded in
# bytes instead of the engine's 500 entries (each keeps the statement it compiled alive, and
# a filter's statement took 4 MB when each of its values had a LIKE of its own). An entry is
# the statement, its cache key and its compiled form: tracemalloc measured 30-110 bytes per
# character of SQL (45 KB for a list page of 1,500 characters, 0.4-1.1 MB for a filter of 50
# conditions, the caps: 5,000-15,000 characters), so an entry is costed at
# CORE_BYTES_PER_SQL_CHAR per character. The statements are those contacts/queries.py keeps:
# a cache miss here costs one compile (a few ms), never a build.
CORE_COMPILED_BYTES = 24 * 1024 * 1024
CORE_BYTES_PER_SQL_CHAR = 128
_CORE_COMPILED: BoundedCache[Any, Any] = BoundedCache(
    CORE_COMPILED_BYTES, lambda compiled: len(compiled.string) * CORE_BYTES_PER_SQL_CHAR
)
_CORE_OPTIONS = {"compiled_cache": _CORE_COMPILED}


class CoreReader:
    """SQLite (and any other database): a SQLAlchemy Core connection."""

    def __init__(self, connection: AsyncConnection, backend: str, database: str) -> None:
        self.connection = connection
        self.backend = backend
        self.database = database

    async def fetch(self, statement: sa.Executable, params: Mapping[str, Any]) -> Sequence[Any]:
        result = await self.connection.execute(
            statement, dict(params), execution_options=_CORE_OPTIONS
        )
        return result.all()

    async def fetchval(self, statement: sa.Executable, params: Mapping[str, Any]) -> Any:
        result = await self.connection.execute(
            statement, dict(params), execution_options=_CORE_OPTIONS
        )
        return result.scalar()

    @contextlib.asynccontextmanager
    async def custom_plans(self) -> AsyncIterator[None]:
        yield


class Record(asyncpg.Record):  # type: ignore[misc]
    """An asyncpg row that also reads by column name as an attribute (row.email), as
    SQLAlchemy's rows do, so that services read rows the same way on every driver."""

    __slots__ = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class ThreadWriter(RowsFetcher):
    """SQLite: a synchronous SQLAlchemy connection driven from one thread of the process
    (writes are one at a time per process anyway, db.Database.write_connection), each
    statement run and read whole in one hand-over to that thread. Through aiosqlite a
    statement cost four hand-overs (a cursor, execute, fetchall, close) and a create about
    twenty, all while SQLite's write lock was held (docs/decisions.md, issue 10).

    The first statement's hand-over also takes the lock file between processes (a writer
    waits for it in this thread, which only writers use) and begins the transaction (BEGIN
    IMMEDIATE); commit() commits, closes and lets the lock go in one; close() (always called)
    rolls back whatever was not committed."""

    def __init__(
        self, engine: sa.Engine, database: str, executor: ThreadPoolExecutor, lock: Lock
    ) -> None:
        self.backend = engine.dialect.name
        self.database = database
        self.engine = engine
        self.executor = executor
        self.lock = lock
        self.connection: sa.Connection | None = None

    async def _run(self, work: Callable[[], V]) -> V:
        return await asyncio.get_running_loop().run_in_executor(self.executor, work)

    def _connection(self) -> sa.Connection:
        if self.connection is None:
            self.lock.acquire()
            try:
                connection = self.engine.connect()
                try:
                    connection.begin()
                except BaseException:
                    connection.close()
                    raise
            except BaseException:
                self.lock.release()
                raise
            self.connection = connection
        return self.connection

    def _fetch(self, statement: sa.Executable, params: Mapping[str, Any]) -> Sequence[Any]:
        result = self._connection().execute(
            statement, dict(params), execution_options=_CORE_OPTIONS
        )
        return result.all() if result.returns_rows else []

    async def fetch(self, statement: sa.Executable, params: Mapping[str, Any]) -> Sequence[Any]:
        return await self._run(lambda: self._fetch(statement, params))

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        nested = await self._run(lambda: self._connection().begin_nested())
        try:
            yield
        except BaseException:
            await self._run(nested.rollback)
            raise
        await self._run(nested.commit)

    @contextlib.asynccontextmanager
    async def custom_plans(self) -> AsyncIterator[None]:
        yield

    def _end(self, commit: bool) -> None:
        connection, self.connection = self.connection, None
        if connection is None:
            return
        try:
            if commit:
                connection.commit()
        finally:
            try:
                connection.close()  # rolls back what was not committed
            finally:
                self.lock.release()

    async def commit(self) -> None:
        await self._run(lambda: self._end(commit=True))

    async def close(self) -> None:
        """Roll back and let go, whatever happened (the work runs to its end in the thread
        even if the caller is cancelled meanwhile)."""
        await asyncio.shield(self._run(lambda: self._end(commit=False)))


class ThreadReader(RowsFetcher):
    """SQLite's hot reads: each statement run and read whole on a synchronous connection in
    one hand-over to a small pool of threads (through aiosqlite a statement cost four: a
    cursor, execute, fetchall, close). Every statement reads in its own snapshot, as on
    PostgreSQL."""

    def __init__(self, engine: sa.Engine, database: str, executor: ThreadPoolExecutor) -> None:
        self.backend = engine.dialect.name
        self.database = database
        self.engine = engine
        self.executor = executor

    def _fetch(self, statement: sa.Executable, params: Mapping[str, Any]) -> Sequence[Any]:
        with self.engine.connect() as connection:
            result = connection.execute(statement, dict(params), execution_options=_CORE_OPTIONS)
            return result.all()

    async def fetch(self, statement: sa.Executable, params: Mapping[str, Any]) -> Sequence[Any]:
        return await asyncio.get_running_loop().run_in_executor(
            self.executor, lambda: self._fetch(statement, params)
        )

    @contextlib.asynccontextmanager
    async def custom_plans(self) -> AsyncIterator[None]:
        yield


class Lock(Protocol):
    """A blocking lock taken and released in the writer's thread (db: the lock file)."""

    def acquire(self) -> None: ...

    def release(self) -> None: ...


class _NoReset(asyncpg.Connection):  # type: ignore[misc]
    """Read connections hold no session state between requests (statements planned for their
    arguments use the planned pool, whose sessions are set once, not SET and RESET), so the
    pool's reset query on every release (RESET ALL, UNLISTEN *, ...), a round trip, is
    skipped; an open transaction is still rolled back on release."""

    def get_reset_query(self) -> str:
        return ""


async def _json_as_bytes(connection: asyncpg.Connection) -> None:
    """json values arrive as their UTF-8 bytes, untouched: the service passes the JSON the
    database rendered on to the client (orjson.Fragment), so decoding it to str and encoding
    it back was wasted work."""
    await connection.set_type_codec(
        "json", schema="pg_catalog", encoder=bytes, decoder=bytes, format="binary"
    )
    # Stored JSON columns (custom_attributes, ...) read by writes arrive decoded, as through
    # SQLAlchemy; values to store arrive as JSON text (the column type's bind processor).
    await connection.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=str, decoder=orjson.loads, format="text"
    )


class ReadPool:
    """The connections hot reads use: an asyncpg pool on PostgreSQL, the engine's pool on
    SQLite. Created lazily, in the event loop that serves requests."""

    def __init__(
        self,
        engine: AsyncEngine,
        dsn: str | None,
        size: int,
        threads: tuple[sa.Engine, ThreadPoolExecutor] | None = None,
        server_settings: dict[str, str] | None = None,
        connect_timeout: float = 5.0,
    ) -> None:
        self.engine = engine
        self.server_settings = server_settings or PG_SERVER_SETTINGS
        self.connect_timeout = connect_timeout
        self.backend = engine.dialect.name
        self.database = str(engine.url)
        self.dsn = dsn
        self.size = size
        self.threads = threads  # SQLite on a file: ThreadReader
        self._pool: asyncpg.Pool | None = None
        self._planned: asyncpg.Pool | None = None

    def _create_pool(self, size: int, settings: dict[str, str]) -> asyncpg.Pool:
        return asyncpg.create_pool(
            self.dsn,
            min_size=0,
            max_size=size,
            server_settings=settings,
            timeout=self.connect_timeout,
            connection_class=_NoReset,
            record_class=Record,
            init=_json_as_bytes,
        )

    async def _asyncpg_pool(self) -> asyncpg.Pool:
        if self._pool is None:
            pool = self._create_pool(self.size, self.server_settings)
            await pool
            if self._pool is None:
                self._pool = pool
            else:  # another request created one meanwhile
                await pool.close()
        return self._pool

    async def _planned_pool(self) -> asyncpg.Pool:
        if self._planned is None:
            pool = self._create_pool(
                max(2, self.size // PLANNED_POOL_SHARE),
                {**self.server_settings, "plan_cache_mode": "force_custom_plan"},
            )
            await pool
            if self._planned is None:
                self._planned = pool
            else:
                await pool.close()
        return self._planned

    @contextlib.asynccontextmanager
    async def planned(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection whose session plans every statement for its arguments."""
        pool = await self._planned_pool()
        async with pool.acquire() as connection:
            yield connection

    @contextlib.asynccontextmanager
    async def connection(self) -> AsyncIterator[ReadConnection]:
        if self.dsn is None and self.threads is not None:
            yield ThreadReader(self.threads[0], self.database, self.threads[1])
            return
        if self.dsn is None:
            async with self.engine.connect() as connection:
                yield CoreReader(connection, self.backend, self.database)
            return
        pool = await self._asyncpg_pool()
        raw = await pool.acquire()
        try:
            yield AsyncpgReader(raw, self.database, self.planned)
        finally:
            await pool.release(raw)

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncpgWriter]:
        """PostgreSQL: a pooled asyncpg connection in a transaction, rolled back unless the
        route committed it."""
        assert self.dsn is not None, "SQLite writes go through a session (db.Database)"
        pool = await self._asyncpg_pool()
        raw = await pool.acquire()
        try:
            transaction = raw.transaction()
            await transaction.start()
            writer = AsyncpgWriter(raw, self.database, transaction)
            try:
                yield writer
            finally:
                if not writer.finished:
                    writer.finished = True
                    try:
                        await transaction.rollback()
                    except BaseException:
                        raw.terminate()  # half-way: the connection goes, not its state
                        raise
        finally:
            await pool.release(raw)

    def in_use(self) -> dict[str, int]:
        """Connections checked out of the asyncpg pools (PostgreSQL)."""
        used = {}
        for name, pool in (("reads", self._pool), ("planned", self._planned)):
            if pool is not None:
                used[name] = pool.get_size() - pool.get_idle_size()
        return used

    async def expire(self) -> None:
        """Replace the pools' connections as they are next used (the server dropped them:
        a restart, a terminated backend)."""
        for pool in (self._pool, self._planned):
            if pool is not None:
                await pool.expire_connections()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None
        if self._planned is not None:
            await self._planned.close()
            self._planned = None
