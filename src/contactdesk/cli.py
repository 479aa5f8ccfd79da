"""The contactdesk command line: migrate, serve, provisioning and the demo."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import ctypes.util
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

import sqlalchemy as sa
import typer
from sqlalchemy.ext.asyncio import AsyncSession

from contactdesk.actions.provisioning import (
    ProvisioningError,
    create_account,
    create_account_inbox,
    create_api_key,
    create_user,
    issue_token,
    list_api_keys,
    parse_scopes,
    remove_user,
    revoke_api_key,
    rotate_token,
)
from contactdesk.config import get_settings
from contactdesk.db import Database
from contactdesk.logs import configure as configure_logging
from contactdesk.logs import logging_config
from contactdesk.metrics import MULTIPROCESS_ENV
from contactdesk.migrations import runner
from contactdesk.models import (
    AccessToken,
    Account,
    AccountUser,
    ApiKey,
    Inbox,
    User,
)
from contactdesk.models.tenancy import keyed_by_parent, tenant_delete, tenant_select

app = typer.Typer(help="contactdesk: the LiveDesk and Chatwoot Contacts API.", no_args_is_help=True)
accounts_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
inboxes_app = typer.Typer(help="Manage inboxes.", no_args_is_help=True)
webhooks_app = typer.Typer(help="Manage webhooks and see their deliveries.", no_args_is_help=True)
tokens_app = typer.Typer(help="Manage users' access tokens.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(inboxes_app, name="inboxes")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(tokens_app, name="tokens")
contacts_app = typer.Typer(help="Import and export contacts (CSV).", no_args_is_help=True)
app.add_typer(contacts_app, name="contacts")

T = TypeVar("T")
IMPORT_NICENESS = 10
PR_SET_PDEATHSIG = 1
DEMO_ACCOUNT = "Demo account"
DEMO_USER_EMAIL = "demo@contactdesk.local"


def exit_error(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def emit(data: dict[str, Any]) -> None:
    typer.echo(json.dumps(data))


def _ensure_migrated() -> None:
    url = get_settings().database_url
    try:
        current_ok = runner.is_up_to_date(url)
    except Exception as exc:
        raise exit_error(f"cannot open the database {url}: {exc}") from None
    if not current_ok:
        raise exit_error("the database is not migrated: run `contactdesk migrate` first")


def run_in_transaction(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Run one unit of work in one transaction: all of it is written, or nothing."""
    _ensure_migrated()

    async def runner_() -> T:
        db = Database(get_settings())
        try:
            async with db.writer() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await db.dispose()

    try:
        return asyncio.run(runner_())
    except ProvisioningError as exc:
        raise exit_error(str(exc)) from None


@app.command()
def migrate() -> None:
    """Create or upgrade the database schema."""
    url = get_settings().database_url
    try:
        runner.upgrade(url)
    except Exception as exc:
        raise exit_error(f"migration failed: {exc}") from None
    typer.echo(f"database migrated to revision {runner.head_revision()}", err=True)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.", min=1, max=65535)] = 8000,
    workers: Annotated[int, typer.Option(help="Worker processes.", min=1)] = 1,
    dispatcher: Annotated[
        bool,
        typer.Option(
            help="Run the webhook dispatcher in the server (on SQLite, in one worker); "
            "--no-dispatcher when `contactdesk worker` runs it elsewhere."
        ),
    ] = True,
) -> None:
    """Serve the API (refuses an unmigrated database)."""
    import os

    import uvicorn

    from contactdesk.transport import PROTOCOL

    _ensure_migrated()
    if not dispatcher:
        # The workers build their settings from the environment (create_app()).
        os.environ["CONTACTDESK_DISPATCHER"] = "false"
        get_settings.cache_clear()
    metrics_dir = None
    if workers > 1 and not os.environ.get(MULTIPROCESS_ENV):
        # Each worker writes its metrics in this directory; a scrape sums them (metrics.py).
        metrics_dir = tempfile.mkdtemp(prefix="contactdesk-metrics-")
        os.environ[MULTIPROCESS_ENV] = metrics_dir
    child = None
    if get_settings().importer:
        # Imports run in a process of their own, at a lower priority, not in the workers:
        # a batch's Python work would hold a worker's event loop, and its requests, for tens
        # of milliseconds at a time (bench: show p99 33 -> 921 ms during an import).
        child = _import_worker()
        os.environ["CONTACTDESK_IMPORTER"] = "false"
        get_settings.cache_clear()
    try:
        uvicorn.run(
            "contactdesk.app:create_app",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            http=PROTOCOL,  # uvicorn's httptools protocol, with bounds on the request head
            log_level=get_settings().log_level,
            # JSON lines (or text), the same in every worker (contactdesk.logs).
            log_config=logging_config(get_settings()),
            access_log=False,
        )
    finally:
        if child is not None:
            child.terminate()
            try:
                child.wait(35)
            except subprocess.TimeoutExpired:
                child.kill()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


@app.command()
def worker(
    dispatcher: Annotated[
        bool, typer.Option(help="Run the webhook dispatcher (--no-dispatcher: imports only).")
    ] = True,
    imports: Annotated[
        bool, typer.Option(help="Run contact imports (--no-imports: the dispatcher only).")
    ] = True,
) -> None:
    """Run the background work alone (no API): the webhook dispatcher (places events, sends
    deliveries, retries, prunes) and contact imports. Several may run against PostgreSQL;
    stop with Ctrl-C or SIGTERM."""
    from contactdesk.actions.imports import running as importing
    from contactdesk.limits import Limits, install
    from contactdesk.webhooks.dispatcher import running

    _ensure_migrated()
    settings = get_settings()
    configure_logging(settings)
    install(Limits.of(settings))

    async def run() -> None:
        db = Database(settings)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            async with contextlib.AsyncExitStack() as stack:
                sole = await stack.enter_async_context(running(db, settings)) if dispatcher else 0
                if sole is None:
                    raise exit_error("another process dispatches this SQLite database already")
                if imports:
                    await stack.enter_async_context(importing(db, settings))
                running_now = [
                    n for n, on in (("dispatcher", dispatcher), ("imports", imports)) if on
                ]
                typer.echo(f"running: {', '.join(running_now) or 'nothing'}", err=True)
                await stop.wait()
        finally:
            await db.dispose()

    asyncio.run(run())


def _import_worker() -> subprocess.Popen[bytes]:
    """`contactdesk worker --no-dispatcher` as a child of `serve`, at a lower CPU priority,
    ended with it (and by the kernel if `serve` dies without ending it)."""

    def lower() -> None:  # in the child, before it runs
        os.nice(IMPORT_NICENESS)
        with contextlib.suppress(OSError, AttributeError):
            libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)

    command = [sys.executable, "-m", "contactdesk.cli", "worker", "--no-dispatcher"]
    return subprocess.Popen(command, preexec_fn=lower)  # noqa: S603


@accounts_app.command("create")
def accounts_create(name: Annotated[str, typer.Option(help="Account name.")]) -> None:
    """Create an account; prints {"id", "name"}."""
    account = run_in_transaction(lambda s: create_account(s, name))
    emit({"id": account.id, "name": account.name})


@users_app.command("create")
def users_create(
    account: Annotated[int, typer.Option(help="Account id.")],
    name: Annotated[str, typer.Option(help="User name.")],
    email: Annotated[str, typer.Option(help="User email.")],
    role: Annotated[str, typer.Option(help="administrator or agent.")],
) -> None:
    """Create a user in an account with a role; prints the access token once."""
    issued = run_in_transaction(lambda s: create_user(s, account, name, email, role))
    emit(
        {
            "id": issued.user.id,
            "name": issued.user.name,
            "email": issued.user.email,
            "role": issued.role,
            "access_token": issued.access_token,
        }
    )


@keys_app.command("create")
def keys_create(
    account: Annotated[int, typer.Option(help="Account id.")],
    scopes: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated: contacts:read,contacts:write,contacts:delete,admin "
            "(default: contacts:read,contacts:write; admin must be asked for)."
        ),
    ] = None,
) -> None:
    """Create an API key; prints the secret once."""
    try:
        wanted = parse_scopes(scopes)
    except ProvisioningError as exc:
        raise exit_error(str(exc)) from None
    issued = run_in_transaction(lambda s: create_api_key(s, account, wanted))
    emit({"api_key": issued.key.key, "api_secret": issued.secret, "scopes": issued.scopes})


@keys_app.command("list")
def keys_list(account: Annotated[int, typer.Option(help="Account id.")]) -> None:
    """The account's API keys (never their secrets); prints {"api_keys": [...]}."""
    emit({"api_keys": run_in_transaction(lambda s: list_api_keys(s, account))})


@keys_app.command("revoke")
def keys_revoke(
    api_key: Annotated[str, typer.Argument(help="The API key (not its secret).")],
) -> None:
    """Delete an API key: every server process refuses it within
    CONTACTDESK_AUTH_CACHE_SECONDS. Prints {"revoked", "account_id"}."""
    account_id = run_in_transaction(lambda s: revoke_api_key(s, api_key))
    emit({"revoked": api_key, "account_id": account_id})


@users_app.command("remove")
def users_remove(
    account: Annotated[int, typer.Option(help="Account id.")],
    email: Annotated[str, typer.Option(help="User email.")],
) -> None:
    """End a user's membership of an account (the user and other memberships stay); their
    token is refused for it within CONTACTDESK_AUTH_CACHE_SECONDS."""
    user = run_in_transaction(lambda s: remove_user(s, account, email))
    emit({"removed": user.email, "account_id": account})


@tokens_app.command("rotate")
def tokens_rotate(email: Annotated[str, typer.Option(help="User email.")]) -> None:
    """Issue a new access token for the user and revoke the old ones (refused by every
    process within CONTACTDESK_AUTH_CACHE_SECONDS); prints the new token once."""
    user, token = run_in_transaction(lambda s: rotate_token(s, email))
    emit({"id": user.id, "email": user.email, "access_token": token})


@inboxes_app.command("create")
def inboxes_create(
    account: Annotated[int, typer.Option(help="Account id.")],
    name: Annotated[str, typer.Option(help="Inbox name.")],
    channel_type: Annotated[str, typer.Option(help="Channel type.")] = "Channel::Api",
) -> None:
    """Create an inbox; prints {"id", "name", "channel_type"}."""
    inbox = run_in_transaction(lambda s: create_account_inbox(s, account, name, channel_type))
    emit({"id": inbox.id, "name": inbox.name, "channel_type": inbox.channel_type})


async def _demo(session: AsyncSession) -> dict[str, Any]:
    """The demo account is the one the demo user administers; another account that merely
    shares its name is left alone."""
    demo_user_id = (
        await session.execute(sa.select(User.id).where(User.email == DEMO_USER_EMAIL))
    ).scalar_one_or_none()
    account = None
    if demo_user_id is not None:
        # The accounts the demo user belongs to: keyed by the user (memberships are its rows).
        account = (
            await session.execute(
                keyed_by_parent(
                    sa.select(Account)
                    .join(AccountUser, AccountUser.account_id == Account.id)
                    .where(AccountUser.user_id == demo_user_id)
                    .order_by(Account.id)
                    .limit(1)
                )
            )
        ).scalar_one_or_none()
    inbox = None
    if account is None or demo_user_id is None:
        account = await create_account(session, DEMO_ACCOUNT)
        issued = await create_user(
            session, account.id, "Demo Admin", DEMO_USER_EMAIL, "administrator"
        )
        token = issued.access_token
    else:
        # Secrets are stored hashed and cannot be shown again: re-issue the demo credentials.
        await session.execute(sa.delete(AccessToken).where(AccessToken.user_id == demo_user_id))
        await session.execute(tenant_delete(ApiKey, account.id))
        token = await issue_token(session, demo_user_id)
        inbox = (
            await session.execute(
                tenant_select(account.id, Inbox)
                .where(Inbox.channel_type == "Channel::Api")
                .order_by(Inbox.id)
                .limit(1)
            )
        ).scalar_one_or_none()
    if inbox is None:
        inbox = await create_account_inbox(session, account.id, "Demo API inbox", "Channel::Api")
    key = await create_api_key(session, account.id, parse_scopes(None))
    return {
        "account_id": account.id,
        "inbox_id": inbox.id,
        "access_token": token,
        "api_key": key.key.key,
        "api_secret": key.secret,
        "scopes": key.scopes,
    }


@app.command()
def demo(
    port: Annotated[int, typer.Option(help="Port used in the printed curl lines.")] = 8000,
) -> None:
    """Migrate, create (once) a demo account, and print its credentials and curl lines."""
    migrate()
    creds = run_in_transaction(_demo)
    basic = base64.b64encode(f"{creds['api_key']}:{creds['api_secret']}".encode()).decode()
    base = f"http://127.0.0.1:{port}"
    v1 = f"{base}/api/v1/accounts/{creds['account_id']}"
    lines = [
        "contactdesk demo account ready (credentials are re-issued each time demo runs).",
        f"  account id:   {creds['account_id']}",
        f"  inbox id:     {creds['inbox_id']}",
        f"  access token: {creds['access_token']}   (v1, Chatwoot dialect)",
        f"  api key:      {creds['api_key']}",
        f"  api secret:   {creds['api_secret']}   (v2, LiveDesk dialect)",
        f"  key scopes:   {','.join(creds['scopes'])}   (v2; the v1 token is an administrator's)",
        "",
        "Try it (with `contactdesk serve` running):",
        f"  curl -s -X POST {base}/api/v2/accounts/contacts -H 'Authorization: Basic {basic}' "
        f"-H 'Content-Type: application/json' "
        f'-d \'{{"inbox_id": {creds["inbox_id"]}, "name": "Alice", "email": "alice@acme.inc"}}\'',
        f"  curl -s '{base}/api/v2/accounts/contacts?page=1&sort=-last_activity_at' "
        f"-H 'Authorization: Basic {basic}'",
        f"  curl -s '{v1}/contacts/search?q=alice' -H 'api_access_token: {creds['access_token']}'",
        f"  curl -s {v1}/inboxes -H 'api_access_token: {creds['access_token']}'",
    ]
    typer.echo("\n".join(lines))


def _in_account(work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """run_in_transaction for the API's own services: their 4xx errors become CLI errors,
    with the bounds of the settings installed (as the server does)."""
    from contactdesk.errors import AppError
    from contactdesk.limits import Limits, install

    install(Limits.of(get_settings()))
    try:
        return run_in_transaction(work)
    except AppError as exc:
        detail = exc.body()
        raise exit_error(str(detail.get("message") or detail.get("error") or exc)) from None


@webhooks_app.command("list")
def webhooks_list(account: Annotated[int, typer.Option(help="Account id.")]) -> None:
    """The account's webhooks (never their secrets); prints {"webhooks": [...]}."""
    from contactdesk.webhooks.service import list_webhooks, webhook_json

    async def work(session: AsyncSession) -> list[dict[str, Any]]:
        return [webhook_json(w) for w in await list_webhooks(session, account)]

    emit({"webhooks": _in_account(work)})


@webhooks_app.command("create")
def webhooks_create(
    account: Annotated[int, typer.Option(help="Account id.")],
    url: Annotated[str, typer.Option(help="http(s) URL of the endpoint.")],
    events: Annotated[
        str,
        typer.Option(
            help="Comma-separated: contact_created,contact_updated,contact_deleted,contact_merged."
        ),
    ],
    name: Annotated[str | None, typer.Option(help="A name for it.")] = None,
) -> None:
    """Create a webhook; prints it with its signing secret (shown once)."""
    from contactdesk.webhooks.service import create_webhook, webhook_json

    body: dict[str, Any] = {
        "url": url,
        "subscriptions": [e.strip() for e in events.split(",") if e.strip()],
    }
    if name is not None:
        body["name"] = name

    async def work(session: AsyncSession) -> dict[str, Any]:
        return webhook_json(await create_webhook(session, account, body), secret=True)

    emit(_in_account(work))


@webhooks_app.command("delete")
def webhooks_delete(
    webhook_id: Annotated[int, typer.Argument(help="Webhook id.")],
    account: Annotated[int, typer.Option(help="Account id.")],
) -> None:
    """Delete a webhook (its deliveries go with it); prints {"deleted": id}."""
    from contactdesk.webhooks.service import delete_webhook

    async def work(session: AsyncSession) -> None:
        await delete_webhook(session, account, str(webhook_id))

    _in_account(work)
    emit({"deleted": webhook_id})


@webhooks_app.command("deliveries")
def webhooks_deliveries(
    webhook_id: Annotated[int, typer.Argument(help="Webhook id.")],
    status: Annotated[
        str | None, typer.Option(help="pending, succeeded or failed (default: all).")
    ] = None,
    page: Annotated[int, typer.Option(help="1-based page of 100, newest first.", min=1)] = 1,
) -> None:
    """A webhook's deliveries, newest first; prints {"webhook_id", "count", "deliveries"}."""
    from contactdesk.webhooks.deliveries import delivery_json, delivery_log, parse_log_query
    from contactdesk.webhooks.service import get_webhook

    query = {"page": str(page), "page_size": "100"}
    if status is not None:
        query["status"] = status

    async def work(session: AsyncSession) -> dict[str, Any]:
        # An operator's command: the webhook names its account.
        owner = (
            await session.execute(
                sa.text("SELECT account_id FROM webhooks WHERE id = :id"), {"id": webhook_id}
            )
        ).scalar_one_or_none()
        if owner is None:
            raise ProvisioningError(f"no webhook {webhook_id}")
        webhook = await get_webhook(session, int(owner), str(webhook_id))
        wanted, number, size = parse_log_query(query)
        found, count = await delivery_log(session, webhook, wanted, number, size)
        return {
            "webhook_id": webhook_id,
            "count": count,
            "deliveries": [delivery_json(d) for d in found],
        }

    emit(_in_account(work))


def _progress(total: int | None, what: str) -> Any:
    """A progress bar on stderr: done/total, rows a second, time left."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        Task,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:,.0f} rows/s" if speed else "- rows/s")

    return Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        Rate(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )


def _account_exists(session: AsyncSession, account: int) -> Awaitable[Any]:
    return session.scalar(sa.select(Account.id).where(Account.id == account))


@contacts_app.command("import")
def contacts_import(
    file: Annotated[str, typer.Argument(help="The CSV file (as POST /contacts/import takes).")],
    account: Annotated[int, typer.Option(help="Account id.")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Check every row and write nothing.")
    ] = False,
) -> None:
    """Import contacts from a CSV file, as the API does (the same checks and code), with a
    progress bar on stderr; prints the import's summary as JSON. --dry-run says what the
    import would do and writes nothing."""
    from contactdesk.actions.contact_csv import FileRefused, scan
    from contactdesk.actions.imports import (
        FINAL,
        ImportRunner,
        Progress,
        create_import,
        get_import,
        import_json,
    )
    from contactdesk.actions.imports import (
        dry_run as try_rows,
    )
    from contactdesk.errors import AppError
    from contactdesk.limits import Limits, install

    _ensure_migrated()
    settings = get_settings()
    configure_logging(settings)
    install(Limits.of(settings))
    try:
        stream = open(file, "rb")  # noqa: SIM115  (closed below)
    except OSError as exc:
        raise exit_error(f"cannot read {file}: {exc.strerror}") from None
    with stream:
        try:
            shape = scan(stream)
        except FileRefused as refused:
            raise exit_error(refused.message) from None
        size = stream.seek(0, 2)

        async def run() -> dict[str, Any]:
            db = Database(settings)
            bar = _progress(shape.rows, "dry run" if dry_run else "importing")
            task = bar.add_task("rows", total=shape.rows)

            def show(progress: Progress) -> None:
                bar.update(task, completed=progress.rows_done)

            try:
                async with db.reader() as session:
                    if await _account_exists(session, account) is None:
                        raise exit_error(f"no account {account}")
                with bar:
                    if dry_run:
                        async with db.writing() as session:
                            outcome = await try_rows(
                                session, account, shape, stream, settings.import_batch_rows, show
                            )
                            await session.rollback()
                        return {
                            "dry_run": True,
                            "total_rows": shape.rows,
                            "created": outcome.created,
                            "updated": outcome.updated,
                            "unchanged": outcome.unchanged,
                            "failed": outcome.failed,
                            "duplicates_in_file": outcome.duplicates,
                            "unknown_columns": shape.unknown,
                            "errors": [
                                {"line": line, "error": reason}
                                for line, _, reason in outcome.errors[:1000]
                            ],
                        }
                    async with db.writing() as session:
                        row = await create_import(
                            session, account, shape, stream, size, os.path.basename(file)
                        )
                        await session.commit()
                    runner = ImportRunner(db, settings)
                    runner.on_progress = show
                    held = await runner.claim((account, row.id))
                    if held is not None:
                        row = await runner.run_import(held)
                    else:  # a server's runner took it first: follow it
                        while row.status not in FINAL:
                            await asyncio.sleep(0.5)
                            async with db.reader() as session:
                                row = await get_import(session, account, row.id)
                            bar.update(task, completed=row.rows_done)
                    return import_json(row)
            finally:
                await db.dispose()

        try:
            emit(asyncio.run(run()))
        except AppError as exc:
            raise exit_error(str(exc.body().get("error") or exc)) from None


@contacts_app.command("export")
def contacts_export(
    account: Annotated[int, typer.Option(help="Account id.")],
    labels: Annotated[
        str | None, typer.Option(help="Comma-separated labels (as GET /contacts).")
    ] = None,
    q: Annotated[str | None, typer.Option(help="Search term (as GET /contacts/search).")] = None,
    sort: Annotated[str | None, typer.Option(help="Sort key (as GET /contacts).")] = None,
) -> None:
    """Write the account's contacts (those the options select) as CSV on stdout, as GET
    /contacts/export.csv does; progress on stderr."""
    import sys

    from starlette.datastructures import QueryParams

    from contactdesk.actions.export import export_csv
    from contactdesk.contacts.list_params import parse_list_query
    from contactdesk.contacts.queries import list_contacts
    from contactdesk.errors import AppError
    from contactdesk.limits import Limits, install

    _ensure_migrated()
    settings = get_settings()
    configure_logging(settings)
    install(Limits.of(settings))
    params = [(k, v) for k, v in (("labels", labels), ("q", q), ("sort", sort)) if v]
    try:
        query = parse_list_query(QueryParams(params))
    except AppError as exc:
        raise exit_error(str(exc.body().get("error") or exc)) from None

    async def run() -> None:
        db = Database(settings)
        try:
            async with db.writing() as session:
                if await _account_exists(session, account) is None:
                    raise exit_error(f"no account {account}")
            async with db.reads.connection() as conn:
                counted = await list_contacts(conn, account, query)
            total = int(counted["meta"]["count"])
            bar = _progress(total, "exporting")
            task = bar.add_task("rows", total=total)
            out = sys.stdout.buffer
            with bar:
                async for chunk in export_csv(
                    db, account, query, on_page=lambda n: bar.advance(task, n)
                ):
                    out.write(chunk)
            out.flush()
        finally:
            await db.dispose()

    try:
        asyncio.run(run())
    except AppError as exc:
        raise exit_error(str(exc.body().get("error") or exc)) from None


def main() -> None:
    app(prog_name="contactdesk")


if __name__ == "__main__":  # pragma: no cover
    main()
