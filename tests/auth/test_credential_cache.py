"""The per-process credential cache (CONTACTDESK_AUTH_CACHE_SECONDS): successes only.

A failed check is never remembered, so a key or a membership that appears a moment after a
refused request works at once; the same credentials keep working for the cached role.
"""

from __future__ import annotations

import httpx
import sqlalchemy as sa

from contactdesk.actions.provisioning import create_user
from contactdesk.models import AccountUser, ApiKey
from contactdesk.security import digest
from tests.support import Tenant, basic

V2 = "/api/v2/accounts/contacts"


async def test_a_refused_secret_is_not_remembered(
    client: httpx.AsyncClient, tenant: Tenant
) -> None:
    """A request with a wrong secret, then the secret becomes right: the next request passes."""
    wrong = await client.get(V2, headers=basic(tenant.key, "not-the-secret"))
    assert wrong.status_code == 401
    async with tenant.db.writer() as session:
        await session.execute(
            sa.update(ApiKey).where(ApiKey.key == tenant.key).values(secret_digest=digest("new-1"))
        )
        await session.commit()
    first = await client.get(V2, headers=basic(tenant.key, "new-1"))
    assert first.status_code == 200, first.text
    # The old secret no longer works (it was never a cached success for this digest).
    old = await client.get(V2, headers=basic(tenant.key, tenant.secret))
    assert old.status_code == 401


async def test_a_new_membership_works_at_once(
    client: httpx.AsyncClient, tenant: Tenant, other_tenant: Tenant
) -> None:
    """v1: refused for a foreign account, then made a member: the next request passes."""
    async with tenant.db.writer() as session:
        issued = await create_user(
            session, tenant.account_id, "Cache Probe", "cache-probe@example.org", "agent"
        )
        await session.commit()
    user, headers = issued.user, {"api_access_token": issued.access_token}
    path = f"/api/v1/accounts/{other_tenant.account_id}/contacts"
    refused = await client.get(path, headers=headers)
    assert refused.status_code == 401
    async with tenant.db.writer() as session:
        session.add(AccountUser(account_id=other_tenant.account_id, user_id=user.id, role="agent"))
        await session.commit()
    allowed = await client.get(path, headers=headers)
    assert allowed.status_code == 200, allowed.text
    # The cached success is for this account only: the first account still answers for itself.
    own = await client.get(f"/api/v1/accounts/{tenant.account_id}/contacts", headers=headers)
    assert own.status_code == 200
