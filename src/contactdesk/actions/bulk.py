"""POST /bulk_actions: delete contacts, or add and remove labels, for many ids at once."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from contactdesk.actions.merge import lock_counter_shards
from contactdesk.db import backend_of
from contactdesk.errors import InvalidParameter, ValidationFailed
from contactdesk.labels.service import ensure_label_ids, parse_labels_body
from contactdesk.limits import limits
from contactdesk.models import Contact, ContactLabel, Label
from contactdesk.models.tenancy import tenant_delete, tenant_select
from contactdesk.values import parse_id

# A Core table for the label insert: plain SQL, with no ORM session bookkeeping.
CONTACT_LABELS = cast(sa.Table, ContactLabel.__table__)
MAX_IDS = 1000
IDS_MESSAGE = (
    f"ids must be a non-empty list of at most {MAX_IDS} contact ids "
    "(positive integers or strings of digits)"
)


@dataclass(frozen=True)
class BulkAction:
    ids: list[int]  # request order, each once
    delete: bool
    add: list[str]
    remove: list[str]


def _ids(raw: Any) -> list[int]:
    if not isinstance(raw, list) or not 0 < len(raw) <= MAX_IDS:
        raise InvalidParameter(IDS_MESSAGE)
    unique: dict[int, None] = {}
    for item in raw:
        number = parse_id(item)
        # Unlike a single id, a number that cannot be an id is refused: the answer echoes ids.
        if number is None:
            raise InvalidParameter(IDS_MESSAGE)
        unique.setdefault(number, None)
    return list(unique)


def _label_list(labels: dict[str, Any], key: str) -> list[str]:
    if labels.get(key) is None:
        return []
    try:
        # The rules of POST /contacts/{id}/labels, as an {"error"} body like every other
        # problem of this request.
        return parse_labels_body({"labels": labels[key]})
    except ValidationFailed as problem:
        raise InvalidParameter(f"labels.{key}: {problem.message}") from None


def _labels(raw: Any) -> tuple[list[str], list[str]]:
    if not isinstance(raw, dict) or (raw.get("add") is None and raw.get("remove") is None):
        raise InvalidParameter("labels must be an object with add and/or remove lists")
    add, remove = _label_list(raw, "add"), _label_list(raw, "remove")
    both = {name.lower() for name in add} & {name.lower() for name in remove}
    if both:
        raise InvalidParameter(f"labels.add and labels.remove both name: {', '.join(sorted(both))}")
    return add, remove


def parse_bulk_body(body: dict[str, Any]) -> BulkAction:
    """Every problem is a 422 {"error": ...}; null counts as absent."""
    if body.get("type") != "Contact":
        raise InvalidParameter("type must be Contact")
    ids = _ids(body.get("ids"))
    action_name, labels = body.get("action_name"), body.get("labels")
    if (action_name is None) == (labels is None):
        raise InvalidParameter("Send exactly one of action_name and labels")
    if action_name is not None:
        if action_name != "delete":
            raise InvalidParameter("action_name must be delete")
        return BulkAction(ids, delete=True, add=[], remove=[])
    add, remove = _labels(labels)
    operations, most = (len(add) + len(remove)) * len(ids), limits().max_bulk_label_operations
    if operations > most:
        raise InvalidParameter(
            f"labels: label names times ids is {operations}, more than the {most} one bulk "
            "action may change; send fewer ids or names per request"
        )
    return BulkAction(ids, delete=False, add=add, remove=remove)


async def _lock_contacts(session: AsyncSession, account_id: int, ids: list[int]) -> set[int]:
    """The ids that are the account's contacts, row-locked in ascending id order."""
    rows = await session.execute(
        tenant_select(account_id, Contact.id)
        .where(Contact.id.in_(ids))
        .order_by(Contact.id)
        .with_for_update()
    )
    return set(rows.scalars())


async def _check_room(
    session: AsyncSession, account_id: int, contact_ids: list[int], action: BulkAction
) -> None:
    """422 when the action would leave a contact with more than max_labels labels.

    Run with the contacts locked (every writer of a contact's labels locks the contact
    first), so the count cannot change before the insert: the labels a contact keeps
    (neither added nor removed by the action) plus the ones added."""
    most = limits().max_labels
    named = [name.lower() for name in action.add + action.remove]
    kept = (
        tenant_select(account_id, ContactLabel.contact_id)
        .where(
            ContactLabel.contact_id.in_(contact_ids),
            ContactLabel.label_id.not_in(
                tenant_select(account_id, Label.id).where(Label.name_lower.in_(named))
            ),
        )
        .group_by(ContactLabel.contact_id)
        .having(sa.func.count() > most - len(action.add))
        .order_by(ContactLabel.contact_id)
        .limit(1)
    )
    crowded = (await session.execute(kept)).scalar_one_or_none()
    if crowded is not None:
        raise InvalidParameter(
            f"labels.add would give contact {crowded} more than {most} labels "
            f"(maximum is {most} labels per contact)"
        )


async def _add_labels(
    session: AsyncSession, account_id: int, contact_ids: list[int], names: list[str]
) -> None:
    ids = await ensure_label_ids(session, account_id, [name.lower() for name in names])
    await lock_counter_shards(session, account_id, contact_ids)
    insert = pg_insert if backend_of(session) == "postgresql" else sqlite_insert
    rows = [
        {"contact_id": cid, "label_id": ids[name.lower()], "account_id": account_id, "name": name}
        for cid in sorted(contact_ids)
        for name in names
    ]
    # A label the contact already has, in any case, keeps the row and so its spelling.
    await session.execute(
        insert(CONTACT_LABELS).on_conflict_do_nothing(index_elements=["contact_id", "label_id"]),
        rows,
    )


async def _remove_labels(
    session: AsyncSession, account_id: int, contact_ids: list[int], names: list[str]
) -> None:
    label_ids = tenant_select(account_id, Label.id).where(
        Label.name_lower.in_([name.lower() for name in names])
    )
    await session.execute(
        tenant_delete(ContactLabel, account_id).where(
            ContactLabel.contact_id.in_(contact_ids),
            ContactLabel.label_id.in_(label_ids),
        )
    )


async def run_bulk_action(
    session: AsyncSession, account_id: int, action: BulkAction
) -> tuple[list[int], list[int]]:
    """(processed ids, ignored ids), both in request order, in the caller's transaction.

    Lock order, the same in every multi-contact writer: contact rows (ascending id), new
    labels (sorted names), counter shards (ascending).
    """
    found = await _lock_contacts(session, account_id, action.ids)
    processed = [i for i in action.ids if i in found]
    ignored = [i for i in action.ids if i not in found]
    if not processed:
        return processed, ignored
    if action.delete:
        await lock_counter_shards(session, account_id, processed)
        # Contact inboxes and labels go with the contact (ON DELETE CASCADE); the triggers
        # keep the account and label counts.
        await session.execute(tenant_delete(Contact, account_id).where(Contact.id.in_(processed)))
        return processed, ignored
    if action.add:
        await _check_room(session, account_id, processed, action)
        await _add_labels(session, account_id, processed, action.add)
    else:
        await lock_counter_shards(session, account_id, processed)
    if action.remove:
        await _remove_labels(session, account_id, processed, action.remove)
    return processed, ignored
