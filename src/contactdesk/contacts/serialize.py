"""Contacts as the JSON objects of contract §2; plain dicts, no model round trip."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import Row

from contactdesk.inboxes.serialize import inbox_json
from contactdesk.models import Contact, Inbox


def contact_inbox_json(source_id: str, inbox: Inbox) -> dict[str, Any]:
    return {"source_id": source_id, "inbox": inbox_json(inbox)}


def contact_json(contact: Contact | Row[Any], contact_inboxes: Any = None) -> dict[str, Any]:
    """contact_inboxes (a list, or the JSON array the database rendered as a Fragment); None
    omits the key (include_contact_inboxes=false)."""
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


# The same objects, rendered by the database: hot reads pass the JSON text on untouched
# (docs/decisions.md, issue 10). Keys and values exactly as contact_json() and inbox_json().
_INBOX_KEYS = (
    "'id', i.id, 'avatar_url', coalesce(i.avatar_url, ''), 'channel_id', i.id, "
    "'name', i.name, 'channel_type', i.channel_type, 'provider', i.provider"
)
# Constant text: no value is ever formatted into it (hence the noqa S608).
_CONTACT_INBOXES = {
    "postgresql": "(SELECT coalesce(json_agg(json_build_object("  # noqa: S608
    f"'source_id', ci.source_id, 'inbox', json_build_object({_INBOX_KEYS})"
    ") ORDER BY ci.id), '[]') "
    "FROM contact_inboxes ci JOIN inboxes i ON i.id = ci.inbox_id "
    "WHERE ci.contact_id = contacts.id AND ci.account_id = contacts.account_id)",
    # SQLite 3.40 has no ORDER BY inside an aggregate: the rows come ordered from a subquery.
    "sqlite": "(SELECT json_group_array(json(item)) FROM (SELECT json_object("  # noqa: S608
    f"'source_id', ci.source_id, 'inbox', json_object({_INBOX_KEYS})) AS item "
    "FROM contact_inboxes ci JOIN inboxes i ON i.id = ci.inbox_id "
    "WHERE ci.contact_id = contacts.id AND ci.account_id = contacts.account_id "
    "ORDER BY ci.id))",
}


def contact_inboxes_sql(backend: str) -> sa.ColumnElement[str]:
    """The contact_inboxes of the row (table contacts) as a JSON array, as render() adds it."""
    return sa.literal_column(_CONTACT_INBOXES[backend], sa.String)


def _attributes(backend: str, column: str) -> str:
    if backend == "postgresql":
        return f"coalesce(nullif(contacts.{column}, 'null'::jsonb), '{{}}'::jsonb)"
    return f"json(coalesce(nullif(contacts.{column}, 'null'), '{{}}'))"


def contact_json_sql(backend: str, *, contact_inboxes: bool) -> sa.ColumnElement[str]:
    """The contact of the row (table contacts) as JSON text; with contact_inboxes, the key
    contact_inboxes as render() adds it."""
    blocked = (
        "contacts.blocked"
        if backend == "postgresql"
        else "json(CASE WHEN contacts.blocked THEN 'true' ELSE 'false' END)"
    )
    pairs = [
        f"'additional_attributes', {_attributes(backend, 'additional_attributes')}",
        "'availability_status', contacts.availability_status",
        "'email', contacts.email",
        "'id', contacts.id",
        "'name', contacts.name",
        "'first_name', contacts.first_name",
        "'last_name', contacts.last_name",
        "'phone_number', contacts.phone_number",
        f"'blocked', {blocked}",
        "'identifier', contacts.identifier",
        "'thumbnail', coalesce(contacts.thumbnail, '')",
        f"'custom_attributes', {_attributes(backend, 'custom_attributes')}",
        "'conversations_count', 0",
        "'last_activity_at', contacts.last_activity_at",
        "'created_at', contacts.created_at",
    ]
    if contact_inboxes:
        pairs.append(f"'contact_inboxes', {_CONTACT_INBOXES[backend]}")
    build = "json_build_object" if backend == "postgresql" else "json_object"
    # PostgreSQL's json arrives as bytes (driver.py), SQLite's as str.
    return sa.literal_column(f"{build}({', '.join(pairs)})", sa.String)
