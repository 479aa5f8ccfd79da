"""The contactdesk command line: migrate, serve, provisioning and the demo."""

from __future__ import annotations

import asyncio
import base64
import json
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
    parse_scopes,
)
from contactdesk.config import get_settings
from contactdesk.db import Database
from contactdesk.migrations import runner
from contactdesk.models import AccessToken, Account, AccountUser, ApiKey, Inbox, User
from contactdesk.models.tenancy import keyed_by_parent, tenant_delete, tenant_select

app = typer.Typer(help="contactdesk: the LiveDesk and Chatwoot Contacts API.", no_args_is_help=True)
accounts_app = typer.Typer(help="Manage accounts.", no_args_is_help=True)
users_app = typer.Typer(help="Manage users.", no_args_is_help=True)
keys_app = typer.Typer(help="Manage API keys.", no_args_is_help=True)
inboxes_app = typer.Typer(help="Manage inboxes.", no_args_is_help=True)
app.add_typer(accounts_app, name="accounts")
app.add_typer(users_app, name="users")
app.add_typer(keys_app, name="keys")
app.add_typer(inboxes_app, name="inboxes")

T = TypeVar("T")
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
) -> None:
    """Serve the API (refuses an unmigrated database)."""
    import uvicorn

    from contactdesk.transport import PROTOCOL

    _ensure_migrated()
    uvicorn.run(
        "contactdesk.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        http=PROTOCOL,  # uvicorn's httptools protocol, with bounds on the request head
        log_level=get_settings().log_level,
        access_log=False,
    )


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
        typer.Option(help="Comma-separated: contacts:read,contacts:write,contacts:delete,admin."),
    ] = None,
) -> None:
    """Create an API key; prints the secret once."""
    try:
        wanted = parse_scopes(scopes)
    except ProvisioningError as exc:
        raise exit_error(str(exc)) from None
    issued = run_in_transaction(lambda s: create_api_key(s, account, wanted))
    emit({"api_key": issued.key.key, "api_secret": issued.secret, "scopes": issued.scopes})


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


def main() -> None:
    app(prog_name="contactdesk")


if __name__ == "__main__":  # pragma: no cover
    main()
