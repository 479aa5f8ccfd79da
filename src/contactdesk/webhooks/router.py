"""Webhooks: an account's endpoints for its contact events (administrators, or the admin
scope)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from starlette.responses import Response

from contactdesk.auth.dependencies import Admin
from contactdesk.body import json_object
from contactdesk.db import SessionDep
from contactdesk.responses import OrjsonResponse, empty_ok, errors, request_body
from contactdesk.routing import LeanRoute
from contactdesk.webhooks import schemas
from contactdesk.webhooks.deliveries import (
    delivery_json,
    delivery_log,
    enable,
    parse_log_query,
    redeliver,
)
from contactdesk.webhooks.service import (
    create_webhook,
    delete_webhook,
    get_webhook,
    list_webhooks,
    rotate_secret,
    update_webhook,
    webhook_json,
)

router = APIRouter(tags=["webhooks"], default_response_class=OrjsonResponse, route_class=LeanRoute)
PATH = "/webhooks"


def _one(rendered: dict[str, object]) -> OrjsonResponse:
    return OrjsonResponse({"payload": {"webhook": rendered}})


@router.get(PATH, summary="List webhooks", response_model=schemas.WebhookList, responses=errors())
async def list_route(caller: Admin, session: SessionDep) -> Response:
    """The account's webhooks, oldest first (secrets are never listed)."""
    webhooks = await list_webhooks(session, caller.account_id)
    return OrjsonResponse({"payload": {"webhooks": [webhook_json(w) for w in webhooks]}})


@router.post(
    PATH,
    summary="Create a webhook",
    response_model=schemas.WebhookCreated,
    responses=errors(400, 422),
    openapi_extra=request_body(schemas.WebhookCreateBody),
)
async def create_route(request: Request, caller: Admin, session: SessionDep) -> Response:
    """A new endpoint; its signing secret is in this response only (and on rotation)."""
    body = await json_object(request)
    webhook = await create_webhook(session, caller.account_id, body)
    rendered = webhook_json(webhook, secret=True)
    await session.commit()
    return _one(rendered)


@router.get(
    PATH + "/{webhook_id}",
    summary="Show a webhook",
    response_model=schemas.WebhookShow,
    responses=errors(404),
)
async def show_route(caller: Admin, session: SessionDep, webhook_id: str) -> Response:
    """One webhook of the account, without its secret."""
    return _one(webhook_json(await get_webhook(session, caller.account_id, webhook_id)))


@router.patch(
    PATH + "/{webhook_id}",
    summary="Update a webhook",
    response_model=schemas.WebhookShow,
    responses=errors(400, 404, 422),
    openapi_extra=request_body(schemas.WebhookUpdateBody),
)
async def update_route(
    request: Request, caller: Admin, session: SessionDep, webhook_id: str
) -> Response:
    """Change the keys sent (url, subscriptions, name)."""
    webhook = await get_webhook(session, caller.account_id, webhook_id, for_update=True)
    body = await json_object(request)
    webhook = await update_webhook(session, webhook, body)
    rendered = webhook_json(webhook)
    await session.commit()
    return _one(rendered)


@router.post(
    PATH + "/{webhook_id}/rotate_secret",
    summary="Rotate a webhook's signing secret",
    response_model=schemas.WebhookCreated,
    responses=errors(404),
)
async def rotate_secret_route(caller: Admin, session: SessionDep, webhook_id: str) -> Response:
    """A new secret signs every delivery from now on; the old one stops at once."""
    webhook = await get_webhook(session, caller.account_id, webhook_id, for_update=True)
    webhook = await rotate_secret(session, webhook)
    rendered = webhook_json(webhook, secret=True)
    await session.commit()
    return _one(rendered)


@router.delete(
    PATH + "/{webhook_id}",
    summary="Delete a webhook",
    response_class=Response,
    responses={200: {"description": "Deleted; empty body"}, **errors(404)},
)
async def delete_route(caller: Admin, session: SessionDep, webhook_id: str) -> Response:
    """Remove the endpoint; nothing more is sent to it."""
    await delete_webhook(session, caller.account_id, webhook_id)
    await session.commit()
    return empty_ok()


@router.get(
    PATH + "/{webhook_id}/deliveries",
    summary="List a webhook's deliveries",
    response_model=schemas.DeliveryList,
    responses=errors(404, 422),
)
async def deliveries_route(
    request: Request,
    caller: Admin,
    session: SessionDep,
    webhook_id: str,
    status: Annotated[
        str | None, Query(description="pending, succeeded or failed (default: all)")
    ] = None,
    page: Annotated[str | None, Query(description="1-based page (default 1)")] = None,
    page_size: Annotated[str | None, Query(description="1 to 100 (default 25)")] = None,
) -> Response:
    """The webhook's deliveries, newest first: event, status, attempts, the last answer."""
    webhook = await get_webhook(session, caller.account_id, webhook_id)
    wanted, number, size = parse_log_query(request.query_params)
    found, count = await delivery_log(session, webhook, wanted, number, size)
    return OrjsonResponse(
        {
            "payload": [delivery_json(d) for d in found],
            "meta": {"count": count, "current_page": number},
        }
    )


@router.post(
    PATH + "/{webhook_id}/deliveries/{delivery_id}/redeliver",
    summary="Send a delivery again",
    response_model=schemas.DeliveryShow,
    responses=errors(404),
)
async def redeliver_route(
    caller: Admin, session: SessionDep, webhook_id: str, delivery_id: str
) -> Response:
    """Queue the delivery to be sent now (its attempts start over)."""
    webhook = await get_webhook(session, caller.account_id, webhook_id)
    delivery = await redeliver(session, webhook, delivery_id)
    rendered = delivery_json(delivery)
    await session.commit()
    return OrjsonResponse({"payload": {"delivery": rendered}})


@router.post(
    PATH + "/{webhook_id}/enable",
    summary="Enable a disabled webhook",
    response_model=schemas.WebhookShow,
    responses=errors(404),
)
async def enable_route(caller: Admin, session: SessionDep, webhook_id: str) -> Response:
    """Enabled again; the deliveries waiting for it are sent, oldest first."""
    webhook = await get_webhook(session, caller.account_id, webhook_id, for_update=True)
    webhook = await enable(session, webhook)
    rendered = webhook_json(webhook)
    await session.commit()
    return _one(rendered)
