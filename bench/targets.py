"""The bench's targets (issue 10) and the verdict of a run against them.

PostgreSQL, 1,000,000 + 1,000,000 contacts, 64 connections: each scenario's req/s as a ratio
to `baseline_page` measured in the same run, p99 latencies, and the largest worker's RSS.
SQLite, 100,000 contacts: two absolute figures. A scenario whose database ceiling was measured
in the run (`--ceiling`, bench/ceiling.py) meets its rate target with CEILING_SHARE of that
ceiling or with its ratio to the baseline (the ceiling lowers the bar for a scenario bound by
the database; it never raises it); its p99 target stays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Target:
    min_ratio: float | None = None  # req/s >= this x baseline_page's req/s (same run)
    min_rps: float | None = None  # req/s >= this
    max_p99_ms: float | None = None


READ_P99_MS = 100.0
WRITE_P99_MS = 150.0
CEILING_SHARE = 0.8


def _read(ratio: float) -> Target:
    return Target(min_ratio=ratio, max_p99_ms=READ_P99_MS)


def _write(ratio: float) -> Target:
    return Target(min_ratio=ratio, max_p99_ms=WRITE_P99_MS)


# By SQL backend (make_url(url).get_backend_name()), then by scenario.
TARGETS: dict[str, dict[str, Target]] = {
    "postgresql": {
        "show": _read(0.5),
        "filter_email_eq": _read(0.5),
        "list_p1": _read(0.4),
        "list_p1_name": _read(0.4),
        "list_p1_company": _read(0.4),
        "search_3plus": _read(0.2),
        "search_short": _read(0.2),
        "list_labels": _read(0.2),
        "list_deep": _read(0.2),
        "create": _write(0.25),
        "update": _write(0.25),
    },
    "sqlite": {
        "list_p1": Target(max_p99_ms=100.0),
        "create": Target(min_rps=400.0),
    },
}
# The largest server worker's peak RSS.
MAX_RSS_MB: dict[str, float] = {"postgresql": 150.0}
# The number of contacts (per half of the data) the targets are set for.
SCALE: dict[str, int] = {"postgresql": 1_000_000, "sqlite": 100_000}


def backend_key(backend: str) -> str:
    return "postgresql" if backend.startswith("postgres") else backend


def target_of(backend: str, name: str) -> Target | None:
    return TARGETS.get(backend_key(backend), {}).get(name)


def needs_baseline(backend: str, names: Sequence[str], ceilings: Sequence[str] = ()) -> bool:
    """Whether any of these scenarios is held to a ratio to baseline_page."""
    for name in names:
        target = target_of(backend, name)
        if target is not None and target.min_ratio is not None and name not in ceilings:
            return True
    return False


def describe(target: Target, ceiling_tps: float | None) -> str:
    parts = []
    if ceiling_tps is not None:
        share = f"{CEILING_SHARE:g} x ceiling ({CEILING_SHARE * ceiling_tps:.0f}/s)"
        if target.min_ratio is not None:
            share += f" or {target.min_ratio:g} x baseline"
        parts.append(">= " + share)
    elif target.min_ratio is not None:
        parts.append(f">= {target.min_ratio:g} x baseline")
    elif target.min_rps is not None:
        parts.append(f">= {target.min_rps:g}/s")
    if target.max_p99_ms is not None:
        parts.append(f"p99 <= {target.max_p99_ms:g} ms")
    return ", ".join(parts)


def judge(
    backend: str,
    item: Mapping[str, Any],
    baseline_rps: float | None,
    ceiling_tps: float | None = None,
) -> dict[str, Any]:
    """The target of one scenario's result and what it met: {"target": text, "checks":
    {check: True | False | None (not checkable in this run)}, "verdict": "pass" | "fail" |
    None (no target)}. A scenario that answered errors fails whatever its figures."""
    target = target_of(backend, item["name"])
    if target is None:
        return {"target": None, "checks": {}, "verdict": None}
    rps = float(item["rps"])
    checks: dict[str, bool | None] = {}
    if ceiling_tps is not None:
        by_ratio = (
            target.min_ratio is not None
            and bool(baseline_rps)
            and rps / float(baseline_rps or 1) >= target.min_ratio
        )
        checks["rate"] = rps >= CEILING_SHARE * ceiling_tps or by_ratio
    elif target.min_ratio is not None:
        checks["rate"] = rps / baseline_rps >= target.min_ratio if baseline_rps else None
    elif target.min_rps is not None:
        checks["rate"] = rps >= target.min_rps
    if target.max_p99_ms is not None:
        checks["p99"] = float(item["p99_ms"]) <= target.max_p99_ms
    checks["errors"] = not item.get("non_2xx") and not item.get("socket_errors")
    verdict = "fail" if False in checks.values() else "pass"
    return {"target": describe(target, ceiling_tps), "checks": checks, "verdict": verdict}


def judge_rss(backend: str, max_rss_mb: float) -> dict[str, Any]:
    most = MAX_RSS_MB.get(backend_key(backend))
    if most is None:
        return {"target": None, "verdict": None}
    verdict = "pass" if max_rss_mb <= most else "fail"
    return {"target": f"<= {most:g} MB", "verdict": verdict}


def verdict_text(judged: Mapping[str, Any]) -> str:
    """PASS, FAIL (the checks missed), or "-" without a target; "?" marks a check this run
    could not make (a ratio without baseline_page)."""
    if judged.get("verdict") is None:
        return "-"
    checks: Mapping[str, bool | None] = judged.get("checks", {})
    missed = [name for name, ok in checks.items() if ok is False]
    unknown = [name for name, ok in checks.items() if ok is None]
    text = "FAIL (" + ", ".join(missed) + ")" if missed else "PASS"
    if unknown:
        text += " ?" + ",".join(unknown)
    return text
