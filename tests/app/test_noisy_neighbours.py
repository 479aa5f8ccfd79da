"""Noisy neighbours (issue 10): while account A sends abusive requests, account B's GET of its
contacts list answers 200 within 1 s, and the server's RSS stays within 100 MB of where it
started. In both API dialects, on the test run's database (SQLite, or PostgreSQL with
CONTACTDESK_TEST_DATABASE_URL).

One real `contactdesk serve` process for the module (one worker, so the serve process is the
one that serves and its RSS is the one measured; the default gate of 8 slots). Each case runs
its abuse from threads for a couple of seconds while B polls; no timing is asserted beyond the
coarse 1 s bound. A's own requests must each be answered, and never with a 5xx. A case that
fails gets the server restarted for the next case.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.app.test_body_limits import Connection, credentials, http, serving
from tests.app.test_server import Server
from tests.support import DIALECTS, Tenant

MB = 1024 * 1024
B_DEADLINE = 1.0  # every GET of B answers within this
RSS_SLACK = 100 * MB  # and the server's RSS grows by no more than this
ABUSE_SECONDS = 2.5  # A keeps at it (at least) this long
HARD_STOP = 60.0  # a case that has not ended by then is over, whatever A's requests do
A_TIMEOUT = 30.0  # one request of A
BODY_TIMEOUT = 2  # the module's server answers a stalled body 408 after this
DIGITS = "9" * 5000

Abuser = Callable[[threading.Event], list[str]]


# -- the server, restarted after a case that failed --------------------------------------------


class Host:
    def __init__(self, database_url: str, logs: Path) -> None:
        self.database_url = database_url
        self.logs = logs
        self.stack = ExitStack()
        self.starts = 0
        self.server = self._start()
        self.spoilt = False  # set while a case runs, cleared when it passes

    def _start(self) -> Server:
        self.starts += 1
        log = self.logs / f"serve-{self.starts}.log"
        env = {
            "CONTACTDESK_BODY_TIMEOUT_SECONDS": str(BODY_TIMEOUT),
            "CONTACTDESK_IMPORT_UPLOAD_IDLE_SECONDS": str(BODY_TIMEOUT),
        }
        server = self.stack.enter_context(serving(self.database_url, log, env))
        # One worker: uvicorn serves in the serve process itself, which has no children.
        pid = server.process.pid
        assert Path(f"/proc/{pid}/task/{pid}/children").read_text().split() == []
        return server

    def healthy(self) -> bool:
        try:
            response = httpx.get(f"{self.server.base_url}/healthz", timeout=5)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def restart(self) -> None:
        self.stack.close()
        self.stack = ExitStack()
        self.server = self._start()


@pytest.fixture(scope="module")
def host(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Host]:
    running = Host(database_url, tmp_path_factory.mktemp("noisy"))
    try:
        yield running
    finally:
        running.stack.close()


@pytest.fixture
def server(host: Host) -> Server:
    """The module's server; a fresh one after a case that failed (it may have left work
    running, or memory held, that the next case would be blamed for)."""
    if host.spoilt or not host.healthy():
        host.restart()
    host.spoilt = True  # until the case passes
    return host.server


def rss(pid: int) -> int:
    """Resident memory of a process, in bytes (VmRSS of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


# -- the two accounts ---------------------------------------------------------------------------


@dataclass
class Side:
    """One account in one dialect, against the server."""

    server: Server
    tenant: Tenant
    prefix: str
    auth: dict[str, str]

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.base_url, headers=self.auth, timeout=A_TIMEOUT)

    def create(self, **fields: Any) -> int:
        body = {"inbox_id": self.tenant.inbox_id, **fields}
        with self.client() as client:
            response = client.post(self.prefix + "/contacts", json=body)
        assert response.status_code == 200, response.text
        contact_id: int = response.json()["payload"]["contact"]["id"]
        return contact_id


def side(server: Server, tenant: Tenant, dialect: str) -> Side:
    prefix, auth = credentials(dialect, tenant)
    return Side(server, tenant, prefix, auth)


@dataclass
class Watch:
    """What B saw while A was at it, and what A got."""

    rss_start: int
    rss_peak: int = 0
    gets: list[tuple[int | str, float]] = field(default_factory=list)
    abuse: list[str] = field(default_factory=list)

    def slow_or_failed(self) -> list[tuple[int | str, float]]:
        return [(status, round(s, 3)) for status, s in self.gets if status != 200 or s >= 1]

    def summary(self) -> str:
        counts: dict[str, int] = {}
        for outcome in self.abuse:
            counts[outcome] = counts.get(outcome, 0) + 1
        worst = max((s for _, s in self.gets), default=0.0)
        return (
            f"B: {len(self.gets)} GETs, slowest {worst:.3f} s, not 200 within 1 s: "
            f"{self.slow_or_failed()[:10]}; RSS {self.rss_start // MB} -> {self.rss_peak // MB}"
            f" MB; A's answers: {counts}"
        )


# B polls from a process of its own: the abusers' threads share this one's interpreter lock,
# and B's times are the server's to answer for, not theirs.
POLLER = """
import json, select, sys, time
import httpx
base_url, path, headers = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
gets = []
with httpx.Client(base_url=base_url, headers=headers, timeout=10) as client:
    print("ready", flush=True)
    while not select.select([sys.stdin], [], [], 0.05)[0]:  # until told to stop
        started = time.monotonic()
        try:
            status = client.get(path).status_code
        except httpx.HTTPError as exc:
            status = type(exc).__name__
        gets.append([status, time.monotonic() - started])
print(json.dumps(gets), flush=True)
"""


def watch(b: Side, abusers: list[Abuser]) -> Watch:
    """Run the abusers (threads) while B lists its contacts again and again."""
    pid = b.server.process.pid
    seen = Watch(rss_start=rss(pid))
    seen.rss_peak = seen.rss_start
    command = [sys.executable, "-c", POLLER, b.server.base_url, b.prefix + "/contacts"]
    poller = subprocess.Popen(
        [*command, json.dumps(b.auth)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert poller.stdout is not None
    try:
        assert poller.stdout.readline().strip() == "ready"
        stop = threading.Event()
        with ThreadPoolExecutor(max_workers=len(abusers)) as pool:
            running = [pool.submit(abuser, stop) for abuser in abusers]
            began = time.monotonic()
            while not (stop.is_set() and all(r.done() for r in running)):
                elapsed = time.monotonic() - began
                if elapsed > ABUSE_SECONDS:
                    stop.set()
                if elapsed > HARD_STOP:
                    break
                seen.rss_peak = max(seen.rss_peak, rss(pid))
                time.sleep(0.05)
            stop.set()
            for done in running:
                seen.abuse.extend(done.result())
        seen.rss_peak = max(seen.rss_peak, rss(pid))
        out, _ = poller.communicate("stop\n", timeout=30)
    finally:
        if poller.poll() is None:
            poller.kill()
            poller.wait()
    seen.gets = [(status, float(s)) for status, s in json.loads(out.splitlines()[-1])]
    return seen


def check(seen: Watch) -> None:
    print(seen.summary())  # shown with -rP
    assert len(seen.gets) >= 5, seen.summary()
    assert not seen.slow_or_failed(), seen.summary()
    assert seen.rss_peak - seen.rss_start <= RSS_SLACK, seen.summary()
    unanswered = [o for o in seen.abuse if not o.isdigit() or o.startswith("5")]
    assert not unanswered, f"A's requests not answered, or answered 5xx: {seen.summary()}"


def repeat(a: Side, requests: list[tuple[str, str, bytes | None]]) -> Abuser:
    """An abuser that sends these requests (method, path, body), in turn, until stopped."""

    def abuse(stop: threading.Event) -> list[str]:
        outcomes = []
        with a.client() as client:
            for method, path, body in itertools.cycle(requests):
                if stop.is_set():
                    break
                headers = {"Content-Type": "application/json"} if body is not None else {}
                try:
                    response = client.request(
                        method, a.prefix + path, content=body, headers=headers
                    )
                    outcomes.append(str(response.status_code))
                except httpx.HTTPError as exc:
                    outcomes.append(type(exc).__name__)
        return outcomes

    return abuse


def dumps(data: Any) -> bytes:
    return orjson.dumps(data)


# -- the abuses ---------------------------------------------------------------------------------


def stalled_uploads(a: Side) -> list[Abuser]:
    """Uploads that stop sending: 8 within the size limit (they wait for their body, outside
    the gate, until the 408), 8 declaring 8 MB (413 unread), 4 chunked past 1 MB (413)."""

    def abuse(stop: threading.Event) -> list[str]:
        json = {**a.auth, "Content-Type": "application/json"}
        conns = [Connection(a.server, timeout=BODY_TIMEOUT + 10) for _ in range(20)]
        try:
            for n, conn in enumerate(conns):
                if n < 8:
                    head = http("POST", a.prefix + "/contacts", {**json, "Content-Length": str(MB)})
                    conn.send(head + b'{"name": "' + b"x" * (MB - 100_000))
                elif n < 16:
                    size = str(8 * MB)
                    head = http("POST", a.prefix + "/contacts", {**json, "Content-Length": size})
                    conn.send(head + b'{"name": "' + b"x" * 100_000)
                else:
                    chunked = {**json, "Transfer-Encoding": "chunked"}
                    conn.send(http("POST", a.prefix + "/contacts/filter", chunked))
                    piece = f"{MB // 4:x}\r\n".encode() + b" " * (MB // 4) + b"\r\n"
                    for _ in range(5):
                        if not conn.send(piece):
                            break
            outcomes = []
            for conn in conns:
                try:
                    outcomes.append(str(conn.reply().status))
                except (OSError, EOFError) as exc:
                    outcomes.append(type(exc).__name__)
            return outcomes
        finally:
            for conn in conns:
                conn.close()

    return [abuse]


def stalled_imports(a: Side) -> list[Abuser]:
    """Contact imports (issue 12) that stop sending: 6 multipart uploads that stall part way
    (streamed outside the gate: at most 4 at once, 429 beyond, then 408 once they have sent
    nothing for the idle limit), and 4 declaring 300 MB (413, unread)."""

    def abuse(stop: threading.Event) -> list[str]:
        boundary = "stall"
        part = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="import_file"; '
            'filename="c.csv"\r\nContent-Type: text/csv\r\n\r\nname,email\r\n'
        ).encode()
        kind = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
        conns = [Connection(a.server, timeout=BODY_TIMEOUT + 10) for _ in range(10)]
        try:
            for n, conn in enumerate(conns):
                size = str(5 * MB) if n < 6 else str(300 * MB)
                head = http(
                    "POST",
                    a.prefix + "/contacts/import",
                    {**a.auth, **kind, "Content-Length": size},
                )
                conn.send(head + part + b"Ann,ann@example.com\r\n" * (4000 if n < 6 else 1))
            outcomes = []
            for conn in conns:
                try:
                    outcomes.append(str(conn.reply().status))
                except (OSError, EOFError) as exc:
                    outcomes.append(type(exc).__name__)
            return outcomes
        finally:
            for conn in conns:
                conn.close()

    return [abuse]


# Patterns that take a backtracking engine exponential time, or a lot of memory to compile.
BOMBS = [
    "(((a*)*)*)*{1000}",
    "(((a*)*)*)*b",
    "(x+x+)+y",
    "(a|aa)+b",
    "((a+)+)+c",
    "(.*a){25}",
    "a{1000}{1000}",
    "(a{1000}){1000}",
    "((((a{100}){100}){100}){100})",
]
BOMB_VALUES = ["a" * 5000, "x" * 5000, "a" * 40 + "!", "x" * 40, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]


def pattern_bomb(a: Side) -> list[Abuser]:
    """Definitions with pathological regex_patterns, then contacts whose values make a
    backtracking matcher explode."""
    keys = itertools.count()
    lock = threading.Lock()

    def abuse(stop: threading.Event) -> list[str]:
        outcomes = []
        with a.client() as client:
            for pattern in itertools.cycle(BOMBS):
                if stop.is_set():
                    break
                with lock:
                    key = f"bomb{next(keys)}"
                try:
                    defined = client.post(
                        a.prefix + "/custom_attribute_definitions",
                        json={
                            "attribute_display_name": key,
                            "attribute_key": key,
                            "attribute_display_type": "text",
                            "regex_pattern": pattern,
                        },
                    )
                    outcomes.append(str(defined.status_code))
                    for value in BOMB_VALUES:
                        created = client.post(
                            a.prefix + "/contacts",
                            json={
                                "inbox_id": a.tenant.inbox_id,
                                "name": "bomb",
                                "custom_attributes": {key: value},
                            },
                        )
                        outcomes.append(str(created.status_code))
                except httpx.HTTPError as exc:
                    outcomes.append(type(exc).__name__)
        return outcomes

    return [abuse] * 4


def labels_flood(a: Side) -> list[Abuser]:
    """60,000 labels on a new contact and on an existing one."""
    contact_id = a.create(name="Flooded")
    names = [f"label-{n}" for n in range(60_000)]
    requests: list[tuple[str, str, bytes | None]] = [
        ("POST", "/contacts", dumps({"inbox_id": a.tenant.inbox_id, "name": "L", "labels": names})),
        ("POST", f"/contacts/{contact_id}/labels", dumps({"labels": names})),
        (
            "POST",
            "/bulk_actions",
            dumps({"type": "Contact", "ids": [contact_id], "labels": {"add": names}}),
        ),
    ]
    return [repeat(a, requests[n % 3 :] + requests[: n % 3]) for n in range(6)]


def huge_filters(a: Side) -> list[Abuser]:
    """20 filters at once: half with a body of several MB (413), half with 50 conditions of
    100 long values each (under 1 MB), in shapes that differ from one request to the next (a
    filter's SQL is kept per shape: the same shape again would cost the server nothing)."""
    condition: dict[str, Any] = {
        "attribute_key": "name",
        "filter_operator": "contains",
        "query_operator": "OR",
    }
    several_mb = dumps({"payload": [{**condition, "values": ["v" * 1000] * 100}] * 60})
    assert len(several_mb) > 5 * MB
    big: tuple[str, str, bytes | None] = ("POST", "/contacts/filter", several_mb)
    values = [f"{n:03d}" + "w" * 140 for n in range(100)]
    wide: list[tuple[str, str, bytes | None]] = []
    for shape in range(10):
        conditions = [{**condition, "values": values} for _ in range(50)]
        conditions[0] = {**condition, "values": values[: 90 + shape]}
        conditions[-1] = {**condition, "values": values, "query_operator": None}
        wide.append(("POST", "/contacts/filter", dumps({"payload": conditions})))
    assert all(len(body or b"") < MB for _, _, body in wide)
    return [repeat(a, [big] if n % 2 else wide[n:] + wide[:n]) for n in range(20)]


def deep_json(a: Side) -> list[Abuser]:
    """Bodies nested 100,000 levels deep, to every kind of route that reads one."""
    contact_id = a.create(name="Deep")
    deep = b"[" * 100_000 + b"]" * 100_000
    requests: list[tuple[str, str, bytes | None]] = [
        ("POST", "/contacts", b'{"name": "d", "custom_attributes": {"a": ' + deep + b"}}"),
        ("PATCH", f"/contacts/{contact_id}", b'{"additional_attributes": ' + deep + b"}"),
        ("POST", "/contacts/filter", b'{"payload": ' + deep + b"}"),
        ("POST", f"/contacts/{contact_id}/labels", b'{"labels": ' + deep + b"}"),
        ("POST", "/bulk_actions", b'{"type": "Contact", "ids": ' + deep + b"}"),
        ("POST", "/custom_attribute_definitions", b'{"attribute_values": ' + deep + b"}"),
        ("POST", "/contacts/upsert", deep),
    ]
    return [repeat(a, requests[n:] + requests[:n]) for n in range(len(requests))]


def long_numbers(a: Side) -> list[Abuser]:
    """Numbers of 5,000 digits where an id, a page, an inbox, a timestamp or a filter value
    goes: as JSON numbers, as strings, in the path and the query."""
    contact_id = a.create(name="Numbers")
    with a.client() as client:
        defined = client.post(
            a.prefix + "/custom_attribute_definitions",
            json={
                "attribute_display_name": "Seats",
                "attribute_key": "seats",
                "attribute_display_type": "number",
            },
        )
        assert defined.status_code == 200, defined.text
    number = DIGITS.encode()
    text = b'"' + number + b'"'

    def filter_body(key: str, operator: str, value: bytes) -> bytes:
        return (
            b'{"payload": [{"attribute_key": "'
            + key.encode()
            + b'", "filter_operator": "'
            + operator.encode()
            + b'", "values": ['
            + value
            + b'], "query_operator": null}]}'
        )

    inbox = str(a.tenant.inbox_id).encode()
    requests: list[tuple[str, str, bytes | None]] = [
        ("GET", f"/contacts/{DIGITS}", None),
        ("GET", f"/contacts/{DIGITS}/labels", None),
        ("GET", f"/contacts/{DIGITS}/contactable_inboxes", None),
        ("DELETE", f"/contacts/{DIGITS}", None),
        ("GET", f"/custom_attribute_definitions/{DIGITS}", None),
        ("GET", f"/contacts?page={DIGITS}", None),
        ("GET", f"/contacts?page_size={DIGITS}", None),
        ("GET", f"/contacts/search?q=a&page={DIGITS}", None),
        ("GET", f"/contacts?inbox_id={DIGITS}", None),
        ("POST", "/contacts", b'{"name": "n", "inbox_id": ' + number + b"}"),
        ("POST", "/contacts", b'{"name": "n", "inbox_id": ' + text + b"}"),
        ("POST", "/contacts", b'{"inbox_id": ' + inbox + b', "last_activity_at": ' + number + b"}"),
        ("POST", "/contacts", b'{"inbox_id": ' + inbox + b', "last_activity_at": ' + text + b"}"),
        (
            "POST",
            "/contacts",
            b'{"inbox_id": ' + inbox + b', "custom_attributes": {"seats": ' + text + b"}}",
        ),
        ("PATCH", f"/contacts/{contact_id}", b'{"last_activity_at": ' + text + b"}"),
        ("PATCH", f"/contacts/{contact_id}", b'{"custom_attributes": {"seats": ' + number + b"}}"),
        ("POST", f"/contacts/{contact_id}/contact_inboxes", b'{"inbox_id": ' + text + b"}"),
        ("POST", "/contacts/filter", filter_body("created_at", "is_greater_than", text)),
        ("POST", "/contacts/filter", filter_body("created_at", "days_before", text)),
        ("POST", "/contacts/filter", filter_body("last_activity_at", "is_less_than", number)),
        ("POST", "/contacts/filter", filter_body("seats", "equal_to", text)),
        ("POST", "/contacts/filter", filter_body("seats", "is_greater_than", text)),
        (
            "POST",
            "/actions/contact_merge",
            b'{"base_contact_id": ' + text + b', "mergee_contact_id": ' + text + b"}",
        ),
        (
            "POST",
            "/bulk_actions",
            b'{"type": "Contact", "ids": [' + text + b'], "labels": {"add": ["x"]}}',
        ),
    ]
    return [repeat(a, requests[n * 3 :] + requests[: n * 3]) for n in range(8)]


ABUSES: dict[str, Callable[[Side], list[Abuser]]] = {
    "stalled uploads": stalled_uploads,
    "stalled imports": stalled_imports,
    "pattern bomb": pattern_bomb,
    "labels flood": labels_flood,
    "huge filters": huge_filters,
    "deep json": deep_json,
    "long numbers": long_numbers,
}


@pytest.mark.parametrize("abuse", list(ABUSES))
@pytest.mark.parametrize("dialect", DIALECTS)
def test_a_noisy_neighbour_leaves_the_other_account_served(
    host: Host, server: Server, tenant: Tenant, other_tenant: Tenant, dialect: str, abuse: str
) -> None:
    a, b = side(server, tenant, dialect), side(server, other_tenant, dialect)
    for n in range(20):
        b.create(name=f"B {n}", email=f"b{n}@globex.test")
    abusers = ABUSES[abuse](a)
    check(watch(b, abusers))
    host.spoilt = False
