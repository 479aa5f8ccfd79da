"""Services compose in one transaction: a conflict the database refuses is recovered inside a
savepoint, so what the caller wrote earlier in the same transaction survives and commits.

This is what lets a route write more than one service's work (and, later, its webhook events)
in one transaction, and an import commit a batch in which some rows fail.
"""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from contactdesk.actions.upsert import upsert_contact
from contactdesk.contact_inboxes.service import attach_inbox
from contactdesk.contacts.fields import parse_contact_fields
from contactdesk.contacts.service import create_contact, get_contact, update_contact
from contactdesk.custom_attributes.service import create_definition, update_definition
from contactdesk.db import Database, connection_of
from contactdesk.driver import WriteConnection
from contactdesk.errors import ValidationFailed
from contactdesk.inboxes.service import get_inbox
from contactdesk.models import Contact, ContactInbox, CustomAttributeDefinition
from tests.support import Tenant

HOLDER = {"email": "held@example.com", "phone_number": "+14155550100", "identifier": "crm-1"}


async def _create(session: AsyncSession, tenant: Tenant, body: dict[str, Any]) -> Any:
    return await _create_on(connection_of(session), tenant, body)


async def _create_on(conn: WriteConnection, tenant: Tenant, body: dict[str, Any]) -> Any:
    data = parse_contact_fields(body, creating=True)
    inbox = await get_inbox(conn, tenant.account_id, tenant.inbox_id)
    created = await create_contact(conn, tenant.account_id, data, inbox, None)
    return created.contact


async def _count(session: AsyncSession, model: Any, account_id: int) -> int:
    statement = sa.select(sa.func.count()).select_from(model).where(model.account_id == account_id)
    return int(await session.scalar(statement) or 0)


async def test_each_recoverable_conflict_keeps_the_outer_transaction(
    db: Database, tenant: Tenant
) -> None:
    async with db.writing() as session:
        holder = await _create(session, tenant, {"name": "Holder", **HOLDER})
        inbox = await get_inbox(connection_of(session), tenant.account_id, tenant.inbox_id)
        await attach_inbox(session, holder, inbox, "taken-source")
        await create_definition(
            session, tenant.account_id, {"attribute_display_name": "Plan", "attribute_key": "plan"}
        )
        await session.commit()

    async with db.writing() as session:
        # Written first in the outer transaction: it must survive every refusal below.
        earlier = await _create(session, tenant, {"name": "Earlier", "email": "e@example.com"})
        tier = await create_definition(
            session, tenant.account_id, {"attribute_display_name": "Tier", "attribute_key": "tier"}
        )
        earlier_id, tier_id = earlier.id, tier.id

        # 1. create: a unique value another contact holds.
        for field, value in HOLDER.items():
            with pytest.raises(ValidationFailed) as refused:
                await _create(session, tenant, {"name": "Dup", field: value})
            assert refused.value.extra["conflicting_contact_id"] == holder.id

        # 2. update: the database refuses the write; the 422 names the field.
        conn = connection_of(session)
        contact = await get_contact(conn, tenant.account_id, earlier_id, for_update=True)
        with pytest.raises(ValidationFailed) as refused:
            await update_contact(
                conn, contact, parse_contact_fields({"email": HOLDER["email"]}, creating=False)
            )
        assert refused.value.problems == [("email", "Email has already been taken")]

        # 3. contact inbox: a source_id another contact holds in the inbox.
        contact = await get_contact(conn, tenant.account_id, earlier_id, for_update=True)
        with pytest.raises(ValidationFailed) as refused:
            await attach_inbox(session, contact, inbox, "taken-source")
        assert refused.value.problems == [("source_id", "Source has already been taken")]

        # 4. custom attribute definitions: a key the account already defined.
        with pytest.raises(ValidationFailed):
            await create_definition(
                session,
                tenant.account_id,
                {"attribute_display_name": "Again", "attribute_key": "plan"},
            )
        tier = (
            await session.execute(
                sa.select(CustomAttributeDefinition).where(CustomAttributeDefinition.id == tier_id)
            )
        ).scalar_one()
        with pytest.raises(ValidationFailed):
            await update_definition(session, tier, {"attribute_key": "plan"})

        # 5. upsert, wrapped by its caller in a savepoint of its own: its partial work (the
        # update of the matched contact) goes with the refused contact inbox.
        data = parse_contact_fields({"email": "e@example.com", "name": "Renamed"}, creating=True)
        with pytest.raises(ValidationFailed):
            async with session.begin_nested():
                await upsert_contact(
                    session, tenant.account_id, data, tenant.inbox_id, "taken-source"
                )

        # The transaction is still usable: one more write, then the one commit.
        later = await _create(session, tenant, {"name": "Later"})
        later_id = later.id
        await session.commit()

    async with db.reader() as session:
        names = dict(
            (
                await session.execute(
                    sa.select(Contact.id, Contact.name).where(
                        Contact.account_id == tenant.account_id
                    )
                )
            ).all()
        )
        assert names == {holder.id: "Holder", earlier_id: "Earlier", later_id: "Later"}
        stored = await get_contact(connection_of(session), tenant.account_id, earlier_id)
        assert stored.email == "e@example.com"
        # One contact inbox each (create attached the tenant's API inbox), plus the holder's
        # "taken-source": nothing of the refused attach or upsert.
        assert await _count(session, ContactInbox, tenant.account_id) == 4
        keys = (
            await session.execute(
                sa.select(CustomAttributeDefinition.attribute_key)
                .where(CustomAttributeDefinition.account_id == tenant.account_id)
                .order_by(CustomAttributeDefinition.id)
            )
        ).scalars()
        assert list(keys) == ["plan", "tier"]


async def test_the_request_connection_recovers_and_commits_once(
    db: Database, tenant: Tenant
) -> None:
    """The connection hot writes use (raw asyncpg in a transaction on PostgreSQL, a session on
    SQLite): a refused create or update leaves the transaction usable, nothing is stored
    before the route's one commit, and a connection left without a commit is rolled back."""
    async with db.write_connection() as conn:
        holder = await _create_on(conn, tenant, {"name": "Holder", **HOLDER})
        await conn.commit()

    async with db.write_connection() as conn:
        earlier = await _create_on(conn, tenant, {"name": "Earlier", "email": "e@example.com"})
        for field, value in HOLDER.items():
            with pytest.raises(ValidationFailed) as refused:
                await _create_on(conn, tenant, {"name": "Dup", field: value})
            assert refused.value.extra["conflicting_contact_id"] == holder.id
        contact = await get_contact(conn, tenant.account_id, earlier.id, for_update=True)
        with pytest.raises(ValidationFailed) as refused:
            await update_contact(
                conn, contact, parse_contact_fields({"email": HOLDER["email"]}, creating=False)
            )
        assert refused.value.problems == [("email", "Email has already been taken")]
        updated = await update_contact(
            conn, contact, parse_contact_fields({"first_name": "Ada"}, creating=False)
        )
        assert (updated.name, updated.first_name) == ("Ada", "Ada")  # name follows
        await conn.commit()

    async with db.write_connection() as conn:  # never committed: rolled back
        await _create_on(conn, tenant, {"name": "Dropped"})

    async with db.reader() as session:
        names = (
            await session.execute(
                sa.select(Contact.name)
                .where(Contact.account_id == tenant.account_id)
                .order_by(Contact.id)
            )
        ).scalars()
        assert list(names) == ["Holder", "Ada"]
