"""The import and export bench (issue 12, item 7), on the data `python -m bench` loads:

- export_1m: GET /contacts/export.csv of the loaded account (its `--contacts` contacts),
  read to the end: seconds (target <= 30 s on PostgreSQL), and the server's memory while it
  streams (flat: its largest RSS at most 50 MB over what it was before);
- import_1m: POST /contacts/import of a file of `--rows` rows (5 % invalid, 10 % updates of
  the account's contacts, 1 % repeating an earlier row of the file, the rest new contacts
  with labels and custom attributes), from the upload to `completed`: seconds (target
  <= 120 s on PostgreSQL, <= 300 s on SQLite), the server's largest RSS (<= 300 MB), and
  the p99 of the API's read scenarios while it runs against their p99 idle (<= 2 x).

`python -m bench.imports --database-url URL --contacts N [--rows R] [--duration S] [--out F]`

The contacts the import creates (imp-...@load.test) are deleted afterwards, and so are the
bench's imports; the updated contacts keep the custom attribute `bench_import` it set.
"""

from __future__ import annotations

import argparse
import base64
import csv
import json
import os
import random
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from bench import wrk
from bench.__main__ import (
    V2,
    common_arguments,
    descendants,
    scenarios,
    start_service,
    wait_idle,
)
from bench.load import BenchData, load

READS = ("list_p1", "show", "filter_email_eq", "search_short")
IMPORT_SECONDS = {"postgresql": 120.0, "sqlite": 300.0}
IMPORT_RSS_MB = 300.0
P99_DURING_IMPORT = 2.0  # x the p99 idle
EXPORT_SECONDS = {"postgresql": 30.0}
EXPORT_RSS_GROWTH_MB = 50.0


def write_file(path: Path, rows: int, existing: list[str], seed: int = 7) -> dict[str, int]:
    """The import's file; returns what it holds."""
    rng = random.Random(seed)
    run = uuid.uuid4().hex[:8]
    made = {"invalid": 0, "updates": 0, "repeats": 0, "new": 0}
    new_emails: list[str] = []
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(
            [
                "name",
                "first_name",
                "last_name",
                "email",
                "phone_number",
                "identifier",
                "company",
                "city",
                "country",
                "labels",
                "custom_attributes.plan",
                "custom_attributes.seats",
                "custom_attributes.bench_import",
            ]
        )
        for n in range(rows):
            draw = rng.random()
            if draw < 0.05:
                writer.writerow([f"Bad {n}", "", "", f"not-an-email-{n}"] + [""] * 9)
                made["invalid"] += 1
            elif draw < 0.15 and made["updates"] < len(existing):
                email = existing[made["updates"]]
                writer.writerow(["", "", "", email] + [""] * 8 + [f"{run}-{n}"])
                made["updates"] += 1
            elif draw < 0.16 and new_emails:
                email = new_emails[rng.randrange(len(new_emails))]
                writer.writerow(
                    [f"Again {n}", "", "", email, "", "", "", "", "", "again"] + [""] * 3
                )
                made["repeats"] += 1
            else:
                email = f"imp-{run}-{n}@load.test"
                new_emails.append(email)
                writer.writerow(
                    [
                        f"Imported Person {n}",
                        "Imported",
                        f"Person {n}",
                        email,
                        f"+999{n:09d}",  # a calling code no loaded contact has
                        f"imp-{run}-{n}",
                        rng.choice(["Acme", "Globex", "Initech", "Umbrella"]),
                        rng.choice(["Paris", "Berlin", "Lisbon", "Austin"]),
                        rng.choice(["FR", "DE", "PT", "US"]),
                        rng.choice(["vip", "newsletter;vip", "lead", ""]),
                        rng.choice(["gold", "silver"]),
                        str(rng.randrange(1, 500)),
                        "",
                    ]
                )
                made["new"] += 1
    return made


def _rss_mb(pid: int) -> float:
    """The largest current RSS among the server's processes."""
    sizes = []
    for proc in [pid, *descendants(pid)]:
        try:
            for line in Path(f"/proc/{proc}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
        except OSError:
            continue
    return max(sizes, default=0.0)


class RssSampler:
    """The server's largest RSS, sampled every 0.2 s in a thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, _rss_mb(self.pid))
            self._stop.wait(0.2)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _multipart_upload(url: str, headers: dict[str, str], path: Path) -> Any:
    """POST the file as multipart/form-data, streamed from disk (urllib, chunked)."""
    boundary = uuid.uuid4().hex
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="import_file"; '
        f'filename="{path.name}"\r\nContent-Type: text/csv\r\n\r\n'
    ).encode()
    tail = f"\r\n--{boundary}--\r\n".encode()
    size = len(head) + path.stat().st_size + len(tail)

    def body() -> Any:
        yield head
        with path.open("rb") as source:
            while chunk := source.read(1024 * 1024):
                yield chunk
        yield tail

    request = urllib.request.Request(
        url,
        data=body(),
        method="POST",
        headers={
            **headers,
            "Content-Type": f"multipart/form-data; boundary={boundary}",
            "Content-Length": str(size),
        },
    )
    try:
        with urllib.request.urlopen(request, timeout=600) as answer:
            return json.loads(answer.read())
    except urllib.error.HTTPError as refused:
        raise SystemExit(f"the upload was refused: {refused.code} {refused.read()!r}") from None


def _get_json(url: str, headers: dict[str, str]) -> Any:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=60) as got:
        return json.loads(got.read())


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _cleanup(url: str, account_id: int) -> None:
    """Delete the contacts the import created, and the bench's imports."""
    import asyncio

    import sqlalchemy as sa

    from contactdesk.config import Settings
    from contactdesk.db import Database

    async def run() -> None:
        db = Database(Settings(database_url=url))
        try:
            async with db.writer() as session:
                await session.execute(
                    sa.text(
                        "DELETE FROM contacts WHERE account_id = :a"
                        " AND email LIKE 'imp-%@load.test'"
                    ),
                    {"a": account_id},
                )
                await session.execute(
                    sa.text("DELETE FROM contact_imports WHERE account_id = :a"), {"a": account_id}
                )
                await session.execute(
                    sa.text("DELETE FROM events WHERE account_id = :a AND source = 'import'"),
                    {"a": account_id},
                )
                await session.commit()
        finally:
            await db.dispose()

    asyncio.run(run())
    if make_url(url).get_backend_name().startswith("postgres"):

        async def vacuum() -> None:
            conn = await asyncpg.connect(_dsn(url))
            try:
                await conn.execute("VACUUM (ANALYZE) contacts, contact_labels, events")
            finally:
                await conn.close()

        asyncio.run(vacuum())


def _existing_emails(url: str, account_id: int, wanted: int) -> list[str]:
    """Emails of the account's loaded contacts, each once, spread over the account."""
    import asyncio

    import sqlalchemy as sa

    from contactdesk.config import Settings
    from contactdesk.db import Database

    async def run() -> list[str]:
        db = Database(Settings(database_url=url))
        try:
            async with db.reader() as session:
                total = await session.scalar(
                    sa.text("SELECT count(*) FROM contacts WHERE account_id = :a"),
                    {"a": account_id},
                )
                step = max(1, int(total or 0) // max(1, wanted))
                rows = await session.execute(
                    sa.text(
                        "SELECT email FROM contacts WHERE account_id = :a AND id % :s = 0"
                        " AND email IS NOT NULL AND email NOT LIKE '%@load.test' LIMIT :n"
                    ),
                    {"a": account_id, "s": step, "n": wanted},
                )
                return [r[0] for r in rows]
        finally:
            await db.dispose()

    return asyncio.run(run())


def _reads(
    bench: BenchData, base: str, port: int, args: Any, importing: bool = False
) -> dict[str, float]:
    """The p99 of each read scenario, one after the other."""
    auth = base64.b64encode(f"{bench.api_key}:{bench.api_secret}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}"}
    found = {}
    for name, path, lua in scenarios(bench):
        if name not in READS:
            continue
        # What the scenario before left queued (its clients gone) ends first; while the
        # import runs the database is never idle, so a few seconds are given instead.
        if importing:
            time.sleep(5)
        else:
            wait_idle(args.database_url)
        target = base + path if lua is None else f"http://127.0.0.1:{port}"
        result = wrk.run(
            target,
            duration=args.duration,
            connections=args.connections,
            headers=headers if lua is None else None,
            lua=lua,
        )
        # No answer at all in the run counts as worse than any p99.
        found[name] = result.p99_ms if result.rps > 0 else float("inf")
        print(
            f"    {name:18s} {result.rps:9.1f} req/s  p99 {result.p99_ms:8.2f} ms  "
            f"non-2xx {result.non_2xx}  socket errors {result.errors}",
            flush=True,
        )
    return found


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.imports", description=__doc__)
    common_arguments(parser, "results-imports.json")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    url: str = args.database_url
    backend = "postgresql" if make_url(url).get_backend_name().startswith("postgres") else "sqlite"
    print(f"loading {args.contacts} + {args.contacts} contacts into {url} ...", flush=True)
    bench = load(url, args.contacts)
    auth = base64.b64encode(f"{bench.api_key}:{bench.api_secret}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}"}
    env = {**os.environ, "CONTACTDESK_DATABASE_URL": url, "CONTACTDESK_LOG_LEVEL": "warning"}
    results: dict[str, Any] = {"backend": backend, "contacts": args.contacts, "rows": args.rows}
    workdir = Path(tempfile.mkdtemp(prefix="contactdesk-bench-import-"))
    file = workdir / "import.csv"
    started = time.monotonic()
    existing = _existing_emails(url, bench.account_id, args.rows // 10)
    made = write_file(file, args.rows, existing)
    results["file"] = {**made, "bytes": file.stat().st_size}
    print(f"file: {made}, {file.stat().st_size / 1e6:.1f} MB in {time.monotonic() - started:.1f} s")

    server = start_service(env, workers=args.workers)
    port = int(server.url.rpartition(":")[2])
    base = f"{server.url}{V2}"
    failures = []
    try:
        # export_1m
        wait_idle(url)
        before = _rss_mb(server.process.pid)
        with RssSampler(server.process.pid) as sampler:
            began = time.monotonic()
            request = urllib.request.Request(f"{base}/contacts/export.csv", headers=headers)
            size = lines = 0
            with urllib.request.urlopen(request, timeout=600) as answer:
                while chunk := answer.read(1024 * 1024):
                    size += len(chunk)
                    lines += chunk.count(b"\n")
            export_seconds = time.monotonic() - began
        results["export"] = {
            "seconds": round(export_seconds, 2),
            "rows": lines - 1,
            "bytes": size,
            "rss_before_mb": round(before, 1),
            "rss_peak_mb": round(sampler.peak, 1),
        }
        print(
            f"export_1m: {lines - 1} rows, {size / 1e6:.1f} MB in {export_seconds:.1f} s, "
            f"RSS {before:.0f} -> peak {sampler.peak:.0f} MB",
            flush=True,
        )

        # the read scenarios idle
        wait_idle(url)
        print("  idle:", flush=True)
        idle = _reads(bench, base, port, args)

        # import_1m, with the read scenarios run while it goes on
        wait_idle(url)
        with RssSampler(server.process.pid) as sampler:
            began = time.monotonic()
            accepted = _multipart_upload(f"{base}/contacts/import", headers, file)
            upload_seconds = time.monotonic() - began
            import_id = accepted["payload"]["import_id"]
            print(f"  upload accepted in {upload_seconds:.1f} s; under import:", flush=True)
            during = _reads(bench, base, port, args, importing=True)
            while True:
                summary = _get_json(f"{base}/contacts/imports/{import_id}", headers)
                summary = summary["payload"]["import"]
                if summary["status"] not in ("queued", "running"):
                    break
                time.sleep(0.5)
            import_seconds = time.monotonic() - began
        results["import"] = {
            "seconds": round(import_seconds, 2),
            "upload_seconds": round(upload_seconds, 2),
            "rss_peak_mb": round(sampler.peak, 1),
            "summary": summary,
            "reads_idle_p99_ms": idle,
            "reads_during_p99_ms": during,
        }
        print(
            f"import_1m: {summary['status']} in {import_seconds:.1f} s "
            f"({summary['rows_per_second']} rows/s while running), created "
            f"{summary['created']}, updated {summary['updated']}, unchanged "
            f"{summary['unchanged']}, failed {summary['failed']}, duplicates "
            f"{summary['duplicates_in_file']}; server RSS peak {sampler.peak:.0f} MB",
            flush=True,
        )
    finally:
        server.stop()
        _cleanup(url, bench.account_id)

    limit = IMPORT_SECONDS[backend]
    checks = [
        ("import_1m seconds", import_seconds, f"<= {limit:g}", import_seconds <= limit),
        (
            "import_1m server RSS MB",
            sampler.peak,
            f"<= {IMPORT_RSS_MB:g}",
            sampler.peak <= IMPORT_RSS_MB,
        ),
        (
            "import_1m status",
            0.0 if summary["status"] == "completed" else 1.0,
            "completed",
            summary["status"] == "completed",
        ),
    ]
    for name, p99 in during.items():
        ratio = p99 / idle[name] if idle[name] else 0.0
        checks.append(
            (
                f"{name} p99 during / idle",
                ratio,
                "<= 2",
                ratio <= P99_DURING_IMPORT,
            )
        )
    if backend in EXPORT_SECONDS:
        limit = EXPORT_SECONDS[backend]
        checks.append(
            ("export_1m seconds", export_seconds, f"<= {limit:g}", export_seconds <= limit)
        )
    growth = results["export"]["rss_peak_mb"] - results["export"]["rss_before_mb"]
    checks.append(("export_1m RSS growth MB", growth, "<= 50", growth <= EXPORT_RSS_GROWTH_MB))
    print(f"\n{'check':34s} {'value':>10s}  target      verdict")
    for name, value, target, ok in checks:
        print(f"{name:34s} {value:10.2f}  {target:10s}  {'PASS' if ok else 'FAIL'}")
        if not ok:
            failures.append(name)
    results["checks"] = [
        {"name": n, "value": round(v, 3), "target": t, "pass": ok} for n, v, t, ok in checks
    ]
    Path(args.out).write_text(json.dumps(results, indent=2))
    file.unlink()
    workdir.rmdir()
    if failures:
        print("targets missed: " + ", ".join(failures))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
