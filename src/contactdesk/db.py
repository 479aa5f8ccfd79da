"""Database plumbing: declarative base, portable column types, the engine factory, and the
session dependencies of the routes."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Annotated, Any

import orjson
import sqlalchemy as sa
from fastapi import Depends, Request
from sqlalchemy import event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase

from contactdesk.config import Settings
from contactdesk.driver import (
    ReadConnection,
    ReadPool,
    RowsFetcher,
    ThreadWriter,
    WriteConnection,
    pg_server_settings,
)

try:
    import fcntl
except ImportError:  # pragma: no cover  (Windows: the SQLite busy handler alone)
    fcntl = None  # type: ignore[assignment]

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# 64-bit ids everywhere; on SQLite an INTEGER PRIMARY KEY is already 64-bit and is the rowid.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# JSONB on PostgreSQL, JSON text elsewhere.
JsonObject = sa.JSON().with_variant(JSONB(), "postgresql")


def sqlite_read_threads(settings: Settings) -> int:
    """Threads (and connections) of a process for SQLite's hot reads (driver.ThreadReader):
    one for each request the gate lets a process work on at once (16 without a gate), so
    that slow reads of one client never hold them all while others wait at the gate."""
    return min(32, max(4, settings.max_concurrent_requests or 16))


# Execution option that makes a SQLite transaction take the write lock when it begins.
# Without it, two deferred transactions that both read then write fail with SQLITE_BUSY
# instead of waiting for each other.
WRITE_OPTION = "contactdesk_write"


class Base(DeclarativeBase):
    metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)


def async_url(raw: str) -> URL:
    """Turn a plain sqlite:// or postgresql:// URL into one naming the async driver."""
    url = make_url(raw)
    backend = url.get_backend_name()
    if backend == "sqlite":
        return url.set(drivername="sqlite+aiosqlite")
    if backend in ("postgresql", "postgres"):
        return url.set(drivername="postgresql+asyncpg")
    raise ValueError(f"unsupported database URL scheme: {url.drivername!r}")


def create_engine(settings: Settings) -> AsyncEngine:
    url = async_url(settings.database_url)
    if url.get_backend_name() == "sqlite":
        engine = create_async_engine(
            url,
            pool_size=8,
            max_overflow=16,
            pool_timeout=60,
            json_deserializer=orjson.loads,
            # No bind value (a contact's fields) in an error's message or a log (issue 13).
            hide_parameters=True,
            # sqlite3 keeps 128 prepared statements per connection by default; a filter at the
            # caps prepares ~0.6 MB, so 24 connections could hold gigabytes (issue 10). The
            # hot statements are a dozen or so.
            connect_args={"cached_statements": 32},
        )
        _configure_sqlite(engine, settings.sqlite_busy_timeout_ms, settings.statement_timeout_ms)
        return engine
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_pre_ping=False,
        json_deserializer=orjson.loads,
        hide_parameters=True,
        # Short queries from many connections at once: parallel workers and JIT compilation
        # cost more to start than they save, and take the cores the other requests need.
        connect_args={
            "server_settings": pg_server_settings(
                settings.statement_timeout_ms, settings.db_application_name
            ),
            "timeout": settings.db_connect_timeout_seconds,
        },
    )


def backend_of(session: AsyncSession) -> str:
    """The SQL backend a session talks to: "postgresql" or "sqlite"."""
    return session.get_bind().dialect.name


def unicode_lower(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def register_sqlite_functions(dbapi_connection: Any) -> None:
    """SQLite's built-in lower() folds ASCII only; PostgreSQL's folds every script. Replace it
    on every connection (app, migrations, bench) so case-insensitive sorts and searches agree
    on both databases, and the expression indexes built on lower() stay consistent."""
    dbapi_connection.create_function("lower", 1, unicode_lower, deterministic=True)


# SQLite's statement timeout: a progress handler called every this many virtual machine
# instructions (a few microseconds apart).
PROGRESS_INSTRUCTIONS = 1000


class _StatementDeadline:
    """SQLite has no statement timeout: a trace callback (called as each statement starts)
    sets a deadline, and a progress handler interrupts the statement past it (sqlite3 then
    raises OperationalError("interrupted")). Both run in the connection's own thread."""

    def __init__(self, timeout_ms: int) -> None:
        self.timeout = timeout_ms / 1000
        self.deadline = float("inf")

    def started(self, _sql: str) -> None:
        self.deadline = time.monotonic() + self.timeout

    def progress(self) -> int:
        return 1 if time.monotonic() > self.deadline else 0


def _configure_sqlite(
    engine: AsyncEngine | sa.Engine, busy_timeout_ms: int, statement_timeout_ms: int = 0
) -> None:
    target = engine.sync_engine if isinstance(engine, AsyncEngine) else engine

    @event.listens_for(target, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself, so that writers can ask for BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        register_sqlite_functions(dbapi_connection)
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.execute("PRAGMA synchronous=FULL")  # a committed contact survives power loss
        cursor.close()
        # After the PRAGMAs: the connection's own setup is never interrupted.
        if statement_timeout_ms > 0:
            deadline = _StatementDeadline(statement_timeout_ms)
            if hasattr(dbapi_connection, "run_async"):  # aiosqlite, through SQLAlchemy
                dbapi_connection.run_async(lambda c: c.set_trace_callback(deadline.started))
                dbapi_connection.run_async(
                    lambda c: c.set_progress_handler(deadline.progress, PROGRESS_INSTRUCTIONS)
                )
            else:
                dbapi_connection.set_trace_callback(deadline.started)
                dbapi_connection.set_progress_handler(deadline.progress, PROGRESS_INSTRUCTIONS)

    @event.listens_for(target, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        if conn.get_execution_options().get(WRITE_OPTION):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            conn.exec_driver_sql("BEGIN")


def _sqlite_thread_engine(settings: Settings, connections: int) -> sa.Engine:
    """A synchronous engine on the SQLite file, configured as the async one (WAL, foreign
    keys, busy timeout, Unicode lower), for connections driven from threads (driver.py)."""
    engine = sa.create_engine(
        async_url(settings.database_url).set(drivername="sqlite+pysqlite"),
        poolclass=sa.pool.QueuePool,
        pool_size=connections,
        max_overflow=0,
        json_deserializer=orjson.loads,
        hide_parameters=True,
        connect_args={"cached_statements": 32},
    )
    _configure_sqlite(engine, settings.sqlite_busy_timeout_ms, settings.statement_timeout_ms)
    return engine


class Database:
    """The engine and the two session factories of one process."""

    def __init__(self, settings: Settings) -> None:
        self.engine = create_engine(settings)
        reading = self.engine
        if self.engine.dialect.name == "postgresql":
            # A GET reads each statement in its own snapshot (as READ COMMITTED would) without
            # the BEGIN and ROLLBACK round trips around them.
            reading = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self.reader = async_sessionmaker(reading, expire_on_commit=False)
        self.writer = async_sessionmaker(
            self.engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )
        # SQLite has one writer at a time. Writers of this process queue here, in order, and
        # only one of them at a time waits on the file lock against other processes; dozens
        # polling it with SQLite's sleeping busy handler instead waited seconds (bench: create
        # p99 2.8 s).
        self._write_gate: asyncio.Lock | None = None
        self._lock_path: str | None = None
        if self.engine.dialect.name == "sqlite":
            self._write_gate = asyncio.Lock()
            database = self.engine.url.database
            if database and database != ":memory:" and fcntl is not None:
                # Between processes (serve --workers N), a blocking lock on a file next to the
                # database: the next writer wakes as soon as the last one is done.
                self._lock_path = f"{database}.write-lock"
        # SQLite's hot writes: a synchronous connection driven from one thread (driver.py,
        # ThreadWriter), on a file database.
        self._thread_engine: sa.Engine | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._read_engine: sa.Engine | None = None
        self._read_threads: ThreadPoolExecutor | None = None
        threads: tuple[sa.Engine, ThreadPoolExecutor] | None = None
        if self.engine.dialect.name == "sqlite" and self.engine.url.database not in (
            None,
            "",
            ":memory:",
        ):
            self._thread_engine = _sqlite_thread_engine(settings, 1).execution_options(
                **{WRITE_OPTION: True}
            )
            self._thread = ThreadPoolExecutor(1, thread_name_prefix="contactdesk-sqlite-writes")
            # And its hot reads: a few threads, each statement in one hand-over.
            self._read_engine = _sqlite_thread_engine(settings, sqlite_read_threads(settings))
            self._read_threads = ThreadPoolExecutor(
                sqlite_read_threads(settings), thread_name_prefix="contactdesk-sqlite-reads"
            )
            threads = (self._read_engine, self._read_threads)
        # Hot reads (lists, searches, filters, show) on the driver directly (driver.py).
        dsn = None
        if self.engine.dialect.name == "postgresql":
            plain = make_url(settings.database_url).set(drivername="postgresql")
            dsn = plain.render_as_string(hide_password=False)
        self.reads = ReadPool(
            self.engine,
            dsn,
            settings.db_pool_size,
            threads,
            pg_server_settings(settings.statement_timeout_ms, settings.db_application_name),
            settings.db_connect_timeout_seconds,
        )

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[AsyncSession]:
        """A session for a request that writes (on SQLite, after this process's earlier
        writers and holding the file lock between processes)."""
        async with contextlib.AsyncExitStack() as stack:
            if self._write_gate is not None:
                await stack.enter_async_context(self._write_gate)
            if self._lock_path is not None:
                stack.callback(os.close, await _acquire_file_lock(self._lock_path))
            yield await stack.enter_async_context(self.writer())

    @contextlib.asynccontextmanager
    async def write_connection(self) -> AsyncIterator[WriteConnection]:
        """The connection of a request that writes: on PostgreSQL a pooled asyncpg connection
        in a transaction (driver.py); elsewhere a session (after this process's earlier
        writers on SQLite), seen through SessionConnection."""
        if self.reads.dsn is not None:
            async with self.reads.transaction() as writer:
                yield writer
            return
        if self._thread_engine is not None and self._thread is not None:
            async with self._thread_writer(self._thread_engine, self._thread) as writer:
                yield writer
            return
        async with self.writing() as session:
            yield SessionConnection(session)

    @contextlib.asynccontextmanager
    async def _thread_writer(
        self, engine: sa.Engine, thread: ThreadPoolExecutor
    ) -> AsyncIterator[WriteConnection]:
        """A ThreadWriter after this process's earlier writers; its first statement takes the
        lock file between processes and begins the transaction (BEGIN IMMEDIATE)."""
        async with contextlib.AsyncExitStack() as stack:
            if self._write_gate is not None:
                await stack.enter_async_context(self._write_gate)
            writer = ThreadWriter(engine, str(self.engine.url), thread, FileLock(self._lock_path))
            try:
                yield writer
            finally:
                await writer.close()

    def connections_in_use(self) -> dict[str, int]:
        """Connections checked out of this process's pools, by pool."""
        pool = self.engine.pool
        used = {"engine": pool.checkedout() if isinstance(pool, sa.pool.QueuePool) else 0}
        used.update(self.reads.in_use())
        return used

    async def recover(self) -> None:
        """After the database dropped connections (a restart, a terminated backend): the
        pools' connections are replaced as they are next used."""
        await self.reads.expire()
        await self.engine.dispose()

    async def dispose(self) -> None:
        await self.reads.close()
        if self._thread_engine is not None and self._thread is not None:
            await asyncio.get_running_loop().run_in_executor(
                self._thread, self._thread_engine.dispose
            )
            self._thread.shutdown(wait=True)
        if self._read_engine is not None and self._read_threads is not None:
            self._read_threads.shutdown(wait=True)
            self._read_engine.dispose()
        await self.engine.dispose()


class SessionConnection(RowsFetcher):
    """A session seen as a WriteConnection (driver.py): the services that take a connection
    serve callers holding a session (upsert, merge, the CLI, SQLite's writes) through it, in
    the session's transaction. Core statements only: rows, not ORM objects."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        bind = session.get_bind()
        self.backend = bind.dialect.name
        self.database = str(bind.engine.url)

    async def fetch(self, statement: sa.Executable, params: Mapping[str, Any]) -> Sequence[Any]:
        session = self.session
        # Core statements do not autoflush: what the caller changed on ORM objects first.
        if session.new or session.deleted or session.dirty:
            await session.flush()
        result = await session.execute(statement, dict(params))
        if isinstance(result, sa.CursorResult) and not result.returns_rows:
            return []  # an INSERT, UPDATE or DELETE without RETURNING
        return result.all()

    @contextlib.asynccontextmanager
    async def savepoint(self) -> AsyncIterator[None]:
        async with self.session.begin_nested():
            yield

    @contextlib.asynccontextmanager
    async def custom_plans(self) -> AsyncIterator[None]:
        yield

    async def commit(self) -> None:
        await self.session.commit()


def connection_of(session: AsyncSession) -> WriteConnection:
    return SessionConnection(session)


class FileLock:
    """The lock file between processes, taken blocking (in a writer's thread); without a
    path (no fcntl), nothing."""

    def __init__(self, path: str | None) -> None:
        self.path = path
        self.descriptor: int | None = None

    def acquire(self) -> None:
        if self.path is not None:
            self.descriptor = _lock_file(self.path)

    def release(self) -> None:
        descriptor, self.descriptor = self.descriptor, None
        if descriptor is not None:
            os.close(descriptor)


async def _acquire_file_lock(path: str) -> int:
    """The descriptor of path, exclusively locked (closing it releases the lock)."""
    waiting = asyncio.ensure_future(asyncio.to_thread(_lock_file, path))
    try:
        return await asyncio.shield(waiting)
    except asyncio.CancelledError:
        # The thread goes on waiting; release the lock as soon as it gets it.
        waiting.add_done_callback(_release_when_locked)
        raise


def _lock_file(path: str) -> int:
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
    except BaseException:
        os.close(descriptor)
        raise
    return descriptor


def _release_when_locked(waiting: asyncio.Future[int]) -> None:
    if not waiting.cancelled() and waiting.exception() is None:
        os.close(waiting.result())


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One session per request; writes take SQLite's write lock when they begin.

    Declare it after the route's caller dependency (Reader, Writer, ...): FastAPI solves a
    route's dependencies in order, so a refused caller never opens a session, and never
    queues for SQLite's write lock (tests/app/test_route_dependencies.py checks every route).
    """
    db: Database = request.app.state.db
    if request.method in ("GET", "HEAD"):
        async with db.reader() as session:
            yield session
        return
    # The body arrives before the write gate is taken (it is kept for the route): a slow
    # client must not hold back the process's other writers.
    await request.body()
    async with db.writing() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session)]


async def get_read_session(request: Request) -> AsyncIterator[AsyncSession]:
    """Reads that arrive as POST (filters): a reader session, outside SQLite's write gate."""
    db: Database = request.app.state.db
    async with db.reader() as session:
        yield session


ReadSessionDep = Annotated[AsyncSession, Depends(get_read_session)]


async def get_read_connection(request: Request) -> AsyncIterator[ReadConnection]:
    """A connection for the hot reads (lists, searches, filters, show): no ORM session, no
    transaction of its own; see driver.py."""
    db: Database = request.app.state.db
    async with db.reads.connection() as connection:
        yield connection


ReadConnectionDep = Annotated[ReadConnection, Depends(get_read_connection)]


async def get_write_connection(request: Request) -> AsyncIterator[WriteConnection]:
    """The connection of a hot write (create, update): no ORM session; the route commits.
    Declared after the caller dependency, as get_session."""
    db: Database = request.app.state.db
    await request.body()  # before the write gate, as get_session
    async with db.write_connection() as connection:
        yield connection


WriteConnectionDep = Annotated[WriteConnection, Depends(get_write_connection)]
