"""Prometheus metrics (issue 13, item 4), with the standard client library.

`GET /metrics` answers the Prometheus text format (behind `Authorization: Bearer
<CONTACTDESK_METRICS_TOKEN>` when that is set):

- `contactdesk_requests_total{route, method, status}` and
  `contactdesk_request_duration_seconds{route}` (a histogram), recorded with the request's
  log line (contactdesk.logs): `route` is the route's template, `none` when no route matched;
- `contactdesk_gate_working`, `contactdesk_gate_waiting`: requests holding a slot of the
  request gate, and waiting for one, sampled every second;
- `contactdesk_db_connections_in_use{pool}`: database connections checked out, sampled every
  second (`engine`: SQLAlchemy's pool; `reads`, `planned`: the asyncpg pools of the hot path);
- `contactdesk_rate_limited_total{limit}`: refusals by the rate limits (`credential`,
  `auth_failures`);
- `contactdesk_webhook_deliveries_total{result}`: delivery attempts by result (`succeeded`,
  `retrying`, `failed`), and `contactdesk_webhook_backlog`: deliveries waiting to be sent,
  read from the database when scraped.

With `serve --workers N` (N > 1) every worker writes its figures to files in one directory
(the client library's multiprocess mode, PROMETHEUS_MULTIPROC_DIR, which `serve` sets), so a
scrape answered by any worker gives the sums over all of them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector, mark_process_dead
from prometheus_client.registry import Collector

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST

REQUESTS = Counter(
    "contactdesk_requests_total",
    "Requests answered, by route template, method and status.",
    ["route", "method", "status"],
)
LATENCY = Histogram(
    "contactdesk_request_duration_seconds",
    "Time from a request's arrival to its answer, by route template.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
GATE_WORKING = Gauge(
    "contactdesk_gate_working",
    "Requests holding a slot of the request gate.",
    multiprocess_mode="livesum",
)
GATE_WAITING = Gauge(
    "contactdesk_gate_waiting",
    "Requests waiting for a slot of the request gate.",
    multiprocess_mode="livesum",
)
DB_IN_USE = Gauge(
    "contactdesk_db_connections_in_use",
    "Database connections checked out of the process's pools.",
    ["pool"],
    multiprocess_mode="livesum",
)
RATE_LIMITED = Counter(
    "contactdesk_rate_limited_total", "Requests refused by a rate limit.", ["limit"]
)
DELIVERIES = Counter(
    "contactdesk_webhook_deliveries_total",
    "Webhook delivery attempts, by result (succeeded, retrying, failed).",
    ["result"],
)


# The labelled children, looked up once per label set (labels() costs more than inc()).
# Bounded: routes and methods are the application's, statuses a few dozen.
_counters: dict[tuple[str, str, int], Any] = {}
_histograms: dict[str, Any] = {}


def observe_request(route: str | None, method: str, status: int, seconds: float) -> None:
    template = route or "none"
    counter = _counters.get((template, method, status))
    if counter is None:
        counter = _counters[(template, method, status)] = REQUESTS.labels(
            template, method, str(status)
        )
    histogram = _histograms.get(template)
    if histogram is None:
        histogram = _histograms[template] = LATENCY.labels(template)
    counter.inc()
    histogram.observe(seconds)


class _Backlog(Collector):
    """contactdesk_webhook_backlog, a figure of the database's, given by the scrape."""

    def __init__(self, backlog: int | None) -> None:
        self.backlog = backlog

    def collect(self) -> Iterable[GaugeMetricFamily]:
        if self.backlog is not None:
            yield GaugeMetricFamily(
                "contactdesk_webhook_backlog",
                "Webhook deliveries waiting to be sent (pending).",
                value=self.backlog,
            )


def multiprocess() -> bool:
    return bool(os.environ.get(MULTIPROCESS_ENV))


def exposition(backlog: int | None) -> bytes:
    """The text of a scrape: this process's figures, or every worker's in multiprocess mode,
    and the backlog."""
    extra = CollectorRegistry()
    extra.register(_Backlog(backlog))
    if multiprocess():
        workers = CollectorRegistry()
        MultiProcessCollector(workers)  # type: ignore[no-untyped-call]
        return generate_latest(workers) + generate_latest(extra)
    return generate_latest(REGISTRY) + generate_latest(extra)


def process_ended() -> None:
    """Drop this process's live gauges from the multiprocess files (a worker stopping)."""
    if multiprocess():
        mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]
