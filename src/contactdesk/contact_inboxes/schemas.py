"""Request and response bodies of the contact inbox routes, for the OpenAPI document."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

from contactdesk.contacts.schemas import ContactInboxOut


class ContactInboxBody(BaseModel):
    inbox_id: int | str = Field(description="An inbox of the account: an integer or digits")
    source_id: str | int | None = Field(
        None,
        description="The contact's id in the inbox. Default: a UUID for API and WebWidget "
        "inboxes, the email for Email, the phone for Sms, the phone without + for Whatsapp",
    )
    hmac_verified: bool | Literal["true", "false"] | None = Field(
        None, description="Whether the contact's identity was verified by HMAC; default false"
    )


class ContactInboxFilterBody(BaseModel):
    inbox_id: int | str = Field(description="An inbox of the account")
    source_id: str | int = Field(description="The contact's id in that inbox")


class ContactableInboxes(BaseModel):
    payload: list[ContactInboxOut]
