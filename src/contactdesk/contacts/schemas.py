"""Pydantic models of the request and response bodies, for the OpenAPI document.

Routes parse bodies themselves (the contract's error bodies and messages are not Pydantic's)
and emit plain dicts, so these models describe the wire format without sitting on the hot path.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from contactdesk.inboxes.schemas import InboxOut


class ContactInboxOut(BaseModel):
    source_id: str
    inbox: InboxOut


class ContactOut(BaseModel):
    additional_attributes: dict[str, Any]
    availability_status: Literal["online", "offline"]
    email: str | None
    id: int
    name: str
    first_name: str
    last_name: str
    phone_number: str | None = Field(description="E.164")
    blocked: bool
    identifier: str | None
    thumbnail: str
    custom_attributes: dict[str, Any]
    conversations_count: int
    last_activity_at: int | None = Field(description="epoch seconds")
    created_at: int = Field(description="epoch seconds")
    contact_inboxes: list[ContactInboxOut] | None = Field(
        None, description="Present unless include_contact_inboxes=false"
    )


class ListMeta(BaseModel):
    count: int = Field(description="Exact number of matching contacts")
    current_page: str | int = Field(
        description="The page parameter as sent (a string), or the integer 1 when absent"
    )
    next_cursor: str | None = Field(
        description="EXT: pass as after= to get the next page; null on the last page"
    )


class ContactList(BaseModel):
    meta: ListMeta
    payload: list[ContactOut]


class ContactShow(BaseModel):
    payload: ContactOut


class CreatedContactInbox(BaseModel):
    inbox: InboxOut | None
    source_id: str | None


class CreatedPayload(BaseModel):
    contact: ContactOut
    contact_inbox: CreatedContactInbox


class ContactCreated(BaseModel):
    payload: CreatedPayload


class ContactUpdateBody(BaseModel):
    """Every key is optional; only the keys sent change. Unknown keys are ignored."""

    model_config = ConfigDict(extra="allow")

    name: str | None = Field(None, max_length=255)
    first_name: str | None = Field(None, max_length=255)
    last_name: str | None = Field(None, max_length=255)
    email: str | None = Field(None, max_length=255, description="Stored lower-cased")
    phone_number: str | None = Field(None, description="E.164, e.g. +14155550123")
    identifier: str | int | None = Field(None, description="External id, unique per account")
    avatar_url: str | None = Field(None, description="http(s) URL; wins over thumbnail")
    thumbnail: str | None = None
    blocked: bool | Literal["true", "false"] | None = None
    availability_status: Literal["online", "offline"] | None = None
    last_activity_at: int | str | None = Field(
        None, description="Epoch seconds, a string of digits or ISO 8601"
    )
    additional_attributes: dict[str, Any] | None = Field(
        None, description="Merged into the stored object on update (at most 16 KB)"
    )
    custom_attributes: dict[str, Any] | None = Field(
        None, description="Merged into the stored object on update (at most 16 KB)"
    )


class ContactCreateBody(ContactUpdateBody):
    inbox_id: int | str | None = Field(
        None, description="Required in the v2 (LiveDesk) dialect; optional in v1"
    )
    source_id: str | None = Field(None, description="Generated (a UUID) for API inboxes")


class DestroyCustomAttributesBody(BaseModel):
    custom_attributes: list[str] = Field(description="The custom attribute keys to remove")


class FilterCondition(BaseModel):
    attribute_key: str = Field(
        description="name, phone_number, email, identifier, country_code, city, company, "
        "labels, created_at, last_activity_at, blocked, or a custom attribute key defined "
        "in the account"
    )
    filter_operator: Literal[
        "equal_to",
        "not_equal_to",
        "contains",
        "does_not_contain",
        "starts_with",
        "is_greater_than",
        "is_less_than",
        "days_before",
        "is_present",
        "is_not_present",
    ]
    values: list[Any] = Field(
        default_factory=list,
        description="equal_to/not_equal_to: any of these; dates: one ISO 8601 date; "
        "days_before: one number of days; not needed for is_present/is_not_present",
    )
    query_operator: Literal["AND", "OR"] | None = Field(
        None, description="Joins this condition to the next; null on the last one"
    )


class FilterBody(BaseModel):
    payload: list[FilterCondition] = Field(description="[] matches every contact")
