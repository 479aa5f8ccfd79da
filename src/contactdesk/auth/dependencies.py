"""The two front doors (Basic key:secret for v2, access token for v1) and the permission
dependencies routes declare (Reader, Writer, Deleter, Admin)."""

from __future__ import annotations

import binascii
import hmac
from base64 import b64decode
from collections.abc import Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from typing import Annotated, Any

import sqlalchemy as sa
from fastapi import Depends, Path, Request
from fastapi.security import APIKeyHeader, HTTPBasic, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from contactdesk.auth.caller import (
    ROLE_PERMISSIONS,
    Caller,
    CredentialCache,
    Permission,
    permissions_of_scopes,
)
from contactdesk.db import Database
from contactdesk.errors import Unauthorized
from contactdesk.models import AccessToken, AccountUser, ApiKey, Role
from contactdesk.models.tenancy import across_accounts, tenant_select
from contactdesk.security import digest
from contactdesk.values import has_nul, parse_id

WWW_AUTHENTICATE = {"WWW-Authenticate": 'Basic realm="contactdesk"'}
MISSING_CREDENTIALS = "Missing credentials"
INVALID_TOKEN = "Invalid Access Token"  # noqa: S105  (a message, not a secret)
NOT_A_MEMBER = "You are not authorized to access this account"


def credential_cache(request: Request) -> CredentialCache:
    cache: CredentialCache = request.app.state.credential_cache
    return cache


class _DocumentedBasic(HTTPBasic):
    """Declares the scheme in the OpenAPI document; the header is checked by livedesk_caller."""

    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


class _DocumentedToken(APIKeyHeader):
    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


class _DocumentedBearer(HTTPBearer):
    async def __call__(self, request: Request) -> None:  # type: ignore[override]
        return None


_basic_scheme = _DocumentedBasic(
    auto_error=False, scheme_name="apiKeySecret", description="base64(api_key:api_secret), v2"
)
_token_scheme = _DocumentedToken(
    name="api_access_token", auto_error=False, scheme_name="userApiKey", description="v1"
)
_bearer_scheme = _DocumentedBearer(
    auto_error=False, scheme_name="bearerToken", description="v1, the same access token"
)


def _auth_session(request: Request) -> AbstractAsyncContextManager[AsyncSession]:
    """A short read session of its own for a credential lookup (a cache miss): the request's
    session, a writer for POST and the like, is opened only if the route needs one, after
    the caller is known, so a filter (a read sent as POST) never queues for SQLite's write
    lock, and a refused caller never takes it."""
    db: Database = request.app.state.db
    return db.reader()


async def livedesk_caller(
    request: Request,
    _doc: Annotated[object, Depends(_basic_scheme)] = None,
) -> Caller:
    """v2: Authorization: Basic base64(api_key:api_secret); the key implies the account."""
    header = request.headers.get("authorization", "").strip()
    if not header:
        raise Unauthorized(MISSING_CREDENTIALS, headers=WWW_AUTHENTICATE)
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        raise Unauthorized(INVALID_TOKEN, headers=WWW_AUTHENTICATE)
    try:
        decoded = b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized(INVALID_TOKEN, headers=WWW_AUTHENTICATE) from None
    key, sep, secret = decoded.partition(":")
    if not sep or not key or not secret or has_nul(decoded):
        raise Unauthorized(INVALID_TOKEN, headers=WWW_AUTHENTICATE)
    cache = credential_cache(request)
    cache_key = ("key", key, digest(secret))
    cached = cache.get(cache_key)
    if cached is not None:
        request.state.caller = cached
        return cached
    async with _auth_session(request) as session:
        row = (
            await session.execute(
                across_accounts(
                    sa.select(
                        ApiKey.id, ApiKey.account_id, ApiKey.secret_digest, ApiKey.scopes
                    ).where(ApiKey.key == key)
                )
            )
        ).first()
    if row is None or not hmac.compare_digest(row.secret_digest, digest(secret)):
        raise Unauthorized(INVALID_TOKEN, headers=WWW_AUTHENTICATE)
    caller = Caller(
        account_id=row.account_id,
        permissions=permissions_of_scopes(row.scopes),
        dialect="v2",
        credential=f"key:{row.id}",
    )
    cache.put(cache_key, caller)
    request.state.caller = caller
    return caller


async def chatwoot_caller(
    request: Request,
    account_id: Annotated[str, Path(description="The numeric id of the account")],
    _doc_token: Annotated[object, Depends(_token_scheme)] = None,
    _doc_bearer: Annotated[object, Depends(_bearer_scheme)] = None,
) -> Caller:
    """v1: api_access_token header (or Authorization: Bearer); the account is in the path."""
    token = request.headers.get("api_access_token", "").strip()
    if not token:
        authorization = request.headers.get("authorization", "").strip()
        if authorization:
            scheme, _, value = authorization.partition(" ")
            if scheme.lower() != "bearer" or not value.strip():
                raise Unauthorized(INVALID_TOKEN)
            token = value.strip()
    if not token:
        raise Unauthorized(MISSING_CREDENTIALS)
    cache = credential_cache(request)
    cache_key = ("token", digest(token), account_id)
    cached = cache.get(cache_key)
    if cached is not None:
        request.state.caller = cached
        return cached
    account = parse_id(account_id)
    role = None
    async with _auth_session(request) as session:
        user_id = (
            await session.execute(
                sa.select(AccessToken.user_id).where(AccessToken.token_digest == digest(token))
            )
        ).scalar_one_or_none()
        if user_id is None:
            raise Unauthorized(INVALID_TOKEN)
        if account is not None:
            role = (
                await session.execute(
                    tenant_select(account, AccountUser.role).where(AccountUser.user_id == user_id)
                )
            ).scalar_one_or_none()
    if account is None or role is None:
        raise Unauthorized(NOT_A_MEMBER)
    caller = Caller(
        account_id=account, permissions=ROLE_PERMISSIONS[Role(role)], credential=f"user:{user_id}"
    )
    cache.put(cache_key, caller)
    request.state.caller = caller
    return caller


def current_caller(request: Request) -> Caller:
    """The caller the dialect's front door authenticated (a router-level dependency)."""
    caller: Caller = request.state.caller
    return caller


def require(permission: Permission) -> Callable[[Request], Coroutine[Any, Any, Caller]]:
    async def dependency(request: Request) -> Caller:
        caller = current_caller(request)
        caller.require(permission)
        return caller

    dependency.__name__ = f"require_{permission.name}"
    return dependency


Reader = Annotated[Caller, Depends(require(Permission.read))]
Writer = Annotated[Caller, Depends(require(Permission.write))]
Deleter = Annotated[Caller, Depends(require(Permission.delete))]
Admin = Annotated[Caller, Depends(require(Permission.admin))]
