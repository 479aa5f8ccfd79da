"""Who is calling: the caller of a request, its permissions, and the credential cache."""

from __future__ import annotations

import enum
import time
from dataclasses import dataclass

from contactdesk.errors import Forbidden
from contactdesk.models import Role


class Permission(enum.StrEnum):
    read = "contacts:read"
    write = "contacts:write"
    delete = "contacts:delete"
    admin = "admin"


ALL_SCOPES = tuple(p.value for p in Permission)
ROLE_PERMISSIONS = {
    Role.administrator: frozenset(Permission),
    Role.agent: frozenset({Permission.read, Permission.write}),
}


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, in which account, and what they may do."""

    account_id: int
    permissions: frozenset[Permission]
    # "v2" (LiveDesk) or "v1" (Chatwoot): create requires inbox_id only in v2.
    dialect: str = "v1"
    # Which credential, for the request log: "key:<api key id>" or "user:<user id>" (never a
    # secret).
    credential: str | None = None

    def require(self, permission: Permission) -> None:
        if permission not in self.permissions:
            raise Forbidden()


def permissions_of_scopes(scopes: str) -> frozenset[Permission]:
    granted = {Permission(s) for s in scopes.split() if s in ALL_SCOPES}
    if Permission.admin in granted:
        return frozenset(Permission)
    return frozenset(granted)


class CredentialCache:
    """Successful credential checks, reused for a few seconds (settings.auth_cache_seconds).

    Saves a database round trip per request. Failures are never cached, so a key created a
    moment ago works at once; a revoked key or a lowered role takes effect within the TTL.
    """

    MAX_ENTRIES = 10_000

    def __init__(self, ttl: float) -> None:
        self.ttl = ttl
        self._entries: dict[tuple[str, ...], tuple[float, Caller]] = {}

    def get(self, key: tuple[str, ...]) -> Caller | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] < time.monotonic():
            self._entries.pop(key, None)
            return None
        return entry[1]

    def put(self, key: tuple[str, ...], caller: Caller) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.MAX_ENTRIES:
            self._entries.clear()
        self._entries[key] = (time.monotonic() + self.ttl, caller)
