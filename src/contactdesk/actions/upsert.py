"""POST /contacts/upsert (contract §4.6, EXT): update the contact the body's keys identify, or
create it.

- The body and its rules are those of create (§5): inbox_id is required in v2, and a bad field
  is the same 422. Uniqueness messages are left out of that 422, as the contact holding a key
  is the one to update, not a conflict.
- The contact is found by identifier, then email, then phone_number (keys sent and non-null;
  email is stored lower-cased, so it matches case-insensitively). When the keys sent match two
  or more different contacts, nothing changes: 409 with the ids.
- One match: it is locked and updated by the update rules (§6: partial, JSON attributes
  merged). No match: the contact is created. Either way a given inbox is attached; on the
  update path the contact's existing contact inbox there is reused when no source_id is sent.
- Concurrent upserts of one key leave one contact: on PostgreSQL a create that loses the race
  to a unique constraint finds the winner and updates it instead (SQLite serializes writers).

Upsert coordinates two domains (contacts and contact inboxes), so it is an action; its route is
in actions/router.py.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from contactdesk.contact_inboxes.service import attach_inbox
from contactdesk.contacts.fields import ContactInput
from contactdesk.contacts.queries import contact_state
from contactdesk.contacts.service import (
    CONTACT_COLUMNS,
    CONTACTS,
    create_contact,
    update_contact,
)
from contactdesk.db import connection_of
from contactdesk.driver import WriteConnection
from contactdesk.errors import AppError, ValidationFailed
from contactdesk.inboxes.service import get_inbox
from contactdesk.models.tenancy import tenant_select

# The keys that identify a contact, in the order they are tried.
MATCH_KEYS = ("identifier", "email", "phone_number")
ATTEMPTS = 3


class AmbiguousMatch(AppError):
    status_code = 409

    def __init__(self, matched: dict[str, int]) -> None:
        named = ", ".join(f"{key} matches contact {cid}" for key, cid in matched.items())
        super().__init__(
            f"The keys sent identify different contacts ({named}); "
            "send keys that identify one contact"
        )
        self.contact_ids = sorted(set(matched.values()))

    def body(self) -> dict[str, Any]:
        return {"error": self.message, "conflicting_contact_ids": self.contact_ids}


async def find_match(conn: WriteConnection, account_id: int, data: ContactInput) -> Any:
    """The row of the one contact the identifying keys point at, locked; None when they
    match none."""
    keys = {k: data.values[k] for k in MATCH_KEYS if data.values.get(k) is not None}
    if not keys:
        return None
    contacts = await conn.fetch(
        tenant_select(account_id, *CONTACT_COLUMNS)
        .where(sa.or_(*(CONTACTS.c[k] == v for k, v in keys.items())))
        .order_by(CONTACTS.c.id)
        .with_for_update(),
        {},
    )
    matched: dict[str, int] = {}
    for key, value in keys.items():
        holder = next((c.id for c in contacts if getattr(c, key) == value), None)
        if holder is not None:
            matched[key] = holder
    if len(set(matched.values())) > 1:
        raise AmbiguousMatch(matched)
    return contacts[0] if contacts else None


async def upsert_contact(
    session: AsyncSession,
    account_id: int,
    data: ContactInput,
    inbox_id: int | None,
    source_id: str | None,
) -> tuple[Any, bool, dict[str, Any] | None]:
    """(the contact's row, whether it was created, the updated contact as it was rendered
    before), in the caller's transaction."""
    conn = connection_of(session)
    inbox = await get_inbox(conn, account_id, inbox_id) if inbox_id is not None else None
    for attempt in range(1, ATTEMPTS + 1):
        contact = await find_match(conn, account_id, data)
        if contact is not None:
            before = await contact_state(conn, account_id, contact.id)
            contact = await update_contact(conn, contact, data)
            if inbox is not None:
                await attach_inbox(session, contact, inbox, source_id, reuse_existing=True)
            return contact, False, before
        try:
            created = await create_contact(conn, account_id, data, inbox, source_id)
        except ValidationFailed as error:
            # Another request created the contact since the find (the create's insert did
            # nothing, the transaction goes on): update that one instead.
            if "conflicting_contact_id" not in error.extra or attempt == ATTEMPTS:
                raise
            continue
        return created.contact, True, None
    raise AssertionError("unreachable")  # pragma: no cover
