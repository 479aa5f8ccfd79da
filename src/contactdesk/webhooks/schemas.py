"""Webhook bodies, for the OpenAPI document (routes parse bodies themselves)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

EventName = Literal["contact_created", "contact_updated", "contact_deleted", "contact_merged"]
SourceName = Literal["api", "merge", "bulk", "import"]
_EXCLUDE = (
    'Event sources this endpoint does not receive (e.g. ["import"]: no event for the '
    "contacts an import writes)"
)


class WebhookOut(BaseModel):
    id: int
    url: str
    name: str | None
    subscriptions: list[EventName]
    exclude_sources: list[SourceName] = Field(description=_EXCLUDE)
    account_id: int
    status: Literal["enabled", "disabled"]


class WebhookWithSecret(WebhookOut):
    secret: str = Field(
        description="The signing secret (whsec_ and base64): shown only when the webhook is "
        "created and when its secret is rotated",
        examples=["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
    )


class WebhookPayload(BaseModel):
    webhook: WebhookOut


class WebhookSecretPayload(BaseModel):
    webhook: WebhookWithSecret


class WebhookShow(BaseModel):
    payload: WebhookPayload


class WebhookCreated(BaseModel):
    payload: WebhookSecretPayload


class WebhookListPayload(BaseModel):
    webhooks: list[WebhookOut]


class WebhookList(BaseModel):
    payload: WebhookListPayload


class WebhookCreateBody(BaseModel):
    url: str = Field(
        max_length=2048,
        description="http:// or https://; its host must not resolve to a loopback, private, "
        "link-local or multicast address (unless the operator allows it)",
        examples=["https://crm.example.com/hooks/contacts"],
    )
    subscriptions: list[EventName] = Field(min_length=1)
    exclude_sources: list[SourceName] | None = Field(None, description=_EXCLUDE)
    name: str | None = Field(None, max_length=255)


class WebhookUpdateBody(BaseModel):
    """Every key is optional; only the keys sent change."""

    url: str | None = Field(None, max_length=2048)
    subscriptions: list[EventName] | None = Field(None, min_length=1)
    exclude_sources: list[SourceName] | None = Field(None, description=_EXCLUDE)
    name: str | None = Field(None, max_length=255)


class DeliveryOut(BaseModel):
    id: int
    webhook_id: int
    event_id: str = Field(description="Sent as webhook-id", examples=["evt_1042"])
    event: EventName
    contact_id: int | None
    status: Literal["pending", "succeeded", "failed"]
    attempts: int
    last_status: int | None = Field(description="The endpoint's last HTTP status, if any")
    last_error: str | None
    next_attempt_at: float | None = Field(description="Epoch seconds, while pending")
    created_at: int
    updated_at: int


class DeliveryListMeta(BaseModel):
    count: int
    current_page: int


class DeliveryList(BaseModel):
    payload: list[DeliveryOut]
    meta: DeliveryListMeta


class DeliveryPayload(BaseModel):
    delivery: DeliveryOut


class DeliveryShow(BaseModel):
    payload: DeliveryPayload
