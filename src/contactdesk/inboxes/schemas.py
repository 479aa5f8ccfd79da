"""The inbox wire shape, for the OpenAPI document."""

from __future__ import annotations

from pydantic import BaseModel, Field


class InboxOut(BaseModel):
    id: int
    avatar_url: str = Field(description='Avatar URL or ""')
    channel_id: int
    name: str
    channel_type: str = Field(examples=["Channel::Api"])
    provider: str | None


class InboxList(BaseModel):
    payload: list[InboxOut]
