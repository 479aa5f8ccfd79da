"""An inbox as the JSON object of contract §2 (inside contacts' contact_inboxes too)."""

from __future__ import annotations

from typing import Any

from contactdesk.models import Inbox


def inbox_json(inbox: Inbox | Any) -> dict[str, Any]:
    """Takes an Inbox or a row with the same columns."""
    return {
        "id": inbox.id,
        "avatar_url": inbox.avatar_url or "",
        "channel_id": inbox.id,
        "name": inbox.name,
        "channel_type": inbox.channel_type,
        "provider": inbox.provider,
    }
