"""Credential generation and digests. Secrets are random, so one SHA-256 is a safe digest."""

from __future__ import annotations

import hashlib
import secrets


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_api_key() -> str:
    return "ck_" + secrets.token_hex(12)
