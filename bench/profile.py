"""python -m bench.profile --database-url URL --scenarios list_p1,show [--seconds 15]

Where one worker's CPU goes while it serves a scenario: `contactdesk serve --workers 1` under
wrk (8 connections), sampled by py-spy (`--idle` off, so only samples on the CPU count), each
sample charged to the layer of its innermost frame (self time). Prints one table per scenario
and, with --out, writes the tables and the collapsed stacks for a closer look.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

from bench import wrk
from bench.__main__ import V2, scenarios, serving_pid, start_service, wait_idle, warm_up
from bench.load import load, remove_created

# A frame reads "function (package/module.py:line)": its package decides its layer.
LAYERS = {
    "contactdesk": "contactdesk",
    "sqlalchemy": "sqlalchemy",
    "asyncpg": "asyncpg",
    "aiosqlite": "aiosqlite / sqlite3",
    "sqlite3": "aiosqlite / sqlite3",
    "fastapi": "fastapi",
    "pydantic": "pydantic",
    "pydantic_core": "pydantic",
    "starlette": "starlette",
    "uvicorn": "uvicorn",
    "httptools": "uvicorn",
    "uvloop": "asyncio / uvloop",
    "asyncio": "asyncio / uvloop",
    "anyio": "anyio",
    "orjson": "orjson",
}


def layer_of(frame: str) -> str:
    location = frame.rpartition("(")[2]
    if "/" not in location:
        return "stdlib" if ".py" in location else "other"
    return LAYERS.get(location.split("/", 1)[0], "other")


def table(collapsed: str) -> tuple[Counter[str], int]:
    """Self samples per layer from py-spy's raw (collapsed) output."""
    per_layer: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        frames = stack.split(";")
        innermost = frames[-1]
        per_layer[layer_of(innermost)] += int(count)
        total += int(count)
    return per_layer, total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile", description=__doc__)
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--contacts", type=int, default=1_000_000)
    parser.add_argument("--scenarios", default="list_p1,show,create,filter_email_eq")
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument(
        "--native",
        action="store_true",
        help="sample native frames too (asyncpg's Cython protocol, uvloop); slows the worker",
    )
    parser.add_argument("--out", help="write the tables (JSON) and stacks next to this path")
    args = parser.parse_args(argv)
    if shutil.which("py-spy") is None and not (Path(sys.executable).parent / "py-spy").exists():
        raise SystemExit("py-spy is not installed: pip install py-spy")
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")

    bench = load(args.database_url, args.contacts)
    auth = base64.b64encode(f"{bench.api_key}:{bench.api_secret}".encode()).decode()
    auth_headers = {"Authorization": f"Basic {auth}"}
    env = {
        **os.environ,
        "CONTACTDESK_DATABASE_URL": args.database_url,
        "CONTACTDESK_LOG_LEVEL": "warning",
    }
    server = start_service(env, workers=1)
    wanted = args.scenarios.split(",")
    results: dict[str, dict[str, float]] = {}
    stacks: dict[str, str] = {}
    try:
        pid = serving_pid(server)
        for name, path, lua in scenarios(bench):
            if name not in wanted:
                continue
            wait_idle(args.database_url)
            target = f"{server.url}{V2}{path}" if lua is None else server.url
            headers = auth_headers if lua is None else {}
            if lua is None:
                warm_up(target, auth_headers)
            load_line = wrk.command(
                target,
                duration=args.seconds + 4,
                connections=args.connections,
                lua=lua,
                headers=headers,
            )
            with load_line as line, tempfile.TemporaryDirectory() as tmp:
                load_process = subprocess.Popen(
                    line, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
                raw = Path(tmp) / "stacks.txt"
                try:
                    subprocess.run(
                        [
                            py_spy,
                            "record",
                            "--pid",
                            str(pid),
                            "--duration",
                            str(args.seconds),
                            "--rate",
                            "250",
                            "--format",
                            "raw",
                            "--output",
                            str(raw),
                            # Native frames (Cython, C) need the process paused per sample.
                            *(["--native"] if args.native else ["--nonblocking"]),
                        ],
                        check=True,
                        capture_output=True,
                        timeout=args.seconds + 60,
                    )
                finally:
                    load_process.wait(timeout=args.seconds + 60)
                collapsed = raw.read_text()
            per_layer, total = table(collapsed)
            stacks[name] = collapsed
            results[name] = {
                layer: round(100 * count / total, 1) for layer, count in per_layer.most_common()
            }
            print(f"\n{name}: {total} samples on the CPU")
            for layer, share in results[name].items():
                print(f"  {layer:24s} {share:5.1f} %")
    finally:
        server.stop()
        remove_created(args.database_url, bench.account_id)
    if args.out:
        out = Path(args.out)
        out.write_text(json.dumps(results, indent=2) + "\n")
        for name, collapsed in stacks.items():
            out.with_name(f"{out.stem}-{name}.stacks").write_text(collapsed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
