"""Contacts as the JSON objects of contract §2; plain dicts, no model round trip."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Row

from contactdesk.inboxes.serialize import inbox_json
from contactdesk.models import Contact, Inbox


def contact_inbox_json(source_id: str, inbox: Inbox) -> dict[str, Any]:
    return {"source_id": source_id, "inbox": inbox_json(inbox)}


def contact_json(
    contact: Contact | Row[Any], contact_inboxes: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """contact_inboxes=None omits the key (include_contact_inboxes=false)."""
    data: dict[str, Any] = {
        "additional_attributes": contact.additional_attributes or {},
        "availability_status": contact.availability_status,
        "email": contact.email,
        "id": contact.id,
        "name": contact.name,
        "first_name": contact.first_name,
        "last_name": contact.last_name,
        "phone_number": contact.phone_number,
        "blocked": bool(contact.blocked),
        "identifier": contact.identifier,
        "thumbnail": contact.thumbnail or "",
        "custom_attributes": contact.custom_attributes or {},
        "conversations_count": 0,
        "last_activity_at": contact.last_activity_at,
        "created_at": contact.created_at,
    }
    if contact_inboxes is not None:
        data["contact_inboxes"] = contact_inboxes
    return data
