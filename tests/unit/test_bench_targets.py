"""The bench's verdicts (bench/targets.py): ratios to the baseline, ceilings, p99, errors."""

from __future__ import annotations

from typing import Any

from bench import targets


def result(name: str, rps: float, p99: float, **extra: Any) -> dict[str, Any]:
    return {"name": name, "rps": rps, "p99_ms": p99, "non_2xx": 0, "socket_errors": 0, **extra}


def test_every_issue_10_target_is_in_the_table() -> None:
    pg = targets.TARGETS["postgresql"]
    ratios = {name: target.min_ratio for name, target in pg.items()}
    assert ratios == {
        "show": 0.5,
        "filter_email_eq": 0.5,
        "list_p1": 0.4,
        "list_p1_name": 0.4,
        "list_p1_company": 0.4,
        "search_3plus": 0.2,
        "search_short": 0.2,
        "list_labels": 0.2,
        "list_deep": 0.2,
        "create": 0.25,
        "update": 0.25,
    }
    assert {name: t.max_p99_ms for name, t in pg.items() if name in ("create", "update")} == {
        "create": 150.0,
        "update": 150.0,
    }
    assert all(t.max_p99_ms == 100.0 for name, t in pg.items() if name not in ("create", "update"))
    assert targets.TARGETS["sqlite"] == {
        "list_p1": targets.Target(max_p99_ms=100.0),
        "create": targets.Target(min_rps=400.0),
    }
    assert targets.MAX_RSS_MB == {"postgresql": 150.0}


def test_a_ratio_to_the_baseline() -> None:
    judged = targets.judge("postgresql", result("list_p1", 400.0, 90.0), 1000.0)
    assert judged == {
        "target": ">= 0.4 x baseline, p99 <= 100 ms",
        "checks": {"rate": True, "p99": True, "errors": True},
        "verdict": "pass",
    }
    judged = targets.judge("postgresql", result("list_p1", 399.0, 101.0), 1000.0)
    assert judged["checks"] == {"rate": False, "p99": False, "errors": True}
    assert targets.verdict_text(judged) == "FAIL (rate, p99)"


def test_a_ceiling_lowers_the_rate_bar_never_raises_it_and_keeps_the_p99() -> None:
    item = result("list_labels", 800.0, 99.0)
    judged = targets.judge("postgres", item, 10_000.0, ceiling_tps=1000.0)
    assert judged["target"] == ">= 0.8 x ceiling (800/s) or 0.2 x baseline, p99 <= 100 ms"
    assert judged["verdict"] == "pass"
    # under 0.8 x its ceiling and under 0.2 x the baseline
    judged = targets.judge("postgresql", result("list_labels", 799.0, 99.0), 4000.0, 1000.0)
    assert targets.verdict_text(judged) == "FAIL (rate)"
    # under 0.8 x its ceiling, but 0.2 x the baseline is met
    judged = targets.judge("postgresql", result("list_labels", 799.0, 99.0), 3995.0, 1000.0)
    assert targets.verdict_text(judged) == "PASS"
    # without a baseline, the ceiling alone decides
    judged = targets.judge("postgresql", result("list_labels", 799.0, 99.0), None, 1000.0)
    assert targets.verdict_text(judged) == "FAIL (rate)"
    judged = targets.judge("postgresql", result("list_labels", 900.0, 100.1), None, 1000.0)
    assert targets.verdict_text(judged) == "FAIL (p99)"


def test_sqlite_targets_are_absolute() -> None:
    assert targets.judge("sqlite", result("create", 400.0, 900.0), None)["verdict"] == "pass"
    assert targets.judge("sqlite", result("create", 399.9, 1.0), None)["verdict"] == "fail"
    assert targets.judge("sqlite", result("list_p1", 1.0, 100.0), None)["verdict"] == "pass"
    assert targets.judge("sqlite", result("list_p1", 1e6, 100.1), None)["verdict"] == "fail"
    assert targets.judge("sqlite", result("show", 1.0, 1e4), None) == {
        "target": None,
        "checks": {},
        "verdict": None,
    }


def test_errors_fail_a_scenario_and_a_missing_baseline_is_unchecked() -> None:
    judged = targets.judge("postgresql", result("show", 1e6, 1.0, non_2xx=3), 1.0)
    assert targets.verdict_text(judged) == "FAIL (errors)"
    judged = targets.judge("postgresql", result("show", 1e6, 1.0), None)
    assert judged["checks"]["rate"] is None
    assert targets.verdict_text(judged) == "PASS ?rate"


def test_which_runs_need_the_baseline_and_the_rss_bound() -> None:
    assert targets.needs_baseline("postgresql", ["show"])
    assert not targets.needs_baseline("postgresql", ["show"], ceilings=["show"])
    assert not targets.needs_baseline("postgresql", ["chatwoot_style_list"])
    assert not targets.needs_baseline("sqlite", ["list_p1", "create"])
    assert targets.judge_rss("postgresql", 150.0)["verdict"] == "pass"
    assert targets.judge_rss("postgresql", 150.1)["verdict"] == "fail"
    assert targets.judge_rss("sqlite", 500.0)["verdict"] is None
