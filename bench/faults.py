"""Faults (issue 13, item 8): the service recovers by itself, keeps every write it
acknowledged, and no request hangs past its timeout.

Against `contactdesk serve --workers 2` on the data of `python -m bench` (PostgreSQL), a
client sends creates (each with a new email) and reads at a steady rate for `--seconds`
(default 60). A quarter of the way in it SIGKILLs one server worker (uvicorn starts a new
one); half way in it restarts PostgreSQL (`pg_ctlcluster ... restart`, as root on this
machine). Afterwards:

- every create answered 200 is in the database (its email is found);
- no request took longer than `--timeout` (default 15 s) or got no answer;
- no answer is a 5xx other than 503 (a request that meets the database down is told to
  retry, never answered 500);
- in the last quarter (after both faults) every request is answered 2xx;
- the counts by phase and status are printed, and written to `--out`.

`python -m bench.faults --database-url postgresql://.../contactdesk_bench --contacts 1000000`
Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
from sqlalchemy.engine import make_url

from bench.__main__ import descendants, start_service
from bench.load import load

RATE = 150  # requests a second, about a third of them creates


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def server_workers(server_pid: int) -> list[int]:
    """The uvicorn workers of `serve` (not its import worker)."""
    return [pid for pid in descendants(server_pid) if "spawn_main" in _cmdline(pid)]


def restart_postgresql() -> float:
    versions = sorted(os.listdir("/etc/postgresql"))
    started = time.monotonic()
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", versions[-1], "main", "restart"],
        check=True,
        capture_output=True,
    )
    return time.monotonic() - started


async def drive(
    base: str, headers: dict[str, str], inbox_id: int, seconds: float, answer_within: float
) -> dict[str, Any]:
    """Send the load; return what happened, by phase."""
    results: list[tuple[float, str, int, float]] = []  # (sent at, kind, status, seconds)
    acknowledged: list[str] = []
    run = uuid.uuid4().hex[:8]
    client_timeout = aiohttp.ClientTimeout(total=answer_within)
    started = time.monotonic()

    async def one(n: int, session: aiohttp.ClientSession) -> None:
        kind = "create" if n % 3 == 0 else "read"
        sent = time.monotonic() - started
        t = time.monotonic()
        try:
            if kind == "create":
                email = f"fault-{run}-{n}@load.test"
                async with session.post(
                    f"{base}/api/v2/accounts/contacts",
                    json={"inbox_id": inbox_id, "name": f"Fault {n}", "email": email},
                    headers=headers,
                ) as response:
                    status = response.status
                    await response.read()
                if status == 200:
                    acknowledged.append(email)
            else:
                async with session.get(
                    f"{base}/api/v2/accounts/contacts",
                    params={"page": "1", "sort": "-last_activity_at"},
                    headers=headers,
                ) as response:
                    status = response.status
                    await response.read()
        except TimeoutError:
            status = -1  # no answer within the timeout
        except aiohttp.ClientError:
            status = 0  # the connection failed (a killed worker's, a refused one)
        results.append((sent, kind, status, time.monotonic() - t))

    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(timeout=client_timeout, connector=connector) as session:
        tasks = []
        n = 0
        while time.monotonic() - started < seconds:
            tasks.append(asyncio.ensure_future(one(n, session)))
            n += 1
            await asyncio.sleep(max(0.0, n / RATE - (time.monotonic() - started)))
        await asyncio.gather(*tasks)
    return {"results": results, "acknowledged": acknowledged, "run": run}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--timeout", type=float, default=15.0)
    parser.add_argument("--out", default="results-faults.json")
    args = parser.parse_args(argv)
    url = args.database_url
    if not make_url(url).get_backend_name().startswith("postgres"):
        raise SystemExit("faults: PostgreSQL only (it restarts the server)")
    bench = load(url, args.contacts)
    env = {**os.environ, "CONTACTDESK_DATABASE_URL": url, "CONTACTDESK_LOG_LEVEL": "warning"}
    server = start_service(env, workers=2)
    auth = base64.b64encode(f"{bench.api_key}:{bench.api_secret}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}"}
    events: dict[str, Any] = {}

    async def faults() -> None:
        await asyncio.sleep(args.seconds / 4)
        workers = server_workers(server.process.pid)
        victim = workers[0]
        os.kill(victim, signal.SIGKILL)
        events["worker_killed"] = {"pid": victim, "at": round(args.seconds / 4, 1)}
        await asyncio.sleep(args.seconds / 4)
        took = await asyncio.to_thread(restart_postgresql)
        events["postgresql_restarted"] = {"at": round(args.seconds / 2, 1), "took": round(took, 2)}

    async def run() -> dict[str, Any]:
        fault_task = asyncio.ensure_future(faults())
        outcome = await drive(server.url, headers, bench.inbox_id, args.seconds, args.timeout)
        await fault_task
        return outcome

    try:
        outcome = asyncio.run(run())
        events["workers_after"] = server_workers(server.process.pid)
    finally:
        server.stop()

    async def stored(emails: list[str]) -> int:
        connection = await asyncpg.connect(_dsn(url))
        try:
            found = await connection.fetchval(
                "SELECT count(*) FROM contacts WHERE account_id = $1 AND email = ANY($2)",
                bench.account_id,
                emails,
            )
            await connection.execute(
                "DELETE FROM contacts WHERE account_id = $1 AND email LIKE $2",
                bench.account_id,
                f"fault-{outcome['run']}-%",
            )
            return int(found)
        finally:
            await connection.close()

    acknowledged = outcome["acknowledged"]
    present = asyncio.run(stored(acknowledged))
    results = outcome["results"]
    quarter = args.seconds / 4
    phases: dict[str, Counter[str]] = {}
    for sent, kind, status, _ in results:
        phase = ["before", "worker killed", "postgresql restarted", "after"][
            min(3, int(sent // quarter))
        ]
        phases.setdefault(phase, Counter())[f"{kind} {status}"] += 1
    slowest = max((took for *_, took in results), default=0.0)
    unanswered = sum(1 for _, _, status, _ in results if status == -1)
    last = [status for sent, _, status, _ in results if sent >= 3 * quarter]
    internal = sum(1 for _, _, status, _ in results if status >= 500 and status != 503)
    checks = {
        "acknowledged writes present": (present, len(acknowledged), present == len(acknowledged)),
        "answers 5xx other than 503": (internal, 0, internal == 0),
        "slowest request seconds": (round(slowest, 2), args.timeout, slowest < args.timeout),
        "requests without an answer": (unanswered, 0, unanswered == 0),
        "errors in the last quarter": (
            sum(1 for s in last if not 200 <= s < 300),
            0,
            all(200 <= s < 300 for s in last) and bool(last),
        ),
    }
    print(f"requests: {len(results)}; events: {json.dumps(events)}")
    for phase, counts in phases.items():
        print(f"  {phase:22s} {dict(sorted(counts.items()))}")
    print(f"\n{'check':34s} {'value':>10s} {'target':>10s}  verdict")
    for name, (value, target, ok) in checks.items():
        print(f"{name:34s} {value!s:>10s} {target!s:>10s}  {'PASS' if ok else 'FAIL'}")
    Path(args.out).write_text(
        json.dumps(
            {
                "requests": len(results),
                "events": events,
                "phases": {p: dict(c) for p, c in phases.items()},
                "checks": {
                    k: {"value": v, "target": t, "pass": ok} for k, (v, t, ok) in checks.items()
                },
            },
            indent=2,
        )
    )
    return 0 if all(ok for *_, ok in checks.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
