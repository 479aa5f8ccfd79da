"""Webhook endpoints: parsing, checks, storage. Services never commit."""

from __future__ import annotations

import base64
import secrets
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from contactdesk.errors import NotFound, ValidationFailed
from contactdesk.events.service import SOURCES
from contactdesk.limits import limits
from contactdesk.models import Account, Webhook
from contactdesk.models._time import now_epoch
from contactdesk.models.tenancy import tenant_delete, tenant_select
from contactdesk.models.webhook import ENABLED, EVENTS
from contactdesk.values import parse_id
from contactdesk.webhooks.urls import destination_problem, url_problem

MAX_NAME = 255
SECRET_PREFIX = "whsec_"  # noqa: S105 (the format's prefix, not a secret)
Problems = list[tuple[str, str]]


def new_secret() -> str:
    """A Standard Webhooks secret: whsec_ and 24 random bytes in base64 (the HMAC key)."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(24)).decode()


def webhook_json(webhook: Webhook, *, secret: bool = False) -> dict[str, Any]:
    rendered: dict[str, Any] = {
        "id": webhook.id,
        "url": webhook.url,
        "name": webhook.name,
        "subscriptions": list(webhook.subscriptions),
        "exclude_sources": list(webhook.exclude_sources or []),
        "account_id": webhook.account_id,
        "status": webhook.status,
    }
    if secret:
        rendered["secret"] = webhook.secret
    return rendered


def _subscriptions(value: Any, problems: Problems) -> list[str] | None:
    if not isinstance(value, list) or not value:
        problems.append(
            ("subscriptions", "subscriptions must be a non-empty list of: " + ", ".join(EVENTS))
        )
        return None
    if len(value) > 16 * len(EVENTS) or not all(isinstance(v, str) for v in value):
        problems.append(("subscriptions", "subscriptions must be a list of event names"))
        return None
    unknown = sorted({v for v in value if v not in EVENTS})
    if unknown:
        shown = ", ".join(name[:64] for name in unknown[:5])
        problems.append(
            (
                "subscriptions",
                f"subscriptions has unknown events ({shown}); known: " + ", ".join(EVENTS),
            )
        )
        return None
    return [event for event in EVENTS if event in value]


def _sources(value: Any, problems: Problems) -> list[str] | None:
    if value is None:
        return []
    if (
        not isinstance(value, list)
        or len(value) > 16 * len(SOURCES)
        or not all(isinstance(v, str) for v in value)
    ):
        problems.append(
            ("exclude_sources", "exclude_sources must be a list of: " + ", ".join(SOURCES))
        )
        return None
    unknown = sorted({v for v in value if v not in SOURCES})
    if unknown:
        shown = ", ".join(name[:64] for name in unknown[:5])
        problems.append(
            (
                "exclude_sources",
                f"exclude_sources has unknown sources ({shown}); known: " + ", ".join(SOURCES),
            )
        )
        return None
    return [source for source in SOURCES if source in value]


def parse_webhook(body: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    """The fields sent, checked (422 naming each problem); url and subscriptions are required
    to create. Unknown keys are ignored."""
    problems: Problems = []
    values: dict[str, Any] = {}
    if "url" in body or creating:
        url = body.get("url")
        if not isinstance(url, str) or not url.strip():
            problems.append(("url", "url must be an http(s) URL"))
        else:
            problem = url_problem(url.strip())
            if problem is not None:
                problems.append(("url", problem))
            else:
                values["url"] = url.strip()
    if "subscriptions" in body or creating:
        subscriptions = _subscriptions(body.get("subscriptions"), problems)
        if subscriptions is not None:
            values["subscriptions"] = subscriptions
    if "exclude_sources" in body:
        sources = _sources(body["exclude_sources"], problems)
        if sources is not None:
            values["exclude_sources"] = sources
    if "name" in body:
        name = body["name"]
        if name is not None and not isinstance(name, str):
            problems.append(("name", "name must be a string"))
        elif isinstance(name, str) and len(name) > MAX_NAME:
            problems.append(("name", f"name is too long (at most {MAX_NAME} characters)"))
        else:
            values["name"] = (name.strip() or None) if isinstance(name, str) else None
    if problems:
        raise ValidationFailed(problems)
    return values


async def check_destination(url: str) -> None:
    problem = await destination_problem(url, limits().webhooks_allow_private)
    if problem is not None:
        raise ValidationFailed([("url", problem)])


async def list_webhooks(session: AsyncSession, account_id: int) -> list[Webhook]:
    rows = await session.execute(tenant_select(account_id, Webhook).order_by(Webhook.id))
    return list(rows.scalars())


async def get_webhook(
    session: AsyncSession, account_id: int, raw_id: str, *, for_update: bool = False
) -> Webhook:
    parsed = parse_id(raw_id)
    if parsed is None:
        raise NotFound()
    statement = tenant_select(account_id, Webhook).where(Webhook.id == parsed)
    if for_update:
        statement = statement.with_for_update()
    webhook: Webhook | None = (await session.execute(statement)).scalar_one_or_none()
    if webhook is None:
        raise NotFound()
    return webhook


async def _full(session: AsyncSession, account_id: int) -> str | None:
    """The problem when the account holds its maximum of webhooks. Concurrent creates queue
    on the account's row (PostgreSQL; SQLite's writers are serialized already)."""
    await session.execute(
        sa.select(Account.id).where(Account.id == account_id).with_for_update(key_share=True)
    )
    most = limits().max_webhooks
    count = (
        await session.execute(tenant_select(account_id, sa.func.count(), select_from=Webhook))
    ).scalar_one()
    if count < most:
        return None
    return f"the account has {count} webhooks (maximum is {most})"


async def create_webhook(session: AsyncSession, account_id: int, body: dict[str, Any]) -> Webhook:
    values = parse_webhook(body, creating=True)
    await check_destination(values["url"])
    full = await _full(session, account_id)
    if full is not None:
        raise ValidationFailed([("url", full)])
    now = now_epoch()
    webhook = Webhook(
        account_id=account_id,
        url=values["url"],
        name=values.get("name"),
        subscriptions=values["subscriptions"],
        exclude_sources=values.get("exclude_sources", []),
        secret=new_secret(),
        status=ENABLED,
        created_at=now,
        updated_at=now,
    )
    session.add(webhook)
    await session.flush()
    return webhook


async def update_webhook(session: AsyncSession, webhook: Webhook, body: dict[str, Any]) -> Webhook:
    values = parse_webhook(body, creating=False)
    if "url" in values:
        await check_destination(values["url"])
    for key, value in values.items():
        setattr(webhook, key, value)
    webhook.updated_at = now_epoch()
    await session.flush()
    return webhook


async def rotate_secret(session: AsyncSession, webhook: Webhook) -> Webhook:
    webhook.secret = new_secret()
    webhook.updated_at = now_epoch()
    await session.flush()
    return webhook


async def delete_webhook(session: AsyncSession, account_id: int, raw_id: str) -> None:
    parsed = parse_id(raw_id)
    deleted = None
    if parsed is not None:
        result = await session.execute(
            tenant_delete(Webhook, account_id).where(Webhook.id == parsed).returning(Webhook.id)
        )
        deleted = result.scalar_one_or_none()
    if deleted is None:
        raise NotFound()
