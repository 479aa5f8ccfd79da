"""The event feed's bodies, for the OpenAPI document."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class FeedEvent(BaseModel):
    id: str = Field(
        description="The event's id, also sent as `webhook-id` with its deliveries",
        examples=["evt_1042"],
    )
    event: Literal["contact_created", "contact_updated", "contact_deleted", "contact_merged"]
    created_at: int = Field(description="When the change was written (epoch seconds)")
    payload: dict[str, Any] = Field(
        description="The body a webhook receives: the contact as the API renders it, "
        "`account: {id, name}`, `event`, `source` and, for contact_updated, "
        "`changed_attributes`"
    )


class FeedMeta(BaseModel):
    next_cursor: str = Field(
        description="Pass as `after` to read on; the same cursor when nothing new was committed yet"
    )


class Feed(BaseModel):
    payload: list[FeedEvent]
    meta: FeedMeta
