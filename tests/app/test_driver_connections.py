"""The connections of the hot statements (driver.py): what a request's statements run on."""

from __future__ import annotations

import sqlalchemy as sa

from contactdesk.db import Database

SHOW_PLANNING = sa.text("SHOW plan_cache_mode")


async def test_custom_plans_come_from_connections_set_for_them(db: Database) -> None:
    """PostgreSQL: statements planned for their arguments (searches, filters) run on a
    connection whose session is set so, with no SET and RESET on the request's own
    connection, which keeps its cached plans before, during and after the block."""
    async with db.reads.connection() as conn:
        if conn.backend != "postgresql":
            async with conn.custom_plans():  # SQLite plans every statement anyway
                assert await conn.fetchval(sa.text("SELECT 1"), {}) == 1
            return
        assert await conn.fetchval(SHOW_PLANNING, {}) == "auto"
        async with conn.custom_plans():
            assert await conn.fetchval(SHOW_PLANNING, {}) == "force_custom_plan"
        assert await conn.fetchval(SHOW_PLANNING, {}) == "auto"


async def test_a_write_connection_commits_once_or_not_at_all(db: Database) -> None:
    """A write connection's transaction ends with the route's commit; without one it is
    rolled back, and the connection goes back to its pool usable."""
    marker = sa.text("SELECT count(*) FROM accounts WHERE name = 'driver-test-rolled-back'")
    insert = sa.text(
        "INSERT INTO accounts (name, created_at, definitions_version) "
        "VALUES ('driver-test-rolled-back', 0, 0)"
    )
    for _ in range(3):  # each time on a pooled connection that was rolled back before
        async with db.write_connection() as conn:
            await conn.fetch(insert, {})
            assert await conn.fetchval(marker, {}) == 1
    async with db.reads.connection() as conn:
        assert await conn.fetchval(marker, {}) == 0
