"""Rate limits: per credential, and per client IP for failed authentication (issue 13).

* Every request to the API (`/api/...`) that carries credentials (v2 Basic, v1
  `api_access_token` or Bearer) counts against its credential: `settings.rate_limit`
  (1200/minute). The bucket is the digest of the whole credential, key and secret together,
  so that someone who knows only a key's public half cannot spend its owner's requests.
* Every answer 401 counts against the client's IP: `settings.auth_failure_rate_limit`
  (30/minute). An IP over it gets 429 for every request carrying credentials, before they
  are checked, until its window moves on: guessing goes no faster than the limit, whether
  the guesses are right or wrong.
* Every API response carries `X-RateLimit-Limit`, `X-RateLimit-Remaining` and
  `X-RateLimit-Reset` (Unix time, seconds) of the limit that applies to it: the credential's,
  or for a request without credentials the IP's failure limit. A refusal is 429 with
  `Retry-After` (seconds) and `{"error": ...}`.

The algorithm and the storage are the `limits` library's: fixed windows (a window starts with
its first request; X-RateLimit-Reset is its end). Its sliding window counter cost twice as
much a request (12 against 6.6 µs in memory), on every request of the hot path. The
state lives in the process's memory, or in Redis when `settings.redis_url` is set, so that
every process and machine shares one limit. When Redis fails (an error or 0.5 s without an
answer), the process limits on its own in memory, logs it once, and tries Redis again after
RETRY_SECONDS.

Refusals happen before the request gate (contactdesk.gate): a client over its limit takes no
slot. The limiter sits outside the routes, so the credential is read from the headers here,
not checked: the routes check it.
"""

from __future__ import annotations

import logging
import math
import time
from typing import Any

from limits import RateLimitItem, WindowStats
from limits import parse as parse_rate
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import FixedWindowRateLimiter, RateLimiter
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from contactdesk.config import Settings
from contactdesk.metrics import RATE_LIMITED
from contactdesk.security import digest
from contactdesk.transport import refusal

log = logging.getLogger("contactdesk.ratelimit")

API_PREFIX = "/api/"
RETRY_SECONDS = 5.0
REDIS_TIMEOUT_SECONDS = 0.5
CREDENTIAL_HEADERS = (b"authorization", b"api_access_token")
FAILING_MAX = 100_000  # addresses remembered as failing lately, per process


def rate_of(text: str) -> RateLimitItem | None:
    """The setting's limit, or None when it is 0 (off)."""
    text = text.strip()
    return None if text == "0" else parse_rate(text)


def credential_of(headers: list[tuple[bytes, bytes]]) -> str | None:
    """A digest of the credentials the request carries (whichever header), or None."""
    found = [value.strip() for name, value in headers if name in CREDENTIAL_HEADERS]
    found = [value for value in found if value]
    if not found:
        return None
    return digest(b"\0".join(sorted(found)).decode("latin-1"))


def client_ip(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


class Limiter:
    """The process's limiter: shared in Redis when configured, else (or while Redis fails)
    in memory."""

    def __init__(self, redis_url: str | None) -> None:
        self.memory: RateLimiter = FixedWindowRateLimiter(MemoryStorage())
        self.shared: RateLimiter | None = None
        self.redis_down_until = 0.0
        if redis_url:
            uri = redis_url.replace("redis://", "async+redis://", 1)
            storage = RedisStorage(
                uri,
                wrap_exceptions=True,
                key_prefix="contactdesk",
                connect_timeout=REDIS_TIMEOUT_SECONDS,
                stream_timeout=REDIS_TIMEOUT_SECONDS,
            )
            self.shared = FixedWindowRateLimiter(storage)

    def _current(self) -> RateLimiter:
        if self.shared is not None and time.monotonic() >= self.redis_down_until:
            return self.shared
        return self.memory

    def _failed(self, error: Exception) -> None:
        if self.redis_down_until == 0.0:
            log.warning(
                "rate limits: Redis does not answer (%s); limiting in this process only "
                "until it does",
                type(error).__name__,
            )
        self.redis_down_until = time.monotonic() + RETRY_SECONDS

    def _recovered(self) -> None:
        if self.redis_down_until != 0.0:
            log.warning("rate limits: Redis answers again; limits are shared again")
            self.redis_down_until = 0.0

    async def _run(self, work: Any) -> Any:
        limiter = self._current()
        if limiter is self.memory:
            return await work(self.memory)
        try:
            result = await work(limiter)
        except Exception as error:  # any failure of Redis: limit in this process
            self._failed(error)
            return await work(self.memory)
        self._recovered()
        return result

    async def hit(self, item: RateLimitItem, key: str) -> tuple[bool, WindowStats]:
        """Count one request; whether it is allowed, and the window afterwards."""
        if self.shared is None:  # the hot path of a process on its own: no indirection
            memory = self.memory
            return await memory.hit(item, key), await memory.get_window_stats(item, key)

        async def work(limiter: RateLimiter) -> tuple[bool, WindowStats]:
            allowed = await limiter.hit(item, key)
            return allowed, await limiter.get_window_stats(item, key)

        result: tuple[bool, WindowStats] = await self._run(work)
        return result

    async def allows(self, item: RateLimitItem, key: str) -> bool:
        """Whether one more request would be allowed, without counting one."""

        async def work(limiter: RateLimiter) -> bool:
            return await limiter.test(item, key)

        result: bool = await self._run(work)
        return result

    async def stats(self, item: RateLimitItem, key: str) -> WindowStats:
        async def work(limiter: RateLimiter) -> WindowStats:
            return await limiter.get_window_stats(item, key)

        result: WindowStats = await self._run(work)
        return result


def limit_headers(item: RateLimitItem, stats: WindowStats) -> list[tuple[bytes, bytes]]:
    return [
        (b"x-ratelimit-limit", str(item.amount).encode()),
        (b"x-ratelimit-remaining", str(max(0, stats.remaining)).encode()),
        (b"x-ratelimit-reset", str(math.ceil(stats.reset_time)).encode()),
    ]


def _describe(item: RateLimitItem) -> str:
    unit = item.GRANULARITY.name
    return f"{item.amount} per {'' if item.multiples == 1 else f'{item.multiples} '}{unit}"


async def _refuse(
    send: Send, item: RateLimitItem, stats: WindowStats, what: str, limit: str
) -> None:
    RATE_LIMITED.labels(limit).inc()
    retry = max(1, math.ceil(stats.reset_time - time.time()))
    headers, body = refusal(
        429, f"Rate limit exceeded: {what} ({_describe(item)}); retry in {retry} s", close=False
    )
    headers += [*limit_headers(item, stats), (b"retry-after", str(retry).encode())]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class RateLimit:
    """ASGI middleware: the limits of the module's docstring, on `/api/` paths."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.per_credential = rate_of(settings.rate_limit)
        self.failures = rate_of(settings.auth_failure_rate_limit)
        self.limiter = Limiter(settings.redis_url)
        self.on = self.per_credential is not None or self.failures is not None
        # Addresses this process answered 401 within the failure limit's window (monotonic
        # time of the last): only their requests are checked against it, which spares every
        # other request a look at the storage. Bounded: entries older than the window go.
        self.failing: dict[str, float] = {}
        self.window = self.failures.get_expiry() if self.failures is not None else 0

    def _failed_lately(self, ip: str) -> bool:
        last = self.failing.get(ip)
        if last is None:
            return False
        if time.monotonic() - last > self.window:
            del self.failing[ip]
            return False
        return True

    def _remember_failure(self, ip: str) -> None:
        now = time.monotonic()
        if len(self.failing) >= FAILING_MAX:
            self.failing = {a: t for a, t in self.failing.items() if now - t <= self.window}
            if len(self.failing) >= FAILING_MAX:
                self.failing.pop(next(iter(self.failing)))
        self.failing[ip] = now

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not self.on or scope["type"] != "http" or not scope["path"].startswith(API_PREFIX):
            await self.app(scope, receive, send)
            return
        credential = credential_of(scope["headers"])
        ip = client_ip(scope)
        failures = self.failures
        headers: list[tuple[bytes, bytes]] = []
        if failures is not None:
            if credential is None:
                stats = await self.limiter.stats(failures, f"auth-failures:{ip}")
                headers = limit_headers(failures, stats)
            elif self._failed_lately(ip) and not await self.limiter.allows(
                failures, f"auth-failures:{ip}"
            ):
                stats = await self.limiter.stats(failures, f"auth-failures:{ip}")
                await _refuse(
                    send, failures, stats, "too many failed authentications", "auth_failures"
                )
                return
        if credential is not None and self.per_credential is not None:
            item = self.per_credential
            allowed, stats = await self.limiter.hit(item, f"credential:{credential}")
            if not allowed:
                await _refuse(
                    send, item, stats, "too many requests with these credentials", "credential"
                )
                return
            headers = limit_headers(item, stats)

        async def limited_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = headers
                if message["status"] == 401 and failures is not None:
                    self._remember_failure(ip)
                    _, stats = await self.limiter.hit(failures, f"auth-failures:{ip}")
                    if credential is None:
                        extra = limit_headers(failures, stats)
                if extra:
                    message = {**message, "headers": [*message.get("headers", ()), *extra]}
            await send(message)

        await self.app(scope, receive, limited_send)
