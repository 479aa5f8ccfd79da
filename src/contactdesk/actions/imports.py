"""Contact imports: accepting a file, running it in the background, reporting on it.

An accepted file (contact_csv.scan() found nothing that refuses it whole) is stored with its
import, in 1 MB chunks, in the database: any process can run it, and one that starts after a
crash resumes it. Runners (ImportRunner, in every `contactdesk serve` process and in
`contactdesk worker`) take the oldest import that is queued, or running under a lapsed lease,
with a conditional UPDATE, so that one runner holds an import at a time on either database.
The runner copies the file to a temporary file, skips the rows already applied and applies
the rest in batches (importer.apply_batch). Each batch commits with the import's counts and
`rows_done` in the same transaction, and only while the runner still holds the lease and the
import is still running: a batch is applied whole or not at all, the counts are always what
the database holds, and a cancelled import stops at its next batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import IO, Any, cast

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from contactdesk.actions.contact_csv import FileShape, data_rows, write_row, write_rows
from contactdesk.actions.importer import (
    Outcome,
    Row,
    apply_batch,
    definitions_of,
    parse_rows,
    record_errors,
)
from contactdesk.config import Settings
from contactdesk.db import Database
from contactdesk.errors import AppError, NotFound
from contactdesk.limits import limits
from contactdesk.models import Contact, ContactImport, ContactImportChunk, ContactImportError
from contactdesk.models.contact_import import (
    ACTIVE,
    CANCELLED,
    COMPLETED,
    FAILED,
    QUEUED,
    RUNNING,
)
from contactdesk.models.tenancy import any_account, tenant_delete, tenant_select, tenant_update
from contactdesk.values import parse_id

log = logging.getLogger("contactdesk.imports")
FINAL = (COMPLETED, FAILED, CANCELLED)

IMPORTS = cast(sa.Table, ContactImport.__table__)
CHUNKS = cast(sa.Table, ContactImportChunk.__table__)
ERRORS = cast(sa.Table, ContactImportError.__table__)
CONTACTS = cast(sa.Table, Contact.__table__)
CHUNK_BYTES = 1024 * 1024
RETRIES = 5


class TooManyImports(AppError):
    status_code = 429


def _ms() -> int:
    return int(time.time() * 1000)


def import_json(row: Any) -> dict[str, Any]:
    """An import as the API answers it."""
    seconds = row.run_seconds or 0.0
    return {
        "id": row.id,
        "account_id": row.account_id,
        "status": row.status,
        "filename": row.filename,
        "file_bytes": row.file_bytes,
        "total_rows": row.total_rows,
        "rows_read": row.rows_done,
        "created": row.created,
        "updated": row.updated,
        "unchanged": row.unchanged,
        "failed": row.failed,
        "duplicates_in_file": row.duplicates,
        "unknown_columns": list(row.unknown_columns or []),
        "error": row.error,
        "created_at": row.created_at,
        "started_at": row.started_at,
        "finished_at": row.finished_at,
        "rows_per_second": round(row.rows_done / seconds, 1) if seconds > 0 else None,
    }


async def create_import(
    session: AsyncSession,
    account_id: int,
    shape: FileShape,
    stream: IO[bytes],
    size: int,
    filename: str | None,
) -> Any:
    """The import (queued), with its file, in the session's transaction; 429 when the
    account has limits().max_active_imports queued or running already (counted under a lock
    on the account's row, so concurrent uploads cannot both pass)."""
    from contactdesk.models import Account

    accounts = cast(sa.Table, Account.__table__)
    await session.execute(
        sa.select(accounts.c.id).where(accounts.c.id == account_id).with_for_update()
    )
    active = await session.scalar(
        tenant_select(account_id, sa.func.count(), select_from=IMPORTS).where(
            IMPORTS.c.status.in_(ACTIVE)
        )
    )
    most = limits().max_active_imports
    if (active or 0) >= most:
        raise TooManyImports(
            f"This account has {most} imports queued or running (the most at once): "
            "wait for one to end"
        )
    row = (
        await session.execute(
            sa.insert(IMPORTS)
            .values(
                account_id=account_id,
                status=QUEUED,
                filename=(filename or None) and filename[:255],
                file_bytes=size,
                delimiter=shape.delimiter,
                header=shape.header,
                columns=shape.columns,
                unknown_columns=shape.unknown,
                total_rows=shape.rows,
                rows_done=0,
                created=0,
                updated=0,
                unchanged=0,
                failed=0,
                duplicates=0,
                created_at=int(time.time()),
                run_seconds=0.0,
            )
            .returning(*IMPORTS.c)
        )
    ).one()
    stream.seek(0)
    seq = 0
    while data := stream.read(CHUNK_BYTES):
        await session.execute(
            sa.insert(CHUNKS).values(import_id=row.id, seq=seq, account_id=account_id, data=data)
        )
        seq += 1
    return row


async def get_import(session: AsyncSession, account_id: int, import_id: str | int) -> Any:
    number = parse_id(import_id)
    if number is None:
        raise NotFound()
    row = (
        await session.execute(tenant_select(account_id, IMPORTS).where(IMPORTS.c.id == number))
    ).first()
    if row is None:
        raise NotFound()
    return row


async def list_imports(session: AsyncSession, account_id: int, limit: int = 100) -> list[Any]:
    """The account's most recent imports, newest first."""
    rows = await session.execute(
        tenant_select(account_id, IMPORTS).order_by(IMPORTS.c.id.desc()).limit(limit)
    )
    return list(rows.all())


async def cancel_import(session: AsyncSession, account_id: int, import_id: str | int) -> Any:
    """Cancel a queued or running import (a running one stops before its next batch
    commits; what committed stays). An import that has ended is answered as it is."""
    row = await get_import(session, account_id, import_id)
    if row.status in ACTIVE:
        await session.execute(
            tenant_update(IMPORTS, account_id)
            .where(IMPORTS.c.id == row.id, IMPORTS.c.status.in_(ACTIVE))
            .values(status=CANCELLED, finished_at=int(time.time()), lease_owner=None)
        )
        await session.execute(tenant_delete(CHUNKS, account_id).where(CHUNKS.c.import_id == row.id))
        row = await get_import(session, account_id, row.id)
    return row


async def error_rows(
    session: AsyncSession, account_id: int, row: Any, batch: int = 1000
) -> AsyncIterator[str]:
    """errors.csv: a header (line, error, then the file's own header) and each refused row as
    it was sent, in line order."""
    delimiter = row.delimiter
    yield write_row(["line", "error", *row.header], delimiter)
    after = 0
    while True:
        found = (
            await session.execute(
                tenant_select(account_id, ERRORS.c.line, ERRORS.c.row, ERRORS.c.reason)
                .where(ERRORS.c.import_id == row.id, ERRORS.c.line > after)
                .order_by(ERRORS.c.line)
                .limit(batch)
            )
        ).all()
        if not found:
            return
        yield write_rows(([str(line), reason, *cells] for line, cells, reason in found), delimiter)
        after = found[-1].line


# Running imports


def _shape(row: Any) -> FileShape:
    return FileShape(
        row.delimiter,
        list(row.header),
        list(row.columns),
        list(row.unknown_columns),
        row.total_rows,
    )


class LeaseLost(Exception):
    """The import was cancelled, or another runner took it over."""


class Stopping(Exception):
    """The runner is asked to stop: it leaves the import for another, after a batch."""


@dataclass
class Progress:
    rows_done: int
    total_rows: int


class ImportRunner:
    """Takes queued imports, one at a time, and runs them (see the module's docstring)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self.owner = secrets.token_hex(8)
        self.batch_rows = settings.import_batch_rows
        self.lease_ms = int(settings.import_lease_seconds * 1000)
        self._wake = asyncio.Event()
        self.stopping = False
        self.on_progress: Callable[[Progress], None] | None = None

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stop: asyncio.Event, poll_seconds: float = 1.0) -> None:
        async def watch() -> None:
            await stop.wait()
            self.stopping = True

        watcher = asyncio.ensure_future(watch())
        try:
            await self._loop(stop, poll_seconds)
        finally:
            watcher.cancel()

    async def _loop(self, stop: asyncio.Event, poll_seconds: float) -> None:
        while not stop.is_set():
            try:
                held = await self.claim()
                if held is not None:
                    await self.run_import(held)
                    continue
            except Exception:
                log.exception("import runner")
            self._wake.clear()
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            await asyncio.wait(waits, timeout=poll_seconds, return_when=asyncio.FIRST_COMPLETED)
            for waiting in waits:
                waiting.cancel()

    async def claim(self, wanted: tuple[int, int] | None = None) -> tuple[int, int] | None:
        """(account id, import id) of an import this runner now holds: the oldest claimable
        one of any account, or `wanted`; None when there is none (or another took it)."""
        now = _ms()
        claimable = sa.and_(
            IMPORTS.c.status.in_(ACTIVE),
            sa.or_(IMPORTS.c.lease_until.is_(None), IMPORTS.c.lease_until < now),
        )
        if wanted is None:
            # Looked for outside the write lock (SQLite's is the whole database's): most
            # looks find nothing.
            async with self.db.reader() as session:
                found = (
                    await session.execute(
                        # Runners serve every account, oldest import first.
                        any_account(
                            sa.select(IMPORTS.c.account_id, IMPORTS.c.id)
                            .where(claimable)
                            .order_by(IMPORTS.c.id)
                            .limit(1)
                        )
                    )
                ).first()
            if found is None:
                return None
            wanted = (found[0], found[1])
        account_id, import_id = wanted
        async with self.db.writing() as session:
            claimed = await session.execute(
                tenant_update(IMPORTS, account_id)
                .where(IMPORTS.c.id == import_id, claimable)
                .values(
                    status=RUNNING,
                    lease_owner=self.owner,
                    lease_until=now + self.lease_ms,
                    started_at=sa.func.coalesce(IMPORTS.c.started_at, int(time.time())),
                )
                .returning(IMPORTS.c.id)
            )
            held = claimed.scalar()
            await session.commit()
        return None if held is None else wanted

    async def _row(self, account_id: int, import_id: int) -> Any:
        async with self.db.reader() as session:
            return (
                await session.execute(
                    tenant_select(account_id, IMPORTS).where(IMPORTS.c.id == import_id)
                )
            ).one()

    async def _file(self, row: Any) -> IO[bytes]:
        """The import's file, copied from the database to a temporary file."""
        target = tempfile.TemporaryFile()  # noqa: SIM115  (the caller closes it)
        seq = 0
        while True:
            async with self.db.reader() as session:
                data = await session.scalar(
                    tenant_select(row.account_id, CHUNKS.c.data).where(
                        CHUNKS.c.import_id == row.id, CHUNKS.c.seq == seq
                    )
                )
            if data is None:
                break
            target.write(data)
            seq += 1
        target.seek(0)
        return target

    async def _seen(self, row: Any) -> set[int]:
        """The contacts earlier batches named, as well as they can be known after a restart:
        those changed since the import started."""
        if not row.rows_done:
            return set()
        async with self.db.reader() as session:
            found = await session.execute(
                tenant_select(row.account_id, CONTACTS.c.id).where(
                    CONTACTS.c.updated_at >= (row.started_at or 0)
                )
            )
            return {r[0] for r in found.all()}

    async def run_import(self, held: tuple[int, int]) -> Any:
        """Run an import this runner holds (claim()) to its end, or until it is cancelled or
        taken over; the import's row afterwards."""
        account_id, import_id = held
        row = await self._row(account_id, import_id)
        try:
            with contextlib.closing(await self._file(row)) as stream:
                await self._apply(row, stream)
            await self._finish(row, COMPLETED, None)
        except LeaseLost:
            pass
        except Stopping:
            await self._release(row)
        except Exception as error:
            log.exception("import %s failed", import_id)
            await self._finish(row, FAILED, f"The import stopped: {type(error).__name__}")
        return await self._row(account_id, import_id)

    async def _apply(self, row: Any, stream: IO[bytes]) -> None:
        """Apply the rows after the ones done, a batch at a time. The next batch is read and
        parsed (in a thread) while this one is written: its custom attributes are checked
        against the definitions as read for the batch before."""
        account_id = row.account_id
        shape = _shape(row)
        seen = await self._seen(row)
        rows_done = row.rows_done
        pending: Iterator[tuple[int, list[str]]] = data_rows(stream, shape, rows_done)
        async with self.db.reader() as session:
            definitions = await definitions_of(session, account_id)

        def prepare(known: dict[str, Any]) -> tuple[int, list[Row]]:
            records = _take(pending, self.batch_rows)
            return len(records), parse_rows(records, shape.columns, known)

        following = asyncio.ensure_future(asyncio.to_thread(prepare, definitions))
        try:
            while True:
                count, parsed = await following
                if not count:
                    return
                if self.stopping:
                    raise Stopping()
                following = asyncio.ensure_future(asyncio.to_thread(prepare, definitions))
                for attempt in range(1, RETRIES + 1):
                    started = time.monotonic()
                    try:
                        async with self.db.writing() as session:
                            outcome = await apply_batch(session, account_id, parsed, seen)
                            await record_errors(session, account_id, row.id, outcome)
                            await self._report(session, row, outcome, count, started)
                            definitions = await definitions_of(session, account_id)
                            await session.commit()
                        break
                    except DBAPIError as error:
                        if attempt == RETRIES or not _transient(error):
                            raise
                        log.warning("import %s: batch retried after %s", row.id, error.orig)
                        await asyncio.sleep(0.1 * attempt)
                seen |= outcome.named
                rows_done += count
                if self.on_progress is not None:
                    self.on_progress(Progress(rows_done, shape.rows))
        finally:
            following.cancel()
            with contextlib.suppress(BaseException):
                await following

    async def _report(
        self, session: AsyncSession, row: Any, outcome: Outcome, rows: int, started: float
    ) -> None:
        """The batch's counts, in its transaction, while this runner holds the import."""
        columns = IMPORTS.c
        done = await session.execute(
            tenant_update(IMPORTS, row.account_id)
            .where(
                columns.id == row.id,
                columns.status == RUNNING,
                columns.lease_owner == self.owner,
            )
            .values(
                rows_done=columns.rows_done + rows,
                created=columns.created + outcome.created,
                updated=columns.updated + outcome.updated,
                unchanged=columns.unchanged + outcome.unchanged,
                failed=columns.failed + outcome.failed,
                duplicates=columns.duplicates + outcome.duplicates,
                lease_until=_ms() + self.lease_ms,
                run_seconds=columns.run_seconds + (time.monotonic() - started),
            )
            .returning(columns.id)
        )
        if done.scalar() is None:
            await session.rollback()
            raise LeaseLost()

    async def _release(self, row: Any) -> None:
        """Leave the import to the next runner at once (it resumes after the last batch)."""
        async with self.db.writing() as session:
            await session.execute(
                tenant_update(IMPORTS, row.account_id)
                .where(IMPORTS.c.id == row.id, IMPORTS.c.lease_owner == self.owner)
                .values(lease_owner=None, lease_until=None)
            )
            await session.commit()

    async def _finish(self, row: Any, status: str, error: str | None) -> None:
        async with self.db.writing() as session:
            ended = await session.execute(
                tenant_update(IMPORTS, row.account_id)
                .where(
                    IMPORTS.c.id == row.id,
                    IMPORTS.c.status == RUNNING,
                    IMPORTS.c.lease_owner == self.owner,
                )
                .values(
                    status=status,
                    error=error,
                    finished_at=int(time.time()),
                    lease_owner=None,
                    lease_until=None,
                )
                .returning(IMPORTS.c.id)
            )
            if ended.scalar() is not None:
                await session.execute(
                    tenant_delete(CHUNKS, row.account_id).where(CHUNKS.c.import_id == row.id)
                )
            await session.commit()


def _transient(error: DBAPIError) -> bool:
    """A deadlock or serialization failure (PostgreSQL), or a busy database (SQLite): the
    batch, rolled back whole, can run again."""
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return code in ("40P01", "40001") or "database is locked" in str(error.orig)


def _take(pending: Iterator[tuple[int, list[str]]], count: int) -> list[tuple[int, list[str]]]:
    taken = []
    for record in pending:
        taken.append(record)
        if len(taken) >= count:
            break
    return taken


async def dry_run(
    session: AsyncSession,
    account_id: int,
    shape: FileShape,
    stream: IO[bytes],
    batch_rows: int,
    on_progress: Callable[[Progress], None] | None = None,
) -> Outcome:
    """What the import of the file would do, in the session's transaction, which the caller
    rolls back: every row checked and matched as the import would, nothing kept."""
    outcome = Outcome()
    seen: set[int] = set()
    stream.seek(0)
    pending = data_rows(stream, shape, 0)
    done = 0
    definitions = await definitions_of(session, account_id)
    while True:
        records = await asyncio.to_thread(_take, pending, batch_rows)
        if not records:
            return outcome
        parsed = parse_rows(records, shape.columns, definitions)
        done_batch = await apply_batch(session, account_id, parsed, seen)
        seen |= done_batch.named
        outcome.add(done_batch)
        done += len(records)
        if on_progress is not None:
            on_progress(Progress(done, shape.rows))


@contextlib.asynccontextmanager
async def running(db: Database, settings: Settings) -> AsyncIterator[ImportRunner]:
    """An import runner in the background for the duration of the block."""
    runner = ImportRunner(db, settings)
    stop = asyncio.Event()
    task = asyncio.create_task(runner.run(stop))
    try:
        yield runner
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, 30)
