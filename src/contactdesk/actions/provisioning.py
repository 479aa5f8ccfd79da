"""Creating accounts, users, API keys and inboxes (used by the CLI). Services flush only.

An action: it coordinates accounts, users, credentials and inboxes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession

from contactdesk.auth.caller import ALL_SCOPES
from contactdesk.inboxes.service import create_inbox
from contactdesk.models import AccessToken, Account, AccountUser, ApiKey, Inbox, Role, User
from contactdesk.models._time import now_epoch
from contactdesk.models.inbox import CHANNEL_TYPES
from contactdesk.models.tenancy import across_accounts, tenant_delete, tenant_select
from contactdesk.security import digest, new_api_key, new_token
from contactdesk.values import EMAIL_RE, parse_id


class ProvisioningError(Exception):
    """A bad argument; the CLI prints it and exits non-zero, having written nothing."""


def _name(value: str, what: str = "name") -> str:
    value = value.strip()
    if not value:
        raise ProvisioningError(f"{what} must not be blank")
    if len(value) > 255:
        raise ProvisioningError(f"{what} is too long (maximum is 255 characters)")
    return value


async def get_account(session: AsyncSession, account_id: int) -> Account:
    account = await session.get(Account, account_id) if parse_id(account_id) else None
    if account is None:
        raise ProvisioningError(f"account {account_id} does not exist")
    return account


async def create_account(session: AsyncSession, name: str) -> Account:
    account = Account(name=_name(name), created_at=now_epoch())
    session.add(account)
    await session.flush()
    return account


@dataclass
class IssuedUser:
    user: User
    role: str
    access_token: str


async def issue_token(session: AsyncSession, user_id: int) -> str:
    token = new_token()
    session.add(AccessToken(user_id=user_id, token_digest=digest(token), created_at=now_epoch()))
    await session.flush()
    return token


async def create_user(
    session: AsyncSession, account_id: int, name: str, email: str, role: str
) -> IssuedUser:
    """Create the user (or reuse the one with this email), join the account, issue a token."""
    await get_account(session, account_id)
    if role not in tuple(Role):
        raise ProvisioningError("role must be administrator or agent")
    email = email.strip().lower()
    if not EMAIL_RE.fullmatch(email) or len(email) > 255:
        raise ProvisioningError(f"email {email!r} is invalid")
    user = (await session.execute(sa.select(User).where(User.email == email))).scalar_one_or_none()
    if user is None:
        user = User(name=_name(name), email=email, created_at=now_epoch())
        session.add(user)
        await session.flush()
    elif (
        await session.execute(
            tenant_select(account_id, AccountUser.role).where(AccountUser.user_id == user.id)
        )
    ).first() is not None:
        raise ProvisioningError(f"{email} is already a member of account {account_id}")
    session.add(
        AccountUser(account_id=account_id, user_id=user.id, role=role, created_at=now_epoch())
    )
    await session.flush()
    return IssuedUser(user, role, await issue_token(session, user.id))


# What `keys create` grants when no scopes are asked for: a leaked default key can read and
# write contacts, not delete them or administer the account (admin must be asked for).
DEFAULT_SCOPES = ("contacts:read", "contacts:write")


def parse_scopes(raw: str | None) -> list[str]:
    if raw is None:
        return list(DEFAULT_SCOPES)
    scopes = [s.strip() for s in raw.split(",") if s.strip()]
    unknown = [s for s in scopes if s not in ALL_SCOPES]
    if unknown or not scopes:
        raise ProvisioningError(
            f"scopes must be a comma-separated list of: {', '.join(ALL_SCOPES)}"
        )
    return list(dict.fromkeys(scopes))


@dataclass
class IssuedKey:
    key: ApiKey
    secret: str
    scopes: list[str]


async def create_api_key(session: AsyncSession, account_id: int, scopes: list[str]) -> IssuedKey:
    await get_account(session, account_id)
    secret = new_token()
    key = ApiKey(
        account_id=account_id,
        key=new_api_key(),
        secret_digest=digest(secret),
        scopes=" ".join(scopes),
        created_at=now_epoch(),
    )
    session.add(key)
    await session.flush()
    return IssuedKey(key, secret, scopes)


async def create_account_inbox(
    session: AsyncSession, account_id: int, name: str, channel_type: str
) -> Inbox:
    await get_account(session, account_id)
    if channel_type not in CHANNEL_TYPES:
        raise ProvisioningError(f"channel type must be one of: {', '.join(CHANNEL_TYPES)}")
    return await create_inbox(session, account_id, _name(name), channel_type)


async def list_api_keys(session: AsyncSession, account_id: int) -> list[dict[str, object]]:
    """The account's API keys, oldest first: the key (its public half), scopes and creation
    time; never the secret or its digest."""
    await get_account(session, account_id)
    rows = await session.execute(
        tenant_select(account_id, ApiKey.key, ApiKey.scopes, ApiKey.created_at).order_by(ApiKey.id)
    )
    return [
        {"api_key": key, "scopes": scopes.split(), "created_at": created_at}
        for key, scopes, created_at in rows.all()
    ]


async def revoke_api_key(session: AsyncSession, key: str) -> int:
    """Delete the API key named by its public half; the id of the account it belonged to.
    Every process refuses it within CONTACTDESK_AUTH_CACHE_SECONDS (their caches)."""
    key = key.strip()
    found = (
        await session.execute(
            # The key names its account, as in a credential check.
            across_accounts(sa.select(ApiKey.id, ApiKey.account_id).where(ApiKey.key == key))
        )
    ).first()
    if not key or found is None:
        raise ProvisioningError("no such API key")
    await session.execute(tenant_delete(ApiKey, found.account_id).where(ApiKey.id == found.id))
    return int(found.account_id)


async def _user_by_email(session: AsyncSession, email: str) -> User:
    email = email.strip().lower()
    user = (await session.execute(sa.select(User).where(User.email == email))).scalar_one_or_none()
    if user is None:
        raise ProvisioningError(f"no user with email {email!r}")
    return user


async def remove_user(session: AsyncSession, account_id: int, email: str) -> User:
    """End the user's membership of the account (the user, their token and their other
    memberships stay). Their token is refused for this account within the cache's TTL."""
    await get_account(session, account_id)
    user = await _user_by_email(session, email)
    removed = await session.execute(
        tenant_delete(AccountUser, account_id).where(AccountUser.user_id == user.id)
    )
    if not cast(CursorResult[Any], removed).rowcount:
        raise ProvisioningError(f"{user.email} is not a member of account {account_id}")
    return user


async def rotate_token(session: AsyncSession, email: str) -> tuple[User, str]:
    """Replace every access token of the user by a new one (returned once)."""
    user = await _user_by_email(session, email)
    await session.execute(sa.delete(AccessToken).where(AccessToken.user_id == user.id))
    return user, await issue_token(session, user.id)
