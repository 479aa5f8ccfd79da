"""The webhook bench (issue 11, item 7), on the data `python -m bench` loads:

- create_with_webhook: the create scenario with one webhook subscribed to contact_created
  (its receiver in another process), against create without it, in the same run: >= 0.8 x;
- webhook_drain: 10,000 events queued while no dispatcher runs, then `contactdesk worker`
  alone delivers them to the receiver: >= 500 events/s;
- feed_page: GET /events?limit=1000 over the account's events: p99 <= 50 ms.

`python -m bench.webhooks --database-url URL --contacts N [--duration S] [--out F]`
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from bench import wrk
from bench.__main__ import (
    ROOT,
    V2,
    common_arguments,
    free_port,
    scenarios,
    start_service,
    wait_idle,
    wait_ready,
)
from bench.load import load, remove_created

DRAIN_EVENTS = 10_000
FEED_CONNECTIONS = 4
TARGETS = {"create_with_webhook": 0.8, "webhook_drain": 500.0, "feed_page_p99_ms": 50.0}


def request(url: str, headers: dict[str, str], body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    sent = urllib.request.Request(
        url, data=data, headers={**headers, "Content-Type": "application/json"}
    )
    with urllib.request.urlopen(sent, timeout=30) as answer:
        return json.loads(answer.read() or b"null")


def received(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/count", timeout=10) as answer:
        return int(answer.read())


async def _sql(url: str, statement: str, *args: Any) -> Any:
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetchval(statement, *args)
    finally:
        await connection.close()


def sql(url: str, statement: str, *args: Any) -> Any:
    import asyncio

    if not make_url(url).get_backend_name().startswith("postgres"):
        import sqlite3

        path = make_url(url).database or ""
        with sqlite3.connect(path) as connection:
            row = connection.execute(re.sub(r"\$[0-9]+", "?", statement), args).fetchone()
            return row[0] if row else None
    return asyncio.run(_sql(url, statement, *args))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks", description=__doc__)
    common_arguments(parser, "results-webhooks.json")
    args = parser.parse_args(argv)
    url: str = args.database_url
    bench = load(url, args.contacts)
    auth = base64.b64encode(f"{bench.api_key}:{bench.api_secret}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}"}
    env = {
        **os.environ,
        "CONTACTDESK_DATABASE_URL": url,
        "CONTACTDESK_LOG_LEVEL": "warning",
        "CONTACTDESK_WEBHOOKS_ALLOW_PRIVATE": "true",
        "CONTACTDESK_DISPATCHER_POLL_SECONDS": "1",
    }
    create_lua = next(lua for name, _, lua in scenarios(bench) if name == "create")
    run = {"duration": args.duration, "connections": args.connections}
    results: dict[str, Any] = {}

    receiver_port = free_port()
    receiver = subprocess.Popen(
        [sys.executable, "-m", "bench.receiver", str(receiver_port)],
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        wait_ready(f"http://127.0.0.1:{receiver_port}/count")
        sql(url, "DELETE FROM webhooks WHERE account_id = $1", bench.account_id)

        # create, then create with one subscribed webhook, on the same server
        server = start_service(env, workers=2)
        try:
            target = f"http://127.0.0.1:{server.url.rpartition(':')[2]}"
            wait_idle(url)
            wrk.run(target, duration=3, connections=args.connections, lua=create_lua)
            plain = wrk.run(target, lua=create_lua, **run)
            # As an administrator would create it (the bench's key has no admin scope).
            sql(
                url,
                "INSERT INTO webhooks (account_id, url, name, subscriptions, secret, status,"
                " created_at, updated_at) VALUES ($1, $2, 'bench', '[\"contact_created\"]',"
                " 'whsec_YmVuY2hiZW5jaGJlbmNoYmVuY2hiZW5jaA==', 'enabled', 0, 0)",
                bench.account_id,
                f"http://127.0.0.1:{receiver_port}/hook",
            )
            wait_idle(url)
            hooked = wrk.run(target, lua=create_lua, **run)
            results["create"] = {"rps": plain.rps, "p99_ms": plain.p99_ms}
            results["create_with_webhook"] = {
                "rps": hooked.rps,
                "p99_ms": hooked.p99_ms,
                "ratio_to_create": round(hooked.rps / plain.rps, 3),
            }
            print(
                f"create {plain.rps:.0f} req/s, create_with_webhook {hooked.rps:.0f} req/s "
                f"({hooked.rps / plain.rps:.3f} x)",
                flush=True,
            )
            # let the dispatcher catch up before the drain
            deadline = time.monotonic() + 120
            pending = "SELECT count(*) FROM webhook_deliveries WHERE status = 'pending'"
            while time.monotonic() < deadline and int(sql(url, pending) or 0) > 0:
                time.sleep(0.5)
        finally:
            server.stop()

        # drain: events queued with no dispatcher, then one worker alone
        quiet = {**env, "CONTACTDESK_DISPATCHER": "false"}
        server = start_service(quiet, workers=2)
        try:
            body = {"inbox_id": bench.inbox_id}
            for n in range(DRAIN_EVENTS):
                # An email of the created kind: remove_created takes them away afterwards.
                fields = {
                    "name": f"Drain {n}",
                    "email": f"bench-drain-{n}-{time.time_ns()}@load.test",
                }
                request(f"{server.url}{V2}/contacts", headers, {**body, **fields})
        finally:
            server.stop()
        start_count = received(receiver_port)
        began = time.monotonic()
        contactdesk = str(Path(sys.executable).parent / "contactdesk")
        worker = subprocess.Popen([contactdesk, "worker"], env=env, start_new_session=True)
        try:
            deadline = began + 300
            while (
                received(receiver_port) - start_count < DRAIN_EVENTS and time.monotonic() < deadline
            ):
                time.sleep(0.05)
            took = time.monotonic() - began
        finally:
            worker.terminate()
            worker.wait(timeout=30)
        drained = received(receiver_port) - start_count
        results["webhook_drain"] = {
            "events": drained,
            "seconds": round(took, 2),
            "events_per_second": round(drained / took, 1),
        }
        print(f"webhook_drain {drained} events in {took:.1f} s: {drained / took:.0f}/s", flush=True)

        # the feed: a page of 1,000 events
        server = start_service({**env, "CONTACTDESK_DISPATCHER": "false"}, workers=2)
        try:
            request(f"{server.url}{V2}/events?limit=1", headers)  # places what is committed
            wait_idle(url)
            feed = f"{server.url}{V2}/events?limit=1000"
            # A feed is read by a few pollers, not by a crowd: FEED_CONNECTIONS at once.
            feed_run = {"duration": args.duration, "connections": FEED_CONNECTIONS}
            wrk.run(feed, duration=3, connections=FEED_CONNECTIONS, headers=headers)
            page = wrk.run(feed, headers=headers, **feed_run)
            results["feed_page"] = {"rps": page.rps, "p50_ms": page.p50_ms, "p99_ms": page.p99_ms}
            print(f"feed_page {page.rps:.0f} req/s p99 {page.p99_ms:.1f} ms", flush=True)
        finally:
            server.stop()
    finally:
        receiver.terminate()
        receiver.wait(timeout=10)
        # Its webhook would leave every later create of `python -m bench` a delivery to make.
        sql(url, "DELETE FROM webhooks WHERE account_id = $1", bench.account_id)
        removed = remove_created(url, bench.account_id)
        print(f"removed the {removed} contacts the scenarios made", flush=True)

    verdicts = {
        "create_with_webhook": results["create_with_webhook"]["ratio_to_create"]
        >= TARGETS["create_with_webhook"],
        "webhook_drain": results["webhook_drain"]["events_per_second"] >= TARGETS["webhook_drain"],
        "feed_page": results["feed_page"]["p99_ms"] <= TARGETS["feed_page_p99_ms"],
    }
    results["verdicts"] = verdicts
    results["targets"] = TARGETS
    Path(args.out).write_text(json.dumps(results, indent=1))
    for name, ok in verdicts.items():
        print(f"{name:22s} {'PASS' if ok else 'FAIL'}", flush=True)
    return 0 if all(verdicts.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
