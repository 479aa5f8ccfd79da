"""Settings: one class, read from the environment with the CONTACTDESK_ prefix."""

from __future__ import annotations

from functools import lru_cache
from typing import Literal

from limits import parse as parse_rate
from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_DATABASE_URL = "sqlite:///contactdesk.db"


class Settings(BaseSettings):
    """Runtime configuration of the service and the CLI."""

    model_config = SettingsConfigDict(env_prefix="CONTACTDESK_", extra="ignore")

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="sqlite:///path.db (default: contactdesk.db in the working directory) "
        "or postgresql://user@host:port/db; the async driver is chosen automatically.",
    )
    db_pool_size: int = Field(
        32,
        description="PostgreSQL connections kept open per process: at least the requests a "
        "process serves at once, or connections are opened and closed under load (a new "
        "PostgreSQL backend is slow for its first queries). Keep workers x (pool + overflow) "
        "below the server's max_connections.",
    )
    db_max_overflow: int = Field(8, description="Extra PostgreSQL connections for bursts.")
    statement_timeout_ms: int = Field(
        5000,
        description="Longest a statement of the service may run (PostgreSQL's "
        "statement_timeout; on SQLite a progress handler); a request that hits it gets 503. "
        "0: no limit. Migrations are not limited.",
        ge=0,
    )
    db_connect_timeout_seconds: float = Field(
        5.0, description="Longest a new database connection may take to open.", gt=0
    )
    db_application_name: str = Field(
        "contactdesk",
        description="PostgreSQL application_name of the service's connections (pg_stat_activity).",
        max_length=63,
    )
    sqlite_busy_timeout_ms: int = Field(
        30_000, description="How long a SQLite writer waits for the write lock."
    )
    auth_cache_seconds: float = Field(
        5.0,
        description="How long a process reuses a verified API key or access token (and the "
        "role it grants) before asking the database again; 0 disables. Only successful "
        "checks are cached, so a new key works at once; a revoked one stops within this time.",
        ge=0,
    )
    max_concurrent_requests: int = Field(
        3,
        description="Requests one process works on at once; later ones wait in arrival "
        "order, so none waits far longer than the others (0: no limit). On the bench (2 "
        "cores, PostgreSQL on the same machine, 64 connections), 3 gave the searches and the "
        "deep page a p99 of 73-112 ms against 97-142 ms with 8, at the same throughput; "
        "raise it when the database is remote or has cores of its own.",
        ge=0,
    )
    metrics_token: str | None = Field(
        None,
        description="When set, GET /metrics requires Authorization: Bearer <this token>.",
    )
    ready_max_waiting: int = Field(
        50,
        description="/readyz answers 503 while more requests than this wait at the request "
        "gate of the process (its load balancer then sends it no more).",
        ge=0,
    )
    log_level: str = Field("info", description="Log level of the service and uvicorn.")
    log_format: Literal["json", "text"] = Field(
        "json",
        description="json: one JSON object a line (request lines, errors with their "
        "traceback); text: the same as plain lines.",
    )
    # Bounds on what one request may send or make the service hold (docs/operations.md).
    max_body_bytes: int = Field(
        1024 * 1024,
        description="Largest request body; a larger Content-Length gets 413 before the body "
        "is read, and a chunked body is cut off at this size.",
        ge=1,
    )
    body_timeout_seconds: float = Field(
        10.0,
        description="Time a client has to send a whole request body; after it, 408 and the "
        "connection is closed.",
        gt=0,
    )
    max_url_bytes: int = Field(8192, description="Longest request target (path and query): 414.")
    max_header_bytes: int = Field(
        16384, description="Largest total size of the request headers: 431."
    )
    max_json_depth: int = Field(32, description="Deepest nesting of a JSON body: 400.", ge=1)
    max_labels: int = Field(
        100, description="Labels one request may name for a contact, and labels per contact."
    )
    max_bulk_label_operations: int = Field(
        10_000, description="Label names times contact ids in one bulk action."
    )
    max_q_chars: int = Field(200, description="Longest search term (q).")
    max_label_filter_names: int = Field(
        100, description="Names in the labels parameter of a list or search."
    )
    max_filter_conditions: int = Field(50, description="Conditions in one filter.")
    max_filter_values: int = Field(100, description="Values in one filter condition.")
    max_custom_attribute_definitions: int = Field(
        200, description="Custom attribute definitions per account."
    )
    max_attributes_bytes: int = Field(
        16 * 1024,
        description="Largest stored custom_attributes and additional_attributes of a contact "
        "(each, as JSON, after a merge).",
    )
    pattern_max_mem_bytes: int = Field(
        1024 * 1024,
        description="Memory one custom attribute regex_pattern may compile to (RE2); a "
        "pattern that needs more is refused with a 422.",
    )
    count_cache_max_bytes: int = Field(
        8 * 1024 * 1024, description="Memory the per-process cache of exact counts may use."
    )
    max_webhooks: int = Field(50, description="Webhook endpoints per account.", ge=0)
    webhooks_allow_private: bool = Field(
        False,
        description="Let webhooks call hosts that resolve to loopback, private, link-local or "
        "multicast addresses (a receiver on the service's own network). Off: such a URL is "
        "refused with a 422 when saved, and a delivery to it fails.",
    )
    events_retention_days: int = Field(
        7,
        description="Days a contact event (and its deliveries) is kept; the dispatcher "
        "prunes older ones.",
        ge=1,
    )
    dispatcher: bool = Field(
        True,
        description="Run the webhook dispatcher inside `contactdesk serve` (on SQLite, in one "
        "process only); `serve --no-dispatcher` sets it off, `contactdesk worker` runs it alone.",
    )
    dispatcher_poll_seconds: float = Field(
        1.0, description="How often an idle dispatcher looks for new events.", gt=0
    )
    webhook_timeout_seconds: float = Field(
        10.0, description="Time an endpoint has to answer one delivery.", gt=0
    )
    webhook_retry_schedule: str = Field(
        "5,300,1800,7200,18000,36000,36000",
        description="Seconds between a failed attempt and the next (each with +-10 % "
        "jitter), comma-separated; after the last, the delivery is marked failed.",
        pattern=r"^\s*[0-9]+(\.[0-9]+)?(\s*,\s*[0-9]+(\.[0-9]+)?)*\s*$",
    )
    webhook_disable_after_seconds: int = Field(
        5 * 86400,
        description="An endpoint whose deliveries have failed for this long, with no success "
        "since, is disabled (and at once when it answers 410).",
        ge=1,
    )
    webhook_concurrency: int = Field(
        32, description="Deliveries one dispatcher sends at once.", ge=1
    )
    import_max_mb: int = Field(
        200, description="Largest CSV file POST /contacts/import takes (MB): 413.", ge=1
    )
    import_upload_idle_seconds: float = Field(
        30.0,
        description="An import upload that sends nothing for this long is cut off (408).",
        gt=0,
    )
    max_active_imports: int = Field(
        3, description="Imports of one account queued or running at once: 429 beyond.", ge=1
    )
    importer: bool = Field(
        True,
        description="Run contact imports inside `contactdesk serve` (every process takes "
        "queued imports in turn); `contactdesk worker` runs them too.",
    )
    import_batch_rows: int = Field(
        1000,
        description="Rows an import applies and commits at a time (a batch holds the "
        "account's counter rows, and on SQLite the write lock, while it is written).",
        ge=1,
        le=5000,
    )
    import_lease_seconds: float = Field(
        60.0,
        description="An import whose runner has not reported for this long (a crash) is "
        "resumed by another from its last committed batch.",
        gt=0,
    )
    # Rate limits (contactdesk.ratelimit, docs/operations.md).
    rate_limit: str = Field(
        "1200/minute",
        description="Requests one API key or access token may make (N/second, N/minute, "
        "N/hour or N/day; `limits` notation); 0 turns it off.",
    )
    auth_failure_rate_limit: str = Field(
        "30/minute",
        description="Failed authentications one client IP may make; beyond it, every request "
        "from it that carries credentials gets 429 until the window moves on. 0 turns it off.",
    )
    redis_url: str | None = Field(
        None,
        description="redis://host:port/db: rate-limit state shared by every process and "
        "machine. Unset: each process keeps its own. If Redis stops answering, each process "
        "limits on its own (and logs it) until it answers again.",
    )

    @field_validator("rate_limit", "auth_failure_rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        value = value.strip()
        if value != "0":
            try:
                parse_rate(value)
            except ValueError:
                raise ValueError(
                    f"{value!r} is not a rate limit such as 1200/minute (0 turns it off)"
                ) from None
        return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
