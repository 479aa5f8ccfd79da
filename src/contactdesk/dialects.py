"""Both API dialects: each is a router prefix plus an authentication dependency."""

from __future__ import annotations

from fastapi import APIRouter, Depends, FastAPI

from contactdesk.actions.router import router as actions_router
from contactdesk.actions.router import upsert_router
from contactdesk.actions.transfer_router import router as transfer_router
from contactdesk.auth.dependencies import chatwoot_caller, livedesk_caller
from contactdesk.contact_inboxes.router import router as contact_inboxes_router
from contactdesk.contacts.router import router as contacts_router
from contactdesk.custom_attributes.router import router as custom_attributes_router
from contactdesk.events.router import router as events_router
from contactdesk.inboxes.router import router as inboxes_router
from contactdesk.labels.router import router as labels_router
from contactdesk.webhooks.router import router as webhooks_router

DOMAIN_ROUTERS = (
    transfer_router,  # before /contacts/{id}: /contacts/imports is not a contact
    upsert_router,
    contacts_router,
    labels_router,
    contact_inboxes_router,
    actions_router,
    custom_attributes_router,
    inboxes_router,
    webhooks_router,
    events_router,
)

DIALECTS = (
    ("/api/v2/accounts", livedesk_caller, "LiveDesk (v2)"),
    ("/api/v1/accounts/{account_id}", chatwoot_caller, "Chatwoot (v1)"),
)


def mount_dialects(app: FastAPI) -> None:
    for prefix, authenticate, tag in DIALECTS:
        mounted = APIRouter(prefix=prefix, dependencies=[Depends(authenticate)])
        for router in DOMAIN_ROUTERS:
            mounted.include_router(router, tags=[tag])
        app.include_router(mounted)
