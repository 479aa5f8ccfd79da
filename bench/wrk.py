"""Driving wrk: Lua scripts for the dynamic scenarios and parsing of its report."""

from __future__ import annotations

import contextlib
import re
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


@dataclass
class WrkResult:
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    errors: int


def _ms(text: str) -> float:
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text.strip())
    if not match:
        raise ValueError(f"unparsable latency {text!r}")
    return float(match.group(1)) * _UNITS[match.group(2)]


def parse(output: str) -> WrkResult:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", output, re.M).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", output)
    errors = re.search(r"Socket errors:.*", output)
    error_count = sum(int(n) for n in re.findall(r"\d+", errors.group(0))) if errors else 0
    return WrkResult(rps, p50, p99, int(non_2xx.group(1)) if non_2xx else 0, error_count)


def script(
    method: str,
    path_lua: str,
    headers: dict[str, str],
    body_lua: str | None,
    prelude: str = "",
) -> str:
    """A wrk Lua script; path_lua and body_lua are Lua expressions that may use `n` (the
    request's number in its thread), `t` (the thread), `r` (a random id of the run) and what
    the prelude (Lua statements run once per thread) defines."""
    header_lines = "\n".join(f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items())
    body = body_lua or "nil"
    return f"""
local counter = 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  math.randomseed(os.time() + (tid or 0) * 7919)
  runid = os.time() .. "r" .. math.random(1, 1000000000)
end
{header_lines}
{prelude}
request = function()
  counter = counter + 1
  local n = counter
  local t = tid or 0
  local r = runid or ""
  return wrk.format("{method}", {path_lua}, nil, {body})
end
"""


@contextlib.contextmanager
def command(
    url: str,
    *,
    duration: int,
    connections: int,
    threads: int = 2,
    lua: str | None = None,
    headers: dict[str, str] | None = None,
) -> Iterator[list[str]]:
    """The wrk command line of a run; its Lua script lives in a temporary file while the block
    runs. A generous timeout, so that a slow scenario reports its real latency, not wrk's 2 s
    cut."""
    threads = min(threads, connections)  # wrk needs a connection per thread
    line = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{duration}s", "--latency"]
    line += ["--timeout", "30s"]
    for key, value in (headers or {}).items():
        line += ["-H", f"{key}: {value}"]
    with tempfile.TemporaryDirectory() as tmp:
        if lua is not None:
            path = Path(tmp) / "scenario.lua"
            path.write_text(lua)
            line += ["-s", str(path)]
        yield [*line, url]


def run(
    url: str,
    *,
    duration: int,
    connections: int,
    threads: int = 2,
    lua: str | None = None,
    headers: dict[str, str] | None = None,
) -> WrkResult:
    options = {"duration": duration, "connections": connections, "threads": threads}
    with command(url, lua=lua, headers=headers, **options) as line:
        completed = subprocess.run(
            line, capture_output=True, text=True, timeout=duration + 60, check=True
        )
    return parse(completed.stdout)
