"""Standard Webhooks v1 signatures (https://www.standardwebhooks.com): each delivery carries
`webhook-id` (the event's id: the same on every attempt, so receivers can deduplicate),
`webhook-timestamp` (seconds) and `webhook-signature: v1,<base64 HMAC-SHA256 of
"id.timestamp.body">`, keyed by the secret's base64 part."""

from __future__ import annotations

import base64
import hashlib
import hmac

PREFIX = "whsec_"


def secret_key(secret: str) -> bytes:
    encoded = secret[len(PREFIX) :] if secret.startswith(PREFIX) else secret
    return base64.b64decode(encoded)


def signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "content-type": "application/json",
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, message_id, timestamp, body),
    }
