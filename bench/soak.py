"""Soak (issue 13, item 8): mixed reads and writes at a steady rate for a long time, with no
error and no memory growth.

Against `contactdesk serve --workers 2` on the data of `python -m bench`, an open-model
client sends `--rate` requests a second (default 500) for `--minutes` (default 30): list
pages (30 %), shows (20 %), searches for one contact's email (2 %: each costs PostgreSQL tens
of milliseconds for its count), filters (18 %), creates (15 %) and updates
(15 %, a custom attribute on a contact the soak created). Every 10 s it samples each server
worker's RSS. It reports the requests by kind and status, p50 and p99 by minute, and RSS
over time; the checks: no request answered other than 2xx (none unanswered within 10 s),
the rate held (at least 95 % of the asked requests sent), and the largest worker's RSS at
the end at most 10 % over its value after the warm-up (the first `--warmup-minutes`, 5).

`python -m bench.soak --database-url URL --contacts N [--minutes 30] [--rate 500]`
The contacts it creates are deleted afterwards. Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

from bench.__main__ import start_service
from bench.faults import server_workers
from bench.load import load

SAMPLE_SECONDS = 10.0
ANSWER_WITHIN = 10.0
RSS_GROWTH = 0.10


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def percentile(values: list[float], fraction: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


async def soak(
    base: str,
    headers: dict[str, str],
    bench: Any,
    minutes: float,
    rate: float,
    server_pid: int,
) -> dict[str, Any]:
    run = uuid.uuid4().hex[:8]
    rng = random.Random(11)
    seconds = minutes * 60
    statuses: Counter[str] = Counter()
    by_minute: dict[int, list[float]] = {}
    rss: list[dict[str, Any]] = []
    created: list[int] = []
    v2 = f"{base}/api/v2/accounts"
    started = time.monotonic()

    async def one(n: int, session: aiohttp.ClientSession) -> None:
        draw = rng.random()
        t = time.monotonic()
        kind = "list"
        try:
            if draw < 0.30:
                request = session.get(f"{v2}/contacts", params={"page": str(rng.randint(1, 20))})
            elif draw < 0.50:
                kind = "show"
                contact = rng.randint(bench.min_id, bench.max_id)
                request = session.get(f"{v2}/contacts/{contact}")
            elif draw < 0.52:
                kind = "search"
                # A search for one contact (by its email), as a support agent makes: a term
                # matching thousands of contacts is counted again after every write (each
                # create moves the account's generation), which is the figures' business
                # (docs/performance.md), not the soak's.
                term = rng.choice(bench.sample_emails)
                request = session.get(f"{v2}/contacts/search", params={"q": term})
            elif draw < 0.70:
                kind = "filter"
                email = rng.choice(bench.sample_emails)
                condition = {"attribute_key": "email", "filter_operator": "equal_to"}
                request = session.post(
                    f"{v2}/contacts/filter", json={"payload": [{**condition, "values": [email]}]}
                )
            elif draw < 0.85 or not created:
                kind = "create"
                new = {"inbox_id": bench.inbox_id, "email": f"soak-{run}-{n}@load.test"}
                request = session.post(f"{v2}/contacts", json=new)
            else:
                kind = "update"
                contact = rng.choice(created)
                request = session.patch(
                    f"{v2}/contacts/{contact}", json={"custom_attributes": {"soak": n}}
                )
            async with request as response:
                status = response.status
                body = await response.read()
            if kind == "create" and status == 200:
                created.append(json.loads(body)["payload"]["contact"]["id"])
            if kind == "show" and status == 404:
                status = 200  # an id the load left out (ids have gaps): an answer all the same
        except TimeoutError:
            status = -1
        except aiohttp.ClientError:
            status = 0
        statuses[f"{kind} {status}"] += 1
        by_minute.setdefault(int((t - started) // 60), []).append(time.monotonic() - t)

    async def sampler() -> None:
        while True:
            workers = server_workers(server_pid)
            rss.append(
                {
                    "at": round(time.monotonic() - started, 1),
                    "workers_mb": [round(rss_mb(pid), 1) for pid in workers],
                }
            )
            await asyncio.sleep(SAMPLE_SECONDS)

    timeout = aiohttp.ClientTimeout(total=ANSWER_WITHIN)
    connector = aiohttp.TCPConnector(limit=256)
    sent = 0
    async with aiohttp.ClientSession(
        timeout=timeout, connector=connector, headers=headers
    ) as session:
        sampling = asyncio.ensure_future(sampler())
        pending: set[asyncio.Future[None]] = set()
        while time.monotonic() - started < seconds:
            task = asyncio.ensure_future(one(sent, session))
            pending.add(task)
            task.add_done_callback(pending.discard)
            sent += 1
            await asyncio.sleep(max(0.0, sent / rate - (time.monotonic() - started)))
        await asyncio.gather(*pending)
        sampling.cancel()
    return {
        "run": run,
        "sent": sent,
        "asked": int(rate * seconds),
        "statuses": dict(sorted(statuses.items())),
        "latency_by_minute": {
            minute: {
                "requests": len(values),
                "p50_ms": round(percentile(values, 0.5) * 1000, 1),
                "p99_ms": round(percentile(values, 0.99) * 1000, 1),
            }
            for minute, values in sorted(by_minute.items())
        },
        "rss": rss,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--warmup-minutes", type=float, default=5.0)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--out", default="results-soak.json")
    args = parser.parse_args(argv)
    url = args.database_url
    bench = load(url, args.contacts)
    env = {**os.environ, "CONTACTDESK_DATABASE_URL": url, "CONTACTDESK_LOG_LEVEL": "warning"}
    server = start_service(env, workers=2)
    auth = base64.b64encode(f"{bench.api_key}:{bench.api_secret}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}"}
    try:
        result = asyncio.run(
            soak(server.url, headers, bench, args.minutes, args.rate, server.process.pid)
        )
    finally:
        server.stop()
    _cleanup(url, bench.account_id, result["run"])

    errors = sum(n for key, n in result["statuses"].items() if not key.endswith(" 200"))
    warm = [s for s in result["rss"] if s["at"] >= args.warmup_minutes * 60 and s["workers_mb"]]
    after_warmup = max(warm[0]["workers_mb"]) if warm else 0.0
    at_end = max(warm[-1]["workers_mb"]) if warm else 0.0
    growth = (at_end - after_warmup) / after_warmup if after_warmup else 0.0
    held = result["sent"] / result["asked"] if result["asked"] else 0.0
    checks = {
        "requests not answered 2xx": (errors, 0, errors == 0),
        "rate held (sent / asked)": (round(held, 3), 0.95, held >= 0.95),
        "RSS growth after warm-up": (
            round(growth, 3),
            RSS_GROWTH,
            bool(warm) and growth <= RSS_GROWTH,
        ),
    }
    print(f"sent {result['sent']} of {result['asked']}; by kind and status: {result['statuses']}")
    for minute, figures in result["latency_by_minute"].items():
        print(f"  minute {minute:3d}: {figures}")
    print(f"  largest worker RSS after warm-up {after_warmup:.1f} MB, at the end {at_end:.1f} MB")
    print(f"\n{'check':30s} {'value':>10s} {'target':>10s}  verdict")
    for name, (value, target, ok) in checks.items():
        print(f"{name:30s} {value!s:>10s} {target!s:>10s}  {'PASS' if ok else 'FAIL'}")
    result["checks"] = {
        name: {"value": value, "target": target, "pass": ok}
        for name, (value, target, ok) in checks.items()
    }
    Path(args.out).write_text(json.dumps(result, indent=2))
    return 0 if all(ok for *_, ok in checks.values()) else 1


def _cleanup(url: str, account_id: int, run: str) -> None:
    import sqlalchemy as sa

    from contactdesk.config import Settings
    from contactdesk.db import Database

    async def delete() -> None:
        db = Database(Settings(database_url=url))
        try:
            async with db.writer() as session:
                await session.execute(
                    sa.text("DELETE FROM contacts WHERE account_id = :a AND email LIKE :p"),
                    {"a": account_id, "p": f"soak-{run}-%"},
                )
                await session.commit()
        finally:
            await db.dispose()

    asyncio.run(delete())


if __name__ == "__main__":
    sys.exit(main())
