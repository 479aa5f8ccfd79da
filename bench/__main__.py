"""python -m bench --database-url URL --contacts N --duration SECONDS --out results.json

Exits 1 when a target of bench/targets.py is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import asdict
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy.engine import make_url

from bench import ceiling, targets, wrk
from bench.load import BenchData, load, remove_created

ROOT = Path(__file__).resolve().parent.parent
V2 = "/api/v2/accounts"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_ready(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"server at {url} did not become ready")


def descendants(pid: int) -> list[int]:
    children: list[int] = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            ppid = next(
                int(line.split()[1])
                for line in status.read_text().splitlines()
                if line.startswith("PPid:")
            )
        except (OSError, StopIteration, ValueError):
            continue
        if ppid == pid:
            child = int(status.parent.name)
            children += [child, *descendants(child)]
    return children


def peak_rss_mb(pid: int) -> float:
    peaks = []
    for proc in [pid, *descendants(pid)]:
        try:
            for line in Path(f"/proc/{proc}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
        except OSError:
            continue
    return max(peaks, default=0.0)


class Server:
    url = ""  # scheme, host and port, once it serves

    def __init__(self, command: list[str], env: dict[str, str], health: str) -> None:
        # BENCH_SERVER_LOG=path keeps the servers' output (appended), to read after a run.
        log_path = os.environ.get("BENCH_SERVER_LOG")
        output: Any = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(
            command,
            env=env,
            cwd=ROOT,
            start_new_session=True,
            stdout=output,
            stderr=output,
        )
        wait_ready(health)

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)


def start_baseline(env: dict[str, str], url: str, account_id: int, workers: int) -> Server:
    """bench/baseline_app.py under uvicorn; its page is at server.url + "/baseline"."""
    port = free_port()
    base_env = {**env, "BENCH_DATABASE_URL": url, "BENCH_ACCOUNT_ID": str(account_id)}
    command = [sys.executable, "-m", "uvicorn", "bench.baseline_app:app"]
    command += ["--workers", str(workers), "--port", str(port)]
    command += ["--log-level", "warning", "--no-access-log"]
    server = Server(command, base_env, f"http://127.0.0.1:{port}/baseline")
    server.url = f"http://127.0.0.1:{port}"
    return server


BENCH_RATE_LIMIT = "1000000000/minute"


def start_service(env: dict[str, str], workers: int) -> Server:
    """`contactdesk serve` (with --workers 1, the serving process is the first child)."""
    port = free_port()
    # One key drives the whole load: the limiter runs (its cost is in the figures) with a
    # limit it never reaches, unless the caller sets one.
    env = {"CONTACTDESK_RATE_LIMIT": BENCH_RATE_LIMIT, **env}
    contactdesk = str(Path(sys.executable).parent / "contactdesk")
    command = [contactdesk, "serve", "--workers", str(workers), "--port", str(port)]
    server = Server(command, env, f"http://127.0.0.1:{port}/healthz")
    server.url = f"http://127.0.0.1:{port}"
    return server


def serving_pid(server: Server) -> int:
    """The process that serves requests: the worker, or with --workers 1 (uvicorn runs in the
    process itself) the server."""
    children = [
        pid
        for pid in descendants(server.process.pid)
        if "spawn_main" in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
    ]  # uvicorn's workers, not serve's import worker (`contactdesk worker`)
    return children[-1] if children else server.process.pid


def wait_idle(url: str, timeout: float = 300) -> None:
    """Wait until no query of an earlier scenario still runs on the server (PostgreSQL goes on
    with a query whose client is gone), so each scenario is measured on its own."""
    if not make_url(url).get_backend_name().startswith("postgres"):
        return
    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)

    async def busy() -> int:
        conn = await asyncpg.connect(dsn)
        try:
            count: int = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state = 'active' AND pid <> pg_backend_pid()"
            )
            return count
        finally:
            await conn.close()

    deadline = time.monotonic() + timeout
    while asyncio.run(busy()) and time.monotonic() < deadline:
        time.sleep(0.5)


def warm_up(url: str, headers: dict[str, str]) -> None:
    """One request first: the first search of a term counts its matches and caches the count."""
    request = urllib.request.Request(url, headers=headers)
    with contextlib.suppress(OSError), urllib.request.urlopen(request, timeout=120):
        pass


def scenarios(bench: BenchData) -> list[tuple[str, str, str | None]]:
    """(name, path, lua) for the service; paths are relative to the v2 prefix."""
    auth = base64.b64encode(f"{bench.api_key}:{bench.api_secret}".encode()).decode()
    headers = {"Authorization": f"Basic {auth}", "Content-Type": "application/json"}
    lo, hi = bench.min_id, bench.max_id
    nonce = int(time.time())
    show = wrk.script("GET", f'"{V2}/contacts/" .. math.random({lo}, {hi})', headers, None)
    # A Lua expression: JSON text in single-quoted Lua strings, joined with the counters.
    create_body = (
        f'\'{{"inbox_id": {bench.inbox_id}, "name": "Bench \' .. t .. \'-\' .. n .. '
        f"'\", \"email\": \"bench-{nonce}-' .. r .. '-' .. t .. '-' .. n .. '@load.test\", "
        '"custom_attributes": {"plan": "pro"}}\''
    )
    create = wrk.script("POST", f'"{V2}/contacts"', headers, create_body)
    update = wrk.script(
        "PATCH",
        f'"{V2}/contacts/" .. math.random({lo}, {hi})',
        headers,
        "'{\"custom_attributes\": {\"bench_counter\": ' .. n .. '}}'",
    )
    # One equality condition on email, a different existing email per request.
    emails = "emails = {" + ", ".join(f'"{email}"' for email in bench.sample_emails) + "}"
    filter_body = (
        '\'{"payload": [{"attribute_key": "email", "filter_operator": '
        '"equal_to", "values": ["\' .. emails[math.random(#emails)] .. \'"]}]}\''
    )
    filter_email = wrk.script("POST", f'"{V2}/contacts/filter"', headers, filter_body, emails)
    return [
        ("list_p1", "/contacts?page=1&sort=-last_activity_at", None),
        ("list_p1_name", "/contacts?page=1&sort=name", None),
        ("list_p1_company", "/contacts?page=1&sort=company", None),
        ("list_deep", "/contacts?page=1000&sort=-last_activity_at", None),
        ("list_labels", "/contacts?page=1&labels=vip", None),
        ("search_3plus", "/contacts/search?q=smith", None),
        ("search_short", "/contacts/search?q=jo", None),
        ("show", "", show),
        ("filter_email_eq", "", filter_email),
        ("create", "", create),
        ("update", "", update),
    ]


def common_arguments(parser: argparse.ArgumentParser, out: str) -> None:
    """The options every bench entry point takes (the data, the load, the output file)."""
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--contacts", type=int, default=100_000)
    parser.add_argument("--duration", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--out", default=out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    common_arguments(parser, "results.json")
    parser.add_argument(
        "--warmup", type=int, default=3, help="seconds of unrecorded load before each scenario"
    )
    parser.add_argument("--only", help="comma-separated scenario names to run")
    parser.add_argument(
        "--ceiling",
        help="comma-separated read scenarios whose database ceiling pgbench measures in this "
        f"run (PostgreSQL); their throughput target becomes {targets.CEILING_SHARE:g} x it",
    )
    args = parser.parse_args(argv)

    url: str = args.database_url
    backend = targets.backend_key(make_url(url).get_backend_name())
    is_pg = backend == "postgresql"
    only = set(args.only.split(",")) if args.only else None
    ceiling_names: list[str] = args.ceiling.split(",") if args.ceiling else []
    for name in ceiling_names:
        if not is_pg:
            raise SystemExit("--ceiling needs PostgreSQL (pgbench)")
        if name not in ceiling.READ_SCENARIOS:
            raise SystemExit(f"--ceiling {name}: one of {', '.join(ceiling.READ_SCENARIOS)}")
        if only is not None and name not in only:
            raise SystemExit(f"--ceiling {name}: the scenario is not in --only")
    print(f"loading {args.contacts} + {args.contacts} contacts into {url} ...", flush=True)
    bench = load(url, args.contacts)
    print(f"load: {bench.load_seconds:.1f} s", flush=True)

    auth = base64.b64encode(f"{bench.api_key}:{bench.api_secret}".encode()).decode()
    auth_headers = {"Authorization": f"Basic {auth}"}
    # The request log lines are INFO: warning leaves them out unless the caller asks for them
    # (CONTACTDESK_LOG_LEVEL=info in the environment measures them too).
    level = os.environ.get("CONTACTDESK_LOG_LEVEL", "warning")
    env = {**os.environ, "CONTACTDESK_DATABASE_URL": url, "CONTACTDESK_LOG_LEVEL": level}
    results: list[dict[str, Any]] = []
    selected = [name for name, _, _ in scenarios(bench) if only is None or name in only]
    # A ratio target needs baseline_page from the same run: it runs whenever one applies.
    run_baseline = is_pg and (
        only is None
        or "baseline_page" in only
        or targets.needs_baseline(backend, selected, ceiling_names)
    )
    run_chatwoot = is_pg and (only is None or "chatwoot_style_list" in only)
    if run_baseline and only is not None and "baseline_page" not in only:
        print("baseline_page added: the ratio targets are measured against it", flush=True)

    def record(name: str, result: wrk.WrkResult) -> None:
        results.append(
            {
                "name": name,
                "rps": round(result.rps, 1),
                "p50_ms": round(result.p50_ms, 2),
                "p99_ms": round(result.p99_ms, 2),
                "non_2xx": result.non_2xx,
                "socket_errors": result.errors,
            }
        )
        print(
            f"  {name:22s} {result.rps:10.1f} req/s  p50 {result.p50_ms:8.2f} ms  "
            f"p99 {result.p99_ms:8.2f} ms  non-2xx {result.non_2xx}",
            flush=True,
        )

    run = {"duration": args.duration, "connections": args.connections}
    if run_baseline or run_chatwoot:
        server = start_baseline(env, url, bench.account_id, workers=2)
        port = int(server.url.rpartition(":")[2])
        try:
            if run_baseline:
                wait_idle(url)
                baseline_url = f"http://127.0.0.1:{port}/baseline"
                wrk.run(baseline_url, duration=args.warmup, connections=args.connections)
                record("baseline_page", wrk.run(baseline_url, **run))
            if run_chatwoot:
                wait_idle(url)
                record("chatwoot_style_list", wrk.run(f"http://127.0.0.1:{port}/chatwoot", **run))
        finally:
            server.stop()

    # With no server running (pgbench opens as many connections as wrk), on the data the
    # read scenarios then measure.
    out = Path(args.out)
    ceilings: dict[str, ceiling.Ceiling] = {}
    paths = {name: path for name, path, _ in scenarios(bench)}
    for name in ceiling_names:
        wait_idle(url)
        found = ceiling.measure(
            url,
            bench,
            name,
            paths[name],
            out.parent / f"{out.stem}-pgbench" / name,
            duration=args.duration,
            warmup=args.warmup,
            connections=args.connections,
        )
        ceilings[name] = found
        p99 = "-" if found.result.p99_ms is None else f"{found.result.p99_ms:8.2f}"
        print(
            f"  ceiling {name:14s} {found.result.tps:10.1f} tps    latency avg "
            f"{found.result.latency_ms:6.2f} ms  p99 {p99} ms  (pgbench, "
            f"{len(found.script.statements)} statements a request)",
            flush=True,
        )
    if ceilings:
        explained = out.parent / f"{out.stem}-explain.txt"
        explained.write_text("\n".join(found.report for found in ceilings.values()))
        print(f"wrote {explained}", flush=True)

    server = start_service(env, workers=2)
    port = int(server.url.rpartition(":")[2])
    base = f"{server.url}{V2}"
    try:
        for name, path, lua in scenarios(bench):
            if only is not None and name not in only:
                continue
            wait_idle(url)
            headers = auth_headers if lua is None else None
            target = base + path if lua is None else f"http://127.0.0.1:{port}"
            if lua is None:
                warm_up(target, auth_headers)
            # Warm-up, not recorded: every worker's connection pool filled and every backend's
            # caches loaded, as on a server that has been running for a while.
            wrk.run(
                target,
                duration=args.warmup,
                connections=args.connections,
                headers=headers,
                lua=lua,
            )
            wait_idle(url)
            record(name, wrk.run(target, headers=headers, lua=lua, **run))
        max_rss = peak_rss_mb(server.process.pid)
    finally:
        server.stop()
        removed = remove_created(url, bench.account_id)
        print(f"removed the {removed} contacts the create scenario made", flush=True)

    baseline = next((r["rps"] for r in results if r["name"] == "baseline_page"), None)
    for item in results:
        item["ratio_to_baseline"] = round(item["rps"] / baseline, 3) if baseline else None
        tps = ceilings[item["name"]].result.tps if item["name"] in ceilings else None
        item["ceiling_tps"] = None if tps is None else round(tps, 1)
        item.update(targets.judge(backend, item, baseline, tps))
    rss = targets.judge_rss(backend, max_rss)
    missed = [item["name"] for item in results if item["verdict"] == "fail"]
    if rss["verdict"] == "fail":
        missed.append("max_rss_mb")
    summary = {
        "database": make_url(url).get_backend_name(),
        "contacts": args.contacts,
        "duration": args.duration,
        "connections": args.connections,
        "scenarios": results,
        "load_seconds": round(bench.load_seconds, 1),
        "max_rss_mb": round(max_rss, 1),
        "targets": {
            "backend": backend,
            "contacts": targets.SCALE.get(backend),
            "scenarios": {
                name: asdict(target) for name, target in targets.TARGETS.get(backend, {}).items()
            },
            "max_rss_mb": targets.MAX_RSS_MB.get(backend),
            "ceiling_share": targets.CEILING_SHARE,
        },
        "ceilings": {name: found.as_json() for name, found in ceilings.items()},
        "max_rss_verdict": rss["verdict"],
        "missed": missed,
        "passed": not missed,
    }
    Path(args.out).write_text(json.dumps(summary, indent=2) + "\n")
    print_table(summary)
    print(f"wrote {args.out}")
    return 1 if missed else 0


def print_table(summary: dict[str, Any]) -> None:
    print(
        f"\n{'scenario':22s} {'req/s':>10s} {'p50 ms':>9s} {'p99 ms':>9s} {'x baseline':>10s} "
        f"{'ceiling':>9s}  {'target':44s} verdict"
    )
    for item in summary["scenarios"]:
        ratio = "-" if item["ratio_to_baseline"] is None else f"{item['ratio_to_baseline']:.3f}"
        ceiling_tps = "-" if item["ceiling_tps"] is None else f"{item['ceiling_tps']:.1f}"
        print(
            f"{item['name']:22s} {item['rps']:10.1f} {item['p50_ms']:9.2f} "
            f"{item['p99_ms']:9.2f} {ratio:>10s} {ceiling_tps:>9s}  {item['target'] or '-':44s} "
            f"{targets.verdict_text(item)}"
        )
    bound = summary["targets"]["max_rss_mb"]
    rss_target = "-" if bound is None else f"<= {bound:g} MB"
    rss_verdict = {"pass": "PASS", "fail": "FAIL", None: "-"}[summary["max_rss_verdict"]]
    print(f"{'max_rss_mb':22s} {summary['max_rss_mb']:10.1f} {rss_target:>52s}  {rss_verdict}")
    print(f"load_seconds {summary['load_seconds']}")
    scale = summary["targets"]["contacts"]
    if scale is not None and scale != summary["contacts"]:
        print(
            f"note: the {summary['targets']['backend']} targets are set for {scale:,} contacts; "
            f"this run loaded {summary['contacts']:,}"
        )
    if summary["missed"]:
        print(f"targets missed: {', '.join(summary['missed'])}")
    else:
        print("every target checked in this run was met")


if __name__ == "__main__":
    sys.exit(main())
