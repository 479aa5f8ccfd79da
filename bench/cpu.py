"""python -m bench.cpu --database-url URL [--scenarios list_p1,show] [--seconds 8]

CPU time one worker spends per request, by scenario, next to the baseline app's: the
worker's user + system time (from /proc) over a wrk run, divided by the requests served.
Unlike requests per second, this hardly moves when other work shares the machine, so it
is the figure to compare while changing the request path (docs/performance.md).
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
from pathlib import Path

from bench import wrk
from bench.__main__ import (
    V2,
    scenarios,
    serving_pid,
    start_baseline,
    start_service,
    wait_idle,
    warm_up,
)
from bench.load import load, remove_created

TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def measure(pid: int, url: str, seconds: int, lua: str | None, headers: dict[str, str]) -> float:
    """Microseconds of the worker's CPU per request (after 2 s of unmeasured load)."""
    wrk.run(url, duration=2, connections=8, lua=lua, headers=headers)
    before = cpu_seconds(pid)
    result = wrk.run(url, duration=seconds, connections=8, lua=lua, headers=headers)
    after = cpu_seconds(pid)
    return 1e6 * (after - before) / (result.rps * seconds)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cpu", description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--scenarios", default="list_p1,show,filter_email_eq,create,update")
    parser.add_argument("--seconds", type=int, default=8)
    args = parser.parse_args(argv)
    url = args.database_url
    bench = load(url, args.contacts)
    auth = base64.b64encode(f"{bench.api_key}:{bench.api_secret}".encode()).decode()
    auth_headers = {"Authorization": f"Basic {auth}"}
    env = {**os.environ, "CONTACTDESK_DATABASE_URL": url, "CONTACTDESK_LOG_LEVEL": "warning"}
    figures: dict[str, float] = {}
    if url.startswith("postgres"):
        baseline = start_baseline(env, url, bench.account_id, workers=1)
        try:
            figures["baseline_page"] = measure(
                serving_pid(baseline), f"{baseline.url}/baseline", args.seconds, None, {}
            )
        finally:
            baseline.stop()
    server = start_service(env, workers=1)
    port = int(server.url.rpartition(":")[2])
    wanted = args.scenarios.split(",")
    try:
        pid = serving_pid(server)
        for name, path, lua in scenarios(bench):
            if name not in wanted:
                continue
            wait_idle(url)
            target = (
                f"http://127.0.0.1:{port}{V2}{path}"
                if lua is None
                else (f"http://127.0.0.1:{port}")
            )
            if lua is None:
                warm_up(target, auth_headers)
            headers = auth_headers if lua is None else {}
            figures[name] = measure(pid, target, args.seconds, lua, headers)
    finally:
        server.stop()
        remove_created(url, bench.account_id)
    base = figures.get("baseline_page")
    print(f"{'scenario':22s} {'CPU us/req':>11s} {'x baseline':>11s}")
    for name, micros in figures.items():
        ratio = f"{micros / base:.2f}" if base else "-"
        print(f"{name:22s} {micros:11.0f} {ratio:>11s}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
