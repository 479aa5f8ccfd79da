"""Every webhook test leaves no webhook behind: a delivery still pending for an endpoint of
an earlier test would reach a later test's receiver once its port is reused."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from contactdesk.db import Database


@pytest.fixture(autouse=True)
async def no_webhooks_left(db: Database) -> AsyncIterator[None]:
    await _delete_all(db)
    yield
    await _delete_all(db)


async def _delete_all(db: Database) -> None:
    async with db.writing() as session:
        # Their deliveries go with them (ON DELETE CASCADE).
        await session.execute(sa.text("DELETE FROM webhooks"))
        await session.commit()
