"""An endpoint's delivery log, sending one again, and enabling a disabled endpoint."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from contactdesk.errors import InvalidParameter, NotFound
from contactdesk.models import Webhook, WebhookDelivery
from contactdesk.models.delivery import DELIVERY_STATUSES, PENDING
from contactdesk.models.tenancy import tenant_select, tenant_update
from contactdesk.models.webhook import ENABLED
from contactdesk.values import parse_id

DEFAULT_PAGE_SIZE = 25
MAX_PAGE_SIZE = 100
MAX_PAGE = 10**6
STATUS_ERROR = "status must be one of: " + ", ".join(DELIVERY_STATUSES)
PAGE_ERROR = "page must be a positive integer"
PAGE_SIZE_ERROR = f"page_size must be between 1 and {MAX_PAGE_SIZE}"


def delivery_json(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "webhook_id": delivery.webhook_id,
        "event_id": f"evt_{delivery.event_id}",
        "event": delivery.event,
        "contact_id": delivery.contact_id,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        # Epoch seconds, like created_at; None once the delivery is settled.
        "next_attempt_at": delivery.next_attempt_at / 1000 if delivery.status == PENDING else None,
        "created_at": delivery.created_at,
        "updated_at": delivery.updated_at,
    }


def _positive(raw: str | None, default: int, most: int, error: str) -> int:
    if raw is None or raw == "":
        return default
    if not raw.isascii() or not raw.isdigit() or len(raw) > 9:
        raise InvalidParameter(error)
    value = int(raw)
    if not 1 <= value <= most:
        raise InvalidParameter(error)
    return value


def parse_log_query(params: Any) -> tuple[str | None, int, int]:
    """(status or None, page, page_size) of a delivery log request."""
    status = params.get("status")
    if status is not None and status not in DELIVERY_STATUSES:
        raise InvalidParameter(STATUS_ERROR)
    page = _positive(params.get("page"), 1, MAX_PAGE, PAGE_ERROR)
    size = _positive(params.get("page_size"), DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, PAGE_SIZE_ERROR)
    return status, page, size


async def delivery_log(
    session: AsyncSession, webhook: Webhook, status: str | None, page: int, size: int
) -> tuple[list[WebhookDelivery], int]:
    """One page of the endpoint's deliveries, newest first, and how many there are."""
    condition = WebhookDelivery.webhook_id == webhook.id
    if status is not None:
        condition = sa.and_(condition, WebhookDelivery.status == status)
    account = webhook.account_id
    count = (
        await session.execute(
            tenant_select(account, sa.func.count(), select_from=WebhookDelivery).where(condition)
        )
    ).scalar_one()
    rows = await session.execute(
        tenant_select(account, WebhookDelivery)
        .where(condition)
        .order_by(WebhookDelivery.id.desc())
        .limit(size)
        .offset((page - 1) * size)
    )
    return list(rows.scalars()), int(count)


async def redeliver(session: AsyncSession, webhook: Webhook, raw_id: str) -> WebhookDelivery:
    """Send the delivery again, now (its attempts start over)."""
    parsed = parse_id(raw_id)
    if parsed is None:
        raise NotFound()
    now = time.time()
    result = await session.execute(
        tenant_update(WebhookDelivery, webhook.account_id)
        .where(WebhookDelivery.id == parsed, WebhookDelivery.webhook_id == webhook.id)
        .values(
            status=PENDING,
            attempts=0,
            next_attempt_at=int(now * 1000),
            claimed_until=None,
            updated_at=int(now),
        )
        .returning(WebhookDelivery.id)
    )
    if result.scalar_one_or_none() is None:
        raise NotFound()
    delivery: WebhookDelivery = (
        await session.execute(
            tenant_select(webhook.account_id, WebhookDelivery).where(WebhookDelivery.id == parsed)
        )
    ).scalar_one()
    await session.refresh(delivery)
    return delivery


async def enable(session: AsyncSession, webhook: Webhook) -> Webhook:
    """Enabled again: its pending deliveries (the backlog) are sent from now on."""
    webhook.status = ENABLED
    webhook.failing_since = None
    webhook.updated_at = int(time.time())
    await session.flush()
    return webhook
