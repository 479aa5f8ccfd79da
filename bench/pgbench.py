"""pgbench scripts from the statements a request sent, and pgbench runs (bench/ceiling.py).

A recorded statement keeps its $n parameters; in a script they become pgbench variables, which
pgbench -M prepared sends as parameters of a prepared statement again (as text: the server
reads them as the types it inferred, as for asyncpg's). Numbers are `\\set` in the script,
other values passed with -D (a run's -D names are global, so each script's are prefixed).
"""

from __future__ import annotations

import re
import shlex
import subprocess
import tempfile
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

from contactdesk.driver import PG_SERVER_SETTINGS

CONTACT_ID = "contact_id"


@dataclass(frozen=True)
class Statement:
    sql: str  # as sent to asyncpg: $n parameters
    args: tuple[Any, ...]


@dataclass
class Script:
    """One pgbench script: the statements of one request."""

    statements: list[Statement]
    # (statement index, argument index) -> the pgbench variable that replaces the argument.
    variables: dict[tuple[int, int], str] = field(default_factory=dict)
    preamble: list[str] = field(default_factory=list)
    # Session settings of pgbench's connections beyond the service's PG_SERVER_SETTINGS: the
    # statements of a request that the service plans for their arguments run on connections
    # set so (driver.ReadPool.planned), and pgbench's are set the same way.
    settings: dict[str, str] = field(default_factory=dict)


def drawn_id_script(low: list[Statement], high: list[Statement], lo: int, hi: int) -> Script:
    """The statements recorded for ids lo and hi, the arguments that carry the id made a
    pgbench variable drawn from [lo, hi]; any other difference is an error."""
    if [s.sql for s in low] != [s.sql for s in high]:
        raise RuntimeError("two ids gave different statements")
    variables: dict[tuple[int, int], str] = {}
    for i, (a, b) in enumerate(zip(low, high, strict=True)):
        for n, (x, y) in enumerate(zip(a.args, b.args, strict=True)):
            if x == y:
                continue
            if (x, y) != (lo, hi):
                raise RuntimeError(f"statement {i} argument {n} differs beyond the id: {x!r}")
            variables[(i, n)] = CONTACT_ID
    if not variables:
        raise RuntimeError("no argument carries the id")
    return Script(low, variables, [f"\\set {CONTACT_ID} random({lo}, {hi})"])


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def variants_script(recorded: list[list[Statement]]) -> Script:
    """One script for requests that send the same statements with different arguments: per
    transaction, pgbench draws one request and reads its arguments into variables with a
    \\gset query over constant arrays (one cheap extra statement), so that every request runs
    on the same prepared statements, as it does on the service's connections. (A script per
    request would prepare a statement per script and connection, and pgbench would measure
    the planning of statements used once or twice.)"""
    first = recorded[0]
    if any([s.sql for s in other] != [s.sql for s in first] for other in recorded):
        raise RuntimeError("the requests sent different statements")
    if len(recorded) == 1:
        return Script(first)
    variables: dict[tuple[int, int], str] = {}
    columns: list[str] = []
    for i, statement in enumerate(first):
        for n in range(len(statement.args)):
            values = [variant[i].args[n] for variant in recorded]
            if all(value == values[0] for value in values):
                continue
            if any(value is None for value in values):
                raise RuntimeError(f"statement {i} argument {n} is NULL in some requests")
            name = f"drawn_{i}_{n + 1}"
            variables[(i, n)] = name
            array = ", ".join(_sql_literal(_text(value)) for value in values)
            columns.append(f"(ARRAY[{array}])[:pick] AS {name}")
    preamble = [f"\\set pick random(1, {len(recorded)})"]
    if columns:
        preamble.append("SELECT " + ", ".join(columns) + " \\gset")
    return Script(first, variables, preamble)


_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|\$(\d+)")
# What pgbench reads as a variable: one colon (a run of them is skipped, as in ::jsonb) then a
# name. pgbench does not skip quoted text when it looks for them.
_PGBENCH_VARIABLE = re.compile(r"(?<!:):([A-Za-z0-9_]+)")


def _argument(name: str, value: Any) -> tuple[str | None, str | None]:
    """(a \\set line, a -D value) for one argument: numbers as pgbench numbers, the rest as
    strings (sent as text, the server reads them as the parameter's type)."""
    if isinstance(value, bool):
        return f"\\set {name} {'true' if value else 'false'}", None
    if isinstance(value, int):
        return f"\\set {name} {value}", None
    text = _text(value)
    if any(c in text for c in "\n\r\0"):
        raise ValueError(f"pgbench cannot pass {text!r} as a variable")
    return None, text


def _text(value: Any) -> str:
    """A parameter's value as PostgreSQL reads it in text form."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, int | Decimal):
        return str(value)
    if isinstance(value, list | tuple):  # an array: {"a","b"}, NULL unquoted
        items = []
        for item in value:
            if item is None:
                items.append("NULL")
            else:
                escaped = _text(item).replace("\\", "\\\\").replace('"', '\\"')
                items.append(f'"{escaped}"')
        return "{" + ",".join(items) + "}"
    raise TypeError(f"no pgbench form for the argument {value!r}")


def _check_variables(sql: str, known: set[str], where: str) -> None:
    for found in _PGBENCH_VARIABLE.findall(sql):
        if found not in known:
            raise ValueError(f"pgbench would read :{found} in {where} as a variable")


def render_script(script: Script, tag: str) -> tuple[str, dict[str, str]]:
    """The pgbench script for these statements and its -D definitions (global to a pgbench
    run, so named after the tag). $n parameters become pgbench variables: under -M prepared
    pgbench sends them as parameters again, NULL is written in place."""
    lines = list(script.preamble)
    defines: dict[str, str] = {}
    drawn = {"pick", *script.variables.values()}
    for line in script.preamble:
        if not line.startswith("\\"):
            _check_variables(line, drawn, "the preamble")
    for i, statement in enumerate(script.statements):
        names: dict[int, str] = {}
        for n, value in enumerate(statement.args):
            variable = script.variables.get((i, n))
            if variable is not None:
                names[n + 1] = ":" + variable
                continue
            if value is None:
                names[n + 1] = "NULL"
                continue
            name = f"{tag}_{i}_{n + 1}"
            set_line, define = _argument(name, value)
            if set_line is not None:
                lines.append(set_line)
            if define is not None:
                defines[name] = define
            names[n + 1] = ":" + name

        def substitute(match: re.Match[str], names: dict[int, str] = names) -> str:
            number = match.group(1)
            return match.group(0) if number is None else names[int(number)]

        sql = _PLACEHOLDER.sub(substitute, statement.sql).strip().rstrip(";")
        _check_variables(sql, {v.lstrip(":") for v in names.values()}, f"statement {i}")
        lines.append(sql + ";")
    return "\n".join(lines) + "\n", defines


@dataclass(frozen=True)
class PgbenchResult:
    tps: float
    latency_ms: float
    p99_ms: float | None
    transactions: int
    failed: int
    command: str


def _pgbench_env(url: str, settings: dict[str, str] | None = None) -> dict[str, str]:
    parsed = make_url(url)
    every = {**PG_SERVER_SETTINGS, **(settings or {})}
    env = {
        "PGHOST": parsed.host or "localhost",
        "PGPORT": str(parsed.port or 5432),
        "PGUSER": parsed.username or "postgres",
        "PGDATABASE": parsed.database or "",
        # The settings of the service's own connections.
        "PGOPTIONS": " ".join(f"-c {k}={v}" for k, v in every.items()),
    }
    if parsed.password:
        env["PGPASSWORD"] = parsed.password
    return env


def parse_pgbench(output: str) -> tuple[float, float, int, int]:
    """(tps, latency average ms, transactions, failed) from pgbench's summary."""

    def number(pattern: str) -> str:
        match = re.search(pattern, output, re.M)
        if match is None:
            raise ValueError(f"pgbench output without {pattern!r}:\n{output}")
        return match.group(1)

    failed = re.search(r"^number of failed transactions: (\d+)", output, re.M)
    return (
        float(number(r"^tps = ([\d.]+)")),
        float(number(r"^latency average = ([\d.]+) ms")),
        int(number(r"^number of transactions actually processed: (\d+)")),
        int(failed.group(1)) if failed else 0,
    )


def _p99_from_logs(folder: Path) -> float | None:
    """The 99th percentile of the per-transaction latencies pgbench -l logged (microseconds,
    third field)."""
    latencies = sorted(
        int(line.split()[2])
        for log in folder.glob("pgbench_log*")
        for line in log.read_text().splitlines()
        if line.strip()
    )
    if not latencies:
        return None
    return latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))] / 1000


def run_pgbench(
    url: str,
    scripts: list[Script],
    folder: Path,
    *,
    duration: int,
    connections: int,
    threads: int = 2,
) -> PgbenchResult:
    """pgbench over these scripts (written into folder, kept), one drawn per transaction."""
    settings = {k: v for script in scripts for k, v in script.settings.items()}
    env = {**_pgbench_env(url, settings), "PATH": "/usr/bin:/bin:/usr/local/bin"}
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("script*.sql"):
        stale.unlink()
    command = ["pgbench", "-n", "-M", "prepared", f"-c{connections}"]
    command += [f"-j{min(threads, connections)}", f"-T{duration}"]
    for index, script in enumerate(scripts):
        text, defines = render_script(script, f"s{index}")
        path = folder / f"script{index}.sql"
        path.write_text(text)
        command += ["-f", f"{path}@1"]
        for name, value in defines.items():
            command += ["-D", f"{name}={value}"]
    with tempfile.TemporaryDirectory() as tmp:
        logged = [*command, "-l", f"--log-prefix={Path(tmp) / 'pgbench_log'}"]
        completed = subprocess.run(
            logged, env=env, cwd=tmp, capture_output=True, text=True, timeout=duration + 120
        )
        if completed.returncode != 0:
            raise RuntimeError(
                f"pgbench failed ({completed.returncode}): {completed.stderr[-2000:]}"
            )
        tps, latency, transactions, failed = parse_pgbench(completed.stdout)
        p99 = _p99_from_logs(Path(tmp))
    return PgbenchResult(tps, latency, p99, transactions, failed, shlex.join(command))
